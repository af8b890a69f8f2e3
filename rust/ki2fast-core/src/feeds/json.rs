//! A small JSON reader for one NDJSON line: a borrowed tree whose objects keep their keys in
//! order with Python `dict` semantics (a repeated key keeps its first place and its last
//! value), strings borrowed unless they hold escapes, integers as `i64` when they fit.
//!
//! It reads what `orjson` reads. In lenient mode the bare `NaN`, `Infinity` and `-Infinity`
//! tokens some old captures hold are read as null and reported (Python's `json` takes them).

use std::borrow::Cow;

/// A JSON value borrowed from the line.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer above `i64::MAX` that fits a `u64`, as written (larger ones are floats,
    /// as orjson reads them).
    BigInt(&'a str),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// True for an object holding `key`.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Python truthiness: null, false, 0, 0.0, "", [] and {} are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::BigInt(_) => true,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        }
    }
}

/// Why a line is not JSON, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// Byte position in the line.
    pub at: usize,
    pub what: &'static str,
}

impl std::fmt::Display for JsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

const MAX_DEPTH: usize = 1024;

struct Reader<'a> {
    /// The line, checked to be UTF-8 once (so any slice between ASCII bytes is a str).
    s: &'a str,
    b: &'a [u8],
    i: usize,
    lenient: bool,
    constants: bool,
    depth: usize,
}

/// Parses one JSON text (surrounding white space allowed). With `lenient`, `NaN`,
/// `Infinity` and `-Infinity` are read as null; the flag says whether any was.
pub fn parse(line: &[u8], lenient: bool) -> Result<(Value<'_>, bool), JsonError> {
    let s = std::str::from_utf8(line).map_err(|e| JsonError {
        at: e.valid_up_to(),
        what: "not UTF-8",
    })?;
    let mut r = Reader {
        s,
        b: line,
        i: 0,
        lenient,
        constants: false,
        depth: 0,
    };
    r.ws();
    let v = r.value()?;
    r.ws();
    if r.i != r.b.len() {
        return Err(r.err("trailing characters"));
    }
    Ok((v, r.constants))
}

impl<'a> Reader<'a> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError { at: self.i, what }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value<'a>, JsonError> {
        match self.b.get(self.i) {
            None => Err(self.err("unexpected end")),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'N') if self.lenient && self.eat(b"NaN") => self.constant(),
            Some(b'I') if self.lenient && self.eat(b"Infinity") => self.constant(),
            Some(b'-') if self.lenient && self.b[self.i..].starts_with(b"-Infinity") => {
                self.i += 9;
                self.constant()
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn constant(&mut self) -> Result<Value<'a>, JsonError> {
        self.constants = true;
        Ok(Value::Null)
    }

    fn nest(&mut self) -> Result<(), JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        self.i += 1;
        self.ws();
        Ok(())
    }

    fn object(&mut self) -> Result<Value<'a>, JsonError> {
        self.nest()?;
        let mut pairs: Vec<(Cow<'a, str>, Value<'a>)> = Vec::with_capacity(8);
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Object(pairs));
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a key"));
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            // Python dict semantics: a repeated key keeps its place and takes the new value.
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => pairs.push((key, v)),
            }
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(pairs));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value<'a>, JsonError> {
        self.nest()?;
        let mut items = Vec::new();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value<'a>, JsonError> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |r: &mut Self| {
            let s = r.i;
            while r.b.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i - s
        };
        let first = self.b.get(self.i).copied();
        let n = digits(self);
        // The common case: an integer of up to 18 digits, an i64 for sure.
        if (n <= 18 && first != Some(b'0') || n == 1)
            && !matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'))
        {
            if n == 0 {
                return Err(self.err("bad number"));
            }
            let negative = self.b[start] == b'-';
            let v = self.b[self.i - n..self.i]
                .iter()
                .fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
            return Ok(Value::Int(if negative { -v } else { v }));
        }
        if n == 0 || (first == Some(b'0') && n > 1) {
            return Err(self.err("bad number"));
        }
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("bad number"));
            }
            float = true;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("bad number"));
            }
            float = true;
        }
        let text = &self.s[start..self.i];
        if float {
            let f: f64 = text.parse().map_err(|_| self.err("bad number"))?;
            if !f.is_finite() {
                return Err(self.err("number out of range"));
            }
            Ok(Value::Float(f))
        } else {
            // As orjson: an i64, else a u64 (a Python int), else a float.
            Ok(match text.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) if text.parse::<u64>().is_ok() => Value::BigInt(text),
                Err(_) => Value::Float(text.parse().map_err(|_| self.err("bad number"))?),
            })
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let s = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("bad \\u escape"))?;
        let mut v = 0u32;
        for &c in s {
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("bad \\u escape"))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.i += 1; // the opening quote
        let start = self.i;
        // Fast path: no escapes.
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    let s = &self.s[start..self.i];
                    self.i += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                0..=0x1f => return Err(self.err("control character in a string")),
                _ => self.i += 1,
            }
        }
        let mut out: Vec<u8> = self.b[start..self.i].to_vec();
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.b.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return Err(self.err("lone surrogate"));
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(self.err("lone surrogate"));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(self.err("lone surrogate"));
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.err("bad \\u escape"))?
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.err("control character in a string")),
                _ => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Cow::Owned)
            .map_err(|_| JsonError {
                at: start,
                what: "not UTF-8",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value<'_> {
        parse(s.as_bytes(), false).unwrap().0
    }

    #[test]
    fn values_of_every_kind() {
        assert_eq!(p(" null "), Value::Null);
        assert_eq!(p("true"), Value::Bool(true));
        assert_eq!(p("-12"), Value::Int(-12));
        assert_eq!(p("-0"), Value::Int(0));
        assert_eq!(p("1.5e2"), Value::Float(150.0));
        assert_eq!(
            p("18446744073709551615"),
            Value::BigInt("18446744073709551615")
        );
        assert_eq!(p("99999999999999999999"), Value::Float(1e20));
        assert_eq!(
            p(r#""a\"b\u00e9\ud83d\ude00""#),
            Value::Str("a\"bé😀".into())
        );
        assert_eq!(
            p(r#"{"a": [1, {"b": null}], "c": "d"}"#),
            Value::Object(vec![
                (
                    "a".into(),
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Object(vec![("b".into(), Value::Null)])
                    ])
                ),
                ("c".into(), Value::Str("d".into())),
            ])
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_takes_the_last_value() {
        assert_eq!(
            p(r#"{"a": 1, "b": 2, "a": 3}"#),
            Value::Object(vec![
                ("a".into(), Value::Int(3)),
                ("b".into(), Value::Int(2))
            ])
        );
    }

    #[test]
    fn what_is_not_json() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            "\"\\x\"",
            "\"a\u{1}\"",
            "nul",
            "{} x",
            "NaN",
            "\"\\ud800\"",
            "1e999",
        ] {
            assert!(parse(bad.as_bytes(), false).is_err(), "{bad:?} parsed");
        }
        assert!(parse(b"\"\xff\"", false).is_err());
    }

    #[test]
    fn lenient_reads_the_non_finite_tokens_as_null() {
        let (v, hit) = parse(b"[NaN, -Infinity, Infinity, 1]", true).unwrap();
        assert!(hit);
        assert_eq!(
            v,
            Value::Array(vec![Value::Null, Value::Null, Value::Null, Value::Int(1)])
        );
        assert!(!parse(b"[1]", true).unwrap().1);
    }
}
