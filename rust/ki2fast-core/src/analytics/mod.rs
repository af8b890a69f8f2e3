//! Analytics over prints and quotes: the trades table, the hourly VWAP report, time bars.

pub mod bars;
pub mod trades;
pub mod vwap;
