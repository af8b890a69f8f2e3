//! Analytics over prints and quotes: the trades table, the hourly VWAP report, time bars.

pub mod bars;
pub mod trades;
pub mod vwap;

/// Which side each row of a merge of two file-ordered columns comes from: `true` where the
/// next row is `b`'s. `a` and `b` are the message numbers of their rows, each ascending; on a
/// tie `a` goes first.
pub(crate) fn merge_order(a: &[u64], b: &[u64]) -> Vec<bool> {
    let mut from_b = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let take_b = i == a.len() || (j < b.len() && b[j] < a[i]);
        from_b.push(take_b);
        if take_b {
            j += 1;
        } else {
            i += 1;
        }
    }
    from_b
}

/// `a` and `b` interleaved as `from_b` says (see [`merge_order`]), each in its own order.
pub(crate) fn interleave<T: Copy>(a: Vec<T>, b: Vec<T>, from_b: &[bool]) -> Vec<T> {
    debug_assert_eq!(a.len() + b.len(), from_b.len());
    let (mut i, mut j) = (0, 0);
    from_b
        .iter()
        .map(|&take_b| {
            if take_b {
                j += 1;
                b[j - 1]
            } else {
                i += 1;
                a[i - 1]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_two_ascending_runs_in_order() {
        let (a, b) = (vec![1u64, 4, 5, 9], vec![2u64, 3, 10]);
        let from_b = merge_order(&a, &b);
        assert_eq!(interleave(a, b, &from_b), [1, 2, 3, 4, 5, 9, 10]);
        assert_eq!(merge_order(&[], &[7]), [true]);
        assert_eq!(merge_order(&[7], &[]), [false]);
        // A tie keeps the first run's row first.
        assert_eq!(merge_order(&[5], &[5]), [false, true]);
    }
}
