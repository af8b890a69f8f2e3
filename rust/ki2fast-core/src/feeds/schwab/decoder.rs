//! A Schwab level-one capture into tables in one call, whole ([`read`]) or a batch of a
//! growing one at a time ([`Stream::push_decoded`]): pass 1, each service's label scheme,
//! pass 2.

use super::fill::{self, DecodeError, Decoded};
use super::labels::{SCHEMES, ServiceLabels};
use super::levelone::{self, EQUITIES, OPTIONS, Pass};
use super::stream::Stream;

/// The services in the order of every `[_; 2]` here.
pub const SERVICES: [&str; 2] = [EQUITIES, OPTIONS];

/// A service's label scheme and its pass 2 (None when no item of it was read).
#[derive(Debug)]
pub struct ServiceOut {
    pub scheme: &'static str,
    pub decoded: Option<Decoded>,
}

/// What one reading gives.
#[derive(Debug)]
pub struct Batch {
    pub pass: Pass,
    /// Equities, options; None when a strict reading met bad lines (pass 2 is not run: the
    /// caller raises on the first).
    pub services: Option<[ServiceOut; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A label scheme asked for that is not `auto` or one of [`SCHEMES`].
    UnknownScheme(String),
    /// The labels of `service` fit both schwab-py schemes (see [`ServiceLabels::detect`]).
    Ambiguous {
        service: &'static str,
        labels: Vec<String>,
    },
    Decode(DecodeError),
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Error {
        Error::Decode(e)
    }
}

/// The scheme asked for each service: `auto` or one of [`SCHEMES`].
fn wanted(asked: [&str; 2]) -> Result<[Option<&'static str>; 2], Error> {
    let one = |a: &str| -> Result<Option<&'static str>, Error> {
        if a == "auto" {
            return Ok(None);
        }
        SCHEMES
            .iter()
            .find(|s| **s == a)
            .map(|s| Some(*s))
            .ok_or_else(|| Error::UnknownScheme(a.to_string()))
    };
    Ok([one(asked[0])?, one(asked[1])?])
}

/// Both passes over a whole capture (see [`levelone::read`], [`fill::decode`]).
pub fn read(
    data: &[u8],
    labels: &[ServiceLabels; 2],
    schemes: [&str; 2],
    strict: bool,
) -> Result<Batch, Error> {
    let schemes = wanted(schemes)?;
    let pass = levelone::read(data);
    finish(pass, labels, schemes, strict, |s, pass, ids| {
        fill::decode(pass.services()[s], ids, &labels[s].fields, s == 1)
    })
}

impl Stream {
    /// Both passes over the complete lines `data` ends (see [`Stream::push`] and
    /// [`Stream::decode`]): the batch's tables, each symbol carried on from the lines
    /// before. An unknown scheme is refused before anything is read.
    pub fn push_decoded(
        &mut self,
        data: &[u8],
        labels: &[ServiceLabels; 2],
        schemes: [&str; 2],
        strict: bool,
    ) -> Result<Batch, Error> {
        let schemes = wanted(schemes)?;
        let pass = self.push(data);
        finish(pass, labels, schemes, strict, |s, pass, ids| {
            self.decode(pass, SERVICES[s], ids, &labels[s].fields)
        })
    }
}

/// Each service's scheme and its keys' field ids (None without items); None in all when a
/// strict reading met bad lines.
type Chosen = Option<[(&'static str, Option<Vec<i32>>); 2]>;

fn choose(
    pass: &Pass,
    labels: &[ServiceLabels; 2],
    schemes: [Option<&'static str>; 2],
    strict: bool,
) -> Result<Chosen, Error> {
    if strict && !pass.bad.is_empty() {
        return Ok(None);
    }
    let svcs = pass.services();
    let mut picked = [""; 2];
    // Every service's scheme first: an ambiguous one stops the reading before pass 2.
    for s in 0..2 {
        picked[s] = match schemes[s] {
            Some(scheme) => scheme,
            None => labels[s]
                .detect(&svcs[s].names, svcs[s].first_ts)
                .map_err(|a| Error::Ambiguous {
                    service: SERVICES[s],
                    labels: a.labels,
                })?,
        };
    }
    let mut out = Vec::with_capacity(2);
    for s in 0..2 {
        let ids = if svcs[s].names.is_empty() {
            None
        } else {
            let ids = labels[s].ids(picked[s], &svcs[s].names);
            Some(ids.ok_or_else(|| Error::UnknownScheme(picked[s].to_string()))?)
        };
        out.push((picked[s], ids));
    }
    Ok(Some(two(out)))
}

fn finish(
    pass: Pass,
    labels: &[ServiceLabels; 2],
    schemes: [Option<&'static str>; 2],
    strict: bool,
    mut decode: impl FnMut(usize, &Pass, &[i32]) -> Result<Decoded, DecodeError>,
) -> Result<Batch, Error> {
    let Some(chosen) = choose(&pass, labels, schemes, strict)? else {
        return Ok(Batch {
            pass,
            services: None,
        });
    };
    let mut out = Vec::with_capacity(2);
    for (s, (scheme, ids)) in chosen.into_iter().enumerate() {
        let decoded = match ids {
            None => None,
            Some(ids) => Some(decode(s, &pass, &ids)?),
        };
        out.push(ServiceOut { scheme, decoded });
    }
    Ok(Batch {
        pass,
        services: Some(two(out)),
    })
}

fn two<T>(v: Vec<T>) -> [T; 2] {
    v.try_into()
        .unwrap_or_else(|_| unreachable!("one per service"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::schwab::fill::{FieldSpec, Kind, fid};

    fn labels() -> [ServiceLabels; 2] {
        let one = || {
            let mut schemes = rustc_hash::FxHashMap::default();
            for s in SCHEMES {
                let ids = [("1", 1), ("BID_PRICE", 1), ("MARK", 2), ("key", fid::KEY)];
                let map = ids.iter().map(|(k, v)| (k.to_string(), *v)).collect();
                schemes.insert(s.to_string(), map);
            }
            ServiceLabels {
                fields: vec![
                    FieldSpec {
                        id: 1,
                        name: "bid_price".into(),
                        kind: Kind::F64,
                    },
                    FieldSpec {
                        id: 2,
                        name: "mark".into(),
                        kind: Kind::F64,
                    },
                ],
                schemes,
                reserved: ["key".to_string()].into_iter().collect(),
                tda_markers: Default::default(),
                tda_prefixes: Vec::new(),
                tda_suffixes: Vec::new(),
                schwab_py_markers: Default::default(),
                same_in_both: ["BID_PRICE".to_string()].into_iter().collect(),
                schwab_py_since_ms: 1_715_832_000_000,
            }
        };
        [one(), one()]
    }

    const OLD: &[u8] = b"{\"service\":\"LEVELONE_EQUITIES\",\"timestamp\":1700000000000,\
        \"content\":[{\"key\":\"QQQ\",\"MARK\":1.5}]}\n";

    #[test]
    fn one_call_detects_the_scheme_and_decodes() {
        let l = labels();
        let got = read(OLD, &l, ["schwab_py", "auto"], false).unwrap();
        let [eq, opt] = got.services.unwrap();
        assert_eq!((eq.scheme, opt.scheme), ("schwab_py", "numeric"));
        assert_eq!(eq.decoded.unwrap().state.num_rows(), 1);
        assert!(opt.decoded.is_none());
        // The same labels, left to detection: they fit both schwab-py schemes.
        let err = read(OLD, &l, ["auto", "auto"], false).unwrap_err();
        let labels = vec!["MARK".to_string()];
        assert_eq!(
            err,
            Error::Ambiguous {
                service: EQUITIES,
                labels
            }
        );
    }

    #[test]
    fn an_unknown_scheme_is_refused_before_a_line_is_read() {
        let mut s = Stream::new();
        let err = s.push_decoded(OLD, &labels(), ["tda", "auto"], false);
        assert_eq!(err.unwrap_err(), Error::UnknownScheme("tda".into()));
        assert_eq!(s.lines(), 0);
    }

    #[test]
    fn strict_readings_with_bad_lines_stop_after_pass_one() {
        let data = [OLD, b"not json\n"].concat();
        let got = read(&data, &labels(), ["schwab_py", "auto"], true).unwrap();
        assert!(got.services.is_none());
        assert_eq!(got.pass.bad.len(), 1);
        let got = read(&data, &labels(), ["schwab_py", "auto"], false).unwrap();
        assert!(got.services.is_some());
    }
}
