//! Feed captures: pass 1 of the Schwab level-one reader (GIL released while it reads).

use ki2fast_core::feeds::levelone::{self, BadReason, Pass};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3_arrow::PyRecordBatch;

/// Pass 1 over a decompressed capture: a dict with `lines`, `held_back`, `heartbeats`,
/// `python_only`, `bad` [(line, offset, reason, detail)], `notes` [(line, offset, item)],
/// `control` [(line, notify, json)], `skipped` [json], and per service name a dict with
/// `names`, `first_ts`, `data_items`, `items` and `pairs` (Arrow batches).
#[pyfunction]
pub fn levelone_pass1<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, PyDict>> {
    let bytes = data.as_bytes();
    let p: Pass = py.detach(|| levelone::read(bytes));
    let out = PyDict::new(py);
    out.set_item("lines", p.lines)?;
    out.set_item("held_back", p.held_back)?;
    out.set_item("heartbeats", p.heartbeats)?;
    out.set_item("python_only", p.python_only.clone())?;
    let bad = PyList::empty(py);
    for b in &p.bad {
        let (reason, detail) = match &b.reason {
            BadReason::NotJson(e) => ("not_json", e.clone()),
            BadReason::NotObject => ("not_object", String::new()),
            BadReason::ItemNotObject => ("item_not_object", String::new()),
            BadReason::NoContentList(s) => ("no_content_list", s.clone()),
            BadReason::ResponseNotObject => ("response_not_object", String::new()),
            BadReason::DataNotList => ("data_not_list", String::new()),
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
        s.set_item("items", PyRecordBatch::new(levelone::arrow::items(svc)))?;
        s.set_item("pairs", PyRecordBatch::new(levelone::arrow::pairs(svc)))?;
        out.set_item(name, s)?;
    }
    Ok(out)
}
