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
use arrow_buffer::{ArrowNativeType, BooleanBufferBuilder, NullBuffer, ScalarBuffer};
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

/// A nullable column as Arrow keeps one: the values (0 where null) and a validity bitmap,
/// handed over without a copy. A `Vec<Option<T>>` takes twice the memory of an 8-byte `T`.
#[derive(Debug)]
struct Nullable<T> {
    values: Vec<T>,
    valid: BooleanBufferBuilder,
}

impl<T> Default for Nullable<T> {
    fn default() -> Self {
        Nullable {
            values: Vec::new(),
            valid: BooleanBufferBuilder::new(0),
        }
    }
}

impl<T: Clone> Clone for Nullable<T> {
    fn clone(&self) -> Self {
        let mut valid = BooleanBufferBuilder::new(self.values.len());
        valid.append_buffer(&self.valid.finish_cloned());
        Nullable {
            values: self.values.clone(),
            valid,
        }
    }
}

impl<T: ArrowNativeType> Nullable<T> {
    #[inline]
    fn push(&mut self, v: Option<T>) {
        push_huge(&mut self.values, v.unwrap_or_default());
        self.valid.append(v.is_some());
    }

    /// Appends `other`'s cells, each valid value through `f`.
    fn append(&mut self, other: Nullable<T>, f: impl Fn(T) -> T) {
        let Nullable { values, mut valid } = other;
        reserve_huge(&mut self.values, values.len());
        self.values.extend(values.into_iter().map(f));
        self.valid.append_buffer(&valid.finish());
    }

    fn get(&self, i: usize) -> Option<T> {
        self.valid.get_bit(i).then(|| self.values[i])
    }

    /// The values and the validity (None when every cell is valid).
    fn into_parts(mut self) -> (ScalarBuffer<T>, Option<NullBuffer>) {
        let nulls = NullBuffer::new(self.valid.finish());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        (ScalarBuffer::from(self.values), nulls)
    }
}

/// Strings coded in order of first appearance.
#[derive(Debug, Default, Clone)]
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

    fn array(
        &self,
        codes: (ScalarBuffer<i32>, Option<NullBuffer>),
    ) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            Int32Array::new(codes.0, codes.1),
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

/// The rows read so far, column by column (the nullable ones as Arrow keeps them).
#[derive(Debug, Default, Clone)]
pub struct Book {
    recv_ns: Nullable<i64>,
    msg_ts: Nullable<i64>,
    /// Successful logins before the row until the lines are read, then the epoch.
    pub(crate) epoch: Vec<i64>,
    pub(crate) line: Vec<u64>,
    service: Vec<u8>,
    /// Codes into `keys` (never null).
    key: Vec<i32>,
    keys: Names,
    book_time: Nullable<i64>,
    /// 0 bid, 1 ask.
    side: Vec<u8>,
    level_idx: Vec<u16>,
    price: Nullable<f64>,
    agg_size: Nullable<i64>,
    mm_count: Nullable<i32>,
    mm_idx: Nullable<u16>,
    /// Codes into `mm_ids`.
    mm_id: Nullable<i32>,
    mm_ids: Names,
    mm_size: Nullable<i64>,
    mm_quote: Nullable<i64>,
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
                    let key = *code.get_or_insert_with(|| self.keys.code(key) as i32);
                    let head = (service, key, book_time);
                    if mms.is_empty() {
                        self.row(at, head, &lv);
                        self.mm_idx.push(None);
                        self.mm_id.push(None);
                        self.mm_size.push(None);
                        self.mm_quote.push(None);
                    }
                    for (mi, mm) in mms.into_iter().enumerate() {
                        self.row(at, head, &lv);
                        self.mm_idx.push(u16::try_from(mi).ok());
                        let id = match get(mm, &MM_ID) {
                            Some(Value::Str(s)) => Some(self.mm_ids.code(s) as i32),
                            _ => None,
                        };
                        self.mm_id.push(id);
                        self.mm_size.push(i64_of(get(mm, &MM_SIZE)));
                        self.mm_quote.push(i64_of(get(mm, &MM_TIME)));
                    }
                }
            }
        }
    }

    fn row(&mut self, at: &Origin, (service, key, book_time): (u8, i32, Option<i64>), lv: &Level) {
        self.recv_ns.push(at.recv_ns);
        self.msg_ts.push(at.msg_ts);
        push_huge(&mut self.epoch, at.logins as i64);
        push_huge(&mut self.line, at.line);
        push_huge(&mut self.service, service);
        push_huge(&mut self.key, key);
        self.book_time.push(book_time);
        push_huge(&mut self.side, lv.side);
        push_huge(&mut self.level_idx, lv.idx);
        self.price.push(lv.price);
        self.agg_size.push(lv.size);
        self.mm_count.push(lv.count);
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
        let keys: Vec<i32> = other
            .keys
            .names
            .iter()
            .map(|k| self.keys.code(k) as i32)
            .collect();
        let ids: Vec<i32> = other
            .mm_ids
            .names
            .iter()
            .map(|k| self.mm_ids.code(k) as i32)
            .collect();
        let same = |v| v;
        self.recv_ns.append(other.recv_ns, same);
        self.msg_ts.append(other.msg_ts, same);
        self.epoch.extend_huge(other.epoch);
        self.line.extend_huge(other.line.iter().map(|l| l + lines));
        self.service.extend_huge(other.service);
        self.key
            .extend_huge(other.key.iter().map(|&k| keys[k as usize]));
        self.book_time.append(other.book_time, same);
        self.side.extend_huge(other.side);
        self.level_idx.extend_huge(other.level_idx);
        self.price.append(other.price, |v| v);
        self.agg_size.append(other.agg_size, same);
        self.mm_count.append(other.mm_count, |v| v);
        self.mm_idx.append(other.mm_idx, |v| v);
        // A null cell's 0 maps to the first id: the validity keeps it null.
        self.mm_id
            .append(other.mm_id, |m| ids.get(m as usize).copied().unwrap_or(0));
        self.mm_size.append(other.mm_size, same);
        self.mm_quote.append(other.mm_quote, same);
        self.snapshots += other.snapshots;
        self.bad.extend(other.bad.into_iter().map(|b| Bad {
            line: b.line + lines,
            ..b
        }));
    }

    /// The rows as one Arrow batch (the schema of [`schema`]), a copy (see
    /// [`Book::into_batch`]).
    pub fn batch(&self) -> Result<RecordBatch, ArrowError> {
        self.clone().into_batch()
    }

    /// The rows as one Arrow batch (the schema of [`schema`]); the columns move into it.
    pub fn into_batch(self) -> Result<RecordBatch, ArrowError> {
        let quote_ms = {
            let q = &self.mm_quote;
            let mut values = Vec::new();
            let mut valid = BooleanBufferBuilder::new(q.values.len());
            reserve_huge(&mut values, q.values.len());
            for i in 0..q.values.len() {
                let v = q.get(i).filter(|q| (0..DAY_MS).contains(q));
                values.push(v.unwrap_or(0) as u32);
                valid.append(v.is_some());
            }
            UInt32Array::new(
                ScalarBuffer::from(values),
                Some(NullBuffer::new(valid.finish())),
            )
        };
        let epoch: Vec<u32> = self.epoch.iter().map(|&e| e as u32).collect();
        let key = self.keys.array((ScalarBuffer::from(self.key), None))?;
        let mm_id = self.mm_ids.array(self.mm_id.into_parts())?;
        let (recv, recv_nulls) = self.recv_ns.into_parts();
        let (msg, msg_nulls) = self.msg_ts.into_parts();
        let (book, book_nulls) = self.book_time.into_parts();
        let (price, price_nulls) = self.price.into_parts();
        let (agg, agg_nulls) = self.agg_size.into_parts();
        let (count, count_nulls) = self.mm_count.into_parts();
        let (idx, idx_nulls) = self.mm_idx.into_parts();
        let (size, size_nulls) = self.mm_size.into_parts();
        let (quote, quote_nulls) = self.mm_quote.into_parts();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampNanosecondArray::new(recv, recv_nulls).with_timezone("UTC")),
            Arc::new(TimestampMillisecondArray::new(msg, msg_nulls).with_timezone("UTC")),
            Arc::new(UInt32Array::from(epoch)),
            Arc::new(UInt64Array::new(ScalarBuffer::from(self.line), None)),
            small_dict(&self.service, &SERVICES)?,
            key,
            Arc::new(TimestampMillisecondArray::new(book, book_nulls).with_timezone("UTC")),
            small_dict(&self.side, &["B", "A"])?,
            Arc::new(UInt16Array::new(ScalarBuffer::from(self.level_idx), None)),
            Arc::new(Float64Array::new(price, price_nulls)),
            Arc::new(Int64Array::new(agg, agg_nulls)),
            Arc::new(Int32Array::new(count, count_nulls)),
            Arc::new(UInt16Array::new(idx, idx_nulls)),
            mm_id,
            Arc::new(Int64Array::new(size, size_nulls)),
            Arc::new(quote_ms),
            Arc::new(Int64Array::new(quote, quote_nulls)),
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
