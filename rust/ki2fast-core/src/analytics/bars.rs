//! Time bars per symbol (`detection.md` §5.2): OHLC, volume, count, VWAP, volume at the bid
//! and at the ask, aggressor and tick-rule volumes, hidden (`P`) volume, the time-weighted
//! spread, first and last trade time.
//!
//! Two parts: a [`SpreadTracker`] that integrates the spread over time while the book (or a
//! quote feed) moves, and [`bars`], which folds the trades (after breaks are known) into bars.
//! The replay feeds both during its one pass; other sources feed them from quote and trade
//! tables.

use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch};

use crate::analytics::trades::Trades;
use crate::arrow::schema::PriceRepr;
use crate::arrow::table::{TableBuilder, keys_of};

/// Time-weighted spread sums of one bar.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SpreadSum {
    /// Σ (ask − bid) · dt, in ticks · ns.
    pub spread_ns: f64,
    /// Σ (ask − bid) / mid · 10⁴ · dt.
    pub bps_ns: f64,
    /// Σ dt over which the book had both sides and ask > bid.
    pub valid_ns: u64,
}

#[derive(Debug, Clone, Copy)]
struct SpreadState {
    bucket: u64,
    last: u64,
    bid: u32,
    ask: u32,
    sum: SpreadSum,
    traded: bool,
}

const NO_BUCKET: u64 = u64::MAX;

impl Default for SpreadState {
    fn default() -> Self {
        SpreadState {
            bucket: NO_BUCKET,
            last: 0,
            bid: 0,
            ask: 0,
            sum: SpreadSum::default(),
            traded: false,
        }
    }
}

impl SpreadState {
    #[inline(always)]
    fn accumulate(&mut self, until: u64) {
        if until <= self.last {
            return;
        }
        let dt = until - self.last;
        self.last = until;
        if self.bid > 0 && self.ask > self.bid {
            let spread = f64::from(self.ask - self.bid);
            let mid = (f64::from(self.ask) + f64::from(self.bid)) / 2.0;
            let w = dt as f64;
            self.sum.spread_ns += spread * w;
            self.sum.bps_ns += spread / mid * 10_000.0 * w;
            self.sum.valid_ns += dt;
        }
    }
}

/// Integrates each symbol's spread bar by bar; keeps the sums of bars that saw a trade.
#[derive(Debug)]
pub struct SpreadTracker {
    every: u64,
    state: Vec<SpreadState>,
    records: Vec<((u16, u64), SpreadSum)>,
}

/// Spread sums by `(locate, bucket)`, sorted for lookup.
#[derive(Debug, Default)]
pub struct Spreads(Vec<((u16, u64), SpreadSum)>);

impl Spreads {
    /// The sums of one bar.
    pub fn get(&self, locate: u16, bucket: u64) -> Option<SpreadSum> {
        self.0
            .binary_search_by_key(&(locate, bucket), |r| r.0)
            .ok()
            .map(|k| self.0[k].1)
    }
}

impl SpreadTracker {
    /// Bars of `every` ns.
    pub fn new(every: u64) -> SpreadTracker {
        SpreadTracker {
            every: every.max(1),
            state: Vec::new(),
            records: Vec::new(),
        }
    }

    #[inline(always)]
    fn advance(&mut self, locate: u16, ts: u64) -> &mut SpreadState {
        let l = locate as usize;
        if l >= self.state.len() {
            self.state.resize(l + 1, SpreadState::default());
        }
        let every = self.every;
        let st = &mut self.state[l];
        let bucket = ts / every;
        if st.bucket == NO_BUCKET {
            st.bucket = bucket;
            st.last = ts;
        } else if bucket > st.bucket {
            st.accumulate((st.bucket + 1) * every);
            if st.traded {
                self.records.push(((locate, st.bucket), st.sum));
            }
            st.bucket = bucket;
            st.last = bucket * every;
            st.sum = SpreadSum::default();
            st.traded = false;
        }
        st.accumulate(ts);
        st
    }

    /// The best prices of `locate` changed at `ts` (0 = side empty).
    #[inline]
    pub fn quote(&mut self, locate: u16, ts: u64, bid: u32, ask: u32) {
        let st = self.advance(locate, ts);
        st.bid = bid;
        st.ask = ask;
    }

    /// A print of `locate` at `ts`: its bar's spread is kept.
    #[inline]
    pub fn trade(&mut self, locate: u16, ts: u64) {
        self.advance(locate, ts).traded = true;
    }

    /// Closes every open bar at its end; returns the sums by `(locate, bucket)`.
    pub fn finish(mut self) -> Spreads {
        let every = self.every;
        for (l, st) in self.state.iter_mut().enumerate() {
            if st.bucket != NO_BUCKET && st.traded {
                st.accumulate((st.bucket + 1) * every);
                self.records.push(((l as u16, st.bucket), st.sum));
            }
        }
        self.records.sort_unstable_by_key(|r| r.0);
        Spreads(self.records)
    }
}

#[derive(Debug, Default)]
struct BarColumns {
    bucket: Vec<i64>,
    locate: Vec<u16>,
    open: Vec<u32>,
    high: Vec<u32>,
    low: Vec<u32>,
    close: Vec<u32>,
    volume: Vec<u64>,
    count: Vec<u32>,
    vwap: Vec<f64>,
    askvol: Vec<u64>,
    bidvol: Vec<u64>,
    spread: Vec<f64>,
    spread_bps: Vec<f64>,
    buy_aggr: Vec<u64>,
    sell_aggr: Vec<u64>,
    tick_buy: Vec<u64>,
    tick_sell: Vec<u64>,
    hidden: Vec<u64>,
    first: Vec<i64>,
    last: Vec<i64>,
}

/// Folds the counting prints of `trades` (printable, not broken) into bars of `every` ns,
/// ordered by locate then bar start.
pub fn bars(trades: &Trades, spreads: &Spreads, every: u64) -> BarTable {
    let every = every.max(1);
    // Counting prints grouped by locate, file order kept within a locate.
    let counting = |i: usize| trades.counts(i) && trades.shares[i] > 0;
    let mut starts = vec![0u32; (1 << 16) + 1];
    for i in (0..trades.len()).filter(|&i| counting(i)) {
        starts[trades.locate[i] as usize + 1] += 1;
    }
    for l in 1..starts.len() {
        starts[l] += starts[l - 1];
    }
    let mut idx = vec![0u32; starts[1 << 16] as usize];
    for i in (0..trades.len()).filter(|&i| counting(i)) {
        let at = &mut starts[trades.locate[i] as usize];
        idx[*at as usize] = i as u32;
        *at += 1;
    }
    // Tick signs, per symbol in file order.
    let mut tick = vec![0i8; trades.len()];
    let mut prev: Option<(u16, u32, i8)> = None;
    for &i in &idx {
        let i = i as usize;
        let (l, p) = (trades.locate[i], trades.price[i]);
        let d = match prev {
            Some((pl, pp, pd)) if pl == l => match p.cmp(&pp) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => pd,
            },
            _ => 0,
        };
        tick[i] = d;
        prev = Some((l, p, d));
    }
    // Within a locate, file order is time order unless timestamps went backwards.
    let key = |i: &u32| {
        let i = *i as usize;
        (trades.locate[i], trades.timestamp[i] as u64 / every)
    };
    if !idx.is_sorted_by_key(key) {
        idx.sort_by_key(key);
    }
    let mut c = BarColumns::default();
    let mut k = 0;
    while k < idx.len() {
        let first = idx[k] as usize;
        let locate = trades.locate[first];
        let bucket = trades.timestamp[first] as u64 / every;
        let mut end = k;
        let (mut high, mut low) = (0u32, u32::MAX);
        let (mut volume, mut notional) = (0u64, 0u128);
        let (mut askvol, mut bidvol, mut buy, mut sell) = (0u64, 0u64, 0u64, 0u64);
        let (mut tick_buy, mut tick_sell, mut hidden) = (0u64, 0u64, 0u64);
        let mut last_ts = 0i64;
        let mut close = 0u32;
        while end < idx.len() {
            let i = idx[end] as usize;
            if trades.locate[i] != locate || trades.timestamp[i] as u64 / every != bucket {
                break;
            }
            let (p, q) = (trades.price[i], trades.shares[i]);
            high = high.max(p);
            low = low.min(p);
            close = p;
            last_ts = trades.timestamp[i];
            volume += q;
            notional += u128::from(q) * u128::from(p);
            let quote = trades.quote[i];
            match quote.position(p) {
                6 | 7 => askvol += q,
                1 | 2 => bidvol += q,
                _ => {}
            }
            let side = match trades.kind[i] {
                b'E' | b'C' => match trades.aggressor[i] {
                    b'B' => 1,
                    b'S' => -1,
                    _ => 0,
                },
                _ if quote.valid() => {
                    let (p2, mid2) = (
                        u64::from(p) * 2,
                        u64::from(quote.bid) + u64::from(quote.ask),
                    );
                    match p2.cmp(&mid2) {
                        std::cmp::Ordering::Greater => 1,
                        std::cmp::Ordering::Less => -1,
                        std::cmp::Ordering::Equal => tick[i],
                    }
                }
                _ => tick[i],
            };
            match side {
                1 => buy += q,
                -1 => sell += q,
                _ => {}
            }
            match tick[i] {
                1 => tick_buy += q,
                -1 => tick_sell += q,
                _ => {}
            }
            if trades.kind[i] == b'P' {
                hidden += q;
            }
            end += 1;
        }
        c.bucket.push((bucket * every) as i64);
        c.locate.push(locate);
        c.open.push(trades.price[first]);
        c.high.push(high);
        c.low.push(low);
        c.close.push(close);
        c.volume.push(volume);
        c.count.push((end - k) as u32);
        c.vwap.push(notional as f64 / volume as f64 / 10_000.0);
        c.askvol.push(askvol);
        c.bidvol.push(bidvol);
        let s = spreads.get(locate, bucket).unwrap_or_default();
        let (spread, bps) = if s.valid_ns > 0 {
            let w = s.valid_ns as f64;
            (s.spread_ns / w / 10_000.0, s.bps_ns / w)
        } else {
            (f64::NAN, f64::NAN)
        };
        c.spread.push(spread);
        c.spread_bps.push(bps);
        c.buy_aggr.push(buy);
        c.sell_aggr.push(sell);
        c.tick_buy.push(tick_buy);
        c.tick_sell.push(tick_sell);
        c.hidden.push(hidden);
        c.first.push(trades.timestamp[first]);
        c.last.push(last_ts);
        k = end;
    }
    BarTable(c)
}

/// Bars in columns, ready to become a table.
#[derive(Debug)]
pub struct BarTable(BarColumns);

impl BarTable {
    /// The bars table.
    pub fn to_batch(
        self,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> RecordBatch {
        let c = self.0;
        let mut t = TableBuilder::new();
        t.times("timestamp", "ts", c.bucket, midnight);
        t.values::<UInt16Type>("stock_locate", c.locate.clone());
        t.stock(keys_of(&c.locate, key_of_locate), dictionary);
        t.price("open", c.open, prices, None);
        t.price("high", c.high, prices, None);
        t.price("low", c.low, prices, None);
        t.price("close", c.close, prices, None);
        t.values::<UInt64Type>("volume", c.volume);
        t.values::<UInt32Type>("count", c.count);
        t.float_or_null("vwap", c.vwap);
        t.values::<UInt64Type>("askvol", c.askvol);
        t.values::<UInt64Type>("bidvol", c.bidvol);
        t.float_or_null("spread", c.spread);
        t.float_or_null("spread_bps", c.spread_bps);
        t.values::<UInt64Type>("buy_aggr_volume", c.buy_aggr);
        t.values::<UInt64Type>("sell_aggr_volume", c.sell_aggr);
        t.values::<UInt64Type>("tick_buy_volume", c.tick_buy);
        t.values::<UInt64Type>("tick_sell_volume", c.tick_sell);
        t.values::<UInt64Type>("hidden_volume", c.hidden);
        t.times("first_trade_timestamp", "first_trade_ts", c.first, midnight);
        t.times("last_trade_timestamp", "last_trade_ts", c.last, midnight);
        t.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::trades::{Print, Quote};

    const MIN: u64 = 60_000_000_000;

    #[test]
    fn spread_is_time_weighted_within_the_bar() {
        let mut s = SpreadTracker::new(MIN);
        s.quote(1, 0, 100, 110); // spread 10 for the first half
        s.quote(1, MIN / 2, 100, 130); // 30 for the second half
        s.trade(1, MIN / 2 + 1);
        s.trade(1, MIN + 5); // next bar: 30 throughout, carried over
        let r = s.finish();
        let a = r.get(1, 0).unwrap();
        assert_eq!(a.valid_ns, MIN);
        assert!((a.spread_ns / a.valid_ns as f64 - 20.0).abs() < 1e-9);
        let b = r.get(1, 1).unwrap();
        assert!((b.spread_ns / b.valid_ns as f64 - 30.0).abs() < 1e-9);
    }

    #[test]
    fn bars_fold_prints_and_skip_non_counting_ones() {
        let mut t = Trades::default();
        let q = Quote {
            bid: 100,
            bid_size: 5,
            ask: 110,
            ask_size: 5,
        };
        let mk =
            |ts: u64, kind: u8, price: u32, shares: u64, aggressor: u8, printable: bool| Print {
                timestamp: ts,
                locate: 7,
                kind,
                price,
                shares,
                aggressor,
                match_number: ts,
                printable,
                order_reference: 0,
                cross_type: 0,
                quote: q,
            };
        t.push(mk(10, b'E', 110, 100, b'B', true));
        t.push(mk(20, b'C', 999, 100, b'B', false));
        t.push(mk(30, b'P', 100, 50, 0, true));
        t.push(mk(40, b'E', 105, 10, b'S', true));
        t.push(mk(MIN + 1, b'E', 106, 1, b'B', true));
        assert_eq!(t.apply_breaks(&[40, 12345]), 1);
        let b = bars(&t, &Spreads::default(), MIN).0;
        assert_eq!(b.bucket, [0, MIN as i64]);
        assert_eq!(
            (b.open[0], b.high[0], b.low[0], b.close[0]),
            (110, 110, 100, 100)
        );
        assert_eq!((b.volume[0], b.count[0]), (150, 2));
        assert_eq!((b.askvol[0], b.bidvol[0]), (100, 50));
        // P below mid classifies as a sell by the quote rule.
        assert_eq!((b.buy_aggr[0], b.sell_aggr[0], b.hidden[0]), (100, 50, 50));
        assert_eq!((b.tick_buy[0], b.tick_sell[0]), (0, 50));
        assert!((b.vwap[0] - (110.0 * 100.0 + 100.0 * 50.0) / 150.0 / 10_000.0).abs() < 1e-12);
        // The next bar's first print ticks up from the last counted price (100).
        assert_eq!(b.tick_buy[1], 1);
        assert!(b.spread[0].is_nan());
    }
}
