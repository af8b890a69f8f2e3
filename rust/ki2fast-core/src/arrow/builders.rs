//! Column builders that the per-message column sets are made of. Each column is sized for a
//! whole batch up front and written by row index (one row counter per message type instead
//! of a length and capacity check per column), then turned into an Arrow array without
//! copying. Options that change the output type (integer or float prices, the zoned `ts`
//! column) are applied at finish time, column-wise.

use std::sync::Arc;

use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, PrimitiveArray, StringArray,
    TimestampNanosecondArray,
};
use arrow_buffer::{
    ArrowNativeType, BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer,
};

use crate::arrow::alloc::ColumnVec;
use crate::arrow::schema::{NEW_YORK, PriceRepr};

/// Options that shape finished arrays.
#[derive(Debug, Clone, Copy)]
pub struct FinishOptions {
    /// Integer ticks or float dollars.
    pub prices: PriceRepr,
    /// UTC nanoseconds of the session's local midnight; `Some` adds the `ts` column.
    pub midnight_utc_ns: Option<i64>,
}

/// A column of one field of a message type, allocated for a whole batch up front and written
/// by row index. Finished into an Arrow array (or nothing, for the symbol field, which
/// becomes the shared `stock` column).
pub trait FieldColumn<V>: Send + std::fmt::Debug {
    /// A column with room for `rows` rows.
    fn with_capacity(rows: usize) -> Self;
    /// Writes row `row` (`row < rows` of `with_capacity`).
    fn set(&mut self, row: usize, v: V);
    /// Finishes the first `rows` rows into an array.
    fn finish(self, rows: usize, opts: &FinishOptions) -> Option<ArrayRef>;
}

/// Unsigned integers, as they are on the wire.
#[derive(Debug)]
pub struct PrimitiveColumn<T: ArrowNativeType>(ColumnVec<T>);

macro_rules! primitive_column {
    ($t:ty, $arrow:ty) => {
        impl FieldColumn<$t> for PrimitiveColumn<$t> {
            fn with_capacity(rows: usize) -> Self {
                PrimitiveColumn(ColumnVec::zeroed(rows))
            }
            #[inline(always)]
            fn set(&mut self, row: usize, v: $t) {
                self.0.set(row, v);
            }
            fn finish(self, rows: usize, _: &FinishOptions) -> Option<ArrayRef> {
                Some(Arc::new(PrimitiveArray::<$arrow>::new(
                    self.0.into_buffer(rows),
                    None,
                )))
            }
        }
    };
}
primitive_column!(u16, UInt16Type);
primitive_column!(u32, UInt32Type);
primitive_column!(u64, UInt64Type);

/// Price(4) ticks; integer or float at finish.
#[derive(Debug)]
pub struct Price4Column(ColumnVec<u32>);

impl FieldColumn<u32> for Price4Column {
    fn with_capacity(rows: usize) -> Self {
        Price4Column(ColumnVec::zeroed(rows))
    }
    #[inline(always)]
    fn set(&mut self, row: usize, v: u32) {
        self.0.set(row, v);
    }
    fn finish(self, rows: usize, opts: &FinishOptions) -> Option<ArrayRef> {
        Some(price4_array(self.0.into_buffer(rows), opts.prices))
    }
}

/// Price(8) raw units; integer or float at finish.
#[derive(Debug)]
pub struct Price8Column(ColumnVec<u64>);

impl FieldColumn<u64> for Price8Column {
    fn with_capacity(rows: usize) -> Self {
        Price8Column(ColumnVec::zeroed(rows))
    }
    #[inline(always)]
    fn set(&mut self, row: usize, v: u64) {
        self.0.set(row, v);
    }
    fn finish(self, rows: usize, opts: &FinishOptions) -> Option<ArrayRef> {
        Some(price8_array(self.0.into_buffer(rows), opts.prices))
    }
}

/// The symbol field collects nothing itself: every message type shares one `stock` column
/// built from interned keys.
#[derive(Debug)]
pub struct NoColumn;

impl FieldColumn<[u8; 8]> for NoColumn {
    fn with_capacity(_: usize) -> Self {
        NoColumn
    }
    #[inline(always)]
    fn set(&mut self, _: usize, _: [u8; 8]) {}
    fn finish(self, _: usize, _: &FinishOptions) -> Option<ArrayRef> {
        None
    }
}

/// A space-padded Alpha field of width `N` (`N = 1` for single-character codes), kept as raw
/// bytes while decoding and trimmed into utf8 column-wise at finish. A field of spaces
/// becomes the empty string.
#[derive(Debug)]
pub struct AlphaColumn<const N: usize>(ColumnVec<u8>);

impl<const N: usize> AlphaColumn<N> {
    fn finish_text(self, rows: usize) -> StringArray {
        let raw = &self.0.as_slice()[..rows * N];
        if N == 1 && !raw.contains(&b' ') {
            // The common case for codes: one character a row, offsets 0, 1, 2, ...
            let offsets = ColumnVec::collect(rows + 1, 0..=rows as i32);
            return text_array(self.0.into_buffer(rows).into_inner(), offsets);
        }
        let mut values = Vec::with_capacity(raw.len());
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0i32);
        for field in raw.chunks_exact(N) {
            values.extend_from_slice(trim_spaces(field));
            offsets.push(values.len() as i32);
        }
        text_array(Buffer::from_vec(values), ScalarBuffer::from(offsets))
    }

    /// Writes the raw bytes of row `row`.
    #[inline(always)]
    fn put(&mut self, row: usize, field: &[u8; N]) {
        self.0.as_mut_slice()[row * N..row * N + N].copy_from_slice(field);
    }
}

impl FieldColumn<u8> for AlphaColumn<1> {
    fn with_capacity(rows: usize) -> Self {
        AlphaColumn(ColumnVec::zeroed(rows))
    }
    #[inline(always)]
    fn set(&mut self, row: usize, c: u8) {
        self.0.set(row, c);
    }
    fn finish(self, rows: usize, _: &FinishOptions) -> Option<ArrayRef> {
        Some(Arc::new(self.finish_text(rows)))
    }
}

impl<const N: usize> FieldColumn<[u8; N]> for AlphaColumn<N> {
    fn with_capacity(rows: usize) -> Self {
        AlphaColumn(ColumnVec::zeroed(rows * N))
    }
    #[inline(always)]
    fn set(&mut self, row: usize, field: [u8; N]) {
        self.put(row, &field);
    }
    fn finish(self, rows: usize, _: &FinishOptions) -> Option<ArrayRef> {
        Some(Arc::new(self.finish_text(rows)))
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
pub(crate) fn text_array(values: Buffer, offsets: ScalarBuffer<i32>) -> StringArray {
    let (values, offsets) = if values.as_slice().is_ascii() {
        (values, offsets)
    } else {
        let (v, o) = latin1_to_utf8(values.as_slice(), &offsets);
        (Buffer::from_vec(v), ScalarBuffer::from(o))
    };
    let offsets = OffsetBuffer::new(offsets);
    // SAFETY: the values are ASCII, or were transcoded to UTF-8 above, and every offset is a
    // running length over them (non-decreasing, within bounds, on character boundaries).
    unsafe { StringArray::new_unchecked(offsets, values, None) }
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

/// `array` with `nulls` as its validity.
pub(crate) fn with_nulls(array: ArrayRef, nulls: Option<NullBuffer>) -> ArrayRef {
    if let Some(n) = &nulls {
        assert_eq!(n.len(), array.len(), "a null buffer has its array's length");
    }
    let data = array.to_data().into_builder().nulls(nulls);
    // SAFETY: `array` is a valid array and the null buffer has its length; nulls only hide
    // slots, so every buffer stays valid for the type (no re-validation of the values).
    arrow_array::make_array(unsafe { data.build_unchecked() })
}

/// Bits `f(0) .. f(len - 1)`, packed eight at a time (the per-bit builders of arrow-buffer
/// cost several times more on million-row columns).
pub(crate) fn bits(len: usize, f: impl Fn(usize) -> bool) -> BooleanBuffer {
    let mut bytes = vec![0u8; len.div_ceil(8)];
    for (k, byte) in bytes.iter_mut().enumerate() {
        let base = k * 8;
        *byte = (0..(len - base).min(8)).fold(0u8, |acc, i| acc | (u8::from(f(base + i)) << i));
    }
    BooleanBuffer::new(Buffer::from_vec(bytes), 0, len)
}

/// A Price(4) column: raw ticks (1/10 000 $) or float64 dollars at finish.
pub(crate) fn price4_array(ticks: ScalarBuffer<u32>, repr: PriceRepr) -> ArrayRef {
    match repr {
        PriceRepr::Int => Arc::new(PrimitiveArray::<UInt32Type>::new(ticks, None)),
        PriceRepr::Float => {
            let dollars =
                ColumnVec::collect(ticks.len(), ticks.iter().map(|&t| t as f64 / 10_000.0));
            Arc::new(Float64Array::new(dollars, None))
        }
    }
}

/// A Price(8) column: raw 1e-8 units or float64 dollars at finish.
pub(crate) fn price8_array(raw: ScalarBuffer<u64>, repr: PriceRepr) -> ArrayRef {
    match repr {
        PriceRepr::Int => Arc::new(PrimitiveArray::<UInt64Type>::new(raw, None)),
        PriceRepr::Float => {
            let dollars =
                ColumnVec::collect(raw.len(), raw.iter().map(|&t| t as f64 / 100_000_000.0));
            Arc::new(Float64Array::new(dollars, None))
        }
    }
}

/// The raw `timestamp` column (ns since midnight) and, with a session date, the zoned `ts`.
pub(crate) fn timestamp_arrays(
    ns: ScalarBuffer<i64>,
    midnight_utc_ns: Option<i64>,
) -> Vec<ArrayRef> {
    let ts = midnight_utc_ns.map(|m| -> ArrayRef {
        let utc = ColumnVec::collect(ns.len(), ns.iter().map(|&t| t + m));
        Arc::new(TimestampNanosecondArray::new(utc, None).with_timezone(NEW_YORK))
    });
    let mut out: Vec<ArrayRef> = vec![Arc::new(Int64Array::new(ns, None))];
    out.extend(ts);
    out
}

/// Key that marks a row whose symbol is unknown.
pub const NO_SYMBOL: u16 = u16::MAX;

/// The dictionary-encoded `stock` column: keys into the reader's symbol list, `NO_SYMBOL`
/// becoming null.
pub(crate) fn stock_array(keys: ScalarBuffer<u16>, dictionary: &ArrayRef) -> ArrayRef {
    let keys = if keys.contains(&NO_SYMBOL) {
        let nulls = NullBuffer::new(bits(keys.len(), |i| keys[i] != NO_SYMBOL));
        let zeroed = ColumnVec::collect(
            keys.len(),
            keys.iter().map(|&k| if k == NO_SYMBOL { 0 } else { k }),
        );
        PrimitiveArray::<UInt16Type>::new(zeroed, Some(nulls))
    } else {
        PrimitiveArray::<UInt16Type>::new(keys, None)
    };
    Arc::new(
        DictionaryArray::<UInt16Type>::try_new(keys, dictionary.clone())
            .expect("every non-null key indexes the symbol list it was interned into"),
    )
}

/// The columns every message type starts with: the common header and the `stock` key.
/// Also holds the row counter of its message type's column set.
#[derive(Debug)]
pub struct HeaderColumns {
    rows: usize,
    stock_locate: ColumnVec<u16>,
    tracking_number: ColumnVec<u16>,
    timestamp: ColumnVec<i64>,
    stock: ColumnVec<u16>,
}

impl HeaderColumns {
    /// Columns with room for `rows` rows.
    pub fn with_capacity(rows: usize) -> HeaderColumns {
        HeaderColumns {
            rows: 0,
            stock_locate: ColumnVec::zeroed(rows),
            tracking_number: ColumnVec::zeroed(rows),
            timestamp: ColumnVec::zeroed(rows),
            stock: ColumnVec::zeroed(rows),
        }
    }

    /// Writes the next row's header and returns its index.
    #[inline(always)]
    pub fn push(&mut self, locate: u16, tracking: u16, timestamp: u64, stock_key: u16) -> usize {
        let row = self.rows;
        self.stock_locate.set(row, locate);
        self.tracking_number.set(row, tracking);
        // 48-bit on the wire: always fits.
        self.timestamp.set(row, timestamp as i64);
        self.stock.set(row, stock_key);
        self.rows = row + 1;
        row
    }

    /// Rows written.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no row was written.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Rows that fit.
    pub fn capacity(&self) -> usize {
        self.stock_locate.capacity()
    }

    /// `stock_locate, tracking_number, timestamp[, ts], stock`.
    pub fn finish(self, opts: &FinishOptions, symbols: &ArrayRef) -> Vec<ArrayRef> {
        let rows = self.rows;
        let mut out: Vec<ArrayRef> = vec![
            Arc::new(PrimitiveArray::<UInt16Type>::new(
                self.stock_locate.into_buffer(rows),
                None,
            )),
            Arc::new(PrimitiveArray::<UInt16Type>::new(
                self.tracking_number.into_buffer(rows),
                None,
            )),
        ];
        out.extend(timestamp_arrays(
            self.timestamp.into_buffer(rows),
            opts.midnight_utc_ns,
        ));
        out.push(stock_array(self.stock.into_buffer(rows), symbols));
        out
    }
}
