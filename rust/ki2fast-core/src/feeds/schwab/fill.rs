//! Schwab level-one pass 2: one service's content items (from [`super::levelone`]) into typed
//! Arrow columns — the deltas as sent and the state forward-filled per symbol.
//!
//! The rules (docs/feeds.md §1.7 and §1.12; the tests hold them against an independent
//! reading in Python, `tests/schwab_reference.py`):
//! - the key is the item's `key` pair, else its field 0 (the last of several); an item whose
//!   key is not a non-empty string (an OCC option symbol for options) is dropped and reported;
//! - a symbol's state runs through its consecutive items of one connection epoch and one ET
//!   day (an item without a time is a day of its own); a baseline item (one with `delayed`,
//!   `assetMainType` or `cusip`), a new epoch or another day than the symbol's item before
//!   starts a new run. A field's state is its value in the latest item of the run that sent
//!   it;
//! - a field (or metadata key) sent more than once in one item keeps the last pair named by
//!   its field id, or the first pair when none is; each pair whose value differs from the
//!   one before it is counted as a conflict;
//! - a value that cannot be read as its field's type is null, and reported.
//!
//! Every capture decodes: [`DecodeError`] is an invariant of the pass broken (a bug), never
//! a capture's bytes.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::types::{
    ArrowPrimitiveType, Float64Type, Int8Type, Int32Type, Int64Type, TimestampMillisecondType,
};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    PrimitiveArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt16Array, UInt32Array,
    UInt64Array,
};
use arrow_buffer::{BooleanBuffer, Buffer, NullBuffer, ScalarBuffer, bit_util};
use arrow_schema::{Field, Schema};
use chrono::{Datelike, TimeZone, Utc};
use chrono_tz::America::New_York;
use rustc_hash::FxHashMap;

use super::levelone::{Pairs, Service, tag};
use crate::feeds::json::{self, Value};

/// The text of pair `i` (a string's value, or other JSON's text).
fn text(p: &Pairs, i: usize) -> &str {
    let start = if i == 0 {
        0
    } else {
        p.text_end[i - 1] as usize
    };
    &p.text[start..p.text_end[i] as usize]
}

/// Field ids of the reserved keys, as the caller maps them (`fids`).
pub mod fid {
    pub const KEY: i32 = -1;
    pub const DELAYED: i32 = -2;
    pub const MAIN: i32 = -3;
    pub const SUB: i32 = -4;
    pub const CUSIP: i32 = -5;
    pub const SEQ: i32 = -6;
    /// A key that is no field of the scheme: kept as text in the deltas' `extra`.
    pub const UNKNOWN: i32 = -100;
}

/// A field's column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    F64,
    I64,
    I8,
    Bool,
    /// Plain utf8.
    Str,
    /// Dictionary-encoded utf8.
    Dict,
    /// Epoch milliseconds as a UTC timestamp.
    Ts,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "f64" => Kind::F64,
            "i64" => Kind::I64,
            "i8" => Kind::I8,
            "bool" => Kind::Bool,
            "str" => Kind::Str,
            "dict" => Kind::Dict,
            "ts" => Kind::Ts,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::F64 => "f64",
            Kind::I64 => "i64",
            Kind::I8 => "i8",
            Kind::Bool => "bool",
            Kind::Str => "str",
            Kind::Dict => "dict",
            Kind::Ts => "ts",
        }
    }
}

/// One field of the service: its id, column name and type.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub id: i32,
    pub name: String,
    pub kind: Kind,
}

/// An invariant of the decoder broken: a bug, never a property of the capture (whose
/// oddities are bad lines, notes or nulls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "level-one decoder: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

/// A value read as null: the caller words the note from the pair's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NullNote {
    pub line: u64,
    pub pair: u32,
    pub kind: Kind,
}

/// What [`decode`] gives.
#[derive(Debug)]
pub struct Decoded {
    /// The item rows kept (those with a good key), in order.
    pub rows: Vec<u32>,
    /// `ts, conn_epoch, frame_seq, item_idx, key, delayed, asset_main_type, asset_sub_type,
    /// cusip, is_baseline`, every field's column as sent, `present`.
    pub deltas: RecordBatch,
    /// The same head, the baseline's metadata, every field's state, `present` (the fields
    /// known so far) and `has_baseline`.
    pub state: RecordBatch,
    /// Items dropped for their key: (line, the key's pair if there was one).
    pub bad_keys: Vec<(u64, Option<u32>)>,
    /// Values read as null, in the reference's order (metadata, then fields in order).
    pub notes: Vec<NullNote>,
    /// Pairs of keys that are no field: (kept row, pair).
    pub extra: Vec<(u32, u32)>,
    /// Fields sent twice in an item with different values.
    pub conflicts: u64,
    /// The trades of the state (see [`trades`]): `row` (state row), `shares`, `aggressor`,
    /// `conflated`; None when the service lacks a field they need.
    pub trades: Option<RecordBatch>,
}

const NONE: u32 = u32::MAX;

/// Pass 2 of one service. `fids[code]` is the field id of key name `code` (see [`fid`]);
/// `fields` are the service's fields after field 0, in column order; `options` checks keys
/// as OCC option symbols.
pub fn decode(
    svc: &Service,
    fids: &[i32],
    fields: &[FieldSpec],
    options: bool,
) -> Result<Decoded, DecodeError> {
    if fids.len() != svc.names.len() {
        return Err(DecodeError("field ids do not match the key names".into()));
    }
    let p = &svc.pairs;
    let n_all = svc.items.line.len();
    let fid_of = |i: usize| fids[p.name[i] as usize];
    // The pairs of item r are starts[r]..starts[r + 1].
    let mut starts = vec![0u32; n_all + 1];
    for &r in &p.row {
        starts[r as usize + 1] += 1;
    }
    for r in 0..n_all {
        starts[r + 1] += starts[r];
    }

    // Keys.
    let mut rows = Vec::with_capacity(n_all);
    let mut bad_keys = Vec::new();
    let mut key_dict: Vec<&str> = Vec::new();
    let mut key_codes_of: FxHashMap<&str, i32> = FxHashMap::default();
    let mut key_code: Vec<i32> = Vec::with_capacity(n_all);
    for r in 0..n_all {
        let (lo, hi) = (starts[r] as usize, starts[r + 1] as usize);
        let mut by_key = None;
        let mut by_field0 = None;
        for i in lo..hi {
            match fid_of(i) {
                fid::KEY => by_key = Some(i),
                0 => by_field0 = Some(i),
                _ => {}
            }
        }
        let pair = by_key.or(by_field0);
        let good = match pair {
            Some(i) if p.tag[i] == tag::STR => {
                let k = text(p, i);
                !k.is_empty() && (!options || option_key_ok(k))
            }
            _ => false,
        };
        if !good {
            bad_keys.push((svc.items.line[r], pair.map(|i| i as u32)));
            continue;
        }
        let k = text(p, pair.expect("a good key has a pair"));
        let code = *key_codes_of.entry(k).or_insert_with(|| {
            key_dict.push(k);
            (key_dict.len() - 1) as i32
        });
        rows.push(r as u32);
        key_code.push(code);
    }
    let n = rows.len();

    // Head columns, baselines and runs.
    let items = &svc.items;
    let mut days = EtDays::default();
    let mut is_base = Vec::with_capacity(n);
    let mut run_of = Vec::with_capacity(n);
    let mut day_of = Vec::with_capacity(n);
    let mut run_head: Vec<u32> = Vec::new();
    // Per key: the epoch, day and run of its latest item.
    let mut latest: Vec<Option<(i64, i32, u32)>> = vec![None; key_dict.len()];
    for (k, &r) in rows.iter().enumerate() {
        let r = r as usize;
        if !(0..=i64::from(u16::MAX)).contains(&items.item_idx[r]) {
            return Err(DecodeError("an item index beyond 65535".into()));
        }
        if !(0..=i64::from(u32::MAX)).contains(&items.epoch[r]) {
            return Err(DecodeError("a connection epoch beyond 2^32".into()));
        }
        let base = (starts[r]..starts[r + 1])
            .any(|i| matches!(fid_of(i as usize), fid::DELAYED | fid::MAIN | fid::CUSIP));
        is_base.push(base);
        let epoch = items.epoch[r];
        let key = key_code[k];
        let day = match items.ts[r] {
            // No time: a day of its own (ET days before 1970 are negative, so not -1).
            None => NO_DAY,
            Some(ms) => days
                .day(ms)
                .ok_or_else(|| DecodeError(format!("timestamp {ms} beyond the calendar")))?,
        };
        let cached = &mut latest[key as usize];
        let run = match *cached {
            Some((e, d, run)) if e == epoch && d == day && !base => run,
            _ => {
                let run = run_head.len() as u32;
                run_head.push(k as u32);
                *cached = Some((epoch, day, run));
                run
            }
        };
        run_of.push(run);
        day_of.push(day);
    }
    let n_runs = run_head.len();

    // Every pair of the kept rows to its column, in row order.
    let mut slot_of = vec![usize::MAX; 64];
    for (s, f) in fields.iter().enumerate() {
        match usize::try_from(f.id) {
            Ok(id @ 1..64) => slot_of[id] = s,
            _ => return Err(DecodeError(format!("field id {} not in 1..63", f.id))),
        }
    }
    const META: [(i32, Kind); 4] = [
        (fid::DELAYED, Kind::Bool),
        (fid::MAIN, Kind::Dict),
        (fid::SUB, Kind::Dict),
        (fid::CUSIP, Kind::Str),
    ];
    let mut meta_entries: [Vec<(u32, u32)>; 4] = Default::default();
    let mut entries: Vec<Vec<(u32, u32)>> = vec![Vec::new(); fields.len()];
    let mut extra = Vec::new();
    for (k, &r) in rows.iter().enumerate() {
        for i in starts[r as usize]..starts[r as usize + 1] {
            let f = fid_of(i as usize);
            match f {
                fid::KEY | fid::SEQ | 0 => {}
                fid::UNKNOWN => extra.push((k as u32, i)),
                fid::DELAYED => meta_entries[0].push((k as u32, i)),
                fid::MAIN => meta_entries[1].push((k as u32, i)),
                fid::SUB => meta_entries[2].push((k as u32, i)),
                fid::CUSIP => meta_entries[3].push((k as u32, i)),
                f => match slot_of.get(f as usize) {
                    Some(&s) if s != usize::MAX => entries[s].push((k as u32, i)),
                    _ => return Err(DecodeError(format!("field id {f} is not in the table"))),
                },
            }
        }
    }

    let mut notes = Vec::new();
    let ctx = Ctx {
        svc,
        rows: &rows,
        n,
    };
    // Metadata: as sent, and the run head's for the whole run.
    let mut meta_delta = Vec::with_capacity(4);
    let mut meta_state = Vec::with_capacity(4);
    let head_of: Vec<u32> = run_of.iter().map(|&run| run_head[run as usize]).collect();
    let mut meta_conflicts = 0u64;
    for (m, (_, kind)) in META.iter().enumerate() {
        let es = dedup(&meta_entries[m], svc, &mut meta_conflicts);
        let es = &es;
        let col = ctx.column(es, *kind, &mut notes)?;
        let at = ctx.delta_at(es);
        let state_at: Vec<u32> = head_of.iter().map(|&h| at[h as usize]).collect();
        meta_delta.push(col.gather(Target::Dense(&at)));
        meta_state.push(col.gather(Target::Dense(&state_at)));
    }

    // Fields: the columns are independent, so they are built on as many threads as the
    // machine has, each taking a share of the fields (by values sent), joined in order.
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get().min(8));
    let mut shares = share(&entries, threads);
    let parts = crate::par::in_parallel(&mut shares, |range| {
        let mut part = FieldsPart::new(n_runs);
        for s in range.clone() {
            part.field(&ctx, &entries[s], &fields[s], &run_of)?;
        }
        Ok(part)
    });
    let mut conflicts = meta_conflicts;
    let mut present = vec![0u64; n];
    let mut known = vec![0u64; n];
    let mut delta_cols = Vec::with_capacity(fields.len());
    let mut state_cols = Vec::with_capacity(fields.len());
    for part in parts {
        let part = part?;
        conflicts += part.conflicts;
        notes.extend(part.notes);
        delta_cols.extend(part.deltas);
        state_cols.extend(part.states);
        for (mine, theirs) in [(&mut present, &part.present), (&mut known, &part.known)] {
            if let Some(theirs) = theirs {
                mine.iter_mut().zip(theirs).for_each(|(a, b)| *a |= b);
            }
        }
    }
    let has_baseline: Vec<bool> = head_of.iter().map(|&h| is_base[h as usize]).collect();

    // The batches.
    let ts: Vec<Option<i64>> = rows.iter().map(|&r| items.ts[r as usize]).collect();
    let epoch: Vec<u32> = rows
        .iter()
        .map(|&r| items.epoch[r as usize] as u32)
        .collect();
    let line: Vec<u64> = rows.iter().map(|&r| items.line[r as usize]).collect();
    let idx: Vec<u16> = rows
        .iter()
        .map(|&r| items.item_idx[r as usize] as u16)
        .collect();
    let keys = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(key_code.clone()),
        Arc::new(StringArray::from(key_dict)),
    )
    .map_err(|e| DecodeError(e.to_string()))?;
    let head: Vec<(&str, ArrayRef)> = vec![
        (
            "msg_ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        ),
        ("conn_epoch", Arc::new(UInt32Array::from(epoch.clone()))),
        ("frame_seq", Arc::new(UInt64Array::from(line))),
        ("item_idx", Arc::new(UInt16Array::from(idx))),
        ("key", Arc::new(keys)),
    ];
    let meta_names = ["delayed", "asset_main_type", "asset_sub_type", "cusip"];
    let base_col: ArrayRef = Arc::new(BooleanArray::from(is_base));
    let batch =
        |meta: Vec<ArrayRef>, cols: Vec<ArrayRef>, mask: Vec<u64>, last: Option<Vec<bool>>| {
            let mut all = head.clone();
            all.extend(meta_names.iter().copied().zip(meta));
            all.push(("is_baseline", base_col.clone()));
            all.extend(fields.iter().map(|f| f.name.as_str()).zip(cols));
            all.push(("present", Arc::new(UInt64Array::from(mask))));
            if let Some(b) = last {
                all.push(("has_baseline", Arc::new(BooleanArray::from(b))));
            }
            let schema = Schema::new(
                all.iter()
                    .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            );
            RecordBatch::try_new(Arc::new(schema), all.into_iter().map(|(_, a)| a).collect())
                .map_err(|e| DecodeError(e.to_string()))
        };
    let column = |name: &str| {
        let s = fields.iter().position(|f| f.name == name)?;
        Some(state_cols[s].clone())
    };
    let trades = match TRADE_FIELDS.map(column) {
        [Some(bid), Some(ask), Some(last), Some(size), Some(volume)] => {
            let groups: Vec<(i32, u32, i32)> =
                (0..n).map(|k| (key_code[k], epoch[k], day_of[k])).collect();
            Some(trades(&groups, [&bid, &ask, &last, &size, &volume])?)
        }
        _ => None,
    };
    let deltas = batch(meta_delta, delta_cols, present, None)?;
    let state = batch(meta_state, state_cols, known, Some(has_baseline))?;
    Ok(Decoded {
        rows,
        deltas,
        state,
        bad_keys,
        notes,
        extra,
        conflicts,
        trades,
    })
}

/// The day of an item without a time.
const NO_DAY: i32 = i32::MIN;

/// The state columns trades are derived from.
const TRADE_FIELDS: [&str; 5] = [
    "bid_price",
    "ask_price",
    "last_price",
    "last_size",
    "total_volume",
];

/// Trades from the state: a rise of total volume over the symbol's item before, when that
/// item is of the same connection epoch and ET day (`groups`: key, epoch, day per row), is
/// one print or more (`conflated` unless the last size
/// is the rise), at the last price; the buyer is the aggressor at or above the previous ask,
/// the seller at or below the previous bid (`B`, `S`, else `unknown`). A fall, or a rise
/// beyond 64 bits, is no trade.
fn trades(groups: &[(i32, u32, i32)], cols: [&ArrayRef; 5]) -> Result<RecordBatch, DecodeError> {
    let f64s = |a: &ArrayRef| a.as_any().downcast_ref::<Float64Array>().cloned();
    let i64s = |a: &ArrayRef| a.as_any().downcast_ref::<Int64Array>().cloned();
    let [bid, ask, last, size, volume] = cols;
    let (Some(bid), Some(ask), Some(last), Some(size), Some(volume)) =
        (f64s(bid), f64s(ask), f64s(last), i64s(size), i64s(volume))
    else {
        return Err(DecodeError("trade fields of unexpected types".into()));
    };
    // Per key: the epoch, day and row of its latest item.
    let keys = groups.iter().map(|g| g.0 + 1).max().unwrap_or(0) as usize;
    let mut latest: Vec<Option<(u32, i32, usize)>> = vec![None; keys];
    let (mut rows, mut shares, mut side, mut conflated) = (vec![], vec![], vec![], vec![]);
    for (k, &(key, epoch, day)) in groups.iter().enumerate() {
        let cached = &mut latest[key as usize];
        let prev = match *cached {
            Some((e, d, row)) if (e, d) == (epoch, day) => Some(row),
            _ => None,
        };
        *cached = Some((epoch, day, k));
        let Some(p) = prev else {
            continue;
        };
        let rise = match (volume.is_valid(k), volume.is_valid(p)) {
            (true, true) => volume.value(k).checked_sub(volume.value(p)),
            _ => None,
        };
        let Some(rise) = rise.filter(|&r| r > 0) else {
            continue;
        };
        let price = last.is_valid(k).then(|| last.value(k));
        let at_ask = ask.is_valid(p) && price.is_some_and(|x| x >= ask.value(p));
        let at_bid = bid.is_valid(p) && price.is_some_and(|x| x <= bid.value(p));
        rows.push(k as u32);
        shares.push(rise);
        side.push(if at_ask {
            "B"
        } else if at_bid {
            "S"
        } else {
            "unknown"
        });
        conflated.push(!size.is_valid(k) || size.value(k) != rise);
    }
    // The dictionary in order of first appearance, as the canonical tables have it.
    let aggressor: DictionaryArray<Int32Type> = side.into_iter().collect();
    RecordBatch::try_from_iter([
        ("row", Arc::new(UInt32Array::from(rows)) as ArrayRef),
        ("shares", Arc::new(Int64Array::from(shares))),
        ("aggressor", Arc::new(aggressor)),
        ("conflated", Arc::new(BooleanArray::from(conflated))),
    ])
    .map_err(|e| DecodeError(e.to_string()))
}

/// Cuts the fields into at most `parts` consecutive ranges of about equal numbers of values.
fn share(entries: &[Vec<(u32, u32)>], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: usize = entries.iter().map(Vec::len).sum::<usize>() + entries.len();
    let per = total.div_ceil(parts.max(1)).max(1);
    let mut out = Vec::new();
    let (mut from, mut sum) = (0, 0);
    for (s, es) in entries.iter().enumerate() {
        sum += es.len() + 1;
        if sum >= per * (out.len() + 1) {
            out.push(from..s + 1);
            from = s + 1;
        }
    }
    if from < entries.len() || out.is_empty() {
        out.push(from..entries.len());
    }
    out
}

/// The columns of a run of fields, built on one thread.
struct FieldsPart {
    deltas: Vec<ArrayRef>,
    states: Vec<ArrayRef>,
    notes: Vec<NullNote>,
    conflicts: u64,
    /// Per row, the fields sent / known so far (None until a field is sent at all).
    present: Option<Vec<u64>>,
    known: Option<Vec<u64>>,
    // Buffers reused from field to field.
    last: Vec<u32>,
    at: Vec<u32>,
    state_at: Vec<u32>,
}

impl FieldsPart {
    fn new(n_runs: usize) -> Self {
        FieldsPart {
            deltas: Vec::new(),
            states: Vec::new(),
            notes: Vec::new(),
            conflicts: 0,
            present: None,
            known: None,
            last: vec![NONE; n_runs],
            at: Vec::new(),
            state_at: Vec::new(),
        }
    }

    /// One field: its column as sent, and its state (the value of the latest item of the
    /// same run that sent it).
    fn field(
        &mut self,
        ctx: &Ctx<'_>,
        entries: &[(u32, u32)],
        spec: &FieldSpec,
        run_of: &[u32],
    ) -> Result<(), DecodeError> {
        let n = ctx.n;
        let es = dedup(entries, ctx.svc, &mut self.conflicts);
        let col = ctx.column(&es, spec.kind, &mut self.notes)?;
        if es.is_empty() {
            let none = col.gather(Target::Sparse { n, rows: &[] });
            self.deltas.push(none.clone());
            self.states.push(none);
            return Ok(());
        }
        if self.at.is_empty() {
            self.at = vec![NONE; n];
            self.state_at = vec![NONE; n];
        }
        let present = self.present.get_or_insert_with(|| vec![0; n]);
        let known = self.known.get_or_insert_with(|| vec![0; n]);
        let (at, state_at, last) = (&mut self.at, &mut self.state_at, &mut self.last);
        let bit = 1u64 << spec.id;
        at.fill(NONE);
        for (e, &(k, _)) in es.iter().enumerate() {
            at[k as usize] = e as u32;
            present[k as usize] |= bit;
        }
        last.fill(NONE);
        for k in 0..n {
            let run = run_of[k] as usize;
            if at[k] != NONE {
                last[run] = at[k];
            }
            state_at[k] = last[run];
            if last[run] != NONE {
                known[k] |= bit;
            }
        }
        let rows: Vec<u32> = es.iter().map(|&(k, _)| k).collect();
        self.deltas
            .push(col.gather(Target::Sparse { n, rows: &rows }));
        self.states.push(col.gather(Target::Dense(state_at)));
        Ok(())
    }
}

/// A field sent more than once in an item keeps one pair: the last whose key is a field id
/// (all digits), else the first. Each pair whose value differs from the pair before it (of
/// the same field and item) is a conflict.
fn dedup(es: &[(u32, u32)], svc: &Service, conflicts: &mut u64) -> Vec<(u32, u32)> {
    if !es.windows(2).any(|w| w[0].0 == w[1].0) {
        return es.to_vec();
    }
    let is_id = |e: &(u32, u32)| {
        svc.names[svc.pairs.name[e.1 as usize] as usize]
            .bytes()
            .all(|c| c.is_ascii_digit())
    };
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(es.len());
    let mut i = 0;
    while i < es.len() {
        let same = es[i..].iter().take_while(|e| e.0 == es[i].0).count();
        let group = &es[i..i + same];
        for w in group.windows(2) {
            if !same_value(&svc.pairs, w[0].1 as usize, w[1].1 as usize) {
                *conflicts += 1;
            }
        }
        out.push(*group.iter().rev().find(|e| is_id(e)).unwrap_or(&group[0]));
        i += same;
    }
    out
}

/// Python's `==` on two pairs' values (as orjson reads them): numbers (and booleans) by
/// value across types, strings by text, arrays element by element, objects as dicts.
fn same_value(p: &Pairs, a: usize, b: usize) -> bool {
    let value = |i: usize| -> Value<'_> {
        match p.tag[i] {
            tag::NULL => Value::Null,
            tag::BOOL => Value::Bool(p.int(i) != 0),
            tag::INT => Value::Int(p.int(i)),
            tag::FLOAT => Value::Float(p.float(i)),
            tag::STR => Value::Str(text(p, i).into()),
            // Arrays, objects and integers beyond i64: the JSON text the first pass wrote.
            _ => json::parse(text(p, i).as_bytes(), true).map_or(Value::Null, |(v, _)| v),
        }
    };
    py_eq(&value(a), &value(b))
}

/// Python's `==` on the values orjson gives for two JSON values.
fn py_eq(a: &Value<'_>, b: &Value<'_>) -> bool {
    use Value as V;
    // Numbers as exact values: bool, i64 and u64 as integers, floats compared exactly.
    fn int(v: &Value<'_>) -> Option<i128> {
        match v {
            Value::Bool(b) => Some(i128::from(*b)),
            Value::Int(i) => Some(i128::from(*i)),
            Value::BigInt(t) => t.parse::<u64>().ok().map(i128::from),
            _ => None,
        }
    }
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Float(x), V::Float(y)) => x == y,
        (V::Float(f), other) | (other, V::Float(f)) => {
            int(other).is_some_and(|i| float_is_int(*f, i))
        }
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(u, v)| py_eq(u, v))
        }
        (V::Object(x), V::Object(y)) => {
            // A dict: of a key given twice, the last value.
            let dict = |o: &'_ [(std::borrow::Cow<'_, str>, Value<'_>)]| {
                let mut d: Vec<usize> = Vec::with_capacity(o.len());
                for (j, (k, _)) in o.iter().enumerate() {
                    if !o[j + 1..].iter().any(|(k2, _)| k2 == k) {
                        d.push(j);
                    }
                }
                d
            };
            let (dx, dy) = (dict(x), dict(y));
            dx.len() == dy.len()
                && dx.iter().all(|&j| {
                    let (k, v) = &x[j];
                    dy.iter().any(|&l| y[l].0 == *k && py_eq(v, &y[l].1))
                })
        }
        _ => match (int(a), int(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Whether float `f` equals integer `i` exactly.
fn float_is_int(f: f64, i: i128) -> bool {
    f.fract() == 0.0 && (-TWO_64..TWO_64).contains(&f) && f as i128 == i
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;
const TWO_64: f64 = 18_446_744_073_709_551_616.0;

struct Ctx<'a> {
    svc: &'a Service,
    rows: &'a [u32],
    n: usize,
}

/// One field's values, one per entry.
enum Col<'a> {
    F64(Vec<Option<f64>>),
    I64(Vec<Option<i64>>, Kind),
    I8(Vec<Option<i8>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<&'a str>>),
    /// Codes into the dictionary (the values in order of first appearance, as pyarrow's
    /// `dictionary_encode` of the values sent gives them).
    Dict(Vec<Option<i32>>, ArrayRef),
}

impl<'a> Ctx<'a> {
    /// Entry index per kept row (NONE where the row did not send the field).
    fn delta_at(&self, es: &[(u32, u32)]) -> Vec<u32> {
        let mut at = vec![NONE; self.n];
        for (e, &(k, _)) in es.iter().enumerate() {
            at[k as usize] = e as u32;
        }
        at
    }

    fn column(
        &self,
        es: &[(u32, u32)],
        kind: Kind,
        notes: &mut Vec<NullNote>,
    ) -> Result<Col<'a>, DecodeError> {
        let p = &self.svc.pairs;
        let mut note = |pair: u32, k: u32| {
            notes.push(NullNote {
                line: self.svc.items.line[self.rows[k as usize] as usize],
                pair,
                kind,
            })
        };
        Ok(match kind {
            Kind::Str | Kind::Dict => {
                let texts: Vec<Option<&'a str>> = es
                    .iter()
                    .map(|&(k, i)| match p.tag[i as usize] {
                        tag::NULL => None,
                        tag::STR => Some(text(p, i as usize)),
                        _ => {
                            note(i, k);
                            None
                        }
                    })
                    .collect();
                if kind == Kind::Str {
                    return Ok(Col::Str(texts));
                }
                let mut seen: FxHashMap<&str, i32> = FxHashMap::default();
                let mut dict: Vec<&str> = Vec::new();
                let codes = texts
                    .iter()
                    .map(|t| {
                        t.map(|t| {
                            *seen.entry(t).or_insert_with(|| {
                                dict.push(t);
                                dict.len() as i32 - 1
                            })
                        })
                    })
                    .collect();
                Col::Dict(codes, Arc::new(StringArray::from(dict)))
            }
            Kind::Bool => Col::Bool(
                es.iter()
                    .map(|&(k, i)| {
                        let i = i as usize;
                        match p.tag[i] {
                            tag::NULL => None,
                            tag::BOOL => Some(p.int(i) != 0),
                            tag::INT if matches!(p.int(i), 0 | 1) => Some(p.int(i) == 1),
                            _ => {
                                note(i as u32, k);
                                None
                            }
                        }
                    })
                    .collect(),
            ),
            Kind::F64 => Col::F64(
                es.iter()
                    .map(|&(k, i)| {
                        let i = i as usize;
                        if p.tag[i] == tag::NULL {
                            return None;
                        }
                        let got = as_f64(p.tag[i], p.num[i], self.text_of(i));
                        if got.is_none() {
                            note(i as u32, k);
                        }
                        got
                    })
                    .collect(),
            ),
            Kind::I64 | Kind::Ts | Kind::I8 => {
                let ints: Vec<Option<i64>> = es
                    .iter()
                    .map(|&(k, i)| {
                        let i = i as usize;
                        if p.tag[i] == tag::NULL {
                            return None;
                        }
                        let got = as_i64(p.tag[i], p.num[i], self.text_of(i))
                            .filter(|v| kind != Kind::I8 || (-128..=127).contains(v));
                        if got.is_none() {
                            note(i as u32, k);
                        }
                        got
                    })
                    .collect();
                if kind == Kind::I8 {
                    Col::I8(ints.into_iter().map(|v| v.map(|v| v as i8)).collect())
                } else {
                    Col::I64(ints, kind)
                }
            }
        })
    }

    fn text_of(&self, i: usize) -> &'a str {
        text(&self.svc.pairs, i)
    }
}

/// Which entry each row takes.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// Row k takes entry `at[k]` (none where NONE).
    Dense(&'a [u32]),
    /// Entry e goes to row `rows[e]`, of `n` rows; the other rows are null.
    Sparse { n: usize, rows: &'a [u32] },
}

impl Target<'_> {
    fn len(self) -> usize {
        match self {
            Target::Dense(at) => at.len(),
            Target::Sparse { n, .. } => n,
        }
    }

    /// Calls `put(row, entry)` for every row that takes an entry.
    fn each(self, mut put: impl FnMut(usize, usize)) {
        match self {
            Target::Dense(at) => {
                for (k, &e) in at.iter().enumerate() {
                    if e != NONE {
                        put(k, e as usize);
                    }
                }
            }
            Target::Sparse { rows, .. } => {
                for (e, &k) in rows.iter().enumerate() {
                    put(k as usize, e);
                }
            }
        }
    }
}

impl Col<'_> {
    /// The values of the entries each row takes (null for rows without one, and for null
    /// values), as an Arrow array.
    fn gather(&self, to: Target<'_>) -> ArrayRef {
        match self {
            Col::F64(v) => Arc::new(primitive::<Float64Type>(v, to)),
            Col::I64(v, Kind::Ts) => {
                Arc::new(primitive::<TimestampMillisecondType>(v, to).with_timezone("UTC"))
            }
            Col::I64(v, _) => Arc::new(primitive::<Int64Type>(v, to)),
            Col::I8(v) => Arc::new(primitive::<Int8Type>(v, to)),
            Col::Dict(codes, dict) => Arc::new(
                DictionaryArray::<Int32Type>::try_new(
                    primitive::<Int32Type>(codes, to),
                    dict.clone(),
                )
                .expect("codes within the dictionary"),
            ),
            Col::Bool(v) => {
                let n = to.len();
                let mut bits = vec![0u8; n.div_ceil(8)];
                let mut valid = vec![0u8; n.div_ceil(8)];
                let mut set = 0;
                to.each(|k, e| {
                    if let Some(b) = v[e] {
                        if b {
                            bit_util::set_bit(&mut bits, k);
                        }
                        bit_util::set_bit(&mut valid, k);
                        set += 1;
                    }
                });
                let bits = BooleanBuffer::new(Buffer::from_vec(bits), 0, n);
                Arc::new(BooleanArray::new(bits, null_buffer(valid, set, n)))
            }
            Col::Str(v) => {
                let n = to.len();
                let mut at = vec![NONE; n];
                to.each(|k, e| at[k] = e as u32);
                let mut b = StringBuilder::with_capacity(n, 0);
                for e in at {
                    b.append_option(if e == NONE { None } else { v[e as usize] });
                }
                Arc::new(b.finish())
            }
        }
    }
}

/// The null buffer of a validity bitmap with `set` bits set of `n` (none when all are).
fn null_buffer(valid: Vec<u8>, set: usize, n: usize) -> Option<NullBuffer> {
    (set < n).then(|| NullBuffer::new(BooleanBuffer::new(Buffer::from_vec(valid), 0, n)))
}

/// The entries' values into a primitive array, one slot per row. The buffers start as
/// fresh zeroed memory, so pages no value is written to are never touched.
fn primitive<T: ArrowPrimitiveType>(v: &[Option<T::Native>], to: Target<'_>) -> PrimitiveArray<T> {
    let n = to.len();
    let mut values = match to {
        // Dense: nearly every slot is written; huge pages take a fault per 2 MiB.
        Target::Dense(_) => {
            let mut v = crate::mem::with_capacity_huge(n);
            v.resize(n, T::Native::default());
            v
        }
        Target::Sparse { .. } => vec![T::Native::default(); n],
    };
    let mut valid = vec![0u8; n.div_ceil(8)];
    let mut set = 0;
    to.each(|k, e| {
        if let Some(x) = v[e] {
            values[k] = x;
            bit_util::set_bit(&mut valid, k);
            set += 1;
        }
    });
    PrimitiveArray::new(ScalarBuffer::from(values), null_buffer(valid, set, n))
}

/// A value (a pair's `tag`, 64-bit slot and text, see [`Pairs`]) as a float field reads it:
/// numbers, integers beyond 64 bits and numbers written as text ([`decimal_text`]); None
/// for anything else, null included.
pub fn as_f64(tag: u8, num: u64, text: &str) -> Option<f64> {
    match tag {
        tag::INT => Some(num as i64 as f64),
        tag::FLOAT => Some(f64::from_bits(num)),
        tag::STR => decimal_text(text),
        tag::JSON => big_int(text),
        _ => None,
    }
}

/// The same for an integer field: integers, integer-valued floats and integers written as
/// text ([`int_text`]) that fit 64 bits.
pub fn as_i64(tag: u8, num: u64, text: &str) -> Option<i64> {
    match tag {
        tag::INT => Some(num as i64),
        tag::FLOAT => {
            let f = f64::from_bits(num);
            (f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f)).then_some(f as i64)
        }
        tag::STR => int_text(text),
        _ => None,
    }
}

/// The reference's number-as-text rule for float fields: a plain decimal number
/// (`[+-]digits[.digits][e[+-]digits]`, ASCII), else None.
pub fn decimal_text(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(b.get(i), Some(b'+' | b'-')));
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// The reference's number-as-text rule for integer fields: `-?digits` (ASCII) that fits
/// 64 bits, else None.
pub fn int_text(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An integer beyond 64 bits (kept as JSON text) as a float; None for other JSON values.
fn big_int(s: &str) -> Option<f64> {
    if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Whether `k` is an OCC option symbol `RRRRRRYYMMDDsWWWWWddd`: 21 ASCII characters, a
/// real expiry date, `C` or `P`, and the strike's eight digits.
fn option_key_ok(k: &str) -> bool {
    let b = k.as_bytes();
    if b.len() != 21
        || !k.is_ascii()
        || !matches!(b[12], b'C' | b'P')
        || !b[6..12].iter().chain(&b[13..]).all(u8::is_ascii_digit)
    {
        return false;
    }
    let num = |s: &[u8]| u32::from(s[0] - b'0') * 10 + u32::from(s[1] - b'0');
    chrono::NaiveDate::from_ymd_opt(2000 + num(&b[6..8]) as i32, num(&b[8..10]), num(&b[10..12]))
        .is_some()
}

/// ET calendar days (days since 1970-01-01) of epoch milliseconds, cached per UTC hour
/// (every New York offset since 1970 is whole hours, so a UTC hour lies in one ET day).
#[derive(Default)]
struct EtDays {
    hour: Option<i64>,
    day: i32,
}

impl EtDays {
    fn day(&mut self, ms: i64) -> Option<i32> {
        let hour = ms.div_euclid(3_600_000);
        if ms >= 0 && self.hour == Some(hour) {
            return Some(self.day);
        }
        let t = Utc.timestamp_millis_opt(ms).single()?;
        let day = t.with_timezone(&New_York).date_naive().num_days_from_ce() - 719_163;
        if ms >= 0 {
            self.hour = Some(hour);
            self.day = day;
        }
        Some(day)
    }
}

impl std::fmt::Debug for EtDays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtDays").field("hour", &self.hour).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::schwab::levelone;
    use arrow_array::{Float64Array, Int64Array};

    fn specs() -> Vec<FieldSpec> {
        [
            (1, "bid_price", Kind::F64),
            (8, "total_volume", Kind::I64),
            (13, "exchange_id", Kind::Dict),
            (14, "marginable", Kind::Bool),
        ]
        .into_iter()
        .map(|(id, name, kind)| FieldSpec {
            id,
            name: name.into(),
            kind,
        })
        .collect()
    }

    fn fids(names: &[String]) -> Vec<i32> {
        names
            .iter()
            .map(|n| match n.as_str() {
                "key" => fid::KEY,
                "delayed" => fid::DELAYED,
                "assetMainType" => fid::MAIN,
                "BID_PRICE" | "Bid Price" => 1,
                s => s.parse().unwrap_or(fid::UNKNOWN),
            })
            .collect()
    }

    #[test]
    fn state_fills_per_run_and_resets_on_a_baseline_and_a_day() {
        let lines = [
            r#"{"service":"LEVELONE_EQUITIES","timestamp":1741959000000,"content":[{"key":"QQQ","delayed":false,"1":480.5,"8":100}]}"#,
            r#"{"service":"LEVELONE_EQUITIES","timestamp":1741959001000,"content":[{"key":"QQQ","8":"150"},{"key":"","1":1}]}"#,
            r#"{"service":"LEVELONE_EQUITIES","timestamp":1741959002000,"content":[{"key":"QQQ","1":481,"BID_PRICE":481.0,"13":"Q","zz":[1]}]}"#,
            r#"{"service":"LEVELONE_EQUITIES","timestamp":1741959003000,"content":[{"key":"QQQ","delayed":false,"14":2}]}"#,
            // The next ET day (2025-03-15 04:00 UTC is midnight in New York).
            r#"{"service":"LEVELONE_EQUITIES","timestamp":1742011200000,"content":[{"key":"QQQ","8":7}]}"#,
        ];
        let data = lines.join("\n") + "\n";
        let pass = levelone::read(data.as_bytes());
        let svc = &pass.equities;
        let d = decode(svc, &fids(&svc.names), &specs(), false).unwrap();
        assert_eq!(d.rows, vec![0, 1, 3, 4, 5]);
        assert_eq!(d.bad_keys, vec![(2, Some(6))]);
        assert_eq!(d.conflicts, 0);
        assert_eq!(d.extra.len(), 1);
        assert_eq!(d.notes.len(), 1);
        assert_eq!(d.notes[0].kind, Kind::Bool);
        let col = |b: &RecordBatch, name: &str| b.column_by_name(name).unwrap().clone();
        let bid = col(&d.state, "bid_price");
        let bid = bid.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(
            bid.iter().collect::<Vec<_>>(),
            vec![Some(480.5), Some(480.5), Some(481.0), None, None]
        );
        let vol = col(&d.state, "total_volume");
        let vol = vol.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(
            vol.iter().collect::<Vec<_>>(),
            vec![Some(100), Some(150), Some(150), None, Some(7)]
        );
        let delta_vol = col(&d.deltas, "total_volume");
        assert_eq!(delta_vol.null_count(), 2);
        let has = col(&d.state, "has_baseline");
        let has = has.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            has.iter().collect::<Vec<_>>(),
            vec![Some(true), Some(true), Some(true), Some(true), Some(false)]
        );
        let known = col(&d.state, "present");
        let known = known.as_any().downcast_ref::<UInt64Array>().unwrap();
        assert_eq!(known.value(2), (1 << 1) | (1 << 8) | (1 << 13));
        assert_eq!(known.value(3), 1 << 14);
    }

    #[test]
    fn trades_are_rises_of_volume_within_a_group() {
        let f = |v: Vec<Option<f64>>| Arc::new(Float64Array::from(v)) as ArrayRef;
        let i = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
        // Keys 0 and 1 interleaved; key 0 moves to day 2 and back to day 1, where it starts
        // afresh (row 5 is no trade).
        let groups = [
            (0, 0, 1),
            (1, 0, 1),
            (0, 0, 1),
            (0, 0, 2),
            (1, 0, 1),
            (0, 0, 1),
        ];
        let bid = f(vec![
            Some(9.0),
            Some(5.0),
            Some(9.5),
            None,
            Some(5.0),
            Some(9.0),
        ]);
        let ask = f(vec![
            Some(10.0),
            Some(6.0),
            Some(10.5),
            None,
            Some(6.0),
            Some(10.0),
        ]);
        let last = f(vec![
            None,
            None,
            Some(10.0),
            Some(1.0),
            Some(5.0),
            Some(9.7),
        ]);
        let size = i(vec![None, None, Some(30), None, Some(7), Some(5)]);
        let volume = i(vec![
            Some(100),
            Some(50),
            Some(130),
            Some(1),
            Some(60),
            Some(140),
        ]);
        let t = trades(&groups, [&bid, &ask, &last, &size, &volume]).unwrap();
        let col = |name: &str| t.column_by_name(name).unwrap().clone();
        let rows = col("row");
        let rows = rows.as_any().downcast_ref::<UInt32Array>().unwrap();
        assert_eq!(rows.values().to_vec(), vec![2, 4]);
        let shares = col("shares");
        let shares = shares.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(shares.values().to_vec(), vec![30, 10]);
        let side = col("aggressor");
        let side = side
            .as_any()
            .downcast_ref::<DictionaryArray<Int32Type>>()
            .unwrap();
        let side = side.downcast_dict::<StringArray>().unwrap();
        let side: Vec<_> = side.into_iter().flatten().collect();
        assert_eq!(side, vec!["B", "S"]);
        let conflated = col("conflated");
        let conflated = conflated.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            conflated.iter().flatten().collect::<Vec<_>>(),
            vec![false, true]
        );
    }

    #[test]
    fn fields_are_shared_in_order_by_values() {
        let entries: Vec<Vec<(u32, u32)>> = [0, 100, 0, 0, 50, 50, 0]
            .iter()
            .map(|&k| vec![(0, 0); k])
            .collect();
        for parts in 1..10 {
            let got = share(&entries, parts);
            assert!(got.len() <= parts.max(1), "{parts}: {got:?}");
            assert_eq!(got.first().map(|r| r.start), Some(0));
            assert_eq!(got.last().map(|r| r.end), Some(entries.len()));
            assert!(
                got.windows(2)
                    .all(|w| w[0].end == w[1].start && w[0].start < w[0].end)
            );
        }
        assert_eq!(share(&entries, 2), vec![0..4, 4..7]);
        assert_eq!(share(&[], 2), vec![0..0]);
    }

    #[test]
    fn numbers_written_as_text() {
        assert_eq!(decimal_text("1.5"), Some(1.5));
        assert_eq!(decimal_text("-.5e2"), Some(-50.0));
        assert_eq!(decimal_text("1."), Some(1.0));
        for bad in ["", ".", "1e", "nan", "inf", " 1", "1_0", "0x1", "+"] {
            assert_eq!(decimal_text(bad), None, "{bad}");
        }
        assert_eq!(int_text("-12"), Some(-12));
        assert_eq!(int_text("99999999999999999999"), None);
        for bad in ["", "-", "--5", "+5", "1.0", "²"] {
            assert_eq!(int_text(bad), None, "{bad}");
        }
    }

    #[test]
    fn option_keys() {
        assert!(option_key_ok("QQQ   250321C00480000"));
        assert!(!option_key_ok("QQQ   250231C00480000")); // no 31 February
        assert!(!option_key_ok("QQQ"));
        assert!(!option_key_ok("QQQ    5 321C00480000")); // an expiry of spaces and digits
        assert!(!option_key_ok("QQQ   +50321C00480000"));
        assert!(!option_key_ok("QQQ   25032１C00480000")); // a full-width digit
    }

    #[test]
    fn a_field_sent_more_than_once_keeps_its_last_id_pair_else_its_first() {
        let item = |pairs: &str| {
            format!(
                r#"{{"service":"LEVELONE_EQUITIES","timestamp":1741959000000,"content":[{{"key":"QQQ",{pairs}}}]}}"#
            )
        };
        // (A key repeated in one JSON object is one pair, of its last value.)
        let lines = [
            item(r#""BID_PRICE":1.5,"1":2.5,"Bid Price":3.5"#), // the id's pair
            item(r#""BID_PRICE":4.5,"Bid Price":5.5"#),         // labels only: the first
            item(r#""1":6,"BID_PRICE":6.0,"1":7"#),             // 7 replaces 6: equal values
            item(r#""delayed":true,"delayed":false"#),
            item(r#""zz":[1,{"a":2,"b":[3.0]}],"13":"Q","13":"R""#),
        ];
        let data = lines.join("\n") + "\n";
        let pass = levelone::read(data.as_bytes());
        let svc = &pass.equities;
        let d = decode(svc, &fids(&svc.names), &specs(), false).unwrap();
        let bid = d.deltas.column_by_name("bid_price").unwrap();
        let bid = bid.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(
            bid.iter().collect::<Vec<_>>(),
            vec![Some(2.5), Some(4.5), Some(7.0), None, None]
        );
        let delayed = d.deltas.column_by_name("delayed").unwrap();
        let delayed = delayed.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert!(!delayed.value(3));
        // 1.5 → 2.5 → 3.5: two; 4.5 → 5.5: one; 7 → 6.0 (the label's pair comes first, as
        // in a Python dict): one.
        assert_eq!(d.conflicts, 4);
    }

    #[test]
    fn duplicate_values_compare_as_python_compares_them() {
        fn v(t: &str) -> Value<'_> {
            json::parse(t.as_bytes(), false).unwrap().0
        }
        let eq = |a: &str, b: &str| py_eq(&v(a), &v(b));
        assert!(eq("1", "1.0") && eq("true", "1") && eq("1.0", "true"));
        assert!(eq("[1, [2.0]]", "[1.0,[2]]"));
        assert!(eq(r#"{"a":1,"b":2}"#, r#"{"b":2.0,"a":1}"#));
        assert!(eq(r#"{"a":1,"a":2}"#, r#"{"a":2}"#)); // a dict keeps a key's last value
        assert!(eq("18446744073709551615", "18446744073709551615"));
        assert!(!eq("18446744073709551615", "18446744073709551614"));
        assert!(!eq("[1]", "[1,1]") && !eq(r#"{"a":1}"#, r#"{"a":1,"b":1}"#));
        assert!(!eq("null", "0") && !eq(r#""1""#, "1") && !eq("[]", "{}"));
    }

    #[test]
    fn et_days_follow_new_york_midnight() {
        let mut d = EtDays::default();
        // 2025-03-15 03:59:59.999 UTC is still the 14th in New York; 04:00 is the 15th.
        let day14 = d.day(1_742_011_199_999).unwrap();
        assert_eq!(d.day(1_742_011_200_000).unwrap(), day14 + 1);
        assert_eq!(d.day(0).unwrap(), -1);
    }
}
