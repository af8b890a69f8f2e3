//! Schwab streamer level-one and book captures: pass 1 over the lines, the label schemes,
//! pass 2 into typed columns, and both over a capture that grows.
//!
//! - [`levelone`] — pass 1 over a level-one capture: items flattened into columns
//! - [`book`] — the book services, read in pass 1: a row per level and market maker
//! - [`fill`] — pass 2: one service's items into typed columns, as sent and forward-filled
//! - [`stream`] — both passes over a capture that grows, batch by batch, state carried
//! - [`labels`] — the label schemes: which one a capture follows, each key's field id
//! - [`decoder`] — pass 1, the schemes and pass 2 in one call, whole or per batch

pub mod book;
pub mod decoder;
pub mod fill;
pub mod labels;
pub mod levelone;
pub mod stream;
