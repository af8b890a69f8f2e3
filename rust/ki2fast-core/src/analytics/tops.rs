//! The top of book each symbol of a feed last showed, and which updates change it: the one
//! rule behind every top-of-book change ki2fast counts (the ITCH replay, order events, and
//! level-one quotes of the retail feeds).

/// The last top of book per slot (a symbol's locate or code). A slot starts at
/// `Q::default()`: for ITCH quotes both sides empty, for level-one quotes every field null.
#[derive(Debug, Clone)]
pub struct Tops<Q> {
    last: Vec<Q>,
}

impl<Q: Copy + PartialEq + Default> Tops<Q> {
    /// `slots` slots, each at its start.
    pub fn new(slots: usize) -> Tops<Q> {
        Tops {
            last: vec![Q::default(); slots],
        }
    }

    /// Sets `slot`'s top to `q`; the one before when that is a change, else None.
    #[inline(always)]
    pub fn set(&mut self, slot: usize, q: Q) -> Option<Q> {
        let last = &mut self.last[slot];
        if *last == q {
            return None; // no store: the replay calls this on most book changes
        }
        Some(std::mem::replace(last, q))
    }
}

impl<Q> std::ops::Index<usize> for Tops<Q> {
    type Output = Q;

    #[inline(always)]
    fn index(&self, slot: usize) -> &Q {
        &self.last[slot]
    }
}

/// A level-one quote's top of book: bid, ask, bid size, ask size (None where not sent).
pub type LevelOneTop = [Option<f64>; 4];

/// Which level-one quotes change their symbol's top of book: one flag per quote, in order.
/// `keys[i]` is quote `i`'s symbol (a small code), `tops[i]` what it shows. A symbol starts
/// with every field null, so its first quote is a change unless it shows nothing; a batch
/// of a live feed puts each symbol's last top from the batch before in front.
pub fn level_one_changes(keys: &[u32], tops: &[LevelOneTop]) -> Vec<bool> {
    let slots = keys.iter().max().map_or(0, |&k| k as usize + 1);
    if slots > 4 * keys.len() + 1024 {
        // Sparse codes (a process-wide string cache): number the keys afresh.
        let mut fresh: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
        let dense: Vec<u32> = keys
            .iter()
            .map(|k| {
                let n = fresh.len() as u32;
                *fresh.entry(*k).or_insert(n)
            })
            .collect();
        return level_one_changes(&dense, tops);
    }
    let mut last: Tops<LevelOneTop> = Tops::new(slots);
    keys.iter()
        .zip(tops)
        .map(|(&k, &top)| last.set(k as usize, top).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_any_field_that_differs_and_a_first_quote_that_shows_something() {
        let q = |b: f64, a: Option<f64>| [Some(b), a, None, None];
        let none = [None; 4];
        // B's top from an earlier batch first, then A, A, B, A, B, C.
        let got = level_one_changes(
            &[1, 0, 0, 1, 0, 1, 2],
            &[
                q(3.0, None),
                q(1.0, None),
                q(1.0, None),
                none,
                q(1.0, Some(2.0)),
                q(3.0, None),
                none,
            ],
        );
        // B's earlier top; A's first quote, the same again; B's empty one (after a bid); A's
        // ask; B back to its bid; C showing nothing.
        assert_eq!(got, vec![true, true, false, true, true, true, false]);
        let sparse = level_one_changes(
            &[u32::MAX - 1, 7, 7, u32::MAX - 1],
            &[none, q(1.0, None), q(1.0, None), q(2.0, None)],
        );
        assert_eq!(sparse, vec![false, true, false, true]);
    }
}
