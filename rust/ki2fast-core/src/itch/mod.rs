//! NASDAQ TotalView-ITCH 5.0: the message catalogue and everything that walks, decodes or
//! writes it.

pub mod decode;
pub mod encode;
pub mod events;
pub mod framing;
pub mod spec;
pub mod summary;
pub mod symbols;
pub mod synth;
pub mod wire;
