//! Order events (the `order_events` table's rows, from ITCH or any source of the same
//! schema) replayed into books to drive a [`Monitor`]: the same quote, top-of-book,
//! execution and print events the fused replay gives, for tables instead of ITCH bytes.

use crate::analytics::activity::{Event, Monitor};
use crate::analytics::tops::Tops;
use crate::analytics::trades::Quote;
use crate::book::{Books, Side};

/// One order event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// A new order (`A`/`F`).
    Add {
        /// `B` or `S` (anything else is not entered into a book).
        side: u8,
        /// Limit price (1/10 000 $).
        price: u32,
        /// Shares.
        shares: u32,
    },
    /// An execution (`E`, at the resting price; or `C` with its own price).
    Execute {
        /// Shares executed.
        shares: u32,
        /// `C`'s price (None: `E`).
        price: Option<u32>,
        /// Whether it prints (`C` may not).
        printable: bool,
    },
    /// A partial cancel (`X`).
    Cancel {
        /// Shares cancelled.
        shares: u32,
    },
    /// A delete (`D`).
    Delete,
    /// A replace (`U`).
    Replace {
        /// The new reference.
        new_reference: u64,
        /// New shares.
        shares: u32,
        /// New price.
        price: u32,
    },
}

/// Books and each book's last top, for [`OrderFeed::apply`].
#[derive(Debug)]
pub struct OrderFeed {
    books: Books,
    tops: Tops<Quote>,
}

impl Default for OrderFeed {
    fn default() -> Self {
        OrderFeed {
            books: Books::new(),
            tops: Tops::new(1 << 16),
        }
    }
}

impl OrderFeed {
    /// Empty books.
    pub fn new() -> OrderFeed {
        OrderFeed::default()
    }

    /// A top-of-book change of `book`, if any, into `m`.
    fn touched(&mut self, m: &mut Monitor, book: u32, ts: u64) {
        let top = self.books.top(book);
        let q = Quote {
            bid: top.bid.map_or(0, |l| l.price),
            bid_size: top.bid.map_or(0, |l| l.shares),
            ask: top.ask.map_or(0, |l| l.price),
            ask_size: top.ask.map_or(0, |l| l.shares),
        };
        if self.tops.set(book as usize & 0xFFFF, q).is_some() {
            m.event(book as u16, ts, Event::Bbo);
        }
    }

    /// Applies one event of the stock at `locate` (the message's own) to the books and
    /// feeds `m` what it changed, as the fused replay does for the ITCH message.
    pub fn apply(&mut self, m: &mut Monitor, locate: u16, ts: u64, reference: u64, e: OrderEvent) {
        match e {
            OrderEvent::Add {
                side,
                price,
                shares,
            } => {
                if let Some(s) = Side::from_itch(side) {
                    let old = self.books.add(
                        u32::from(locate),
                        reference,
                        s,
                        price,
                        shares,
                        ts,
                        *b"    ",
                    );
                    if let Some(o) = old {
                        self.touched(m, o.book, ts);
                    }
                    self.touched(m, u32::from(locate), ts);
                }
                m.event(locate, ts, Event::Quote(b'A'));
            }
            OrderEvent::Execute {
                shares,
                price,
                printable,
            } => {
                match self.books.reduce(reference, shares) {
                    Some(r) => {
                        if printable {
                            let kind = if price.is_some() { b'C' } else { b'E' };
                            m.print(
                                r.order.book as u16,
                                ts,
                                kind,
                                u64::from(price.unwrap_or(r.order.price)),
                                u64::from(shares),
                                r.order.side.aggressor(),
                            );
                        }
                        self.touched(m, r.order.book, ts);
                    }
                    None => {
                        // A printable C prints on its own price even without its order.
                        if let (Some(p), true) = (price, printable) {
                            m.print(locate, ts, b'C', u64::from(p), u64::from(shares), 0);
                        }
                    }
                }
                m.event(locate, ts, Event::Execution);
            }
            OrderEvent::Cancel { shares } => {
                if let Some(r) = self.books.reduce(reference, shares) {
                    self.touched(m, r.order.book, ts);
                }
                m.event(locate, ts, Event::Quote(b'X'));
            }
            OrderEvent::Delete => {
                if let Some(o) = self.books.delete(reference) {
                    self.touched(m, o.book, ts);
                }
                m.event(locate, ts, Event::Quote(b'D'));
            }
            OrderEvent::Replace {
                new_reference,
                shares,
                price,
            } => {
                if let Some((old, displaced)) =
                    self.books
                        .replace(reference, new_reference, shares, price, ts)
                {
                    if let Some(d) = displaced {
                        self.touched(m, d.book, ts);
                    }
                    self.touched(m, old.book, ts);
                }
                m.event(locate, ts, Event::Quote(b'U'));
            }
        }
    }
}
