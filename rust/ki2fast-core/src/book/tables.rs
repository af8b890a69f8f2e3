//! Books seen as tables: top-N depth and the order queue of one book, and a symbol-keyed
//! wrapper that applies canonical order events from any source.

use std::collections::HashMap;

use arrow_array::types::{UInt32Type, UInt64Type};
use arrow_array::{RecordBatch, StringArray};
use std::sync::Arc;

use crate::arrow::schema::PriceRepr;
use crate::arrow::table::TableBuilder;
use crate::book::{Books, Side};

/// `side, level, price, shares, orders` for the best `levels` levels of each side.
pub fn depth_table(books: &Books, book: u32, levels: usize, prices: PriceRepr) -> RecordBatch {
    let (mut side, mut level, mut price, mut shares, mut orders) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for s in [Side::Bid, Side::Ask] {
        for (k, lv) in books.levels(book, s).take(levels).enumerate() {
            side.push(s.code());
            level.push(k as u32 + 1);
            price.push(lv.price);
            shares.push(lv.shares);
            orders.push(lv.orders);
        }
    }
    let mut t = TableBuilder::new();
    t.chars("side", &side);
    t.values::<UInt32Type>("level", level);
    t.price("price", price, prices, None);
    t.values::<UInt64Type>("shares", shares);
    t.values::<UInt32Type>("orders", orders);
    t.finish()
}

/// Every live order of a book: bids best first, then asks best first, queue order within a
/// level.
pub fn orders_table(books: &Books, book: u32, prices: PriceRepr) -> RecordBatch {
    let (mut side, mut price, mut shares, mut reference, mut ts, mut mpid, mut queue) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for s in [Side::Bid, Side::Ask] {
        let mut last_price = None;
        let mut position = 0u32;
        for o in books.orders(book, s) {
            if last_price != Some(o.price) {
                position = 0;
                last_price = Some(o.price);
            }
            position += 1;
            side.push(s.code());
            price.push(o.price);
            shares.push(u64::from(o.shares));
            reference.push(o.reference);
            ts.push(o.timestamp as i64);
            let m = String::from_utf8_lossy(&o.mpid).trim_end().to_string();
            mpid.push((!m.is_empty()).then_some(m));
            queue.push(position);
        }
    }
    let mut t = TableBuilder::new();
    t.chars("side", &side);
    t.price("price", price, prices, None);
    t.values::<UInt64Type>("shares", shares);
    t.values::<UInt64Type>("order_reference_number", reference);
    t.times("timestamp", "ts", ts, None);
    t.column("attribution", Arc::new(StringArray::from(mpid)), true);
    t.values::<UInt32Type>("queue_position", queue);
    t.finish()
}

/// One canonical order event (`schema::order_event_schema`), prices in 1/10 000 $.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A new order.
    Add {
        /// Symbol.
        stock: &'a str,
        /// Reference.
        reference: u64,
        /// Side as ITCH writes it (`B`, `S`): an add of any other side is counted in
        /// `bad_side` and enters no book, as in the replay.
        side: u8,
        /// Shares.
        shares: u32,
        /// Price.
        price: u32,
        /// Time (ns since midnight).
        timestamp: u64,
    },
    /// An execution (`E`, or `C` at its own price) or a partial cancel.
    Reduce {
        /// Reference.
        reference: u64,
        /// Shares taken.
        shares: u32,
        /// True for executions (counts over-executions), false for cancels.
        execution: bool,
    },
    /// Removal of whatever remains.
    Delete {
        /// Reference.
        reference: u64,
    },
    /// Cancel-replace.
    Replace {
        /// Original reference.
        reference: u64,
        /// New reference.
        new_reference: u64,
        /// New absolute shares.
        shares: u32,
        /// New price.
        price: u32,
        /// Time.
        timestamp: u64,
    },
}

/// Counters of applied events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyStats {
    /// Events applied.
    pub events: u64,
    /// Events naming a reference that is not live.
    pub unknown_ref: u64,
    /// Adds (or replace targets) whose reference was live.
    pub duplicate_add_ref: u64,
    /// Executions for more than the open shares.
    pub over_execution: u64,
    /// Cancels for more than the open shares.
    pub over_cancel: u64,
    /// Adds whose side is neither `B` nor `S` (not entered into a book).
    pub bad_side: u64,
}

/// Books keyed by symbol, for order events from any source.
#[derive(Debug, Default)]
pub struct SymbolBooks {
    /// The books.
    pub books: Books,
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// Counters.
    pub stats: ApplyStats,
}

impl SymbolBooks {
    /// Empty.
    pub fn new() -> SymbolBooks {
        SymbolBooks::default()
    }

    /// Wraps books whose ids are named by `names` (index = book id).
    pub fn from_books(books: Books, names: Vec<String>) -> SymbolBooks {
        let ids = names
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.is_empty())
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        SymbolBooks {
            books,
            ids,
            names,
            stats: ApplyStats::default(),
        }
    }

    /// The book id of a symbol.
    pub fn id(&self, symbol: &str) -> Option<u32> {
        self.ids.get(symbol).copied()
    }

    fn intern(&mut self, symbol: &str) -> u32 {
        if let Some(&id) = self.ids.get(symbol) {
            return id;
        }
        // Ids 0.. are taken by names given at construction; new symbols append.
        let id = self.names.len() as u32;
        self.names.push(symbol.to_string());
        self.ids.insert(symbol.to_string(), id);
        id
    }

    /// Symbols with at least one live order, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .books
            .non_empty()
            .filter_map(|b| self.names.get(b as usize).cloned())
            .filter(|n| !n.is_empty())
            .collect();
        out.sort();
        out
    }

    /// Applies one event.
    pub fn apply(&mut self, e: Event<'_>) {
        self.stats.events += 1;
        match e {
            Event::Add {
                stock,
                reference,
                side,
                shares,
                price,
                timestamp,
            } => {
                let Some(side) = Side::from_itch(side) else {
                    self.stats.bad_side += 1;
                    return;
                };
                let id = self.intern(stock);
                let old = self
                    .books
                    .add(id, reference, side, price, shares, timestamp, *b"    ");
                self.stats.duplicate_add_ref += u64::from(old.is_some());
            }
            Event::Reduce {
                reference,
                shares,
                execution,
            } => match self.books.reduce(reference, shares) {
                Some(r) if r.over && execution => self.stats.over_execution += 1,
                Some(r) if r.over => self.stats.over_cancel += 1,
                Some(_) => {}
                None => self.stats.unknown_ref += 1,
            },
            Event::Delete { reference } => {
                if self.books.delete(reference).is_none() {
                    self.stats.unknown_ref += 1;
                }
            }
            Event::Replace {
                reference,
                new_reference,
                shares,
                price,
                timestamp,
            } => match self
                .books
                .replace(reference, new_reference, shares, price, timestamp)
            {
                Some((_, displaced)) => {
                    self.stats.duplicate_add_ref += u64::from(displaced.is_some());
                }
                None => self.stats.unknown_ref += 1,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_build_symbol_books_and_tables() {
        let mut b = SymbolBooks::new();
        let add = |stock, reference, side, price| Event::Add {
            stock,
            reference,
            side,
            shares: 100,
            price,
            timestamp: 1,
        };
        b.apply(add("AAA", 1, b'B', 10_000));
        b.apply(add("AAA", 2, b'S', 10_100));
        b.apply(add("BBB", 3, b'B', 500));
        // Neither B nor S: counted, in no book (the replay's rule).
        b.apply(add("CCC", 4, b'X', 700));
        b.apply(Event::Reduce {
            reference: 1,
            shares: 30,
            execution: true,
        });
        b.apply(Event::Delete { reference: 3 });
        b.apply(Event::Delete { reference: 3 });
        assert_eq!(b.symbols(), ["AAA"]);
        assert_eq!(b.stats.unknown_ref, 1);
        assert_eq!(b.stats.bad_side, 1);
        let d = depth_table(&b.books, b.id("AAA").unwrap(), 10, PriceRepr::Int);
        assert_eq!(d.num_rows(), 2);
        let o = orders_table(&b.books, b.id("AAA").unwrap(), PriceRepr::Float);
        assert_eq!(o.num_rows(), 2);
        assert_eq!(o.schema().field(0).name(), "side");
    }
}
