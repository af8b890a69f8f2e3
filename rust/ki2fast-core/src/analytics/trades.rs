//! The trades table: every execution and print in file order, with its exact aggressor
//! where ITCH gives one and the Nasdaq best bid/offer just before it.

use std::sync::Arc;

use arrow_array::types::UInt64Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::NullBuffer;

use crate::analytics::interleave;
use crate::arrow::builders::bits;
use crate::arrow::schema::PriceRepr;
use crate::arrow::table::TableBuilder;
use crate::mem::push_huge;
use crate::par::join;

/// Top of book before a print: prices 0 when a side is empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quote {
    /// Best bid (1/10 000 $), 0 if none.
    pub bid: u32,
    /// Shares at the best bid.
    pub bid_size: u64,
    /// Best ask, 0 if none.
    pub ask: u32,
    /// Shares at the best ask.
    pub ask_size: u64,
}

impl Quote {
    /// Both sides present and not locked or crossed.
    #[inline(always)]
    pub fn valid(&self) -> bool {
        valid(self.bid.into(), self.ask.into())
    }

    /// Trade position code 0–7 of a print at `price` (`docs/detection.md` §5.2).
    #[inline]
    pub fn position(&self, price: u32) -> u8 {
        position(self.bid.into(), self.ask.into(), price.into())
    }
}

/// A best bid and ask (0 = side empty) that are both present and not locked or crossed.
#[inline(always)]
pub fn valid(bid: u64, ask: u64) -> bool {
    bid > 0 && ask > bid
}

/// Trade position code 0–7 of a print at `price` against `bid` / `ask` (0 = side empty), in
/// any one price unit (`docs/detection.md` §5.2): 0 no valid quote, 1 below the bid, 2 at
/// the bid, 3 between the bid and the mid, 4 at the mid, 5 between the mid and the ask, 6 at
/// the ask, 7 above it.
#[inline]
pub fn position(bid: u64, ask: u64, price: u64) -> u8 {
    if !valid(bid, ask) {
        return 0;
    }
    // Twice the price against bid + ask: exact, no rounding of the mid (prices stay far
    // below 2⁶³).
    let (p2, mid2) = (u128::from(price) * 2, u128::from(bid) + u128::from(ask));
    match price {
        p if p < bid => 1,
        p if p == bid => 2,
        p if p > ask => 7,
        p if p == ask => 6,
        _ if p2 < mid2 => 3,
        _ if p2 == mid2 => 4,
        _ => 5,
    }
}

/// The most shares one print counts in volume: the width of every share field in ITCH but
/// the cross's (4 bytes). A cross (`Q`, an 8-byte field) beyond it is more than any
/// company's float, so it is absurd: kept in the trades table, but not printable, and
/// counted (`absurd_prints`), so that no sum of volume can wrap.
pub const MAX_PRINT_SHARES: u64 = u32::MAX as u64;

/// One print as the replay records it.
#[derive(Debug, Clone, Copy)]
pub struct Print {
    /// ns since midnight.
    pub timestamp: u64,
    /// Book (stock locate).
    pub locate: u16,
    /// `E`, `C`, `P` or `Q`.
    pub kind: u8,
    /// Price (1/10 000 $).
    pub price: u32,
    /// Shares.
    pub shares: u64,
    /// `B` buyer-initiated, `S` seller-initiated, 0 unknown.
    pub aggressor: u8,
    /// Match number.
    pub match_number: u64,
    /// Counts in volume (non-printable `C` do not).
    pub printable: bool,
    /// The resting order (`E`, `C`), 0 otherwise.
    pub order_reference: u64,
    /// Cross type of a `Q`, 0 otherwise.
    pub cross_type: u8,
    /// Nasdaq BBO before the print.
    pub quote: Quote,
}

/// Trades in columns.
#[derive(Debug, Default)]
pub struct Trades {
    /// ns since midnight.
    pub timestamp: Vec<i64>,
    /// Stock locate.
    pub locate: Vec<u16>,
    /// Kind.
    pub kind: Vec<u8>,
    /// Price.
    pub price: Vec<u32>,
    /// Shares.
    pub shares: Vec<u64>,
    /// Aggressor.
    pub aggressor: Vec<u8>,
    /// Match number.
    pub match_number: Vec<u64>,
    /// Printable.
    pub printable: Vec<bool>,
    /// Order reference.
    pub order_reference: Vec<u64>,
    /// Cross type.
    pub cross_type: Vec<u8>,
    /// BBO before.
    pub quote: Quotes,
    /// Voided by a later `B`.
    pub broken: Vec<bool>,
}

impl Trades {
    /// Appends one print.
    #[inline]
    pub fn push(&mut self, p: Print) {
        push_huge(&mut self.timestamp, p.timestamp as i64);
        push_huge(&mut self.locate, p.locate);
        push_huge(&mut self.kind, p.kind);
        push_huge(&mut self.price, p.price);
        push_huge(&mut self.shares, p.shares);
        push_huge(&mut self.aggressor, p.aggressor);
        push_huge(&mut self.match_number, p.match_number);
        push_huge(&mut self.printable, p.printable);
        push_huge(&mut self.order_reference, p.order_reference);
        push_huge(&mut self.cross_type, p.cross_type);
        self.quote.push(p.quote);
        push_huge(&mut self.broken, false);
    }

    /// Row `i` as a print.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Print {
        Print {
            timestamp: self.timestamp[i] as u64,
            locate: self.locate[i],
            kind: self.kind[i],
            price: self.price[i],
            shares: self.shares[i],
            aggressor: self.aggressor[i],
            match_number: self.match_number[i],
            printable: self.printable[i],
            order_reference: self.order_reference[i],
            cross_type: self.cross_type[i],
            quote: self.quote.get(i),
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// Merges `other`'s rows into these, as `order` says
    /// ([`crate::analytics::merge_order`]).
    pub fn interleave(self, other: Trades, order: &[u32]) -> Trades {
        // The quote columns (a third of the bytes) merge in a second thread.
        let (quote, other_quote) = (self.quote, other.quote);
        std::thread::scope(|scope| {
            let quote = scope.spawn(move || quote.interleave(other_quote, order));
            let rest = Trades {
                timestamp: interleave(self.timestamp, other.timestamp, order),
                locate: interleave(self.locate, other.locate, order),
                kind: interleave(self.kind, other.kind, order),
                price: interleave(self.price, other.price, order),
                shares: interleave(self.shares, other.shares, order),
                aggressor: interleave(self.aggressor, other.aggressor, order),
                match_number: interleave(self.match_number, other.match_number, order),
                printable: interleave(self.printable, other.printable, order),
                order_reference: interleave(self.order_reference, other.order_reference, order),
                cross_type: interleave(self.cross_type, other.cross_type, order),
                quote: Quotes::default(),
                broken: interleave(self.broken, other.broken, order),
            };
            Trades {
                quote: join(quote),
                ..rest
            }
        })
    }

    /// Marks the prints of broken match numbers; returns how many breaks matched no print.
    pub fn apply_breaks(&mut self, breaks: &[u64]) -> u64 {
        let wanted = break_list(breaks.to_vec());
        self.mark_broken(&wanted).iter().filter(|&&s| !s).count() as u64
    }

    /// Marks the prints of the match numbers in `wanted` (a [`break_list`]) as broken;
    /// returns, for each of them, whether it matched a print here.
    pub fn mark_broken(&mut self, wanted: &[u64]) -> Vec<bool> {
        let mut seen = vec![false; wanted.len()];
        if wanted.is_empty() {
            return seen;
        }
        for (i, m) in self.match_number.iter().enumerate() {
            if let Ok(k) = wanted.binary_search(m) {
                self.broken[i] = true;
                seen[k] = true;
            }
        }
        seen
    }

    /// True when row `i` counts in volume, VWAP and bars.
    #[inline(always)]
    pub fn counts(&self, i: usize) -> bool {
        self.printable[i] && !self.broken[i]
    }

    /// The trades table (canonical trades schema plus ITCH detail).
    pub fn to_batch(
        self,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> RecordBatch {
        let position: Vec<u8> = (0..self.len())
            .map(|i| self.quote.get(i).position(self.price[i]))
            .collect();
        let is_execution =
            NullBuffer::new(bits(self.len(), |i| matches!(self.kind[i], b'E' | b'C')));
        let mut t = TableBuilder::new();
        t.located(
            self.timestamp,
            self.locate,
            key_of_locate,
            dictionary,
            midnight,
        );
        t.price("price", self.price, prices, None);
        t.values::<UInt64Type>("shares", self.shares);
        t.chars("aggressor", &self.aggressor);
        t.chars("kind", &self.kind);
        t.values::<UInt64Type>("match_number", self.match_number);
        t.flags("printable", self.printable);
        t.flags("broken", self.broken);
        t.values_or_null::<UInt64Type>(
            "order_reference_number",
            self.order_reference,
            is_execution,
        );
        t.chars("cross_type", &self.cross_type);
        self.quote.into_columns(&mut t, prices);
        t.column(
            "position",
            Arc::new(arrow_array::UInt8Array::from(position)),
            false,
        );
        t.finish()
    }
}

/// Match numbers of broken trades as [`Trades::mark_broken`] takes them: ascending, without
/// repeats.
pub fn break_list(mut breaks: Vec<u64>) -> Vec<u64> {
    breaks.sort_unstable();
    breaks.dedup();
    breaks
}

/// Best bid and offer per row, one vector per field, so that each becomes its Arrow column
/// by moving, not copying.
#[derive(Debug, Default)]
pub struct Quotes {
    bid: Vec<u32>,
    bid_size: Vec<u64>,
    ask: Vec<u32>,
    ask_size: Vec<u64>,
}

impl Quotes {
    /// Appends one quote.
    #[inline(always)]
    pub fn push(&mut self, q: Quote) {
        push_huge(&mut self.bid, q.bid);
        push_huge(&mut self.bid_size, q.bid_size);
        push_huge(&mut self.ask, q.ask);
        push_huge(&mut self.ask_size, q.ask_size);
    }

    /// Row `i`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Quote {
        Quote {
            bid: self.bid[i],
            bid_size: self.bid_size[i],
            ask: self.ask[i],
            ask_size: self.ask_size[i],
        }
    }

    /// Merges `other`'s rows into these ([`Trades::interleave`]).
    pub fn interleave(self, other: Quotes, order: &[u32]) -> Quotes {
        Quotes {
            bid: interleave(self.bid, other.bid, order),
            bid_size: interleave(self.bid_size, other.bid_size, order),
            ask: interleave(self.ask, other.ask, order),
            ask_size: interleave(self.ask_size, other.ask_size, order),
        }
    }

    /// `bid, bid_size, ask, ask_size` columns, null where a side was empty.
    pub fn into_columns(self, t: &mut TableBuilder, prices: PriceRepr) {
        for (name, price, size) in [
            ("bid", self.bid, self.bid_size),
            ("ask", self.ask, self.ask_size),
        ] {
            let valid = NullBuffer::new(bits(price.len(), |i| price[i] > 0));
            t.price(name, price, prices, Some(valid.clone()));
            t.values_or_null::<UInt64Type>(&format!("{name}_size"), size, valid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_codes_follow_the_bbo() {
        let q = Quote {
            bid: 100,
            bid_size: 1,
            ask: 110,
            ask_size: 1,
        };
        let codes: Vec<u8> = [99, 100, 101, 105, 109, 110, 111]
            .iter()
            .map(|&p| q.position(p))
            .collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
        let locked = Quote { ask: 100, ..q };
        assert_eq!(locked.position(100), 0);
        assert_eq!(Quote::default().position(5), 0);
    }
}

/// Bytes of one print in a [`TradeSpill`].
const SPILL_RECORD: usize = 44;

/// The prints a streaming replay has already written out, kept on disk for the end of the
/// day: a break can void a print hours after it, and the bars of its symbol are folded again
/// from that print on. Fixed-size records in file order (what the bars fold reads: time,
/// symbol, kind, price, shares, aggressor, match number, printable, the quote's prices), in a
/// file the replay removes when it is dropped. The disk holds them, not memory: 44 bytes per
/// print, read back one at a time.
#[derive(Debug)]
pub struct TradeSpill {
    path: std::path::PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
    rows: u64,
}

impl TradeSpill {
    /// A new spill file at `path` (replaced if it exists).
    pub fn create(path: std::path::PathBuf) -> std::io::Result<TradeSpill> {
        let file = std::fs::File::create(&path)?;
        Ok(TradeSpill {
            path,
            out: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            rows: 0,
        })
    }

    /// Appends every print of `t`.
    pub fn append(&mut self, t: &Trades) -> std::io::Result<()> {
        use std::io::Write;
        let Some(out) = self.out.as_mut() else {
            return Err(std::io::Error::other("the trade spill is closed"));
        };
        let mut rec = [0u8; SPILL_RECORD];
        for i in 0..t.len() {
            let q = t.quote.get(i);
            rec[0..8].copy_from_slice(&t.timestamp[i].to_le_bytes());
            rec[8..16].copy_from_slice(&t.shares[i].to_le_bytes());
            rec[16..24].copy_from_slice(&t.match_number[i].to_le_bytes());
            rec[24..28].copy_from_slice(&t.price[i].to_le_bytes());
            rec[28..32].copy_from_slice(&q.bid.to_le_bytes());
            rec[32..36].copy_from_slice(&q.ask.to_le_bytes());
            rec[36..38].copy_from_slice(&t.locate[i].to_le_bytes());
            rec[38] = t.kind[i];
            rec[39] = t.aggressor[i];
            rec[40] = u8::from(t.printable[i]);
            out.write_all(&rec)?;
        }
        self.rows += t.len() as u64;
        Ok(())
    }

    /// Writes out what is buffered (before [`TradeSpill::scan`]).
    pub fn flush(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    /// Reads the prints back in file order, one at a time (quote sizes, order references
    /// and cross types are not kept: 0). Call [`TradeSpill::flush`] first.
    pub fn scan(&self, mut each: impl FnMut(&Print)) -> std::io::Result<()> {
        use std::io::Read;
        let file = std::fs::File::open(&self.path)?;
        let mut input = std::io::BufReader::with_capacity(1 << 20, file);
        let mut rec = [0u8; SPILL_RECORD];
        let u64_at =
            |r: &[u8], at: usize| u64::from_le_bytes(r[at..at + 8].try_into().unwrap_or_default());
        let u32_at =
            |r: &[u8], at: usize| u32::from_le_bytes(r[at..at + 4].try_into().unwrap_or_default());
        for _ in 0..self.rows {
            input.read_exact(&mut rec)?;
            each(&Print {
                timestamp: u64_at(&rec, 0),
                locate: u16::from_le_bytes([rec[36], rec[37]]),
                kind: rec[38],
                price: u32_at(&rec, 24),
                shares: u64_at(&rec, 8),
                aggressor: rec[39],
                match_number: u64_at(&rec, 16),
                printable: rec[40] != 0,
                order_reference: 0,
                cross_type: 0,
                quote: Quote {
                    bid: u32_at(&rec, 28),
                    ask: u32_at(&rec, 32),
                    ..Quote::default()
                },
            });
        }
        Ok(())
    }
}

impl Drop for TradeSpill {
    fn drop(&mut self) {
        self.out = None;
        let _ = std::fs::remove_file(&self.path);
    }
}
