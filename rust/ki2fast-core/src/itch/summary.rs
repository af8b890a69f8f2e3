//! A whole-stream integrity pass (`ki2fast itch summary`): messages per type, the symbols,
//! the time span, the system-event sequence, and the counters of `docs/itch.md` §7 that need no
//! order book (timestamps going backwards or out of range, stock messages for locates no `R`
//! assigned, system events out of order). Book counters come with the replay.

use crate::itch::framing::{FrameChecks, FramePolicy, FrameSink};
use crate::itch::spec::{Message, MessageDef, MessageKind, Visitor};
use crate::itch::symbols::Symbols;

const DAY_NS: u64 = 86_400 * 1_000_000_000;

/// What a summary pass found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Framing counters (messages per type, unknown types, tail).
    pub checks: FrameChecks,
    /// Earliest and latest timestamp seen (ns since midnight).
    pub first_timestamp: Option<u64>,
    /// Latest timestamp seen.
    pub last_timestamp: Option<u64>,
    /// Messages stamped earlier than the largest timestamp before them.
    pub timestamp_regressions: u64,
    /// Messages stamped at or after 24:00.
    pub timestamp_out_of_range: u64,
    /// System events `(code, timestamp)` in file order.
    pub system_events: Vec<(u8, u64)>,
    /// System events that break the order `O S Q M E C`.
    pub events_out_of_order: u64,
    /// Stock directory (`R`) messages.
    pub directory_entries: u64,
    /// Directory entries marked as test symbols (authenticity `T`).
    pub test_symbols: u64,
    /// Messages about an instrument whose locate no `R` assigned.
    pub unknown_locate: u64,
    /// Distinct symbols seen (from `R` or from any symbol field).
    pub symbols: Vec<String>,
}

/// Collects a `Summary` frame by frame.
#[derive(Debug)]
pub struct SummarySink {
    summary: Summary,
    policy: FramePolicy,
    assigned: Vec<bool>,
    symbols: Symbols,
    event_rank: i32,
}

/// Position of a system event code in the day's order `O S Q M E C`.
pub(crate) fn event_rank(code: u8) -> Option<i32> {
    b"OSQMEC".iter().position(|&c| c == code).map(|p| p as i32)
}

impl SummarySink {
    /// A fresh pass.
    pub fn new(policy: FramePolicy) -> SummarySink {
        SummarySink {
            summary: Summary::default(),
            policy,
            assigned: vec![false; 1 << 16],
            symbols: Symbols::new(None),
            event_rank: -1,
        }
    }

    /// The result.
    pub fn finish(mut self) -> Summary {
        self.summary.symbols = self.symbols.names().to_vec();
        self.summary
    }

    /// The result so far, leaving the pass usable.
    pub fn snapshot(&self) -> Summary {
        Summary {
            symbols: self.symbols.names().to_vec(),
            ..self.summary.clone()
        }
    }
}

impl Visitor for SummarySink {
    type Output = ();

    fn visit<M: MessageDef>(&mut self, m: M) {
        let h = m.header();
        let s = &mut self.summary;
        let ts = h.timestamp;
        s.first_timestamp.get_or_insert(ts);
        match s.last_timestamp {
            Some(last) if ts < last => s.timestamp_regressions += 1,
            _ => s.last_timestamp = Some(ts),
        }
        if ts >= DAY_NS {
            s.timestamp_out_of_range += 1;
        }
        self.symbols.key_of(&m);
        match m.into_message() {
            Message::SystemEvent(e) => {
                s.system_events.push((e.event_code, ts));
                if let Some(rank) = event_rank(e.event_code) {
                    if rank <= self.event_rank {
                        s.events_out_of_order += 1;
                    }
                    self.event_rank = rank;
                }
            }
            Message::StockDirectory(r) => {
                s.directory_entries += 1;
                s.test_symbols += u64::from(r.authenticity == b'T');
                self.assigned[h.stock_locate as usize] = true;
            }
            _ if matches!(
                M::KIND,
                MessageKind::MwcbDeclineLevel | MessageKind::MwcbStatus
            ) => {}
            _ => {
                if h.stock_locate != 0 && !self.assigned[h.stock_locate as usize] {
                    s.unknown_locate += 1;
                }
            }
        }
    }
}

impl FrameSink for SummarySink {
    fn checks(&self) -> &FrameChecks {
        &self.summary.checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.summary.checks
    }
    fn policy(&self) -> FramePolicy {
        self.policy
    }
}
