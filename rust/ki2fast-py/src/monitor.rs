//! Activity windows and the sliding stuffing rule over event tables from any feed: the same
//! core [`Monitor`] the replay drives from ITCH, fed row by row from Arrow batches.

use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type};
use arrow_array::types::{Int64Type, UInt8Type, UInt16Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use ki2fast_core::analytics::activity::{
    Event, Monitor, MonitorOutput, SlidingParams, episodes_to_batch,
};
use ki2fast_core::analytics::order_feed::{OrderEvent, OrderFeed};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::PyRecordBatch;

use crate::itch::lock;

/// `(window_ns, min_msgs, merge_gap_ns)` as the core's parameters, checked.
pub(crate) fn sliding_params(p: Option<(u64, usize, u64)>) -> PyResult<Option<SlidingParams>> {
    match p {
        None => Ok(None),
        Some((window_ns, min_msgs, merge_gap_ns)) => {
            if window_ns == 0 || min_msgs == 0 {
                return Err(PyValueError::new_err(
                    "the sliding window and its message count must be positive",
                ));
            }
            Ok(Some(SlidingParams {
                window_ns,
                min_msgs,
                merge_gap_ns,
            }))
        }
    }
}

fn column<'a, T: arrow_array::ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
    ty: &str,
) -> PyResult<&'a arrow_array::PrimitiveArray<T>> {
    let c = batch
        .column_by_name(name)
        .ok_or_else(|| PyValueError::new_err(format!("events need a {name:?} column")))?;
    if c.null_count() > 0 {
        return Err(PyValueError::new_err(format!(
            "event column {name:?} has nulls"
        )));
    }
    c.as_primitive_opt::<T>().ok_or_else(|| {
        PyValueError::new_err(format!(
            "event column {name:?} must be {ty}, not {}",
            c.data_type()
        ))
    })
}

/// Events of many symbols, in time order, into activity windows and/or the sliding rule.
///
/// A batch has `timestamp` (int64, ns since midnight), `code` (uint16, the symbol's index in
/// the names given to `finish`), `event` (uint8: `A F X D U L` quote messages, `B` a
/// top-of-book change, `E` an execution, `T` a print, `Q` a cross print), `shares` (uint64),
/// `price_e4` (uint64, 1/10 000 $) and `aggressor` (uint8: `B`, `S` or 0).
#[pyclass(module = "ki2fast._core")]
#[derive(Debug)]
pub struct EventMonitor {
    inner: Mutex<Option<Monitor>>,
    /// Books for order-event batches ([`EventMonitor::feed_order_events`]).
    orders: Mutex<Option<OrderFeed>>,
}

fn feed(m: &mut Monitor, batch: &RecordBatch) -> PyResult<()> {
    let ts = column::<Int64Type>(batch, "timestamp", "int64")?;
    let code = column::<UInt16Type>(batch, "code", "uint16")?;
    let event = column::<UInt8Type>(batch, "event", "uint8")?;
    let shares = column::<UInt64Type>(batch, "shares", "uint64")?;
    let price = column::<UInt64Type>(batch, "price_e4", "uint64")?;
    let aggr = column::<UInt8Type>(batch, "aggressor", "uint8")?;
    for row in 0..batch.num_rows() {
        let t = u64::try_from(ts.value(row)).map_err(|_| {
            PyValueError::new_err(format!("event row {row}: timestamp before midnight"))
        })?;
        let (c, e) = (code.value(row), event.value(row));
        let ev = match e {
            b'A' | b'F' | b'X' | b'D' | b'U' | b'L' => Event::Quote(e),
            b'B' => Event::Bbo,
            b'E' => Event::Execution,
            b'T' | b'Q' => {
                m.print(
                    c,
                    t,
                    e,
                    price.value(row),
                    shares.value(row),
                    aggr.value(row),
                );
                continue;
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "event row {row}: unknown event code {other}"
                )));
            }
        };
        m.event(c, t, ev);
    }
    Ok(())
}

fn feed_orders(m: &mut Monitor, books: &mut OrderFeed, batch: &RecordBatch) -> PyResult<()> {
    let ts = column::<Int64Type>(batch, "timestamp", "int64")?;
    let locate = column::<UInt16Type>(batch, "stock_locate", "uint16")?;
    let event = column::<UInt8Type>(batch, "event", "uint8")?;
    let side = column::<UInt8Type>(batch, "side", "uint8")?;
    let reference = column::<UInt64Type>(batch, "order_reference_number", "uint64")?;
    let new_reference = column::<UInt64Type>(batch, "new_order_reference_number", "uint64")?;
    let shares = column::<UInt32Type>(batch, "shares", "uint32")?;
    let price = column::<UInt32Type>(batch, "price", "uint32")?;
    let printable = column::<UInt8Type>(batch, "printable", "uint8")?;
    for row in 0..batch.num_rows() {
        let t = u64::try_from(ts.value(row)).map_err(|_| {
            PyValueError::new_err(format!("order event row {row}: timestamp before midnight"))
        })?;
        let (q, p) = (shares.value(row), price.value(row));
        let e = match event.value(row) {
            b'A' => OrderEvent::Add {
                side: side.value(row),
                price: p,
                shares: q,
            },
            b'E' => OrderEvent::Execute {
                shares: q,
                price: None,
                printable: true,
            },
            b'C' => OrderEvent::Execute {
                shares: q,
                price: Some(p),
                printable: printable.value(row) == 1,
            },
            b'X' => OrderEvent::Cancel { shares: q },
            b'D' => OrderEvent::Delete,
            b'U' => OrderEvent::Replace {
                new_reference: new_reference.value(row),
                shares: q,
                price: p,
            },
            other => {
                return Err(PyValueError::new_err(format!(
                    "order event row {row}: unknown event code {other}"
                )));
            }
        };
        books.apply(m, locate.value(row), t, reference.value(row), e);
    }
    Ok(())
}

#[pymethods]
impl EventMonitor {
    #[new]
    #[pyo3(signature = (*, activity_every_ns=None, sliding=None, include_crosses=false))]
    fn new(
        activity_every_ns: Option<u64>,
        sliding: Option<(u64, usize, u64)>,
        include_crosses: bool,
    ) -> PyResult<Self> {
        if activity_every_ns == Some(0) {
            return Err(PyValueError::new_err(
                "the activity window must be positive",
            ));
        }
        let mut m = Monitor::new(activity_every_ns, sliding_params(sliding)?);
        m.include_crosses = include_crosses;
        Ok(EventMonitor {
            inner: Mutex::new(Some(m)),
            orders: Mutex::new(None),
        })
    }

    /// Feeds a batch of events (GIL released).
    fn feed(&self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<()> {
        let batch = batch.into_inner();
        let mut guard = lock(&self.inner)?;
        let m = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the monitor was already finished"))?;
        py.detach(|| feed(m, &batch))
    }

    /// Feeds a batch of order events through the monitor's own books (GIL released):
    /// `timestamp` (int64), `stock_locate` (uint16), `event` (uint8: `A` add, `E` execute,
    /// `C` execute with price, `X` cancel, `D` delete, `U` replace), `side` (uint8 `B`/`S`),
    /// `order_reference_number`, `new_order_reference_number` (uint64), `shares`, `price`
    /// (uint32) and `printable` (uint8, 1 or 0), nulls filled.
    fn feed_order_events(&self, py: Python<'_>, batch: PyRecordBatch) -> PyResult<()> {
        let batch = batch.into_inner();
        let mut guard = lock(&self.inner)?;
        let m = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the monitor was already finished"))?;
        let mut books = lock(&self.orders)?;
        let books = books.get_or_insert_with(OrderFeed::new);
        py.detach(|| feed_orders(m, books, &batch))
    }

    /// Episodes that no event at or after `now` (ns since midnight) can extend, once each.
    fn closed(
        &self,
        now: u64,
        names: Vec<String>,
        midnight: Option<i64>,
    ) -> PyResult<Option<PyRecordBatch>> {
        let mut guard = lock(&self.inner)?;
        let m = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the monitor was already finished"))?;
        let Some(s) = m.sliding.as_mut() else {
            return Ok(None);
        };
        s.sweep(now);
        let episodes = s.take_closed();
        let (keys, dict) = dictionary(names);
        Ok(Some(PyRecordBatch::new(episodes_to_batch(
            &episodes,
            s.params().window_ns,
            &keys,
            &dict,
            midnight,
        ))))
    }

    /// The earliest start (ns since midnight) of an episode still open, if any.
    fn open_since(&self) -> PyResult<Option<u64>> {
        let guard = lock(&self.inner)?;
        Ok(guard
            .as_ref()
            .and_then(|m| m.sliding.as_ref())
            .and_then(|s| s.earliest_open()))
    }

    /// Activity windows that end by `before` (ns since midnight), once each; None without
    /// activity windows.
    fn activity_until(
        &self,
        before: u64,
        names: Vec<String>,
        midnight: Option<i64>,
    ) -> PyResult<Option<PyRecordBatch>> {
        let mut guard = lock(&self.inner)?;
        let m = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the monitor was already finished"))?;
        let Some(a) = m.activity.as_mut() else {
            return Ok(None);
        };
        let window = a.window_ns();
        let rows = a.drain(before);
        let (keys, dict) = dictionary(names);
        Ok(Some(PyRecordBatch::new(
            rows.to_batch(window, &keys, &dict, midnight),
        )))
    }

    /// Closes everything: `{"activity": batch | None, "episodes": batch | None}`, symbols
    /// named by `names[code]`.
    fn finish<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        midnight: Option<i64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let m = lock(&self.inner)?
            .take()
            .ok_or_else(|| PyValueError::new_err("the monitor was already finished"))?;
        let out: MonitorOutput = m.finish();
        let (keys, dict) = dictionary(names);
        let (activity, episodes) = py.detach(|| out.to_batches(&keys, &dict, midnight));
        let d = PyDict::new(py);
        d.set_item("activity", activity.map(PyRecordBatch::new))?;
        d.set_item("episodes", episodes.map(PyRecordBatch::new))?;
        Ok(d)
    }
}

/// One column of every batch, concatenated (checked as `column` checks it).
fn concat_column<T: arrow_array::ArrowPrimitiveType>(
    batches: &[RecordBatch],
    name: &str,
    ty: &str,
) -> PyResult<Vec<T::Native>> {
    let mut out = Vec::with_capacity(batches.iter().map(|b| b.num_rows()).sum());
    for b in batches {
        out.extend_from_slice(column::<T>(b, name, ty)?.values());
    }
    Ok(out)
}

/// Keys (code → code) and the dictionary of names; codes past the names have no symbol.
fn dictionary(names: Vec<String>) -> (Vec<u16>, ArrayRef) {
    let keys: Vec<u16> = (0..names.len().min(usize::from(u16::MAX)) as u16).collect();
    (keys, Arc::new(StringArray::from(names)))
}

/// Per row of `table` (`key` uint32, `day` int64, `value` float64, no nulls), the median
/// (`mu`) and robust σ (`sd`: 1.4826 × MAD, or 1.253314 × the mean absolute deviation when
/// the MAD is 0) of its (key, day) group's series of `n` values, the missing ones zeros
/// (GIL released).
#[pyfunction]
pub fn median_mad_by_group(
    py: Python<'_>,
    table: pyo3_arrow::PyTable,
    n: usize,
) -> PyResult<PyRecordBatch> {
    let (batches, _) = table.into_inner();
    let key = concat_column::<UInt32Type>(&batches, "key", "uint32")?;
    let day = concat_column::<Int64Type>(&batches, "day", "int64")?;
    let value = concat_column::<Float64Type>(&batches, "value", "float64")?;
    let (mu, sd) =
        py.detach(|| ki2fast_core::analytics::stats::median_mad_by_group(&key, &day, &value, n));
    let batch = RecordBatch::try_from_iter([
        (
            "mu",
            std::sync::Arc::new(arrow_array::Float64Array::from(mu)) as ArrayRef,
        ),
        (
            "sd",
            std::sync::Arc::new(arrow_array::Float64Array::from(sd)) as ArrayRef,
        ),
    ])
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyRecordBatch::new(batch))
}

/// Per row of `table` (`key` uint32, `day` int64, `idx` int64 window number from 0,
/// `value` float64, no nulls), the baseline of the `lookback` windows before its window in
/// its (key, day) series, the windows without a row zeros: `mu`, `sd` (median and robust σ
/// with `robust`, else mean and population σ) and `ok` (at least half the lookback exists).
#[pyfunction]
pub fn rolling_baseline(
    py: Python<'_>,
    table: pyo3_arrow::PyTable,
    lookback: usize,
    robust: bool,
) -> PyResult<PyRecordBatch> {
    let (batches, _) = table.into_inner();
    let key = concat_column::<UInt32Type>(&batches, "key", "uint32")?;
    let day = concat_column::<Int64Type>(&batches, "day", "int64")?;
    let idx = concat_column::<Int64Type>(&batches, "idx", "int64")?;
    let value = concat_column::<Float64Type>(&batches, "value", "float64")?;
    let (mu, sd, ok) = py.detach(|| {
        ki2fast_core::analytics::stats::rolling_baseline(&key, &day, &idx, &value, lookback, robust)
    });
    let batch = RecordBatch::try_from_iter([
        (
            "mu",
            Arc::new(arrow_array::Float64Array::from(mu)) as ArrayRef,
        ),
        (
            "sd",
            Arc::new(arrow_array::Float64Array::from(sd)) as ArrayRef,
        ),
        (
            "ok",
            Arc::new(arrow_array::BooleanArray::from(ok)) as ArrayRef,
        ),
    ])
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyRecordBatch::new(batch))
}

/// Which level-one quotes change their symbol's top of book (see
/// [`ki2fast_core::analytics::tops::level_one_changes`]): `table` holds `key` (uint32) and
/// `bid`, `ask`, `bid_size`, `ask_size` (float64, null where not sent); one flag per row.
#[pyfunction]
pub fn level_one_changes(py: Python<'_>, table: pyo3_arrow::PyTable) -> PyResult<PyRecordBatch> {
    let (batches, _) = table.into_inner();
    let key = concat_column::<UInt32Type>(&batches, "key", "uint32")?;
    let mut cols = Vec::with_capacity(4);
    for name in ["bid", "ask", "bid_size", "ask_size"] {
        let mut v: Vec<Option<f64>> = Vec::new();
        for b in &batches {
            let a = b
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<arrow_array::Float64Array>())
                .ok_or_else(|| PyValueError::new_err(format!("{name}: a float64 column")))?;
            v.extend(a.iter());
        }
        cols.push(v);
    }
    let tops: Vec<[Option<f64>; 4]> = (0..key.len())
        .map(|i| [cols[0][i], cols[1][i], cols[2][i], cols[3][i]])
        .collect();
    let changed = py.detach(|| ki2fast_core::analytics::tops::level_one_changes(&key, &tops));
    let batch = RecordBatch::try_from_iter([(
        "changed",
        Arc::new(arrow_array::BooleanArray::from(changed)) as ArrayRef,
    )])
    .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(PyRecordBatch::new(batch))
}

/// Activity rows (`window_timestamp` int64, `window_ns` int64, `locate` uint16, `symbol`
/// string, and the sums `num_quotes` … `sell_aggr_shares`, no nulls) with the rows of one
/// window and locate summed into one, as the core's activity table: what a streamed day
/// gets when time went back into windows it had already written. `midnight`: the session's
/// (None: no dates).
#[pyfunction]
#[pyo3(signature = (table, midnight=None))]
pub fn activity_merge(
    py: Python<'_>,
    table: pyo3_arrow::PyTable,
    midnight: Option<i64>,
) -> PyResult<PyRecordBatch> {
    use ki2fast_core::analytics::activity::{ActivityRows, COUNT_COLUMNS};
    let (batches, _) = table.into_inner();
    let start = concat_column::<Int64Type>(&batches, "window_timestamp", "int64")?;
    let windows = concat_column::<Int64Type>(&batches, "window_ns", "int64")?;
    let locate = concat_column::<UInt16Type>(&batches, "locate", "uint16")?;
    let counts = COUNT_COLUMNS
        .map(|name| concat_column::<UInt32Type>(&batches, name, "uint32"))
        .into_iter()
        .collect::<PyResult<Vec<_>>>()?;
    let shares = concat_column::<UInt64Type>(&batches, "shares", "uint64")?;
    let notional = concat_column::<UInt64Type>(&batches, "notional_e4", "uint64")?;
    let buy = concat_column::<UInt64Type>(&batches, "buy_aggr_shares", "uint64")?;
    let sell = concat_column::<UInt64Type>(&batches, "sell_aggr_shares", "uint64")?;
    let window = windows.first().copied();
    if windows.iter().any(|&w| Some(w) != window) {
        return Err(PyValueError::new_err(
            "activity rows of one window length only",
        ));
    }
    let mut names: Vec<String> = Vec::new();
    let mut key_of_locate = vec![u16::MAX; 1 << 16];
    for b in &batches {
        let loc = column::<UInt16Type>(b, "locate", "uint16")?;
        let sym = b
            .column_by_name("symbol")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| PyValueError::new_err("column 'symbol' must be a string column"))?;
        for (l, s) in loc.values().iter().zip(sym.iter()) {
            let k = &mut key_of_locate[*l as usize];
            if *k == u16::MAX {
                *k = names.len() as u16;
                names.push(s.unwrap_or_default().to_string());
            }
        }
    }
    let window = window.unwrap_or(1).max(1) as u64;
    let batch = py.detach(|| {
        let rows = ActivityRows::from_columns(
            &start,
            &locate,
            std::array::from_fn(|k| counts[k].as_slice()),
            &shares,
            &notional,
            &buy,
            &sell,
        );
        let (_, dictionary) = dictionary(names);
        rows.to_batch(window, &key_of_locate, &dictionary, midnight)
    });
    Ok(PyRecordBatch::new(batch))
}

/// Bars of `every_ns` from the prints of any feed (see
/// [`ki2fast_core::analytics::bars::feed_bars`]), GIL released. `trades`: `timestamp`
/// int64 (≥ 0), `locate` uint16, `kind` and `aggressor` uint8, `price`, `shares`, `bid`,
/// `ask` uint64 (prices in 1/10 000 $), counting prints only, in time order; `quotes`:
/// `timestamp`, `locate`, `bid`, `ask` alike. `names`: the symbol of each locate.
#[pyfunction]
#[pyo3(signature = (trades, quotes, every_ns, names))]
pub fn feed_bars(
    py: Python<'_>,
    trades: pyo3_arrow::PyTable,
    quotes: Option<pyo3_arrow::PyTable>,
    every_ns: u64,
    names: Vec<String>,
) -> PyResult<PyRecordBatch> {
    use ki2fast_core::analytics::bars::{QuoteAt, Sale};
    let (batches, _) = trades.into_inner();
    let ts = concat_column::<Int64Type>(&batches, "timestamp", "int64")?;
    let locate = concat_column::<UInt16Type>(&batches, "locate", "uint16")?;
    let kind = concat_column::<UInt8Type>(&batches, "kind", "uint8")?;
    let aggressor = concat_column::<UInt8Type>(&batches, "aggressor", "uint8")?;
    let [price, shares, bid, ask] = ["price", "shares", "bid", "ask"]
        .map(|name| concat_column::<UInt64Type>(&batches, name, "uint64"));
    let (price, shares, bid, ask) = (price?, shares?, bid?, ask?);
    let time = |t: i64| {
        u64::try_from(t).map_err(|_| PyValueError::new_err(format!("timestamp {t} is negative")))
    };
    let sales = (0..ts.len())
        .map(|i| {
            Ok(Sale {
                timestamp: time(ts[i])?,
                locate: locate[i],
                kind: kind[i],
                aggressor: aggressor[i],
                price: price[i],
                shares: shares[i],
                bid: bid[i],
                ask: ask[i],
            })
        })
        .collect::<PyResult<Vec<Sale>>>()?;
    let quotes = match quotes {
        None => None,
        Some(q) => {
            let (batches, _) = q.into_inner();
            let ts = concat_column::<Int64Type>(&batches, "timestamp", "int64")?;
            let locate = concat_column::<UInt16Type>(&batches, "locate", "uint16")?;
            let bid = concat_column::<UInt64Type>(&batches, "bid", "uint64")?;
            let ask = concat_column::<UInt64Type>(&batches, "ask", "uint64")?;
            let rows = (0..ts.len())
                .map(|i| {
                    Ok(QuoteAt {
                        timestamp: time(ts[i])?,
                        locate: locate[i],
                        bid: bid[i],
                        ask: ask[i],
                    })
                })
                .collect::<PyResult<Vec<QuoteAt>>>()?;
            Some(rows)
        }
    };
    let every = every_ns.max(1);
    let batch = py.detach(|| {
        ki2fast_core::analytics::bars::feed_bars(every, &sales, quotes.as_deref())
            .map(|bars| bars.to_dollar_batch(&dictionary(names).1))
    });
    batch.map(PyRecordBatch::new).map_err(PyValueError::new_err)
}
