//! Schwab level-one decoding of a capture that grows (a streamer journal day): lines are
//! pushed in batches, and each batch is decoded on top of what the lines before it left.
//!
//! A [`Stream`] holds what a reading of the whole capture would know at the end of the lines
//! pushed so far: their count and bytes (so line numbers and byte offsets are the capture's),
//! the successful logins (so connection epochs are the capture's), a torn last line (read
//! once its end comes), and each symbol's state in its latest run. The state goes into the
//! next batch's pass 1 as one carried item per symbol, at line 0, holding every field the
//! state knows (explicit nulls included) and, when the run started from a baseline, the
//! baseline's metadata; pass 2 then forward-fills the batch from it by the same rules as a
//! whole reading, and the carried rows are cut from what it gives. The batches, put
//! together, are what [`super::levelone::read`] and [`super::fill::decode`] give for the
//! whole capture.

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int8Type, Int64Type, TimestampMillisecondType, UInt32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow_schema::DataType;
use rustc_hash::FxHashMap;
use std::sync::Arc;

use super::fill::{self, DecodeError, Decoded, FieldSpec};
use super::levelone::{self, Pass};
use crate::feeds::json::Value;

/// The metadata keys a baseline item sends, as the capture names them, and their state
/// columns.
const META: [(&str, &str); 4] = [
    ("delayed", "delayed"),
    ("assetMainType", "asset_main_type"),
    ("assetSubType", "asset_sub_type"),
    ("cusip", "cusip"),
];

/// One symbol's state at the end of the lines pushed so far.
#[derive(Debug, Clone)]
struct Carried {
    epoch: i64,
    ts: Option<i64>,
    /// The item that recreates the state: key, metadata, fields by id.
    pairs: Vec<(Cow<'static, str>, Value<'static>)>,
}

/// One service's carried state, by key, in order of first appearance.
#[derive(Debug, Default)]
struct Carry {
    items: Vec<(String, Carried)>,
    at: FxHashMap<String, usize>,
}

impl Carry {
    fn set(&mut self, key: &str, item: Carried) {
        match self.at.get(key) {
            Some(&i) => self.items[i].1 = item,
            None => {
                self.at.insert(key.to_string(), self.items.len());
                self.items.push((key.to_string(), item));
            }
        }
    }

    /// Keeps only the state of connection `epoch`: a new connection starts from nothing.
    fn keep_epoch(&mut self, epoch: i64) {
        if self.items.iter().all(|(_, c)| c.epoch == epoch) {
            return;
        }
        self.items.retain(|(_, c)| c.epoch == epoch);
        self.at = self
            .items
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
    }
}

/// A level-one decoder over a growing capture (see the module's text).
#[derive(Debug, Default)]
pub struct Stream {
    lines: u64,
    bytes: u64,
    logins: u64,
    /// A last line without its line end, read when the rest comes.
    rest: Vec<u8>,
    carry: [Carry; 2],
}

/// The index of a service in [`Stream::carry`].
fn slot(service: &str) -> Option<usize> {
    match service {
        levelone::EQUITIES => Some(0),
        levelone::OPTIONS => Some(1),
        _ => None,
    }
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    /// Complete lines pushed so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes of complete lines pushed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Successful LOGINs in the lines pushed so far.
    pub fn logins(&self) -> u64 {
        self.logins
    }

    /// The connection epoch the next line starts in.
    pub fn epoch(&self) -> i64 {
        self.logins.saturating_sub(1) as i64
    }

    /// Bytes of a last line still waiting for its end.
    pub fn held_back(&self) -> usize {
        self.rest.len()
    }

    /// Pass 1 over the complete lines that `data` ends (with the torn line held back before
    /// it), each service's items led by the carried state. Decode each service with
    /// [`Stream::decode`] before the next push.
    pub fn push(&mut self, data: &[u8]) -> Pass {
        let joined;
        let data = if self.rest.is_empty() {
            data
        } else {
            joined = [self.rest.as_slice(), data].concat();
            joined.as_slice()
        };
        let end = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        let (lines, rest) = data.split_at(end);
        let mut p = levelone::read_after(lines, self.lines, self.bytes, self.logins);
        self.rest = rest.to_vec();
        p.held_back = self.rest.len() as u64;
        self.lines += p.lines;
        self.bytes += lines.len() as u64;
        self.logins = p.logins;
        for (svc, carry) in [&mut p.equities, &mut p.options]
            .into_iter()
            .zip(&self.carry)
        {
            if carry.items.is_empty() {
                continue;
            }
            let mut led = levelone::Service::default();
            for (_, c) in &carry.items {
                led.push_item(0, 0, c.epoch, c.ts, &c.pairs);
            }
            led.first_ts = carry.items.iter().find_map(|(_, c)| c.ts);
            led.carried = carry.items.len() as u32;
            let read = std::mem::take(svc);
            led.data_items = read.data_items;
            led.append(read, 0);
            *svc = led;
        }
        p
    }

    /// Pass 2 of `service` in `pass` (the last [`Stream::push`]): what
    /// [`fill::decode`] gives, without the carried rows; the service's carried state
    /// becomes its state at the end of the pass.
    pub fn decode(
        &mut self,
        pass: &Pass,
        service: &str,
        fids: &[i32],
        fields: &[FieldSpec],
    ) -> Result<Decoded, DecodeError> {
        let s = slot(service).ok_or_else(|| DecodeError(format!("no service {service:?}")))?;
        let svc = pass.services()[s];
        let d = fill::decode(svc, fids, fields, s == 1)?;
        let m = svc.carried as usize;
        if d.rows.len() < m
            || d.rows[..m]
                .iter()
                .enumerate()
                .any(|(i, &r)| r as usize != i)
        {
            return Err(DecodeError("a carried state item was not kept".into()));
        }
        let carry = &mut self.carry[s];
        carried_state(&d.state, fields, carry)?;
        carry.keep_epoch(self.logins.saturating_sub(1) as i64);
        without_carried(d, m)
    }
}

/// Takes the last state row of each key in `state` into `carry`.
fn carried_state(
    state: &RecordBatch,
    fields: &[FieldSpec],
    carry: &mut Carry,
) -> Result<(), DecodeError> {
    let n = state.num_rows();
    if n == 0 {
        return Ok(());
    }
    let col = |name: &str| {
        state
            .column_by_name(name)
            .ok_or_else(|| DecodeError(format!("no state column {name}")))
    };
    let keys = col("key")?.as_dictionary::<arrow_array::types::Int32Type>();
    let key_text = keys.values().as_string::<i32>();
    let mut last: Vec<Option<usize>> = vec![None; key_text.len()];
    for (row, code) in keys.keys().values().iter().enumerate() {
        last[*code as usize] = Some(row);
    }
    let ts = col("msg_ts")?.as_primitive::<TimestampMillisecondType>();
    let epoch = col("conn_epoch")?.as_primitive::<UInt32Type>();
    let known = col("present")?.as_primitive::<arrow_array::types::UInt64Type>();
    let based = col("has_baseline")?.as_boolean();
    let meta: Vec<&ArrayRef> = META.iter().map(|(_, c)| col(c)).collect::<Result<_, _>>()?;
    let values: Vec<&ArrayRef> = fields
        .iter()
        .map(|f| col(&f.name))
        .collect::<Result<_, _>>()?;
    let mut rows: Vec<(usize, usize)> = last
        .iter()
        .enumerate()
        .filter_map(|(code, r)| r.map(|r| (r, code)))
        .collect();
    rows.sort_unstable(); // in row order: a key first seen earlier comes first
    for (row, code) in rows {
        let key = key_text.value(code);
        let mut pairs: Vec<(Cow<'static, str>, Value<'static>)> = vec![(
            Cow::Borrowed("key"),
            Value::Str(Cow::Owned(key.to_string())),
        )];
        // The run's metadata are its first item's: a baseline's (all four, null or not),
        // or what else that item sent (an asset subtype alone makes no baseline).
        for ((name, _), a) in META.iter().zip(&meta) {
            if based.value(row) || a.is_valid(row) {
                pairs.push((Cow::Borrowed(name), value(a, row)?));
            }
        }
        let mask = known.value(row);
        for (f, a) in fields.iter().zip(&values) {
            if mask >> f.id & 1 == 1 {
                pairs.push((Cow::Owned(f.id.to_string()), value(a, row)?));
            }
        }
        let item = Carried {
            epoch: i64::from(epoch.value(row)),
            ts: ts.is_valid(row).then(|| ts.value(row)),
            pairs,
        };
        carry.set(key, item);
    }
    Ok(())
}

/// The value at `row` of a state column, as the item that sends it would hold it.
fn value(a: &ArrayRef, row: usize) -> Result<Value<'static>, DecodeError> {
    if a.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match a.data_type() {
        DataType::Float64 => Value::Float(a.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => Value::Int(a.as_primitive::<Int64Type>().value(row)),
        DataType::Int8 => Value::Int(i64::from(a.as_primitive::<Int8Type>().value(row))),
        DataType::Timestamp(_, _) => {
            Value::Int(a.as_primitive::<TimestampMillisecondType>().value(row))
        }
        DataType::Boolean => Value::Bool(a.as_boolean().value(row)),
        DataType::Utf8 => Value::Str(Cow::Owned(a.as_string::<i32>().value(row).to_string())),
        DataType::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let at = d.normalized_keys()[row];
            Value::Str(Cow::Owned(
                d.values().as_string::<i32>().value(at).to_string(),
            ))
        }
        other => return Err(DecodeError(format!("a state column of type {other}"))),
    })
}

/// `d` without its first `m` rows (the carried ones).
fn without_carried(mut d: Decoded, m: usize) -> Result<Decoded, DecodeError> {
    if m == 0 {
        return Ok(d);
    }
    let n = d.rows.len() - m;
    d.rows.drain(..m);
    d.deltas = d.deltas.slice(m, n);
    d.state = d.state.slice(m, n);
    d.bad_keys.retain(|(line, _)| *line != 0);
    d.notes.retain(|note| note.line != 0);
    d.extra.retain(|(row, _)| *row as usize >= m);
    d.extra.iter_mut().for_each(|(row, _)| *row -= m as u32);
    if let Some(t) = d.trades.take() {
        let row = t
            .column_by_name("row")
            .ok_or_else(|| DecodeError("trades without rows".into()))?
            .as_primitive::<UInt32Type>();
        // Trades come in row order, and a carried row starts its symbol's run: none is one.
        let from = row.values().partition_point(|&r| (r as usize) < m);
        let t = t.slice(from, t.num_rows() - from);
        let shifted: ArrayRef = Arc::new(UInt32Array::from_iter_values(
            t.column(0)
                .as_primitive::<UInt32Type>()
                .values()
                .iter()
                .map(|&r| r - m as u32),
        ));
        let mut cols = t.columns().to_vec();
        cols[0] = shifted;
        d.trades =
            Some(RecordBatch::try_new(t.schema(), cols).map_err(|e| DecodeError(e.to_string()))?);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::schwab::fill::Kind;

    fn fields() -> Vec<FieldSpec> {
        [
            (1, "bid_price", Kind::F64),
            (2, "ask_price", Kind::F64),
            (3, "last_price", Kind::F64),
            (8, "total_volume", Kind::I64),
            (9, "last_size", Kind::I64),
            (25, "security_status", Kind::Dict),
        ]
        .into_iter()
        .map(|(id, name, kind)| FieldSpec {
            id,
            name: name.to_string(),
            kind,
        })
        .collect()
    }

    fn fids(svc: &levelone::Service) -> Vec<i32> {
        svc.names
            .iter()
            .map(|n| match n.as_str() {
                "key" => fill::fid::KEY,
                "delayed" => fill::fid::DELAYED,
                "assetMainType" => fill::fid::MAIN,
                "assetSubType" => fill::fid::SUB,
                "cusip" => fill::fid::CUSIP,
                n => n.parse().unwrap_or(fill::fid::UNKNOWN),
            })
            .collect()
    }

    fn decode_whole(data: &[u8]) -> Decoded {
        let p = levelone::read(data);
        fill::decode(&p.equities, &fids(&p.equities), &fields(), false).expect("decodes")
    }

    fn decode_in(batches: &[&[u8]]) -> (Vec<RecordBatch>, Vec<RecordBatch>, Vec<RecordBatch>) {
        let mut s = Stream::new();
        let (mut deltas, mut states, mut trades) = (vec![], vec![], vec![]);
        for b in batches {
            let p = s.push(b);
            let d = s
                .decode(&p, levelone::EQUITIES, &fids(&p.equities), &fields())
                .expect("decodes");
            deltas.push(d.deltas);
            states.push(d.state);
            trades.extend(d.trades);
        }
        (deltas, states, trades)
    }

    fn lines(batches: &[RecordBatch]) -> Vec<u64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column_by_name("frame_seq")
                    .expect("frame_seq")
                    .as_primitive::<arrow_array::types::UInt64Type>()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    const DAY: &str = concat!(
        r#"{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}"#,
        "\n",
        r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"content":[{"key":"QQQ","delayed":false,"assetMainType":"EQUITY","1":481.2,"2":481.3,"8":100,"25":"Normal"},{"key":"SPY","1":560.1}]}]}"#,
        "\n",
        r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312400,"content":[{"key":"QQQ","3":481.3,"8":300,"9":200}]}]}"#,
        "\n",
        r#"{"response":[{"service":"ADMIN","command":"LOGIN","content":{"code":0}}]}"#,
        "\n",
        r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959313000,"content":[{"key":"SPY","2":560.4},{"key":"QQQ","1":481.0}]}]}"#,
        "\n",
        r#"{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959313100,"content":[{"key":"QQQ","1":481.1,"8":350,"3":481.2,"9":50,"2":null}]}]}"#,
        "\n",
    );

    /// Every cut of the day into two batches (torn lines too) gives the whole reading.
    #[test]
    fn batches_give_the_whole_reading() {
        let whole = decode_whole(DAY.as_bytes());
        let data = DAY.as_bytes();
        for cut in 0..=data.len() {
            let (deltas, states, trades) = decode_in(&[&data[..cut], &data[cut..]]);
            let state = arrow_select_concat(&states);
            assert_eq!(state, all(&whole.state), "cut at byte {cut}");
            assert_eq!(
                arrow_select_concat(&deltas),
                all(&whole.deltas),
                "cut at byte {cut}"
            );
            let t = arrow_select_concat(&trades);
            let w = whole.trades.clone().expect("trades");
            assert_eq!(
                t.column(1).as_primitive::<Int64Type>().values(),
                w.column(1).as_primitive::<Int64Type>().values()
            );
        }
        // One line at a time.
        let each: Vec<&[u8]> = DAY.split_inclusive('\n').map(str::as_bytes).collect();
        let (_, states, _) = decode_in(&each);
        assert_eq!(lines(&states), lines(std::slice::from_ref(&whole.state)));
        assert_eq!(arrow_select_concat(&states), all(&whole.state));
        // The test sees a difference: a decoder that forgets the state.
        let mut s = Stream::new();
        let p = s.push(each[0..2].concat().as_slice());
        s.decode(&p, levelone::EQUITIES, &fids(&p.equities), &fields())
            .expect("decodes");
        s.carry[0] = Carry::default();
        let p = s.push(each[2..].concat().as_slice());
        let d = s
            .decode(&p, levelone::EQUITIES, &fids(&p.equities), &fields())
            .expect("decodes");
        let w = all(&whole.state);
        assert_ne!(all(&d.state), w.slice(2, w.num_rows() - 2));
    }

    fn all(b: &RecordBatch) -> RecordBatch {
        arrow_select_concat(std::slice::from_ref(b))
    }

    /// Concatenates batches of one schema (dictionaries compared by value).
    fn arrow_select_concat(batches: &[RecordBatch]) -> RecordBatch {
        let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
        let Some(first) = batches.first() else {
            return RecordBatch::new_empty(Arc::new(arrow_schema::Schema::empty()));
        };
        let cols = (0..first.num_columns())
            .map(|c| {
                let parts: Vec<ArrayRef> = batches.iter().map(|b| plain(b.column(c))).collect();
                let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                concat(&refs)
            })
            .collect::<Vec<_>>();
        let schema = arrow_schema::Schema::new(
            first
                .schema()
                .fields()
                .iter()
                .zip(&cols)
                .map(|(f, a)| arrow_schema::Field::new(f.name(), a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        RecordBatch::try_new(Arc::new(schema), cols).expect("batch")
    }

    /// A dictionary column as plain strings.
    fn plain(a: &ArrayRef) -> ArrayRef {
        match a.data_type() {
            DataType::Dictionary(_, _) if a.null_count() == a.len() => {
                Arc::new(arrow_array::StringArray::new_null(a.len()))
            }
            DataType::Dictionary(_, _) => {
                let d = a.as_any_dictionary();
                let keys = d.normalized_keys();
                let values = d.values().as_string::<i32>();
                Arc::new(arrow_array::StringArray::from_iter((0..a.len()).map(|i| {
                    a.is_valid(i).then(|| values.value(keys[i]).to_string())
                })))
            }
            _ => a.clone(),
        }
    }

    fn concat(parts: &[&dyn Array]) -> ArrayRef {
        let data: Vec<arrow_data::ArrayData> = parts.iter().map(|a| a.to_data()).collect();
        let refs: Vec<&arrow_data::ArrayData> = data.iter().collect();
        let len = refs.iter().map(|d| d.len()).sum();
        let mut m = arrow_data_mutable(&refs, len);
        for (i, d) in refs.iter().enumerate() {
            m.try_extend(i, 0, d.len()).expect("fits");
        }
        arrow_array::make_array(m.freeze())
    }

    fn arrow_data_mutable<'a>(
        refs: &[&'a arrow_data::ArrayData],
        len: usize,
    ) -> arrow_data::transform::MutableArrayData<'a> {
        arrow_data::transform::MutableArrayData::new(refs.to_vec(), true, len)
    }
}
