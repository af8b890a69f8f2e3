//! Decoding against the message layouts: random bytes of every type round-trip through
//! parse/encode, and every column of every decoded batch equals the field read straight from
//! the raw message by its spec offset. Bad input fails with a typed error, never a panic.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt16Type, UInt32Type, UInt64Type};
use flate2::Compression;
use flate2::write::GzEncoder;
use ki2fast_core::arrow::reader::{ItchReader, OrderEventReader, count};
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::error::Error;
use ki2fast_core::itch::decode::DecodeOptions;
use ki2fast_core::itch::framing::FramePolicy;
use ki2fast_core::itch::spec::{Dispatch, Message, MessageKind, MessageSet};
use ki2fast_core::itch::wire::FieldKind;
use ki2fast_core::source::Input;
use proptest::prelude::*;

fn be(raw: &[u8], off: usize, width: usize) -> u64 {
    raw[off..off + width]
        .iter()
        .fold(0u64, |acc, &b| acc << 8 | b as u64)
}

fn text(raw: &[u8], off: usize, width: usize) -> String {
    let field = &raw[off..off + width];
    let end = field.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    field[..end].iter().map(|&b| b as char).collect()
}

fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

fn read(
    bytes: Vec<u8>,
    opts: DecodeOptions,
) -> Result<Vec<(MessageKind, Vec<RecordBatch>)>, Error> {
    ItchReader::new(Input::from_vec(bytes), opts)?.read_all()
}

/// Every column of `batches` equals the fields of `raws` read by offset.
fn assert_columns_match(
    kind: MessageKind,
    batches: &[RecordBatch],
    raws: &[Vec<u8>],
    prices: PriceRepr,
) {
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, raws.len(), "{kind}: row count");
    let mut i = 0;
    for batch in batches {
        for r in 0..batch.num_rows() {
            let raw = &raws[i];
            i += 1;
            let col = |name: &str| {
                batch
                    .column_by_name(name)
                    .unwrap_or_else(|| panic!("{kind}: no column {name}"))
                    .clone()
            };
            assert_eq!(
                col("stock_locate").as_primitive::<UInt16Type>().value(r) as u64,
                be(raw, 1, 2)
            );
            assert_eq!(
                col("tracking_number").as_primitive::<UInt16Type>().value(r) as u64,
                be(raw, 3, 2)
            );
            assert_eq!(
                col("timestamp")
                    .as_primitive::<arrow_array::types::Int64Type>()
                    .value(r) as u64,
                be(raw, 5, 6)
            );
            for f in kind.fields() {
                match f.kind {
                    FieldKind::Stock => {
                        let stock = col("stock");
                        let dict = stock.as_dictionary::<UInt16Type>();
                        let key = dict.keys().value(r) as usize;
                        let values = dict.values().as_string::<i32>();
                        assert_eq!(
                            values.value(key),
                            text(raw, f.offset, 8),
                            "{kind}.stock row {r}"
                        );
                    }
                    FieldKind::U16 => assert_eq!(
                        col(f.name).as_primitive::<UInt16Type>().value(r) as u64,
                        be(raw, f.offset, 2)
                    ),
                    FieldKind::U32 => assert_eq!(
                        col(f.name).as_primitive::<UInt32Type>().value(r) as u64,
                        be(raw, f.offset, 4)
                    ),
                    FieldKind::U64 => assert_eq!(
                        col(f.name).as_primitive::<UInt64Type>().value(r),
                        be(raw, f.offset, 8)
                    ),
                    FieldKind::Char | FieldKind::Alpha(_) => {
                        assert_eq!(
                            col(f.name).as_string::<i32>().value(r),
                            text(raw, f.offset, f.kind.width()),
                            "{kind}.{}",
                            f.name
                        )
                    }
                    FieldKind::Price4 | FieldKind::Price8 => {
                        let (w, scale) = if f.kind == FieldKind::Price4 {
                            (4, 1e4)
                        } else {
                            (8, 1e8)
                        };
                        let want = be(raw, f.offset, w);
                        match prices {
                            PriceRepr::Int if w == 4 => assert_eq!(
                                col(f.name).as_primitive::<UInt32Type>().value(r) as u64,
                                want
                            ),
                            PriceRepr::Int => {
                                assert_eq!(col(f.name).as_primitive::<UInt64Type>().value(r), want)
                            }
                            PriceRepr::Float => assert_eq!(
                                col(f.name).as_primitive::<Float64Type>().value(r),
                                want as f64 / scale
                            ),
                        }
                    }
                }
            }
        }
    }
}

fn message_strategy() -> impl Strategy<Value = Vec<u8>> {
    (0..MessageKind::ALL.len()).prop_flat_map(|i| {
        let kind = MessageKind::ALL[i];
        proptest::collection::vec(any::<u8>(), kind.len()).prop_map(move |mut bytes| {
            bytes[0] = kind.code();
            bytes
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn any_bytes_of_a_known_layout_round_trip_through_parse_and_encode(raw in message_strategy()) {
        let Dispatch::Visited(m) = Message::parse(&raw) else { panic!("a spec-length message must parse") };
        let mut out = Vec::new();
        m.encode(&mut out);
        prop_assert_eq!(&out[2..], &raw[..]);
        prop_assert_eq!(&out[..2], &(raw.len() as u16).to_be_bytes()[..]);
    }

    #[test]
    fn decoded_columns_equal_the_raw_fields(
        raws in proptest::collection::vec(message_strategy(), 1..120),
        float in any::<bool>(),
        batch_size in 1usize..40,
    ) {
        let prices = if float { PriceRepr::Float } else { PriceRepr::Int };
        let bytes: Vec<u8> = raws.iter().flat_map(|m| frame(m)).collect();
        let opts = DecodeOptions { prices, batch_size, ..DecodeOptions::default() };
        let tables = read(bytes, opts).unwrap();
        for (kind, batches) in &tables {
            let mine: Vec<Vec<u8>> = raws.iter().filter(|m| m[0] == kind.code()).cloned().collect();
            assert_columns_match(*kind, batches, &mine, prices);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for policy in [FramePolicy::default(), FramePolicy { allow_truncated: true, skip_length_mismatch: true }] {
            let opts = DecodeOptions { policy, batch_size: 7, ..DecodeOptions::default() };
            match read(bytes.clone(), opts.clone()) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.is_decode_error(), "{e:?}"),
            }
            match OrderEventReader::new(Input::from_vec(bytes.clone()), opts).and_then(|r| r.read_all()) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.is_decode_error(), "{e:?}"),
            }
        }
    }
}

fn add_order(reference: u64, stock: &str) -> Vec<u8> {
    let mut m = vec![0u8; 36];
    m[0] = b'A';
    m[1..3].copy_from_slice(&7u16.to_be_bytes());
    m[11..19].copy_from_slice(&reference.to_be_bytes());
    m[19] = b'B';
    m[20..24].copy_from_slice(&100u32.to_be_bytes());
    m[24..32].copy_from_slice(format!("{stock:<8}").as_bytes());
    m[32..36].copy_from_slice(&1_234_500u32.to_be_bytes());
    m
}

#[test]
fn truncated_tail_is_an_error_or_a_counted_stop() {
    let mut bytes = frame(&add_order(1, "AAPL"));
    bytes.extend_from_slice(&frame(&add_order(2, "AAPL"))[..10]);
    let err = read(bytes.clone(), DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Truncated {
                offset: 38,
                needed: 38,
                available: 10
            }
        ),
        "{err:?}"
    );
    let opts = DecodeOptions {
        policy: FramePolicy {
            allow_truncated: true,
            ..FramePolicy::default()
        },
        ..DecodeOptions::default()
    };
    let reader = ItchReader::new(Input::from_vec(bytes), opts).unwrap();
    let mut reader = reader;
    while reader.step(1 << 20).unwrap() {}
    assert_eq!(reader.checks().truncated_tail_bytes, 10);
    assert_eq!(reader.checks().messages(MessageKind::AddOrder), 1);
}

#[test]
fn wrong_length_names_the_type_and_offset() {
    let mut bytes = frame(&add_order(1, "AAPL"));
    bytes.extend(frame(&add_order(2, "AAPL")[..30]));
    let err = read(bytes.clone(), DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                offset: 40,
                code: 'A',
                expected: 36,
                found: 30,
                ..
            }
        ),
        "{err:?}"
    );
    let opts = DecodeOptions {
        policy: FramePolicy {
            skip_length_mismatch: true,
            ..FramePolicy::default()
        },
        ..DecodeOptions::default()
    };
    let tables = read(bytes, opts).unwrap();
    assert_eq!(
        tables
            .iter()
            .find(|(k, _)| *k == MessageKind::AddOrder)
            .unwrap()
            .1[0]
            .num_rows(),
        1
    );
}

#[test]
fn empty_and_foreign_inputs_are_typed_errors() {
    assert!(matches!(
        read(vec![], DecodeOptions::default()),
        Err(Error::Empty)
    ));
    let text = b"date,symbol,price\n2024-01-02,AAPL,185.1\n".to_vec();
    assert!(matches!(
        read(text, DecodeOptions::default()),
        Err(Error::NotItch { .. })
    ));
    // Frames that walk cleanly but hold only unknown types are not ITCH either.
    let unknown = [frame(b"zzz"), frame(b"#1")].concat();
    assert!(matches!(
        read(unknown, DecodeOptions::default()),
        Err(Error::NotItch { .. })
    ));
}

#[test]
fn unknown_types_are_skipped_and_counted() {
    let bytes = [
        frame(&add_order(1, "AAPL")),
        frame(b"z0123"),
        frame(b""),
        frame(&add_order(2, "MSFT")),
    ]
    .concat();
    let checks = count(Input::from_vec(bytes.clone()), FramePolicy::default()).unwrap();
    assert_eq!(checks.messages(MessageKind::AddOrder), 2);
    assert_eq!(checks.unknown_codes().collect::<Vec<_>>(), [(b'z', 1)]);
    assert_eq!(checks.zero_length_frames, 1);
    let tables = read(bytes, DecodeOptions::default()).unwrap();
    let adds = &tables
        .iter()
        .find(|(k, _)| *k == MessageKind::AddOrder)
        .unwrap()
        .1;
    assert_eq!(adds.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
}

#[test]
fn gzip_members_concatenate_and_equal_raw() {
    let raws: Vec<Vec<u8>> = (0..90_000)
        .map(|i| add_order(i, ["AAPL", "MSFT", "QQQ"][i as usize % 3]))
        .collect();
    let raw: Vec<u8> = raws.iter().flat_map(|m| frame(m)).collect();
    let half = raw.len() / 2 + 7; // a member boundary in the middle of a frame
    let gz = |part: &[u8]| {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(part).unwrap();
        e.finish().unwrap()
    };
    let both = [gz(&raw[..half]), gz(&raw[half..])].concat();
    let opts = DecodeOptions {
        batch_size: 10_000,
        ..DecodeOptions::default()
    };
    let from_gz = read(both, opts.clone()).unwrap();
    let from_raw = read(raw, opts).unwrap();
    assert_eq!(from_gz, from_raw);
    let adds = &from_gz
        .iter()
        .find(|(k, _)| *k == MessageKind::AddOrder)
        .unwrap()
        .1;
    assert_columns_match(MessageKind::AddOrder, adds, &raws, PriceRepr::Int);
}

#[test]
fn filters_keep_selected_types_and_symbols_plus_market_wide_messages() {
    let mut system = vec![0u8; 12];
    system[0] = b'S';
    system[11] = b'O';
    let mut delete = vec![0u8; 19];
    delete[0] = b'D';
    delete[1..3].copy_from_slice(&7u16.to_be_bytes());
    let bytes = [
        frame(&system),
        frame(&add_order(1, "AAPL")),
        frame(&add_order(2, "MSFT")),
        frame(&delete),
    ]
    .concat();
    let opts = DecodeOptions {
        messages: [
            MessageKind::AddOrder,
            MessageKind::SystemEvent,
            MessageKind::OrderDelete,
        ]
        .into_iter()
        .collect::<MessageSet>(),
        symbols: Some(vec!["AAPL".into()]),
        ..DecodeOptions::default()
    };
    let tables = read(bytes, opts).unwrap();
    let rows = |k: MessageKind| {
        tables
            .iter()
            .find(|(x, _)| *x == k)
            .map(|(_, b)| b.iter().map(|b| b.num_rows()).sum::<usize>())
    };
    assert_eq!(rows(MessageKind::SystemEvent), Some(1));
    assert_eq!(rows(MessageKind::AddOrder), Some(1));
    // Locate 7 was learned as AAPL from the first add (no directory), so the delete passes.
    assert_eq!(rows(MessageKind::OrderDelete), Some(1));
    assert_eq!(rows(MessageKind::OrderExecuted), None);
}
