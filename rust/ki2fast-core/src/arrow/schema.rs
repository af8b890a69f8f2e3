//! Every Arrow schema ki2fast produces is defined here, once: the 23 message tables (derived
//! from the catalogue in `itch::spec`) and the order-event stream. Column order is fixed:
//! `stock_locate, tracking_number, timestamp[, ts], stock`, then the message's own fields in
//! spec order. Prices stay integers (with their scale in field metadata) unless float dollars
//! are asked for.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::itch::spec::MessageKind;
use crate::itch::wire::FieldKind;

/// The session's time zone: ITCH timestamps are nanoseconds since US Eastern midnight.
pub const NEW_YORK: &str = "America/New_York";

/// How prices leave the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PriceRepr {
    /// Exact integers as on the wire (1/10 000 $ for Price(4), 1e-8 $ for Price(8)).
    #[default]
    Int,
    /// float64 dollars.
    Float,
}

impl PriceRepr {
    /// Parses `"int"` or `"float"`.
    pub fn parse(s: &str) -> Option<PriceRepr> {
        match s {
            "int" => Some(PriceRepr::Int),
            "float" => Some(PriceRepr::Float),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            PriceRepr::Int => "int",
            PriceRepr::Float => "float",
        }
    }
}

/// The zoned timestamp type of `ts` columns.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(NEW_YORK.into()))
}

/// The dictionary type of `stock` columns.
pub fn stock_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8))
}

fn price_field(name: &str, scale: u8, repr: PriceRepr) -> Field {
    match repr {
        PriceRepr::Int => {
            let ty = if scale == 4 {
                DataType::UInt32
            } else {
                DataType::UInt64
            };
            Field::new(name, ty, false)
                .with_metadata(HashMap::from([("scale".to_string(), scale.to_string())]))
        }
        PriceRepr::Float => Field::new(name, DataType::Float64, false),
    }
}

fn header_fields(with_ts: bool) -> Vec<Field> {
    let mut fields = vec![
        Field::new("stock_locate", DataType::UInt16, false),
        Field::new("tracking_number", DataType::UInt16, false),
        Field::new("timestamp", DataType::Int64, false),
    ];
    if with_ts {
        fields.push(Field::new("ts", ts_type(), false));
    }
    fields.push(Field::new("stock", stock_type(), true));
    fields
}

/// The Arrow schema of one message type's table.
pub fn message_schema(kind: MessageKind, prices: PriceRepr, with_ts: bool) -> SchemaRef {
    let mut fields = header_fields(with_ts);
    for f in kind.fields() {
        let field = match f.kind {
            FieldKind::Stock => continue,
            FieldKind::U16 => Field::new(f.name, DataType::UInt16, false),
            FieldKind::U32 => Field::new(f.name, DataType::UInt32, false),
            FieldKind::U64 => Field::new(f.name, DataType::UInt64, false),
            FieldKind::Char | FieldKind::Alpha(_) => Field::new(f.name, DataType::Utf8, false),
            FieldKind::Price4 => price_field(f.name, 4, prices),
            FieldKind::Price8 => price_field(f.name, 8, prices),
        };
        fields.push(field);
    }
    let metadata = HashMap::from([
        ("ki2fast.message".to_string(), kind.name().to_string()),
        (
            "ki2fast.code".to_string(),
            (kind.code() as char).to_string(),
        ),
        ("ki2fast.prices".to_string(), prices.as_str().to_string()),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// Names of the order-event kinds, in dictionary order.
pub const ORDER_EVENT_NAMES: [&str; 6] = [
    "add",
    "execute",
    "execute_price",
    "cancel",
    "delete",
    "replace",
];

/// The canonical order-event stream: one row per A/F/E/C/X/D/U message in file order.
///
/// | column | meaning |
/// |---|---|
/// | `event` | add, execute, execute_price, cancel, delete, replace |
/// | `side` | B/S on adds (null elsewhere: the message does not carry it) |
/// | `order_reference_number` | the order the event is about (the original one for replace) |
/// | `new_order_reference_number` | replace only |
/// | `shares` | added, executed, cancelled, or the new absolute size on replace; null on delete |
/// | `price` | add price, execution price (`C`), new price (replace); null otherwise |
/// | `printable` | executions: `E` always true, `C` per its flag |
/// | `match_number` | executions |
/// | `attribution` | MPID of `F` adds |
pub fn order_event_schema(prices: PriceRepr, with_ts: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("stock_locate", DataType::UInt16, false),
        Field::new("timestamp", DataType::Int64, false),
    ];
    if with_ts {
        fields.push(Field::new("ts", ts_type(), false));
    }
    let price = match prices {
        PriceRepr::Int => Field::new("price", DataType::UInt32, true)
            .with_metadata(HashMap::from([("scale".to_string(), "4".to_string())])),
        PriceRepr::Float => Field::new("price", DataType::Float64, true),
    };
    fields.extend([
        Field::new("stock", stock_type(), true),
        Field::new(
            "event",
            DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
            false,
        ),
        Field::new("side", DataType::Utf8, true),
        Field::new("order_reference_number", DataType::UInt64, false),
        Field::new("new_order_reference_number", DataType::UInt64, true),
        Field::new("shares", DataType::UInt32, true),
        price,
        Field::new("printable", DataType::Boolean, true),
        Field::new("match_number", DataType::UInt64, true),
        Field::new("attribution", DataType::Utf8, true),
    ]);
    let metadata = HashMap::from([
        ("ki2fast.table".to_string(), "order_events".to_string()),
        ("ki2fast.prices".to_string(), prices.as_str().to_string()),
    ]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}
