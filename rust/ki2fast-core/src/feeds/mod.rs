//! Retail feed captures read in the core: Schwab level-one NDJSON.
//!
//! - [`json`] — a borrowed JSON reader with Python `dict` semantics, for one line
//! - [`levelone`] — pass 1 over a level-one capture: items flattened into columns

pub mod json;
pub mod levelone;
