//! Full-depth (L3) order books for every instrument of a day.
//!
//! - Orders and price levels live in two pools addressed by 32-bit handles with free lists;
//!   nothing is allocated per message once the pools have grown to the day's high-water mark.
//! - Every order holds its level's handle, and every level a FIFO queue of its orders (a
//!   doubly linked list through the order pool), so executions, cancels and deletes never
//!   search.
//! - Each side of a book is a vector of levels sorted so that the best price is at the end:
//!   bids by price, asks by inverted price. New levels almost always land near the top of the
//!   book, so inserts scan from the end.
//! - Order references map to order handles through [`index::OrderIndex`].
//!
//! Books are numbered: by stock locate for ITCH, by an interned symbol id for other sources.

pub mod index;
pub mod tables;

use crate::mem::{grow_huge, prefetch};
use index::{NONE, OrderIndex};

/// Bid or ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// Resting buy interest (`B`).
    Bid = 0,
    /// Resting sell interest (`S`).
    Ask = 1,
}

impl Side {
    /// From ITCH's Buy/Sell indicator.
    #[inline(always)]
    pub fn from_itch(b: u8) -> Option<Side> {
        match b {
            b'B' => Some(Side::Bid),
            b'S' => Some(Side::Ask),
            _ => None,
        }
    }

    /// ITCH's character for the side.
    pub fn code(self) -> u8 {
        match self {
            Side::Bid => b'B',
            Side::Ask => b'S',
        }
    }

    /// The aggressor of an execution against a resting order on this side: resting asks are
    /// lifted by buyers.
    #[inline(always)]
    pub fn aggressor(self) -> u8 {
        match self {
            Side::Bid => b'S',
            Side::Ask => b'B',
        }
    }

    #[inline(always)]
    fn key(self, price: u32) -> u32 {
        match self {
            Side::Bid => price,
            Side::Ask => !price,
        }
    }
}

/// A resting order.
#[derive(Debug, Clone, Copy)]
pub struct Order {
    /// Order reference number.
    pub reference: u64,
    /// Time it entered the book (ns since midnight).
    pub timestamp: u64,
    /// Limit price (1/10 000 $).
    pub price: u32,
    /// Shares still open.
    pub shares: u32,
    /// The book it rests in.
    pub book: u32,
    level: u32,
    prev: u32,
    next: u32,
    /// Its side.
    pub side: Side,
    /// Attribution (`F`), or four spaces.
    pub mpid: [u8; 4],
}

#[derive(Debug, Clone, Copy)]
struct Level {
    price: u32,
    orders: u32,
    shares: u64,
    head: u32,
    tail: u32,
}

/// One price level as seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelView {
    /// Price (1/10 000 $).
    pub price: u32,
    /// Total open shares.
    pub shares: u64,
    /// Number of orders.
    pub orders: u32,
}

/// Best bid and best ask of one book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Top {
    /// Best bid, if any.
    pub bid: Option<LevelView>,
    /// Best ask, if any.
    pub ask: Option<LevelView>,
}

#[derive(Debug, Clone, Copy)]
struct Rung {
    key: u32,
    level: u32,
}

#[derive(Debug, Default, Clone)]
struct Book {
    sides: [Vec<Rung>; 2],
}

#[derive(Debug)]
struct Pool<T> {
    items: Vec<T>,
    free: Vec<u32>,
}

impl<T> Pool<T> {
    fn new() -> Pool<T> {
        Pool {
            items: Vec::new(),
            free: Vec::new(),
        }
    }

    #[inline(always)]
    fn alloc(&mut self, item: T) -> u32 {
        if let Some(h) = self.free.pop() {
            self.items[h as usize] = item;
            h
        } else {
            if self.items.len() == self.items.capacity() {
                grow_huge(&mut self.items);
            }
            self.items.push(item);
            (self.items.len() - 1) as u32
        }
    }

    #[inline(always)]
    fn release(&mut self, h: u32) {
        self.free.push(h);
    }

    fn live(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

/// What an execution or cancel did to its order.
#[derive(Debug, Clone, Copy)]
pub struct Reduced {
    /// The order as it was before the reduction.
    pub order: Order,
    /// Shares asked for exceeded the open shares (clamped; the order is gone).
    pub over: bool,
    /// The order left the book.
    pub removed: bool,
    /// The order was at the head of the best level on its side (FIFO execution).
    pub at_front: bool,
}

/// Every book of a day, with one order index and one pair of pools.
#[derive(Debug)]
pub struct Books {
    index: OrderIndex,
    orders: Pool<Order>,
    levels: Pool<Level>,
    books: Vec<Book>,
}

impl Default for Books {
    fn default() -> Self {
        Books::new()
    }
}

impl Books {
    /// No books yet.
    pub fn new() -> Books {
        Books {
            index: OrderIndex::new(),
            orders: Pool::new(),
            levels: Pool::new(),
            books: Vec::new(),
        }
    }

    /// Live orders across all books.
    pub fn live_orders(&self) -> usize {
        self.orders.live()
    }

    /// Number of book slots (the highest book id seen, plus one).
    pub fn book_count(&self) -> usize {
        self.books.len()
    }

    /// The live order with this reference.
    #[inline(always)]
    pub fn order(&self, reference: u64) -> Option<&Order> {
        let h = self.index.get(reference)?;
        Some(&self.orders.items[h as usize])
    }

    /// First lookahead stage for a message about `reference`: the cache line of its index
    /// slot.
    #[inline(always)]
    pub fn prefetch_slot(&self, reference: u64) {
        self.index.prefetch(reference);
    }

    /// Second lookahead stage: the order itself (its slot should be cached by now).
    #[inline(always)]
    pub fn prefetch_order(&self, reference: u64) {
        if let Some(h) = self.index.get(reference) {
            prefetch(self.orders.items.as_ptr().wrapping_add(h as usize));
        }
    }

    /// Third lookahead stage: what removing or reducing the order touches (its level and
    /// its queue neighbours).
    #[inline(always)]
    pub fn prefetch_neighbours(&self, reference: u64) {
        if let Some(o) = self.order(reference) {
            prefetch(self.levels.items.as_ptr().wrapping_add(o.level as usize));
            prefetch(self.orders.items.as_ptr().wrapping_add(o.prev as usize));
            prefetch(self.orders.items.as_ptr().wrapping_add(o.next as usize));
        }
    }

    /// Lookahead for an add: the top of the side's ladder, where the scan starts.
    #[inline(always)]
    pub fn prefetch_ladder(&self, book: u32, side: Side) {
        if let Some(b) = self.books.get(book as usize) {
            let rungs = &b.sides[side as usize];
            prefetch(rungs.as_ptr().wrapping_add(rungs.len().saturating_sub(1)));
        }
    }

    /// Adds an order at the back of its level's queue. A reference that is already live is
    /// first removed from its level; its old state is returned.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        book: u32,
        reference: u64,
        side: Side,
        price: u32,
        shares: u32,
        timestamp: u64,
        mpid: [u8; 4],
    ) -> Option<Order> {
        if book as usize >= self.books.len() {
            self.books.resize_with(book as usize + 1, Book::default);
        }
        let level = self.level_for(book, side, price);
        let h = self.orders.alloc(Order {
            reference,
            timestamp,
            price,
            shares,
            book,
            level,
            prev: NONE,
            next: NONE,
            side,
            mpid,
        });
        let lv = &mut self.levels.items[level as usize];
        let tail = lv.tail;
        lv.tail = h;
        lv.orders += 1;
        lv.shares += u64::from(shares);
        if tail == NONE {
            lv.head = h;
        } else {
            self.orders.items[h as usize].prev = tail;
            self.orders.items[tail as usize].next = h;
        }
        // A reference that is already live is replaced: one index probe does both.
        let old = self.index.insert(reference, h)?;
        let previous = self.orders.items[old as usize];
        self.unlink(old);
        Some(previous)
    }

    /// The level at `price` on `side` of `book`, created if absent.
    #[inline(always)]
    fn level_for(&mut self, book: u32, side: Side, price: u32) -> u32 {
        let key = side.key(price);
        let rungs = &mut self.books[book as usize].sides[side as usize];
        let mut i = rungs.len();
        while i > 0 {
            let r = rungs[i - 1];
            if r.key == key {
                return r.level;
            }
            if r.key < key {
                break;
            }
            i -= 1;
        }
        let level = self.levels.alloc(Level {
            price,
            orders: 0,
            shares: 0,
            head: NONE,
            tail: NONE,
        });
        rungs.insert(i, Rung { key, level });
        level
    }

    /// Takes up to `shares` from an order (execution or cancel); removes it at zero.
    #[inline(always)]
    pub fn reduce(&mut self, reference: u64, shares: u32) -> Option<Reduced> {
        let h = self.index.get(reference)?;
        let o = self.orders.items[h as usize];
        let at_front = {
            let lv = &self.levels.items[o.level as usize];
            let best = self.books[o.book as usize].sides[o.side as usize]
                .last()
                .map(|r| r.level);
            lv.head == h && best == Some(o.level)
        };
        let over = shares > o.shares;
        let taken = shares.min(o.shares);
        let removed = taken == o.shares;
        if removed {
            self.unlink(h);
            self.index.remove(reference);
        } else {
            self.orders.items[h as usize].shares -= taken;
            self.levels.items[o.level as usize].shares -= u64::from(taken);
        }
        Some(Reduced {
            order: o,
            over,
            removed,
            at_front,
        })
    }

    /// Removes an order whatever remains of it; returns it as it was.
    #[inline(always)]
    pub fn delete(&mut self, reference: u64) -> Option<Order> {
        let h = self.index.remove(reference)?;
        let o = self.orders.items[h as usize];
        self.unlink(h);
        Some(o)
    }

    /// `U`: removes the original and adds the new reference with the original's book, side
    /// and attribution, the new absolute shares and price, at the back of the queue. Returns
    /// the original, or `None` (and changes nothing) when it is not live. The second value is
    /// the live order the new reference displaced, if any.
    #[inline]
    pub fn replace(
        &mut self,
        original: u64,
        new_reference: u64,
        shares: u32,
        price: u32,
        timestamp: u64,
    ) -> Option<(Order, Option<Order>)> {
        let old = self.delete(original)?;
        let displaced = self.add(
            old.book,
            new_reference,
            old.side,
            price,
            shares,
            timestamp,
            old.mpid,
        );
        Some((old, displaced))
    }

    #[inline(always)]
    fn unlink(&mut self, h: u32) {
        let o = self.orders.items[h as usize];
        if o.prev != NONE {
            self.orders.items[o.prev as usize].next = o.next;
        }
        if o.next != NONE {
            self.orders.items[o.next as usize].prev = o.prev;
        }
        let lv = &mut self.levels.items[o.level as usize];
        if lv.head == h {
            lv.head = o.next;
        }
        if lv.tail == h {
            lv.tail = o.prev;
        }
        lv.orders -= 1;
        lv.shares -= u64::from(o.shares);
        if lv.orders == 0 {
            let price = lv.price;
            self.drop_level(o.book, o.side, o.level, price);
        }
        self.orders.release(h);
    }

    fn drop_level(&mut self, book: u32, side: Side, level: u32, price: u32) {
        let key = side.key(price);
        let rungs = &mut self.books[book as usize].sides[side as usize];
        // Levels empty near the top of the book: search from the end.
        if let Some(i) = rungs.iter().rposition(|r| r.key == key) {
            debug_assert_eq!(rungs[i].level, level);
            rungs.remove(i);
        }
        self.levels.release(level);
    }

    #[inline(always)]
    fn view(&self, level: u32) -> LevelView {
        let lv = &self.levels.items[level as usize];
        LevelView {
            price: lv.price,
            shares: lv.shares,
            orders: lv.orders,
        }
    }

    /// Best bid and ask of a book.
    #[inline(always)]
    pub fn top(&self, book: u32) -> Top {
        let Some(b) = self.books.get(book as usize) else {
            return Top::default();
        };
        Top {
            bid: b.sides[0].last().map(|r| self.view(r.level)),
            ask: b.sides[1].last().map(|r| self.view(r.level)),
        }
    }

    /// Best prices only (0 when a side is empty).
    #[inline(always)]
    pub fn best_prices(&self, book: u32) -> (u32, u32) {
        match self.books.get(book as usize) {
            Some(b) => (
                b.sides[0]
                    .last()
                    .map_or(0, |r| self.levels.items[r.level as usize].price),
                b.sides[1]
                    .last()
                    .map_or(0, |r| self.levels.items[r.level as usize].price),
            ),
            None => (0, 0),
        }
    }

    /// Levels of one side, best first.
    pub fn levels(&self, book: u32, side: Side) -> impl Iterator<Item = LevelView> + '_ {
        self.books
            .get(book as usize)
            .map(|b| b.sides[side as usize].as_slice())
            .unwrap_or(&[])
            .iter()
            .rev()
            .map(|r| self.view(r.level))
    }

    /// Orders of one side, best level first and in queue (time priority) order within a level.
    pub fn orders(&self, book: u32, side: Side) -> impl Iterator<Item = &Order> + '_ {
        self.books
            .get(book as usize)
            .map(|b| b.sides[side as usize].as_slice())
            .unwrap_or(&[])
            .iter()
            .rev()
            .flat_map(move |r| {
                let mut h = self.levels.items[r.level as usize].head;
                std::iter::from_fn(move || {
                    (h != NONE).then(|| {
                        let o = &self.orders.items[h as usize];
                        h = o.next;
                        o
                    })
                })
            })
    }

    /// Live orders of one book.
    pub fn order_count(&self, book: u32) -> u64 {
        self.books.get(book as usize).map_or(0, |b| {
            b.sides
                .iter()
                .flatten()
                .map(|r| u64::from(self.levels.items[r.level as usize].orders))
                .sum()
        })
    }

    /// Moves in every live order of `other` (books it holds, these may not), level by level
    /// in queue order. Returns how many of its references were live here already: those
    /// replace the earlier order, as an add does.
    pub fn absorb(&mut self, other: &Books) -> usize {
        let mut clashes = 0;
        for book in other.non_empty() {
            for side in [Side::Bid, Side::Ask] {
                for o in other.orders(book, side) {
                    let old = self.add(
                        book,
                        o.reference,
                        side,
                        o.price,
                        o.shares,
                        o.timestamp,
                        o.mpid,
                    );
                    clashes += usize::from(old.is_some());
                }
            }
        }
        clashes
    }

    /// Books that hold at least one order, in id order.
    pub fn non_empty(&self) -> impl Iterator<Item = u32> + '_ {
        self.books
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.sides[0].is_empty() || !b.sides[1].is_empty())
            .map(|(i, _)| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: [u8; 4] = *b"    ";

    #[test]
    fn fifo_levels_and_top_of_book() {
        let mut b = Books::new();
        b.add(1, 10, Side::Bid, 100, 5, 1, M);
        b.add(1, 11, Side::Bid, 101, 7, 2, M);
        b.add(1, 12, Side::Bid, 100, 3, 3, M);
        b.add(1, 13, Side::Ask, 105, 4, 4, M);
        b.add(1, 14, Side::Ask, 103, 2, 5, M);
        let top = b.top(1);
        assert_eq!(top.bid.unwrap().price, 101);
        assert_eq!(top.ask.unwrap().price, 103);
        let bids: Vec<_> = b.levels(1, Side::Bid).collect();
        assert_eq!(
            bids,
            [
                LevelView {
                    price: 101,
                    shares: 7,
                    orders: 1
                },
                LevelView {
                    price: 100,
                    shares: 8,
                    orders: 2
                }
            ]
        );
        let queue: Vec<u64> = b.orders(1, Side::Bid).map(|o| o.reference).collect();
        assert_eq!(queue, [11, 10, 12]);
        // Execution at the head of the best level is FIFO; at the second order it is not.
        let r = b.reduce(11, 7).unwrap();
        assert!(r.removed && r.at_front && !r.over);
        let r = b.reduce(12, 1).unwrap();
        assert!(!r.removed && !r.at_front);
        assert_eq!(b.levels(1, Side::Bid).next().unwrap().shares, 7);
        // Over-execution clamps and removes.
        let r = b.reduce(12, 9).unwrap();
        assert!(r.over && r.removed);
        assert_eq!(b.order(12).map(|o| o.shares), None);
        // Replace keeps side and book, loses priority.
        let (old, displaced) = b.replace(10, 20, 9, 104, 6).unwrap();
        assert_eq!((old.price, old.shares), (100, 5));
        assert!(displaced.is_none());
        assert_eq!(b.top(1).bid.unwrap().price, 104);
        assert_eq!(b.order(20).unwrap().side, Side::Bid);
        assert!(b.replace(10, 21, 1, 1, 7).is_none());
        assert_eq!(b.delete(13).unwrap().shares, 4);
        assert_eq!(b.live_orders(), 2);
        assert_eq!(b.order_count(1), 2);
        assert_eq!(b.non_empty().collect::<Vec<_>>(), [1]);
    }

    #[test]
    fn duplicate_reference_replaces_the_live_order() {
        let mut b = Books::new();
        b.add(2, 1, Side::Ask, 50, 10, 1, M);
        let old = b.add(3, 1, Side::Bid, 40, 20, 2, M).unwrap();
        assert_eq!((old.book, old.shares), (2, 10));
        assert_eq!(b.top(2), Top::default());
        assert_eq!(b.live_orders(), 1);
    }
}
