//! The label schemes of Schwab level-one captures: which one a capture's keys follow, and
//! each key's field id under it (docs/feeds.md §1.11, §1.12).
//!
//! The tables themselves (field ids, labels, the markers of each scheme) are data the caller
//! gives once ([`ServiceLabels`]); the rule that picks a scheme is [`ServiceLabels::detect`].

use rustc_hash::{FxHashMap, FxHashSet};

use super::fill::{FieldSpec, fid};

/// The schemes [`ServiceLabels::detect`] names; every [`ServiceLabels`] maps all of them.
pub const SCHEMES: [&str; 4] = ["numeric", "schwab_py", "schwab_py_tda", "schwabdev"];

/// One service's label tables.
#[derive(Debug, Clone)]
pub struct ServiceLabels {
    /// The service's fields after field 0, in column order (what pass 2 fills).
    pub fields: Vec<FieldSpec>,
    /// Per scheme (by name): key → field id (negative ids for the item's own keys, see
    /// [`fid`]).
    pub schemes: FxHashMap<String, FxHashMap<String, i32>>,
    /// Keys that are no field in any scheme (`key`, `delayed`, ...).
    pub reserved: FxHashSet<String>,
    /// Labels, label prefixes and suffixes that only TDA-era schwab-py wrote.
    pub tda_markers: FxHashSet<String>,
    pub tda_prefixes: Vec<String>,
    pub tda_suffixes: Vec<String>,
    /// Labels that only Schwab-era schwab-py wrote.
    pub schwab_py_markers: FxHashSet<String>,
    /// Labels with the same id in both schwab-py schemes.
    pub same_in_both: FxHashSet<String>,
    /// Captures whose first item is this late (ms since 1970) or later are Schwab-era.
    pub schwab_py_since_ms: i64,
}

/// Labels that fit both schwab-py schemes in a capture older than the Schwab era: the caller
/// has to name the scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous {
    /// The first five of the labels, sorted.
    pub labels: Vec<String>,
}

impl ServiceLabels {
    /// The scheme of a capture whose items use the keys `names` and whose first item has
    /// time `first_ts`: numeric ids only → `numeric`; a label with a space → `schwabdev`;
    /// a TDA-era marker → `schwab_py_tda`; a Schwab-era marker, only labels both schwab-py
    /// schemes share, or a first item from the Schwab era on → `schwab_py`.
    pub fn detect(
        &self,
        names: &[String],
        first_ts: Option<i64>,
    ) -> Result<&'static str, Ambiguous> {
        let labels: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|k| !is_id(k) && !self.reserved.contains(*k))
            .collect();
        if labels.is_empty() {
            return Ok("numeric");
        }
        if labels.iter().any(|k| k.contains(' ')) {
            return Ok("schwabdev");
        }
        let tda = |k: &&str| {
            self.tda_markers.contains(*k)
                || self.tda_prefixes.iter().any(|p| k.starts_with(p.as_str()))
                || self.tda_suffixes.iter().any(|s| k.ends_with(s.as_str()))
        };
        if labels.iter().any(tda) {
            return Ok("schwab_py_tda");
        }
        if labels.iter().any(|k| self.schwab_py_markers.contains(*k))
            || labels.iter().all(|k| self.same_in_both.contains(*k))
            || first_ts.is_some_and(|t| t >= self.schwab_py_since_ms)
        {
            return Ok("schwab_py");
        }
        let mut shown: Vec<String> = labels.iter().map(|k| k.to_string()).collect();
        shown.sort_unstable();
        shown.dedup();
        shown.truncate(5);
        Err(Ambiguous { labels: shown })
    }

    /// The field id of each key in `names` under `scheme` ([`fid::UNKNOWN`] for a key that
    /// is no field); None for a scheme not in the tables.
    pub fn ids(&self, scheme: &str, names: &[String]) -> Option<Vec<i32>> {
        let map = self.schemes.get(scheme)?;
        Some(
            names
                .iter()
                .map(|k| map.get(k).copied().unwrap_or(fid::UNKNOWN))
                .collect(),
        )
    }
}

/// A numeric field id as a key: ASCII digits only.
fn is_id(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> ServiceLabels {
        let set = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
        let mut schemes = FxHashMap::default();
        for s in SCHEMES {
            let ids = [("0", 0), ("1", 1), ("BID_PRICE", 1), ("key", fid::KEY)];
            let map = ids.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            schemes.insert(s.to_string(), map);
        }
        ServiceLabels {
            fields: Vec::new(),
            schemes,
            reserved: set(&["key", "delayed"]),
            tda_markers: set(&["QUOTE_TIME"]),
            tda_prefixes: vec!["ISLAND_".into()],
            tda_suffixes: vec!["_TIME_IN_LONG".into()],
            schwab_py_markers: set(&["HTB_QUANTITY"]),
            same_in_both: set(&["BID_PRICE", "ASK_PRICE"]),
            schwab_py_since_ms: 1_715_832_000_000,
        }
    }

    fn names(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_scheme_follows_the_labels_then_the_date() {
        let l = labels();
        assert_eq!(l.detect(&names(&["key", "1", "2"]), None), Ok("numeric"));
        assert_eq!(
            l.detect(&names(&["key", "Bid Price"]), None),
            Ok("schwabdev")
        );
        assert_eq!(l.detect(&names(&["QUOTE_TIME"]), None), Ok("schwab_py_tda"));
        assert_eq!(l.detect(&names(&["ISLAND_BID"]), None), Ok("schwab_py_tda"));
        assert_eq!(
            l.detect(&names(&["LAST_TIME_IN_LONG"]), None),
            Ok("schwab_py_tda")
        );
        assert_eq!(
            l.detect(&names(&["HTB_QUANTITY", "MARK"]), None),
            Ok("schwab_py")
        );
        assert_eq!(l.detect(&names(&["BID_PRICE", "1"]), None), Ok("schwab_py"));
        let late = Some(l.schwab_py_since_ms);
        assert_eq!(l.detect(&names(&["MARK"]), late), Ok("schwab_py"));
        let early = Some(l.schwab_py_since_ms - 1);
        let got = l.detect(&names(&["MARK", "BID_PRICE", "MARK"]), early);
        assert_eq!(
            got,
            Err(Ambiguous {
                labels: names(&["BID_PRICE", "MARK"])
            })
        );
        // A non-ASCII digit is a label, not an id.
        assert!(l.detect(&names(&["١"]), None).is_err());
    }

    #[test]
    fn ids_map_every_key_or_mark_it_unknown() {
        let l = labels();
        let got = l.ids("schwab_py", &names(&["key", "BID_PRICE", "ODD"]));
        assert_eq!(got, Some(vec![fid::KEY, 1, fid::UNKNOWN]));
        assert_eq!(l.ids("no_such_scheme", &names(&["key"])), None);
    }
}
