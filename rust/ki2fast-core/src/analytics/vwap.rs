//! The hourly VWAP report of the classic notebook, with its defects fixed (`docs/itch.md` §8).
//!
//! Volume and notional accumulate per stock locate from the first message of the file, in
//! exact integers (notional in 1/10 000 $ · shares, `u128`). Reports are cut at the
//! market-open event (`S Q`), every hour after it, at the close event (`S M`) and at the end
//! of the input. The hourly check runs *before* a message is applied, so a report at `T`
//! holds exactly the messages before the first one stamped at or after `T`.

const HOUR_NS: u64 = 3_600 * 1_000_000_000;

/// One report instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `open`, `HH:MM:SS`, `close` or `eod`.
    pub label: String,
    /// The report instant, ns since midnight.
    pub timestamp: u64,
}

/// One row: a symbol's cumulative figures at one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRow {
    /// Index into the reports.
    pub report: u32,
    /// Stock locate.
    pub locate: u16,
    /// Shares.
    pub volume: u64,
    /// Exact notional in 1/10 000 $.
    pub notional: u128,
}

/// The report builder.
#[derive(Debug)]
pub struct HourlyVwap {
    volume: Vec<u64>,
    notional: Vec<u128>,
    traded: Vec<u16>,
    next: u64,
    opened: bool,
    closed: bool,
    clock_hours: bool,
    /// The latest time of a message while the hourly schedule ran (open to close): the
    /// reports due by then are the day's, whatever came after time went back.
    due: u64,
    /// Report instants, in order.
    pub reports: Vec<Report>,
    /// Rows, report by report, locates in first-traded order.
    pub rows: Vec<ReportRow>,
}

/// `HH:MM:SS` of a time of day in ns.
pub fn clock_label(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl HourlyVwap {
    /// Hourly boundaries at open + k h, or at whole clock hours with `clock_hours`.
    pub fn new(clock_hours: bool) -> HourlyVwap {
        HourlyVwap {
            volume: vec![0; 1 << 16],
            notional: vec![0; 1 << 16],
            traded: Vec::new(),
            next: u64::MAX,
            opened: false,
            closed: false,
            clock_hours,
            due: 0,
            reports: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Notes the time of a message (every message, in file order, before it is applied).
    #[inline(always)]
    pub fn note(&mut self, ts: u64) {
        if self.opened && !self.closed && ts > self.due {
            self.due = ts;
        }
    }

    /// The latest time [`HourlyVwap::note`] saw while the hourly schedule ran: every
    /// report up to it is due, none after it.
    pub fn due(&self) -> u64 {
        self.due
    }

    /// The hourly check, before a message stamped `ts` is applied.
    #[inline(always)]
    pub fn before(&mut self, ts: u64) {
        if ts >= self.next {
            self.hourly(ts);
        }
    }

    #[cold]
    fn hourly(&mut self, ts: u64) {
        while ts >= self.next {
            let at = self.next;
            self.report(clock_label(at), at);
            self.next = at.saturating_add(HOUR_NS);
        }
    }

    /// The market-open event: the `open` report, and the hourly schedule is armed.
    pub fn open(&mut self, ts: u64) {
        if self.opened || self.closed {
            return;
        }
        self.opened = true;
        self.report("open".into(), ts);
        self.next = if self.clock_hours {
            (ts / HOUR_NS + 1) * HOUR_NS
        } else {
            ts + HOUR_NS
        };
    }

    /// The market-close event: the `close` report; no hourly reports after it.
    pub fn close(&mut self, ts: u64) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.next = u64::MAX;
        self.report("close".into(), ts);
    }

    /// End of input.
    pub fn end(&mut self, last_ts: u64) {
        self.next = u64::MAX;
        self.report("eod".into(), last_ts);
    }

    /// A print of `shares` at `price` for `locate`.
    #[inline(always)]
    pub fn print(&mut self, locate: u16, shares: u64, price: u32) {
        let l = locate as usize;
        if self.volume[l] == 0 && self.notional[l] == 0 {
            if shares == 0 {
                return;
            }
            self.traded.push(locate);
        }
        self.volume[l] += shares;
        self.notional[l] += u128::from(shares) * u128::from(price);
    }

    /// Takes over the symbols `other` accumulated (a parallel replay's shards see every
    /// message, so they cut the same reports, each for its own symbols).
    pub fn absorb(&mut self, other: HourlyVwap) {
        debug_assert_eq!(self.reports, other.reports, "shards cut different reports");
        for &locate in &other.traded {
            let l = locate as usize;
            if self.volume[l] == 0 && self.notional[l] == 0 {
                self.traded.push(locate);
            }
            self.volume[l] += other.volume[l];
            self.notional[l] += other.notional[l];
        }
        self.rows.extend(other.rows);
    }

    fn report(&mut self, label: String, timestamp: u64) {
        let report = self.reports.len() as u32;
        self.reports.push(Report { label, timestamp });
        for &locate in &self.traded {
            let l = locate as usize;
            if self.volume[l] > 0 {
                self.rows.push(ReportRow {
                    report,
                    locate,
                    volume: self.volume[l],
                    notional: self.notional[l],
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_cut_before_the_boundary_message() {
        let open = 9 * HOUR_NS + 30 * 60 * 1_000_000_000;
        let mut v = HourlyVwap::new(false);
        v.before(1);
        v.print(3, 100, 10_000);
        v.before(open);
        v.open(open);
        v.before(open + 5);
        v.print(3, 100, 20_000);
        // A trade stamped exactly at the boundary belongs to the next report.
        v.before(open + HOUR_NS);
        v.print(4, 10, 1);
        v.before(open + 3 * HOUR_NS + 1);
        v.close(open + 3 * HOUR_NS + 1);
        v.end(open + 4 * HOUR_NS);
        let labels: Vec<&str> = v.reports.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(
            labels,
            ["open", "10:30:00", "11:30:00", "12:30:00", "close", "eod"]
        );
        let first: Vec<_> = v.rows.iter().filter(|r| r.report == 0).collect();
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].volume, first[0].notional), (100, 1_000_000));
        let at_1030: Vec<_> = v.rows.iter().filter(|r| r.report == 1).collect();
        assert_eq!((at_1030[0].volume, at_1030[0].notional), (200, 3_000_000));
        assert_eq!(at_1030.len(), 1);
        assert_eq!(v.rows.iter().filter(|r| r.report == 2).count(), 2);
    }

    #[test]
    fn clock_hours_start_at_the_next_whole_hour() {
        let mut v = HourlyVwap::new(true);
        let open = 9 * HOUR_NS + 30 * 60 * 1_000_000_000;
        v.open(open);
        v.before(10 * HOUR_NS);
        assert_eq!(v.reports[1].label, "10:00:00");
    }
}
