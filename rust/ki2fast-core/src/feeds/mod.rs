//! Retail feed captures read in the core, by venue, and the JSON reader they share.
//!
//! - [`json`] — a borrowed JSON reader with Python `dict` semantics, for one line
//! - [`schwab`] — Schwab level-one and book captures (NDJSON), whole or growing
//! - [`hftalert`] — Burst Monitor lines: per-line byte counts, and hft1 fields typed

pub mod hftalert;
pub mod json;
pub mod schwab;
