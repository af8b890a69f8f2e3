//! Schwab book services (NASDAQ_BOOK, NYSE_BOOK, OPTIONS_BOOK), read in pass 1 next to the
//! level-one items: one row per (snapshot, side, price level, market maker), docs/feeds.md
//! §1.10.
//!
//! Each content item is a whole snapshot of one symbol's book: its time (`"1"`), bid levels
//! (`"2"`) and ask levels (`"3"`), best first. A level holds its price (`"0"`), aggregate size
//! (`"1"`), market-maker count (`"2"`) and market makers (`"3"`), each an id (`"0"`), a size
//! (`"1"`) and a quote time (`"2"`, ms since midnight ET). schwab-py's labels are read too. A
//! level without market makers still gets a row, its market-maker columns null. Numbers are
//! read as the level-one fields read them ([`fill::as_f64`], [`fill::as_i64`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};

use super::fill;
use super::levelone::{ms, scalar};
use crate::feeds::json::Value;
use crate::mem::{push_huge, reserve_huge};

/// The book services, in the order of [`Book`]'s service codes.
pub const SERVICES: [&str; 3] = ["NASDAQ_BOOK", "NYSE_BOOK", "OPTIONS_BOOK"];

/// An item's time; its bids and asks.
const TIME: [&str; 2] = ["1", "BOOK_TIME"];
const SIDES: [[&str; 2]; 2] = [["2", "BIDS"], ["3", "ASKS"]];
/// A level's price, size, market-maker count and market makers.
const PRICE: [&str; 4] = ["0", "BID_PRICE", "ASK_PRICE", "PRICE"];
const SIZE: [&str; 2] = ["1", "TOTAL_VOLUME"];
const COUNT: [&str; 3] = ["2", "NUM_BIDS", "NUM_ASKS"];
const MMS: [&str; 3] = ["3", "BIDS", "ASKS"];
/// A market maker's id, size and quote time.
const MM_ID: [&str; 2] = ["0", "EXCHANGE"];
const MM_SIZE: [&str; 3] = ["1", "BID_VOLUME", "ASK_VOLUME"];
const MM_TIME: [&str; 2] = ["2", "SEQUENCE"];

const DAY_MS: i64 = 86_400_000;

/// The value of the first of `names` the object holds (None for anything but an object).
fn get<'v, 'a>(obj: &'v Value<'a>, names: &[&str]) -> Option<&'v Value<'a>> {
    names.iter().find_map(|n| obj.get(n))
}

fn f64_of(v: Option<&Value<'_>>) -> Option<f64> {
    let (t, num, text) = scalar(v?)?;
    fill::as_f64(t, num, text)
}

fn i64_of(v: Option<&Value<'_>>) -> Option<i64> {
    let (t, num, text) = scalar(v?)?;
    fill::as_i64(t, num, text)
}

/// `Vec::extend` with room made first ([`reserve_huge`]): the first part's columns take the
/// others' rows without growing step by step.
trait ExtendHuge<T> {
    fn extend_huge<I: IntoIterator<Item = T>>(&mut self, items: I)
    where
        I::IntoIter: ExactSizeIterator;
}

impl<T> ExtendHuge<T> for Vec<T> {
    fn extend_huge<I: IntoIterator<Item = T>>(&mut self, items: I)
    where
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        reserve_huge(self, items.len());
        self.extend(items);
    }
}

/// Strings coded in order of first appearance.
#[derive(Debug, Default)]
struct Names {
    names: Vec<String>,
    codes: HashMap<String, u32>,
}

impl Names {
    fn code(&mut self, s: &str) -> u32 {
        if let Some(&c) = self.codes.get(s) {
            return c;
        }
        let c = self.names.len() as u32;
        self.names.push(s.to_string());
        self.codes.insert(s.to_string(), c);
        c
    }

    fn array(&self, codes: Vec<Option<i32>>) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            Int32Array::from(codes),
            Arc::new(StringArray::from_iter_values(&self.names)),
        )?))
    }
}

/// A book item the reader could not take, and why (the line itself may hold level-one
/// items that were read).
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    pub line: u64,
    pub offset: u64,
    pub reason: String,
}

/// A level's columns, shared by its market makers' rows.
struct Level {
    side: u8,
    idx: u16,
    price: Option<f64>,
    size: Option<i64>,
    count: Option<i32>,
}

/// The rows read so far, column by column.
#[derive(Debug, Default)]
pub struct Book {
    recv_ns: Vec<Option<i64>>,
    msg_ts: Vec<Option<i64>>,
    /// Successful logins before the row until the lines are read, then the epoch.
    pub(crate) epoch: Vec<i64>,
    pub(crate) line: Vec<u64>,
    service: Vec<u8>,
    key: Vec<u32>,
    keys: Names,
    book_time: Vec<Option<i64>>,
    /// 0 bid, 1 ask.
    side: Vec<u8>,
    level_idx: Vec<u16>,
    price: Vec<Option<f64>>,
    agg_size: Vec<Option<i64>>,
    mm_count: Vec<Option<i32>>,
    mm_idx: Vec<Option<u16>>,
    mm_id: Vec<Option<u32>>,
    mm_ids: Names,
    mm_size: Vec<Option<i64>>,
    mm_quote: Vec<Option<i64>>,
    /// Content items read (symbols' snapshots).
    pub snapshots: u64,
    pub bad: Vec<Bad>,
}

/// Where the rows of one data item come from.
pub(crate) struct Origin {
    pub line: u64,
    pub offset: u64,
    /// Successful logins so far.
    pub logins: u64,
    pub recv_ns: Option<i64>,
    pub msg_ts: Option<i64>,
}

impl Book {
    pub fn rows(&self) -> usize {
        self.line.len()
    }

    fn fail(&mut self, at: &Origin, reason: String) {
        self.bad.push(Bad {
            line: at.line,
            offset: at.offset,
            reason,
        });
    }

    /// The content items of one data item of book service `service` (an index into
    /// [`SERVICES`]).
    pub(crate) fn push(&mut self, service: u8, content: &[Value<'_>], at: &Origin) {
        let name = SERVICES[usize::from(service)];
        for item in content {
            let Some(Value::Str(key)) = item
                .get("key")
                .filter(|k| matches!(k, Value::Str(s) if !s.is_empty()))
            else {
                self.fail(at, format!("{name}: item without key"));
                continue;
            };
            self.snapshots += 1;
            let book_time = get(item, &TIME).and_then(ms);
            // Coded with its first row: the dictionary holds only keys that have rows.
            let mut code = None;
            for (side, names) in SIDES.iter().enumerate() {
                let levels = match get(item, names) {
                    None | Some(Value::Null) => continue,
                    Some(Value::Array(levels)) => levels,
                    Some(_) => {
                        let what = if side == 0 { "bids" } else { "asks" };
                        self.fail(at, format!("{name} {key}: {what} are not a list"));
                        continue;
                    }
                };
                for (li, level) in levels.iter().enumerate() {
                    let Value::Object(_) = level else {
                        self.fail(at, format!("{name} {key}: a price level is not an object"));
                        continue;
                    };
                    let lv = Level {
                        side: side as u8,
                        idx: li.min(usize::from(u16::MAX)) as u16,
                        price: f64_of(get(level, &PRICE)),
                        size: i64_of(get(level, &SIZE)),
                        count: i64_of(get(level, &COUNT)).and_then(|c| i32::try_from(c).ok()),
                    };
                    let mms: Vec<_> = match get(level, &MMS) {
                        Some(Value::Array(mms)) => mms
                            .iter()
                            .filter(|m| matches!(m, Value::Object(_)))
                            .collect(),
                        _ => Vec::new(),
                    };
                    let key = *code.get_or_insert_with(|| self.keys.code(key));
                    let head = (service, key, book_time);
                    if mms.is_empty() {
                        self.row(at, head, &lv);
                        push_huge(&mut self.mm_idx, None);
                        push_huge(&mut self.mm_id, None);
                        push_huge(&mut self.mm_size, None);
                        push_huge(&mut self.mm_quote, None);
                    }
                    for (mi, mm) in mms.into_iter().enumerate() {
                        self.row(at, head, &lv);
                        push_huge(&mut self.mm_idx, u16::try_from(mi).ok());
                        let id = match get(mm, &MM_ID) {
                            Some(Value::Str(s)) => Some(self.mm_ids.code(s)),
                            _ => None,
                        };
                        push_huge(&mut self.mm_id, id);
                        push_huge(&mut self.mm_size, i64_of(get(mm, &MM_SIZE)));
                        push_huge(&mut self.mm_quote, i64_of(get(mm, &MM_TIME)));
                    }
                }
            }
        }
    }

    fn row(&mut self, at: &Origin, (service, key, book_time): (u8, u32, Option<i64>), lv: &Level) {
        push_huge(&mut self.recv_ns, at.recv_ns);
        push_huge(&mut self.msg_ts, at.msg_ts);
        push_huge(&mut self.epoch, at.logins as i64);
        push_huge(&mut self.line, at.line);
        push_huge(&mut self.service, service);
        push_huge(&mut self.key, key);
        push_huge(&mut self.book_time, book_time);
        push_huge(&mut self.side, lv.side);
        push_huge(&mut self.level_idx, lv.idx);
        push_huge(&mut self.price, lv.price);
        push_huge(&mut self.agg_size, lv.size);
        push_huge(&mut self.mm_count, lv.count);
    }

    /// Shifts line numbers and offsets by what came before these lines.
    pub(crate) fn shift(&mut self, lines: u64, bytes: u64) {
        self.line.iter_mut().for_each(|l| *l += lines);
        for b in &mut self.bad {
            b.line += lines;
            b.offset += bytes;
        }
    }

    /// Appends the rows of `other` (read after these, its lines numbered from `lines`).
    pub(crate) fn append(&mut self, other: Book, lines: u64) {
        let keys: Vec<u32> = other.keys.names.iter().map(|k| self.keys.code(k)).collect();
        let ids: Vec<u32> = other
            .mm_ids
            .names
            .iter()
            .map(|k| self.mm_ids.code(k))
            .collect();
        self.recv_ns.extend_huge(other.recv_ns);
        self.msg_ts.extend_huge(other.msg_ts);
        self.epoch.extend_huge(other.epoch);
        self.line.extend_huge(other.line.iter().map(|l| l + lines));
        self.service.extend_huge(other.service);
        self.key
            .extend_huge(other.key.iter().map(|&k| keys[k as usize]));
        self.book_time.extend_huge(other.book_time);
        self.side.extend_huge(other.side);
        self.level_idx.extend_huge(other.level_idx);
        self.price.extend_huge(other.price);
        self.agg_size.extend_huge(other.agg_size);
        self.mm_count.extend_huge(other.mm_count);
        self.mm_idx.extend_huge(other.mm_idx);
        self.mm_id
            .extend_huge(other.mm_id.iter().map(|m| m.map(|m| ids[m as usize])));
        self.mm_size.extend_huge(other.mm_size);
        self.mm_quote.extend_huge(other.mm_quote);
        self.snapshots += other.snapshots;
        self.bad.extend(other.bad.into_iter().map(|b| Bad {
            line: b.line + lines,
            ..b
        }));
    }

    /// The rows as one Arrow batch (the schema of [`schema`]).
    pub fn batch(&self) -> Result<RecordBatch, ArrowError> {
        let ms_of_day: Vec<Option<u32>> = self
            .mm_quote
            .iter()
            .map(|q| q.filter(|q| (0..DAY_MS).contains(q)).map(|q| q as u32))
            .collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampNanosecondArray::from_iter(self.recv_ns.iter().copied())
                    .with_timezone("UTC"),
            ),
            Arc::new(
                TimestampMillisecondArray::from_iter(self.msg_ts.iter().copied())
                    .with_timezone("UTC"),
            ),
            Arc::new(UInt32Array::from_iter_values(
                self.epoch.iter().map(|&e| e as u32),
            )),
            Arc::new(UInt64Array::from_iter_values(self.line.iter().copied())),
            small_dict(&self.service, &SERVICES)?,
            self.keys
                .array(self.key.iter().map(|&c| Some(c as i32)).collect())?,
            Arc::new(
                TimestampMillisecondArray::from_iter(self.book_time.iter().copied())
                    .with_timezone("UTC"),
            ),
            small_dict(&self.side, &["B", "A"])?,
            Arc::new(UInt16Array::from_iter_values(
                self.level_idx.iter().copied(),
            )),
            Arc::new(Float64Array::from_iter(self.price.iter().copied())),
            Arc::new(Int64Array::from_iter(self.agg_size.iter().copied())),
            Arc::new(Int32Array::from_iter(self.mm_count.iter().copied())),
            Arc::new(UInt16Array::from_iter(self.mm_idx.iter().copied())),
            self.mm_ids
                .array(self.mm_id.iter().map(|m| m.map(|m| m as i32)).collect())?,
            Arc::new(Int64Array::from_iter(self.mm_size.iter().copied())),
            Arc::new(UInt32Array::from(ms_of_day)),
            Arc::new(Int64Array::from_iter(self.mm_quote.iter().copied())),
        ];
        RecordBatch::try_new(Arc::new(schema()), columns)
    }
}

/// Small codes (indexes into `names`) as a dictionary of the names used, in order of first
/// appearance.
fn small_dict(codes: &[u8], names: &[&str]) -> Result<ArrayRef, ArrowError> {
    let mut map = vec![-1i32; names.len()];
    let mut dict: Vec<&str> = Vec::new();
    let keys: Vec<i32> = codes
        .iter()
        .map(|&c| {
            let m = &mut map[usize::from(c)];
            if *m < 0 {
                *m = dict.len() as i32;
                dict.push(names[usize::from(c)]);
            }
            *m
        })
        .collect();
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(keys),
        Arc::new(StringArray::from(dict)),
    )?))
}

/// The schema of [`Book::batch`]: `schwab_book_levels`.
pub fn schema() -> Schema {
    let ts = |unit| DataType::Timestamp(unit, Some("UTC".into()));
    let dict = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    Schema::new(vec![
        Field::new("recv_ts", ts(TimeUnit::Nanosecond), true),
        Field::new("msg_ts", ts(TimeUnit::Millisecond), true),
        Field::new("conn_epoch", DataType::UInt32, false),
        Field::new("frame_seq", DataType::UInt64, false),
        Field::new("service", dict.clone(), false),
        Field::new("key", dict.clone(), false),
        Field::new("book_time", ts(TimeUnit::Millisecond), true),
        Field::new("side", dict.clone(), false),
        Field::new("level_idx", DataType::UInt16, false),
        Field::new("price", DataType::Float64, true),
        Field::new("agg_size", DataType::Int64, true),
        Field::new("mm_count", DataType::Int32, true),
        Field::new("mm_idx", DataType::UInt16, true),
        Field::new("mm_id", dict, true),
        Field::new("mm_size", DataType::Int64, true),
        Field::new("mm_quote_ms_of_day", DataType::UInt32, true),
        Field::new("mm_quote_raw", DataType::Int64, true),
    ])
}
