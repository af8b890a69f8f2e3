//! Arrow tables back to ITCH 5.0 bytes: the inverse of the reader. Each table must have its
//! message type's integer-price schema (as `read_itch` produces it; the Python layer converts
//! float prices and plain-string symbols first). Rows of all tables are merged by `timestamp`,
//! ties kept in the order the tables were given, so a filtered day can be written back as a
//! smaller, valid day file.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayAccessor, RecordBatch, StringArray};
use arrow_schema::DataType;

use crate::error::{Error, Result};
use crate::itch::spec::MessageKind;
use crate::itch::wire::{FieldKind, store_u48};

/// One column of a batch, typed once.
enum Source<'a> {
    U16(&'a arrow_array::UInt16Array),
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
    Text(&'a StringArray),
    Stock(arrow_array::TypedDictionaryArray<'a, UInt16Type, StringArray>),
}

/// A batch ready to encode: its type, columns per field, and the header columns.
struct Prepared<'a> {
    kind: MessageKind,
    locate: &'a arrow_array::UInt16Array,
    tracking: &'a arrow_array::UInt16Array,
    timestamp: &'a arrow_array::Int64Array,
    fields: Vec<(usize, FieldKind, &'static str, Source<'a>)>,
}

fn invalid(kind: MessageKind, what: String) -> Error {
    Error::InvalidArgument(format!("{}: {what}", kind.name()))
}

fn column<'a>(kind: MessageKind, batch: &'a RecordBatch, name: &str) -> Result<&'a dyn Array> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| invalid(kind, format!("missing column {name:?}")))?;
    if col.null_count() > 0 {
        return Err(invalid(kind, format!("column {name:?} has nulls")));
    }
    Ok(col.as_ref())
}

fn typed<'a, T>(
    kind: MessageKind,
    name: &str,
    col: &'a dyn Array,
    cast: impl Fn(&'a dyn Array) -> Option<&'a T>,
) -> Result<&'a T> {
    cast(col).ok_or_else(|| {
        invalid(
            kind,
            format!("column {name:?} has type {}", col.data_type()),
        )
    })
}

fn prepare<'a>(kind: MessageKind, batch: &'a RecordBatch) -> Result<Prepared<'a>> {
    let locate = column(kind, batch, "stock_locate")?;
    let tracking = column(kind, batch, "tracking_number")?;
    let timestamp = column(kind, batch, "timestamp")?;
    let mut fields = Vec::new();
    for f in kind.fields() {
        let name = if f.kind == FieldKind::Stock {
            "stock"
        } else {
            f.name
        };
        let col = column(kind, batch, name)?;
        let source = match f.kind {
            FieldKind::U16 => Source::U16(typed(kind, name, col, |c| {
                c.as_primitive_opt::<UInt16Type>()
            })?),
            FieldKind::U32 | FieldKind::Price4 => Source::U32(typed(kind, name, col, |c| {
                c.as_primitive_opt::<UInt32Type>()
            })?),
            FieldKind::U64 | FieldKind::Price8 => Source::U64(typed(kind, name, col, |c| {
                c.as_primitive_opt::<UInt64Type>()
            })?),
            FieldKind::Char | FieldKind::Alpha(_) => {
                Source::Text(typed(kind, name, col, |c| c.as_string_opt::<i32>())?)
            }
            FieldKind::Stock => {
                let dict = typed(kind, name, col, |c| c.as_dictionary_opt::<UInt16Type>())?;
                if dict.values().data_type() != &DataType::Utf8 {
                    return Err(invalid(
                        kind,
                        "stock must be dictionary<uint16, utf8>".into(),
                    ));
                }
                Source::Stock(
                    dict.downcast_dict::<StringArray>()
                        .ok_or_else(|| invalid(kind, "stock values must be utf8".into()))?,
                )
            }
        };
        fields.push((f.offset, f.kind, name, source));
    }
    Ok(Prepared {
        kind,
        locate: typed(kind, "stock_locate", locate, |c| {
            c.as_primitive_opt::<UInt16Type>()
        })?,
        tracking: typed(kind, "tracking_number", tracking, |c| {
            c.as_primitive_opt::<UInt16Type>()
        })?,
        timestamp: typed(kind, "timestamp", timestamp, |c| {
            c.as_primitive_opt::<Int64Type>()
        })?,
        fields,
    })
}

/// Latin-1 bytes of `text`, space-padded to `out.len()`.
fn alpha_bytes(text: &str, out: &mut [u8]) -> std::result::Result<(), String> {
    let width = out.len();
    let mut n = 0;
    for c in text.chars() {
        let b =
            u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} is not a Latin-1 character"))?;
        *out.get_mut(n)
            .ok_or_else(|| format!("{text:?} is longer than {width} characters"))? = b;
        n += 1;
    }
    out[n..].fill(b' ');
    Ok(())
}

impl Prepared<'_> {
    fn timestamp(&self, row: usize) -> Result<u64> {
        let t = self.timestamp.value(row);
        u64::try_from(t)
            .ok()
            .filter(|&t| t < 1 << 48)
            .ok_or_else(|| {
                invalid(
                    self.kind,
                    format!("timestamp {t} in row {row} does not fit 6 bytes"),
                )
            })
    }

    fn encode(&self, row: usize, out: &mut Vec<u8>) -> Result<()> {
        let len = self.kind.len();
        out.extend_from_slice(&(len as u16).to_be_bytes());
        let start = out.len();
        out.resize(start + len, 0);
        let m = &mut out[start..];
        m[0] = self.kind.code();
        m[1..3].copy_from_slice(&self.locate.value(row).to_be_bytes());
        m[3..5].copy_from_slice(&self.tracking.value(row).to_be_bytes());
        store_u48(self.timestamp(row)?, m, 5);
        for (off, kind, name, source) in &self.fields {
            let dst = &mut m[*off..*off + kind.width()];
            let text_err =
                |e: String| invalid(self.kind, format!("column {name:?}, row {row}: {e}"));
            match source {
                Source::U16(a) => dst.copy_from_slice(&a.value(row).to_be_bytes()),
                Source::U32(a) => dst.copy_from_slice(&a.value(row).to_be_bytes()),
                Source::U64(a) => dst.copy_from_slice(&a.value(row).to_be_bytes()),
                Source::Text(a) => alpha_bytes(a.value(row), dst).map_err(text_err)?,
                Source::Stock(a) => alpha_bytes(a.value(row), dst).map_err(text_err)?,
            }
        }
        Ok(())
    }
}

/// Encodes every row of `tables` (message type, its batches), merged by timestamp (stable),
/// appending framed messages to `sink` in chunks. Returns the number of messages.
pub fn write_tables(
    tables: &[(MessageKind, Vec<RecordBatch>)],
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<u64> {
    let mut prepared = Vec::new();
    for (kind, batches) in tables {
        for batch in batches {
            prepared.push(prepare(*kind, batch)?);
        }
    }
    let mut order: Vec<(u64, u32, u32)> =
        Vec::with_capacity(prepared.iter().map(|p| p.timestamp.len()).sum());
    for (i, p) in prepared.iter().enumerate() {
        for row in 0..p.timestamp.len() {
            order.push((p.timestamp(row)?, i as u32, row as u32));
        }
    }
    order.sort_by_key(|&(t, _, _)| t);
    let mut buf = Vec::with_capacity(1 << 20);
    for &(_, i, row) in &order {
        prepared[i as usize].encode(row as usize, &mut buf)?;
        if buf.len() >= 1 << 20 {
            sink(&buf)?;
            buf.clear();
        }
    }
    sink(&buf)?;
    Ok(order.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::reader::ItchReader;
    use crate::itch::decode::DecodeOptions;
    use crate::itch::synth::{SynthConfig, synth_day};
    use crate::source::Input;

    #[test]
    fn a_decoded_day_encodes_back_to_its_bytes() {
        let cfg = SynthConfig {
            messages: 20_000,
            symbols: 20,
            seed: 4,
            ..SynthConfig::default()
        };
        let (bytes, truth) = synth_day(&cfg, Vec::new()).unwrap();
        let tables = ItchReader::new(Input::from_vec(bytes.clone()), DecodeOptions::default())
            .unwrap()
            .read_all()
            .unwrap();
        let mut out = Vec::new();
        let n = write_tables(&tables, |b| {
            out.extend_from_slice(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, truth.total_messages());
        assert_eq!(out.len(), bytes.len());
        // Same bytes as a multiset of frames (ties across types may reorder), and the same
        // tables when decoded again.
        let again = ItchReader::new(Input::from_vec(out), DecodeOptions::default())
            .unwrap()
            .read_all()
            .unwrap();
        assert_eq!(again, tables);
    }

    #[test]
    fn text_too_long_or_not_latin1_is_refused() {
        let mut out = [0u8; 4];
        assert!(alpha_bytes("ABCDE", &mut out).is_err());
        assert!(alpha_bytes("€", &mut out).is_err());
        alpha_bytes("AB", &mut out).unwrap();
        assert_eq!(&out, b"AB  ");
    }
}
