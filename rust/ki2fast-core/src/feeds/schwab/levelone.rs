//! Schwab level-one NDJSON captures, pass 1: every complete line parsed once, its level-one
//! content items flattened into columns per service (docs/feeds.md §1.12).
//!
//! Shapes read: data items, raw frames and streamer journal records. A successful LOGIN after
//! the first starts a new connection epoch. A line that is none of these is a bad line with
//! its reason; a value that is odd but readable is a note. The tests hold this pass against
//! an independent line-by-line reading in Python (`tests/schwab_reference.py`).

use std::collections::HashMap;

use super::book::{self, Book};
use crate::feeds::json::{self, Value};
use crate::mem::{push_huge, reserve_huge};

pub const EQUITIES: &str = "LEVELONE_EQUITIES";
pub const OPTIONS: &str = "LEVELONE_OPTIONS";

/// A value's kind in [`Pairs::tag`].
pub mod tag {
    pub const NULL: u8 = 0;
    pub const BOOL: u8 = 1;
    pub const INT: u8 = 2;
    pub const FLOAT: u8 = 3;
    pub const STR: u8 = 4;
    /// Anything else (arrays, objects, integers beyond 64 bits): its JSON text in `text`.
    pub const JSON: u8 = 5;
}

/// The (key, value) pairs of one service's content items, in order.
#[derive(Debug, Default)]
pub struct Pairs {
    /// The item (row of [`Items`]) each pair belongs to.
    pub row: Vec<u32>,
    /// The key, as a code into [`Service::names`].
    pub name: Vec<u32>,
    pub tag: Vec<u8>,
    /// `BOOL` (0/1) and `INT` values as `i64`, `FLOAT` values as `f64`, in one 64-bit slot
    /// (see [`Pairs::int`], [`Pairs::float`]).
    pub num: Vec<u64>,
    /// `STR` and `JSON` values: ends of each pair's text in `text` (empty for the others).
    pub text_end: Vec<u64>,
    pub text: String,
}

impl Pairs {
    /// The `BOOL` (0/1) or `INT` value of pair `i`.
    pub fn int(&self, i: usize) -> i64 {
        self.num[i] as i64
    }

    /// The `FLOAT` value of pair `i`.
    pub fn float(&self, i: usize) -> f64 {
        f64::from_bits(self.num[i])
    }
}

/// A scalar JSON value as a pair holds it: its tag, 64-bit slot and text (a string's, or
/// an integer's beyond 64 bits); None for arrays and objects.
pub fn scalar<'v>(v: &'v Value<'_>) -> Option<(u8, u64, &'v str)> {
    Some(match v {
        Value::Null => (tag::NULL, 0, ""),
        Value::Bool(b) => (tag::BOOL, u64::from(*b), ""),
        Value::Int(i) => (tag::INT, *i as u64, ""),
        Value::Float(x) => (tag::FLOAT, x.to_bits(), ""),
        Value::Str(s) => (tag::STR, 0, s),
        Value::BigInt(s) => (tag::JSON, 0, s),
        Value::Array(_) | Value::Object(_) => return None,
    })
}

/// One service's content items.
#[derive(Debug, Default)]
pub struct Items {
    pub line: Vec<u64>,
    pub item_idx: Vec<i64>,
    /// The connection epoch.
    pub epoch: Vec<i64>,
    pub ts: Vec<Option<i64>>,
}

#[derive(Debug, Default)]
pub struct Service {
    pub items: Items,
    pub pairs: Pairs,
    /// Key names by code.
    pub names: Vec<String>,
    codes: HashMap<String, u32>,
    /// The code after the last one [`Service::code`] gave.
    next_hint: u32,
    /// The first item timestamp (in ms) that could be read.
    pub first_ts: Option<i64>,
    /// Data items seen (with content lists), for the reader's statistics.
    pub data_items: u64,
    /// How many items at the front are carried state from earlier lines (line 0), not read
    /// from these lines (see [`super::stream`]).
    pub carried: u32,
}

impl Service {
    /// The code of key `k` (a new one for a key not seen before). Items mostly send their
    /// keys in the same order, so the key after the last one looked up is tried first;
    /// captures use a few dozen keys at most, so a scan of the names beats hashing; the map
    /// takes over past that.
    fn code(&mut self, k: &str) -> u32 {
        let next = self.next_hint as usize;
        if self.names.get(next).is_some_and(|n| n == k) {
            self.next_hint += 1;
            return next as u32;
        }
        let c = self.find_code(k);
        self.next_hint = c + 1;
        c
    }

    fn find_code(&mut self, k: &str) -> u32 {
        if self.names.len() <= 48 {
            if let Some(i) = self.names.iter().position(|n| n == k) {
                return i as u32;
            }
        } else if let Some(&c) = self.codes.get(k) {
            return c;
        }
        let c = self.names.len() as u32;
        self.names.push(k.to_string());
        if self.names.len() == 49 {
            self.codes = self.names.iter().cloned().zip(0..).collect();
        } else if self.names.len() > 49 {
            self.codes.insert(k.to_string(), c);
        }
        c
    }
}

/// A bad line: its number, where it starts, why, and a JSON value the message names.
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    pub line: u64,
    pub offset: u64,
    pub reason: BadReason,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BadReason {
    NotJson(String),
    NotObject,
    ItemNotObject,
    /// The `service` value of an item without a content list, as JSON.
    NoContentList(String),
    ResponseNotObject,
    /// `response` or `notify` (which one) is neither a list nor null.
    NotList(&'static str),
    DataNotList,
    /// A data item's `timestamp` is a number of ms no nanosecond timestamp can hold.
    TimestampOutOfRange,
    /// A frame with more content items than `item_idx` (16 bits) can number.
    TooManyItems,
    NoneOfDataResponseNotify,
    JournalRawNotJson(String),
    JournalRawNotObject,
    UnknownShape,
}

/// A `response` or non-heartbeat `notify` item, as JSON, for the caller to read.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub line: u64,
    pub notify: bool,
    pub json: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub line: u64,
    pub offset: Option<u64>,
    /// `Some(n)`: content item `n` is not an object; `None`: NaN/Infinity read as null.
    pub item: Option<usize>,
}

/// Everything pass 1 gives.
#[derive(Debug, Default)]
pub struct Pass {
    pub equities: Service,
    pub options: Service,
    pub bad: Vec<Bad>,
    pub notes: Vec<Note>,
    pub control: Vec<Control>,
    /// The `service` of data items of other services (book services included), as JSON.
    pub skipped: Vec<String>,
    /// The book services' rows.
    pub book: Book,
    pub heartbeats: u64,
    /// Journal records that are not frames received (requests sent, notes, opens, closes).
    pub journal_other: u64,
    /// The journal's `gap` notes (an outage the streamer recorded), as JSON, with their line.
    pub gap_notes: Vec<(u64, String)>,
    pub lines: u64,
    pub held_back: u64,
    /// Successful logins so far.
    pub(crate) logins: u64,
    /// The receive time of the journal record being read.
    recv_ns: Option<i64>,
}

/// Pass 1 over the complete lines of `data` (a leading byte-order mark skipped; bytes after
/// the last line end held back), on as many threads as the machine has (up to 8).
pub fn read(data: &[u8]) -> Pass {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    read_with(data, threads)
}

/// Captures smaller than this per thread are read on fewer threads.
const MIN_CHUNK: usize = 4 << 20;

/// The same for the batches of a growing capture ([`read_after`]), which are small and
/// waited on: a thread's start (tens of µs) is worth it from here on.
const MIN_BATCH_CHUNK: usize = 128 << 10;

/// [`read`] on at most `threads` threads.
pub fn read_with(data: &[u8], threads: usize) -> Pass {
    read_in_parts(data, threads.clamp(1, (data.len() / MIN_CHUNK).max(1)), 0)
}

/// [`read`] of lines that come after `lines` complete lines (`bytes` bytes) in which
/// `logins` successful LOGINs were read: line numbers, byte offsets and connection epochs
/// go on from there.
pub fn read_after(data: &[u8], lines: u64, bytes: u64, logins: u64) -> Pass {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let parts = threads.clamp(1, (data.len() / MIN_BATCH_CHUNK).max(1));
    let mut p = read_in_parts(data, parts, logins);
    if lines == 0 && bytes == 0 {
        return p;
    }
    for svc in [&mut p.equities, &mut p.options] {
        svc.items.line.iter_mut().for_each(|l| *l += lines);
    }
    for b in &mut p.bad {
        b.line += lines;
        b.offset += bytes;
    }
    for n in &mut p.notes {
        n.line += lines;
        n.offset = n.offset.map(|o| o + bytes);
    }
    for c in &mut p.control {
        c.line += lines;
    }
    for g in &mut p.gap_notes {
        g.0 += lines;
    }
    p.book.shift(lines, bytes);
    p
}

/// [`read`] with the lines cut into `parts` runs of whole lines, each read on its own
/// thread, and the results joined in order (line numbers, connection epochs and key codes
/// as one reading of the whole gives them).
fn read_in_parts(data: &[u8], parts: usize, logins: u64) -> Pass {
    let start = if data.starts_with(b"\xef\xbb\xbf") {
        3
    } else {
        0
    };
    let end = data.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
    let held_back = (data.len() - end.max(start)) as u64;
    if end <= start {
        return Pass {
            held_back,
            logins,
            ..Pass::default()
        };
    }
    let body = &data[start..end];
    let mut chunks: Vec<(usize, &[u8])> = Vec::with_capacity(parts);
    let mut from = 0;
    for k in 1..=parts {
        let mut to = body.len() * k / parts;
        if k < parts {
            // Whole lines: up to and with the next line end.
            to = body[to..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(body.len(), |i| to + i + 1)
                .max(from);
        } else {
            to = body.len();
        }
        if to > from {
            chunks.push((start + from, &body[from..to]));
        }
        from = to;
    }
    let mut passes = crate::par::in_parallel(&mut chunks, |(offset, bytes)| {
        read_lines(bytes, *offset as u64)
    })
    .into_iter();
    let mut p = passes.next().unwrap_or_default();
    p.set_epochs(logins);
    for mut q in passes {
        q.set_epochs(p.logins);
        p.append(q);
    }
    p.held_back = held_back;
    p
}

/// Pass 1 over whole lines (each ending with a line end) that start at byte `base`.
fn read_lines(body: &[u8], base: u64) -> Pass {
    let mut p = Pass::default();
    let mut at = 0;
    while at < body.len() {
        let end = next_line_end(body, at);
        let raw = &body[at..end];
        let off = base + at as u64;
        at = end + 1;
        p.lines += 1;
        // Python's bytes.isspace(), which counts \x0b too.
        if raw
            .iter()
            .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c'))
        {
            continue;
        }
        p.line(raw, p.lines, off);
    }
    p
}

/// The position of the first line end in `b` from `from` on (`b` ends with one), eight
/// bytes at a time.
fn next_line_end(b: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = ONES * b'\n' as u64;
    let mut i = from;
    while i + 8 <= b.len() {
        let word = u64::from_le_bytes(b[i..i + 8].try_into().expect("eight bytes"));
        let x = word ^ NL;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..].iter().position(|&c| c == b'\n').expect("a line end")
}

impl Service {
    /// Adds one content item: its line, index in the frame, connection epoch (or logins so
    /// far, in pass 1), time and (key, value) pairs.
    pub(crate) fn push_item(
        &mut self,
        line: u64,
        idx: i64,
        epoch: i64,
        ts: Option<i64>,
        fields: &[(std::borrow::Cow<'_, str>, Value<'_>)],
    ) {
        let row = self.items.line.len() as u32;
        push_huge(&mut self.items.line, line);
        push_huge(&mut self.items.item_idx, idx);
        push_huge(&mut self.items.epoch, epoch);
        push_huge(&mut self.items.ts, ts);
        for (k, v) in fields {
            let code = self.code(k);
            let pairs = &mut self.pairs;
            push_huge(&mut pairs.row, row);
            push_huge(&mut pairs.name, code);
            let (t, num) = match scalar(v) {
                Some((t, num, text)) => {
                    pairs.text.push_str(text);
                    (t, num)
                }
                None => {
                    pairs.text.push_str(&to_json(v));
                    (tag::JSON, 0)
                }
            };
            push_huge(&mut pairs.tag, t);
            push_huge(&mut pairs.num, num);
            push_huge(&mut pairs.text_end, pairs.text.len() as u64);
        }
    }

    /// Appends the items of `other` (read after these).
    pub(crate) fn append(&mut self, other: Service, line_base: u64) {
        let rows = self.items.line.len() as u32;
        let text = self.pairs.text.len() as u64;
        let codes: Vec<u32> = other.names.iter().map(|n| self.code(n)).collect();
        let o = other.items;
        let q = other.pairs;
        reserve_huge(&mut self.items.line, o.line.len());
        reserve_huge(&mut self.items.item_idx, o.line.len());
        reserve_huge(&mut self.items.epoch, o.line.len());
        reserve_huge(&mut self.items.ts, o.line.len());
        reserve_huge(&mut self.pairs.row, q.row.len());
        reserve_huge(&mut self.pairs.name, q.row.len());
        reserve_huge(&mut self.pairs.tag, q.row.len());
        reserve_huge(&mut self.pairs.num, q.row.len());
        reserve_huge(&mut self.pairs.text_end, q.row.len());
        self.items.line.extend(o.line.iter().map(|l| l + line_base));
        self.items.item_idx.extend(o.item_idx);
        self.items.epoch.extend(o.epoch);
        self.items.ts.extend(o.ts);
        self.pairs.row.extend(q.row.iter().map(|r| r + rows));
        self.pairs
            .name
            .extend(q.name.iter().map(|&c| codes[c as usize]));
        self.pairs.tag.extend(q.tag);
        self.pairs.num.extend(q.num);
        self.pairs
            .text_end
            .extend(q.text_end.iter().map(|e| e + text));
        self.pairs.text.push_str(&q.text);
        self.first_ts = self.first_ts.or(other.first_ts);
        self.data_items += other.data_items;
    }
}

impl Pass {
    /// The level-one services: equities, options.
    pub fn services(&self) -> [&Service; 2] {
        [&self.equities, &self.options]
    }

    /// Items hold the number of successful logins before them until the lines are read;
    /// with `before` logins in the lines before these, that becomes the connection epoch
    /// (a successful LOGIN after the first starts a new one).
    fn set_epochs(&mut self, before: u64) {
        for svc in [&mut self.equities, &mut self.options] {
            for e in &mut svc.items.epoch {
                *e = (*e + before as i64 - 1).max(0);
            }
        }
        for e in &mut self.book.epoch {
            *e = (*e + before as i64 - 1).max(0);
        }
        self.logins += before;
    }

    /// Appends what pass 1 read in the lines after these (epochs set).
    fn append(&mut self, q: Pass) {
        let base = self.lines;
        self.equities.append(q.equities, base);
        self.options.append(q.options, base);
        let shift = |line: u64| line + base;
        self.bad.extend(q.bad.into_iter().map(|b| Bad {
            line: shift(b.line),
            ..b
        }));
        self.notes.extend(q.notes.into_iter().map(|n| Note {
            line: shift(n.line),
            ..n
        }));
        self.control.extend(q.control.into_iter().map(|c| Control {
            line: shift(c.line),
            ..c
        }));
        self.skipped.extend(q.skipped);
        self.book.append(q.book, base);
        self.heartbeats += q.heartbeats;
        self.journal_other += q.journal_other;
        self.gap_notes
            .extend(q.gap_notes.into_iter().map(|(l, g)| (shift(l), g)));
        self.lines += q.lines;
        self.logins = q.logins; // counted from the start (set_epochs)
    }

    fn fail(&mut self, reason: BadReason, line: u64, offset: u64) {
        self.bad.push(Bad {
            line,
            offset,
            reason,
        });
    }

    fn line(&mut self, raw: &[u8], number: u64, off: u64) {
        let obj = match json::parse(raw, false) {
            Ok((v, _)) => v,
            Err(e) => match json::parse(raw, true) {
                Ok((v, _)) => {
                    self.notes.push(Note {
                        line: number,
                        offset: Some(off),
                        item: None,
                    });
                    v
                }
                Err(_) => {
                    // Python's json may still read it (it takes lone surrogates, huge
                    // exponents...): the caller checks these lines.
                    self.fail(BadReason::NotJson(e.to_string()), number, off);
                    return;
                }
            },
        };
        let journal_other = obj.has("v")
            && obj.has("dir")
            && obj.has("kind")
            && !(matches!(obj.get("dir"), Some(Value::Str(d)) if d == "in")
                && matches!(obj.get("kind"), Some(Value::Str(k)) if k == "ws_text"));
        if !matches!(obj, Value::Object(_)) {
            self.fail(BadReason::NotObject, number, off);
        } else if journal_other {
            self.journal_other += 1;
            let is = |k: &str, v: &str| matches!(obj.get(k), Some(Value::Str(s)) if s == v);
            if is("kind", "note") && is("note", "gap") {
                self.gap_notes.push((number, to_json(&obj)));
            }
        } else if obj.has("content") && obj.has("service") {
            self.data_item(&obj, number, off, 0);
        } else if obj.has("data") || obj.has("response") || obj.has("notify") {
            self.frame(&obj, number, off);
        } else if obj.has("raw") && obj.has("v") {
            let Some(Value::Str(text)) = obj.get("raw") else {
                let what = "raw is not a string".to_string();
                self.fail(BadReason::JournalRawNotJson(what), number, off);
                return;
            };
            match json::parse(text.as_bytes(), false) {
                Ok((frame @ Value::Object(_), _)) => {
                    self.recv_ns = match obj.get("recv_ns") {
                        Some(Value::Int(t)) => Some(*t),
                        _ => None,
                    };
                    self.frame(&frame, number, off);
                    self.recv_ns = None;
                }
                Ok(_) => self.fail(BadReason::JournalRawNotObject, number, off),
                Err(e) => self.fail(BadReason::JournalRawNotJson(e.to_string()), number, off),
            }
        } else {
            self.fail(BadReason::UnknownShape, number, off);
        }
    }

    /// One data item; how many content items it held.
    fn data_item(&mut self, item: &Value<'_>, line: u64, off: u64, idx: usize) -> usize {
        if !matches!(item, Value::Object(_)) {
            self.fail(BadReason::ItemNotObject, line, off);
            return 0;
        }
        let service = item.get("service");
        // Asked only of items that are not level one.
        let book_service = || match service {
            Some(Value::Str(s)) => book::SERVICES.iter().position(|b| b == s),
            _ => None,
        };
        let Some(Value::Array(content)) = item.get("content") else {
            let what = service.map_or_else(|| "null".to_string(), to_json);
            if let Some(b) = book_service() {
                self.book.bad.push(book::Bad {
                    line,
                    offset: off,
                    reason: format!("{}: no content list", book::SERVICES[b]),
                });
            }
            self.fail(BadReason::NoContentList(what), line, off);
            return 0;
        };
        if !matches!(service, Some(Value::Str(s)) if s == EQUITIES || s == OPTIONS) {
            if let Some(b) = book_service() {
                let at = book::Origin {
                    line,
                    offset: off,
                    logins: self.logins,
                    recv_ns: self.recv_ns,
                    msg_ts: item.get("timestamp").and_then(ms),
                };
                self.book.push(b as u8, content, &at);
            }
            self.skipped
                .push(service.map_or_else(|| "null".to_string(), to_json));
            return content.len();
        }
        let stamp = item.get("timestamp");
        let ts = stamp.and_then(ms);
        if ts.is_none() && stamp.and_then(any_ms).is_some() {
            self.fail(BadReason::TimestampOutOfRange, line, off);
            return 0;
        }
        if idx + content.len() > usize::from(u16::MAX) + 1 {
            self.fail(BadReason::TooManyItems, line, off);
            return 0;
        }
        let svc = match service {
            Some(Value::Str(s)) if s == EQUITIES => &mut self.equities,
            _ => &mut self.options,
        };
        svc.data_items += 1;
        if svc.first_ts.is_none() {
            svc.first_ts = ts;
        }
        for (n, c) in content.iter().enumerate() {
            let Value::Object(fields) = c else {
                self.notes.push(Note {
                    line,
                    offset: None,
                    item: Some(n),
                });
                continue;
            };
            let svc = if matches!(service, Some(Value::Str(s)) if s == EQUITIES) {
                &mut self.equities
            } else {
                &mut self.options
            };
            svc.push_item(line, (idx + n) as i64, self.logins as i64, ts, fields);
        }
        content.len()
    }

    fn frame(&mut self, obj: &Value<'_>, line: u64, off: u64) {
        let mut known = false;
        for what in ["response", "notify"] {
            if obj
                .get(what)
                .is_some_and(|v| !matches!(v, Value::Array(_) | Value::Null))
            {
                self.fail(BadReason::NotList(what), line, off);
                return;
            }
        }
        for (what, notify) in [("response", false), ("notify", true)] {
            let Some(Value::Array(items)) = obj.get(what) else {
                continue;
            };
            for r in items {
                known = true;
                if notify {
                    if let Value::Object(pairs) = r
                        && pairs.len() == 1
                        && pairs[0].0 == "heartbeat"
                    {
                        self.heartbeats += 1;
                        continue;
                    }
                } else {
                    if !matches!(r, Value::Object(_)) {
                        self.fail(BadReason::ResponseNotObject, line, off);
                        continue;
                    }
                    let code = r.get("content").and_then(|c| c.get("code"));
                    let zero = matches!(code, Some(Value::Int(0) | Value::Bool(false)))
                        || matches!(code, Some(Value::Float(f)) if *f == 0.0);
                    if matches!(r.get("command"), Some(Value::Str(c)) if c == "LOGIN") && zero {
                        self.logins += 1;
                    }
                }
                self.control.push(Control {
                    line,
                    notify,
                    json: to_json(r),
                });
            }
        }
        if let Some(data) = obj.get("data") {
            known = true;
            let Value::Array(items) = data else {
                self.fail(BadReason::DataNotList, line, off);
                return;
            };
            let mut idx = 0;
            for item in items {
                idx += self.data_item(item, line, off, idx);
            }
        }
        if !known {
            self.fail(BadReason::NoneOfDataResponseNotify, line, off);
        }
    }
}

/// 2^63, exactly.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// The largest time in ms (either side of the epoch) that a nanosecond timestamp can hold.
pub const MS_LIMIT: i64 = i64::MAX / 1_000_000;

/// A time in ms ([`any_ms`]) that a nanosecond timestamp can hold.
pub(crate) fn ms(v: &Value<'_>) -> Option<i64> {
    any_ms(v).filter(|t| t.abs() <= MS_LIMIT)
}

/// An int, a string of ASCII digits, or a float with an integer value, that fits 64 bits.
fn any_ms(v: &Value<'_>) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => s.parse().ok(),
        // Integer-valued floats in i64's range (2^63 itself is not).
        Value::Float(f) if f.fract() == 0.0 && (-TWO_63..TWO_63).contains(f) => Some(*f as i64),
        _ => None,
    }
}

/// Compact JSON text of a value (what the caller parses back).
pub fn to_json(v: &Value<'_>) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value<'_>, out: &mut String) {
    use std::fmt::Write;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(s) => out.push_str(s),
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Str(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (n, x) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Value::Object(pairs) => {
            out.push('{');
            for (n, (k, x)) in pairs.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(x, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_frames_and_journal_records() {
        let data = concat!(
            "\u{feff}",
            r#"{"service": "LEVELONE_EQUITIES", "timestamp": 1741959312345, "content": [{"key": "QQQ", "1": 480.5, "8": 100, "delayed": false}, 5]}"#,
            "\n\n",
            r#"{"response": [{"service": "ADMIN", "command": "LOGIN", "content": {"code": 0}}]}"#,
            "\n",
            r#"{"notify": [{"heartbeat": "1"}]}"#,
            "\n",
            r#"{"v": 1, "raw": "{\"data\": [{\"service\": \"LEVELONE_OPTIONS\", \"timestamp\": \"7\", \"content\": [{\"key\": \"X\"}]}, {\"service\": \"CHART_EQUITY\", \"content\": []}]}"}"#,
            "\n",
            r#"{"response": [{"command": "LOGIN", "content": {"code": 0.0}}]}"#,
            "\n",
            r#"{"service": "LEVELONE_EQUITIES", "content": [{"key": "SPY", "2": NaN}]}"#,
            "\n",
            "[1]\n{\"x\": 1}\nnot json\n{\"data\": 5}\n",
            r#"{"service": "LEVELONE_EQUITIES", "content": [{"key": "Q"#,
        );
        let p = read(data.as_bytes());
        assert_eq!(p.lines, 11);
        assert_eq!(p.held_back, 55);
        assert_eq!(p.heartbeats, 1);
        let eq = &p.equities;
        assert_eq!(eq.items.line, vec![1, 7]);
        assert_eq!(eq.items.epoch, vec![0, 1]);
        assert_eq!(eq.items.ts, vec![Some(1741959312345), None]);
        assert_eq!(eq.first_ts, Some(1741959312345));
        assert_eq!(eq.names, vec!["key", "1", "8", "delayed", "2"]);
        assert_eq!(eq.pairs.row, vec![0, 0, 0, 0, 1, 1]);
        assert_eq!(
            eq.pairs.tag,
            vec![
                tag::STR,
                tag::FLOAT,
                tag::INT,
                tag::BOOL,
                tag::STR,
                tag::NULL
            ]
        );
        assert_eq!(eq.pairs.float(1), 480.5);
        assert_eq!(eq.pairs.int(2), 100);
        assert_eq!(&eq.pairs.text, "QQQSPY");
        assert_eq!(p.options.items.ts, vec![Some(7)]);
        assert_eq!(p.skipped, vec!["\"CHART_EQUITY\""]);
        assert_eq!(p.control.len(), 2);
        assert_eq!(
            p.notes,
            vec![
                Note {
                    line: 1,
                    offset: None,
                    item: Some(1)
                },
                Note {
                    line: 7,
                    offset: Some(p.notes[1].offset.unwrap()),
                    item: None
                },
            ]
        );
        let bad: Vec<_> = p.bad.iter().map(|b| (b.line, b.reason.clone())).collect();
        assert!(matches!(bad[2].1, BadReason::NotJson(_)));
        assert_eq!(
            [bad[0].clone(), bad[1].clone(), bad[3].clone()],
            [
                (8, BadReason::NotObject),
                (9, BadReason::UnknownShape),
                (11, BadReason::DataNotList),
            ]
        );
    }

    /// Everything pass 1 gives, comparable.
    fn summary(p: &Pass) -> String {
        let svc = |s: &Service| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                s.items.line,
                s.items.item_idx,
                s.items.epoch,
                s.items.ts,
                s.pairs.row,
                s.pairs
                    .name
                    .iter()
                    .map(|&c| &s.names[c as usize])
                    .collect::<Vec<_>>(),
                s.pairs.tag,
                s.pairs.num,
                s.pairs.text_end,
                s.pairs.text,
                s.first_ts,
                s.data_items,
            )
        };
        format!(
            "{} | {} | {:?} {:?} {} | {:?} {:?} {:?} {:?} {} {} {} {}",
            svc(&p.equities),
            svc(&p.options),
            p.book.batch().expect("a batch"),
            p.book.bad,
            p.book.snapshots,
            p.bad,
            p.notes,
            p.control,
            p.skipped,
            p.heartbeats,
            p.lines,
            p.held_back,
            p.journal_other
        )
    }

    #[test]
    fn a_capture_read_in_parts_reads_as_one() {
        let login = r#"{"response": [{"command": "LOGIN", "content": {"code": 0}}]}"#;
        let mut lines = vec![];
        for i in 0..40 {
            lines.push(match i % 7 {
                0 => login.to_string(),
                1 => "not json".to_string(),
                2 => String::new(),
                3 => r#"{"notify": [{"heartbeat": "1"}, {"x": 1}]}"#.to_string(),
                4 => format!(
                    r#"{{"service": "LEVELONE_OPTIONS", "timestamp": {i}, "content": [{{"key": "K{i}", "Z{}": {i}.5}}]}}"#,
                    i % 3
                ),
                6 => format!(
                    r#"{{"v": 1, "recv_ns": {i}, "raw": "{{\"data\": [{{\"service\": \"NYSE_BOOK\", \"content\": [{{\"key\": \"B{}\", \"2\": [{{\"0\": {i}, \"3\": [{{\"0\": \"M{}\"}}]}}], \"3\": 5}}]}}]}}"}}"#,
                    i % 3,
                    i % 2
                ),
                _ => format!(
                    r#"{{"service": "LEVELONE_EQUITIES", "content": [{{"key": "Q", "F{}": "{i}"}}, 5]}}"#,
                    i % 4
                ),
            });
        }
        let data = format!("\u{feff}{}\ntail", lines.join("\n"));
        let whole = summary(&read_in_parts(data.as_bytes(), 1, 0));
        for parts in [2, 3, 7, 40, 100] {
            assert_eq!(
                summary(&read_in_parts(data.as_bytes(), parts, 0)),
                whole,
                "{parts}"
            );
        }
        assert_eq!(
            read_in_parts(data.as_bytes(), 3, 0)
                .equities
                .items
                .epoch
                .last(),
            Some(&4)
        );
        let p = read_in_parts(data.as_bytes(), 3, 0);
        assert_eq!(p.book.rows(), 5);
        assert_eq!(p.book.epoch.last(), Some(&4));
        assert_eq!(p.book.line.last(), Some(&35));
        assert_eq!(p.book.bad.len(), 5, "asks that are not a list");
    }

    #[test]
    fn line_ends_are_found_at_every_alignment() {
        for len in 0..40 {
            for from in 0..=len {
                let mut b = vec![b'x'; len];
                b.push(b'\n');
                b.extend_from_slice(b"yy\n");
                assert_eq!(next_line_end(&b, from), len, "{len} {from}");
            }
        }
        // A byte of 0x8b or 0x0b just before is no line end.
        let b = b"\x8b\x0b\x0a\x8a\x0b\x0b\x0b\x0b\x0b\n";
        assert_eq!(next_line_end(b, 0), 2);
        assert_eq!(next_line_end(b, 3), 9);
    }

    #[test]
    fn keys_keep_their_codes_past_the_scan_limit() {
        let mut svc = Service::default();
        let names: Vec<String> = (0..100).map(|i| format!("F{i}")).collect();
        let first: Vec<u32> = names.iter().map(|n| svc.code(n)).collect();
        let again: Vec<u32> = names.iter().rev().map(|n| svc.code(n)).collect();
        assert_eq!(first, (0..100).collect::<Vec<u32>>());
        assert_eq!(again, (0..100).rev().collect::<Vec<u32>>());
        assert_eq!(svc.names, names);
    }

    #[test]
    fn json_text_round_trips() {
        let text = r#"{"a":[1,-2.5,"x\"\n\u0001",null,true,{}],"b":18446744073709551615}"#;
        let (v, _) = json::parse(text.as_bytes(), false).unwrap();
        assert_eq!(to_json(&v), text);
    }
}

/// The columns of a service as Arrow batches, for the Python side.
pub mod arrow {
    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, UInt8Array, UInt32Array,
        UInt64Array,
    };
    use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};

    use super::{Service, tag};

    /// `line, item_idx, epoch, ts` per content item.
    pub fn items(s: &Service) -> RecordBatch {
        let i = &s.items;
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("line", Arc::new(UInt64Array::from(i.line.clone()))),
            ("item_idx", Arc::new(Int64Array::from(i.item_idx.clone()))),
            ("epoch", Arc::new(Int64Array::from(i.epoch.clone()))),
            ("ts", Arc::new(Int64Array::from(i.ts.clone()))),
        ];
        RecordBatch::try_from_iter(cols).expect("columns of equal length")
    }

    /// `row, name, tag, int, float, text` per (key, value) pair; `text` holds strings and
    /// the JSON of other values, null for the rest.
    pub fn pairs(s: &Service) -> RecordBatch {
        let p = &s.pairs;
        let mut offsets = Vec::with_capacity(p.text_end.len() + 1);
        offsets.push(0i64);
        offsets.extend(p.text_end.iter().map(|&e| e as i64));
        let valid: Vec<bool> = p
            .tag
            .iter()
            .map(|&t| t == tag::STR || t == tag::JSON)
            .collect();
        let text = LargeStringArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            p.text.as_bytes().to_vec().into(),
            Some(NullBuffer::from(valid)),
        );
        let is = |i: usize, t: u8| p.tag[i] == t;
        let ints: Int64Array = (0..p.num.len())
            .map(|i| Some(if is(i, tag::FLOAT) { 0 } else { p.int(i) }))
            .collect();
        let floats: Float64Array = (0..p.num.len())
            .map(|i| Some(if is(i, tag::FLOAT) { p.float(i) } else { 0.0 }))
            .collect();
        let cols: Vec<(&str, ArrayRef)> = vec![
            ("row", Arc::new(UInt32Array::from(p.row.clone()))),
            ("name", Arc::new(UInt32Array::from(p.name.clone()))),
            ("tag", Arc::new(UInt8Array::from(p.tag.clone()))),
            ("int", Arc::new(ints)),
            ("float", Arc::new(floats)),
            ("text", Arc::new(text)),
        ];
        RecordBatch::try_from_iter(cols).expect("columns of equal length")
    }
}
