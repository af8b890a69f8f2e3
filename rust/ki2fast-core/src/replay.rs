//! The fused replay: one pass over ITCH bytes keeps every book, records every print, cuts
//! the hourly VWAP report, integrates spreads for bars and, on request, streams top-of-book
//! changes and depth snapshots. Book semantics and counters follow `docs/itch.md` §6–7.

use std::collections::BTreeMap;

use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, Decimal128Array, Float64Array, RecordBatch};
use arrow_buffer::NullBuffer;
use std::sync::Arc;

use crate::analytics::activity::{Event, Monitor, MonitorOutput, SlidingParams};
use crate::analytics::bars::{BarBuilder, BarTable};
use crate::analytics::tops::Tops;
use crate::analytics::trades::{
    MAX_PRINT_SHARES, Print, Quote, Quotes, TradeSpill, Trades, break_list,
};
use crate::analytics::vwap::HourlyVwap;
use crate::analytics::{gather, interleave, merge_order};
use crate::arrow::builders::bits;
use crate::arrow::schema::PriceRepr;
use crate::arrow::table::TableBuilder;
use crate::book::{Books, Side};
use crate::itch::framing::{FrameChecks, FramePolicy, FrameSink, Frames, walk_frames};
use crate::itch::spec::{Message, MessageDef, MessageKind, SPEC_LEN, Visitor};
use crate::itch::summary::event_rank;
use crate::itch::symbols::Symbols;
use crate::itch::wire::{load_u16, load_u48};
use crate::mem::push_huge;
use crate::par::{in_parallel, join};

const DAY_NS: u64 = 86_400 * 1_000_000_000;
const SECOND: u64 = 1_000_000_000;
/// Live orders from which the replay prefetches ahead ([`FrameSink::ahead`]): about 1.5 MB
/// of orders, beyond a core's L2. `KI2FAST_LOOKAHEAD_MIN` overrides it (0: always, a huge
/// number: never), for measuring.
const LOOKAHEAD_MIN_LIVE: usize = 32 << 10;
/// Offending messages kept per counter.
pub const EXAMPLES_PER_COUNTER: usize = 20;

/// What a replay computes.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Only these symbols (None: all).
    pub symbols: Option<Vec<String>>,
    /// Framing strictness.
    pub policy: FramePolicy,
    /// Record the trades table.
    pub trades: bool,
    /// Bar length in ns (None: no bars).
    pub bar_ns: Option<u64>,
    /// Hourly report boundaries at whole clock hours instead of open + k h.
    pub clock_hours: bool,
    /// Record every change of a book's top (price or size).
    pub bbo: bool,
    /// Depth snapshot interval in ns (None: none).
    pub snapshot_ns: Option<u64>,
    /// Levels per side in snapshots.
    pub depth: usize,
    /// Live orders from which the frame loop looks ahead to prefetch (a speed setting: the
    /// output never depends on it).
    pub lookahead_from: usize,
    /// Activity window in ns (docs/detection.md §2; None: no activity table).
    pub activity_ns: Option<u64>,
    /// The sliding quote-stuffing rule (docs/detection.md §3.1; None: no episodes).
    pub sliding: Option<SlidingParams>,
    /// Count `Q` cross prints as trades in activity and episodes.
    pub activity_crosses: bool,
    /// Streaming: rows are handed over as they become final ([`ParallelReplay::drain`]),
    /// and the prints already handed over are kept for the end of the day in a spill file in
    /// this folder (None: everything stays in memory until [`ParallelReplay::finish`]).
    pub spill_dir: Option<std::path::PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            symbols: None,
            policy: FramePolicy::default(),
            trades: true,
            bar_ns: Some(60 * SECOND),
            clock_hours: false,
            bbo: false,
            snapshot_ns: None,
            depth: 5,
            lookahead_from: std::env::var("KI2FAST_LOOKAHEAD_MIN")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(LOOKAHEAD_MIN_LIVE),
            activity_ns: None,
            sliding: None,
            activity_crosses: false,
            spill_dir: None,
        }
    }
}

macro_rules! counters {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// Integrity counters of a replay (`docs/itch.md` §7).
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct BookChecks {
            $($(#[doc = $doc])+ pub $name: u64,)+
        }

        impl BookChecks {
            /// `(name, value)` of every counter.
            pub fn items(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name)),+]
            }

            /// Adds `other`'s counts to these.
            pub fn add(&mut self, other: &BookChecks) {
                $(self.$name += other.$name;)+
            }
        }
    };
}

counters! {
    /// `E` `C` `X` `D` `U` on a reference that is not live.
    unknown_ref,
    /// An add (or a replace's new reference) with a live reference.
    duplicate_add_ref,
    /// `E`/`C` for more shares than remain (clamped).
    over_execution,
    /// `X` for more shares than remain (clamped).
    over_cancel,
    /// Adds of zero shares.
    zero_shares_add,
    /// Adds at price zero.
    zero_price_add,
    /// Adds whose side is neither `B` nor `S` (not entered into a book).
    bad_side,
    /// `C` whose printable flag is neither `Y` nor `N` (no print).
    bad_printable,
    /// `B` for a match number never printed.
    unmatched_break,
    /// Executions not on the head order of the best level.
    non_fifo_executions,
    /// Header locate differs from the order's locate (the order's wins).
    locate_mismatch,
    /// Adds that left a trading book crossed during the regular session.
    crossed_book_events,
    /// Adds that left a trading book locked during the regular session.
    locked_book_events,
    /// Books crossed at the end.
    crossed_books_at_end,
    /// Books locked at the end.
    locked_books_at_end,
    /// Orders still live at the end.
    live_orders_at_end,
    /// Messages stamped earlier than an earlier message.
    timestamp_regressions,
    /// Messages stamped at or after 24:00.
    timestamp_out_of_range,
    /// System events out of the order `O S Q M E C`.
    events_out_of_order,
    /// Breaks applied to prints.
    broken_trades,
    /// Prints of more shares than any print can have (crosses beyond
    /// [`MAX_PRINT_SHARES`]): kept as not printable, out of every volume.
    absurd_prints,
}

/// One offending message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// Counter name.
    pub counter: &'static str,
    /// Its timestamp.
    pub timestamp: u64,
    /// Its stock locate.
    pub locate: u16,
    /// The order reference (or match number) involved.
    pub reference: u64,
}

#[derive(Debug, Clone, Copy)]
struct Trading {
    state: u8,
    operational_halt: bool,
    since: u64,
}

#[derive(Debug, Default)]
struct QuoteColumns {
    timestamp: Vec<i64>,
    locate: Vec<u16>,
    quote: Quotes,
}

#[derive(Debug, Default)]
struct SnapshotColumns {
    timestamp: Vec<i64>,
    locate: Vec<u16>,
    /// `depth` prices, sizes and order counts per side and row.
    bid: Vec<(u32, u64, u32)>,
    ask: Vec<(u32, u64, u32)>,
}

impl QuoteColumns {
    /// `other`'s rows merged into these as `order` says ([`crate::analytics::merge_order`]).
    fn interleave(self, other: QuoteColumns, order: &[u32]) -> QuoteColumns {
        QuoteColumns {
            timestamp: interleave(self.timestamp, other.timestamp, order),
            locate: interleave(self.locate, other.locate, order),
            quote: self.quote.interleave(other.quote, order),
        }
    }
}

impl SnapshotColumns {
    /// `other`'s rows merged into these: by time, then book (the order one replay writes).
    fn absorb(&mut self, other: SnapshotColumns, depth: usize) {
        self.timestamp.extend(other.timestamp);
        self.locate.extend(other.locate);
        self.bid.extend(other.bid);
        self.ask.extend(other.ask);
        let mut order: Vec<u32> = (0..self.timestamp.len() as u32).collect();
        order.sort_by_key(|&r| (self.timestamp[r as usize], self.locate[r as usize]));
        let cells = |c: &[(u32, u64, u32)]| -> Vec<(u32, u64, u32)> {
            order
                .iter()
                .flat_map(|&r| {
                    c[r as usize * depth..(r as usize + 1) * depth]
                        .iter()
                        .copied()
                })
                .collect()
        };
        let (bid, ask) = (cells(&self.bid), cells(&self.ask));
        self.timestamp = gather(&self.timestamp, &order);
        self.locate = gather(&self.locate, &order);
        (self.bid, self.ask) = (bid, ask);
    }
}

/// The replay sink.
#[derive(Debug)]
pub struct Replay {
    opts: ReplayOptions,
    checks: FrameChecks,
    symbols: Symbols,
    /// The books.
    pub books: Books,
    book_checks: BookChecks,
    /// The first offending messages per counter, with their message numbers.
    examples: BTreeMap<&'static str, Vec<(u64, Example)>>,
    trading: Vec<Trading>,
    in_session: bool,
    max_ts: u64,
    event_rank: i32,
    vwap: HourlyVwap,
    trades: Trades,
    breaks: Vec<u64>,
    bars: Option<BarBuilder>,
    /// The finished bars ([`Replay::settle`]); streaming: those not handed over yet.
    bar_table: Option<BarTable>,
    /// Streaming: the bars folded again at the end, and which bars they replace (see
    /// [`BarBuilder::finish_streamed`]).
    bar_fixes: Option<BarTable>,
    bar_redo: Vec<(u16, i64)>,
    tops: Tops<Quote>,
    quotes: QuoteColumns,
    next_snapshot: u64,
    snapshots: SnapshotColumns,
    directory: BTreeMap<u16, String>,
    /// The books this replay keeps when it is one shard of a [`ParallelReplay`]: locates
    /// with `owner[locate] == shard_index` (one replay: all zero, so all of them).
    owner: Box<[u8]>,
    shard_index: u8,
    shard_count: u8,
    /// A shard's current message, by its offset in the stream: orders the shards' rows
    /// (and examples) when they are merged. Unused (0) in one replay.
    seq: u64,
    /// The stream offset of the message behind each trade and each BBO row (kept only by
    /// shards).
    trade_seq: Vec<u64>,
    quote_seq: Vec<u64>,
    /// Activity windows and the sliding rule, when asked for.
    monitor: Option<Box<Monitor>>,
    /// What absorbed shards' monitors produced.
    monitored: MonitorOutput,
    /// Streaming: the prints handed over so far (see [`ReplayOptions::spill_dir`]).
    spill: Option<TradeSpill>,
    /// The first I/O error of the spill (reported when the replay is drained or finished).
    spill_error: Option<std::io::Error>,
    /// Spilled prints a break voided (they are no longer in `trades` to be counted there).
    spilled_broken: u64,
}

/// The rows of one replay or shard that are final, taken out of it.
#[derive(Debug, Default)]
struct Rows {
    /// Streaming: bars closed since the last hand-over, in no particular order.
    bars: Option<BarTable>,
    trades: Trades,
    trade_seq: Vec<u64>,
    quotes: QuoteColumns,
    quote_seq: Vec<u64>,
    snapshots: SnapshotColumns,
    monitored: MonitorOutput,
}

impl Rows {
    /// `other`'s rows (another shard's, over the same span of the stream) merged into these
    /// in stream order.
    fn absorb(&mut self, other: Rows, depth: usize) {
        let order = merge_order(&self.trade_seq, &other.trade_seq);
        self.trades = std::mem::take(&mut self.trades).interleave(other.trades, &order);
        self.trade_seq = interleave(std::mem::take(&mut self.trade_seq), other.trade_seq, &order);
        let order = merge_order(&self.quote_seq, &other.quote_seq);
        self.quotes = std::mem::take(&mut self.quotes).interleave(other.quotes, &order);
        self.quote_seq = interleave(std::mem::take(&mut self.quote_seq), other.quote_seq, &order);
        self.snapshots.absorb(other.snapshots, depth);
        self.monitored.add(other.monitored);
        self.bars = match (self.bars.take(), other.bars) {
            (Some(mine), Some(theirs)) => Some(mine.concat(theirs)),
            (mine, theirs) => mine.or(theirs),
        };
    }
}

/// Rows handed over by a streaming replay: each table's rows that became final since the
/// last hand-over (None: the table was not asked for).
#[derive(Debug, Default)]
pub struct Drained {
    /// Bars closed since the last hand-over, in no particular order (the ones folded again
    /// at the end replace some of them: see [`ReplayOutput::bar_redo`]).
    pub bars: Option<RecordBatch>,
    /// Prints, without their `broken` marks (a break may come later; see
    /// [`ReplayOutput::breaks`]).
    pub trades: Option<RecordBatch>,
    /// Top-of-book changes.
    pub bbo: Option<RecordBatch>,
    /// Depth snapshots.
    pub snapshots: Option<RecordBatch>,
    /// Activity windows that have ended.
    pub activity: Option<RecordBatch>,
    /// Activity rows of events stamped before the window they came in (time went back):
    /// each is to be added to the row of its window and symbol handed over before (or in
    /// this same hand-over).
    pub activity_late: Option<RecordBatch>,
    /// Episodes that can no longer grow.
    pub episodes: Option<RecordBatch>,
}

static SPILLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Replay {
    /// A replay with the given options.
    pub fn new(opts: ReplayOptions) -> Replay {
        Replay {
            checks: FrameChecks::default(),
            symbols: Symbols::new(opts.symbols.as_deref()),
            books: Books::new(),
            book_checks: BookChecks::default(),
            examples: BTreeMap::new(),
            trading: vec![
                Trading {
                    state: b'T',
                    operational_halt: false,
                    since: 0,
                };
                1 << 16
            ],
            in_session: false,
            max_ts: 0,
            event_rank: -1,
            vwap: HourlyVwap::new(opts.clock_hours),
            trades: Trades::default(),
            breaks: Vec::new(),
            bars: opts.bar_ns.map(BarBuilder::new),
            bar_table: None,
            bar_fixes: None,
            bar_redo: Vec::new(),
            tops: Tops::new(1 << 16),
            quotes: QuoteColumns::default(),
            next_snapshot: opts.snapshot_ns.unwrap_or(u64::MAX),
            snapshots: SnapshotColumns::default(),
            directory: BTreeMap::new(),
            owner: vec![0; 1 << 16].into_boxed_slice(),
            shard_index: 0,
            shard_count: 1,
            seq: 0,
            trade_seq: Vec::new(),
            quote_seq: Vec::new(),
            monitor: {
                let mut m = Monitor::new(opts.activity_ns, opts.sliding);
                m.include_crosses = opts.activity_crosses;
                m.active().then(|| Box::new(m))
            },
            monitored: MonitorOutput::default(),
            spill: None,
            spill_error: None,
            spilled_broken: 0,
            opts,
        }
    }

    /// Opens the spill file of a streaming replay that records prints.
    fn open_spill(&mut self) {
        let Some(dir) = &self.opts.spill_dir else {
            return;
        };
        if !(self.opts.trades || self.opts.bar_ns.is_some()) {
            return;
        }
        let n = SPILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".trades-{}-{n}.spill", std::process::id()));
        match TradeSpill::create(path) {
            Ok(spill) => self.spill = Some(spill),
            Err(e) => self.spill_error = Some(e),
        }
    }

    /// Takes the rows that are final: prints and top-of-book changes so far (the prints
    /// also go to the spill), snapshots, activity windows ended by the latest time, closed
    /// episodes; at the `end`, everything.
    fn take_rows(&mut self, end: bool) -> Rows {
        let mut rows = self.held();
        if let Some(spill) = &mut self.spill
            && self.spill_error.is_none()
            && let Err(e) = spill.append(&rows.trades)
        {
            self.spill_error = Some(e);
        }
        if !self.opts.trades {
            // Recorded for the bars only.
            (rows.trades, rows.trade_seq) = (Trades::default(), Vec::new());
        }
        if !end {
            // At the end the rest comes with the bars folded again ([`Replay::settle`]).
            rows.bars = self.bars.as_mut().map(BarBuilder::take_closed);
        }
        if end {
            if let Some(m) = self.monitor.take() {
                rows.monitored.add(m.finish_apart());
            }
        } else if let Some(m) = &mut self.monitor {
            rows.monitored.add(m.drain_apart(self.max_ts));
        }
        rows
    }

    /// The rows this replay holds, taken out as they are.
    fn held(&mut self) -> Rows {
        Rows {
            bars: None,
            trades: std::mem::take(&mut self.trades),
            trade_seq: std::mem::take(&mut self.trade_seq),
            quotes: std::mem::take(&mut self.quotes),
            quote_seq: std::mem::take(&mut self.quote_seq),
            snapshots: std::mem::take(&mut self.snapshots),
            monitored: std::mem::take(&mut self.monitored),
        }
    }

    /// Puts rows (taken with [`Replay::held`]) back.
    fn hold(&mut self, rows: Rows) {
        self.trades = rows.trades;
        self.trade_seq = rows.trade_seq;
        self.quotes = rows.quotes;
        self.quote_seq = rows.quote_seq;
        self.snapshots = rows.snapshots;
        self.monitored = rows.monitored;
    }

    /// Whether this replay keeps the book of `locate`.
    #[inline(always)]
    fn mine(&self, locate: u16) -> bool {
        self.owner[locate as usize] == self.shard_index
    }

    /// Counts what concerns the whole stream rather than a symbol (timestamps, the order of
    /// system events): the only replay or the first shard.
    #[inline(always)]
    fn primary(&self) -> bool {
        self.shard_index == 0
    }

    #[inline(always)]
    fn sharded(&self) -> bool {
        self.shard_count > 1
    }

    /// The time checks of a message (counted by the only replay or the first shard, which
    /// watch every message) and the latest time so far.
    #[inline(always)]
    fn watch(&mut self, ts: u64) {
        self.vwap.note(ts);
        if ts < self.max_ts {
            if self.primary() {
                self.book_checks.timestamp_regressions += 1;
            }
        } else {
            self.max_ts = ts;
        }
        if ts >= DAY_NS && self.primary() {
            self.book_checks.timestamp_out_of_range += 1;
        }
    }

    /// Cuts the hourly reports and snapshots due at `ts`. One replay does it before every
    /// message; a shard may wait until a message changes its own books and prints (or the
    /// end), since the rows depend only on those and carry the boundary's time. That
    /// holds while time never goes back, which the first shard checks.
    #[inline(always)]
    fn cut(&mut self, ts: u64) {
        self.vwap.before(ts);
        if ts >= self.next_snapshot {
            self.snapshot(ts);
        }
    }

    #[cold]
    fn flag(&mut self, counter: &'static str, timestamp: u64, locate: u16, reference: u64) {
        let list = self.examples.entry(counter).or_default();
        if list.len() < EXAMPLES_PER_COUNTER {
            list.push((
                self.seq,
                Example {
                    counter,
                    timestamp,
                    locate,
                    reference,
                },
            ));
        }
    }

    /// Top of book changed (maybe): record it for bars, the BBO stream and the crossed-book
    /// check. Returns true when the best prices changed.
    #[inline(always)]
    fn touched(&mut self, locate: u16, ts: u64) -> bool {
        let top = self.books.top(u32::from(locate));
        let q = Quote {
            bid: top.bid.map_or(0, |l| l.price),
            bid_size: top.bid.map_or(0, |l| l.shares),
            ask: top.ask.map_or(0, |l| l.price),
            ask_size: top.ask.map_or(0, |l| l.shares),
        };
        let Some(old) = self.tops.set(locate as usize, q) else {
            return false;
        };
        if let Some(m) = &mut self.monitor {
            m.event(locate, ts, Event::Bbo);
        }
        if self.opts.bbo {
            if self.sharded() {
                push_huge(&mut self.quote_seq, self.seq);
            }
            push_huge(&mut self.quotes.timestamp, ts as i64);
            push_huge(&mut self.quotes.locate, locate);
            self.quotes.quote.push(q);
        }
        let moved = q.bid != old.bid || q.ask != old.ask;
        if moved && let Some(b) = &mut self.bars {
            b.quote(locate, ts, q.bid.into(), q.ask.into());
        }
        moved
    }

    /// True when a change at `price` on `side` can move the cached top of `locate`: only
    /// those changes pay for a top-of-book lookup.
    #[inline(always)]
    fn at_top(&self, locate: u16, side: Side, price: u32) -> bool {
        let q = &self.tops[locate as usize];
        match side {
            Side::Bid => q.bid == 0 || price >= q.bid,
            Side::Ask => q.ask == 0 || price <= q.ask,
        }
    }

    #[inline(always)]
    fn touched_at(&mut self, locate: u16, ts: u64, side: Side, price: u32) -> bool {
        self.at_top(locate, side, price) && self.touched(locate, ts)
    }

    #[inline(always)]
    fn quote_before(&self, locate: u16) -> Quote {
        self.tops[locate as usize]
    }

    #[inline(always)]
    fn print(&mut self, mut p: Print) {
        if p.printable && p.shares > MAX_PRINT_SHARES {
            self.book_checks.absurd_prints += 1;
            self.flag("absurd_prints", p.timestamp, p.locate, p.match_number);
            p.printable = false;
        }
        if p.printable
            && let Some(m) = &mut self.monitor
        {
            m.print(
                p.locate,
                p.timestamp,
                p.kind,
                u64::from(p.price),
                p.shares,
                p.aggressor,
            );
        }
        if p.printable {
            self.vwap.print(p.locate, p.shares, p.price);
            if let Some(b) = &mut self.bars {
                b.print(&p);
            }
        }
        if self.opts.trades || self.opts.bar_ns.is_some() {
            if self.sharded() {
                push_huge(&mut self.trade_seq, self.seq);
            }
            self.trades.push(p);
        }
    }

    fn check_crossed(&mut self, locate: u16, ts: u64) {
        if !self.in_session {
            return;
        }
        let t = self.trading[locate as usize];
        if t.state != b'T' || t.operational_halt || ts <= t.since.saturating_add(SECOND) {
            return;
        }
        let Quote { bid, ask, .. } = self.tops[locate as usize];
        if bid == 0 || ask == 0 || bid < ask {
            return;
        }
        if bid > ask {
            self.book_checks.crossed_book_events += 1;
            self.flag("crossed_book_events", ts, locate, u64::from(bid));
        } else {
            self.book_checks.locked_book_events += 1;
            self.flag("locked_book_events", ts, locate, u64::from(bid));
        }
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        locate: u16,
        ts: u64,
        reference: u64,
        side: u8,
        shares: u32,
        price: u32,
        mpid: [u8; 4],
    ) {
        if shares == 0 {
            self.book_checks.zero_shares_add += 1;
            self.flag("zero_shares_add", ts, locate, reference);
        }
        if price == 0 {
            self.book_checks.zero_price_add += 1;
            self.flag("zero_price_add", ts, locate, reference);
        }
        let Some(side) = Side::from_itch(side) else {
            self.book_checks.bad_side += 1;
            self.flag("bad_side", ts, locate, reference);
            return;
        };
        if let Some(old) =
            self.books
                .add(u32::from(locate), reference, side, price, shares, ts, mpid)
        {
            self.book_checks.duplicate_add_ref += 1;
            self.flag("duplicate_add_ref", ts, locate, reference);
            let _ = self.touched_at(old.book as u16, ts, old.side, old.price);
        }
        if self.touched_at(locate, ts, side, price) {
            self.check_crossed(locate, ts);
        }
    }

    #[inline(always)]
    fn unknown_ref(&mut self, ts: u64, locate: u16, reference: u64) {
        self.book_checks.unknown_ref += 1;
        self.flag("unknown_ref", ts, locate, reference);
    }

    #[inline(always)]
    fn mismatch(&mut self, ts: u64, header: u16, book: u32, reference: u64) {
        if u32::from(header) != book {
            self.book_checks.locate_mismatch += 1;
            self.flag("locate_mismatch", ts, header, reference);
        }
    }

    /// `E` or `C`: the reduction and the print. Returns false for an unknown reference.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        ts: u64,
        header_locate: u16,
        reference: u64,
        shares: u32,
        match_number: u64,
        with_price: Option<(u8, u32)>,
    ) {
        let book = match self.books.order(reference) {
            Some(o) => o.book as u16,
            None => {
                self.unknown_ref(ts, header_locate, reference);
                // A printable C still prints: its price is in the message.
                if let Some((b'Y', price)) = with_price {
                    let quote = self.quote_before(header_locate);
                    self.print(Print {
                        timestamp: ts,
                        locate: header_locate,
                        kind: b'C',
                        price,
                        shares: u64::from(shares),
                        aggressor: 0,
                        match_number,
                        printable: true,
                        order_reference: reference,
                        cross_type: 0,
                        quote,
                    });
                } else if let Some((flag, _)) = with_price
                    && flag != b'N'
                {
                    self.book_checks.bad_printable += 1;
                    self.flag("bad_printable", ts, header_locate, match_number);
                }
                return;
            }
        };
        let quote = self.quote_before(book);
        let Some(r) = self.books.reduce(reference, shares) else {
            return;
        };
        self.mismatch(ts, header_locate, r.order.book, reference);
        if r.over {
            self.book_checks.over_execution += 1;
            self.flag("over_execution", ts, book, reference);
        }
        if !r.at_front {
            self.book_checks.non_fifo_executions += 1;
        }
        let (kind, price, printable) = match with_price {
            None => (b'E', r.order.price, true),
            Some((flag, price)) => {
                if flag != b'Y' && flag != b'N' {
                    self.book_checks.bad_printable += 1;
                    self.flag("bad_printable", ts, book, match_number);
                }
                (b'C', price, flag == b'Y')
            }
        };
        self.print(Print {
            timestamp: ts,
            locate: book,
            kind,
            price,
            shares: u64::from(shares),
            aggressor: r.order.side.aggressor(),
            match_number,
            printable,
            order_reference: reference,
            cross_type: 0,
            quote,
        });
        let _ = self.touched_at(book, ts, r.order.side, r.order.price);
    }

    fn system_event(&mut self, code: u8, ts: u64) {
        if let Some(rank) = event_rank(code) {
            if rank <= self.event_rank && self.primary() {
                self.book_checks.events_out_of_order += 1;
                self.flag("events_out_of_order", ts, 0, u64::from(code));
            }
            self.event_rank = rank;
        }
        match code {
            b'Q' => {
                self.in_session = true;
                self.vwap.open(ts);
            }
            b'M' => {
                self.in_session = false;
                self.vwap.close(ts);
            }
            _ => {}
        }
    }

    #[cold]
    fn snapshot(&mut self, ts: u64) {
        let every = self.opts.snapshot_ns.unwrap_or(u64::MAX);
        while ts >= self.next_snapshot {
            let at = self.next_snapshot;
            let depth = self.opts.depth;
            let live: Vec<u32> = self.books.non_empty().collect();
            for book in live {
                self.snapshots.timestamp.push(at as i64);
                self.snapshots.locate.push(book as u16);
                for (side, out) in [
                    (Side::Bid, &mut self.snapshots.bid),
                    (Side::Ask, &mut self.snapshots.ask),
                ] {
                    let mut n = 0;
                    for lv in self.books.levels(book, side).take(depth) {
                        out.push((lv.price, lv.shares, lv.orders));
                        n += 1;
                    }
                    out.extend(std::iter::repeat_n((0, 0, 0), depth - n));
                }
            }
            self.next_snapshot = at.saturating_add(every);
        }
    }

    /// One shard of a parallel replay (`count` a power of two), owning `locate % count`
    /// until [`ParallelReplay`] balances the shards.
    fn shard(opts: ReplayOptions, index: usize, count: usize) -> Replay {
        debug_assert!(count.is_power_of_two() && index < count && count <= 64);
        Replay {
            owner: by_locate(1 << 16, count).into_boxed_slice(),
            shard_index: index as u8,
            shard_count: count as u8,
            ..Replay::new(opts)
        }
    }

    /// Signs that the shards may go apart from one replay: a message that may have gone to
    /// another shard than its order's book (a reference not live in the message's shard, an
    /// add of a live reference), or time going back (shards cut reports late).
    fn may_straddle(&self) -> bool {
        self.book_checks.unknown_ref > 0
            || self.book_checks.duplicate_add_ref > 0
            || self.book_checks.timestamp_regressions > 0
    }

    /// Takes over another shard's symbols: what one replay over both would hold. Returns
    /// false when a reference was live in both (the shards went apart from one replay).
    fn absorb(&mut self, mut other: Replay) -> bool {
        let mut rows = self.held();
        let mut theirs = other.held();
        if let Some(m) = other.monitor.take() {
            theirs.monitored.add(m.finish());
        }
        rows.absorb(theirs, self.opts.depth);
        self.hold(rows);
        self.bar_table = match (self.bar_table.take(), other.bar_table) {
            (Some(mine), Some(theirs)) => Some(mine.merge(theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        self.bar_fixes = match (self.bar_fixes.take(), other.bar_fixes) {
            (Some(mine), Some(theirs)) => Some(mine.merge(theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        self.bar_redo.extend(other.bar_redo);
        self.bar_redo.sort_unstable();
        self.vwap.absorb(other.vwap);
        let clashes = self.books.absorb(&other.books);
        self.book_checks.add(&other.book_checks);
        for (counter, list) in other.examples {
            let mine = self.examples.entry(counter).or_default();
            mine.extend(list);
            mine.sort_by_key(|e| e.0);
            mine.truncate(EXAMPLES_PER_COUNTER);
        }
        self.directory.extend(other.directory);
        self.spilled_broken += other.spilled_broken;
        self.max_ts = self.max_ts.max(other.max_ts);
        clashes == 0
    }

    /// The end of day of one replay or shard, before any merge: the prints of `breaks`
    /// (every shard's match numbers, ascending, no repeats) are voided, and the bars closed
    /// and folded again where that changed them. Returns which breaks matched a print here.
    fn settle(&mut self, breaks: &[u64]) -> Vec<bool> {
        if self.spill.is_some() {
            return self.settle_spilled(breaks);
        }
        let seen = self.trades.mark_broken(breaks);
        self.bar_table = self.bars.take().map(|b| b.finish(&self.trades));
        seen
    }

    /// [`Replay::settle`] of a streaming replay, whose prints are in its spill: read back
    /// print by print to find the voided ones, and again to fold the bars of the symbols
    /// that need it (a voided print, or prints out of time order).
    fn settle_spilled(&mut self, breaks: &[u64]) -> Vec<bool> {
        let mut seen = vec![false; breaks.len()];
        let Some(spill) = self.spill.as_mut() else {
            return seen;
        };
        let mut broken = 0;
        let first = spill.flush().and_then(|()| {
            spill.scan(|p| {
                if let Ok(k) = breaks.binary_search(&p.match_number) {
                    seen[k] = true;
                    broken += 1;
                }
            })
        });
        self.spilled_broken = broken;
        if let Err(e) = first {
            self.spill_error.get_or_insert(e);
            return seen;
        }
        let Some(bars) = self.bars.take() else {
            return seen;
        };
        let spill = &*spill;
        let failed = std::cell::RefCell::new(None);
        let (rest, fixes, redo) = bars.finish_streamed(|visit| {
            let read = spill.scan(|p| visit(p, breaks.binary_search(&p.match_number).is_ok()));
            if let Err(e) = read {
                failed.borrow_mut().get_or_insert(e);
            }
        });
        match failed.into_inner() {
            Some(e) => {
                self.spill_error.get_or_insert(e);
            }
            None => {
                (self.bar_table, self.bar_fixes) = (Some(rest), Some(fixes));
                self.bar_redo = redo;
            }
        }
        seen
    }

    /// Ends the replay: end-of-day report, breaks, end-of-day book counters, output tables.
    pub fn finish(mut self, midnight: Option<i64>, prices: PriceRepr) -> ReplayOutput {
        let breaks = break_list(std::mem::take(&mut self.breaks));
        let unmatched = self.settle(&breaks).iter().filter(|&&s| !s).count() as u64;
        self.tables(unmatched, midnight, prices)
    }

    /// Output tables and end-of-day counters of a settled replay; `unmatched` breaks matched
    /// no print.
    fn tables(mut self, unmatched: u64, midnight: Option<i64>, prices: PriceRepr) -> ReplayOutput {
        self.vwap.end(self.max_ts);
        self.book_checks.unmatched_break = unmatched;
        self.book_checks.broken_trades =
            self.trades.broken.iter().filter(|&&b| b).count() as u64 + self.spilled_broken;
        self.book_checks.live_orders_at_end = self.books.live_orders() as u64;
        let non_empty: Vec<u32> = self.books.non_empty().collect();
        for book in non_empty {
            let (bid, ask) = self.books.best_prices(book);
            if bid > 0 && ask > 0 {
                if bid > ask {
                    self.book_checks.crossed_books_at_end += 1;
                } else if bid == ask {
                    self.book_checks.locked_books_at_end += 1;
                }
            }
        }
        let dictionary = self.symbols.dictionary();
        let key_of_locate: Vec<u16> = (0..=u16::MAX)
            .map(|l| self.symbols.key_of_locate(l))
            .collect();
        // The trades table, the largest, is built in a second thread meanwhile.
        let trades = std::mem::take(&mut self.trades);
        let keep_trades = self.opts.trades;
        let mut monitored = std::mem::take(&mut self.monitored);
        if let Some(m) = self.monitor.take() {
            monitored.add(m.finish());
        }
        let bar_table = self.bar_table.take();
        let bar_fixes = self.bar_fixes.take();
        let (trades, bars, (activity, episodes)) = std::thread::scope(|scope| {
            let (keys, dict) = (&key_of_locate, &dictionary);
            let trades = scope
                .spawn(move || keep_trades.then(|| trades.to_batch(keys, dict, midnight, prices)));
            let bars = bar_table.map(|b| b.to_batch(keys, dict, midnight, prices));
            let monitored = monitored.to_batches(keys, dict, midnight);
            (join(trades), bars, monitored)
        });
        let hourly = hourly_table(&self.vwap, &self.directory, midnight);
        let bbo = self.opts.bbo.then(|| {
            quotes_table(
                std::mem::take(&mut self.quotes),
                &key_of_locate,
                &dictionary,
                midnight,
                prices,
            )
        });
        let snapshots = self.opts.snapshot_ns.map(|_| {
            snapshot_table(
                &self.snapshots,
                self.opts.depth,
                &key_of_locate,
                &dictionary,
                midnight,
                prices,
            )
        });
        let examples = self
            .examples
            .into_values()
            .flatten()
            .map(|(_, e)| e)
            .collect();
        let bar_fixes =
            bar_fixes.map(|b| b.to_batch(&key_of_locate, &dictionary, midnight, prices));
        ReplayOutput {
            breaks: Vec::new(),
            hourly_vwap: hourly,
            trades,
            bars,
            bar_fixes,
            bar_redo: std::mem::take(&mut self.bar_redo),
            activity_late: None,
            bbo,
            snapshots,
            activity,
            episodes,
            checks: self.checks,
            book_checks: self.book_checks,
            examples,
            books: self.books,
            symbols: self.symbols,
            key_of_locate,
        }
    }
}

/// Everything a replay produced.
#[derive(Debug)]
pub struct ReplayOutput {
    /// Match numbers of the day's breaks, ascending (what voided the prints marked
    /// `broken`; a streaming replay's hand-overs carry no marks, so its reader applies
    /// these).
    pub breaks: Vec<u64>,
    /// The hourly VWAP report.
    pub hourly_vwap: RecordBatch,
    /// Every print.
    pub trades: Option<RecordBatch>,
    /// Time bars; streaming: those not handed over yet.
    pub bars: Option<RecordBatch>,
    /// Streaming: the bars folded again at the end (breaks, prints out of time order),
    /// without their spreads, which are those of the bars they replace.
    pub bar_fixes: Option<RecordBatch>,
    /// Streaming: `(locate, first bar start in ns since midnight)` per locate whose bars
    /// from that start on, handed over or not, are replaced by `bar_fixes`' rows.
    pub bar_redo: Vec<(u16, i64)>,
    /// Top-of-book changes.
    pub bbo: Option<RecordBatch>,
    /// Depth snapshots.
    pub snapshots: Option<RecordBatch>,
    /// Activity windows (docs/detection.md §2).
    pub activity: Option<RecordBatch>,
    /// Streaming: see [`Drained::activity_late`].
    pub activity_late: Option<RecordBatch>,
    /// Episodes of the sliding rule (docs/detection.md §3.1).
    pub episodes: Option<RecordBatch>,
    /// Framing counters.
    pub checks: FrameChecks,
    /// Book counters.
    pub book_checks: BookChecks,
    /// The first offending messages per counter.
    pub examples: Vec<Example>,
    /// The final books.
    pub books: Books,
    /// The day's symbols.
    pub symbols: Symbols,
    /// Dictionary key of each locate's symbol.
    pub key_of_locate: Vec<u16>,
}

/// The report names symbols as the directory (`R`) does, `#<locate>` without one.
fn hourly_table(
    v: &HourlyVwap,
    directory: &BTreeMap<u16, String>,
    midnight: Option<i64>,
) -> RecordBatch {
    let name = |l: u16| {
        directory
            .get(&l)
            .cloned()
            .unwrap_or_else(|| format!("#{l}"))
    };
    let mut rows: Vec<_> = v
        .rows
        .iter()
        .map(|r| (r.report, name(r.locate), *r))
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1, a.2.locate).cmp(&(b.0, &b.1, b.2.locate)));
    let mut t = TableBuilder::new();
    let symbol: arrow_array::StringArray = rows.iter().map(|r| Some(r.1.as_str())).collect();
    t.column("symbol", Arc::new(symbol), false);
    let times: Vec<i64> = rows
        .iter()
        .map(|r| v.reports[r.0 as usize].timestamp as i64)
        .collect();
    t.times("timestamp", "time", times, midnight);
    let vwap: Vec<f64> = rows
        .iter()
        .map(|r| r.2.notional as f64 / r.2.volume as f64 / 10_000.0)
        .collect();
    t.column("vwap", Arc::new(Float64Array::from(vwap)), false);
    t.values::<UInt64Type>("volume", rows.iter().map(|r| r.2.volume).collect());
    let notional = Decimal128Array::from(
        rows.iter()
            .map(|r| i128::try_from(r.2.notional).unwrap_or(i128::MAX))
            .collect::<Vec<i128>>(),
    )
    .with_precision_and_scale(38, 4)
    .expect("38, 4 is a valid decimal type");
    t.column("notional", Arc::new(notional), false);
    let label: arrow_array::StringArray = rows
        .iter()
        .map(|r| Some(v.reports[r.0 as usize].label.as_str()))
        .collect();
    t.column("label", Arc::new(label), false);
    t.values::<UInt16Type>("stock_locate", rows.iter().map(|r| r.2.locate).collect());
    t.finish()
}

fn quotes_table(
    q: QuoteColumns,
    key_of_locate: &[u16],
    dictionary: &ArrayRef,
    midnight: Option<i64>,
    prices: PriceRepr,
) -> RecordBatch {
    let mut t = TableBuilder::new();
    t.located(q.timestamp, q.locate, key_of_locate, dictionary, midnight);
    q.quote.into_columns(&mut t, prices);
    t.finish()
}

fn snapshot_table(
    s: &SnapshotColumns,
    depth: usize,
    key_of_locate: &[u16],
    dictionary: &ArrayRef,
    midnight: Option<i64>,
    prices: PriceRepr,
) -> RecordBatch {
    let mut t = TableBuilder::new();
    t.located(
        s.timestamp.clone(),
        s.locate.clone(),
        key_of_locate,
        dictionary,
        midnight,
    );
    let rows = s.timestamp.len();
    for (name, cells) in [("bid", &s.bid), ("ask", &s.ask)] {
        for k in 0..depth {
            let at = |r: usize| cells[r * depth + k];
            let valid = NullBuffer::new(bits(rows, |r| at(r).2 > 0));
            t.price(
                &format!("{name}_price_{}", k + 1),
                (0..rows).map(|r| at(r).0).collect(),
                prices,
                Some(valid.clone()),
            );
            t.values_or_null::<UInt64Type>(
                &format!("{name}_size_{}", k + 1),
                (0..rows).map(|r| at(r).1).collect(),
                valid.clone(),
            );
            t.values_or_null::<UInt32Type>(
                &format!("{name}_orders_{}", k + 1),
                (0..rows).map(|r| at(r).2).collect(),
                valid,
            );
        }
    }
    t.finish()
}

impl Visitor for Replay {
    type Output = ();

    #[inline(always)]
    fn visit<M: MessageDef>(&mut self, m: M) {
        let h = m.header();
        let ts = h.timestamp;
        let locate = h.stock_locate;
        let code = M::KIND.code();
        if M::HAS_STOCK || self.symbols.filtering() {
            let key = self.symbols.key_of(&m);
            if self.symbols.filtering() && !self.symbols.allows(key, locate) {
                return;
            }
        }
        self.watch(ts);
        self.cut(ts);
        // Every shard follows the system events (sessions, report times); the rest belongs
        // to the shard of its stock.
        if !self.mine(locate) && !matches!(M::KIND, MessageKind::SystemEvent) {
            return;
        }
        match m.into_message() {
            Message::AddOrder(a) => self.add(
                locate,
                ts,
                a.order_reference_number,
                a.buy_sell_indicator,
                a.shares,
                a.price,
                *b"    ",
            ),
            Message::AddOrderMpid(f) => self.add(
                locate,
                ts,
                f.order_reference_number,
                f.buy_sell_indicator,
                f.shares,
                f.price,
                f.attribution,
            ),
            Message::OrderExecuted(e) => self.execute(
                ts,
                locate,
                e.order_reference_number,
                e.executed_shares,
                e.match_number,
                None,
            ),
            Message::OrderExecutedWithPrice(c) => self.execute(
                ts,
                locate,
                c.order_reference_number,
                c.executed_shares,
                c.match_number,
                Some((c.printable, c.execution_price)),
            ),
            Message::OrderCancel(x) => {
                match self
                    .books
                    .reduce(x.order_reference_number, x.cancelled_shares)
                {
                    Some(r) => {
                        self.mismatch(ts, locate, r.order.book, x.order_reference_number);
                        if r.over {
                            self.book_checks.over_cancel += 1;
                            self.flag("over_cancel", ts, locate, x.order_reference_number);
                        }
                        let _ =
                            self.touched_at(r.order.book as u16, ts, r.order.side, r.order.price);
                    }
                    None => self.unknown_ref(ts, locate, x.order_reference_number),
                }
            }
            Message::OrderDelete(d) => match self.books.delete(d.order_reference_number) {
                Some(o) => {
                    self.mismatch(ts, locate, o.book, d.order_reference_number);
                    let _ = self.touched_at(o.book as u16, ts, o.side, o.price);
                }
                None => self.unknown_ref(ts, locate, d.order_reference_number),
            },
            Message::OrderReplace(u) => {
                match self.books.replace(
                    u.original_order_reference_number,
                    u.new_order_reference_number,
                    u.shares,
                    u.price,
                    ts,
                ) {
                    Some((old, displaced)) => {
                        self.mismatch(ts, locate, old.book, u.original_order_reference_number);
                        if let Some(d) = displaced {
                            self.book_checks.duplicate_add_ref += 1;
                            self.flag(
                                "duplicate_add_ref",
                                ts,
                                locate,
                                u.new_order_reference_number,
                            );
                            let _ = self.touched_at(d.book as u16, ts, d.side, d.price);
                        }
                        let book = old.book as u16;
                        if (self.at_top(book, old.side, old.price)
                            || self.at_top(book, old.side, u.price))
                            && self.touched(book, ts)
                        {
                            self.check_crossed(book, ts);
                        }
                    }
                    None => self.unknown_ref(ts, locate, u.original_order_reference_number),
                }
            }
            Message::Trade(p) => {
                let quote = self.quote_before(locate);
                self.print(Print {
                    timestamp: ts,
                    locate,
                    kind: b'P',
                    price: p.price,
                    shares: u64::from(p.shares),
                    aggressor: 0,
                    match_number: p.match_number,
                    printable: true,
                    order_reference: 0,
                    cross_type: 0,
                    quote,
                });
            }
            #[allow(clippy::collapsible_match)]
            Message::CrossTrade(q) => {
                if q.shares > 0 {
                    let quote = self.quote_before(locate);
                    self.print(Print {
                        timestamp: ts,
                        locate,
                        kind: b'Q',
                        price: q.cross_price,
                        shares: q.shares,
                        aggressor: 0,
                        match_number: q.match_number,
                        printable: true,
                        order_reference: 0,
                        cross_type: q.cross_type,
                        quote,
                    });
                }
            }
            Message::BrokenTrade(b) => self.breaks.push(b.match_number),
            Message::SystemEvent(s) => self.system_event(s.event_code, ts),
            Message::StockDirectory(r) => {
                let name = crate::arrow::builders::alpha_to_string(&r.stock);
                self.directory.insert(locate, name);
            }
            Message::StockTradingAction(a) => {
                let t = &mut self.trading[locate as usize];
                if a.trading_state == b'T' && t.state != b'T' {
                    t.since = ts;
                }
                t.state = a.trading_state;
            }
            Message::OperationalHalt(o) => {
                let t = &mut self.trading[locate as usize];
                let halted = o.operational_halt_action == b'H';
                if t.operational_halt && !halted {
                    t.since = ts;
                }
                t.operational_halt = halted;
            }
            _ => {}
        }
        if let Some(mon) = &mut self.monitor {
            match code {
                b'A' | b'F' | b'X' | b'D' | b'U' => mon.event(locate, ts, Event::Quote(code)),
                b'E' | b'C' => mon.event(locate, ts, Event::Execution),
                _ => {}
            }
        }
    }
}

/// A replay split by stock locate across threads. Every shard walks every frame (framing is
/// cheap next to the books), passes over other shards' order messages undecoded and keeps
/// the books, prints and bars of its own locates; all of them follow the system events and
/// cut the same reports and snapshots. [`ParallelReplay::finish`] merges them into what one
/// [`Replay`] would have produced.
///
/// That holds while each message goes to the shard of its order's book, which is so when
/// order references are unique per day and every message carries its order's locate, and
/// while time never goes back, as in exchange data. Where a shard sees otherwise (an
/// unknown reference, an add of a live reference, a timestamp earlier than the one before),
/// [`ParallelReplay::may_straddle`] says so and the caller replays in one thread.
#[derive(Debug)]
pub struct ParallelReplay {
    shards: Vec<Replay>,
    /// Whether the stocks have been dealt to the shards (before the first frame is walked).
    balanced: bool,
}

impl ParallelReplay {
    /// A replay over `threads` threads, rounded down to a power of two (at most 64); one
    /// thread is a plain replay, and so is a replay of chosen symbols (it decodes every
    /// message to filter them, so there is little left to split).
    pub fn new(opts: ReplayOptions, threads: usize) -> ParallelReplay {
        let threads = if opts.symbols.is_some() { 1 } else { threads };
        let count = 1usize << threads.clamp(1, 64).ilog2();
        let mut shards = if count == 1 {
            vec![Replay::new(opts)]
        } else {
            (0..count)
                .map(|k| Replay::shard(opts.clone(), k, count))
                .collect()
        };
        for shard in &mut shards {
            shard.open_spill();
        }
        ParallelReplay {
            shards,
            balanced: false,
        }
    }

    /// Deals the stocks to the shards so that each gets about as many order messages: the
    /// busiest stocks of `buf` (the start of the stream) first, each to the shard with the
    /// fewest so far; stocks `buf` does not name keep `locate % shards`. Stock activity is
    /// skewed (a few names carry much of a day), and a fixed split by locate left one of two
    /// threads with 55 % of the order messages of a generated day.
    fn balance(&mut self, buf: &[u8]) {
        let shards = self.shards.len();
        let owner = deal(&order_messages_by_locate(buf), shards);
        for shard in &mut self.shards {
            shard.owner.copy_from_slice(&owner);
        }
    }

    /// Threads in use.
    pub fn threads(&self) -> usize {
        self.shards.len()
    }

    /// True when a shard saw a sign that the shards may have gone apart from one replay
    /// (see the type's docs): the caller replays in one thread.
    pub fn may_straddle(&self) -> bool {
        self.shards.len() > 1 && self.shards.iter().any(Replay::may_straddle)
    }

    /// Whether rows are handed over as they become final ([`ReplayOptions::spill_dir`]).
    pub fn streaming(&self) -> bool {
        self.shards[0].opts.spill_dir.is_some()
    }

    /// The rows of every shard that became final since the last call, merged in stream
    /// order, as tables; at the `end` (after the last message), everything left.
    fn take(
        &mut self,
        end: bool,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> crate::error::Result<Drained> {
        let depth = self.shards[0].opts.depth;
        let mut parts = self.shards.iter_mut().map(|s| s.take_rows(end));
        let mut rows = parts.next().unwrap_or_default();
        for part in parts {
            rows.absorb(part, depth);
        }
        if let Some(e) = self.shards.iter_mut().find_map(|s| s.spill_error.take()) {
            return Err(e.into());
        }
        let first = &mut self.shards[0];
        let dictionary = first.symbols.dictionary();
        let opts = &first.opts;
        let key_of_locate: Vec<u16> = (0..=u16::MAX)
            .map(|l| first.symbols.key_of_locate(l))
            .collect();
        let activity_late = rows
            .monitored
            .late_batch(&key_of_locate, &dictionary, midnight);
        let (activity, episodes) = rows
            .monitored
            .to_batches(&key_of_locate, &dictionary, midnight);
        Ok(Drained {
            bars: rows
                .bars
                .map(|b| b.to_batch(&key_of_locate, &dictionary, midnight, prices)),
            trades: opts.trades.then(|| {
                let mut t = rows.trades;
                // No marks yet: a break may come later.
                t.broken.iter_mut().for_each(|b| *b = false);
                t.to_batch(&key_of_locate, &dictionary, midnight, prices)
            }),
            bbo: opts
                .bbo
                .then(|| quotes_table(rows.quotes, &key_of_locate, &dictionary, midnight, prices)),
            snapshots: opts.snapshot_ns.map(|_| {
                snapshot_table(
                    &rows.snapshots,
                    depth,
                    &key_of_locate,
                    &dictionary,
                    midnight,
                    prices,
                )
            }),
            activity,
            activity_late,
            episodes,
        })
    }

    /// Streaming: the rows that became final since the last call (see [`Drained`]); an
    /// error when the spill file could not be written.
    pub fn drain(
        &mut self,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> crate::error::Result<Drained> {
        self.take(false, midnight, prices)
    }

    /// Merges the shards and ends the replay as [`Replay::finish`] does; `None` when they
    /// may have gone apart from one replay (the caller replays serially then). A streaming
    /// replay's output holds, of the streamed tables, only the rows not handed over yet.
    pub fn finish(
        mut self,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> crate::error::Result<Option<ReplayOutput>> {
        if self.may_straddle() {
            return Ok(None);
        }
        // Every shard cuts the reports and snapshots that fell due after its last message,
        // voids its broken prints and finishes its bars, each in its own thread. Snapshots
        // are due up to the latest time of the day; hourly reports only up to the latest
        // time while the market was open (the first shard watched every message's time), so
        // that time going back after the close cuts no report one replay would not.
        let last = self.shards.iter().map(|s| s.max_ts).max().unwrap_or(0);
        let due = self.shards.iter().map(|s| s.vwap.due()).max().unwrap_or(0);
        let breaks = break_list(
            self.shards
                .iter()
                .flat_map(|s| s.breaks.iter().copied())
                .collect(),
        );
        let streaming = self.streaming();
        for s in &mut self.shards {
            s.vwap.before(due);
            if last >= s.next_snapshot {
                s.snapshot(last);
            }
        }
        let rest = if streaming {
            Some(self.take(true, midnight, prices)?)
        } else {
            None
        };
        let seen = in_parallel(&mut self.shards, |s| s.settle(&breaks));
        if let Some(e) = self.shards.iter_mut().find_map(|s| s.spill_error.take()) {
            return Err(e.into());
        }
        let unmatched = (0..breaks.len())
            .filter(|&k| !seen.iter().any(|s| s[k]))
            .count() as u64;
        let mut shards = self.shards.into_iter();
        let Some(mut all) = shards.next() else {
            return Ok(None);
        };
        for shard in shards {
            if !all.absorb(shard) {
                return Ok(None);
            }
        }
        let mut out = all.tables(unmatched, midnight, prices);
        out.breaks = breaks;
        if let Some(rest) = rest {
            (out.trades, out.bbo, out.snapshots) = (rest.trades, rest.bbo, rest.snapshots);
            (out.activity, out.episodes) = (rest.activity, rest.episodes);
            out.activity_late = rest.activity_late;
        }
        Ok(Some(out))
    }
}

/// Order messages (`A F E C X D U P`) per stock locate in the whole frames of `buf`.
fn order_messages_by_locate(buf: &[u8]) -> Vec<u32> {
    let mut count = vec![0u32; 1 << 16];
    for (_, msg) in Frames::new(buf) {
        if msg.len() >= 3 && b"AFECXDUP".contains(&msg[0]) {
            count[usize::from(load_u16(msg, 1))] += 1;
        }
    }
    count
}

/// Shard of each of `locates` locates by the locate alone: `locate % shards`.
fn by_locate(locates: usize, shards: usize) -> Vec<u8> {
    (0..locates).map(|l| (l % shards) as u8).collect()
}

/// Shard of each locate: locates with a count, busiest first, each to the shard with the
/// smallest total so far (lowest index on a tie); the others `locate % shards`.
fn deal(count: &[u32], shards: usize) -> Vec<u8> {
    let mut owner = by_locate(count.len(), shards);
    let mut busy: Vec<(u32, usize)> = (0..count.len())
        .filter(|&l| count[l] > 0)
        .map(|l| (count[l], l))
        .collect();
    busy.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut load = vec![0u64; shards];
    for (n, l) in busy {
        let k = (0..shards).min_by_key(|&k| (load[k], k)).unwrap_or(0);
        owner[l] = k as u8;
        load[k] += u64::from(n);
    }
    owner
}

impl Visitor for ParallelReplay {
    type Output = ();

    fn visit<M: MessageDef>(&mut self, m: M) {
        for shard in &mut self.shards {
            shard.visit(m);
        }
    }
}

impl FrameSink for ParallelReplay {
    fn checks(&self) -> &FrameChecks {
        &self.shards[0].checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.shards[0].checks
    }
    fn policy(&self) -> FramePolicy {
        self.shards[0].opts.policy
    }

    /// Each shard walks the buffer in its own thread; framing is the same for all, so the
    /// first shard's result (and framing counters) stand for the replay.
    fn feed_frames(&mut self, buf: &[u8], base: u64) -> crate::error::Result<usize> {
        if !self.balanced {
            self.balanced = true;
            if self.shards.len() > 1 {
                self.balance(buf);
            }
        }
        in_parallel(&mut self.shards, |shard| walk_frames(shard, buf, base))
            .into_iter()
            .next()
            .unwrap_or(Ok(0))
    }
}

impl FrameSink for Replay {
    fn checks(&self) -> &FrameChecks {
        &self.checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.checks
    }
    fn policy(&self) -> FramePolicy {
        self.opts.policy
    }

    const LOOKAHEAD: bool = true;

    /// A shard numbers messages by their offset in the stream and passes over the order
    /// messages of other shards' stocks (most of a day) without decoding them: `E C X D U`,
    /// and `A F` whose symbol the locate map already holds (every shard learns every
    /// symbol, so that all of them key symbols alike). The first shard still watches their
    /// times.
    #[inline(always)]
    fn glance(&mut self, msg: &[u8], offset: u64) -> bool {
        if !self.sharded() || self.symbols.filtering() {
            return false;
        }
        let Some(&code) = msg.first() else {
            return false;
        };
        // A whole frame of its type (unknown types have length 0 here): the header is there.
        if msg.len() != usize::from(SPEC_LEN[code as usize]) {
            return false;
        }
        self.seq = offset;
        let locate = load_u16(msg, 1);
        if self.mine(locate) {
            return false;
        }
        let skip = match code {
            b'E' | b'C' | b'X' | b'D' | b'U' => true,
            // The Stock field of both adds.
            b'A' | b'F' => self.symbols.knows(locate, &msg[24..32]),
            _ => false,
        };
        if !skip {
            return false;
        }
        if self.primary() {
            self.watch(load_u48(msg, 5));
        }
        true
    }

    /// Only once the live orders outgrow the caches: below that, the prefetches hit lines
    /// that are already there and the lookahead walks only cost instructions.
    #[inline(always)]
    fn lookahead_now(&self) -> bool {
        self.books.live_orders() >= self.opts.lookahead_from
    }

    /// The book's loads are dependent cache misses (index slot, order, level and queue
    /// neighbours); issuing each a few messages early overlaps them across messages.
    #[inline(always)]
    fn ahead<const STAGE: usize>(&self, msg: &[u8]) {
        let Some(r) = msg.get(11..19) else { return };
        if !self.mine(load_u16(msg, 1)) {
            return;
        }
        let reference = u64::from_be_bytes(r.try_into().unwrap_or_default());
        let code = msg[0];
        match STAGE {
            0 => {
                if matches!(code, b'E' | b'C' | b'X' | b'D' | b'U' | b'A' | b'F') {
                    self.books.prefetch_slot(reference);
                }
                if code == b'U'
                    && let Some(n) = msg.get(19..27)
                {
                    self.books
                        .prefetch_slot(u64::from_be_bytes(n.try_into().unwrap_or_default()));
                }
            }
            1 => match code {
                b'E' | b'C' | b'X' | b'D' | b'U' => self.books.prefetch_order(reference),
                b'A' | b'F' => {
                    if let Some(side) = msg.get(19).and_then(|&s| Side::from_itch(s)) {
                        let locate = u16::from_be_bytes([msg[1], msg[2]]);
                        self.books.prefetch_ladder(u32::from(locate), side);
                    }
                }
                _ => {}
            },
            _ => {
                if matches!(code, b'E' | b'C' | b'X' | b'D' | b'U') {
                    self.books.prefetch_neighbours(reference);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busiest_stocks_are_dealt_to_the_least_loaded_shard() {
        let mut count = vec![0u32; 8];
        (count[2], count[4], count[6], count[3]) = (50, 30, 25, 10);
        let owner = deal(&count, 2);
        // 2 → shard 0 (50); 4 → 1 (30); 6 → 1 (55); 3 → 0 (60). Silent stocks: locate % 2.
        assert_eq!(owner, [0, 1, 0, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn order_messages_are_counted_by_locate_in_whole_frames() {
        let frame = |kind: u8, locate: u16| {
            let mut f = vec![0, 5, kind];
            f.extend(locate.to_be_bytes());
            f.extend([0, 0]);
            f
        };
        let mut buf = [
            frame(b'A', 7),
            frame(b'E', 7),
            frame(b'S', 7),
            frame(b'P', 9),
        ]
        .concat();
        // A frame cut by the end of the buffer is not counted.
        buf.extend(&frame(b'D', 9)[..5]);
        let count = order_messages_by_locate(&buf);
        assert_eq!((count[7], count[9]), (2, 1));
        assert_eq!(count.iter().map(|&n| u64::from(n)).sum::<u64>(), 3);
    }
}
