//! Time bars per symbol (`docs/detection.md` §5.2): OHLC, volume, count, VWAP, volume at the bid
//! and at the ask, aggressor and tick-rule volumes, hidden (`P`) volume, the time-weighted
//! spread, first and last trade time.
//!
//! [`BarBuilder`] builds them online while a replay (or a quote and trade feed) runs: each
//! symbol holds its open bar, which integrates the spread over time as the top of book moves
//! and folds prints in as they come, and is written out when the symbol's next event falls
//! in a later bar. Nothing is gathered at the end. Two things only the end of the day knows
//! are repaired then, symbol by symbol, by folding the recorded prints again:
//! prints voided by a later `B`, and prints stamped before an earlier bar of their symbol.
//!
//! Prices are 1/10 000 $ in 64 bits: ITCH's 32-bit prices widen into them, and the quotes
//! and trades of other feeds ([`BarBuilder::sale`]) may go beyond $429 496 (BRK.A).

use std::cmp::Ordering;

use std::sync::Arc;

use arrow_array::types::{Int64Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, Float64Array, RecordBatch};

use crate::analytics::trades::{Print, Trades, position, valid};
use crate::analytics::{gather, interleave, merge_order};
use crate::arrow::schema::PriceRepr;
use crate::arrow::table::TableBuilder;
use crate::mem::push_huge;

/// Time-weighted spread sums of one bar.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct SpreadSum {
    /// Σ (ask − bid) · dt, in ticks · ns.
    spread_ns: f64,
    /// Σ (ask − bid) / mid · 10⁴ · dt.
    bps_ns: f64,
    /// Σ dt over which the book had both sides and ask > bid.
    valid_ns: u64,
}

impl SpreadSum {
    /// `(average spread in dollars, average spread in bps)`, NaN when never valid.
    fn averages(&self) -> (f64, f64) {
        if self.valid_ns > 0 {
            let w = self.valid_ns as f64;
            (self.spread_ns / w / 10_000.0, self.bps_ns / w)
        } else {
            (f64::NAN, f64::NAN)
        }
    }
}

/// One print as bars count it, from any feed: prices in 1/10 000 $.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sale {
    /// ns (since midnight for ITCH; any one clock for other feeds).
    pub timestamp: u64,
    /// The symbol's index.
    pub locate: u16,
    /// `E`, `C`, `P`, `Q` for ITCH; anything else for a print of unknown kind.
    pub kind: u8,
    /// `B` buyer-initiated, `S` seller-initiated, 0 unknown (taken for `E` and `C` only).
    pub aggressor: u8,
    /// Price.
    pub price: u64,
    /// Shares.
    pub shares: u64,
    /// Best bid just before the print (0 = none).
    pub bid: u64,
    /// Best ask just before the print (0 = none).
    pub ask: u64,
}

impl From<&Print> for Sale {
    #[inline(always)]
    fn from(p: &Print) -> Sale {
        Sale {
            timestamp: p.timestamp,
            locate: p.locate,
            kind: p.kind,
            aggressor: p.aggressor,
            price: p.price.into(),
            shares: p.shares,
            bid: p.quote.bid.into(),
            ask: p.quote.ask.into(),
        }
    }
}

/// The prints of one bar so far.
#[derive(Debug, Clone, Copy)]
struct Fold {
    count: u32,
    open: u64,
    high: u64,
    low: u64,
    close: u64,
    volume: u64,
    notional: u128,
    askvol: u64,
    bidvol: u64,
    buy: u64,
    sell: u64,
    tick_buy: u64,
    tick_sell: u64,
    hidden: u64,
    first: i64,
    last: i64,
}

impl Default for Fold {
    fn default() -> Self {
        Fold {
            count: 0,
            open: 0,
            high: 0,
            low: u64::MAX,
            close: 0,
            volume: 0,
            notional: 0,
            askvol: 0,
            bidvol: 0,
            buy: 0,
            sell: 0,
            tick_buy: 0,
            tick_sell: 0,
            hidden: 0,
            first: 0,
            last: 0,
        }
    }
}

/// The tick rule's memory: the last counted price of a symbol and its sign.
#[derive(Debug, Clone, Copy, Default)]
struct Tick {
    price: u64,
    sign: i8,
}

impl Tick {
    /// The sign of a print at `price`, remembered for the next one.
    #[inline(always)]
    fn sign(&mut self, price: u64) -> i8 {
        let d = if self.price == 0 {
            0
        } else {
            match price.cmp(&self.price) {
                Ordering::Greater => 1,
                Ordering::Less => -1,
                Ordering::Equal => self.sign,
            }
        };
        *self = Tick { price, sign: d };
        d
    }
}

impl Fold {
    /// Adds one counting print (printable, not voided, shares > 0) with its tick-rule sign.
    #[inline(always)]
    fn add(&mut self, p: &Sale, tick: i8) {
        let (ts, kind, aggressor, price, q) =
            (p.timestamp as i64, p.kind, p.aggressor, p.price, p.shares);
        if self.count == 0 {
            self.open = price;
            self.first = ts;
        }
        self.count += 1;
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        self.last = ts;
        self.volume += q;
        self.notional += u128::from(q) * u128::from(price);
        match position(p.bid, p.ask, price) {
            6 | 7 => self.askvol += q,
            1 | 2 => self.bidvol += q,
            _ => {}
        }
        // Exact for executions; the quote rule, then the tick rule, for P and Q.
        let side = match kind {
            b'E' | b'C' => match aggressor {
                b'B' => 1,
                b'S' => -1,
                _ => 0,
            },
            _ if valid(p.bid, p.ask) => {
                let mid2 = u128::from(p.bid) + u128::from(p.ask);
                match (u128::from(price) * 2).cmp(&mid2) {
                    Ordering::Greater => 1,
                    Ordering::Less => -1,
                    Ordering::Equal => tick,
                }
            }
            _ => tick,
        };
        match side {
            1 => self.buy += q,
            -1 => self.sell += q,
            _ => {}
        }
        match tick {
            1 => self.tick_buy += q,
            -1 => self.tick_sell += q,
            _ => {}
        }
        if kind == b'P' {
            self.hidden += q;
        }
    }
}

const NO_BUCKET: u64 = u64::MAX;

/// One symbol's open bar.
#[derive(Debug, Clone, Copy)]
struct BarState {
    bucket: u64,
    last: u64,
    bid: u64,
    ask: u64,
    spread: SpreadSum,
    fold: Fold,
    tick: Tick,
    /// A print arrived stamped in an earlier bar than one already open.
    disordered: bool,
}

impl Default for BarState {
    fn default() -> Self {
        BarState {
            bucket: NO_BUCKET,
            last: 0,
            bid: 0,
            ask: 0,
            spread: SpreadSum::default(),
            fold: Fold::default(),
            tick: Tick::default(),
            disordered: false,
        }
    }
}

impl BarState {
    /// Integrates the current spread up to `until`.
    #[inline(always)]
    fn accumulate(&mut self, until: u64) {
        if until <= self.last {
            return;
        }
        let dt = until - self.last;
        self.last = until;
        if valid(self.bid, self.ask) {
            let spread = (self.ask - self.bid) as f64;
            let mid = (self.ask as f64 + self.bid as f64) / 2.0;
            let w = dt as f64;
            self.spread.spread_ns += spread * w;
            self.spread.bps_ns += spread / mid * 10_000.0 * w;
            self.spread.valid_ns += dt;
        }
    }
}

/// Builds bars online from top-of-book changes and prints, in time order per symbol.
#[derive(Debug)]
pub struct BarBuilder {
    every: u64,
    state: Vec<BarState>,
    rows: BarColumns,
}

impl BarBuilder {
    /// Bars of `every` ns.
    pub fn new(every: u64) -> BarBuilder {
        BarBuilder {
            every: every.max(1),
            state: Vec::new(),
            rows: BarColumns::default(),
        }
    }

    /// Moves `locate`'s open bar to `ts`: writes it out and opens a new one when `ts` is in
    /// a later bar, then integrates the spread up to `ts`.
    #[inline(always)]
    fn advance(&mut self, locate: u16, ts: u64) -> &mut BarState {
        let l = locate as usize;
        if l >= self.state.len() {
            self.state.resize(l + 1, BarState::default());
        }
        let every = self.every;
        let st = &mut self.state[l];
        let bucket = ts / every;
        if st.bucket == NO_BUCKET {
            st.bucket = bucket;
            st.last = ts;
        } else if bucket > st.bucket {
            st.accumulate((st.bucket + 1) * every);
            if st.fold.count > 0 {
                self.rows
                    .push(locate, st.bucket * every, &st.fold, st.spread.averages());
            }
            st.bucket = bucket;
            st.last = bucket * every;
            st.spread = SpreadSum::default();
            st.fold = Fold::default();
        }
        st.accumulate(ts);
        st
    }

    /// The best prices of `locate` changed at `ts` (0 = side empty).
    #[inline]
    pub fn quote(&mut self, locate: u16, ts: u64, bid: u64, ask: u64) {
        let st = self.advance(locate, ts);
        st.bid = bid;
        st.ask = ask;
    }

    /// A printable print (voided ones are repaired in [`BarBuilder::finish`]).
    #[inline]
    pub fn print(&mut self, p: &Print) {
        self.sale(&Sale::from(p));
    }

    /// A counting print of any feed (printable, not voided), placed against its own `bid`
    /// and `ask`.
    #[inline]
    pub fn sale(&mut self, p: &Sale) {
        let bucket = p.timestamp / self.every;
        let st = self.advance(p.locate, p.timestamp);
        if bucket < st.bucket {
            st.disordered = true;
        }
        if p.shares > 0 && !st.disordered {
            let tick = st.tick.sign(p.price);
            st.fold.add(p, tick);
        }
    }

    /// The best bid and ask of `locate` as the last [`BarBuilder::quote`] left them (0 = none).
    #[inline]
    pub fn quoted(&self, locate: u16) -> (u64, u64) {
        self.state
            .get(locate as usize)
            .map_or((0, 0), |st| (st.bid, st.ask))
    }

    /// The locates whose prints came out of time order (their bars are folded again at the
    /// end, from all of their prints).
    pub fn disordered_locates(&self) -> Vec<u16> {
        (0..self.state.len())
            .filter(|&l| self.state[l].disordered)
            .map(|l| l as u16)
            .collect()
    }

    /// Closes every open bar, re-folds the symbols that had voided or out-of-order prints
    /// from `trades` (breaks applied), and returns the bars by locate, then bar start.
    pub fn finish(self, trades: &Trades) -> BarTable {
        self.finish_from(|visit| {
            for i in 0..trades.len() {
                visit(&trades.get(i), trades.broken[i]);
            }
        })
    }

    /// [`BarBuilder::finish`] over prints that are not in memory: `prints(visit)` calls
    /// `visit(print, broken)` for every print of the day in file order (it is called twice:
    /// once to find the voided prints, once to fold again). Only the symbols that need it are
    /// folded again, print by print, so memory does not grow with the day.
    pub fn finish_from(mut self, prints: impl Fn(&mut dyn FnMut(&Print, bool))) -> BarTable {
        let every = self.every;
        let (from, disordered) = self.close(&prints);
        let mut rows = self.rows;
        // The rows kept from the online fold; None when nothing was folded again.
        let keep = if from.iter().any(|&f| f != NO_BUCKET) {
            let redone = |l: u16, start: i64| {
                from.get(l as usize)
                    .is_some_and(|&f| f != NO_BUCKET && start as u64 / every >= f)
            };
            // The spread of a bar does not depend on its prints: keep it from the online rows.
            let kept: Vec<bool> = (0..rows.locate.len())
                .map(|i| !redone(rows.locate[i], rows.bucket[i]))
                .collect();
            let mut spreads: Vec<((u16, i64), (f64, f64))> = (0..kept.len())
                .filter(|&i| !kept[i])
                .map(|i| {
                    (
                        (rows.locate[i], rows.bucket[i]),
                        (rows.spread[i], rows.spread_bps[i]),
                    )
                })
                .collect();
            spreads.sort_unstable_by_key(|r| r.0);
            let spread_of = |locate: u16, start: i64| {
                spreads
                    .binary_search_by_key(&(locate, start), |r| r.0)
                    .map_or((f64::NAN, f64::NAN), |k| spreads[k].1)
            };
            // The re-folded bars go after the online rows; the rows they replace are left
            // out when the table is put in order.
            refold(&prints, every, &from, &disordered, spread_of, &mut rows);
            Some(kept)
        } else {
            None
        };
        BarTable(rows.sorted(keep.as_deref()))
    }

    /// Streaming: the bars closed since the last call, in no particular order (the symbols'
    /// open bars stay).
    pub fn take_closed(&mut self) -> BarTable {
        BarTable(std::mem::take(&mut self.rows))
    }

    /// The end of a streaming replay, whose earlier bars were handed over with
    /// [`BarBuilder::take_closed`]: the bars not handed over yet (the open ones closed), the
    /// bars folded again, and which bars those replace, as `(locate, first bar start)`:
    /// every bar of that locate from that start on, handed over or not. The folded-again
    /// bars carry no spread (NaN): a bar's spread does not depend on its prints, so a reader
    /// takes it from the bar it replaces. `prints` as for [`BarBuilder::finish_from`].
    pub fn finish_streamed(
        mut self,
        prints: impl Fn(&mut dyn FnMut(&Print, bool)),
    ) -> (BarTable, BarTable, Vec<(u16, i64)>) {
        let every = self.every;
        let (from, disordered) = self.close(&prints);
        let mut fixes = BarColumns::default();
        let redo: Vec<(u16, i64)> = (0..from.len())
            .filter(|&l| from[l] != NO_BUCKET)
            .map(|l| (l as u16, (from[l] * every) as i64))
            .collect();
        if !redo.is_empty() {
            let no_spread = |_: u16, _: i64| (f64::NAN, f64::NAN);
            refold(&prints, every, &from, &disordered, no_spread, &mut fixes);
        }
        (
            BarTable(self.rows.sorted(None)),
            BarTable(fixes.sorted(None)),
            redo,
        )
    }

    /// Closes every open bar and returns, per locate, the first bar to fold again
    /// (`NO_BUCKET`: none) and whether its prints must be put in time order first.
    fn close(&mut self, prints: &impl Fn(&mut dyn FnMut(&Print, bool))) -> (Vec<u64>, Vec<bool>) {
        let every = self.every;
        let mut from = vec![NO_BUCKET; self.state.len()];
        let mut disordered = vec![false; self.state.len()];
        for (l, st) in self.state.iter_mut().enumerate() {
            if st.bucket == NO_BUCKET {
                continue;
            }
            st.accumulate((st.bucket + 1) * every);
            if st.fold.count > 0 {
                self.rows
                    .push(l as u16, st.bucket * every, &st.fold, st.spread.averages());
            }
            if st.disordered {
                from[l] = 0;
                disordered[l] = true;
            }
        }
        // A voided print changes its bar and, through the tick rule, possibly later ones;
        // bars before it stand.
        prints(&mut |p, broken| {
            if broken && p.printable {
                let l = p.locate as usize;
                from[l] = from[l].min(p.timestamp / every);
            }
        });
        (from, disordered)
    }
}

/// A change of a symbol's best bid and ask (1/10 000 $, 0 = side empty) at `timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuoteAt {
    /// ns, in the clock of the prints.
    pub timestamp: u64,
    /// The symbol's index.
    pub locate: u16,
    /// Best bid.
    pub bid: u64,
    /// Best ask.
    pub ask: u64,
}

/// Bars of `every` ns from the counting prints of any feed (printable, not voided) and,
/// optionally, its quotes; each list in time order. With `quotes`, each print is placed
/// against the last quote of its symbol strictly before it (at equal times the print comes
/// first) and the spread is integrated over time; without, against its own `bid` and `ask`,
/// and the spread is null. The same fold as the ITCH replay's bars.
pub fn feed_bars(
    every: u64,
    sales: &[Sale],
    quotes: Option<&[QuoteAt]>,
) -> Result<BarTable, String> {
    if !sales.is_sorted_by_key(|s| s.timestamp) {
        return Err("the prints must be in time order".into());
    }
    if !quotes.is_none_or(|q| q.is_sorted_by_key(|q| q.timestamp)) {
        return Err("the quotes must be in time order".into());
    }
    let mut b = BarBuilder::new(every);
    let mut pending = quotes.unwrap_or(&[]).iter().peekable();
    for s in sales {
        while let Some(q) = pending.next_if(|q| q.timestamp < s.timestamp) {
            b.quote(q.locate, q.timestamp, q.bid, q.ask);
        }
        if quotes.is_some() {
            let (bid, ask) = b.quoted(s.locate);
            b.sale(&Sale { bid, ask, ..*s });
        } else {
            b.sale(s);
        }
    }
    for q in pending {
        b.quote(q.locate, q.timestamp, q.bid, q.ask);
    }
    // In time order and without voided prints, nothing needs folding again.
    Ok(b.finish_from(|_| {}))
}

#[derive(Debug, Default)]
struct BarColumns {
    bucket: Vec<i64>,
    locate: Vec<u16>,
    open: Vec<u64>,
    high: Vec<u64>,
    low: Vec<u64>,
    close: Vec<u64>,
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

/// Applies one operation to every column of a [`BarColumns`] (`|col|`, by reference) or to
/// the matching columns of two (`|a, b|`, moved), and collects the results.
macro_rules! each_column {
    ($c:expr, |$col:ident| $body:expr) => {{
        let c = $c;
        each_column!(@all (one c, $col, $body))
    }};
    ($a:expr, $b:expr, |$x:ident, $y:ident| $body:expr) => {{
        let (a, b) = ($a, $b);
        each_column!(@all (two a, b, $x, $y, $body))
    }};
    (@all $how:tt) => {
        each_column!(@each $how; bucket locate open high low close volume count vwap askvol
            bidvol spread spread_bps buy_aggr sell_aggr tick_buy tick_sell hidden first last)
    };
    (@each $how:tt; $($f:ident)*) => {
        BarColumns { $($f: each_column!(@col $how $f),)* }
    };
    (@col (one $c:ident, $col:ident, $body:expr) $f:ident) => {{
        let $col = &$c.$f;
        $body
    }};
    (@col (two $a:ident, $b:ident, $x:ident, $y:ident, $body:expr) $f:ident) => {{
        let ($x, $y) = ($a.$f, $b.$f);
        $body
    }};
}

impl BarColumns {
    fn push(&mut self, locate: u16, start: u64, f: &Fold, (spread, bps): (f64, f64)) {
        push_huge(&mut self.bucket, start as i64);
        push_huge(&mut self.locate, locate);
        push_huge(&mut self.open, f.open);
        push_huge(&mut self.high, f.high);
        push_huge(&mut self.low, f.low);
        push_huge(&mut self.close, f.close);
        push_huge(&mut self.volume, f.volume);
        push_huge(&mut self.count, f.count);
        push_huge(
            &mut self.vwap,
            f.notional as f64 / f.volume as f64 / 10_000.0,
        );
        push_huge(&mut self.askvol, f.askvol);
        push_huge(&mut self.bidvol, f.bidvol);
        push_huge(&mut self.spread, spread);
        push_huge(&mut self.spread_bps, bps);
        push_huge(&mut self.buy_aggr, f.buy);
        push_huge(&mut self.sell_aggr, f.sell);
        push_huge(&mut self.tick_buy, f.tick_buy);
        push_huge(&mut self.tick_sell, f.tick_sell);
        push_huge(&mut self.hidden, f.hidden);
        push_huge(&mut self.first, f.first);
        push_huge(&mut self.last, f.last);
    }

    /// Rows ordered by locate, then bar start, leaving out row `i < keep.len()` where
    /// `keep[i]` is false. Each locate's bars are written in bar order (online, and by the
    /// re-fold after the rows it keeps), so a stable counting sort by locate is all it takes;
    /// a comparison sort is the fallback when that does not hold.
    fn sorted(self, keep: Option<&[bool]>) -> BarColumns {
        let kept = |i: usize| keep.is_none_or(|k| k.get(i).is_none_or(|&x| x));
        let mut start = vec![0u32; (1 << 16) + 1];
        for (i, &l) in self.locate.iter().enumerate() {
            start[l as usize + 1] += u32::from(kept(i));
        }
        for k in 1..start.len() {
            start[k] += start[k - 1];
        }
        let mut order = vec![0u32; start[1 << 16] as usize];
        for (i, &l) in self.locate.iter().enumerate() {
            if kept(i) {
                let slot = &mut start[l as usize];
                order[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        let key = |i: &u32| (self.locate[*i as usize], self.bucket[*i as usize]);
        if !order.is_sorted_by_key(key) {
            order.sort_unstable_by_key(key);
        }
        if order.len() == self.locate.len()
            && order.iter().enumerate().all(|(k, &i)| k == i as usize)
        {
            return self;
        }
        each_column!(self, |col| gather(col, &order))
    }
}

/// Folds again the counting prints (printable, not broken, shares > 0) of each locate `l`
/// whose bar is at or after `from[l]`, appending bars of `every` ns to `out`; the tick rule
/// runs over all of the locate's counting prints in file order. A locate marked `disordered`
/// has its prints put in time order (stable) before folding. The spread of each bar comes
/// from `spread_of(locate, bar start)`.
fn refold(
    prints: &impl Fn(&mut dyn FnMut(&Print, bool)),
    every: u64,
    from: &[u64],
    disordered: &[bool],
    spread_of: impl Fn(u16, i64) -> (f64, f64),
    out: &mut BarColumns,
) {
    let wanted = |l: u16| from.get(l as usize).is_some_and(|&f| f != NO_BUCKET);
    let mut ticks = vec![Tick::default(); from.len()];
    // In-order locates fold as they stream; disordered ones are gathered and sorted.
    let mut open: Vec<(u64, Fold)> = vec![(NO_BUCKET, Fold::default()); from.len()];
    let mut late: Vec<(u16, u64, u32, i8, Sale)> = Vec::new();
    let emit = |out: &mut BarColumns, l: u16, bucket: u64, f: &Fold| {
        let start = bucket * every;
        out.push(l, start, f, spread_of(l, start as i64));
    };
    let mut n = 0u32;
    prints(&mut |p, broken| {
        n += 1;
        let l = p.locate;
        if !wanted(l) || !p.printable || broken || p.shares == 0 {
            return;
        }
        let tick = ticks[l as usize].sign(p.price.into());
        let bucket = p.timestamp / every;
        if bucket < from[l as usize] {
            return;
        }
        if disordered[l as usize] {
            late.push((l, bucket, n, tick, Sale::from(p)));
            return;
        }
        let (b, fold) = &mut open[l as usize];
        if *b != bucket {
            if *b != NO_BUCKET {
                emit(out, l, *b, fold);
            }
            *b = bucket;
            *fold = Fold::default();
        }
        fold.add(&Sale::from(p), tick);
    });
    for (l, (b, fold)) in open.iter().enumerate() {
        if *b != NO_BUCKET {
            emit(out, l as u16, *b, fold);
        }
    }
    late.sort_by_key(|r| (r.0, r.1, r.2));
    for group in late.chunk_by(|x, y| (x.0, x.1) == (y.0, y.1)) {
        let mut fold = Fold::default();
        for (_, _, _, tick, p) in group {
            fold.add(p, *tick);
        }
        emit(out, group[0].0, group[0].1, &fold);
    }
}

/// Bars in columns, ready to become a table.
#[derive(Debug)]
pub struct BarTable(BarColumns);

impl BarTable {
    /// Rows of both tables, by locate, then bar start (each table is in that order, and a
    /// parallel replay's shards hold disjoint locates).
    pub fn merge(self, other: BarTable) -> BarTable {
        // The ITCH timestamp has 48 bits, so a bar's start does too.
        let key = |c: &BarColumns| -> Vec<u64> {
            c.locate
                .iter()
                .zip(&c.bucket)
                .map(|(&l, &start)| u64::from(l) << 48 | start as u64)
                .collect()
        };
        let order = merge_order(&key(&self.0), &key(&other.0));
        BarTable(each_column!(self.0, other.0, |a, b| interleave(
            a, b, &order
        )))
    }

    /// Rows of both tables, `other`'s after these, in no particular order.
    pub fn concat(self, other: BarTable) -> BarTable {
        BarTable(each_column!(self.0, other.0, |a, b| {
            let mut a = a;
            a.extend(b);
            a
        }))
    }

    /// Bars.
    pub fn len(&self) -> usize {
        self.0.locate.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.locate.is_empty()
    }

    /// The bars table of an ITCH replay (its prices are ITCH's 32-bit prices).
    pub fn to_batch(
        self,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> RecordBatch {
        let mut c = self.0;
        let mut t = TableBuilder::new();
        t.located(
            std::mem::take(&mut c.bucket),
            std::mem::take(&mut c.locate),
            key_of_locate,
            dictionary,
            midnight,
        );
        // Every price folded here came from a 32-bit ITCH field.
        let narrow = |v: Vec<u64>| v.into_iter().map(|x| x as u32).collect::<Vec<u32>>();
        t.price("open", narrow(std::mem::take(&mut c.open)), prices, None);
        t.price("high", narrow(std::mem::take(&mut c.high)), prices, None);
        t.price("low", narrow(std::mem::take(&mut c.low)), prices, None);
        t.price("close", narrow(std::mem::take(&mut c.close)), prices, None);
        c.rest(&mut t, midnight);
        t.finish()
    }

    /// The bars table of quotes and trades of any feed: `timestamp` (the bar's start in the
    /// input's clock), `stock` (the symbol of each locate in `dictionary`), prices in float
    /// dollars, then the columns of [`BarTable::to_batch`].
    pub fn to_dollar_batch(self, dictionary: &ArrayRef) -> RecordBatch {
        let mut c = self.0;
        let mut t = TableBuilder::new();
        t.values::<Int64Type>("timestamp", std::mem::take(&mut c.bucket));
        t.stock(std::mem::take(&mut c.locate), dictionary);
        let dollars = |v: Vec<u64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(
                v.into_iter().map(|x| x as f64 / 10_000.0),
            ))
        };
        t.column("open", dollars(std::mem::take(&mut c.open)), false);
        t.column("high", dollars(std::mem::take(&mut c.high)), false);
        t.column("low", dollars(std::mem::take(&mut c.low)), false);
        t.column("close", dollars(std::mem::take(&mut c.close)), false);
        c.rest(&mut t, None);
        t.finish()
    }
}

impl BarColumns {
    /// The columns after the prices.
    fn rest(self, t: &mut TableBuilder, midnight: Option<i64>) {
        t.values::<UInt64Type>("volume", self.volume);
        t.values::<UInt32Type>("count", self.count);
        t.float_or_null("vwap", self.vwap);
        t.values::<UInt64Type>("askvol", self.askvol);
        t.values::<UInt64Type>("bidvol", self.bidvol);
        t.float_or_null("spread", self.spread);
        t.float_or_null("spread_bps", self.spread_bps);
        t.values::<UInt64Type>("buy_aggr_volume", self.buy_aggr);
        t.values::<UInt64Type>("sell_aggr_volume", self.sell_aggr);
        t.values::<UInt64Type>("tick_buy_volume", self.tick_buy);
        t.values::<UInt64Type>("tick_sell_volume", self.tick_sell);
        t.values::<UInt64Type>("hidden_volume", self.hidden);
        t.times(
            "first_trade_timestamp",
            "first_trade_ts",
            self.first,
            midnight,
        );
        t.times("last_trade_timestamp", "last_trade_ts", self.last, midnight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::trades::Quote;

    const MIN: u64 = 60_000_000_000;
    const Q: Quote = Quote {
        bid: 100,
        bid_size: 5,
        ask: 110,
        ask_size: 5,
    };

    fn mk(ts: u64, kind: u8, price: u32, shares: u64, aggressor: u8, printable: bool) -> Print {
        Print {
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
            quote: Q,
        }
    }

    /// Feeds prints to a builder (printable ones) and a trades table, as the replay does.
    fn run(prints: &[Print], breaks: &[u64]) -> (BarColumns, u64) {
        let mut b = BarBuilder::new(MIN);
        let mut t = Trades::default();
        for p in prints {
            if p.printable {
                b.print(p);
            }
            t.push(*p);
        }
        let unmatched = t.apply_breaks(breaks);
        (b.finish(&t).0, unmatched)
    }

    #[test]
    fn feed_bars_place_prints_against_the_quote_before_them_and_hold_wide_prices() {
        // BRK.A-like prices: beyond 32 bits of 1/10 000 $.
        let p = 7_000_000_000u64;
        let q = |ts, bid, ask| QuoteAt {
            timestamp: ts,
            locate: 0,
            bid,
            ask,
        };
        let sale = |ts, price| Sale {
            timestamp: ts,
            price,
            shares: 2,
            kind: b'T',
            ..Sale::default()
        };
        let quotes = [q(0, p, p + 10_000), q(100, p + 10_000, p + 20_000)];
        // At t = 100 the print comes before the quote of t = 100: it is at the old ask.
        let sales = [
            sale(50, p),
            sale(100, p + 10_000),
            sale(MIN + 1, p + 30_000),
        ];
        let b = feed_bars(MIN, &sales, Some(&quotes)).unwrap().0;
        assert_eq!(b.bucket, [0, MIN as i64]);
        assert_eq!(
            (b.open[0], b.high[0], b.close[0]),
            (p, p + 10_000, p + 10_000)
        );
        assert_eq!((b.bidvol[0], b.askvol[0]), (2, 2));
        assert_eq!((b.buy_aggr[0], b.sell_aggr[0]), (2, 2));
        assert_eq!(b.askvol[1], 2); // above the ask in force, carried into the next bar
        assert!((b.vwap[0] - (p as f64 + 5_000.0) / 10_000.0).abs() < 1e-6);
        // spread 1 $ throughout
        assert!((b.spread[0] - 1.0).abs() < 1e-12 && (b.spread[1] - 1.0).abs() < 1e-12);
        // Without quotes, a print's own bid and ask place it and no spread is known.
        let own = feed_bars(MIN, &sales, None).unwrap().0;
        assert_eq!((own.bidvol[0], own.askvol[0]), (0, 0));
        assert!(own.spread[0].is_nan());
        let backwards = [sale(5, p), sale(4, p)];
        assert!(feed_bars(MIN, &backwards, None).is_err());
    }

    #[test]
    fn spread_is_time_weighted_within_the_bar() {
        let mut b = BarBuilder::new(MIN);
        b.quote(1, 0, 100, 110); // spread 10 for the first half
        b.quote(1, MIN / 2, 100, 130); // 30 for the second half
        let mut p = mk(MIN / 2 + 1, b'P', 120, 1, 0, true);
        p.locate = 1;
        b.print(&p);
        p.timestamp = MIN + 5; // next bar: 30 throughout, carried over
        b.print(&p);
        let r = b.finish(&Trades::default()).0;
        assert_eq!(r.bucket, [0, MIN as i64]);
        assert!((r.spread[0] * 10_000.0 - 20.0).abs() < 1e-9);
        assert!((r.spread[1] * 10_000.0 - 30.0).abs() < 1e-9);
    }

    #[test]
    fn bars_fold_prints_and_skip_non_counting_ones() {
        let prints = [
            mk(10, b'E', 110, 100, b'B', true),
            mk(20, b'C', 999, 100, b'B', false),
            mk(30, b'P', 100, 50, 0, true),
            mk(40, b'E', 105, 10, b'S', true),
            mk(MIN + 1, b'E', 106, 1, b'B', true),
        ];
        let (b, unmatched) = run(&prints, &[40, 12345]);
        assert_eq!(unmatched, 1);
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
        // The voided print (105) is not the tick rule's memory: 106 ticks up from 100.
        assert_eq!(b.tick_buy[1], 1);
        assert!(b.spread[0].is_nan());
    }

    #[test]
    fn online_bars_equal_a_refold_without_breaks() {
        let mut prints = Vec::new();
        for k in 0..200u64 {
            let mut p = mk(
                k * MIN / 7,
                b"EPQC"[k as usize % 4],
                100 + (k * 37 % 13) as u32,
                k % 5,
                b"BS"[k as usize % 2],
                k % 9 != 0,
            );
            p.locate = (k % 3) as u16;
            prints.push(p);
        }
        let (online, _) = run(&prints, &[]);
        let mut t = Trades::default();
        prints.iter().for_each(|p| t.push(*p));
        let mut again = BarColumns::default();
        let from = [0; 3];
        let each = |visit: &mut dyn FnMut(&Print, bool)| {
            for i in 0..t.len() {
                visit(&t.get(i), t.broken[i]);
            }
        };
        refold(
            &each,
            MIN,
            &from,
            &[false; 3],
            |_, _| (f64::NAN, f64::NAN),
            &mut again,
        );
        let refold = again.sorted(None);
        assert_eq!(online.locate, refold.locate);
        assert_eq!(online.bucket, refold.bucket);
        assert_eq!(online.close, refold.close);
        assert_eq!(online.volume, refold.volume);
        assert_eq!(online.buy_aggr, refold.buy_aggr);
        assert_eq!(online.tick_sell, refold.tick_sell);
        assert_eq!(online.first, refold.first);
    }

    /// Voiding prints at the end of the day gives the bars of a day without them.
    #[test]
    fn breaks_give_the_bars_of_a_day_without_the_broken_prints() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let (mut with, mut without) = (BarBuilder::new(MIN), BarBuilder::new(MIN));
        let mut t = Trades::default();
        let mut breaks = Vec::new();
        for k in 0..3_000u64 {
            let ts = k * MIN / 50;
            let locate = next(4) as u16;
            if next(3) == 0 {
                let bid = 100 + next(5) as u32;
                let ask = bid + 1 + next(3) as u32;
                with.quote(locate, ts, bid.into(), ask.into());
                without.quote(locate, ts, bid.into(), ask.into());
                continue;
            }
            let mut p = mk(
                ts,
                b"EPQC"[next(4) as usize],
                100 + next(8) as u32,
                next(300),
                b"BS"[next(2) as usize],
                next(10) != 0,
            );
            p.locate = locate;
            p.match_number = k;
            let broken = next(40) == 0;
            if broken {
                breaks.push(k);
            }
            if p.printable {
                with.print(&p);
                if !broken {
                    without.print(&p);
                }
            }
            t.push(p);
        }
        assert!(breaks.len() > 20);
        t.apply_breaks(&breaks);
        let (a, b) = (with.finish(&t).0, without.finish(&Trades::default()).0);
        assert_eq!((a.locate, a.bucket), (b.locate, b.bucket));
        assert_eq!((a.open, a.close, a.volume), (b.open, b.close, b.volume));
        assert_eq!((a.buy_aggr, a.sell_aggr), (b.buy_aggr, b.sell_aggr));
        assert_eq!((a.tick_buy, a.tick_sell), (b.tick_buy, b.tick_sell));
        assert_eq!((a.first, a.last, a.count), (b.first, b.last, b.count));
        let same = |x: &[f64], y: &[f64]| {
            x.iter()
                .zip(y)
                .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()))
        };
        assert!(same(&a.spread, &b.spread) && same(&a.vwap, &b.vwap));
    }

    #[test]
    fn a_print_stamped_in_an_earlier_bar_is_refolded_into_it() {
        let prints = [
            mk(10, b'E', 110, 100, b'B', true),
            mk(MIN + 1, b'E', 111, 5, b'B', true),
            mk(20, b'E', 109, 7, b'S', true),
        ];
        let (b, _) = run(&prints, &[]);
        assert_eq!(b.bucket, [0, MIN as i64]);
        assert_eq!((b.count[0], b.volume[0], b.close[0]), (2, 107, 109));
        assert_eq!((b.count[1], b.volume[1]), (1, 5));
    }

    /// A parallel replay's shards finish the bars of their own locates and merge them: the
    /// table of one builder over all of them, breaks and spreads included.
    #[test]
    fn bars_of_disjoint_locates_merge_into_the_table_of_one_builder() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let mut one = (BarBuilder::new(MIN), Trades::default());
        let mut shard = [
            (BarBuilder::new(MIN), Trades::default()),
            (BarBuilder::new(MIN), Trades::default()),
        ];
        let mut breaks = Vec::new();
        for k in 0..4_000u64 {
            let ts = k * MIN / 40;
            let locate = next(6) as u16;
            let own = &mut shard[usize::from(locate % 2)];
            if next(3) == 0 {
                let bid = 100 + next(5) as u32;
                let ask = bid + 1 + next(3) as u32;
                one.0.quote(locate, ts, bid.into(), ask.into());
                own.0.quote(locate, ts, bid.into(), ask.into());
                continue;
            }
            let mut p = mk(
                ts,
                b"EPC"[next(3) as usize],
                100 + next(8) as u32,
                next(300),
                b"BS"[next(2) as usize],
                true,
            );
            p.locate = locate;
            p.match_number = k;
            if next(50) == 0 {
                breaks.push(k);
            }
            for (b, t) in [&mut one, own] {
                b.print(&p);
                t.push(p);
            }
        }
        assert!(breaks.len() > 20);
        one.1.apply_breaks(&breaks);
        let expected = one.0.finish(&one.1);
        let [(b0, mut t0), (b1, mut t1)] = shard;
        t0.apply_breaks(&breaks);
        t1.apply_breaks(&breaks);
        let (f0, f1) = (b0.finish(&t0), b1.finish(&t1));
        assert!(!f0.is_empty() && !f1.is_empty());
        let merged = f0.merge(f1);
        assert_eq!(merged.len(), expected.len());
        assert_eq!(format!("{:?}", merged.0), format!("{:?}", expected.0));
    }
}
