//! The day's symbols: an interner (symbol → small key, keys stable and append-only, so every
//! batch's dictionary is a prefix of the next) and the locate map that `R` messages assign.
//!
//! Messages with a Stock field are keyed by their own symbol; the others by their stock
//! locate. A locate that no `R` assigned is learned from the first message carrying both a
//! locate and a symbol (files cut from the middle of a day have no directory). Market-wide
//! messages (locate 0, no symbol) and locates never seen get no key: a null `stock`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, StringArray};

use crate::arrow::builders::{NO_SYMBOL, alpha_to_string};
use crate::itch::spec::{MessageDef, MessageKind};

const LOCATES: usize = 1 << 16;

/// Symbol interner plus locate map, with an optional symbol filter.
#[derive(Debug)]
pub struct Symbols {
    ids: HashMap<[u8; 8], u16>,
    raw: Vec<[u8; 8]>,
    names: Vec<String>,
    by_locate: Vec<u16>,
    wanted: Option<HashSet<String>>,
    allowed: Vec<bool>,
    dictionary: Option<ArrayRef>,
    overflow: u64,
}

impl Symbols {
    /// An empty table; `wanted` restricts which symbols pass `allows`.
    pub fn new(wanted: Option<&[String]>) -> Symbols {
        Symbols {
            ids: HashMap::new(),
            raw: Vec::new(),
            names: Vec::new(),
            by_locate: vec![NO_SYMBOL; LOCATES],
            wanted: wanted.map(|w| w.iter().map(|s| s.trim_end().to_string()).collect()),
            allowed: Vec::new(),
            dictionary: None,
            overflow: 0,
        }
    }

    /// True when a symbol filter is active.
    #[inline(always)]
    pub fn filtering(&self) -> bool {
        self.wanted.is_some()
    }

    /// The key of message `m`'s symbol; learns the locate map on the way.
    #[inline(always)]
    pub fn key_of<M: MessageDef>(&mut self, m: &M) -> u16 {
        let locate = m.header().stock_locate as usize;
        if !M::HAS_STOCK {
            return self.by_locate[locate];
        }
        let Some(stock) = m.stock() else {
            return NO_SYMBOL;
        };
        let known = self.by_locate[locate];
        if known != NO_SYMBOL && self.raw[known as usize] == stock {
            return known;
        }
        self.key_of_slow(locate, stock, M::KIND == MessageKind::StockDirectory)
    }

    /// True when `stock` is what `locate` already maps to: a message with both would teach
    /// [`Symbols::key_of`] nothing.
    #[inline(always)]
    pub fn knows(&self, locate: u16, stock: &[u8]) -> bool {
        let known = self.by_locate[locate as usize];
        known != NO_SYMBOL && self.raw[known as usize] == stock
    }

    #[cold]
    fn key_of_slow(&mut self, locate: usize, stock: [u8; 8], assigns: bool) -> u16 {
        let key = self.intern(stock);
        let unassigned = self.by_locate[locate] == NO_SYMBOL;
        if key != NO_SYMBOL && locate != 0 && (assigns || unassigned) {
            self.by_locate[locate] = key;
        }
        key
    }

    fn intern(&mut self, stock: [u8; 8]) -> u16 {
        if let Some(&key) = self.ids.get(&stock) {
            return key;
        }
        if self.raw.len() >= NO_SYMBOL as usize {
            self.overflow += 1;
            return NO_SYMBOL;
        }
        let key = self.raw.len() as u16;
        let name = alpha_to_string(&stock);
        let allowed = self.wanted.as_ref().is_none_or(|w| w.contains(&name));
        self.ids.insert(stock, key);
        self.raw.push(stock);
        self.names.push(name);
        self.allowed.push(allowed);
        self.dictionary = None;
        key
    }

    /// Whether a row with this key (and locate) passes the symbol filter. Market-wide
    /// messages (locate 0, no symbol) always pass.
    #[inline(always)]
    pub fn allows(&self, key: u16, locate: u16) -> bool {
        if key == NO_SYMBOL {
            return locate == 0;
        }
        self.allowed[key as usize]
    }

    /// The symbol list as a utf8 array (the dictionary of every `stock` column), cached
    /// until a new symbol arrives.
    pub fn dictionary(&mut self) -> ArrayRef {
        self.dictionary
            .get_or_insert_with(|| Arc::new(StringArray::from_iter_values(&self.names)))
            .clone()
    }

    /// The symbol a locate maps to.
    pub fn symbol_of_locate(&self, locate: u16) -> Option<&str> {
        let key = self.by_locate[locate as usize];
        (key != NO_SYMBOL).then(|| self.names[key as usize].as_str())
    }

    /// The dictionary key a locate maps to (`NO_SYMBOL` if none).
    pub fn key_of_locate(&self, locate: u16) -> u16 {
        self.by_locate[locate as usize]
    }

    /// Every symbol seen, in key order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// `(locate, symbol)` for every assigned locate, in locate order.
    pub fn locates(&self) -> impl Iterator<Item = (u16, &str)> + '_ {
        self.by_locate
            .iter()
            .enumerate()
            .filter(|&(_, &k)| k != NO_SYMBOL)
            .map(|(l, &k)| (l as u16, self.names[k as usize].as_str()))
    }

    /// Symbols beyond the 65 535 a `uint16` dictionary can key (their rows get a null stock).
    pub fn overflow(&self) -> u64 {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::itch::spec::{AddOrder, OrderDelete, StockDirectory};
    use crate::itch::wire::alpha;

    fn directory(locate: u16, symbol: &str) -> StockDirectory {
        StockDirectory {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: 0,
            stock: alpha(symbol),
            market_category: b'Q',
            financial_status_indicator: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_sub_type: alpha("Z"),
            authenticity: b'P',
            short_sale_threshold_indicator: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
    }

    fn add(locate: u16, symbol: &str) -> AddOrder {
        AddOrder {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: 0,
            order_reference_number: 1,
            buy_sell_indicator: b'B',
            shares: 100,
            stock: alpha(symbol),
            price: 10_000,
        }
    }

    fn delete(locate: u16) -> OrderDelete {
        OrderDelete {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: 0,
            order_reference_number: 1,
        }
    }

    #[test]
    fn directory_assigns_locates_and_others_follow_them() {
        let mut s = Symbols::new(None);
        assert_eq!(s.key_of(&directory(7, "AAPL")), 0);
        assert_eq!(s.key_of(&directory(8, "MSFT")), 1);
        assert_eq!(s.key_of(&delete(8)), 1);
        assert_eq!(s.key_of(&add(7, "AAPL")), 0);
        assert_eq!(s.key_of(&delete(9)), NO_SYMBOL);
        assert_eq!(s.symbol_of_locate(7), Some("AAPL"));
    }

    #[test]
    fn without_a_directory_locates_are_learned_from_symbol_fields() {
        let mut s = Symbols::new(None);
        assert_eq!(s.key_of(&delete(5528)), NO_SYMBOL);
        assert_eq!(s.key_of(&add(5528, "IVOO")), 0);
        assert_eq!(s.key_of(&delete(5528)), 0);
        // A later conflicting symbol on the same locate keys by its own field but does not
        // steal the locate; a directory message does.
        assert_eq!(s.key_of(&add(5528, "OTHER")), 1);
        assert_eq!(s.key_of(&delete(5528)), 0);
        assert_eq!(s.key_of(&directory(5528, "OTHER")), 1);
        assert_eq!(s.key_of(&delete(5528)), 1);
    }

    #[test]
    fn filter_passes_wanted_symbols_and_market_wide_rows() {
        let mut s = Symbols::new(Some(&["MSFT".to_string()]));
        let a = s.key_of(&directory(1, "AAPL"));
        let m = s.key_of(&directory(2, "MSFT"));
        assert!(!s.allows(a, 1));
        assert!(s.allows(m, 2));
        assert!(s.allows(NO_SYMBOL, 0));
        assert!(!s.allows(NO_SYMBOL, 3));
        let dict = s.dictionary();
        assert_eq!(dict.len(), 2);
    }
}
