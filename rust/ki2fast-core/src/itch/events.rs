//! One ordered stream of order events from the seven messages that touch the book:
//! `A`/`F` add, `E` execute, `C` execute_price, `X` cancel, `D` delete, `U` replace, in file
//! order, in the canonical `order_events` schema (`arrow::schema::order_event_schema`).
//!
//! Each row carries what its message carries and nothing invented: a delete has no shares,
//! an `E` has no price (it executes at the resting order's price, which only a book knows),
//! only adds have a side. Such cells are null, derived at finish time from the event kind.

use std::sync::Arc;

use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, BooleanArray, DictionaryArray, Int8Array, RecordBatch, StringArray, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow_buffer::{Buffer, NullBuffer, ScalarBuffer};

use crate::arrow::alloc::ColumnVec;
use crate::arrow::builders::{
    AlphaColumn, FieldColumn, FinishOptions, bits, price4_array, stock_array, text_array,
    timestamp_arrays, with_nulls,
};
use crate::arrow::schema::{ORDER_EVENT_NAMES, order_event_schema};
use crate::itch::decode::DecodeOptions;
use crate::itch::framing::{FrameChecks, FramePolicy, FrameSink};
use crate::itch::spec::{FIRST_BATCH_ROWS, Header, Message, MessageDef, Visitor};
use crate::itch::symbols::Symbols;

/// Order-event kinds (the dictionary keys of the `event` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum EventKind {
    /// `A` or `F`.
    Add = 0,
    /// `E`.
    Execute = 1,
    /// `C`.
    ExecutePrice = 2,
    /// `X`.
    Cancel = 3,
    /// `D`.
    Delete = 4,
    /// `U`.
    Replace = 5,
}

const ADD: i8 = EventKind::Add as i8;
const EXECUTE: i8 = EventKind::Execute as i8;
const EXECUTE_PRICE: i8 = EventKind::ExecutePrice as i8;
const CANCEL: i8 = EventKind::Cancel as i8;
const DELETE: i8 = EventKind::Delete as i8;
const REPLACE: i8 = EventKind::Replace as i8;

/// Columns of one batch of order events, written by row index.
#[derive(Debug)]
struct EventColumns {
    rows: usize,
    capacity: usize,
    locate: ColumnVec<u16>,
    timestamp: ColumnVec<i64>,
    stock: ColumnVec<u16>,
    event: ColumnVec<i8>,
    side: ColumnVec<u8>,
    reference: ColumnVec<u64>,
    new_reference: ColumnVec<u64>,
    shares: ColumnVec<u32>,
    price: ColumnVec<u32>,
    printable: ColumnVec<u8>,
    match_number: ColumnVec<u64>,
    attribution: AlphaColumn<4>,
    attributed: ColumnVec<u8>,
}

impl EventColumns {
    fn with_capacity(n: usize) -> EventColumns {
        EventColumns {
            rows: 0,
            capacity: n,
            locate: ColumnVec::zeroed(n),
            timestamp: ColumnVec::zeroed(n),
            stock: ColumnVec::zeroed(n),
            event: ColumnVec::zeroed(n),
            side: ColumnVec::zeroed(n),
            reference: ColumnVec::zeroed(n),
            new_reference: ColumnVec::zeroed(n),
            shares: ColumnVec::zeroed(n),
            price: ColumnVec::zeroed(n),
            printable: ColumnVec::zeroed(n),
            match_number: ColumnVec::zeroed(n),
            attribution: <AlphaColumn<4> as FieldColumn<[u8; 4]>>::with_capacity(n),
            attributed: ColumnVec::zeroed(n),
        }
    }

    /// Starts the next row: the columns every event has.
    #[inline(always)]
    fn row(&mut self, h: Header, key: u16, event: i8, reference: u64) -> usize {
        let r = self.rows;
        self.locate.set(r, h.stock_locate);
        self.timestamp.set(r, h.timestamp as i64);
        self.stock.set(r, key);
        self.event.set(r, event);
        self.reference.set(r, reference);
        self.rows = r + 1;
        r
    }

    #[inline(always)]
    fn add(&mut self, r: usize, side: u8, shares: u32, price: u32) {
        self.side.set(r, side);
        self.shares.set(r, shares);
        self.price.set(r, price);
    }

    #[inline(always)]
    fn execution(&mut self, r: usize, shares: u32, printable: u8, match_number: u64) {
        self.shares.set(r, shares);
        self.printable.set(r, printable);
        self.match_number.set(r, match_number);
    }

    fn finish(self, opts: &FinishOptions, symbols: &ArrayRef) -> Vec<ArrayRef> {
        let n = self.rows;
        let event = &self.event.as_slice()[..n];
        let valid = |pred: fn(i8) -> bool| -> Option<NullBuffer> {
            Some(NullBuffer::new(bits(n, |i| pred(event[i]))))
        };
        let new_ref_valid = valid(|e| e == REPLACE);
        let shares_valid = valid(|e| e != DELETE);
        let price_valid = valid(|e| matches!(e, ADD | EXECUTE_PRICE | REPLACE));
        let exec_valid = valid(|e| matches!(e, EXECUTE | EXECUTE_PRICE));
        let attributed = &self.attributed.as_slice()[..n];
        let attribution_valid = Some(NullBuffer::new(bits(n, |i| attributed[i] != 0)));
        let side_text = {
            // One character on adds, null elsewhere: values and offsets built directly.
            let mut values = Vec::with_capacity(n);
            let mut offsets = Vec::with_capacity(n + 1);
            offsets.push(0i32);
            for (&s, &e) in self.side.as_slice()[..n].iter().zip(event) {
                if e == ADD {
                    values.push(s);
                }
                offsets.push(values.len() as i32);
            }
            let text = text_array(Buffer::from_vec(values), ScalarBuffer::from(offsets));
            with_nulls(Arc::new(text), valid(|e| e == ADD))
        };
        let printable_flags = &self.printable.as_slice()[..n];
        let printable = bits(n, |i| printable_flags[i] == b'Y');

        let mut out: Vec<ArrayRef> =
            vec![Arc::new(UInt16Array::new(self.locate.into_buffer(n), None))];
        out.extend(timestamp_arrays(
            self.timestamp.into_buffer(n),
            opts.midnight_utc_ns,
        ));
        out.push(stock_array(self.stock.into_buffer(n), symbols));
        let names: ArrayRef = Arc::new(StringArray::from_iter_values(ORDER_EVENT_NAMES));
        let keys = Int8Array::new(self.event.into_buffer(n), None);
        out.push(Arc::new(
            DictionaryArray::<Int8Type>::try_new(keys, names).expect("event keys are 0..6"),
        ));
        out.push(side_text);
        out.push(Arc::new(UInt64Array::new(
            self.reference.into_buffer(n),
            None,
        )));
        out.push(Arc::new(UInt64Array::new(
            self.new_reference.into_buffer(n),
            new_ref_valid,
        )));
        out.push(Arc::new(UInt32Array::new(
            self.shares.into_buffer(n),
            shares_valid,
        )));
        out.push(with_nulls(
            price4_array(self.price.into_buffer(n), opts.prices),
            price_valid,
        ));
        out.push(Arc::new(BooleanArray::new(printable, exec_valid.clone())));
        out.push(Arc::new(UInt64Array::new(
            self.match_number.into_buffer(n),
            exec_valid,
        )));
        let attribution =
            <AlphaColumn<4> as FieldColumn<[u8; 4]>>::finish(self.attribution, n, opts)
                .expect("text columns always finish");
        out.push(with_nulls(attribution, attribution_valid));
        out
    }
}

/// Builds order-event batches from frames.
#[derive(Debug)]
pub struct EventSink {
    opts: DecodeOptions,
    columns: EventColumns,
    next_rows: usize,
    symbols: Symbols,
    checks: FrameChecks,
}

impl EventSink {
    /// A builder with the given options (`messages` is ignored: the seven book messages).
    pub fn new(opts: DecodeOptions) -> EventSink {
        let first = if opts.grow_batches {
            opts.batch_size.min(FIRST_BATCH_ROWS)
        } else {
            opts.batch_size
        };
        EventSink {
            columns: EventColumns::with_capacity(first),
            next_rows: first,
            symbols: Symbols::new(opts.symbols.as_deref()),
            checks: FrameChecks::default(),
            opts,
        }
    }

    /// Rows waiting.
    pub fn len(&self) -> usize {
        self.columns.rows
    }

    /// True when no row is waiting.
    pub fn is_empty(&self) -> bool {
        self.columns.rows == 0
    }

    /// Finishes the waiting rows into a batch.
    pub fn take_batch(&mut self) -> RecordBatch {
        if self.opts.grow_batches {
            self.next_rows = (self.next_rows * 2).min(self.opts.batch_size);
        }
        let columns = std::mem::replace(
            &mut self.columns,
            EventColumns::with_capacity(self.next_rows),
        );
        let symbols = self.symbols.dictionary();
        let arrays = columns.finish(&self.opts.finish_options(), &symbols);
        RecordBatch::try_new(self.schema(), arrays)
            .expect("event columns follow the order_events schema")
    }

    /// The schema of the batches.
    pub fn schema(&self) -> arrow_schema::SchemaRef {
        order_event_schema(self.opts.prices, self.opts.midnight_utc_ns.is_some())
    }

    /// The symbol dictionary so far.
    pub fn symbols_dictionary(&mut self) -> ArrayRef {
        self.symbols.dictionary()
    }

    /// Options in force.
    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }
}

impl Visitor for EventSink {
    type Output = ();

    #[inline(always)]
    fn visit<M: MessageDef>(&mut self, m: M) {
        let key = self.symbols.key_of(&m);
        let h = m.header();
        if self.symbols.filtering() && !self.symbols.allows(key, h.stock_locate) {
            return;
        }
        let c = &mut self.columns;
        match m.into_message() {
            Message::AddOrder(a) => {
                let r = c.row(h, key, ADD, a.order_reference_number);
                c.add(r, a.buy_sell_indicator, a.shares, a.price);
            }
            Message::AddOrderMpid(f) => {
                let r = c.row(h, key, ADD, f.order_reference_number);
                c.add(r, f.buy_sell_indicator, f.shares, f.price);
                c.attribution.set(r, f.attribution);
                c.attributed.set(r, 1);
            }
            Message::OrderExecuted(e) => {
                let r = c.row(h, key, EXECUTE, e.order_reference_number);
                c.execution(r, e.executed_shares, b'Y', e.match_number);
            }
            Message::OrderExecutedWithPrice(e) => {
                let r = c.row(h, key, EXECUTE_PRICE, e.order_reference_number);
                c.execution(r, e.executed_shares, e.printable, e.match_number);
                c.price.set(r, e.execution_price);
            }
            Message::OrderCancel(x) => {
                let r = c.row(h, key, CANCEL, x.order_reference_number);
                c.shares.set(r, x.cancelled_shares);
            }
            Message::OrderDelete(d) => {
                c.row(h, key, DELETE, d.order_reference_number);
            }
            Message::OrderReplace(u) => {
                let r = c.row(h, key, REPLACE, u.original_order_reference_number);
                c.new_reference.set(r, u.new_order_reference_number);
                c.shares.set(r, u.shares);
                c.price.set(r, u.price);
            }
            _ => {}
        }
    }
}

impl FrameSink for EventSink {
    fn checks(&self) -> &FrameChecks {
        &self.checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.checks
    }
    fn policy(&self) -> FramePolicy {
        self.opts.policy
    }
    #[inline(always)]
    fn has_output(&self) -> bool {
        self.columns.rows >= self.columns.capacity
    }
}
