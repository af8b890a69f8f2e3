//! Schwab captures: the level-one and book reader, whole or batch by batch (GIL released while
//! it runs).

use std::collections::HashMap;
use std::sync::Mutex;

use ki2fast_core::feeds::schwab::book::Book;
use ki2fast_core::feeds::schwab::decoder::{self, Batch};
use ki2fast_core::feeds::schwab::fill::{Decoded, FieldSpec, Kind};
use ki2fast_core::feeds::schwab::labels::{self, ServiceLabels};
use ki2fast_core::feeds::schwab::levelone::{self, BadReason, Service};
use ki2fast_core::feeds::schwab::stream::Stream;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::PyRecordBatch;

/// A service's label tables, as Python gives them (see [`ServiceLabels`]).
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct ServiceArgs {
    fields: Vec<(i32, String, String)>,
    schemes: HashMap<String, HashMap<String, i32>>,
    reserved: Vec<String>,
    tda_markers: Vec<String>,
    tda_prefixes: Vec<String>,
    tda_suffixes: Vec<String>,
    schwab_py_markers: Vec<String>,
    same_in_both: Vec<String>,
    schwab_py_since_ms: i64,
}

impl ServiceArgs {
    fn into_labels(self) -> PyResult<ServiceLabels> {
        let fields = self
            .fields
            .into_iter()
            .map(|(id, name, kind)| {
                let kind = Kind::parse(&kind)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown kind {kind:?}")))?;
                Ok(FieldSpec { id, name, kind })
            })
            .collect::<PyResult<Vec<_>>>()?;
        for scheme in labels::SCHEMES {
            if !self.schemes.contains_key(scheme) {
                return Err(PyValueError::new_err(format!(
                    "no table for scheme {scheme}"
                )));
            }
        }
        let set = |v: Vec<String>| v.into_iter().collect();
        Ok(ServiceLabels {
            fields,
            schemes: self
                .schemes
                .into_iter()
                .map(|(k, v)| (k, v.into_iter().collect()))
                .collect(),
            reserved: set(self.reserved),
            tda_markers: set(self.tda_markers),
            tda_prefixes: self.tda_prefixes,
            tda_suffixes: self.tda_suffixes,
            schwab_py_markers: set(self.schwab_py_markers),
            same_in_both: set(self.same_in_both),
            schwab_py_since_ms: self.schwab_py_since_ms,
        })
    }
}

/// The level-one label tables of both services, built once and given to every reading.
#[pyclass(frozen, module = "ki2fast._core")]
#[derive(Debug)]
pub struct LevelOneLabels {
    services: [ServiceLabels; 2],
}

#[pymethods]
impl LevelOneLabels {
    #[new]
    fn new(equities: ServiceArgs, options: ServiceArgs) -> PyResult<Self> {
        Ok(Self {
            services: [equities.into_labels()?, options.into_labels()?],
        })
    }
}

/// Both passes over a decompressed capture, each service in the scheme asked
/// (``"auto"`` to detect it): see [`batch_dict`] for what it gives.
#[pyfunction]
pub fn levelone_read<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
    labels: &LevelOneLabels,
    schemes: (String, String),
    strict: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let bytes = data.as_bytes();
    let asked = [schemes.0.as_str(), schemes.1.as_str()];
    let got = py.detach(|| decoder::read(bytes, &labels.services, asked, strict));
    batch_dict(py, got)
}

/// The book services of a decompressed capture (pass 1 alone): `lines` and `book` (see
/// [`book_dict`]).
#[pyfunction]
pub fn book_read<'py>(py: Python<'py>, data: &Bound<'py, PyBytes>) -> PyResult<Bound<'py, PyDict>> {
    let bytes = data.as_bytes();
    let pass = py.detach(|| levelone::read(bytes));
    let out = PyDict::new(py);
    out.set_item("lines", pass.lines)?;
    out.set_item("book", book_dict(py, pass.book)?)?;
    Ok(out)
}

/// The book services' rows: `levels` (an Arrow batch), `bad` [(line, offset, reason)] and
/// `snapshots`.
fn book_dict<'py>(py: Python<'py>, mut book: Book) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let bad: Vec<(u64, u64, String)> = std::mem::take(&mut book.bad)
        .into_iter()
        .map(|b| (b.line, b.offset, b.reason))
        .collect();
    out.set_item("bad", bad)?;
    out.set_item("snapshots", book.snapshots)?;
    // The columns move into the batch: no copy of the rows.
    let levels = py
        .detach(|| book.into_batch())
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    out.set_item("levels", PyRecordBatch::new(levels))?;
    Ok(out)
}

/// Both passes over a capture that grows (a streamer journal day), a batch of bytes at a
/// time: `push(data, ...)` gives what `levelone_read` gives for the complete lines so far
/// (line numbers, byte offsets and connection epochs the capture's; a torn last line held
/// back until its end comes), each symbol starting from the state the lines before left.
#[pyclass(frozen, module = "ki2fast._core")]
#[derive(Debug, Default)]
pub struct LevelOneStream {
    stream: Mutex<Stream>,
}

#[pymethods]
impl LevelOneStream {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// Both passes over the complete lines `data` ends, as [`levelone_read`] gives them.
    fn push<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyBytes>,
        labels: &LevelOneLabels,
        schemes: (String, String),
        strict: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let bytes = data.as_bytes();
        let asked = [schemes.0.as_str(), schemes.1.as_str()];
        let got = {
            let mut s = locked(&slf.get().stream)?;
            let s = &mut *s;
            py.detach(|| s.push_decoded(bytes, &labels.services, asked, strict))
        };
        batch_dict(py, got)
    }

    /// Complete lines pushed so far.
    #[getter]
    fn lines(&self) -> PyResult<u64> {
        Ok(locked(&self.stream)?.lines())
    }

    /// Bytes of complete lines pushed so far.
    #[getter]
    fn bytes(&self) -> PyResult<u64> {
        Ok(locked(&self.stream)?.bytes())
    }

    /// Successful LOGINs in the lines pushed so far.
    #[getter]
    fn logins(&self) -> PyResult<u64> {
        Ok(locked(&self.stream)?.logins())
    }

    /// The connection epoch the next line starts in.
    #[getter]
    fn epoch(&self) -> PyResult<i64> {
        Ok(locked(&self.stream)?.epoch())
    }

    /// Bytes of a last line still waiting for its end.
    #[getter]
    fn held_back(&self) -> PyResult<usize> {
        Ok(locked(&self.stream)?.held_back())
    }
}

/// The stream's decoder; an error (not a wait, which could hold the GIL against the thread
/// that has it) when another thread is using it.
fn locked(m: &Mutex<Stream>) -> PyResult<std::sync::MutexGuard<'_, Stream>> {
    m.try_lock().map_err(|e| match e {
        std::sync::TryLockError::WouldBlock => {
            PyRuntimeError::new_err("a LevelOneStream is used from two threads at once")
        }
        std::sync::TryLockError::Poisoned(_) => {
            PyRuntimeError::new_err("a LevelOneStream failed in an earlier call")
        }
    })
}

/// What a reading gives, as a dict: `lines`, `held_back`, `heartbeats`, `journal_other`,
/// `gap_notes` [(line, json)],
/// `bad` [(line, offset, reason, detail)], `notes` [(line, offset, item)], `control`
/// [(line, notify, json)], `skipped` [json], `book` (the book services' rows, see
/// [`book_dict`]; None without book items), and per service name a dict with `names`,
/// `first_ts`, `scheme` and `decoded` (None without items, or when a strict reading met bad
/// lines): `deltas` and `state` (Arrow batches), `bad_keys` [(line, pair or None)], `notes`
/// [(line, pair, kind)], `extra` [(row, pair)], `conflicts`, `trades` (a batch of `row,
/// shares, aggressor, conflated`, or None) and, when one of those names a pair, `pairs` (the
/// service's (key, value) pairs: `row, name, tag, int, float, text`). Labels that fit both
/// schwab-py schemes give only `ambiguous`: (service, the first labels).
fn batch_dict<'py>(
    py: Python<'py>,
    got: Result<Batch, decoder::Error>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    let mut b = match got {
        Ok(b) => b,
        Err(decoder::Error::Ambiguous { service, labels }) => {
            out.set_item("ambiguous", (service, labels))?;
            return Ok(out);
        }
        Err(decoder::Error::UnknownScheme(s)) => {
            return Err(PyValueError::new_err(format!("unknown label scheme {s:?}")));
        }
        Err(decoder::Error::Decode(e)) => return Err(PyRuntimeError::new_err(e.to_string())),
    };
    let book = std::mem::take(&mut b.pass.book);
    let p = &b.pass;
    out.set_item("lines", p.lines)?;
    out.set_item("held_back", p.held_back)?;
    out.set_item("heartbeats", p.heartbeats)?;
    out.set_item("journal_other", p.journal_other)?;
    out.set_item("gap_notes", p.gap_notes.clone())?;
    let bad = PyList::empty(py);
    for b in &p.bad {
        let (reason, detail) = match &b.reason {
            BadReason::NotJson(e) => ("not_json", e.clone()),
            BadReason::NotObject => ("not_object", String::new()),
            BadReason::ItemNotObject => ("item_not_object", String::new()),
            BadReason::NoContentList(s) => ("no_content_list", s.clone()),
            BadReason::ResponseNotObject => ("response_not_object", String::new()),
            BadReason::DataNotList => ("data_not_list", String::new()),
            BadReason::NotList("notify") => ("notify_not_list", String::new()),
            BadReason::NotList(_) => ("response_not_list", String::new()),
            BadReason::TimestampOutOfRange => ("timestamp_out_of_range", String::new()),
            BadReason::TooManyItems => ("too_many_items", String::new()),
            BadReason::NoneOfDataResponseNotify => ("no_frame_part", String::new()),
            BadReason::JournalRawNotJson(e) => ("journal_raw_not_json", e.clone()),
            BadReason::JournalRawNotObject => ("journal_raw_not_object", String::new()),
            BadReason::UnknownShape => ("unknown_shape", String::new()),
        };
        bad.append((b.line, b.offset, reason, detail))?;
    }
    out.set_item("bad", bad)?;
    let notes = PyList::empty(py);
    for n in &p.notes {
        notes.append((n.line, n.offset, n.item))?;
    }
    out.set_item("notes", notes)?;
    let control = PyList::empty(py);
    for c in &p.control {
        control.append((c.line, c.notify, c.json.as_str()))?;
    }
    out.set_item("control", control)?;
    out.set_item("skipped", p.skipped.clone())?;
    let any_book = book.rows() > 0 || !book.bad.is_empty() || book.snapshots > 0;
    out.set_item("book", any_book.then(|| book_dict(py, book)).transpose()?)?;
    let mut services = b.services.map(|s| s.map(Some)).unwrap_or([None, None]);
    for (n, svc) in p.services().into_iter().enumerate() {
        let s = PyDict::new(py);
        s.set_item("names", svc.names.clone())?;
        s.set_item("first_ts", svc.first_ts)?;
        s.set_item("data_items", svc.data_items)?;
        let got = services[n].take();
        s.set_item("scheme", got.as_ref().map(|g| g.scheme))?;
        let decoded = match got.and_then(|g| g.decoded) {
            None => None,
            Some(d) => Some(decoded_dict(py, d, svc)?),
        };
        s.set_item("decoded", decoded)?;
        out.set_item(decoder::SERVICES[n], s)?;
    }
    Ok(out)
}

fn decoded_dict<'py>(py: Python<'py>, d: Decoded, svc: &Service) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    if !(d.bad_keys.is_empty() && d.notes.is_empty() && d.extra.is_empty()) {
        out.set_item("pairs", PyRecordBatch::new(levelone::arrow::pairs(svc)))?;
    }
    out.set_item("deltas", PyRecordBatch::new(d.deltas))?;
    out.set_item("state", PyRecordBatch::new(d.state))?;
    out.set_item("bad_keys", d.bad_keys)?;
    let notes: Vec<(u64, u32, &str)> = d
        .notes
        .iter()
        .map(|n| (n.line, n.pair, n.kind.name()))
        .collect();
    out.set_item("notes", notes)?;
    out.set_item("extra", d.extra)?;
    out.set_item("conflicts", d.conflicts)?;
    out.set_item("trades", d.trades.map(PyRecordBatch::new))?;
    Ok(out)
}
