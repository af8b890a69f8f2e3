//! A small builder for the analytics tables (trades, quotes, bars, reports): columns are
//! named and typed where they are made, and the schema follows from them, so an empty table
//! has the same schema as a full one.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Float64Array, PrimitiveArray, RecordBatch,
    types::{ArrowPrimitiveType, UInt8Type, UInt16Type},
};
use arrow_buffer::{Buffer, NullBuffer, ScalarBuffer};
use arrow_schema::{Field, Schema};

use crate::arrow::builders::{
    NO_SYMBOL, bits, price4_array, text_array, timestamp_arrays, with_nulls,
};
use crate::arrow::schema::PriceRepr;

/// Columns of a table being assembled.
#[derive(Debug, Default)]
pub struct TableBuilder {
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
}

impl TableBuilder {
    /// No columns yet.
    pub fn new() -> TableBuilder {
        TableBuilder::default()
    }

    /// Adds a column; nullable when the array may hold nulls.
    pub fn column(&mut self, name: &str, array: ArrayRef, nullable: bool) -> &mut Self {
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable));
        self.arrays.push(array);
        self
    }

    /// Adds a column with field metadata.
    pub fn column_with(
        &mut self,
        name: &str,
        array: ArrayRef,
        nullable: bool,
        metadata: &[(&str, &str)],
    ) -> &mut Self {
        let md: HashMap<String, String> = metadata
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.fields
            .push(Field::new(name, array.data_type().clone(), nullable).with_metadata(md));
        self.arrays.push(array);
        self
    }

    /// A primitive column from a vector, without copying.
    pub fn values<T: ArrowPrimitiveType>(&mut self, name: &str, v: Vec<T::Native>) -> &mut Self {
        self.column(
            name,
            Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), None)),
            false,
        )
    }

    /// A primitive column with nulls where `nulls` says.
    pub fn values_or_null<T: ArrowPrimitiveType>(
        &mut self,
        name: &str,
        v: Vec<T::Native>,
        nulls: NullBuffer,
    ) -> &mut Self {
        self.column(
            name,
            Arc::new(PrimitiveArray::<T>::new(ScalarBuffer::from(v), Some(nulls))),
            true,
        )
    }

    /// `timestamp` (ns since midnight) and, with a session midnight, the zoned `ts` column
    /// (placed first).
    pub fn times(
        &mut self,
        name_raw: &str,
        name_ts: &str,
        ns: Vec<i64>,
        midnight: Option<i64>,
    ) -> &mut Self {
        let mut arrays = timestamp_arrays(ScalarBuffer::from(ns), midnight).into_iter();
        let raw = arrays
            .next()
            .expect("the raw timestamp column is always built");
        if let Some(ts) = arrays.next() {
            self.column(name_ts, ts, false);
        }
        self.column(name_raw, raw, false)
    }

    /// A price column (1/10 000 $ ticks) as exact integers or float dollars; `nulls` marks
    /// the null cells (None: all valid).
    pub fn price(
        &mut self,
        name: &str,
        ticks: Vec<u32>,
        repr: PriceRepr,
        nulls: Option<NullBuffer>,
    ) -> &mut Self {
        let nullable = nulls.is_some();
        let array = price4_array(ScalarBuffer::from(ticks), repr);
        let array = match nulls {
            Some(n) => with_nulls(array, Some(n)),
            None => array,
        };
        match repr {
            PriceRepr::Int => self.column_with(name, array, nullable, &[("scale", "4")]),
            PriceRepr::Float => self.column(name, array, nullable),
        }
    }

    /// A float column with nulls where the value is NaN.
    pub fn float_or_null(&mut self, name: &str, v: Vec<f64>) -> &mut Self {
        let nulls = NullBuffer::new(bits(v.len(), |i| !v[i].is_nan()));
        self.column(
            name,
            Arc::new(Float64Array::new(ScalarBuffer::from(v), Some(nulls))),
            true,
        )
    }

    /// A one-character text column, dictionary-encoded (a categorical in polars: four bytes
    /// a row there, and no per-row strings to convert); byte 0 becomes null.
    pub fn chars(&mut self, name: &str, v: &[u8]) -> &mut Self {
        let mut seen = [false; 256];
        for &c in v {
            seen[c as usize] = true;
        }
        let letters: Vec<u8> = (1..=255u8).filter(|&c| seen[c as usize]).collect();
        let mut key = [0u8; 256];
        for (k, &c) in letters.iter().enumerate() {
            key[c as usize] = k as u8;
        }
        let keys: Vec<u8> = v.iter().map(|&c| key[c as usize]).collect();
        let nulls = seen[0].then(|| NullBuffer::new(bits(v.len(), |i| v[i] != 0)));
        let offsets: Vec<i32> = (0..=letters.len() as i32).collect();
        let values = text_array(Buffer::from_vec(letters), ScalarBuffer::from(offsets));
        let array = DictionaryArray::<UInt8Type>::try_new(
            PrimitiveArray::new(ScalarBuffer::from(keys), nulls),
            Arc::new(values),
        )
        .expect("every key indexes the letters it was made from");
        self.column(name, Arc::new(array), true)
    }

    /// A boolean column.
    pub fn flags(&mut self, name: &str, v: Vec<bool>) -> &mut Self {
        let array = BooleanArray::new(bits(v.len(), |i| v[i]), None);
        self.column(name, Arc::new(array), false)
    }

    /// The dictionary-encoded `stock` column from symbol keys.
    pub fn stock(&mut self, keys: Vec<u16>, dictionary: &ArrayRef) -> &mut Self {
        let array = crate::arrow::builders::stock_array(ScalarBuffer::from(keys), dictionary);
        self.column("stock", array, true)
    }

    /// The columns a per-symbol table starts with: `timestamp` (and `ts` with a session
    /// date), `stock_locate`, and the dictionary-encoded `stock` looked up from each locate.
    pub fn located(
        &mut self,
        timestamps: Vec<i64>,
        locate: Vec<u16>,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
    ) -> &mut Self {
        let keys = keys_of(&locate, key_of_locate);
        self.times("timestamp", "ts", timestamps, midnight);
        self.values::<UInt16Type>("stock_locate", locate);
        self.stock(keys, dictionary)
    }

    /// Finishes into a record batch.
    pub fn finish(self) -> RecordBatch {
        let schema = Arc::new(Schema::new(self.fields));
        RecordBatch::try_new(schema, self.arrays).expect("columns are built with equal lengths")
    }
}

/// Keys of `stock` columns built from per-row locates through a locate → key table.
/// Each locate's key into the symbol dictionary (`NO_SYMBOL` where none is known).
pub(crate) fn keys_of(locates: &[u16], key_of_locate: &[u16]) -> Vec<u16> {
    locates
        .iter()
        .map(|&l| key_of_locate.get(l as usize).copied().unwrap_or(NO_SYMBOL))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_buffer::BooleanBuffer;

    #[test]
    fn packed_bits_equal_the_bit_by_bit_builder() {
        for len in [0usize, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let f = |i: usize| (i * 7919 + len).is_multiple_of(3);
            let want: BooleanBuffer = (0..len).map(f).collect();
            assert_eq!(bits(len, f), want, "{len} bits");
        }
    }

    #[test]
    fn one_letter_columns_are_dictionary_encoded_with_nulls_for_zero() {
        let mut t = TableBuilder::new();
        t.chars("side", b"SB\0S\xe9");
        let batch = t.finish();
        let col = batch.column(0).as_dictionary::<UInt8Type>();
        let values = col.values().as_string::<i32>();
        let got: Vec<Option<&str>> = col
            .keys()
            .iter()
            .map(|k| k.map(|k| values.value(k as usize)))
            .collect();
        assert_eq!(got, [Some("S"), Some("B"), None, Some("S"), Some("é")]);
        assert_eq!(col.null_count(), 1);
        assert_eq!(values.len(), 3, "one dictionary entry per distinct letter");
    }
}
