//! Feed captures: the Schwab level-one reader's two passes (GIL released while they run).

use ki2fast_core::feeds::fill::{self, FieldSpec, Kind};
use std::sync::Mutex;

use ki2fast_core::feeds::levelone::{self, BadReason, Pass, Service};
use ki2fast_core::feeds::stream::Stream;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::PyRecordBatch;

/// What pass 1 read, kept for pass 2 ([`LevelOnePass::decode`]); its items and pairs as
/// Arrow ([`LevelOnePass::batches`]) show the values pass 2 reports.
#[pyclass(frozen, module = "ki2fast._core")]
#[derive(Debug)]
pub struct LevelOnePass {
    pass: Pass,
    /// The stream this pass continues, whose carried state [`LevelOnePass::decode`] uses.
    stream: Option<Py<LevelOneStream>>,
}

impl LevelOnePass {
    fn service(&self, name: &str) -> PyResult<&Service> {
        match name {
            levelone::EQUITIES => Ok(&self.pass.equities),
            levelone::OPTIONS => Ok(&self.pass.options),
            _ => Err(PyValueError::new_err(format!(
                "no level-one service {name:?}"
            ))),
        }
    }
}

#[pymethods]
impl LevelOnePass {
    /// A service's items (`line, item_idx, epoch, ts`) and (key, value) pairs (`row, name,
    /// tag, int, float, text`) as Arrow batches.
    fn batches(&self, service: &str) -> PyResult<(PyRecordBatch, PyRecordBatch)> {
        let svc = self.service(service)?;
        Ok((
            PyRecordBatch::new(levelone::arrow::items(svc)),
            PyRecordBatch::new(levelone::arrow::pairs(svc)),
        ))
    }

    /// Pass 2 of a service: a dict with `deltas` and `state` (Arrow batches), `bad_keys`
    /// [(line, pair or None)], `notes` [(line, pair, kind)], `extra` [(row, pair)],
    /// `conflicts` and `trades` (a batch of `row, shares, aggressor, conflated`, or None).
    /// RuntimeError only for a broken invariant of the decoder (a bug).
    fn decode<'py>(
        &self,
        py: Python<'py>,
        service: &str,
        fids: Vec<i32>,
        fields: Vec<(i32, String, String)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let svc = self.service(service)?;
        let specs = fields
            .into_iter()
            .map(|(id, name, kind)| {
                let kind = Kind::parse(&kind)
                    .ok_or_else(|| PyValueError::new_err(format!("unknown kind {kind:?}")))?;
                Ok(FieldSpec { id, name, kind })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let options = service == levelone::OPTIONS;
        let got = match &self.stream {
            None => py.detach(|| fill::decode(svc, &fids, &specs, options)),
            Some(stream) => {
                let mut s = locked(&stream.get().stream)?;
                let s = &mut *s;
                let pass = &self.pass;
                py.detach(|| s.decode(pass, service, &fids, &specs))
            }
        };
        let d = got.map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let out = PyDict::new(py);
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
        Ok(out.into_any())
    }
}

/// Pass 1 over a decompressed capture: a dict with `lines`, `held_back`, `heartbeats`,
/// `journal_other`, `bad` [(line, offset, reason, detail)], `notes` [(line, offset, item)],
/// `control` [(line, notify, json)], `skipped` [json], per service name a dict with
/// `names`, `first_ts` and `data_items`, and `pass` (a [`LevelOnePass`]).
#[pyfunction]
pub fn levelone_pass1<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyDict>> {
    let bytes = data.as_bytes();
    let p: Pass = py.detach(|| levelone::read(bytes));
    pass_dict(py, p, None)
}

/// Both passes over a capture that grows (a streamer journal day), a batch of bytes at a
/// time: `push(data)` gives what `levelone_pass1` gives for the complete lines so far
/// (line numbers, byte offsets and connection epochs the capture's; a torn last line held
/// back until its end comes), and its pass's `decode` starts each symbol from the state the
/// lines before left.
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

    fn push<'py>(
        slf: &Bound<'py, Self>,
        data: &Bound<'py, PyBytes>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let py = slf.py();
        let bytes = data.as_bytes();
        let p = {
            let mut s = locked(&slf.get().stream)?;
            let s = &mut *s;
            py.detach(|| s.push(bytes))
        };
        pass_dict(py, p, Some(slf.clone().unbind()))
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

fn pass_dict<'py>(
    py: Python<'py>,
    p: Pass,
    stream: Option<Py<LevelOneStream>>,
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("lines", p.lines)?;
    out.set_item("held_back", p.held_back)?;
    out.set_item("heartbeats", p.heartbeats)?;
    out.set_item("journal_other", p.journal_other)?;
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
    for (name, svc) in [
        (levelone::EQUITIES, &p.equities),
        (levelone::OPTIONS, &p.options),
    ] {
        let s = PyDict::new(py);
        s.set_item("names", svc.names.clone())?;
        s.set_item("first_ts", svc.first_ts)?;
        s.set_item("data_items", svc.data_items)?;
        out.set_item(name, s)?;
    }
    out.set_item("pass", LevelOnePass { pass: p, stream })?;
    Ok(out)
}
