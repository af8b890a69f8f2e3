//! Robust day baselines for the window rules (detection.md §3.2): the median and the scaled
//! median absolute deviation of each symbol-day's series, in linear time per group.
//!
//! A symbol-day's series has one value per window of the session; an activity table holds
//! rows for the windows with events only, so the missing windows count as zeros. They are
//! never materialised: the k-th smallest of "the rows plus `z` copies of a fill value" is
//! found from the rows alone.

use rustc_hash::FxHashMap;

/// The scale that makes the MAD estimate σ for normal data.
pub const MAD_SCALE: f64 = 1.4826;

/// Per row, its group's median and `MAD_SCALE` × MAD, where a group is a `(key, day)` pair
/// and its series is its rows' `values` plus zeros up to `n` values (a group with more rows
/// than `n` has no zeros). Medians of even-length series average the two middle values.
pub fn median_mad_by_group(
    key: &[u32],
    day: &[i64],
    values: &[f64],
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    assert!(
        key.len() == day.len() && day.len() == values.len(),
        "key, day and value columns must have one length"
    );
    // Dense group numbers, rows bucketed by group (a counting sort).
    let mut ids: FxHashMap<(u32, i64), u32> = FxHashMap::default();
    let mut last: Option<((u32, i64), u32)> = None;
    let group: Vec<u32> = key
        .iter()
        .zip(day)
        .map(|(&k, &d)| match last {
            Some((lk, id)) if lk == (k, d) => id,
            _ => {
                let next = ids.len() as u32;
                let id = *ids.entry((k, d)).or_insert(next);
                last = Some(((k, d), id));
                id
            }
        })
        .collect();
    let groups = ids.len();
    let mut start = vec![0usize; groups + 1];
    for &g in &group {
        start[g as usize + 1] += 1;
    }
    for g in 0..groups {
        start[g + 1] += start[g];
    }
    let mut at = start.clone();
    let mut buf = vec![0.0f64; values.len()];
    for (&g, &v) in group.iter().zip(values) {
        buf[at[g as usize]] = v;
        at[g as usize] += 1;
    }
    let mut mu = vec![0.0f64; groups];
    let mut sd = vec![0.0f64; groups];
    for g in 0..groups {
        let s = &mut buf[start[g]..start[g + 1]];
        let total = n.max(s.len());
        let zeros = total - s.len();
        let (p1, p2) = ((total - 1) / 2, total / 2);
        let m = (kth(s, zeros, 0.0, p1) + kth(s, zeros, 0.0, p2)) / 2.0;
        for v in s.iter_mut() {
            *v = (*v - m).abs();
        }
        // A missing window deviates from the median by |0 - m|.
        let fill = m.abs();
        mu[g] = m;
        sd[g] = MAD_SCALE * (kth(s, zeros, fill, p1) + kth(s, zeros, fill, p2)) / 2.0;
    }
    let per_row = |stat: &[f64]| group.iter().map(|&g| stat[g as usize]).collect();
    (per_row(&mu), per_row(&sd))
}

/// The `k`-th smallest (from 0) of `s` together with `extra` copies of `fill`. Reorders `s`.
fn kth(s: &mut [f64], extra: usize, fill: f64, k: usize) -> f64 {
    let below = s.iter().filter(|&&v| v < fill).count();
    let pick = |s: &mut [f64], i: usize| *s.select_nth_unstable_by(i, f64::total_cmp).1;
    if k < below {
        pick(s, k)
    } else if k < below + extra {
        fill
    } else {
        pick(s, k - extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statistics from the whole series, zeros written out and sorted.
    fn dense(values: &[f64], n: usize) -> (f64, f64) {
        let mut all = values.to_vec();
        all.resize(n.max(values.len()), 0.0);
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[(v.len() - 1) / 2] + v[v.len() / 2]) / 2.0
        };
        let m = median(&mut all);
        let mut dev: Vec<f64> = all.iter().map(|v| (v - m).abs()).collect();
        (m, MAD_SCALE * median(&mut dev))
    }

    #[test]
    fn a_hand_computed_group_with_its_missing_windows_as_zeros() {
        // Series of 6: 0, 0, 2, 4, 4, 10 → median 3; deviations 3, 3, 1, 1, 1, 7 → MAD 2.
        let (mu, sd) = median_mad_by_group(&[7; 4], &[1; 4], &[4.0, 10.0, 2.0, 4.0], 6);
        assert_eq!(mu, [3.0; 4]);
        assert_eq!(sd, [2.0 * MAD_SCALE; 4]);
    }

    #[test]
    fn groups_are_symbol_days_and_match_the_dense_series() {
        let mut rng = crate::itch::synth::Rng::new(11);
        let mut next = |m: u64| rng.below(m);
        for _ in 0..200 {
            let rows = next(60) as usize;
            let n = next(40) as usize;
            let key: Vec<u32> = (0..rows).map(|_| next(3) as u32 * 1000).collect();
            let day: Vec<i64> = (0..rows).map(|_| next(2) as i64).collect();
            let values: Vec<f64> = (0..rows).map(|_| next(12) as f64).collect();
            let (mu, sd) = median_mad_by_group(&key, &day, &values, n);
            for i in 0..rows {
                let mine: Vec<f64> = (0..rows)
                    .filter(|&j| (key[j], day[j]) == (key[i], day[i]))
                    .map(|j| values[j])
                    .collect();
                assert_eq!((mu[i], sd[i]), dense(&mine, n), "row {i}");
            }
        }
    }
}
