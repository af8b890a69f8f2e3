//! Per-symbol activity records (docs/detection.md §2) and the sliding-window quote-stuffing
//! detector (docs/detection.md §3.1), both driven by one stream of events per symbol: quote messages, changes
//! of the top of book, executions and prints. The replay feeds them from ITCH in its single
//! pass; tables from other feeds (level-one quotes, trades) feed the same [`Monitor`] row by
//! row, so every source gets the same counts and the same episodes.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::types::{UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch};

use crate::arrow::table::{TableBuilder, keys_of};

/// One thing that happened to a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A quote message: `A`/`F` add, `X` cancel, `D` delete, `U` replace, or `L` a level-one
    /// quote update.
    Quote(u8),
    /// The top of book (bid price, bid size, ask price, ask size) differs from before.
    Bbo,
    /// An `E` or `C` execution message, printable or not (the ratios' denominator).
    Execution,
    /// A print: shares, notional in 1/10 000 $, aggressor (`B`, `S`, 0 unknown).
    Print {
        /// Shares.
        shares: u64,
        /// Price × shares, in 1/10 000 $.
        notional_e4: u128,
        /// `B` buyer-initiated, `S` seller-initiated, 0 unknown.
        aggressor: u8,
    },
}

impl Event {
    /// Whether the event is a quote message (what the rate rules count).
    #[inline(always)]
    pub fn is_quote(&self) -> bool {
        matches!(self, Event::Quote(_))
    }
}

/// Sums of events over a window or an episode (docs/detection.md §2 columns).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Quote messages.
    pub quotes: u32,
    /// `A` + `F`.
    pub adds: u32,
    /// `X`.
    pub cancels: u32,
    /// `D`.
    pub deletes: u32,
    /// `U`.
    pub replaces: u32,
    /// Top-of-book changes.
    pub bbo: u32,
    /// Prints.
    pub trades: u32,
    /// `E` + `C` messages.
    pub executions: u32,
    /// Σ shares of prints.
    pub shares: u64,
    /// Σ price × shares of prints (1/10 000 $).
    pub notional_e4: u128,
    /// Shares of buyer-initiated prints.
    pub buy: u64,
    /// Shares of seller-initiated prints.
    pub sell: u64,
}

impl Sums {
    /// Counts one event.
    #[inline(always)]
    pub fn add(&mut self, e: &Event) {
        match *e {
            Event::Quote(kind) => {
                self.quotes += 1;
                match kind {
                    b'A' | b'F' => self.adds += 1,
                    b'X' => self.cancels += 1,
                    b'D' => self.deletes += 1,
                    b'U' => self.replaces += 1,
                    _ => {}
                }
            }
            Event::Bbo => self.bbo += 1,
            Event::Execution => self.executions += 1,
            Event::Print {
                shares,
                notional_e4,
                aggressor,
            } => {
                self.trades += 1;
                self.shares += shares;
                self.notional_e4 += notional_e4;
                match aggressor {
                    b'B' => self.buy += shares,
                    b'S' => self.sell += shares,
                    _ => {}
                }
            }
        }
    }

    /// Adds another span's sums to these.
    pub fn merge(&mut self, o: &Sums) {
        self.quotes += o.quotes;
        self.adds += o.adds;
        self.cancels += o.cancels;
        self.deletes += o.deletes;
        self.replaces += o.replaces;
        self.bbo += o.bbo;
        self.trades += o.trades;
        self.executions += o.executions;
        self.shares += o.shares;
        self.notional_e4 += o.notional_e4;
        self.buy += o.buy;
        self.sell += o.sell;
    }
}

/// The activity table's count columns, in the order of [`Row`]'s counts.
pub const COUNT_COLUMNS: [&str; 8] = [
    "num_quotes",
    "num_adds",
    "num_cancels",
    "num_deletes",
    "num_replaces",
    "num_bbo",
    "num_trades",
    "num_executions",
];

/// Tumbling windows per symbol, aligned to midnight. The stream's time moves all symbols'
/// windows forward together: when it enters a new window, the windows of the symbols seen
/// in the last one are written out in locate order, so rows come out sorted without a sort.
#[derive(Debug)]
pub struct ActivityBuilder {
    window: u64,
    /// Start of the window the stream is in (None before the first event).
    current: Option<u64>,
    /// Each locate's sums in the current window.
    open: Vec<Sums>,
    /// Locates with events in the current window.
    touched: Vec<u16>,
    /// Per locate, the number of the last window it had an event in (`window_no`).
    stamp: Vec<u32>,
    /// Windows entered so far (starts at 1: a zero stamp is "never").
    window_no: u32,
    /// Closed windows' rows, by window then locate.
    rows: Run,
    /// Events stamped before the current window (time went back): one row each, merged at
    /// the end.
    late: Vec<Row>,
}

/// A symbol's sums over one window, packed as the builders keep them until the table is
/// written: 80 bytes, one write per row (the table's columns are written once, at the end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Row {
    /// Window start, ns since midnight.
    pub start: u64,
    shares: u64,
    /// Saturated at `u64::MAX` (the table's `notional_e4` is 64-bit).
    notional_e4: u64,
    buy: u64,
    sell: u64,
    /// quotes, adds, cancels, deletes, replaces, bbo, trades, executions.
    counts: [u32; 8],
    /// Stock locate.
    pub locate: u16,
}

impl Row {
    fn new(start: u64, locate: u16, s: &Sums) -> Row {
        Row {
            start,
            shares: s.shares,
            notional_e4: u64::try_from(s.notional_e4).unwrap_or(u64::MAX),
            buy: s.buy,
            sell: s.sell,
            counts: [
                s.quotes,
                s.adds,
                s.cancels,
                s.deletes,
                s.replaces,
                s.bbo,
                s.trades,
                s.executions,
            ],
            locate,
        }
    }

    /// The row's sums.
    pub fn sums(&self) -> Sums {
        let [
            quotes,
            adds,
            cancels,
            deletes,
            replaces,
            bbo,
            trades,
            executions,
        ] = self.counts;
        Sums {
            quotes,
            adds,
            cancels,
            deletes,
            replaces,
            bbo,
            trades,
            executions,
            shares: self.shares,
            notional_e4: u128::from(self.notional_e4),
            buy: self.buy,
            sell: self.sell,
        }
    }

    fn key(&self) -> (u64, u16) {
        (self.start, self.locate)
    }

    /// Adds a row of the same window and symbol.
    fn add(&mut self, o: &Row) {
        let mut s = self.sums();
        s.merge(&o.sums());
        *self = Row::new(self.start, self.locate, &s);
    }
}

/// Rows in chunks of a fixed size: pushing never moves the rows written (no buffer grows
/// by copying), and a chunk is freed as soon as the merge has read it, so a day's rows and
/// its table are never whole in memory at once.
#[derive(Debug, Default)]
struct Run {
    chunks: Vec<Vec<Row>>,
}

impl Run {
    /// 64 Ki rows, 5 MiB.
    const CHUNK: usize = 1 << 16;

    fn extend(&mut self, rows: impl ExactSizeIterator<Item = Row>) {
        for r in rows {
            match self.chunks.last_mut() {
                Some(c) if c.len() < Self::CHUNK => c.push(r),
                _ => {
                    let mut c = Vec::with_capacity(Self::CHUNK);
                    c.push(r);
                    self.chunks.push(c);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Vec::len).sum()
    }

    fn into_rows(self) -> impl Iterator<Item = Row> {
        self.chunks.into_iter().flatten()
    }
}

/// Activity rows: runs by window then locate, one key at most once in a run (one per
/// builder: a shard of the replay, or the late events of one). Runs are merged, and rows of
/// the same window and locate summed, as the table is written.
#[derive(Debug, Default)]
pub struct ActivityRows {
    runs: Vec<Run>,
}

/// [`Sums`] in columns (what the Arrow table is built from, buffer for buffer).
#[derive(Debug, Default)]
pub struct SumsColumns {
    quotes: Vec<u32>,
    adds: Vec<u32>,
    cancels: Vec<u32>,
    deletes: Vec<u32>,
    replaces: Vec<u32>,
    bbo: Vec<u32>,
    trades: Vec<u32>,
    executions: Vec<u32>,
    shares: Vec<u64>,
    notional_e4: Vec<u64>,
    buy: Vec<u64>,
    sell: Vec<u64>,
}

impl SumsColumns {
    // Plain pages here, not transparent huge pages: the columns are written once, in order,
    // so the TLB gains nothing, while on a VM that hands free memory back to its host a
    // fresh 2 MiB page costs milliseconds to fault in (measured on our 2-vCPU VM: the
    // activity merge took 3.5x as long with huge pages).
    fn push(&mut self, s: &Sums) {
        self.quotes.push(s.quotes);
        self.adds.push(s.adds);
        self.cancels.push(s.cancels);
        self.deletes.push(s.deletes);
        self.replaces.push(s.replaces);
        self.bbo.push(s.bbo);
        self.trades.push(s.trades);
        self.executions.push(s.executions);
        self.shares.push(s.shares);
        self.notional_e4
            .push(u64::try_from(s.notional_e4).unwrap_or(u64::MAX));
        self.buy.push(s.buy);
        self.sell.push(s.sell);
    }

    fn with_capacity(n: usize) -> SumsColumns {
        SumsColumns {
            quotes: Vec::with_capacity(n),
            adds: Vec::with_capacity(n),
            cancels: Vec::with_capacity(n),
            deletes: Vec::with_capacity(n),
            replaces: Vec::with_capacity(n),
            bbo: Vec::with_capacity(n),
            trades: Vec::with_capacity(n),
            executions: Vec::with_capacity(n),
            shares: Vec::with_capacity(n),
            notional_e4: Vec::with_capacity(n),
            buy: Vec::with_capacity(n),
            sell: Vec::with_capacity(n),
        }
    }

    fn columns(self, t: &mut TableBuilder) {
        let dollars: Vec<f64> = self.notional_e4.iter().map(|&n| n as f64 / 1e4).collect();
        let trade_size: Vec<f64> = dollars
            .iter()
            .zip(&self.trades)
            .map(|(d, &n)| if n == 0 { f64::NAN } else { d / f64::from(n) })
            .collect();
        let counts = [
            self.quotes,
            self.adds,
            self.cancels,
            self.deletes,
            self.replaces,
            self.bbo,
            self.trades,
            self.executions,
        ];
        for (name, values) in COUNT_COLUMNS.into_iter().zip(counts) {
            t.values::<UInt32Type>(name, values);
        }
        t.values::<UInt64Type>("shares", self.shares);
        t.values::<arrow_array::types::Float64Type>("dollars", dollars);
        t.float_or_null("trade_size", trade_size);
        t.values::<UInt64Type>("notional_e4", self.notional_e4);
        t.values::<UInt64Type>("buy_aggr_shares", self.buy);
        t.values::<UInt64Type>("sell_aggr_shares", self.sell);
    }
}

impl ActivityBuilder {
    /// Windows of `window_ns` (> 0).
    pub fn new(window_ns: u64) -> ActivityBuilder {
        assert!(window_ns > 0, "the activity window must be positive");
        ActivityBuilder {
            window: window_ns,
            current: None,
            open: Vec::new(),
            touched: Vec::new(),
            stamp: Vec::new(),
            window_no: 0,
            rows: Run::default(),
            late: Vec::new(),
        }
    }

    /// The window length in ns.
    pub fn window_ns(&self) -> u64 {
        self.window
    }

    /// Counts `e` in the window of `ts`.
    #[inline(always)]
    pub fn event(&mut self, locate: u16, ts: u64, e: &Event) {
        let inside = matches!(self.current, Some(c) if ts >= c && ts - c < self.window);
        if !inside && !self.enter(locate, ts, e) {
            return;
        }
        let stamp = &mut self.stamp[locate as usize];
        if *stamp != self.window_no {
            *stamp = self.window_no;
            self.touched.push(locate);
        }
        self.open[locate as usize].add(e);
    }

    /// Moves to the window of `ts`; false when `ts` is before the current window (the event
    /// is kept as a late row).
    #[cold]
    fn enter(&mut self, locate: u16, ts: u64, e: &Event) -> bool {
        let start = ts - ts % self.window;
        if let Some(cur) = self.current
            && start < cur
        {
            let mut s = Sums::default();
            s.add(e);
            self.late.push(Row::new(start, locate, &s));
            return false;
        }
        self.close_current();
        self.current = Some(start);
        self.window_no += 1;
        if self.open.is_empty() {
            self.open = vec![Sums::default(); 1 << 16];
            self.stamp = vec![0; 1 << 16];
        }
        true
    }

    /// Writes out the current window's rows, in locate order.
    fn close_current(&mut self) {
        let Some(start) = self.current else { return };
        self.touched.sort_unstable();
        let open = &mut self.open;
        self.rows.extend(self.touched.iter().map(|&locate| {
            let slot = &mut open[locate as usize];
            let row = Row::new(start, locate, slot);
            *slot = Sums::default();
            row
        }));
        self.touched.clear();
    }

    /// The rows finished so far and the current window if it ends by `before` (ns since
    /// midnight), by window then locate, handed over once: for live feeds, whose windows
    /// before the feed's time can no longer change.
    pub fn drain(&mut self, before: u64) -> ActivityRows {
        if let Some(cur) = self.current
            && cur.saturating_add(self.window) <= before
        {
            self.close_current();
            self.current = None;
        }
        let late = sorted(std::mem::take(&mut self.late));
        ActivityRows::from_runs([std::mem::take(&mut self.rows), late])
    }

    /// The rows of events stamped before the window they came in (time went back), taken
    /// out: a streaming reader may have written their windows already, and must add them to
    /// those rows.
    pub fn take_late(&mut self) -> ActivityRows {
        ActivityRows::from_runs([sorted(std::mem::take(&mut self.late)), Run::default()])
    }

    /// Every row, the current window closed, by window then locate. A window written twice
    /// (time went back into it) is one row.
    pub fn finish(mut self) -> ActivityRows {
        self.close_current();
        let late = sorted(std::mem::take(&mut self.late));
        ActivityRows::from_runs([self.rows, late])
    }
}

/// Rows sorted by window then locate, rows of one key summed into one.
fn sorted(mut rows: Vec<Row>) -> Run {
    rows.sort_unstable_by_key(Row::key);
    rows.dedup_by(|r, kept| {
        let same = r.key() == kept.key();
        if same {
            kept.add(r);
        }
        same
    });
    Run { chunks: vec![rows] }
}

impl ActivityRows {
    /// Rows given as columns (window start in ns since midnight, locate, and each sum, as
    /// the activity table has them), rows of one window and locate summed into one.
    #[allow(clippy::too_many_arguments)]
    pub fn from_columns(
        start: &[i64],
        locate: &[u16],
        counts: [&[u32]; 8],
        shares: &[u64],
        notional_e4: &[u64],
        buy: &[u64],
        sell: &[u64],
    ) -> ActivityRows {
        let rows = (0..start.len())
            .map(|i| Row {
                start: start[i] as u64,
                shares: shares[i],
                notional_e4: notional_e4[i],
                buy: buy[i],
                sell: sell[i],
                counts: counts.map(|c| c[i]),
                locate: locate[i],
            })
            .collect();
        ActivityRows::from_runs([sorted(rows), Run::default()])
    }

    fn from_runs(runs: [Run; 2]) -> ActivityRows {
        ActivityRows {
            runs: runs.into_iter().filter(|r| r.len() > 0).collect(),
        }
    }

    /// Another set of rows merged in (rows of the same window and locate are summed when
    /// the table is written).
    pub fn merge(mut self, other: ActivityRows) -> ActivityRows {
        self.runs.extend(other.runs);
        self
    }

    /// Rows before merging (an upper bound of the table's rows).
    pub fn len(&self) -> usize {
        self.runs.iter().map(Run::len).sum()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The merged rows, by window then locate, one per key.
    pub fn rows(self) -> impl Iterator<Item = Row> {
        let mut runs: Vec<_> = self.runs.into_iter().map(Run::into_rows).collect();
        let mut heads: Vec<Option<Row>> = runs.iter_mut().map(Iterator::next).collect();
        std::iter::from_fn(move || {
            // Runs are few (one per shard, and late events): a scan beats a heap.
            let key = heads.iter().flatten().map(Row::key).min()?;
            let mut out: Option<Row> = None;
            for (head, run) in heads.iter_mut().zip(&mut runs) {
                if let Some(r) = head
                    && r.key() == key
                {
                    match &mut out {
                        None => out = Some(*r),
                        Some(o) => o.add(r),
                    }
                    *head = run.next();
                }
            }
            out
        })
    }

    /// The activity table: `window_start` (with a session midnight) and `window_timestamp`
    /// (ns since midnight), `window_ns`, `stock`, `stock_locate`, then the sums. The runs
    /// are merged straight into the columns, each written once.
    pub fn to_batch(
        self,
        window_ns: u64,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
    ) -> RecordBatch {
        let cap = self.len();
        let mut start: Vec<i64> = Vec::with_capacity(cap);
        let mut locate: Vec<u16> = Vec::with_capacity(cap);
        let mut sums = SumsColumns::with_capacity(cap);
        for r in self.rows() {
            start.push(r.start as i64);
            locate.push(r.locate);
            sums.push(&r.sums());
        }
        let n = start.len();
        let keys = keys_of(&locate, key_of_locate);
        let mut t = TableBuilder::new();
        t.times("window_timestamp", "window_start", start, midnight);
        t.values::<arrow_array::types::Int64Type>("window_ns", vec![window_ns as i64; n]);
        t.stock(keys, dictionary);
        t.values::<UInt16Type>("stock_locate", locate);
        sums.columns(&mut t);
        t.finish()
    }
}

/// Parameters of the sliding rate rule (docs/detection.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingParams {
    /// Window `W` in ns.
    pub window_ns: u64,
    /// `N`: quote messages within `W` that make a message hot.
    pub min_msgs: usize,
    /// `G`: a hot message whose window starts no later than `end + G` extends the episode.
    pub merge_gap_ns: u64,
}

/// A finished episode of the sliding rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// Stock locate.
    pub locate: u16,
    /// Time of the first message of the first hot window (ns since midnight).
    pub start: u64,
    /// Time of the last hot message.
    pub end: u64,
    /// Most quote messages in any `W`-long window inside the episode.
    pub peak_count: u32,
    /// Start of that window (the earliest on ties).
    pub peak_start: u64,
    /// Every event from `start` to `end`.
    pub sums: Sums,
}

#[derive(Debug)]
struct Open {
    start: u64,
    end: u64,
    sums: Sums,
    /// Events after `end`, counted if a later hot message extends the episode.
    pending: Sums,
    /// Quote-message times since `start`; `msgs[..committed]` are inside `[start, end]`.
    msgs: Vec<u64>,
    committed: usize,
}

#[derive(Debug, Default)]
struct SymbolState {
    /// The latest quote-message time of the symbol.
    last: u64,
    /// The last `N` quote-message times.
    ring: VecDeque<u64>,
    /// Every event less than `W` old.
    recent: VecDeque<(u64, Event)>,
    open: Option<Open>,
}

/// The sliding rate rule over every symbol: O(1) per event, memory bounded by the events of
/// the last `W` and the messages of open episodes.
#[derive(Debug)]
pub struct SlidingDetector {
    p: SlidingParams,
    symbols: Vec<Option<Box<SymbolState>>>,
    /// Locates with an open episode (may hold closed ones; checked when swept).
    open: Vec<u16>,
    done: Vec<Episode>,
    /// Quote messages left out because they were stamped before their symbol's latest one.
    late: u64,
}

impl SlidingDetector {
    /// A detector; `window_ns` and `min_msgs` must be positive.
    pub fn new(p: SlidingParams) -> SlidingDetector {
        assert!(
            p.window_ns > 0 && p.min_msgs > 0,
            "window and message count must be positive"
        );
        SlidingDetector {
            p,
            symbols: Vec::new(),
            open: Vec::new(),
            done: Vec::new(),
            late: 0,
        }
    }

    /// Quote messages left out so far because time went back: stamped before an earlier
    /// quote message of the same symbol.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    /// The parameters.
    pub fn params(&self) -> SlidingParams {
        self.p
    }

    /// Feeds one event of `locate` at `ts`. A quote message stamped before the symbol's
    /// latest one (time went back, as when two days are concatenated) is counted in
    /// [`SlidingDetector::late_events`] and left out: the rule's windows are spans of time,
    /// and messages are never reordered, so one from the past has no place in the current
    /// window. Other events (prints, top-of-book changes) may lag a little, as when a feed's
    /// trades and quotes are merged, and count where their time puts them.
    #[inline]
    pub fn event(&mut self, locate: u16, ts: u64, e: Event) {
        if self.symbols.is_empty() {
            self.symbols = (0..1 << 16).map(|_| None).collect();
        }
        let p = self.p;
        let s = self.symbols[locate as usize].get_or_insert_with(Box::default);
        if e.is_quote() {
            if ts < s.last {
                self.late += 1;
                return;
            }
            s.last = ts;
        }
        if let Some(o) = &s.open
            && ts
                >= o.end
                    .saturating_add(p.merge_gap_ns)
                    .saturating_add(p.window_ns)
        {
            // No later hot message can start its window by `end + G`.
            let o = s.open.take().expect("checked above");
            self.done.push(close(o, locate, p.window_ns));
        }
        while let Some(&(t, _)) = s.recent.front() {
            if t.saturating_add(p.window_ns) > ts {
                break;
            }
            s.recent.pop_front();
        }
        s.recent.push_back((ts, e));
        if let Some(o) = &mut s.open {
            if ts <= o.end && o.msgs.len() == o.committed {
                // At the episode's last time (a top-of-book change or print the hot message
                // caused): inside `[start, end]` whatever comes next.
                o.sums.add(&e);
                if e.is_quote() {
                    o.msgs.push(ts);
                    o.committed = o.msgs.len();
                }
            } else {
                o.pending.add(&e);
                if e.is_quote() {
                    o.msgs.push(ts);
                }
            }
        }
        if !e.is_quote() {
            return;
        }
        if s.ring.len() == p.min_msgs {
            s.ring.pop_front();
        }
        s.ring.push_back(ts);
        if s.ring.len() < p.min_msgs {
            return;
        }
        let first = s.ring[0];
        if ts.saturating_sub(first) >= p.window_ns {
            return;
        }
        // A hot message.
        match &mut s.open {
            Some(o) if first <= o.end.saturating_add(p.merge_gap_ns) => {
                let pending = std::mem::take(&mut o.pending);
                o.sums.merge(&pending);
                o.end = ts;
                o.committed = o.msgs.len();
            }
            other => {
                if let Some(o) = other.take() {
                    self.done.push(close(o, locate, p.window_ns));
                }
                let mut sums = Sums::default();
                let mut msgs = Vec::new();
                for (t, ev) in s.recent.iter().filter(|(t, _)| *t >= first) {
                    sums.add(ev);
                    if ev.is_quote() {
                        msgs.push(*t);
                    }
                }
                *other = Some(Open {
                    start: first,
                    end: ts,
                    sums,
                    pending: Sums::default(),
                    committed: msgs.len(),
                    msgs,
                });
                self.open.push(locate);
            }
        }
    }

    /// Closes the episodes that no event at or after `now` can extend (for live feeds: call
    /// with the feed's time; nothing changes for a batch).
    pub fn sweep(&mut self, now: u64) {
        let p = self.p;
        let mut still = Vec::new();
        for locate in std::mem::take(&mut self.open) {
            let Some(s) = self.symbols[locate as usize].as_mut() else {
                continue;
            };
            match &s.open {
                Some(o) if now >= o.end.saturating_add(p.merge_gap_ns + p.window_ns) => {
                    let o = s.open.take().expect("matched above");
                    self.done.push(close(o, locate, p.window_ns));
                }
                Some(_) => still.push(locate),
                None => {}
            }
        }
        still.sort_unstable();
        still.dedup();
        self.open = still;
    }

    /// The earliest start of an episode still open (None: none is).
    pub fn earliest_open(&self) -> Option<u64> {
        self.open
            .iter()
            .filter_map(|&l| self.symbols.get(l as usize)?.as_ref()?.open.as_ref())
            .map(|o| o.start)
            .min()
    }

    /// The episodes closed so far, by start then locate; they are handed over once.
    pub fn take_closed(&mut self) -> Vec<Episode> {
        let mut done = std::mem::take(&mut self.done);
        done.sort_by_key(|e| (e.start, e.locate, e.end));
        done
    }

    /// Every episode, the open ones closed, by start then locate.
    pub fn finish(self) -> Vec<Episode> {
        self.finish_counted().0
    }

    /// [`SlidingDetector::finish`], with the number of events left out as late.
    pub fn finish_counted(mut self) -> (Vec<Episode>, u64) {
        let w = self.p.window_ns;
        for (locate, s) in self.symbols.iter_mut().enumerate() {
            if let Some(o) = s.as_mut().and_then(|s| s.open.take()) {
                self.done.push(close(o, locate as u16, w));
            }
        }
        (self.take_closed(), self.late)
    }
}

fn close(mut o: Open, locate: u16, window: u64) -> Episode {
    o.msgs.truncate(o.committed);
    let (peak_count, peak_start) = peak(&o.msgs, window);
    Episode {
        locate,
        start: o.start,
        end: o.end,
        peak_count,
        peak_start,
        sums: o.sums,
    }
}

/// The most times within any `[t, t + window)` and the earliest such `t` among the times
/// (two pointers; `times` ascending).
fn peak(times: &[u64], window: u64) -> (u32, u64) {
    let (mut best, mut at, mut i) = (0usize, times.first().copied().unwrap_or(0), 0usize);
    for j in 0..times.len() {
        while times[j].saturating_sub(times[i]) >= window {
            i += 1;
        }
        if j + 1 - i > best {
            best = j + 1 - i;
            at = times[i];
        }
    }
    (best as u32, at)
}

/// Episodes as a table: `start`/`end` (with a session midnight) and `start_timestamp`/
/// `end_timestamp` (ns since midnight), `stock_locate`, `stock`, peak columns, then the sums.
pub fn episodes_to_batch(
    episodes: &[Episode],
    window_ns: u64,
    key_of_locate: &[u16],
    dictionary: &ArrayRef,
    midnight: Option<i64>,
) -> RecordBatch {
    let mut t = TableBuilder::new();
    let times = |f: fn(&Episode) -> u64| episodes.iter().map(|e| f(e) as i64).collect::<Vec<_>>();
    t.times("start_timestamp", "start", times(|e| e.start), midnight);
    t.times("end_timestamp", "end", times(|e| e.end), midnight);
    let locates: Vec<u16> = episodes.iter().map(|e| e.locate).collect();
    t.stock(keys_of(&locates, key_of_locate), dictionary);
    t.values::<UInt16Type>("stock_locate", locates);
    t.values::<UInt32Type>(
        "peak_count",
        episodes.iter().map(|e| e.peak_count).collect(),
    );
    t.times(
        "peak_timestamp",
        "peak_start",
        times(|e| e.peak_start),
        midnight,
    );
    let per_second = 1e9 / window_ns as f64;
    t.values::<arrow_array::types::Float64Type>(
        "peak_rate",
        episodes
            .iter()
            .map(|e| f64::from(e.peak_count) * per_second)
            .collect(),
    );
    let mut sums = SumsColumns::default();
    for e in episodes {
        sums.push(&e.sums);
    }
    sums.columns(&mut t);
    t.finish()
}

/// What a pass computes besides books and prints: activity windows, a sliding rate rule, or
/// both, fed the same events.
#[derive(Debug, Default)]
pub struct Monitor {
    /// Tumbling activity windows.
    pub activity: Option<ActivityBuilder>,
    /// The sliding rate rule.
    pub sliding: Option<SlidingDetector>,
    /// Count `Q` cross prints as trades (docs/detection.md §1: off by default).
    pub include_crosses: bool,
}

impl Monitor {
    /// A monitor with activity windows of `activity_ns` and/or a sliding rule.
    pub fn new(activity_ns: Option<u64>, sliding: Option<SlidingParams>) -> Monitor {
        Monitor {
            activity: activity_ns.map(ActivityBuilder::new),
            sliding: sliding.map(SlidingDetector::new),
            include_crosses: false,
        }
    }

    /// Whether it computes anything.
    pub fn active(&self) -> bool {
        self.activity.is_some() || self.sliding.is_some()
    }

    /// Feeds one event.
    #[inline(always)]
    pub fn event(&mut self, locate: u16, ts: u64, e: Event) {
        if let Some(a) = &mut self.activity {
            a.event(locate, ts, &e);
        }
        if let Some(s) = &mut self.sliding {
            s.event(locate, ts, e);
        }
    }

    /// Feeds a print of `kind` (`E`, `C`, `P`, `Q`, or `T` a feed's trade) unless it is a
    /// cross and crosses are off, or it is absurd (more than
    /// [`crate::analytics::trades::MAX_PRINT_SHARES`]).
    #[inline(always)]
    pub fn print(&mut self, locate: u16, ts: u64, kind: u8, price_e4: u64, shares: u64, aggr: u8) {
        if (kind == b'Q' && !self.include_crosses)
            || shares > crate::analytics::trades::MAX_PRINT_SHARES
        {
            return;
        }
        self.event(
            locate,
            ts,
            Event::Print {
                shares,
                notional_e4: u128::from(price_e4) * u128::from(shares),
                aggressor: aggr,
            },
        );
    }

    /// What is final by `now` (ns since midnight, the latest time seen), handed over once:
    /// the activity windows that ended and the episodes that can no longer grow.
    pub fn drain(&mut self, now: u64) -> MonitorOutput {
        let activity = self
            .activity
            .as_mut()
            .map(|a| (a.window_ns(), a.drain(now)));
        let episodes = self.sliding.as_mut().map(|s| {
            s.sweep(now);
            (s.params(), s.take_closed())
        });
        MonitorOutput {
            activity,
            late_activity: None,
            episodes,
            late_events: 0,
        }
    }

    /// [`Monitor::drain`] for a streaming reader: the activity rows of events stamped before
    /// the window they came in go to [`MonitorOutput::late_activity`] (see
    /// [`ActivityBuilder::take_late`]).
    pub fn drain_apart(&mut self, now: u64) -> MonitorOutput {
        let late = self
            .activity
            .as_mut()
            .map(|a| (a.window_ns(), a.take_late()));
        let mut out = self.drain(now);
        out.late_activity = late;
        out
    }

    /// [`Monitor::finish`] with the late activity rows apart, as [`Monitor::drain_apart`].
    pub fn finish_apart(mut self) -> MonitorOutput {
        let late = self
            .activity
            .as_mut()
            .map(|a| (a.window_ns(), a.take_late()));
        let mut out = self.finish();
        out.late_activity = late;
        out
    }

    /// Closes everything.
    pub fn finish(self) -> MonitorOutput {
        let mut late_events = 0;
        let episodes = self.sliding.map(|s| {
            let p = s.params();
            let (episodes, late) = s.finish_counted();
            late_events = late;
            (p, episodes)
        });
        MonitorOutput {
            activity: self.activity.map(|a| (a.window_ns(), a.finish())),
            late_activity: None,
            episodes,
            late_events,
        }
    }
}

/// What a [`Monitor`] produced.
#[derive(Debug, Default)]
pub struct MonitorOutput {
    /// Window length and rows.
    pub activity: Option<(u64, ActivityRows)>,
    /// Streaming ([`Monitor::drain_apart`]): rows of events stamped before their window was
    /// handed over, to be added to the rows already handed over.
    pub late_activity: Option<(u64, ActivityRows)>,
    /// Parameters and episodes.
    pub episodes: Option<(SlidingParams, Vec<Episode>)>,
    /// Quote messages the sliding rule left out because time went back.
    pub late_events: u64,
}

/// Schema metadata key of the episode table: events the sliding rule left out as late.
pub const LATE_EVENTS_KEY: &str = "ki2fast.late_events";

impl MonitorOutput {
    /// Merges another output over other locates into this one.
    pub fn add(&mut self, other: MonitorOutput) {
        self.late_events += other.late_events;
        self.activity = match (self.activity.take(), other.activity) {
            (Some((w, a)), Some((_, b))) => Some((w, a.merge(b))),
            (a, b) => a.or(b),
        };
        self.late_activity = match (self.late_activity.take(), other.late_activity) {
            (Some((w, a)), Some((_, b))) => Some((w, a.merge(b))),
            (a, b) => a.or(b),
        };
        self.episodes = match (self.episodes.take(), other.episodes) {
            (Some((p, mut a)), Some((_, b))) => {
                a.extend(b);
                a.sort_by_key(|e| (e.start, e.locate, e.end));
                Some((p, a))
            }
            (a, b) => a.or(b),
        };
    }

    /// The late activity rows' table (see [`MonitorOutput::late_activity`]), taken out.
    pub fn late_batch(
        &mut self,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
    ) -> Option<RecordBatch> {
        self.late_activity
            .take()
            .map(|(w, a)| a.to_batch(w, key_of_locate, dictionary, midnight))
    }

    /// The activity and episode tables (the episodes' schema metadata carries
    /// [`LATE_EVENTS_KEY`]).
    pub fn to_batches(
        self,
        key_of_locate: &[u16],
        dictionary: &ArrayRef,
        midnight: Option<i64>,
    ) -> (Option<RecordBatch>, Option<RecordBatch>) {
        (
            self.activity
                .map(|(w, a)| a.to_batch(w, key_of_locate, dictionary, midnight)),
            self.episodes.map(|(p, e)| {
                let batch = episodes_to_batch(&e, p.window_ns, key_of_locate, dictionary, midnight);
                let meta = [(LATE_EVENTS_KEY.to_string(), self.late_events.to_string())];
                let schema = batch.schema().as_ref().clone().with_metadata(meta.into());
                batch
                    .with_schema(Arc::new(schema))
                    .expect("only the metadata changed")
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn quotes(d: &mut SlidingDetector, locate: u16, times: impl IntoIterator<Item = u64>) {
        for t in times {
            d.event(locate, t, Event::Quote(b'A'));
        }
    }

    fn p(window_ns: u64, min_msgs: usize, merge_gap_ns: u64) -> SlidingParams {
        SlidingParams {
            window_ns,
            min_msgs,
            merge_gap_ns,
        }
    }

    #[test]
    fn a_window_of_n_messages_shorter_than_w_is_one_episode() {
        // 5 messages 1 ms apart, N = 5, W = 10 ms: the fifth is hot; the episode is 0..4 ms.
        let mut d = SlidingDetector::new(p(10 * MS, 5, 10 * MS));
        quotes(&mut d, 7, (0..5).map(|i| i * MS));
        let e = d.finish();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].locate, e[0].start, e[0].end), (7, 0, 4 * MS));
        assert_eq!((e[0].peak_count, e[0].peak_start), (5, 0));
        assert_eq!(e[0].sums.quotes, 5);
    }

    #[test]
    fn n_messages_spanning_exactly_w_are_not_hot() {
        // t_i − t_{i−N+1} must be < W: 5 messages over exactly 10 ms are not.
        let mut d = SlidingDetector::new(p(10 * MS, 5, 10 * MS));
        quotes(&mut d, 1, [0, 2 * MS, 5 * MS, 7 * MS, 10 * MS]);
        assert!(d.finish().is_empty());
        let mut d = SlidingDetector::new(p(10 * MS, 5, 10 * MS));
        quotes(&mut d, 1, [0, 2 * MS, 5 * MS, 7 * MS, 10 * MS - 1]);
        assert_eq!(d.finish().len(), 1);
    }

    #[test]
    fn hot_messages_within_the_gap_extend_and_later_ones_open_a_new_episode() {
        // N = 3, W = 1 ms, G = 2 ms.
        let mut d = SlidingDetector::new(p(MS, 3, 2 * MS));
        quotes(&mut d, 2, [0, 100, 200]); // hot at 200: episode [0, 200]
        // Quiet message in between, then a hot run whose window starts at 2.0 ms ≤ 200 + 2 ms.
        quotes(&mut d, 2, [1_000_000, 2_000_000, 2_000_100, 2_000_150]);
        // A hot run far later: window starts at 10 ms > 2.000150 + 2 ms.
        quotes(&mut d, 2, [10 * MS, 10 * MS + 1, 10 * MS + 2]);
        let e = d.finish();
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].start, e[0].end), (0, 2_000_150));
        // Everything in [0, 2.000150 ms] counts, the quiet message included.
        assert_eq!(e[0].sums.quotes, 7);
        assert_eq!((e[0].peak_count, e[0].peak_start), (3, 0));
        assert_eq!(
            (e[1].start, e[1].end, e[1].sums.quotes),
            (10 * MS, 10 * MS + 2, 3)
        );
    }

    #[test]
    fn events_after_the_last_hot_message_are_not_in_a_closed_episode() {
        let mut d = SlidingDetector::new(p(MS, 3, 0));
        quotes(&mut d, 3, [0, 10, 20]);
        // What the last hot message caused, at its time, is inside.
        d.event(3, 20, Event::Bbo);
        d.event(3, 30, Event::Bbo);
        d.event(
            3,
            15,
            Event::Print {
                shares: 100,
                notional_e4: 100 * 50_000,
                aggressor: b'B',
            },
        );
        quotes(&mut d, 3, [5 * MS]);
        let e = d.finish();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].start, e[0].end), (0, 20));
        // The change at 30 came after the end; the print stamped 15 is inside the span.
        assert_eq!(e[0].sums.bbo, 1);
        assert_eq!(e[0].sums.trades, 1);
        assert_eq!(e[0].sums.quotes, 3);
    }

    #[test]
    fn events_before_the_first_hot_message_inside_its_window_count() {
        let mut d = SlidingDetector::new(p(MS, 3, 0));
        d.event(4, 0, Event::Quote(b'A'));
        d.event(4, 1, Event::Bbo);
        d.event(
            4,
            2,
            Event::Print {
                shares: 10,
                notional_e4: 10 * 1_000_000,
                aggressor: b'S',
            },
        );
        d.event(4, 3, Event::Quote(b'X'));
        d.event(4, 4, Event::Quote(b'D'));
        let e = d.finish();
        assert_eq!(e.len(), 1);
        let s = e[0].sums;
        assert_eq!(
            (s.quotes, s.adds, s.cancels, s.deletes, s.bbo, s.trades),
            (3, 1, 1, 1, 1, 1)
        );
        assert_eq!((s.shares, s.sell, s.notional_e4), (10, 10, 10_000_000));
    }

    #[test]
    fn symbols_are_independent_and_peaks_count_the_densest_window() {
        let mut d = SlidingDetector::new(p(10, 3, 100));
        // Symbol 1 and 2 interleaved: each alone reaches 3 within 10 ns only for symbol 1.
        for t in 0..6 {
            d.event(1, t * 3, Event::Quote(b'A'));
            d.event(2, t * 6, Event::Quote(b'A'));
        }
        let e = d.finish();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].locate, 1);
        // Times 0 3 6 9 12 15: four fit in [0, 10).
        assert_eq!((e[0].peak_count, e[0].peak_start), (4, 0));
        assert_eq!(peak(&[0, 3, 6, 9, 12, 15], 10), (4, 0));
        assert_eq!(peak(&[], 10), (0, 0));
        assert_eq!(peak(&[5, 20, 21, 22], 10), (3, 20));
    }

    #[test]
    fn a_sweep_closes_only_what_can_no_longer_grow() {
        let mut d = SlidingDetector::new(p(MS, 2, MS));
        quotes(&mut d, 9, [0, 1]);
        d.sweep(MS);
        assert!(d.take_closed().is_empty());
        d.sweep(2 * MS + 1);
        let e = d.take_closed();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].start, e[0].end), (0, 1));
        assert!(d.finish().is_empty());
    }

    #[test]
    fn drained_windows_are_the_finished_ones_and_come_once() {
        let mut a = ActivityBuilder::new(10);
        a.event(1, 3, &Event::Quote(b'A'));
        a.event(2, 12, &Event::Quote(b'A'));
        a.event(1, 25, &Event::Quote(b'D'));
        // Window [0, 10) of 1 closed when 1 moved on; [10, 20) of 2 ends by 20.
        let keys = |r: ActivityRows| r.rows().map(|r| r.key()).collect::<Vec<_>>();
        assert_eq!(keys(a.drain(20)), [(0, 1), (10, 2)]);
        assert!(a.drain(20).is_empty());
        a.event(1, 27, &Event::Quote(b'X'));
        let r: Vec<Row> = a.finish().rows().collect();
        assert_eq!(r.iter().map(Row::key).collect::<Vec<_>>(), [(20, 1)]);
        assert_eq!(r[0].sums().quotes, 2);
        let mut d = SlidingDetector::new(p(MS, 2, 0));
        assert_eq!(d.earliest_open(), None);
        quotes(&mut d, 4, [5, 6]);
        assert_eq!(d.earliest_open(), Some(5));
    }

    #[test]
    fn merged_rows_interleave_and_sum_what_both_hold() {
        let rows = |keys: &[(u64, u16)]| {
            let mut a = ActivityBuilder::new(10);
            for &(t, l) in keys {
                a.event(l, t, &Event::Quote(b'A'));
            }
            a.finish()
        };
        let keys = |r: &[Row]| r.iter().map(Row::key).collect::<Vec<_>>();
        let m: Vec<Row> = rows(&[(0, 1), (10, 1), (20, 3)])
            .merge(rows(&[(0, 2), (25, 2)]))
            .rows()
            .collect();
        assert_eq!(keys(&m), [(0, 1), (0, 2), (10, 1), (20, 2), (20, 3)]);
        let m: Vec<Row> = rows(&[(0, 1), (10, 1)])
            .merge(rows(&[(5, 1), (30, 4)]))
            .merge(rows(&[(7, 1), (31, 4)]))
            .rows()
            .collect();
        assert_eq!(keys(&m), [(0, 1), (10, 1), (30, 4)]);
        assert_eq!((m[0].sums().quotes, m[2].sums().quotes), (3, 2));
        // Late events of several windows and symbols, in no order.
        let mut a = ActivityBuilder::new(10);
        for (t, l) in [(50, 1), (31, 2), (12, 1), (35, 2), (3, 7), (14, 1)] {
            a.event(l, t, &Event::Quote(b'X'));
        }
        let r: Vec<Row> = a.finish().rows().collect();
        assert_eq!(keys(&r), [(0, 7), (10, 1), (30, 2), (50, 1)]);
        assert_eq!(r[1].sums().cancels, 2);
    }

    #[test]
    fn a_row_keeps_every_sum_and_saturates_the_notional() {
        let s = Sums {
            quotes: 1,
            adds: 2,
            cancels: 3,
            deletes: 4,
            replaces: 5,
            bbo: 6,
            trades: 7,
            executions: 8,
            shares: 9,
            notional_e4: 10,
            buy: 11,
            sell: 12,
        };
        assert_eq!(Row::new(0, 1, &s).sums(), s);
        let big = Sums {
            notional_e4: u128::from(u64::MAX) + 5,
            ..s
        };
        assert_eq!(
            Row::new(0, 1, &big).sums().notional_e4,
            u128::from(u64::MAX)
        );
    }

    #[test]
    fn activity_windows_are_tumbling_per_symbol_and_sorted() {
        let mut a = ActivityBuilder::new(1_000);
        a.event(5, 1_500, &Event::Quote(b'A'));
        a.event(2, 1_999, &Event::Quote(b'U'));
        a.event(5, 1_999, &Event::Bbo);
        a.event(5, 2_000, &Event::Execution);
        a.event(
            5,
            2_001,
            &Event::Print {
                shares: 3,
                notional_e4: 3 * 20_000,
                aggressor: b'B',
            },
        );
        // Time goes back into a closed window: still one row for it.
        a.event(5, 1_001, &Event::Quote(b'D'));
        let r: Vec<Row> = a.finish().rows().collect();
        let keys: Vec<(u64, u16)> = r.iter().map(Row::key).collect();
        assert_eq!(keys, [(1_000, 2), (1_000, 5), (2_000, 5)]);
        assert_eq!((r[0].sums().quotes, r[0].sums().replaces), (1, 1));
        let s = r[1].sums();
        assert_eq!(
            (s.quotes, s.adds, s.deletes, s.bbo, s.trades),
            (2, 1, 1, 1, 0)
        );
        let s = r[2].sums();
        assert_eq!((s.executions, s.trades, s.shares, s.buy), (1, 1, 3, 3));
        assert_eq!(s.notional_e4, 60_000);
    }
}
