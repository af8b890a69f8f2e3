//! Activity windows and the sliding stuffing rule over event tables from any feed: the same
//! core [`Monitor`] the replay drives from ITCH, fed row by row from Arrow batches.

use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt8Type, UInt16Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use ki2fast_core::analytics::activity::{
    Event, Monitor, MonitorOutput, SlidingParams, episodes_to_batch,
};
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
                if e == b'Q' && !m.include_crosses {
                    continue;
                }
                let (q, p) = (shares.value(row), price.value(row));
                Event::Print {
                    shares: q,
                    notional_e4: u128::from(p) * u128::from(q),
                    aggressor: aggr.value(row),
                }
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

/// Keys (code → code) and the dictionary of names; codes past the names have no symbol.
fn dictionary(names: Vec<String>) -> (Vec<u16>, ArrayRef) {
    let keys: Vec<u16> = (0..names.len().min(usize::from(u16::MAX)) as u16).collect();
    (keys, Arc::new(StringArray::from(names)))
}
