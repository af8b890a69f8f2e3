//! ki2fast-core: NASDAQ TotalView-ITCH 5.0 bytes to Apache Arrow, without Python.
//!
//! Bytes in (`&[u8]`, a memory-mapped file or a gzip stream), `RecordBatch`es out. The Python
//! binding (`ki2fast-py`) is a thin layer over this crate; everything here is tested with plain
//! `cargo test`.
//!
//! - [`source`] — inputs (mmap, shared buffers, multi-member gzip on a background thread)
//! - [`itch`] — the message catalogue, framing, decoding, order events, encoding, synthetic days
//! - [`arrow`] — schemas, column builders, lazy readers, the Arrow → ITCH writer
//! - [`book`] — full-depth order books for every instrument
//! - [`analytics`] — trades, the hourly VWAP report, time bars
//! - [`feeds`] — retail feed captures: pass 1 of the Schwab level-one NDJSON reader
//! - [`replay`] — the fused one-pass replay of a day
//! - [`mem`] — cache prefetches and transparent huge pages for the hot loops
//! - [`session`] — session dates and the New York midnight behind the `ts` columns

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod analytics;
pub mod arrow;
pub mod book;
pub mod error;
pub mod feeds;
pub mod itch;
pub mod mem;
mod par;
pub mod replay;
pub mod session;
pub mod source;

pub use error::{Error, Result};
