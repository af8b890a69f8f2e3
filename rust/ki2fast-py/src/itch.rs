//! ITCH reading, exported to Python: decoding runs with the GIL released, a bounded step at
//! a time, with a Ctrl-C check between steps; results leave as Arrow objects
//! (`__arrow_c_stream__` / `__arrow_c_array__`), never as Python rows.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use ki2fast_core::arrow::reader::{
    BatchReader, BatchSink, DEFAULT_STEP, Driver, ItchReader, OrderEventReader,
};
use ki2fast_core::arrow::schema::{message_schema, order_event_schema};
use ki2fast_core::itch::framing::{CountSink, FrameChecks, FrameSink};
use ki2fast_core::itch::spec::MessageKind;
use ki2fast_core::itch::summary::{Summary, SummarySink};
use ki2fast_core::itch::synth::clock;
use ki2fast_core::{Result as CoreResult, session, source};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_arrow::{PyRecordBatch, PySchema, PyTable};

use crate::convert::{self, Source, to_py};

/// Framing counters as a dict.
pub fn checks_dict<'py>(py: Python<'py>, c: &FrameChecks) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let messages = PyDict::new(py);
    for kind in MessageKind::ALL {
        messages.set_item(kind.name(), c.messages(kind))?;
    }
    let unknown = PyDict::new(py);
    for (code, n) in c.unknown_codes() {
        unknown.set_item(format!("0x{code:02x}"), n)?;
    }
    d.set_item("messages", messages)?;
    d.set_item("unknown_types", unknown)?;
    d.set_item("length_mismatch", c.length_mismatch)?;
    d.set_item("zero_length_frames", c.zero_length_frames)?;
    d.set_item("truncated_tail_bytes", c.truncated_tail_bytes)?;
    d.set_item("bytes", c.bytes)?;
    d.set_item("gzip_cut_at", c.gzip_cut_at)?;
    Ok(d)
}

/// Steps `step` with the GIL released until it reports no more work, checking for Ctrl-C
/// between steps.
fn run_released<T: Send>(
    py: Python<'_>,
    target: &mut T,
    path: Option<&PathBuf>,
    step: impl Fn(&mut T) -> CoreResult<bool> + Sync,
) -> PyResult<()> {
    loop {
        let more = py.detach(|| step(target)).map_err(|e| to_py(e, path))?;
        py.check_signals()?;
        if !more {
            return Ok(());
        }
    }
}

/// The next batch of `reader`, decoding with the GIL released as needed.
fn next_released<S>(
    py: Python<'_>,
    reader: &mut BatchReader<S>,
    path: Option<&PathBuf>,
) -> PyResult<Option<S::Item>>
where
    S: BatchSink + Send,
    S::Item: Send,
{
    loop {
        if let Some(batch) = reader.pop() {
            return Ok(Some(batch));
        }
        let more = py
            .detach(|| reader.step(DEFAULT_STEP))
            .map_err(|e| to_py(e, path))?;
        py.check_signals()?;
        if !more {
            return Ok(reader.pop());
        }
    }
}

/// A reader held by a Python object (one caller at a time).
pub fn lock<T>(m: &Mutex<T>) -> PyResult<MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| PyValueError::new_err("the reader failed earlier and cannot be used"))
}

/// Lazy `(message name, record batch)` iterator over an ITCH source.
#[pyclass(module = "ki2fast._core", name = "ItchBatches")]
#[derive(Debug)]
pub struct ItchBatches {
    reader: Mutex<ItchReader>,
    path: Option<PathBuf>,
}

#[pymethods]
impl ItchBatches {
    #[new]
    #[pyo3(signature = (src, *, messages=None, symbols=None, date=None, prices="int", batch_size=65_536, allow_truncated=false, errors="raise"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        src: &Bound<'_, PyAny>,
        messages: Option<Vec<String>>,
        symbols: Option<Vec<String>>,
        date: Option<&str>,
        prices: &str,
        batch_size: usize,
        allow_truncated: bool,
        errors: &str,
    ) -> PyResult<Self> {
        let src = convert::source(src)?;
        let opts = convert::decode_options(
            &src,
            messages,
            symbols,
            date,
            prices,
            batch_size,
            false,
            allow_truncated,
            errors,
        )?;
        let Source { input, path } = src;
        let reader = ItchReader::new(input, opts).map_err(|e| to_py(e, path.as_ref()))?;
        Ok(ItchBatches {
            reader: Mutex::new(reader),
            path,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<(&'static str, PyRecordBatch)>> {
        let mut reader = lock(&self.reader)?;
        let next = next_released(py, &mut reader, self.path.as_ref())?;
        Ok(next.map(|(kind, batch)| (kind.name(), PyRecordBatch::new(batch))))
    }

    /// Framing counters so far (complete once the iterator is exhausted).
    #[getter]
    fn checks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let reader = lock(&self.reader)?;
        checks_dict(py, reader.checks())
    }

    /// `(stored bytes read, stored size or None)`: compressed figures for gzip.
    #[getter]
    fn progress(&self) -> PyResult<(u64, Option<u64>)> {
        let reader = lock(&self.reader)?;
        Ok(reader.progress())
    }
}

/// Reads everything: `({message name: table}, checks)`.
#[pyfunction]
#[pyo3(signature = (src, *, messages=None, symbols=None, date=None, prices="int", batch_size=1_048_576, allow_truncated=false, errors="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn read_itch<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    messages: Option<Vec<String>>,
    symbols: Option<Vec<String>>,
    date: Option<&str>,
    prices: &str,
    batch_size: usize,
    allow_truncated: bool,
    errors: &str,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let src = convert::source(src)?;
    let opts = convert::decode_options(
        &src,
        messages,
        symbols,
        date,
        prices,
        batch_size,
        true,
        allow_truncated,
        errors,
    )?;
    let Source { input, path } = src;
    let with_ts = opts.midnight_utc_ns.is_some();
    let prices = opts.prices;
    let mut reader = ItchReader::new(input, opts).map_err(|e| to_py(e, path.as_ref()))?;
    run_released(py, &mut reader, path.as_ref(), |r| r.step(DEFAULT_STEP))?;
    let checks = checks_dict(py, reader.checks())?;
    let tables = reader.read_all().map_err(|e| to_py(e, path.as_ref()))?;
    let out = PyDict::new(py);
    for (kind, batches) in tables {
        let schema = message_schema(kind, prices, with_ts);
        out.set_item(kind.name(), PyTable::try_new(batches, schema)?)?;
    }
    Ok((out, checks))
}

/// Lazy order-event batches.
#[pyclass(module = "ki2fast._core", name = "OrderEvents")]
#[derive(Debug)]
pub struct OrderEvents {
    reader: Mutex<OrderEventReader>,
    path: Option<PathBuf>,
}

#[pymethods]
impl OrderEvents {
    #[new]
    #[pyo3(signature = (src, *, symbols=None, date=None, prices="int", batch_size=65_536, allow_truncated=false, errors="raise"))]
    fn new(
        src: &Bound<'_, PyAny>,
        symbols: Option<Vec<String>>,
        date: Option<&str>,
        prices: &str,
        batch_size: usize,
        allow_truncated: bool,
        errors: &str,
    ) -> PyResult<Self> {
        let src = convert::source(src)?;
        let opts = convert::decode_options(
            &src,
            None,
            symbols,
            date,
            prices,
            batch_size,
            false,
            allow_truncated,
            errors,
        )?;
        let Source { input, path } = src;
        let reader = OrderEventReader::new(input, opts).map_err(|e| to_py(e, path.as_ref()))?;
        Ok(OrderEvents {
            reader: Mutex::new(reader),
            path,
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyRecordBatch>> {
        let mut reader = lock(&self.reader)?;
        Ok(next_released(py, &mut reader, self.path.as_ref())?.map(PyRecordBatch::new))
    }

    /// Schema of every batch.
    #[getter]
    fn schema(&self) -> PyResult<PySchema> {
        let reader = lock(&self.reader)?;
        Ok(PySchema::new(reader.schema()))
    }

    /// Framing counters so far.
    #[getter]
    fn checks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let reader = lock(&self.reader)?;
        checks_dict(py, reader.checks())
    }
}

/// Reads the whole order-event stream: `(table, checks)`.
#[pyfunction]
#[pyo3(signature = (src, *, symbols=None, date=None, prices="int", batch_size=1_048_576, allow_truncated=false, errors="raise"))]
#[allow(clippy::too_many_arguments)]
pub fn read_order_events<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    symbols: Option<Vec<String>>,
    date: Option<&str>,
    prices: &str,
    batch_size: usize,
    allow_truncated: bool,
    errors: &str,
) -> PyResult<(PyTable, Bound<'py, PyDict>)> {
    let src = convert::source(src)?;
    let opts = convert::decode_options(
        &src,
        None,
        symbols,
        date,
        prices,
        batch_size,
        true,
        allow_truncated,
        errors,
    )?;
    let Source { input, path } = src;
    let mut reader = OrderEventReader::new(input, opts).map_err(|e| to_py(e, path.as_ref()))?;
    run_released(py, &mut reader, path.as_ref(), |r| r.step(DEFAULT_STEP))?;
    let checks = checks_dict(py, reader.checks())?;
    let schema = reader.schema();
    let batches = reader.read_all().map_err(|e| to_py(e, path.as_ref()))?;
    Ok((PyTable::try_new(batches, schema)?, checks))
}

fn drive<S: FrameSink + Send>(py: Python<'_>, src: Source, sink: S) -> PyResult<S> {
    let Source { input, path } = src;
    let mut driver = Driver::new(input, sink);
    run_released(py, &mut driver, path.as_ref(), |d| {
        d.step(DEFAULT_STEP)?;
        Ok(!d.is_done())
    })?;
    Ok(driver.sink)
}

/// Framing walk only: the counters.
#[pyfunction]
#[pyo3(signature = (src, *, allow_truncated=false, errors="raise"))]
pub fn count_itch<'py>(
    py: Python<'py>,
    src: &Bound<'py, PyAny>,
    allow_truncated: bool,
    errors: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let policy = convert::policy(allow_truncated, errors)?;
    let sink = drive(py, convert::source(src)?, CountSink::new(policy))?;
    checks_dict(py, sink.checks())
}

fn summary_dict<'py>(py: Python<'py>, s: &Summary) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("checks", checks_dict(py, &s.checks)?)?;
    d.set_item("first_timestamp", s.first_timestamp)?;
    d.set_item("last_timestamp", s.last_timestamp)?;
    d.set_item("first_time", s.first_timestamp.map(clock))?;
    d.set_item("last_time", s.last_timestamp.map(clock))?;
    d.set_item("timestamp_regressions", s.timestamp_regressions)?;
    d.set_item("timestamp_out_of_range", s.timestamp_out_of_range)?;
    let events: Vec<(String, u64, String)> = s
        .system_events
        .iter()
        .map(|&(c, t)| ((c as char).to_string(), t, clock(t)))
        .collect();
    d.set_item("system_events", events)?;
    d.set_item("events_out_of_order", s.events_out_of_order)?;
    d.set_item("directory_entries", s.directory_entries)?;
    d.set_item("test_symbols", s.test_symbols)?;
    d.set_item("unknown_locate", s.unknown_locate)?;
    d.set_item("symbols", s.symbols.clone())?;
    Ok(d)
}

/// A whole-stream integrity pass that can be stepped (for progress bars).
#[pyclass(module = "ki2fast._core", name = "SummaryScan")]
#[derive(Debug)]
pub struct SummaryScan {
    driver: Mutex<Driver<SummarySink>>,
    path: Option<PathBuf>,
}

#[pymethods]
impl SummaryScan {
    #[new]
    #[pyo3(signature = (src, *, allow_truncated=false, errors="raise"))]
    fn new(src: &Bound<'_, PyAny>, allow_truncated: bool, errors: &str) -> PyResult<Self> {
        let policy = convert::policy(allow_truncated, errors)?;
        let Source { input, path } = convert::source(src)?;
        Ok(SummaryScan {
            driver: Mutex::new(Driver::new(input, SummarySink::new(policy))),
            path,
        })
    }

    /// Scans about 16 MiB with the GIL released; returns False once the input is exhausted.
    fn step(&self, py: Python<'_>) -> PyResult<bool> {
        let mut guard = lock(&self.driver)?;
        let driver: &mut Driver<SummarySink> = &mut guard;
        py.detach(|| driver.step(DEFAULT_STEP))
            .map_err(|e| to_py(e, self.path.as_ref()))?;
        py.check_signals()?;
        Ok(!driver.is_done())
    }

    /// `(stored bytes read, stored size or None)`.
    #[getter]
    fn progress(&self) -> PyResult<(u64, Option<u64>)> {
        let guard = lock(&self.driver)?;
        Ok(guard.progress())
    }

    /// The summary so far (complete once `step` returned False).
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let guard = lock(&self.driver)?;
        summary_dict(py, &guard.sink.snapshot())
    }
}

/// The Arrow schema of one message type's table.
#[pyfunction]
#[pyo3(signature = (message, *, prices="int", with_ts=false))]
pub fn itch_schema(message: &str, prices: &str, with_ts: bool) -> PyResult<PySchema> {
    let kind = convert::messages(Some(vec![message.to_string()]))?
        .iter()
        .next()
        .ok_or_else(|| PyValueError::new_err("no message"))?;
    Ok(PySchema::new(message_schema(
        kind,
        convert::prices(prices)?,
        with_ts,
    )))
}

/// The order-event schema.
#[pyfunction]
#[pyo3(signature = (*, prices="int", with_ts=false))]
pub fn order_events_schema(prices: &str, with_ts: bool) -> PyResult<PySchema> {
    Ok(PySchema::new(order_event_schema(
        convert::prices(prices)?,
        with_ts,
    )))
}

/// The session date a NASDAQ file name encodes, as `YYYY-MM-DD`.
#[pyfunction]
pub fn session_date_from_name(path: PathBuf) -> Option<String> {
    session::date_from_file_name(&path).map(|d| d.to_string())
}

/// UTC nanoseconds of New York midnight on `date` (`YYYY-MM-DD`).
#[pyfunction]
pub fn session_midnight_ns(date: &str) -> PyResult<i64> {
    session::parse_date(date)
        .and_then(session::midnight_utc_ns)
        .map_err(|e| to_py(e, None))
}

/// Inflates a gzip file and returns its decompressed size (the inflate-only baseline).
#[pyfunction]
pub fn inflate_len(py: Python<'_>, path: PathBuf) -> PyResult<u64> {
    py.detach(|| source::inflate_len(&path))
        .map_err(|e| to_py(e, Some(&path)))
}
