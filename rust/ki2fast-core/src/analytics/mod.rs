//! Analytics over prints and quotes: the trades table, the hourly VWAP report, time bars.

pub mod bars;
pub mod trades;
pub mod vwap;

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

/// `a` and `b` merged as `order` (from [`merge_order`]) says: one gather over the two runs
/// end to end, with no branch on which run a row comes from.
pub(crate) fn interleave<T: Copy>(mut a: Vec<T>, b: Vec<T>, order: &[u32]) -> Vec<T> {
    debug_assert_eq!(a.len() + b.len(), order.len());
    a.extend_from_slice(&b);
    drop(b);
    order.iter().map(|&k| a[k as usize]).collect()
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
    }
}
