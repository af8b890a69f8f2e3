//! Analytics over prints and quotes: the trades table, the hourly VWAP report, time bars,
//! activity windows, the sliding quote-stuffing rule and the window rules' robust baselines.

pub mod activity;
pub mod bars;
pub mod order_feed;
pub mod stats;
pub mod tops;
pub mod trades;
pub mod vwap;

use crate::mem::with_capacity_huge;

/// How to merge two file-ordered runs of rows: for each merged row, its position in `a`
/// followed by `b`. `a` and `b` are the message numbers of their rows, each ascending; on a
/// tie `a` goes first.
pub(crate) fn merge_order(a: &[u64], b: &[u64]) -> Vec<u32> {
    let mut order = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            order.push((a.len() + j) as u32);
            j += 1;
        } else {
            order.push(i as u32);
            i += 1;
        }
    }
    order.extend((i..a.len()).map(|k| k as u32));
    order.extend((a.len() + j..a.len() + b.len()).map(|k| k as u32));
    order
}

/// `a` and `b` merged as `order` (from [`merge_order`], or any order that keeps each run's
/// rows in their order), in `a`'s buffer grown in place: no second buffer of the merged
/// length is faulted in, which on a large day is most of a merge's cost. Rows are written
/// from the back; the row that lands at `k` comes from `a` at a position no later than `k`,
/// not yet overwritten. Each row is loaded from both runs and the right one kept, so that no
/// branch on which run a row comes from (a coin toss for interleaved stocks) is mispredicted.
pub(crate) fn interleave<T: Copy>(mut a: Vec<T>, b: Vec<T>, order: &[u32]) -> Vec<T> {
    debug_assert_eq!(a.len() + b.len(), order.len());
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let (split, last_a, last_b) = (a.len(), a.len() - 1, b.len() - 1);
    // Plain pages: the rows are written once, in order (see `SumsColumns`).
    a.reserve_exact(b.len());
    a.extend_from_slice(&b);
    for (k, &o) in order.iter().enumerate().rev() {
        let o = o as usize;
        debug_assert!(o >= split || o <= k, "a run's rows out of their order");
        let (x, y) = (a[o.min(last_a)], b[o.saturating_sub(split).min(last_b)]);
        a[k] = if o < split { x } else { y };
    }
    a
}

/// Rows `order` of `col`, in that order, in a fresh buffer advised for huge pages.
pub(crate) fn gather<T: Copy>(col: &[T], order: &[u32]) -> Vec<T> {
    let mut out = with_capacity_huge(order.len());
    out.extend(order.iter().map(|&i| col[i as usize]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_two_ascending_runs_in_order() {
        let (a, b) = (vec![1u64, 4, 5, 9], vec![2u64, 3, 10]);
        let order = merge_order(&a, &b);
        assert_eq!(order, [0, 4, 5, 1, 2, 3, 6]);
        assert_eq!(interleave(a, b, &order), [1, 2, 3, 4, 5, 9, 10]);
        assert_eq!(merge_order(&[], &[7]), [0]);
        assert_eq!(merge_order(&[7], &[]), [0]);
        // A tie keeps the first run's row first.
        assert_eq!(merge_order(&[5], &[5]), [0, 1]);
        // Either run may be empty.
        assert_eq!(interleave(Vec::new(), vec![7u8, 8], &[0, 1]), [7, 8]);
        assert_eq!(interleave(vec![7u8, 8], Vec::new(), &[0, 1]), [7, 8]);
        // One row against many: the lone row is read at every step and kept once.
        let order = merge_order(&[3], &[1, 2, 4, 5]);
        assert_eq!(
            interleave(vec![30u16], vec![10, 20, 40, 50], &order),
            [10, 20, 30, 40, 50]
        );
    }

    #[test]
    fn merges_in_place_whatever_the_runs_lengths_and_spare_room() {
        // Runs of every shape, tagged so a row taken from the wrong place would show.
        let mut rng = crate::itch::synth::Rng::new(7);
        let mut next = |m: u64| rng.below(m);
        for _ in 0..300 {
            let (na, nb) = (next(40) as usize, next(40) as usize);
            let mut keys = |n: usize| {
                let mut k: Vec<u64> = (0..n).map(|_| next(30)).collect();
                k.sort_unstable();
                k
            };
            let (ka, kb) = (keys(na), keys(nb));
            let order = merge_order(&ka, &kb);
            let mut a: Vec<(u64, usize)> = Vec::with_capacity(na + next(50) as usize);
            a.extend(ka.iter().enumerate().map(|(i, &k)| (k, i)));
            let b: Vec<(u64, usize)> = kb.iter().enumerate().map(|(i, &k)| (k, 100 + i)).collect();
            let mut want = [a.clone(), b.clone()].concat();
            // Stable: on equal keys, a's rows first, each run's rows in their order.
            want.sort_by_key(|&(k, tag)| (k, tag));
            assert_eq!(interleave(a, b, &order), want);
        }
    }

    #[test]
    fn gathers_rows_in_the_order_given() {
        assert_eq!(gather(&[5i64, 6, 7], &[2, 0, 1, 2]), [7, 5, 6, 7]);
        assert!(gather::<i64>(&[1, 2], &[]).is_empty());
    }
}
