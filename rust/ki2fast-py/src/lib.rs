//! `ki2fast._core`: the PyO3 binding of `ki2fast-core`. Converts arguments, releases the GIL
//! for all work proportional to input size, and hands Arrow data to Python through the
//! PyCapsule interface. No pyarrow or polars import happens here.

mod convert;
mod hftalert;
mod itch;
mod monitor;
mod replay;
mod schwab;
mod synth;

use ki2fast_core::itch::spec::MessageKind;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let types = PyDict::new(py);
    for kind in MessageKind::ALL {
        types.set_item((kind.code() as char).to_string(), kind.name())?;
    }
    m.add("MESSAGE_TYPES", types)?;
    let lengths = PyDict::new(py);
    for kind in MessageKind::ALL {
        lengths.set_item(kind.name(), kind.len())?;
    }
    m.add("MESSAGE_LENGTHS", lengths)?;
    m.add(
        "MAX_PRINT_SHARES",
        ki2fast_core::analytics::trades::MAX_PRINT_SHARES,
    )?;
    m.add(
        "ACTIVITY_COUNT_COLUMNS",
        ki2fast_core::analytics::activity::COUNT_COLUMNS.to_vec(),
    )?;
    m.add_class::<itch::ItchBatches>()?;
    m.add_class::<itch::OrderEvents>()?;
    m.add_class::<itch::SummaryScan>()?;
    m.add_class::<replay::ReplayRun>()?;
    m.add_class::<replay::OrderBook>()?;
    m.add_class::<schwab::LevelOneLabels>()?;
    m.add_class::<schwab::LevelOneStream>()?;
    m.add_class::<monitor::EventMonitor>()?;
    m.add_function(wrap_pyfunction!(monitor::median_mad_by_group, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::rolling_baseline, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::activity_merge, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::level_one_changes, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::feed_bars, m)?)?;
    m.add_function(wrap_pyfunction!(itch::read_itch, m)?)?;
    m.add_function(wrap_pyfunction!(itch::read_order_events, m)?)?;
    m.add_function(wrap_pyfunction!(itch::count_itch, m)?)?;
    m.add_function(wrap_pyfunction!(itch::itch_schema, m)?)?;
    m.add_function(wrap_pyfunction!(itch::order_events_schema, m)?)?;
    m.add_function(wrap_pyfunction!(itch::session_date_from_name, m)?)?;
    m.add_function(wrap_pyfunction!(itch::session_midnight_ns, m)?)?;
    m.add_function(wrap_pyfunction!(itch::inflate_len, m)?)?;
    m.add_function(wrap_pyfunction!(schwab::levelone_read, m)?)?;
    m.add_function(wrap_pyfunction!(schwab::book_read, m)?)?;
    m.add_function(wrap_pyfunction!(hftalert::line_stats, m)?)?;
    m.add_function(wrap_pyfunction!(hftalert::hft1_fields, m)?)?;
    m.add_function(wrap_pyfunction!(synth::synth_itch, m)?)?;
    m.add_function(wrap_pyfunction!(synth::write_itch, m)?)?;
    Ok(())
}
