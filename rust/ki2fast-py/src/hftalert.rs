//! Burst Monitor CSV lines ([`ki2fast_core::feeds::hftalert`]) for the Python readers.

use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, UInt32Array};
use ki2fast_core::feeds::hftalert::{self, Hft1Layout, TimeFormat};
use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::PyRecordBatch;

/// A batch of `columns`, every one nullable (so that batches of any content share a schema).
fn batch(columns: Vec<(&str, ArrayRef)>) -> PyResult<PyRecordBatch> {
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .map(PyRecordBatch::new)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Per complete line of `chunk`: `start` (after a BOM at byte 0 when `bom`), `stop` (before
/// the line end and one `\r`), and its `spaces`, `odd` (not printable ASCII) and `commas`
/// bytes in between.
#[pyfunction]
pub fn line_stats(
    py: Python<'_>,
    chunk: &Bound<'_, PyBytes>,
    bom: bool,
) -> PyResult<PyRecordBatch> {
    let bytes = chunk.as_bytes();
    let s = py.detach(|| hftalert::line_stats(bytes, bom));
    batch(vec![
        ("start", Arc::new(Int64Array::from(s.start))),
        ("stop", Arc::new(Int64Array::from(s.stop))),
        ("spaces", Arc::new(Int32Array::from(s.spaces))),
        ("odd", Arc::new(Int32Array::from(s.odd))),
        ("commas", Arc::new(Int32Array::from(s.commas))),
    ])
}

/// The hft1 rows of the lines `data[start[i]:stop[i]]` that have the plain shape (see
/// [`hftalert::hft1_fields`]): `line` (i), `seconds` (of the day), `time_raw`, `symbol`, `t1`,
/// `num_quotes`, `bbo`, `num_trades`, `dollars`, `t3`. `layout` gives the field count and
/// the positions of Symbol, T1, Time, NumQuotes, BBO, NumTrades, Dollars and T3;
/// `time_format` is "auto", "hhmmss" or "hh:mm:ss".
#[pyfunction]
pub fn hft1_fields(
    py: Python<'_>,
    data: &Bound<'_, PyBytes>,
    start: PyBuffer<i64>,
    stop: PyBuffer<i64>,
    layout: [usize; 9],
    time_format: &str,
) -> PyResult<PyRecordBatch> {
    let format = match time_format {
        "auto" => TimeFormat::Auto,
        "hhmmss" => TimeFormat::Hhmmss,
        "hh:mm:ss" => TimeFormat::Colons,
        other => return Err(PyValueError::new_err(format!("time format {other:?}"))),
    };
    let layout = Hft1Layout::from_positions(layout)
        .ok_or_else(|| PyValueError::new_err("a column beyond the field count"))?;
    let (start, stop) = (start.to_vec(py)?, stop.to_vec(py)?);
    if start.len() != stop.len() {
        return Err(PyValueError::new_err("start and stop differ in length"));
    }
    let bytes = data.as_bytes();
    let r = py.detach(|| hftalert::hft1_fields(bytes, &start, &stop, &layout, format));
    batch(vec![
        ("line", Arc::new(UInt32Array::from(r.line))),
        ("seconds", Arc::new(Int32Array::from(r.seconds))),
        ("time_raw", Arc::new(StringArray::from(r.time_raw))),
        ("symbol", Arc::new(StringArray::from(r.symbol))),
        ("t1", Arc::new(StringArray::from(r.t1))),
        ("num_quotes", Arc::new(Int32Array::from(r.num_quotes))),
        ("bbo", Arc::new(Int32Array::from(r.bbo))),
        ("num_trades", Arc::new(Int32Array::from(r.num_trades))),
        ("dollars", Arc::new(Int64Array::from(r.dollars))),
        ("t3", Arc::new(StringArray::from(r.t3))),
    ])
}
