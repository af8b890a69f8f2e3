//! The ITCH 5.0 message catalogue: all 23 types, their codes, spec lengths and field layouts,
//! declared once. Everything else is generated from this table: the message structs (parse
//! and encode), the per-type Arrow column sets, the `MessageKind` enum, the length table the
//! framing layer checks against, and the static dispatch on the type byte.
//!
//! Offsets count from the type byte; every layout starts with the 11-byte common header
//! (type, stock locate, tracking number, 6-byte timestamp) and ends exactly at its length,
//! which a unit test checks field by field.

use std::fmt;

use arrow_array::ArrayRef;

use crate::arrow::builders::{FieldColumn, FinishOptions, HeaderColumns};
use crate::itch::wire::{
    Alpha, Char, FieldSpec, Price4, Price8, Stock, U32, U64, Wire, load_u16, load_u48, store_u48,
};

/// The common header every message starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Day-scoped instrument index (0 on market-wide messages).
    pub stock_locate: u16,
    /// NASDAQ-internal tracking number.
    pub tracking_number: u16,
    /// Nanoseconds since midnight, US Eastern.
    pub timestamp: u64,
}

/// Implemented by each of the 23 message structs.
pub trait MessageDef: Copy + fmt::Debug + Send + Sync + 'static {
    /// Which message this is.
    const KIND: MessageKind;
    /// Whether the layout has a Stock field.
    const HAS_STOCK: bool;
    /// The Arrow column set that collects this type.
    type Columns: MessageColumns<Self>;
    /// The common header.
    fn header(&self) -> Header;
    /// The Stock field, when the layout has one.
    fn stock(&self) -> Option<[u8; 8]>;
    /// Writes the message (without framing) into exactly `KIND.len()` bytes.
    fn write_to(&self, out: &mut [u8]);
    /// This type's column set among all of them.
    fn slot(all: &mut AllColumns) -> &mut Option<Self::Columns>;
    /// Wraps into the sum type.
    fn into_message(self) -> Message;
}

/// The Arrow columns of one message type, filled row by row up to a fixed capacity.
pub trait MessageColumns<M>: Send + fmt::Debug {
    /// Empty columns with room for `rows` rows.
    fn with_capacity(rows: usize) -> Self;
    /// Appends one decoded message; `stock_key` indexes the reader's symbol list. The caller
    /// keeps `len() < capacity()`.
    fn push(&mut self, m: &M, stock_key: u16);
    /// Rows that fit.
    fn capacity(&self) -> usize;
    /// Rows collected.
    fn len(&self) -> usize;
    /// True when no row has been collected.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Finishes into arrays in schema order.
    fn finish(self, opts: &FinishOptions, symbols: &ArrayRef) -> Vec<ArrayRef>;
}

/// What the framing layer found in one frame before decoding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch<T> {
    /// A known type of the right length, handed to the visitor.
    Visited(T),
    /// A type byte that is not one of the 23.
    Unknown(u8),
    /// A known type whose frame length is wrong.
    LengthMismatch(MessageKind),
    /// A zero-length frame.
    Empty,
}

/// Receives each well-formed message, statically typed.
pub trait Visitor {
    /// What a visit returns.
    type Output;
    /// Called once per message.
    fn visit<M: MessageDef>(&mut self, m: M) -> Self::Output;
}

macro_rules! itch_messages {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident / $cols:ident / $snake:ident = $code:literal, $len:literal {
            $($field:ident @ $off:literal : $wire:ty),* $(,)?
        }
    )+) => {
        $(
            $(#[doc = $doc])+
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $name {
                /// Day-scoped instrument index.
                pub stock_locate: u16,
                /// NASDAQ-internal tracking number.
                pub tracking_number: u16,
                /// Nanoseconds since midnight, US Eastern.
                pub timestamp: u64,
                $(
                    #[doc = concat!("`", stringify!($field), "` at offset ", stringify!($off), ".")]
                    pub $field: <$wire as Wire>::Value,
                )*
            }

            impl $name {
                /// Type code.
                pub const CODE: u8 = $code;
                /// Spec length (type byte included, framing excluded).
                pub const LEN: usize = $len;
                /// Field layout after the common header.
                pub const FIELDS: &'static [FieldSpec] = &[
                    $(FieldSpec { name: stringify!($field), offset: $off, kind: <$wire as Wire>::KIND },)*
                ];

                /// Decodes a message whose length the framing layer has checked.
                #[inline(always)]
                pub fn parse(m: &[u8; $len]) -> Self {
                    let m = &m[..];
                    Self {
                        stock_locate: load_u16(m, 1),
                        tracking_number: load_u16(m, 3),
                        timestamp: load_u48(m, 5),
                        $($field: <$wire as Wire>::load(m, $off),)*
                    }
                }
            }

            impl MessageDef for $name {
                const KIND: MessageKind = MessageKind::$name;
                const HAS_STOCK: bool = false $(|| matches!(<$wire as Wire>::KIND, crate::itch::wire::FieldKind::Stock))*;
                type Columns = $cols;

                #[inline(always)]
                fn header(&self) -> Header {
                    Header {
                        stock_locate: self.stock_locate,
                        tracking_number: self.tracking_number,
                        timestamp: self.timestamp,
                    }
                }

                #[inline(always)]
                #[allow(unused_mut)]
                fn stock(&self) -> Option<[u8; 8]> {
                    let mut s = None;
                    $(s = s.or(<$wire as Wire>::as_stock(&self.$field));)*
                    s
                }

                #[inline(always)]
                fn write_to(&self, out: &mut [u8]) {
                    out[0] = $code;
                    out[1..3].copy_from_slice(&self.stock_locate.to_be_bytes());
                    out[3..5].copy_from_slice(&self.tracking_number.to_be_bytes());
                    store_u48(self.timestamp, out, 5);
                    $(<$wire as Wire>::store(self.$field, out, $off);)*
                }

                #[inline(always)]
                fn slot(all: &mut AllColumns) -> &mut Option<$cols> {
                    &mut all.$snake
                }

                #[inline(always)]
                fn into_message(self) -> Message {
                    Message::$name(self)
                }
            }

            #[doc = concat!("Arrow columns of `", stringify!($snake), "` messages.")]
            #[derive(Debug)]
            pub struct $cols {
                header: HeaderColumns,
                $($field: <$wire as Wire>::Column,)*
            }

            impl MessageColumns<$name> for $cols {
                fn with_capacity(rows: usize) -> Self {
                    $cols {
                        header: HeaderColumns::with_capacity(rows),
                        $($field: <<$wire as Wire>::Column as FieldColumn<<$wire as Wire>::Value>>::with_capacity(rows),)*
                    }
                }

                #[inline(always)]
                #[allow(unused_variables)]
                fn push(&mut self, m: &$name, stock_key: u16) {
                    let row = self.header.push(m.stock_locate, m.tracking_number, m.timestamp, stock_key);
                    $(<<$wire as Wire>::Column as FieldColumn<<$wire as Wire>::Value>>::set(&mut self.$field, row, m.$field);)*
                }

                fn capacity(&self) -> usize {
                    self.header.capacity()
                }

                #[inline(always)]
                fn len(&self) -> usize {
                    self.header.len()
                }

                fn finish(self, opts: &FinishOptions, symbols: &ArrayRef) -> Vec<ArrayRef> {
                    #[allow(unused_variables)]
                    let rows = self.header.len();
                    #[allow(unused_mut)]
                    let mut arrays = self.header.finish(opts, symbols);
                    $(arrays.extend(<<$wire as Wire>::Column as FieldColumn<<$wire as Wire>::Value>>::finish(self.$field, rows, opts));)*
                    arrays
                }
            }
        )+

        /// The 23 message types, in catalogue order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MessageKind {
            $(
                $(#[doc = $doc])+
                $name,
            )+
        }

        // `len` is a message's length on the wire, not the size of a collection.
        #[allow(clippy::len_without_is_empty)]
        impl MessageKind {
            /// Every type, in catalogue order.
            pub const ALL: [MessageKind; COUNT] = [$(MessageKind::$name),+];

            /// The type code byte.
            pub const fn code(self) -> u8 {
                match self { $(MessageKind::$name => $code,)+ }
            }

            /// snake_case name (also the key of `read_itch`'s result).
            pub const fn name(self) -> &'static str {
                match self { $(MessageKind::$name => stringify!($snake),)+ }
            }

            /// Spec length, type byte included.
            pub const fn len(self) -> usize {
                match self { $(MessageKind::$name => $len,)+ }
            }

            /// Field layout after the common header.
            pub const fn fields(self) -> &'static [FieldSpec] {
                match self { $(MessageKind::$name => $name::FIELDS,)+ }
            }

            /// Position in `ALL`.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// The type with this code byte.
            pub fn from_code(code: u8) -> Option<MessageKind> {
                match code { $($code => Some(MessageKind::$name),)+ _ => None }
            }

            /// The type with this snake_case name.
            pub fn from_name(name: &str) -> Option<MessageKind> {
                match name { $(stringify!($snake) => Some(MessageKind::$name),)+ _ => None }
            }
        }

        /// Any decoded message.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Message {
            $(
                $(#[doc = $doc])+
                $name($name),
            )+
        }

        impl Message {
            /// Which type this is.
            pub fn kind(&self) -> MessageKind {
                match self { $(Message::$name(_) => MessageKind::$name,)+ }
            }

            /// The common header.
            pub fn header(&self) -> Header {
                match self { $(Message::$name(m) => m.header(),)+ }
            }

            /// The Stock field, when the type has one.
            pub fn stock(&self) -> Option<[u8; 8]> {
                match self { $(Message::$name(m) => m.stock(),)+ }
            }

            /// Appends the framed message (2-byte length, then the bytes) to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                let len = self.kind().len();
                out.extend_from_slice(&(len as u16).to_be_bytes());
                let start = out.len();
                out.resize(start + len, 0);
                match self { $(Message::$name(m) => m.write_to(&mut out[start..]),)+ }
            }
        }

        /// Decodes one unframed message into its struct and hands it to `v`. This is the
        /// single place where the type byte is matched; the length check is part of it.
        #[inline(always)]
        pub fn dispatch<V: Visitor>(msg: &[u8], v: &mut V) -> Dispatch<V::Output> {
            let Some(&code) = msg.first() else { return Dispatch::Empty };
            match code {
                $(
                    $code => match <&[u8; $len]>::try_from(msg) {
                        Ok(m) => Dispatch::Visited(v.visit($name::parse(m))),
                        Err(_) => Dispatch::LengthMismatch(MessageKind::$name),
                    },
                )+
                other => Dispatch::Unknown(other),
            }
        }

        /// One optional column set per message type (absent when filtered out).
        #[derive(Debug)]
        pub struct AllColumns {
            rows: usize,
            grow: bool,
            next_rows: [usize; COUNT],
            $(
                #[doc = concat!("`", stringify!($snake), "` rows.")]
                pub $snake: Option<$cols>,
            )+
        }

        impl AllColumns {
            /// Column sets for the enabled types: of `rows` rows each, or, with `grow`,
            /// starting small and doubling with each batch of a type up to `rows` (so rare
            /// types never hold large allocations).
            pub fn new(enabled: &MessageSet, rows: usize, grow: bool) -> AllColumns {
                let first = if grow { rows.min(FIRST_BATCH_ROWS) } else { rows };
                AllColumns {
                    rows,
                    grow,
                    next_rows: [first; COUNT],
                    $($snake: enabled.contains(MessageKind::$name).then(|| <$cols>::with_capacity(first)),)+
                }
            }

            fn next_capacity(&mut self, kind: MessageKind) -> usize {
                let slot = &mut self.next_rows[kind.index()];
                if self.grow {
                    *slot = (*slot * 2).min(self.rows);
                }
                *slot
            }

            /// Rows collected for `kind` (0 when disabled).
            pub fn len_of(&self, kind: MessageKind) -> usize {
                match kind {
                    $(MessageKind::$name => self.$snake.as_ref().map_or(0, |c| c.len()),)+
                }
            }

            /// Takes the rows of `kind` as finished arrays, leaving an empty set behind.
            pub fn take(&mut self, kind: MessageKind, opts: &FinishOptions, symbols: &ArrayRef)
                -> Option<Vec<ArrayRef>> {
                match kind {
                    $(MessageKind::$name => {
                        let rows = self.next_capacity(kind);
                        self.$snake.as_mut().map(|c| {
                            std::mem::replace(c, <$cols>::with_capacity(rows)).finish(opts, symbols)
                        })
                    })+
                }
            }
        }

        /// Spec length by type byte; 0 for bytes that are not a message type.
        pub const SPEC_LEN: [u8; 256] = {
            let mut t = [0u8; 256];
            $(t[$code as usize] = $len;)+
            t
        };
    };
}

/// Number of message types in ITCH 5.0.
pub const COUNT: usize = 23;

/// Rows of the first batch of each type when batches grow.
pub const FIRST_BATCH_ROWS: usize = 4_096;

itch_messages! {
    /// `S` System Event: market-wide session events.
    SystemEvent / SystemEventColumns / system_event = b'S', 12 {
        event_code @ 11: Char,
    }
    /// `R` Stock Directory: assigns the day's stock locate to a symbol.
    StockDirectory / StockDirectoryColumns / stock_directory = b'R', 39 {
        stock @ 11: Stock,
        market_category @ 19: Char,
        financial_status_indicator @ 20: Char,
        round_lot_size @ 21: U32,
        round_lots_only @ 25: Char,
        issue_classification @ 26: Char,
        issue_sub_type @ 27: Alpha<2>,
        authenticity @ 29: Char,
        short_sale_threshold_indicator @ 30: Char,
        ipo_flag @ 31: Char,
        luld_reference_price_tier @ 32: Char,
        etp_flag @ 33: Char,
        etp_leverage_factor @ 34: U32,
        inverse_indicator @ 38: Char,
    }
    /// `H` Stock Trading Action: per-symbol trading state.
    StockTradingAction / StockTradingActionColumns / stock_trading_action = b'H', 25 {
        stock @ 11: Stock,
        trading_state @ 19: Char,
        reserved @ 20: Char,
        reason @ 21: Alpha<4>,
    }
    /// `Y` Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestriction / RegShoRestrictionColumns / reg_sho_restriction = b'Y', 20 {
        stock @ 11: Stock,
        reg_sho_action @ 19: Char,
    }
    /// `L` Market Participant Position.
    MarketParticipantPosition / MarketParticipantPositionColumns / market_participant_position = b'L', 26 {
        mpid @ 11: Alpha<4>,
        stock @ 15: Stock,
        primary_market_maker @ 23: Char,
        market_maker_mode @ 24: Char,
        market_participant_state @ 25: Char,
    }
    /// `V` MWCB Decline Level: the day's circuit-breaker levels.
    MwcbDeclineLevel / MwcbDeclineLevelColumns / mwcb_decline_level = b'V', 35 {
        level_1 @ 11: Price8,
        level_2 @ 19: Price8,
        level_3 @ 27: Price8,
    }
    /// `W` MWCB Status: a circuit-breaker level was breached.
    MwcbStatus / MwcbStatusColumns / mwcb_status = b'W', 12 {
        breached_level @ 11: Char,
    }
    /// `K` IPO Quoting Period Update.
    IpoQuotingPeriodUpdate / IpoQuotingPeriodUpdateColumns / ipo_quoting_period_update = b'K', 28 {
        stock @ 11: Stock,
        ipo_quotation_release_time @ 19: U32,
        ipo_quotation_release_qualifier @ 23: Char,
        ipo_price @ 24: Price4,
    }
    /// `J` LULD Auction Collar.
    LuldAuctionCollar / LuldAuctionCollarColumns / luld_auction_collar = b'J', 35 {
        stock @ 11: Stock,
        auction_collar_reference_price @ 19: Price4,
        upper_auction_collar_price @ 23: Price4,
        lower_auction_collar_price @ 27: Price4,
        auction_collar_extension @ 31: U32,
    }
    /// `h` Operational Halt (venue-specific; lower-case code).
    OperationalHalt / OperationalHaltColumns / operational_halt = b'h', 21 {
        stock @ 11: Stock,
        market_code @ 19: Char,
        operational_halt_action @ 20: Char,
    }
    /// `A` Add Order, no MPID attribution.
    AddOrder / AddOrderColumns / add_order = b'A', 36 {
        order_reference_number @ 11: U64,
        buy_sell_indicator @ 19: Char,
        shares @ 20: U32,
        stock @ 24: Stock,
        price @ 32: Price4,
    }
    /// `F` Add Order with MPID attribution.
    AddOrderMpid / AddOrderMpidColumns / add_order_mpid = b'F', 40 {
        order_reference_number @ 11: U64,
        buy_sell_indicator @ 19: Char,
        shares @ 20: U32,
        stock @ 24: Stock,
        price @ 32: Price4,
        attribution @ 36: Alpha<4>,
    }
    /// `E` Order Executed at the resting order's price.
    OrderExecuted / OrderExecutedColumns / order_executed = b'E', 31 {
        order_reference_number @ 11: U64,
        executed_shares @ 19: U32,
        match_number @ 23: U64,
    }
    /// `C` Order Executed With Price.
    OrderExecutedWithPrice / OrderExecutedWithPriceColumns / order_executed_with_price = b'C', 36 {
        order_reference_number @ 11: U64,
        executed_shares @ 19: U32,
        match_number @ 23: U64,
        printable @ 31: Char,
        execution_price @ 32: Price4,
    }
    /// `X` Order Cancel (partial).
    OrderCancel / OrderCancelColumns / order_cancel = b'X', 23 {
        order_reference_number @ 11: U64,
        cancelled_shares @ 19: U32,
    }
    /// `D` Order Delete.
    OrderDelete / OrderDeleteColumns / order_delete = b'D', 19 {
        order_reference_number @ 11: U64,
    }
    /// `U` Order Replace.
    OrderReplace / OrderReplaceColumns / order_replace = b'U', 35 {
        original_order_reference_number @ 11: U64,
        new_order_reference_number @ 19: U64,
        shares @ 27: U32,
        price @ 31: Price4,
    }
    /// `P` Trade (non-cross): execution of non-displayed interest.
    Trade / TradeColumns / trade = b'P', 44 {
        order_reference_number @ 11: U64,
        buy_sell_indicator @ 19: Char,
        shares @ 20: U32,
        stock @ 24: Stock,
        price @ 32: Price4,
        match_number @ 36: U64,
    }
    /// `Q` Cross Trade: bulk print of a cross.
    CrossTrade / CrossTradeColumns / cross_trade = b'Q', 40 {
        shares @ 11: U64,
        stock @ 19: Stock,
        cross_price @ 27: Price4,
        match_number @ 31: U64,
        cross_type @ 39: Char,
    }
    /// `B` Broken Trade: an earlier execution is void.
    BrokenTrade / BrokenTradeColumns / broken_trade = b'B', 19 {
        match_number @ 11: U64,
    }
    /// `I` Net Order Imbalance Indicator (NOII).
    Noii / NoiiColumns / noii = b'I', 50 {
        paired_shares @ 11: U64,
        imbalance_shares @ 19: U64,
        imbalance_direction @ 27: Char,
        stock @ 28: Stock,
        far_price @ 36: Price4,
        near_price @ 40: Price4,
        current_reference_price @ 44: Price4,
        cross_type @ 48: Char,
        price_variation_indicator @ 49: Char,
    }
    /// `N` Retail Price Improvement Indicator (RPII).
    Rpii / RpiiColumns / rpii = b'N', 20 {
        stock @ 11: Stock,
        interest_flag @ 19: Char,
    }
    /// `O` Direct Listing with Capital Raise price discovery.
    DlcrPriceDiscovery / DlcrPriceDiscoveryColumns / dlcr_price_discovery = b'O', 48 {
        stock @ 11: Stock,
        open_eligibility_status @ 19: Char,
        minimum_allowable_price @ 20: Price4,
        maximum_allowable_price @ 24: Price4,
        near_execution_price @ 28: Price4,
        near_execution_time @ 32: U64,
        lower_price_range_collar @ 40: Price4,
        upper_price_range_collar @ 44: Price4,
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

struct IntoMessage;

impl Visitor for IntoMessage {
    type Output = Message;
    fn visit<M: MessageDef>(&mut self, m: M) -> Message {
        m.into_message()
    }
}

impl Message {
    /// Decodes one unframed message (type byte first) into the sum type.
    pub fn parse(msg: &[u8]) -> Dispatch<Message> {
        dispatch(msg, &mut IntoMessage)
    }
}

impl MessageKind {
    /// Looks a type up by snake_case name or by its one-character code.
    pub fn parse(name_or_code: &str) -> Option<MessageKind> {
        match name_or_code.as_bytes() {
            [code] => MessageKind::from_code(*code),
            _ => MessageKind::from_name(name_or_code),
        }
    }
}

/// A set of message types (a bit per type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSet(u32);

impl MessageSet {
    /// Every type.
    pub const ALL: MessageSet = MessageSet((1 << COUNT) - 1);
    /// No type.
    pub const EMPTY: MessageSet = MessageSet(0);

    /// True when `kind` is in the set.
    #[inline(always)]
    pub const fn contains(self, kind: MessageKind) -> bool {
        self.0 & (1 << kind.index()) != 0
    }

    /// The set with `kind` added.
    pub const fn with(self, kind: MessageKind) -> MessageSet {
        MessageSet(self.0 | (1 << kind.index()))
    }

    /// Types in the set, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = MessageKind> {
        MessageKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

impl FromIterator<MessageKind> for MessageSet {
    fn from_iter<I: IntoIterator<Item = MessageKind>>(iter: I) -> Self {
        iter.into_iter().fold(MessageSet::EMPTY, MessageSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::wire::FieldKind;

    #[test]
    fn every_layout_is_contiguous_and_ends_at_the_spec_length() {
        for kind in MessageKind::ALL {
            let mut next = 11;
            for f in kind.fields() {
                assert_eq!(
                    f.offset, next,
                    "{kind}: field {} starts at {}",
                    f.name, f.offset
                );
                next += f.kind.width();
            }
            assert_eq!(next, kind.len(), "{kind}: fields end at {next}");
            assert_eq!(SPEC_LEN[kind.code() as usize] as usize, kind.len());
        }
    }

    #[test]
    fn codes_names_and_lengths_match_the_spec_table() {
        let expected: [(u8, usize); COUNT] = [
            (b'S', 12),
            (b'R', 39),
            (b'H', 25),
            (b'Y', 20),
            (b'L', 26),
            (b'V', 35),
            (b'W', 12),
            (b'K', 28),
            (b'J', 35),
            (b'h', 21),
            (b'A', 36),
            (b'F', 40),
            (b'E', 31),
            (b'C', 36),
            (b'X', 23),
            (b'D', 19),
            (b'U', 35),
            (b'P', 44),
            (b'Q', 40),
            (b'B', 19),
            (b'I', 50),
            (b'N', 20),
            (b'O', 48),
        ];
        for (kind, (code, len)) in MessageKind::ALL.into_iter().zip(expected) {
            assert_eq!((kind.code(), kind.len()), (code, len), "{kind}");
            assert_eq!(MessageKind::from_code(code), Some(kind));
            assert_eq!(MessageKind::from_name(kind.name()), Some(kind));
            assert_eq!(MessageKind::parse(&(code as char).to_string()), Some(kind));
        }
        assert_eq!(SPEC_LEN.iter().filter(|&&l| l != 0).count(), COUNT);
    }

    #[test]
    fn stock_field_is_declared_where_the_spec_has_one() {
        let with_stock: Vec<&str> = MessageKind::ALL
            .into_iter()
            .filter(|k| k.fields().iter().any(|f| f.kind == FieldKind::Stock))
            .map(|k| k.name())
            .collect();
        assert_eq!(
            with_stock,
            [
                "stock_directory",
                "stock_trading_action",
                "reg_sho_restriction",
                "market_participant_position",
                "ipo_quoting_period_update",
                "luld_auction_collar",
                "operational_halt",
                "add_order",
                "add_order_mpid",
                "trade",
                "cross_trade",
                "noii",
                "rpii",
                "dlcr_price_discovery",
            ]
        );
        const { assert!(AddOrder::HAS_STOCK && !OrderExecuted::HAS_STOCK) };
    }
}
