//! NASDAQ TotalView-ITCH 5.0: the message catalogue and everything that walks, decodes or
//! writes it.

pub mod decode;
pub mod framing;
pub mod spec;
pub mod symbols;
pub mod wire;
pub mod encode;
pub mod synth;
pub mod events;
pub mod summary;
