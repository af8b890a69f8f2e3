//! Burst Monitor CSV files (docs/feeds.md §3): where each line of a chunk starts and stops
//! and what kinds of bytes it holds, in one pass; and the hft1 fields of the lines that have
//! the plain shape, typed.
//!
//! Both serve the Python readers, which keep the rules for every other line: the fields of
//! a line that [`hft1_fields`] does not vouch for are read by the line-by-line parser, which
//! either reads them the same way or reports the line.

/// Per line of a chunk: where it starts (after a BOM at byte 0) and stops (before its line
/// end and one `\r` before it), and how many of its bytes in between are white space
/// (`" \t\r\x0b\x0c"`), not printable ASCII, or commas.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LineStats {
    pub start: Vec<i64>,
    pub stop: Vec<i64>,
    pub spaces: Vec<i32>,
    pub odd: Vec<i32>,
    pub commas: Vec<i32>,
}

const SPACE: u8 = 1;
const ODD: u8 = 2;
const COMMA: u8 = 4;

/// What kind of byte each byte is: white space, not printable ASCII, a comma.
const KIND: [u8; 256] = {
    let mut k = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c) {
            k[c] |= SPACE;
        }
        if b < 0x20 || b > 0x7e {
            k[c] |= ODD;
        }
        if b == b',' {
            k[c] |= COMMA;
        }
        c += 1;
    }
    k
};

/// The UTF-8 byte order mark.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// [`LineStats`] of the complete lines of `chunk` (what follows its last `\n` is not a
/// line); `bom` takes a BOM at byte 0 off the first line.
pub fn line_stats(chunk: &[u8], bom: bool) -> LineStats {
    let n = chunk.iter().filter(|&&c| c == b'\n').count();
    let mut s = LineStats {
        start: Vec::with_capacity(n),
        stop: Vec::with_capacity(n),
        spaces: Vec::with_capacity(n),
        odd: Vec::with_capacity(n),
        commas: Vec::with_capacity(n),
    };
    let mut from = 0usize;
    for (end, _) in chunk.iter().enumerate().filter(|&(_, &c)| c == b'\n') {
        let mut start = from;
        if from == 0 && bom && chunk.starts_with(BOM) {
            start = BOM.len().min(end);
        }
        let stop = if end > start && chunk[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let (mut spaces, mut odd, mut commas) = (0i32, 0i32, 0i32);
        for &c in &chunk[start..stop] {
            let k = KIND[c as usize];
            spaces += i32::from(k & SPACE);
            odd += i32::from(k & ODD) >> 1;
            commas += i32::from(k & COMMA) >> 2;
        }
        s.start.push(start as i64);
        s.stop.push(stop as i64);
        s.spaces.push(spaces);
        s.odd.push(odd);
        s.commas.push(commas);
        from = end + 1;
    }
    s
}

/// Where the hft1 columns are among a file's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hft1Layout {
    /// Fields per line; a line may lack the last one when `t3` is it.
    pub width: usize,
    pub symbol: usize,
    pub t1: usize,
    pub time: usize,
    pub num_quotes: usize,
    pub bbo: usize,
    pub num_trades: usize,
    pub dollars: usize,
    pub t3: usize,
}

impl Hft1Layout {
    /// From `[width, Symbol, T1, Time, NumQuotes, BBO, NumTrades, Dollars, T3]`; None when a
    /// column is beyond the field count.
    pub fn from_positions(p: [usize; 9]) -> Option<Self> {
        let [
            width,
            symbol,
            t1,
            time,
            num_quotes,
            bbo,
            num_trades,
            dollars,
            t3,
        ] = p;
        p[1..].iter().all(|&k| k < width).then_some(Hft1Layout {
            width,
            symbol,
            t1,
            time,
            num_quotes,
            bbo,
            num_trades,
            dollars,
            t3,
        })
    }
}

/// How `Time` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFormat {
    /// `hh:mm:ss` when the field holds a colon, else `hhmmss`.
    Auto,
    /// `hhmmss`, zero padding optional.
    Hhmmss,
    /// `h:m:s`.
    Colons,
}

/// The hft1 rows [`hft1_fields`] vouches for; `line` is each one's position among the lines
/// it was given.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Hft1Rows<'a> {
    pub line: Vec<u32>,
    pub seconds: Vec<i32>,
    pub time_raw: Vec<&'a str>,
    pub symbol: Vec<&'a str>,
    pub t1: Vec<&'a str>,
    pub num_quotes: Vec<i32>,
    pub bbo: Vec<i32>,
    pub num_trades: Vec<i32>,
    pub dollars: Vec<i64>,
    /// None when the field is empty or the line lacks it.
    pub t3: Vec<Option<&'a str>>,
}

/// Dollars above this are no longer exact as a float: left to the line parser.
const DOLLARS_LIMIT: i64 = 1 << 53;

/// Reads the lines `data[start[i]..stop[i]]` that are printable ASCII with `width` fields
/// (or `width - 1` when T3 is last), each field trimmed of spaces: those whose symbol is not
/// empty, whose time is one of the day (see [`TimeFormat`]) and whose counts and dollars
/// are plain integers (`-?[0-9]+`) in range. Any other line is not in the rows.
pub fn hft1_fields<'a>(
    data: &'a [u8],
    start: &[i64],
    stop: &[i64],
    layout: &Hft1Layout,
    format: TimeFormat,
) -> Hft1Rows<'a> {
    let n = start.len();
    let mut out = Hft1Rows {
        line: Vec::with_capacity(n),
        seconds: Vec::with_capacity(n),
        time_raw: Vec::with_capacity(n),
        symbol: Vec::with_capacity(n),
        t1: Vec::with_capacity(n),
        num_quotes: Vec::with_capacity(n),
        bbo: Vec::with_capacity(n),
        num_trades: Vec::with_capacity(n),
        dollars: Vec::with_capacity(n),
        t3: Vec::with_capacity(n),
    };
    let t3_last = layout.t3 + 1 == layout.width;
    let mut fields: Vec<&'a [u8]> = Vec::with_capacity(layout.width + 1);
    for (i, (&a, &b)) in start.iter().zip(stop).enumerate() {
        let Some(line) = data.get(a as usize..b as usize) else {
            continue;
        };
        if !line.iter().all(|c| (0x20..=0x7e).contains(c)) {
            continue;
        }
        fields.clear();
        fields.extend(line.split(|&c| c == b',').map(trim_spaces));
        let full = fields.len() == layout.width;
        if !(full || (t3_last && fields.len() + 1 == layout.width)) {
            continue;
        }
        let symbol = fields[layout.symbol];
        let time = fields[layout.time];
        let (Some(seconds), false) = (seconds_of_day(time, format), symbol.is_empty()) else {
            continue;
        };
        let int32 = |k: usize| plain_int(fields[k]).and_then(|v| i32::try_from(v).ok());
        let (Some(nq), Some(bbo), Some(nt)) = (
            int32(layout.num_quotes),
            int32(layout.bbo),
            int32(layout.num_trades),
        ) else {
            continue;
        };
        let Some(dollars) = plain_int(fields[layout.dollars]).filter(|d| d.abs() < DOLLARS_LIMIT)
        else {
            continue;
        };
        out.line.push(i as u32);
        out.seconds.push(seconds);
        out.time_raw.push(ascii(time));
        out.symbol.push(ascii(symbol));
        out.t1.push(ascii(fields[layout.t1]));
        out.num_quotes.push(nq);
        out.bbo.push(bbo);
        out.num_trades.push(nt);
        out.dollars.push(dollars);
        out.t3.push(
            full.then(|| fields[layout.t3])
                .filter(|t| !t.is_empty())
                .map(ascii),
        );
    }
    out
}

/// A field of a printable ASCII line, as text.
fn ascii(field: &[u8]) -> &str {
    std::str::from_utf8(field).unwrap_or_default()
}

/// `field` without spaces at either end.
fn trim_spaces(field: &[u8]) -> &[u8] {
    let from = field.iter().position(|&c| c != b' ').unwrap_or(field.len());
    let to = field
        .iter()
        .rposition(|&c| c != b' ')
        .map_or(from, |i| i + 1);
    &field[from..to]
}

/// `-?[0-9]+` as an i64 (None beyond its range).
fn plain_int(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negative, so that i64::MIN fits.
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(i64::from(c - b'0'))?;
    }
    if negative { Some(v) } else { v.checked_neg() }
}

/// Digits only, one to `most` of them, as a number.
fn digits(s: &[u8], most: usize) -> Option<u32> {
    if !(1..=most).contains(&s.len()) || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |v, &c| v * 10 + u32::from(c - b'0')))
}

/// Seconds since midnight of `hhmmss` (one to six digits, zero padding optional) or
/// `h:m:s` (one to nine digits each); None beyond 23:59:59 or for any other text.
fn seconds_of_day(t: &[u8], format: TimeFormat) -> Option<i32> {
    let colons = match format {
        TimeFormat::Auto => t.contains(&b':'),
        TimeFormat::Hhmmss => false,
        TimeFormat::Colons => true,
    };
    let (h, m, s) = if colons {
        let mut parts = t.split(|&c| c == b':');
        let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        (digits(h, 9)?, digits(m, 9)?, digits(s, 9)?)
    } else {
        let v = digits(t, 6)?;
        (v / 10_000, v / 100 % 100, v % 100)
    };
    (h <= 23 && m <= 59 && s <= 59).then(|| (h * 3600 + m * 60 + s) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_stats_count_within_each_line() {
        let chunk = b"\xef\xbb\xbfa, b\r\n\n\xc3\xa9,\t,\rx\ntail";
        let s = line_stats(chunk, true);
        assert_eq!(s.start, vec![3, 9, 10]);
        assert_eq!(s.stop, vec![7, 9, 17]);
        assert_eq!(s.commas, vec![1, 0, 2]);
        assert_eq!(s.spaces, vec![1, 0, 2]); // the tab and a \r not before the line end
        assert_eq!(s.odd, vec![0, 0, 4]); // é's two bytes, the tab, the \r
        assert_eq!(line_stats(chunk, false).start[0], 0);
        assert_eq!(line_stats(b"no line end", true), LineStats::default());
    }

    #[test]
    fn times_of_day() {
        use TimeFormat::*;
        let sec = |t: &str, f| seconds_of_day(t.as_bytes(), f);
        assert_eq!(sec("93000", Auto), Some(9 * 3600 + 30 * 60));
        assert_eq!(sec("0", Hhmmss), Some(0));
        assert_eq!(sec("09:30:00", Auto), Some(9 * 3600 + 30 * 60));
        assert_eq!(sec("000000009:0:1", Auto), Some(9 * 3600 + 1));
        let bad = [
            "",
            "240000",
            "126000",
            "1234567",
            "9:30",
            "9:30:00:00",
            "+93000",
            " 1",
        ];
        for t in bad {
            assert_eq!(sec(t, Auto), None, "{t}");
        }
        assert_eq!(sec("09:30:00", Hhmmss), None);
        assert_eq!(sec("093000", Colons), None);
        assert_eq!(sec("1:2:9999999999", Colons), None);
    }

    #[test]
    fn plain_integers() {
        for (text, want) in [("0", Some(0)), ("-12", Some(-12)), ("007", Some(7))] {
            assert_eq!(plain_int(text.as_bytes()), want, "{text}");
        }
        assert_eq!(plain_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(plain_int(b"9223372036854775807"), Some(i64::MAX));
        for bad in ["", "-", "+1", "1.0", "9223372036854775808", " 1", "1e3"] {
            assert_eq!(plain_int(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn hft1_rows_of_the_plain_shape_only() {
        assert_eq!(
            Hft1Layout::from_positions([7, 0, 1, 2, 3, 4, 5, 6, 7]),
            None
        );
        let layout = Hft1Layout::from_positions([8, 0, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        let data = b"QQQ,0,93000,5,6,7,800,x\n SPY ,0, 93001 ,1,2,0,0\n,0,1,1,1,1,1,\nA,0,1,1,1,+1,1,\nB,0,1,1,1,1,9007199254740992,\nC,0,1,1,1,1,1,1,1\n";
        let lines = line_stats(data, false);
        let r = hft1_fields(data, &lines.start, &lines.stop, &layout, TimeFormat::Auto);
        assert_eq!(r.line, vec![0, 1]);
        assert_eq!(r.symbol, vec!["QQQ", "SPY"]);
        assert_eq!(r.time_raw, vec!["93000", "93001"]);
        assert_eq!(r.t3, vec![Some("x"), None]);
        assert_eq!(r.dollars, vec![800, 0]);
        assert_eq!(r.seconds, vec![34200, 34201]);
    }
}
