//! Wire types of ITCH 5.0 fields: unsigned big-endian integers at arbitrary (often odd)
//! offsets, space-padded ASCII, and fixed-point prices. Each type knows how to load itself
//! from a message, store itself into one, and which Arrow column collects it.
//!
//! Loads copy bytes and swap; nothing is cast from a packed pointer. Callers hand in a slice
//! whose length was checked against the spec by the framing layer, so with constant offsets
//! the compiler proves every index in bounds and no check survives into the hot loop.

use std::fmt::Debug;

use crate::arrow::builders::{
    AlphaColumn, FieldColumn, NoColumn, Price4Column, Price8Column, PrimitiveColumn,
};

/// What a field is, independent of Rust types: drives the Arrow schema and the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// 2-byte unsigned integer.
    U16,
    /// 4-byte unsigned integer.
    U32,
    /// 8-byte unsigned integer.
    U64,
    /// One ASCII character (Alpha 1).
    Char,
    /// Space-padded ASCII of the given width.
    Alpha(usize),
    /// The 8-byte symbol; becomes the dictionary-encoded `stock` column.
    Stock,
    /// Price(4): u32 with 4 implied decimals.
    Price4,
    /// Price(8): u64 with 8 implied decimals.
    Price8,
}

impl FieldKind {
    /// Bytes on the wire.
    pub const fn width(self) -> usize {
        match self {
            FieldKind::U16 => 2,
            FieldKind::U32 | FieldKind::Price4 => 4,
            FieldKind::U64 | FieldKind::Price8 | FieldKind::Stock => 8,
            FieldKind::Char => 1,
            FieldKind::Alpha(n) => n,
        }
    }
}

/// One field of a message layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// snake_case spec name; also the Arrow column name.
    pub name: &'static str,
    /// Offset from the type byte.
    pub offset: usize,
    /// Wire type.
    pub kind: FieldKind,
}

/// A field's wire codec and its column.
pub trait Wire {
    /// Rust value of the field.
    type Value: Copy + PartialEq + Debug + Send + Sync + 'static;
    /// Column that collects the field in a decoded batch.
    type Column: FieldColumn<Self::Value>;
    /// Kind, for schemas.
    const KIND: FieldKind;
    /// Reads the field at `off`.
    fn load(m: &[u8], off: usize) -> Self::Value;
    /// Writes the field at `off`.
    fn store(v: Self::Value, out: &mut [u8], off: usize);
    /// The symbol bytes, for the one field kind that is a symbol.
    #[inline(always)]
    fn as_stock(_v: &Self::Value) -> Option<[u8; 8]> {
        None
    }
}

/// 2-byte big-endian unsigned integer.
#[derive(Debug)]
pub struct U16;
/// 4-byte big-endian unsigned integer.
#[derive(Debug)]
pub struct U32;
/// 8-byte big-endian unsigned integer.
#[derive(Debug)]
pub struct U64;
/// One ASCII character.
#[derive(Debug)]
pub struct Char;
/// Space-padded ASCII of width `N`.
#[derive(Debug)]
pub struct Alpha<const N: usize>;
/// The 8-byte symbol field.
#[derive(Debug)]
pub struct Stock;
/// Price(4).
#[derive(Debug)]
pub struct Price4;
/// Price(8).
#[derive(Debug)]
pub struct Price8;

#[inline(always)]
pub(crate) fn load_u16(m: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([m[off], m[off + 1]])
}

#[inline(always)]
pub(crate) fn load_u32(m: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([m[off], m[off + 1], m[off + 2], m[off + 3]])
}

/// `N` bytes at `off`, as an array. The slice has length `N` by construction, so the
/// conversion cannot fail and compiles to a plain load.
#[inline(always)]
pub(crate) fn load_array<const N: usize>(m: &[u8], off: usize) -> [u8; N] {
    <[u8; N]>::try_from(&m[off..off + N]).unwrap_or([0; N])
}

#[inline(always)]
pub(crate) fn load_u64(m: &[u8], off: usize) -> u64 {
    u64::from_be_bytes(load_array(m, off))
}

/// The 6-byte timestamp. Exactly six bytes are read: a wider load would run past a short
/// message that ends the buffer.
#[inline(always)]
pub(crate) fn load_u48(m: &[u8], off: usize) -> u64 {
    ((load_u16(m, off) as u64) << 32) | load_u32(m, off + 2) as u64
}

#[inline(always)]
pub(crate) fn store_u48(v: u64, out: &mut [u8], off: usize) {
    out[off..off + 6].copy_from_slice(&v.to_be_bytes()[2..]);
}

impl Wire for U16 {
    type Value = u16;
    type Column = PrimitiveColumn<u16>;
    const KIND: FieldKind = FieldKind::U16;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u16 {
        load_u16(m, off)
    }
    #[inline(always)]
    fn store(v: u16, out: &mut [u8], off: usize) {
        out[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }
}

impl Wire for U32 {
    type Value = u32;
    type Column = PrimitiveColumn<u32>;
    const KIND: FieldKind = FieldKind::U32;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u32 {
        load_u32(m, off)
    }
    #[inline(always)]
    fn store(v: u32, out: &mut [u8], off: usize) {
        out[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
}

impl Wire for U64 {
    type Value = u64;
    type Column = PrimitiveColumn<u64>;
    const KIND: FieldKind = FieldKind::U64;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u64 {
        load_u64(m, off)
    }
    #[inline(always)]
    fn store(v: u64, out: &mut [u8], off: usize) {
        out[off..off + 8].copy_from_slice(&v.to_be_bytes());
    }
}

impl Wire for Char {
    type Value = u8;
    type Column = AlphaColumn<1>;
    const KIND: FieldKind = FieldKind::Char;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u8 {
        m[off]
    }
    #[inline(always)]
    fn store(v: u8, out: &mut [u8], off: usize) {
        out[off] = v;
    }
}

impl<const N: usize> Wire for Alpha<N> {
    type Value = [u8; N];
    type Column = AlphaColumn<N>;
    const KIND: FieldKind = FieldKind::Alpha(N);
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> [u8; N] {
        load_array(m, off)
    }
    #[inline(always)]
    fn store(v: [u8; N], out: &mut [u8], off: usize) {
        out[off..off + N].copy_from_slice(&v);
    }
}

impl Wire for Stock {
    type Value = [u8; 8];
    type Column = NoColumn;
    const KIND: FieldKind = FieldKind::Stock;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> [u8; 8] {
        load_array(m, off)
    }
    #[inline(always)]
    fn store(v: [u8; 8], out: &mut [u8], off: usize) {
        out[off..off + 8].copy_from_slice(&v);
    }
    #[inline(always)]
    fn as_stock(v: &[u8; 8]) -> Option<[u8; 8]> {
        Some(*v)
    }
}

impl Wire for Price4 {
    type Value = u32;
    type Column = Price4Column;
    const KIND: FieldKind = FieldKind::Price4;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u32 {
        load_u32(m, off)
    }
    #[inline(always)]
    fn store(v: u32, out: &mut [u8], off: usize) {
        out[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }
}

impl Wire for Price8 {
    type Value = u64;
    type Column = Price8Column;
    const KIND: FieldKind = FieldKind::Price8;
    #[inline(always)]
    fn load(m: &[u8], off: usize) -> u64 {
        load_u64(m, off)
    }
    #[inline(always)]
    fn store(v: u64, out: &mut [u8], off: usize) {
        out[off..off + 8].copy_from_slice(&v.to_be_bytes());
    }
}

/// Pads (or cuts) text into a space-padded Alpha field.
pub fn alpha<const N: usize>(text: &str) -> [u8; N] {
    let mut a = [b' '; N];
    for (slot, b) in a.iter_mut().zip(text.bytes()) {
        *slot = b;
    }
    a
}
