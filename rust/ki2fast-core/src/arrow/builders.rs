//! Column builders that the per-message column sets are made of. Each one is a plain `Vec`
//! pushed once per row (no allocation beyond amortised growth, no per-row branching on
//! options) and turned into an Arrow array without copying when the batch is finished.
//! Options that change the output type (integer or float prices, the zoned `ts` column) are
//! applied at finish time, column-wise.

use std::sync::Arc;

use arrow_array::types::UInt16Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, PrimitiveArray, StringArray,
    TimestampNanosecondArray,
};
use arrow_buffer::{ArrowNativeType, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

use crate::arrow::schema::{NEW_YORK, PriceRepr};

/// Options that shape finished arrays.
#[derive(Debug, Clone, Copy)]
pub struct FinishOptions {
    /// Integer ticks or float dollars.
    pub prices: PriceRepr,
    /// UTC nanoseconds of the session's local midnight; `Some` adds the `ts` column.
    pub midnight_utc_ns: Option<i64>,
}

/// Moves a `Vec` into an Arrow buffer without copying.
pub(crate) fn primitive<T: ArrowNativeType>(values: Vec<T>) -> ScalarBuffer<T> {
    ScalarBuffer::from(values)
}

/// A column of one field of a message type. Pushed once per decoded row; finished into an
/// Arrow array (or nothing, for the symbol field, which becomes the shared `stock` column).
pub trait FieldColumn<V>: Default + Send + std::fmt::Debug {
    /// Appends one row.
    fn push(&mut self, v: V);
    /// Reserves room for `n` more rows.
    fn reserve(&mut self, n: usize);
    /// Finishes into an array.
    fn finish(self, opts: &FinishOptions) -> Option<ArrayRef>;
}

/// Unsigned integers, as they are on the wire.
#[derive(Debug, Default)]
pub struct PrimitiveColumn<T>(Vec<T>);

macro_rules! primitive_column {
    ($t:ty, $arrow:ty) => {
        impl FieldColumn<$t> for PrimitiveColumn<$t> {
            #[inline(always)]
            fn push(&mut self, v: $t) {
                self.0.push(v);
            }
            fn reserve(&mut self, n: usize) {
                self.0.reserve(n);
            }
            fn finish(self, _: &FinishOptions) -> Option<ArrayRef> {
                Some(Arc::new(PrimitiveArray::<$arrow>::new(primitive(self.0), None)))
            }
        }
    };
}
primitive_column!(u16, arrow_array::types::UInt16Type);
primitive_column!(u32, arrow_array::types::UInt32Type);
primitive_column!(u64, arrow_array::types::UInt64Type);

/// Price(4) ticks; integer or float at finish.
#[derive(Debug, Default)]
pub struct Price4Column(Vec<u32>);

impl FieldColumn<u32> for Price4Column {
    #[inline(always)]
    fn push(&mut self, v: u32) {
        self.0.push(v);
    }
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    fn finish(self, opts: &FinishOptions) -> Option<ArrayRef> {
        Some(price4_array(self.0, opts.prices))
    }
}

/// Price(8) raw units; integer or float at finish.
#[derive(Debug, Default)]
pub struct Price8Column(Vec<u64>);

impl FieldColumn<u64> for Price8Column {
    #[inline(always)]
    fn push(&mut self, v: u64) {
        self.0.push(v);
    }
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n);
    }
    fn finish(self, opts: &FinishOptions) -> Option<ArrayRef> {
        Some(price8_array(self.0, opts.prices))
    }
}

/// The symbol field collects nothing itself: every message type shares one `stock` column
/// built from interned keys.
#[derive(Debug, Default)]
pub struct NoColumn;

impl FieldColumn<[u8; 8]> for NoColumn {
    #[inline(always)]
    fn push(&mut self, _: [u8; 8]) {}
    fn reserve(&mut self, _: usize) {}
    fn finish(self, _: &FinishOptions) -> Option<ArrayRef> {
        None
    }
}

/// One column of a single ASCII character per row (Alpha(1) fields). A space becomes the
/// empty string, as trailing spaces are trimmed everywhere.
#[derive(Debug, Default)]
pub struct CharColumn {
    values: Vec<u8>,
    offsets: Vec<i32>,
}

impl FieldColumn<u8> for CharColumn {
    #[inline(always)]
    fn push(&mut self, c: u8) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        if c != b' ' {
            self.values.push(c);
        }
        self.offsets.push(self.values.len() as i32);
    }
    fn reserve(&mut self, n: usize) {
        self.values.reserve(n);
        self.offsets.reserve(n + 1);
    }
    fn finish(self, _: &FinishOptions) -> Option<ArrayRef> {
        Some(Arc::new(text_array(self.values, self.offsets)))
    }
}

/// One column of a short space-padded Alpha field (MPID, reason, sub-type), trimmed.
#[derive(Debug, Default)]
pub struct AlphaColumn {
    values: Vec<u8>,
    offsets: Vec<i32>,
}

impl<const N: usize> FieldColumn<[u8; N]> for AlphaColumn {
    #[inline(always)]
    fn push(&mut self, field: [u8; N]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.values.extend_from_slice(trim_spaces(&field));
        self.offsets.push(self.values.len() as i32);
    }
    fn reserve(&mut self, n: usize) {
        self.values.reserve(n * N);
        self.offsets.reserve(n + 1);
    }
    fn finish(self, _: &FinishOptions) -> Option<ArrayRef> {
        Some(Arc::new(text_array(self.values, self.offsets)))
    }
}

/// Trailing spaces removed; leading spaces are data and stay.
#[inline(always)]
pub fn trim_spaces(field: &[u8]) -> &[u8] {
    let mut end = field.len();
    while end > 0 && field[end - 1] == b' ' {
        end -= 1;
    }
    &field[..end]
}

/// Decodes an Alpha field to text: ASCII as is, any other byte as its Latin-1 code point, so
/// the mapping is lossless and matches `bytes.decode("latin-1")`.
pub fn alpha_to_string(field: &[u8]) -> String {
    trim_spaces(field).iter().map(|&b| b as char).collect()
}

/// Builds a utf8 array from byte values and offsets. ITCH Alpha is ASCII; a stray non-ASCII
/// byte is transcoded from Latin-1 rather than rejected or replaced (lossless).
pub(crate) fn text_array(values: Vec<u8>, mut offsets: Vec<i32>) -> StringArray {
    if offsets.is_empty() {
        offsets.push(0);
    }
    let (values, offsets) = if values.is_ascii() {
        (values, offsets)
    } else {
        latin1_to_utf8(&values, &offsets)
    };
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    // ASCII, or transcoded to UTF-8 above: valid by construction, and offsets only grow.
    StringArray::try_new(offsets, Buffer::from_vec(values), None)
        .expect("ASCII or transcoded Latin-1 is valid UTF-8 with monotonic offsets")
}

fn latin1_to_utf8(values: &[u8], offsets: &[i32]) -> (Vec<u8>, Vec<i32>) {
    let mut out = Vec::with_capacity(values.len() + values.len() / 4);
    let mut out_offsets = Vec::with_capacity(offsets.len());
    out_offsets.push(0);
    for w in offsets.windows(2) {
        let (a, b) = (w[0] as usize, w[1] as usize);
        for &byte in &values[a..b] {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice((byte as char).encode_utf8(&mut utf8).as_bytes());
        }
        out_offsets.push(out.len() as i32);
    }
    (out, out_offsets)
}

/// A Price(4) column: raw ticks (1/10 000 $) or float64 dollars at finish.
pub(crate) fn price4_array(ticks: Vec<u32>, repr: PriceRepr) -> ArrayRef {
    match repr {
        PriceRepr::Int => Arc::new(PrimitiveArray::<arrow_array::types::UInt32Type>::new(
            primitive(ticks),
            None,
        )),
        PriceRepr::Float => Arc::new(Float64Array::from_iter_values(
            ticks.into_iter().map(|t| t as f64 / 10_000.0),
        )),
    }
}

/// A Price(8) column: raw 1e-8 units or float64 dollars at finish.
pub(crate) fn price8_array(raw: Vec<u64>, repr: PriceRepr) -> ArrayRef {
    match repr {
        PriceRepr::Int => Arc::new(PrimitiveArray::<arrow_array::types::UInt64Type>::new(
            primitive(raw),
            None,
        )),
        PriceRepr::Float => Arc::new(Float64Array::from_iter_values(
            raw.into_iter().map(|t| t as f64 / 100_000_000.0),
        )),
    }
}

/// The raw `timestamp` column (ns since midnight) and, with a session date, the zoned `ts`.
pub(crate) fn timestamp_arrays(ns: Vec<i64>, midnight_utc_ns: Option<i64>) -> Vec<ArrayRef> {
    let ts = midnight_utc_ns.map(|m| -> ArrayRef {
        let utc: Vec<i64> = ns.iter().map(|&t| t + m).collect();
        Arc::new(TimestampNanosecondArray::new(primitive(utc), None).with_timezone(NEW_YORK))
    });
    let mut out: Vec<ArrayRef> = vec![Arc::new(Int64Array::new(primitive(ns), None))];
    out.extend(ts);
    out
}

/// Key that marks a row whose symbol is unknown.
pub const NO_SYMBOL: u16 = u16::MAX;

/// The dictionary-encoded `stock` column: keys into the reader's symbol list, `NO_SYMBOL`
/// becoming null.
pub(crate) fn stock_array(keys: Vec<u16>, dictionary: &ArrayRef) -> ArrayRef {
    let keys = if keys.contains(&NO_SYMBOL) {
        let nulls = NullBuffer::from_iter(keys.iter().map(|&k| k != NO_SYMBOL));
        let zeroed: Vec<u16> = keys.into_iter().map(|k| if k == NO_SYMBOL { 0 } else { k }).collect();
        PrimitiveArray::<UInt16Type>::new(primitive(zeroed), Some(nulls))
    } else {
        PrimitiveArray::<UInt16Type>::new(primitive(keys), None)
    };
    Arc::new(
        DictionaryArray::<UInt16Type>::try_new(keys, dictionary.clone())
            .expect("every non-null key indexes the symbol list it was interned into"),
    )
}

/// The columns every message type starts with: the common header and the `stock` key.
#[derive(Debug, Default)]
pub struct HeaderColumns {
    stock_locate: Vec<u16>,
    tracking_number: Vec<u16>,
    timestamp: Vec<i64>,
    stock: Vec<u16>,
}

impl HeaderColumns {
    /// Appends one row.
    #[inline(always)]
    pub fn push(&mut self, locate: u16, tracking: u16, timestamp: u64, stock_key: u16) {
        self.stock_locate.push(locate);
        self.tracking_number.push(tracking);
        // 48-bit on the wire: always fits.
        self.timestamp.push(timestamp as i64);
        self.stock.push(stock_key);
    }

    /// Rows collected.
    pub fn len(&self) -> usize {
        self.stock_locate.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.stock_locate.is_empty()
    }

    /// Reserves room for `n` more rows.
    pub fn reserve(&mut self, n: usize) {
        self.stock_locate.reserve(n);
        self.tracking_number.reserve(n);
        self.timestamp.reserve(n);
        self.stock.reserve(n);
    }

    /// `stock_locate, tracking_number, timestamp[, ts], stock`.
    pub fn finish(self, opts: &FinishOptions, symbols: &ArrayRef) -> Vec<ArrayRef> {
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(PrimitiveArray::<UInt16Type>::new(primitive(self.stock_locate), None)),
            Arc::new(PrimitiveArray::<UInt16Type>::new(primitive(self.tracking_number), None)),
        ];
        out.extend(timestamp_arrays(self.timestamp, opts.midnight_utc_ns));
        out.push(stock_array(self.stock, symbols));
        out
    }
}
