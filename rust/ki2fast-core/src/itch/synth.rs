//! Synthetic but valid ITCH 5.0 trading days, deterministic per seed.
//!
//! A day has the shape of a real one: `S O` and the start-of-day spin (an `R` for every
//! symbol in alphabetical locate order, the `H`, `Y`, `L` and `V` spins), `S S` at 04:00,
//! pre-market flow, opening NOII from 09:25, `S Q` at 09:30 with opening crosses (the book
//! side as non-printable `C`, the bulk print as `Q`, one cross that did not happen with 0
//! shares), continuous trading, a news halt, a LULD pause with auction collars, an
//! operational halt, an IPO quoting update, DLCR price discovery, retail interest flags,
//! broken trades, a circuit-breaker breach after 15:25 (which halts nothing), closing NOII
//! and crosses at 16:00 (`S M`), post-market flow, `S E` at 20:00, every remaining order
//! deleted, and `S C`. All 23 message types occur.
//!
//! Order lifecycles are consistent: every execution, cancel, delete and replace names a live
//! order; executions take the head of the best level (FIFO); books never cross outside
//! crosses; replaces chain. Activity is skewed across symbols (Zipf, capped at 3 % a symbol)
//! and the book depth is a parameter. A few "stuffer" symbols carry planted add/cancel
//! storms (hundreds of quote messages within milliseconds); the JSON truth file lists them
//! with the halts, crosses and system events, so detectors can be scored against it.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::io::Write;

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::itch::encode::ItchWriter;
use crate::itch::spec::{
    AddOrder, AddOrderMpid, BrokenTrade, COUNT, CrossTrade, DlcrPriceDiscovery,
    IpoQuotingPeriodUpdate, LuldAuctionCollar, MarketParticipantPosition, MessageDef, MessageKind,
    MwcbDeclineLevel, MwcbStatus, Noii, OperationalHalt, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace, RegShoRestriction, Rpii, StockDirectory,
    StockTradingAction, SystemEvent, Trade,
};
use crate::itch::wire::alpha;

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

const fn hms(h: u64, m: u64, s: u64) -> u64 {
    h * HOUR + m * MINUTE + s * SECOND
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Messages in the day (the generator lands within a few messages of it).
    pub messages: u64,
    /// Symbols in the directory.
    pub symbols: usize,
    /// Seed: the same seed and parameters give the same bytes.
    pub seed: u64,
    /// Average resting orders per symbol during the day (the book-depth knob).
    pub depth: usize,
    /// Session date (recorded in the truth file; ITCH itself carries no date).
    pub date: NaiveDate,
    /// Planted quote bursts; `None` picks 1–6 by size of the day.
    pub bursts: Option<usize>,
    /// Planted program bursts: [`PROGRAM_SYMBOLS`] symbols stuffed in the same instant, with
    /// executions on one side (buy and sell programs in turn). 0 leaves a day as it was.
    pub program_bursts: usize,
}

/// Symbols in a planted program burst.
pub const PROGRAM_SYMBOLS: usize = 12;
/// Quote messages per symbol of a planted program burst (over 5 ms: a `micro` episode each).
const PROGRAM_QUOTES: u64 = 220;
/// Executions per symbol of a planted program burst, all on the program's side.
const PROGRAM_EXECUTIONS: u64 = 3;

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            messages: 1_000_000,
            symbols: 500,
            seed: 1,
            depth: 25,
            date: NaiveDate::from_ymd_opt(2024, 3, 1).expect("valid date"),
            bursts: None,
            program_bursts: 0,
        }
    }
}

/// xoshiro256++ seeded by splitmix64: small, fast, and stable across platforms and
/// versions, so a seed means the same day forever.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    /// 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in `0..n` (`n > 0`).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Walker's alias table: O(1) draws from a fixed discrete distribution.
#[derive(Debug)]
struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl Alias {
    fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let mut prob = vec![1.0; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s];
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Alias { prob, alias }
    }

    #[inline]
    fn sample(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.unit() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// A resting order of the generator's book, stored with its symbol.
#[derive(Debug, Clone, Copy)]
struct Live {
    reference: u64,
    price: u32,
    shares: u32,
    side: u8,
}

/// One price level: its FIFO queue of `(slot, reference)` (deleted orders stay until they
/// reach the front and are skipped, so removal never searches) and its count of live orders.
#[derive(Debug, Default)]
struct Level {
    queue: VecDeque<(u32, u64)>,
    live: u32,
}

/// One side of a generator book: levels in a vector sorted so the best price is last (asks
/// keyed by the complement of their price), which keeps the busy end of the book in a cache
/// line or two and makes the best level a `last()`.
#[derive(Debug, Default)]
struct Ladder {
    levels: Vec<(u32, Level)>,
    asks: bool,
}

impl Ladder {
    fn new(asks: bool) -> Ladder {
        Ladder {
            levels: Vec::new(),
            asks,
        }
    }

    #[inline]
    fn key(&self, price: u32) -> u32 {
        if self.asks { !price } else { price }
    }

    /// Best price.
    #[inline]
    fn best(&self) -> Option<u32> {
        self.levels.last().map(|(k, _)| self.key(*k))
    }

    #[inline]
    fn find(&self, price: u32) -> Result<usize, usize> {
        let key = self.key(price);
        let i = self.levels.partition_point(|(k, _)| *k < key);
        match self.levels.get(i) {
            Some((k, _)) if *k == key => Ok(i),
            _ => Err(i),
        }
    }

    /// Queues the order in `slot` at the back of `price`.
    #[inline]
    fn hold(&mut self, price: u32, slot: u32, reference: u64) {
        let i = match self.find(price) {
            Ok(i) => i,
            Err(i) => {
                let key = self.key(price);
                self.levels.insert(i, (key, Level::default()));
                i
            }
        };
        let level = &mut self.levels[i].1;
        level.queue.push_back((slot, reference));
        level.live += 1;
    }

    /// One order fewer at `price`; drops the level when it empties.
    #[inline]
    fn release(&mut self, price: u32) {
        if let Ok(i) = self.find(price) {
            let level = &mut self.levels[i].1;
            level.live -= 1;
            if level.live == 0 {
                self.levels.remove(i);
            }
        }
    }
}

/// A symbol's resting orders in slots that never move (freed slots are reused), so a level's
/// queue can name its orders by slot and check them by reference.
#[derive(Debug, Default)]
struct Slab {
    slots: Vec<Option<Live>>,
    free: Vec<u32>,
    live: usize,
}

impl Slab {
    fn insert(&mut self, o: Live) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(o);
                i
            }
            None => {
                self.slots.push(Some(o));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn remove(&mut self, slot: usize) -> Option<Live> {
        let o = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot as u32);
        self.live -= 1;
        Some(o)
    }

    #[inline]
    fn get(&self, slot: usize) -> Option<&Live> {
        self.slots.get(slot)?.as_ref()
    }

    #[inline]
    fn get_mut(&mut self, slot: usize) -> Option<&mut Live> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// The slot of `reference` (a scan: only for the rare lookups by reference).
    fn find(&self, reference: u64) -> Option<usize> {
        self.slots
            .iter()
            .rposition(|o| matches!(o, Some(o) if o.reference == reference))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trading,
    Halted,
}

#[derive(Debug)]
struct Sym {
    locate: u16,
    name: String,
    stock: [u8; 8],
    tick: u32,
    mid: u32,
    target_live: usize,
    live: Slab,
    bids: Ladder,
    asks: Ladder,
    state: State,
}

impl Sym {
    fn best_bid(&self) -> Option<u32> {
        self.bids.best()
    }
    fn best_ask(&self) -> Option<u32> {
        self.asks.best()
    }
    fn side_mut(&mut self, side: u8) -> &mut Ladder {
        if side == b'B' {
            &mut self.bids
        } else {
            &mut self.asks
        }
    }
}

/// Adds, deletes and partial cancels of one symbol's burst.
type Counts3 = (u64, u64, u64);

/// A planted quote burst, as recorded in the truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedBurst {
    /// Symbol.
    pub symbol: String,
    /// Its locate.
    pub locate: u16,
    /// First message, ns since midnight.
    pub start_ts: u64,
    /// Last message, ns since midnight.
    pub end_ts: u64,
    /// Quote messages in the burst.
    pub messages: u64,
    /// Adds among them.
    pub adds: u64,
    /// Deletes among them.
    pub deletes: u64,
    /// Partial cancels among them.
    pub cancels: u64,
}

/// A planted program burst, as recorded in the truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedProgram {
    /// First message, ns since midnight.
    pub start_ts: u64,
    /// Last message, ns since midnight.
    pub end_ts: u64,
    /// `B`: the executions are buyer-initiated (a buy program); `S`: seller-initiated.
    pub side: char,
    /// The symbols stuffed, each also a planted burst.
    pub symbols: Vec<String>,
}

/// A trading interruption, as recorded in the truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedHalt {
    /// Symbol.
    pub symbol: String,
    /// Its locate.
    pub locate: u16,
    /// `halt`, `luld_pause` or `operational_halt`.
    pub kind: &'static str,
    /// Reason code.
    pub reason: String,
    /// Start, ns since midnight.
    pub start_ts: u64,
    /// End, ns since midnight.
    pub end_ts: u64,
}

/// A cross print, as recorded in the truth file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedCross {
    /// Symbol.
    pub symbol: String,
    /// Its locate.
    pub locate: u16,
    /// Cross type (`O`, `C`, `H`).
    pub cross_type: char,
    /// Time, ns since midnight.
    pub ts: u64,
    /// Shares (0: no cross took place).
    pub shares: u64,
    /// Cross price in 1/10 000 $.
    pub price: u32,
}

/// What the generator planted: the truth detectors and replays are scored against.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// Seed used.
    pub seed: u64,
    /// Session date.
    pub date: Option<NaiveDate>,
    /// Symbols in the directory.
    pub symbols: usize,
    /// Depth knob.
    pub depth: usize,
    /// Symbols carrying planted bursts.
    pub stuffers: Vec<String>,
    /// Planted bursts, in time order.
    pub bursts: Vec<PlantedBurst>,
    /// Planted program bursts, in time order (their symbols' bursts are in `bursts` too).
    pub program_bursts: Vec<PlantedProgram>,
    /// Halts and pauses.
    pub halts: Vec<PlantedHalt>,
    /// Crosses.
    pub crosses: Vec<PlantedCross>,
    /// System events `(code, ts)`.
    pub events: Vec<(char, u64)>,
    /// Messages written per type (catalogue order).
    pub counts: [u64; COUNT],
    /// Orders still live when the day ended (0: the generator deletes them after `S E`).
    pub live_orders_at_end: u64,
    /// Most resting orders at any time.
    pub peak_live_orders: u64,
}

/// `HH:MM:SS.nnnnnnnnn` of nanoseconds since midnight.
pub fn clock(ts: u64) -> String {
    let (s, ns) = (ts / SECOND, ts % SECOND);
    format!("{:02}:{:02}:{:02}.{:09}", s / 3600, s / 60 % 60, s % 60, ns)
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Truth {
    /// Messages written in all.
    pub fn total_messages(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The truth sidecar as pretty JSON.
    pub fn to_json(&self) -> String {
        let mut j = String::new();
        let list = |items: Vec<String>| -> String {
            if items.is_empty() {
                "[]".to_string()
            } else {
                format!("[\n    {}\n  ]", items.join(",\n    "))
            }
        };
        let date = self
            .date
            .map_or("null".to_string(), |d| json_str(&d.to_string()));
        let bursts = self
            .bursts
            .iter()
            .map(|b| {
                format!(
                    "{{\"symbol\": {}, \"locate\": {}, \"start_ts\": {}, \"end_ts\": {}, \"start\": {}, \"end\": {}, \"duration_ms\": {:.6}, \"messages\": {}, \"adds\": {}, \"deletes\": {}, \"cancels\": {}}}",
                    json_str(&b.symbol),
                    b.locate,
                    b.start_ts,
                    b.end_ts,
                    json_str(&clock(b.start_ts)),
                    json_str(&clock(b.end_ts)),
                    (b.end_ts - b.start_ts) as f64 / 1e6,
                    b.messages,
                    b.adds,
                    b.deletes,
                    b.cancels
                )
            })
            .collect();
        let halts = self
            .halts
            .iter()
            .map(|h| {
                format!(
                    "{{\"symbol\": {}, \"locate\": {}, \"kind\": {}, \"reason\": {}, \"start_ts\": {}, \"end_ts\": {}, \"start\": {}, \"end\": {}}}",
                    json_str(&h.symbol),
                    h.locate,
                    json_str(h.kind),
                    json_str(&h.reason),
                    h.start_ts,
                    h.end_ts,
                    json_str(&clock(h.start_ts)),
                    json_str(&clock(h.end_ts))
                )
            })
            .collect();
        let crosses = self
            .crosses
            .iter()
            .map(|c| {
                format!(
                    "{{\"symbol\": {}, \"locate\": {}, \"cross_type\": {}, \"ts\": {}, \"time\": {}, \"shares\": {}, \"price\": {}}}",
                    json_str(&c.symbol),
                    c.locate,
                    json_str(&c.cross_type.to_string()),
                    c.ts,
                    json_str(&clock(c.ts)),
                    c.shares,
                    c.price
                )
            })
            .collect();
        let events = self
            .events
            .iter()
            .map(|(code, ts)| {
                format!(
                    "{{\"code\": {}, \"ts\": {}, \"time\": {}}}",
                    json_str(&code.to_string()),
                    ts,
                    json_str(&clock(*ts))
                )
            })
            .collect();
        let counts: Vec<String> = MessageKind::ALL
            .iter()
            .map(|k| format!("{}: {}", json_str(k.name()), self.counts[k.index()]))
            .collect();
        let stuffers: Vec<String> = self.stuffers.iter().map(|s| json_str(s)).collect();
        // Only days with program bursts name them: the truth of other days stays as it was.
        let programs = if self.program_bursts.is_empty() {
            String::new()
        } else {
            let items: Vec<String> = self
                .program_bursts
                .iter()
                .map(|p| {
                    let names: Vec<String> = p.symbols.iter().map(|s| json_str(s)).collect();
                    format!(
                        "{{\"start_ts\": {}, \"end_ts\": {}, \"start\": {}, \"side\": {}, \"symbols\": [{}]}}",
                        p.start_ts,
                        p.end_ts,
                        json_str(&clock(p.start_ts)),
                        json_str(&p.side.to_string()),
                        names.join(", ")
                    )
                })
                .collect();
            format!("  \"program_bursts\": {},\n", list(items))
        };
        let _ = write!(
            j,
            "{{\n  \"seed\": {},\n  \"session_date\": {},\n  \"symbols\": {},\n  \"depth\": {},\n  \"stuffers\": [{}],\n  \"bursts\": {},\n{}  \"halts\": {},\n  \"crosses\": {},\n  \"events\": {},\n  \"summary\": {{\"messages\": {}, \"live_orders_at_end\": {}, \"peak_live_orders\": {}, \"counts\": {{{}}}}}\n}}\n",
            self.seed,
            date,
            self.symbols,
            self.depth,
            stuffers.join(", "),
            list(bursts),
            programs,
            list(halts),
            list(crosses),
            list(events),
            self.total_messages(),
            self.live_orders_at_end,
            self.peak_live_orders,
            counts.join(", ")
        );
        j
    }
}

#[derive(Debug, Clone, Copy)]
enum Scheduled {
    System(u8),
    Noii {
        cross_type: u8,
    },
    Cross {
        cross_type: u8,
    },
    HaltStart {
        sym: usize,
    },
    HaltQuote {
        sym: usize,
    },
    HaltEnd {
        sym: usize,
    },
    LuldStart {
        sym: usize,
    },
    LuldExtend {
        sym: usize,
    },
    LuldEnd {
        sym: usize,
    },
    OpHaltStart {
        sym: usize,
    },
    OpHaltEnd {
        sym: usize,
    },
    Ipo {
        sym: usize,
    },
    Dlcr {
        sym: usize,
        step: u64,
    },
    Break,
    Mwcb,
    Program {
        syms: [usize; PROGRAM_SYMBOLS],
        len: usize,
        side: u8,
    },
    Burst {
        sym: usize,
        messages: u64,
        duration: u64,
    },
}

impl Scheduled {
    /// Messages the event is expected to write (for landing on the message budget).
    fn estimate(&self, cross_syms: usize) -> u64 {
        match self {
            Scheduled::Noii { .. } => cross_syms as u64,
            Scheduled::Cross { .. } => 3 * cross_syms as u64 + 1,
            Scheduled::HaltEnd { .. } | Scheduled::LuldEnd { .. } => 4,
            Scheduled::Burst { messages, .. } => *messages,
            Scheduled::Program { len, .. } => *len as u64 * (PROGRAM_QUOTES + PROGRAM_EXECUTIONS),
            _ => 1,
        }
    }
}

const MPIDS: [&str; 6] = ["MMAA", "MMBB", "MMCC", "MMDD", "MMEE", "MMFF"];

struct Gen<W: Write> {
    rng: Rng,
    out: ItchWriter<W>,
    syms: Vec<Sym>,
    next_ref: u64,
    next_match: u64,
    recent_matches: VecDeque<(u64, u16)>,
    ts: u64,
    cross_syms: Vec<usize>,
    live_total: usize,
    truth: Truth,
    alias: Alias,
}

fn make_symbols(rng: &mut Rng, n: usize) -> Vec<String> {
    let mut set: HashSet<String> = HashSet::new();
    if n >= 20 {
        // NASDAQ's own test symbols appear in real traffic, marked by authenticity 'T'.
        set.insert("ZVZZT".into());
        set.insert("ZXZZT".into());
    }
    while set.len() < n {
        let len = [1, 2, 3, 3, 4, 4, 4, 4, 5][rng.below(9) as usize];
        let mut s: String = (0..len)
            .map(|_| (b'A' + rng.below(26) as u8) as char)
            .collect();
        if len >= 3 && rng.chance(0.02) {
            s.push(if rng.chance(0.5) { '.' } else { '-' });
            s.push((b'A' + rng.below(3) as u8) as char);
        }
        set.insert(s);
    }
    let mut v: Vec<String> = set.into_iter().collect();
    v.sort();
    v
}

impl<W: Write> Gen<W> {
    fn write<M: MessageDef>(&mut self, m: M) -> Result<()> {
        self.out.write(&m)?;
        Ok(())
    }

    fn tracking(&mut self) -> u16 {
        (self.rng.next_u64() & 3) as u16
    }

    fn advance(&mut self, ts: u64) {
        self.ts = self.ts.max(ts);
    }

    fn shares(&mut self) -> u32 {
        if self.rng.chance(0.75) {
            100 * self.rng.range(1, 10) as u32
        } else {
            self.rng.range(1, 99) as u32
        }
    }

    fn system(&mut self, code: u8) -> Result<()> {
        let tracking = self.tracking();
        self.truth.events.push((code as char, self.ts));
        self.write(SystemEvent {
            stock_locate: 0,
            tracking_number: tracking,
            timestamp: self.ts,
            event_code: code,
        })
    }

    fn spin(&mut self) -> Result<()> {
        self.ts = hms(3, 5, 0) + self.rng.below(SECOND);
        self.system(b'O')?;
        self.ts += 500_000;
        let v = MwcbDeclineLevel {
            stock_locate: 0,
            tracking_number: 0,
            timestamp: self.ts,
            level_1: 4_500_000_000_000,
            level_2: 4_200_000_000_000,
            level_3: 3_870_000_000_000,
        };
        self.write(v)?;
        for i in 0..self.syms.len() {
            self.ts += self.rng.range(200, 2_000);
            let test =
                self.syms[i].name.starts_with("ZVZZT") || self.syms[i].name.starts_with("ZXZZT");
            let etf = self.rng.chance(0.12);
            let r = StockDirectory {
                stock_locate: self.syms[i].locate,
                tracking_number: 0,
                timestamp: self.ts,
                stock: self.syms[i].stock,
                market_category: self.rng.pick(b"QQQGSNNPAZV"),
                financial_status_indicator: if self.rng.chance(0.95) {
                    b'N'
                } else {
                    self.rng.pick(b"D E")
                },
                round_lot_size: 100,
                round_lots_only: b'N',
                issue_classification: if etf {
                    b'Q'
                } else {
                    self.rng.pick(b"CCCCCAOPWU")
                },
                issue_sub_type: if etf {
                    alpha("I")
                } else {
                    alpha(["C", "Z", "A", "N"][self.rng.below(4) as usize])
                },
                authenticity: if test { b'T' } else { b'P' },
                short_sale_threshold_indicator: self.rng.pick(b"NNNNY "),
                ipo_flag: self.rng.pick(b"NNNN "),
                luld_reference_price_tier: self.rng.pick(b"1122 "),
                etp_flag: if etf { b'Y' } else { b'N' },
                etp_leverage_factor: if etf { self.rng.range(1, 3) as u32 } else { 0 },
                inverse_indicator: if etf && self.rng.chance(0.2) {
                    b'Y'
                } else {
                    b'N'
                },
            };
            self.write(r)?;
        }
        for i in 0..self.syms.len() {
            self.ts += self.rng.range(100, 1_000);
            let (locate, stock) = (self.syms[i].locate, self.syms[i].stock);
            let h = StockTradingAction {
                stock_locate: locate,
                tracking_number: 0,
                timestamp: self.ts,
                stock,
                trading_state: b'T',
                reserved: b' ',
                reason: alpha(""),
            };
            self.write(h)?;
            if self.rng.chance(0.06) {
                let action = self.rng.pick(b"012");
                self.write(RegShoRestriction {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp: self.ts,
                    stock,
                    reg_sho_action: action,
                })?;
            }
            if self.rng.chance(0.1) {
                for _ in 0..self.rng.range(1, 3) {
                    let l = MarketParticipantPosition {
                        stock_locate: locate,
                        tracking_number: 0,
                        timestamp: self.ts,
                        mpid: alpha(self.rng.pick(&MPIDS)),
                        stock,
                        primary_market_maker: self.rng.pick(b"NNNY"),
                        market_maker_mode: self.rng.pick(b"NNNNP"),
                        market_participant_state: self.rng.pick(b"AAAAE"),
                    };
                    self.write(l)?;
                }
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        sym: usize,
        side: u8,
        price: u32,
        shares: u32,
        mpid: Option<&str>,
    ) -> Result<u64> {
        let reference = self.next_ref;
        self.next_ref += 1;
        let s = &mut self.syms[sym];
        let slot = s.live.insert(Live {
            reference,
            price,
            shares,
            side,
        });
        s.side_mut(side).hold(price, slot, reference);
        let (locate, stock) = (s.locate, s.stock);
        self.live_total += 1;
        self.truth.peak_live_orders = self.truth.peak_live_orders.max(self.live_total as u64);
        let tracking = self.tracking();
        match mpid {
            None => self.write(AddOrder {
                stock_locate: locate,
                tracking_number: tracking,
                timestamp: self.ts,
                order_reference_number: reference,
                buy_sell_indicator: side,
                shares,
                stock,
                price,
            })?,
            Some(m) => self.write(AddOrderMpid {
                stock_locate: locate,
                tracking_number: tracking,
                timestamp: self.ts,
                order_reference_number: reference,
                buy_sell_indicator: side,
                shares,
                stock,
                price,
                attribution: alpha(m),
            })?,
        }
        Ok(reference)
    }

    /// Takes the order in `slot` out of the book (no message).
    fn unlink(&mut self, sym: usize, slot: usize) -> Option<Live> {
        let s = &mut self.syms[sym];
        let o = s.live.remove(slot)?;
        s.side_mut(o.side).release(o.price);
        self.live_total -= 1;
        Some(o)
    }

    /// A uniformly random live order of `sym` (rejection sampling over the slots).
    fn random_live(&mut self, sym: usize) -> Option<usize> {
        let slab = &self.syms[sym].live;
        if slab.live == 0 {
            return None;
        }
        let n = slab.slots.len() as u64;
        loop {
            let i = self.rng.below(n) as usize;
            if slab.slots[i].is_some() {
                return Some(i);
            }
        }
    }

    fn slot_of(&self, sym: usize, reference: u64) -> Option<usize> {
        self.syms[sym].live.find(reference)
    }

    fn header(&mut self, sym: usize) -> (u16, u16, u64) {
        (self.syms[sym].locate, self.tracking(), self.ts)
    }

    fn delete(&mut self, sym: usize, slot: usize) -> Result<()> {
        let Some(o) = self.unlink(sym, slot) else {
            return Ok(());
        };
        let (locate, tracking, ts) = self.header(sym);
        self.write(OrderDelete {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            order_reference_number: o.reference,
        })
    }

    fn cancel(&mut self, sym: usize, slot: usize, shares: u32) -> Result<()> {
        let Some(o) = self.syms[sym].live.get_mut(slot) else {
            return Ok(());
        };
        o.shares -= shares;
        let reference = o.reference;
        let (locate, tracking, ts) = self.header(sym);
        self.write(OrderCancel {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            order_reference_number: reference,
            cancelled_shares: shares,
        })
    }

    fn new_match(&mut self) -> u64 {
        self.next_match += 1;
        self.next_match
    }

    fn remember(&mut self, m: u64, locate: u16) {
        if self.recent_matches.len() == 64 {
            self.recent_matches.pop_front();
        }
        self.recent_matches.push_back((m, locate));
    }

    /// Executes `shares` of a resting order; `with_price` makes it a `C`.
    fn execute(
        &mut self,
        sym: usize,
        slot: usize,
        shares: u32,
        with_price: Option<(u32, u8)>,
    ) -> Result<()> {
        let Some(o) = self.syms[sym].live.get_mut(slot) else {
            return Ok(());
        };
        let shares = shares.min(o.shares);
        o.shares -= shares;
        let (reference, left) = (o.reference, o.shares);
        let m = self.new_match();
        let (locate, tracking, ts) = self.header(sym);
        match with_price {
            None => {
                self.remember(m, locate);
                self.write(OrderExecuted {
                    stock_locate: locate,
                    tracking_number: tracking,
                    timestamp: ts,
                    order_reference_number: reference,
                    executed_shares: shares,
                    match_number: m,
                })?;
            }
            Some((price, printable)) => {
                if printable == b'Y' {
                    self.remember(m, locate);
                }
                self.write(OrderExecutedWithPrice {
                    stock_locate: locate,
                    tracking_number: tracking,
                    timestamp: ts,
                    order_reference_number: reference,
                    executed_shares: shares,
                    match_number: m,
                    printable,
                    execution_price: price,
                })?;
            }
        }
        if left == 0 {
            self.unlink(sym, slot);
        }
        Ok(())
    }

    /// The slot of the order at the front of the best level on `side` (FIFO), dropping the
    /// references of deleted orders that reached the front.
    fn best_head(&mut self, sym: usize, side: u8) -> Option<usize> {
        let s = &mut self.syms[sym];
        let live = &s.live;
        let ladder = if side == b'B' {
            &mut s.bids
        } else {
            &mut s.asks
        };
        let price = ladder.best()?;
        let queue = &mut ladder.levels.last_mut()?.1.queue;
        while let Some(&(slot, r)) = queue.front() {
            if let Some(o) = live.get(slot as usize)
                && o.reference == r
                && o.price == price
                && o.side == side
            {
                return Some(slot as usize);
            }
            queue.pop_front();
        }
        None
    }

    /// A price for a new order on `side`, never crossing the other side.
    fn quote_price(&mut self, sym: usize, side: u8) -> u32 {
        let k = {
            let mut k = 1u32;
            while k < 12 && self.rng.chance(0.55) {
                k += 1;
            }
            k
        };
        if self.rng.chance(0.03) {
            let s = &mut self.syms[sym];
            let step = s.tick;
            if self.rng.chance(0.5) {
                s.mid = s.mid.saturating_add(step)
            } else {
                s.mid = s.mid.saturating_sub(step).max(20 * step)
            }
        }
        let s = &self.syms[sym];
        let t = s.tick;
        if side == b'B' {
            let mut p = s.mid.saturating_sub(k * t).max(t);
            if let Some(a) = s.best_ask() {
                p = p.min(a.saturating_sub(t)).max(t);
            }
            p
        } else {
            let mut p = s.mid + k * t;
            if let Some(b) = s.best_bid() {
                p = p.max(b + t);
            }
            p
        }
    }

    fn background(&mut self) -> Result<()> {
        let sym = self.pick_symbol();
        let (live, target, trading) = {
            let s = &self.syms[sym];
            (s.live.live, s.target_live, s.state == State::Trading)
        };
        let p_add = if live == 0 {
            1.0
        } else if live < target {
            0.62
        } else if live > target + target / 4 {
            0.30
        } else {
            0.46
        };
        if self.rng.chance(p_add) {
            let side = if self.rng.chance(0.5) { b'B' } else { b'S' };
            let price = self.quote_price(sym, side);
            let shares = self.shares();
            let mpid = self.rng.chance(0.05).then(|| self.rng.pick(&MPIDS));
            self.add(sym, side, price, shares, mpid)?;
            return Ok(());
        }
        let r = self.rng.unit();
        let Some(slot) = self.random_live(sym) else {
            return Ok(());
        };
        if r < 0.62 {
            self.delete(sym, slot)
        } else if r < 0.80 {
            self.replace(sym, slot)
        } else if r < 0.86 {
            let shares = self.syms[sym].live.get(slot).map_or(0, |o| o.shares);
            if shares > 1 {
                let cut = self.rng.range(1, shares as u64 - 1) as u32;
                self.cancel(sym, slot, cut)
            } else {
                self.delete(sym, slot)
            }
        } else if !trading {
            self.delete(sym, slot)
        } else if r < 0.965 {
            self.execute_best(sym, None)
        } else if r < 0.975 {
            let side = if self.rng.chance(0.5) { b'B' } else { b'S' };
            let Some(head) = self.best_head(sym, side) else {
                return Ok(());
            };
            let Some(&o) = self.syms[sym].live.get(head) else {
                return Ok(());
            };
            let price = if self.rng.chance(0.5) {
                o.price
            } else if side == b'B' {
                o.price + self.syms[sym].tick
            } else {
                o.price.saturating_sub(self.syms[sym].tick).max(1)
            };
            let printable = if self.rng.chance(0.9) { b'Y' } else { b'N' };
            let shares = self.fill_size(o.shares);
            self.execute(sym, head, shares, Some((price, printable)))
        } else if r < 0.9985 {
            self.hidden_trade(sym)
        } else if r < 0.99995 {
            let (locate, tracking, ts) = self.header(sym);
            let stock = self.syms[sym].stock;
            let flag = self.rng.pick(b"BSAN");
            self.write(Rpii {
                stock_locate: locate,
                tracking_number: tracking,
                timestamp: ts,
                stock,
                interest_flag: flag,
            })
        } else {
            self.broken_trade()
        }
    }

    fn fill_size(&mut self, shares: u32) -> u32 {
        if shares <= 1 || self.rng.chance(0.55) {
            shares
        } else {
            self.rng.range(1, shares as u64 - 1) as u32
        }
    }

    fn execute_best(&mut self, sym: usize, side: Option<u8>) -> Result<()> {
        let side = side.unwrap_or(if self.rng.chance(0.5) { b'B' } else { b'S' });
        let Some(head) = self.best_head(sym, side) else {
            return Ok(());
        };
        let shares = self.fill_size(self.syms[sym].live.get(head).map_or(0, |o| o.shares));
        self.execute(sym, head, shares, None)
    }

    fn replace(&mut self, sym: usize, slot: usize) -> Result<()> {
        let Some(old) = self.unlink(sym, slot) else {
            return Ok(());
        };
        let t = self.syms[sym].tick;
        let mut price = match self.rng.below(5) {
            0 => old.price.saturating_sub(2 * t),
            1 => old.price.saturating_sub(t),
            2 => old.price,
            3 => old.price + t,
            _ => old.price + 2 * t,
        }
        .max(t);
        {
            let s = &self.syms[sym];
            if old.side == b'B' {
                if let Some(a) = s.best_ask() {
                    price = price.min(a.saturating_sub(t)).max(t);
                }
            } else if let Some(b) = s.best_bid() {
                price = price.max(b + t);
            }
        }
        let shares = if self.rng.chance(0.5) {
            old.shares
        } else {
            self.shares()
        };
        let new_ref = self.next_ref;
        self.next_ref += 1;
        let s = &mut self.syms[sym];
        let slot = s.live.insert(Live {
            reference: new_ref,
            price,
            shares,
            side: old.side,
        });
        s.side_mut(old.side).hold(price, slot, new_ref);
        self.live_total += 1;
        let (locate, tracking, ts) = self.header(sym);
        self.write(OrderReplace {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            original_order_reference_number: old.reference,
            new_order_reference_number: new_ref,
            shares,
            price,
        })
    }

    fn hidden_trade(&mut self, sym: usize) -> Result<()> {
        let s = &self.syms[sym];
        let price = match (s.best_bid(), s.best_ask()) {
            (Some(b), Some(a)) => (b + a) / 2 / s.tick * s.tick,
            _ => s.mid,
        };
        let (locate, stock) = (s.locate, s.stock);
        let shares = self.shares();
        let m = self.new_match();
        self.remember(m, locate);
        let tracking = self.tracking();
        self.write(Trade {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: self.ts,
            order_reference_number: 0,
            buy_sell_indicator: b'B',
            shares,
            stock,
            price,
            match_number: m,
        })
    }

    fn broken_trade(&mut self) -> Result<()> {
        let Some((m, locate)) = self.recent_matches.pop_back() else {
            return Ok(());
        };
        let tracking = self.tracking();
        self.write(BrokenTrade {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: self.ts,
            match_number: m,
        })
    }

    #[inline]
    fn pick_symbol(&mut self) -> usize {
        self.alias.sample(&mut self.rng)
    }
}

impl<W: Write> Gen<W> {
    fn noii(&mut self, sym: usize, cross_type: u8) -> Result<()> {
        let (locate, tracking, ts) = self.header(sym);
        let s = &self.syms[sym];
        let (stock, mid) = (s.stock, s.mid);
        let direction = self.rng.pick(b"BBSSNO");
        let far = if self.rng.chance(0.3) { 0 } else { mid };
        let paired = 100 * self.rng.range(0, 500);
        let imbalance = if direction == b'N' {
            0
        } else {
            100 * self.rng.range(1, 200)
        };
        let variation = self.rng.pick(b"L123A ");
        self.write(Noii {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            paired_shares: paired,
            imbalance_shares: imbalance,
            imbalance_direction: direction,
            stock,
            far_price: far,
            near_price: mid,
            current_reference_price: mid,
            cross_type,
            price_variation_indicator: variation,
        })
    }

    /// A cross on `sym`: the book side as non-printable `C` legs at the cross price, then
    /// the bulk `Q` print. `happens = false` writes the zero-share `Q` of a cross that did
    /// not take place.
    fn cross(&mut self, sym: usize, cross_type: u8, happens: bool) -> Result<()> {
        let (price, mut shares) = if happens {
            let s = &self.syms[sym];
            (s.mid / s.tick * s.tick, 0u64)
        } else {
            (0, 0)
        };
        if happens {
            let bid = self.best_head(sym, b'B');
            let ask = self.best_head(sym, b'S');
            let live = &self.syms[sym].live;
            let size = match (bid.and_then(|b| live.get(b)), ask.and_then(|a| live.get(a))) {
                (Some(b), Some(a)) => b.shares.min(a.shares),
                _ => 0,
            };
            if let (Some(b), Some(a)) = (bid, ask)
                && size > 0
            {
                self.execute(sym, b, size, Some((price, b'N')))?;
                self.execute(sym, a, size, Some((price, b'N')))?;
            }
            shares = size as u64 + 100 * self.rng.range(1, 50);
        }
        let m = self.new_match();
        let (locate, tracking, ts) = self.header(sym);
        let stock = self.syms[sym].stock;
        self.truth.crosses.push(PlantedCross {
            symbol: self.syms[sym].name.clone(),
            locate,
            cross_type: cross_type as char,
            ts,
            shares,
            price,
        });
        self.write(CrossTrade {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            shares,
            stock,
            cross_price: price,
            match_number: m,
            cross_type,
        })
    }

    /// `T` resumes trading on `sym`; any other code halts it (no executions meanwhile).
    fn set_state(&mut self, sym: usize, code: u8) {
        self.syms[sym].state = if code == b'T' {
            State::Trading
        } else {
            State::Halted
        };
    }

    fn trading_action(&mut self, sym: usize, state: u8, reason: &str) -> Result<()> {
        let (locate, tracking, ts) = self.header(sym);
        let stock = self.syms[sym].stock;
        self.set_state(sym, state);
        self.write(StockTradingAction {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            stock,
            trading_state: state,
            reserved: b' ',
            reason: alpha(reason),
        })
    }

    fn collar(&mut self, sym: usize, extension: u32) -> Result<()> {
        let (locate, tracking, ts) = self.header(sym);
        let s = &self.syms[sym];
        let (stock, mid, t) = (s.stock, s.mid, s.tick);
        let band = (mid / 20 / t).max(1) * t;
        self.write(LuldAuctionCollar {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            stock,
            auction_collar_reference_price: mid,
            upper_auction_collar_price: mid + band,
            lower_auction_collar_price: mid.saturating_sub(band),
            auction_collar_extension: extension,
        })
    }

    fn halt_record(&mut self, sym: usize, kind: &'static str, reason: &str) {
        self.truth.halts.push(PlantedHalt {
            symbol: self.syms[sym].name.clone(),
            locate: self.syms[sym].locate,
            kind,
            reason: reason.to_string(),
            start_ts: self.ts,
            end_ts: self.ts,
        });
    }

    fn halt_end(&mut self, sym: usize) {
        let locate = self.syms[sym].locate;
        let ts = self.ts;
        if let Some(h) = self
            .truth
            .halts
            .iter_mut()
            .rev()
            .find(|h| h.locate == locate)
        {
            h.end_ts = ts;
        }
    }

    fn operational_halt(&mut self, sym: usize, action: u8) -> Result<()> {
        let (locate, tracking, ts) = self.header(sym);
        let stock = self.syms[sym].stock;
        self.set_state(sym, action);
        self.write(OperationalHalt {
            stock_locate: locate,
            tracking_number: tracking,
            timestamp: ts,
            stock,
            market_code: b'Q',
            operational_halt_action: action,
        })
    }

    fn burst(&mut self, sym: usize, n: u64, duration: u64) -> Result<()> {
        let start = self.ts;
        let counts = self.quote_bursts(&[sym], n, duration)?;
        self.planted(sym, start, n, counts[0]);
        Ok(())
    }

    /// Records a planted burst of `sym` that started at `start` and ended now.
    fn planted(&mut self, sym: usize, start: u64, n: u64, (adds, deletes, cancels): Counts3) {
        self.truth.bursts.push(PlantedBurst {
            symbol: self.syms[sym].name.clone(),
            locate: self.syms[sym].locate,
            start_ts: start,
            end_ts: self.ts,
            messages: n,
            adds,
            deletes,
            cancels,
        });
    }

    /// `n` quote messages on each of `syms` over `duration` ns from now, the symbols' messages
    /// interleaved step by step (times never go back); the adds, deletes and partial cancels
    /// of each symbol.
    fn quote_bursts(&mut self, syms: &[usize], n: u64, duration: u64) -> Result<Vec<Counts3>> {
        let start = self.ts;
        let step = duration / n.max(2).saturating_sub(1).max(1);
        let mut open: Vec<VecDeque<u64>> = vec![VecDeque::new(); syms.len()];
        let mut counts: Vec<Counts3> = vec![(0, 0, 0); syms.len()];
        for i in 0..n {
            self.ts = start + i * step;
            let remaining = n - i;
            for (k, &sym) in syms.iter().enumerate() {
                let open = &mut open[k];
                let (adds, deletes, cancels) = &mut counts[k];
                let can_add = remaining >= open.len() as u64 + 2;
                if open.is_empty() || (open.len() < 4 && can_add && self.rng.chance(0.5)) {
                    let side = if i % 2 == 0 { b'B' } else { b'S' };
                    let price = self.quote_price(sym, side);
                    open.push_back(self.add(sym, side, price, 100, None)?);
                    *adds += 1;
                } else {
                    let r = *open.front().expect("checked non-empty");
                    let Some(slot) = self.slot_of(sym, r) else {
                        open.pop_front();
                        continue;
                    };
                    let partial = remaining > open.len() as u64
                        && self.syms[sym].live.get(slot).is_some_and(|o| o.shares > 1);
                    if partial && self.rng.chance(0.12) {
                        self.cancel(sym, slot, 1)?;
                        *cancels += 1;
                    } else {
                        open.pop_front();
                        self.delete(sym, slot)?;
                        *deletes += 1;
                    }
                }
            }
        }
        Ok(counts)
    }

    /// A program burst: every symbol of `syms` stuffed at once, then executions of resting
    /// orders so that the prints are all buyer-initiated (`side` `B`) or seller-initiated.
    fn program(&mut self, syms: &[usize], side: u8) -> Result<()> {
        let start = self.ts;
        let counts = self.quote_bursts(syms, PROGRAM_QUOTES, 5_000_000)?;
        for (k, &sym) in syms.iter().enumerate() {
            self.planted(sym, start, PROGRAM_QUOTES, counts[k]);
        }
        // A buy program lifts the offers: it executes resting sell orders.
        let resting = if side == b'B' { b'S' } else { b'B' };
        for _ in 0..PROGRAM_EXECUTIONS {
            self.ts += 100_000;
            for &sym in syms {
                self.execute_best(sym, Some(resting))?;
            }
        }
        self.truth.program_bursts.push(PlantedProgram {
            start_ts: start,
            end_ts: self.ts,
            side: side as char,
            symbols: syms.iter().map(|&s| self.syms[s].name.clone()).collect(),
        });
        Ok(())
    }

    fn run(&mut self, ev: Scheduled) -> Result<()> {
        match ev {
            Scheduled::System(code) => self.system(code)?,
            Scheduled::Noii { cross_type } => {
                let syms = if cross_type == b'A' {
                    self.cross_syms[..1].to_vec()
                } else {
                    self.cross_syms.clone()
                };
                for sym in syms {
                    self.noii(sym, cross_type)?;
                }
            }
            Scheduled::Cross { cross_type } => {
                for sym in self.cross_syms.clone() {
                    self.cross(sym, cross_type, true)?;
                }
                if cross_type == b'O' {
                    // One listed symbol whose opening cross did not happen.
                    let quiet = self.no_cross_sym();
                    self.cross(quiet, cross_type, false)?;
                }
            }
            Scheduled::HaltStart { sym } => {
                self.halt_record(sym, "halt", "T1");
                self.trading_action(sym, b'H', "T1")?;
            }
            Scheduled::HaltQuote { sym } => self.trading_action(sym, b'Q', "T3")?,
            Scheduled::HaltEnd { sym } | Scheduled::LuldEnd { sym } => {
                self.noii(sym, b'H')?;
                self.cross(sym, b'H', true)?;
                let reason = if matches!(ev, Scheduled::HaltEnd { .. }) {
                    "T3"
                } else {
                    "LUDP"
                };
                self.trading_action(sym, b'T', reason)?;
                self.halt_end(sym);
            }
            Scheduled::LuldStart { sym } => {
                self.halt_record(sym, "luld_pause", "LUDP");
                self.trading_action(sym, b'P', "LUDP")?;
                self.collar(sym, 0)?;
            }
            Scheduled::LuldExtend { sym } => self.collar(sym, 1)?,
            Scheduled::OpHaltStart { sym } => {
                self.halt_record(sym, "operational_halt", "Q");
                self.operational_halt(sym, b'H')?;
            }
            Scheduled::OpHaltEnd { sym } => {
                self.operational_halt(sym, b'T')?;
                self.halt_end(sym);
            }
            Scheduled::Ipo { sym } => {
                let (locate, tracking, ts) = self.header(sym);
                let (stock, mid) = (self.syms[sym].stock, self.syms[sym].mid);
                self.write(IpoQuotingPeriodUpdate {
                    stock_locate: locate,
                    tracking_number: tracking,
                    timestamp: ts,
                    stock,
                    ipo_quotation_release_time: (hms(11, 30, 0) / SECOND) as u32,
                    ipo_quotation_release_qualifier: b'A',
                    ipo_price: mid,
                })?;
            }
            Scheduled::Dlcr { sym, step } => {
                let (locate, tracking, ts) = self.header(sym);
                let (stock, mid, t) = (
                    self.syms[sym].stock,
                    self.syms[sym].mid,
                    self.syms[sym].tick,
                );
                let near = mid + (step as u32 % 3) * t;
                self.write(DlcrPriceDiscovery {
                    stock_locate: locate,
                    tracking_number: tracking,
                    timestamp: ts,
                    stock,
                    open_eligibility_status: if step >= 5 { b'Y' } else { b'N' },
                    minimum_allowable_price: mid / 5 * 4,
                    maximum_allowable_price: mid / 5 * 9,
                    near_execution_price: near,
                    near_execution_time: ts - SECOND.min(ts),
                    lower_price_range_collar: near / 10 * 9,
                    upper_price_range_collar: near / 10 * 11,
                })?;
            }
            Scheduled::Break => self.broken_trade()?,
            Scheduled::Mwcb => {
                let tracking = self.tracking();
                self.write(MwcbStatus {
                    stock_locate: 0,
                    tracking_number: tracking,
                    timestamp: self.ts,
                    breached_level: b'1',
                })?;
            }
            Scheduled::Burst {
                sym,
                messages,
                duration,
            } => self.burst(sym, messages, duration)?,
            Scheduled::Program { syms, len, side } => self.program(&syms[..len], side)?,
        }
        Ok(())
    }

    fn no_cross_sym(&self) -> usize {
        (0..self.syms.len())
            .find(|i| !self.cross_syms.contains(i))
            .unwrap_or(0)
    }
}

/// Maps the fraction of background flow written so far to a time of day: 3 % pre-market
/// (04:00–09:30), 94 % regular session, 3 % post-market (16:00–20:00).
fn time_of(f: f64) -> u64 {
    const PRE: (f64, f64) = (
        (hms(4, 0, 0) + 1_000) as f64,
        (hms(9, 30, 0) - hms(4, 0, 0) - 1_000) as f64 / 0.03,
    );
    const REG: (f64, f64) = (
        (hms(9, 30, 0) + 50_000) as f64,
        (hms(16, 0, 0) - hms(9, 30, 0) - 50_000) as f64 / 0.94,
    );
    const POST: (f64, f64) = (
        (hms(16, 0, 0) + 50_000) as f64,
        (hms(20, 0, 0) - SECOND - hms(16, 0, 0) - 50_000) as f64 / 0.03,
    );
    let f = f.clamp(0.0, 0.999_999);
    let ((t0, per), lo) = if f < 0.03 {
        (PRE, 0.0)
    } else if f < 0.97 {
        (REG, 0.03)
    } else {
        (POST, 0.97)
    };
    (t0 + (f - lo) * per) as u64
}

fn zipf_weights(rng: &mut Rng, n: usize) -> Vec<f64> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut w = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        w[i] = 1.0 / (rank as f64 + 1.0);
    }
    // Real days are skewed but no single name carries much more than a few percent.
    for _ in 0..4 {
        let total: f64 = w.iter().sum();
        for x in &mut w {
            *x = (*x / total).min(0.03);
        }
    }
    let total: f64 = w.iter().sum();
    w.iter().map(|x| x / total).collect()
}

/// Symbols by activity, most active first.
fn by_activity(w: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..w.len()).collect();
    idx.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
    idx
}

/// Writes a synthetic day to `out`; returns the writer and the truth record.
pub fn synth_day<W: Write>(cfg: &SynthConfig, out: W) -> Result<(W, Truth)> {
    let n = cfg.symbols;
    if !(8..=60_000).contains(&n) {
        return Err(Error::InvalidArgument(format!(
            "symbols must be between 8 and 60000, got {n}"
        )));
    }
    let minimum = 4 * n as u64 + 2_000;
    if cfg.messages < minimum {
        return Err(Error::InvalidArgument(format!(
            "a day with {n} symbols needs at least {minimum} messages (spin, crosses, halts), got {}",
            cfg.messages
        )));
    }
    let mut rng = Rng::new(cfg.seed);
    let names = make_symbols(&mut rng, n);
    let weights = zipf_weights(&mut rng, n);
    let ranked = by_activity(&weights);
    let depth_total = (cfg.depth * n) as f64;
    let syms: Vec<Sym> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let sub_dollar = rng.chance(0.01);
            let (tick, mid) = if sub_dollar {
                (1, rng.range(2_000, 9_900) as u32)
            } else {
                let dollars = (2.0f64.ln() + rng.unit() * (400.0f64.ln() - 2.0f64.ln())).exp();
                (100, (dollars * 100.0).round() as u32 * 100)
            };
            Sym {
                locate: i as u16 + 1,
                name: name.clone(),
                stock: alpha(name),
                tick,
                mid,
                target_live: ((depth_total * weights[i]) as usize).max(2),
                live: Slab::default(),
                bids: Ladder::new(false),
                asks: Ladder::new(true),
                state: State::Trading,
            }
        })
        .collect();

    let cross_n = ((cfg.messages / 50_000) as usize).clamp(2, 20).min(n / 4);
    let cross_syms: Vec<usize> = ranked[..cross_n].to_vec();
    // Special roles go to symbols of middling activity, each to a different one.
    let mut middle = ranked[cross_n + 1..].iter().copied();
    let mut role = || {
        middle
            .next()
            .expect("at least 8 symbols leave room for every role")
    };
    let test_symbol = names.iter().position(|s| s == "ZVZZT");
    let (halt_sym, op_sym, ipo_sym, dlcr_sym) = (role(), role(), role(), role());
    let luld_sym = match test_symbol {
        Some(t)
            if !cross_syms.contains(&t) && ![halt_sym, op_sym, ipo_sym, dlcr_sym].contains(&t) =>
        {
            t
        }
        _ => role(),
    };
    let bursts = cfg
        .bursts
        .unwrap_or(((cfg.messages / 25_000) as usize).clamp(1, 6));
    let stuffer_count = bursts.div_ceil(2);
    // Stuffers take the symbols left; a day of very few symbols plants fewer bursts.
    let stuffers: Vec<usize> = middle
        .filter(|&s| Some(s) != test_symbol && s != luld_sym)
        .take(stuffer_count)
        .collect();

    let mut schedule: Vec<(u64, Scheduled)> = vec![
        (hms(4, 0, 0), Scheduled::System(b'S')),
        (hms(7, 30, 0), Scheduled::Ipo { sym: ipo_sym }),
        (hms(9, 30, 0), Scheduled::System(b'Q')),
        (
            hms(9, 30, 0) + 20_000,
            Scheduled::Cross { cross_type: b'O' },
        ),
        (hms(10, 30, 0), Scheduled::Break),
        (hms(10, 45, 0), Scheduled::HaltStart { sym: halt_sym }),
        (hms(11, 0, 0), Scheduled::HaltQuote { sym: halt_sym }),
        (hms(11, 5, 0), Scheduled::HaltEnd { sym: halt_sym }),
        (hms(13, 15, 0), Scheduled::LuldStart { sym: luld_sym }),
        (hms(13, 20, 0), Scheduled::LuldExtend { sym: luld_sym }),
        (hms(13, 25, 0), Scheduled::LuldEnd { sym: luld_sym }),
        (hms(14, 0, 0), Scheduled::OpHaltStart { sym: op_sym }),
        (hms(14, 3, 0), Scheduled::OpHaltEnd { sym: op_sym }),
        (hms(15, 40, 0), Scheduled::Mwcb),
        (hms(16, 0, 0), Scheduled::System(b'M')),
        (
            hms(16, 0, 0) + 20_000,
            Scheduled::Cross { cross_type: b'C' },
        ),
    ];
    for step in 0..=10 {
        schedule.push((
            hms(12, 0, step),
            Scheduled::Dlcr {
                sym: dlcr_sym,
                step,
            },
        ));
    }
    for (open, cross_type) in [(hms(9, 25, 0), b'O'), (hms(15, 50, 0), b'C')] {
        let mut t = open;
        while t < open + 5 * MINUTE {
            schedule.push((t, Scheduled::Noii { cross_type }));
            t += if t < open + 3 * MINUTE {
                10 * SECOND
            } else {
                SECOND
            };
        }
    }
    for k in 1..=60 {
        schedule.push((
            hms(16, 0, 0) + 5 * k * SECOND,
            Scheduled::Noii { cross_type: b'A' },
        ));
    }
    let max_size = (cfg.messages / 40).clamp(200, 1_600);
    // No symbol left to stuff quotes into: no burst.
    let bursts = if stuffers.is_empty() { 0 } else { bursts };
    let mut burst_times: Vec<u64> = (0..bursts)
        .map(|_| rng.range(hms(10, 0, 0), hms(15, 30, 0)))
        .collect();
    burst_times.sort_unstable();
    for (k, t) in burst_times.into_iter().enumerate() {
        let messages = rng.range(200, max_size);
        let duration = rng.range(1_500_000, 12_000_000);
        schedule.push((
            t,
            Scheduled::Burst {
                sym: stuffers[k % stuffers.len()],
                messages,
                duration,
            },
        ));
    }
    if cfg.program_bursts > 0 {
        // Members: symbols with no other role (never halted, never a stuffer).
        let roles = [halt_sym, op_sym, ipo_sym, dlcr_sym, luld_sym];
        let mut pool: Vec<usize> = (0..n)
            .filter(|s| !roles.contains(s) && !stuffers.contains(s) && Some(*s) != test_symbol)
            .collect();
        let members = PROGRAM_SYMBOLS.min(pool.len());
        // A day of too few symbols plants none.
        let count = if members >= 2 { cfg.program_bursts } else { 0 };
        let mut programs = Vec::with_capacity(count);
        for _ in 0..count {
            let t = rng.range(hms(10, 0, 0), hms(15, 30, 0));
            // A partial Fisher-Yates shuffle picks the members.
            for i in 0..members {
                let j = i + rng.below((pool.len() - i) as u64) as usize;
                pool.swap(i, j);
            }
            let mut syms = [0; PROGRAM_SYMBOLS];
            syms[..members].copy_from_slice(&pool[..members]);
            syms[..members].sort_unstable();
            programs.push((t, syms));
        }
        // Buy and sell programs in turn through the day.
        programs.sort_by_key(|p| p.0);
        for (k, (t, syms)) in programs.into_iter().enumerate() {
            let side = if k % 2 == 0 { b'B' } else { b'S' };
            let len = members;
            schedule.push((t, Scheduled::Program { syms, len, side }));
        }
    }
    schedule.sort_by_key(|&(t, _)| t);

    let mut truth = Truth {
        seed: cfg.seed,
        date: Some(cfg.date),
        symbols: n,
        depth: cfg.depth,
        stuffers: stuffers.iter().map(|&s| names[s].clone()).collect(),
        ..Truth::default()
    };
    truth.stuffers.sort();
    truth.stuffers.dedup();
    let mut g = Gen {
        rng,
        out: ItchWriter::new(out),
        syms,
        next_ref: 1,
        next_match: 0,
        recent_matches: VecDeque::new(),
        ts: 0,
        cross_syms: cross_syms.clone(),
        live_total: 0,
        truth,
        alias: Alias::new(&weights),
    };
    g.spin()?;

    let estimate = |ev: &Scheduled| ev.estimate(cross_n);
    let mut pending: u64 = schedule.iter().map(|(_, e)| estimate(e)).sum();
    let target_live: u64 = g.syms.iter().map(|s| s.target_live as u64).sum();
    let bg_budget = cfg
        .messages
        .saturating_sub(g.out.total() + pending + target_live + 2)
        .max(1);
    let mut next = 0;
    let mut i = 0u64;
    while g.out.total() + g.live_total as u64 + pending + 2 < cfg.messages {
        let t = time_of((i as f64 + g.rng.unit()) / bg_budget as f64);
        while next < schedule.len() && schedule[next].0 <= t {
            let (at, ev) = schedule[next];
            g.advance(at);
            g.run(ev)?;
            pending -= estimate(&ev);
            next += 1;
        }
        g.advance(t);
        g.background()?;
        i += 1;
    }
    for &(at, ev) in &schedule[next..] {
        g.advance(at);
        g.run(ev)?;
    }
    g.advance(hms(20, 0, 0));
    g.system(b'E')?;
    // Orders left at the end of system hours are purged oldest first, across all symbols,
    // spread over four minutes (so no symbol sees a flood).
    let mut left: Vec<(u64, usize, usize)> = g
        .syms
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.live
                .slots
                .iter()
                .enumerate()
                .filter_map(move |(slot, o)| o.map(|o| (o.reference, i, slot)))
        })
        .collect();
    left.sort_unstable();
    let purge_step = (4 * MINUTE / (left.len() as u64 + 1)).max(1);
    for (_, sym, slot) in left {
        g.ts += purge_step;
        g.delete(sym, slot)?;
    }
    g.advance(hms(20, 5, 0));
    g.system(b'C')?;
    g.truth.counts = *g.out.counts();
    g.truth.live_orders_at_end = g.live_total as u64;
    let Gen { out, truth, .. } = g;
    Ok((out.into_inner()?, truth))
}
