//! The synthetic day generator, exported to Python (GIL released while it writes).

use std::path::PathBuf;

use ki2fast_core::itch::encode::Destination;
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::session;
use pyo3::prelude::*;

use crate::convert::to_py;

/// Writes a synthetic day to `path` and returns the truth record as JSON.
#[pyfunction]
#[pyo3(signature = (path, *, messages, symbols, seed, depth=25, date="2024-03-01", bursts=None, gzip_level=None))]
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
    gzip_level: Option<u32>,
) -> PyResult<String> {
    let date = session::parse_date(date).map_err(|e| to_py(e, None))?;
    let cfg = SynthConfig { messages, symbols, seed, depth, date, bursts };
    py.detach(|| {
        let out = Destination::create(&path, gzip_level)?;
        let (out, truth) = synth_day(&cfg, out)?;
        out.finish()?;
        Ok(truth.to_json())
    })
    .map_err(|e| to_py(e, Some(&path)))
}
