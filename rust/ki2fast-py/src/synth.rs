//! Writing ITCH from Python: the synthetic day generator and the Arrow → ITCH encoder (GIL
//! released while they work).

use std::io::Write;
use std::path::PathBuf;

use ki2fast_core::arrow::writer::write_tables;
use ki2fast_core::itch::encode::Destination;
use ki2fast_core::itch::spec::MessageKind;
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::session;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_arrow::PyTable;

use crate::convert::to_py;

/// Writes a synthetic day to `path` and returns the truth record as JSON.
#[pyfunction]
#[pyo3(signature = (path, *, messages, symbols, seed, depth=25, date="2024-03-01", bursts=None, program_bursts=0, gzip_level=None))]
#[allow(clippy::too_many_arguments)]
pub fn synth_itch(
    py: Python<'_>,
    path: PathBuf,
    messages: u64,
    symbols: usize,
    seed: u64,
    depth: usize,
    date: &str,
    bursts: Option<usize>,
    program_bursts: usize,
    gzip_level: Option<u32>,
) -> PyResult<String> {
    let date = session::parse_date(date).map_err(|e| to_py(e, None))?;
    let cfg = SynthConfig {
        messages,
        symbols,
        seed,
        depth,
        date,
        bursts,
        program_bursts,
    };
    py.detach(|| {
        let out = Destination::create(&path, gzip_level)?;
        let (out, truth) = synth_day(&cfg, out)?;
        out.finish()?;
        Ok(truth.to_json())
    })
    .map_err(|e| to_py(e, Some(&path)))
}

/// Encodes Arrow tables (message name, table) back to ITCH, merged by timestamp. Writes to
/// `path` (gzip at `gzip_level` when given) or, without a path, returns the bytes.
#[pyfunction]
#[pyo3(signature = (path, tables, *, gzip_level=None))]
pub fn write_itch<'py>(
    py: Python<'py>,
    path: Option<PathBuf>,
    tables: Vec<(String, PyTable)>,
    gzip_level: Option<u32>,
) -> PyResult<(u64, Option<Bound<'py, PyBytes>>)> {
    let mut typed = Vec::with_capacity(tables.len());
    for (name, table) in tables {
        let kind = MessageKind::parse(&name)
            .ok_or_else(|| PyValueError::new_err(format!("unknown ITCH message {name:?}")))?;
        typed.push((kind, table.into_inner().0));
    }
    let result = py.detach(|| -> ki2fast_core::Result<(u64, Option<Vec<u8>>)> {
        let mut out = match &path {
            Some(p) => Destination::create(p, gzip_level)?,
            None => Destination::Memory(Vec::new()),
        };
        let n = write_tables(&typed, |chunk| Ok(out.write_all(chunk)?))?;
        Ok((n, out.finish()?))
    });
    let (n, bytes) = result.map_err(|e| to_py(e, path.as_ref()))?;
    Ok((n, bytes.map(|b| PyBytes::new(py, &b))))
}
