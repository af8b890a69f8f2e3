//! Baselines for the window rules: per symbol-day, the median and a robust σ of the whole
//! day's series (linear time per group), or the mean/median and σ of the windows just before
//! each window (the rolling baseline).
//!
//! The robust σ is 1.4826 × MAD. When more than half of a series is one value the MAD is 0
//! although the series varies, and a threshold of "median + k·0" would pass any window above
//! the median: then σ is 1.253314 × the mean absolute deviation from the median (the modified
//! z-score's rule for MAD = 0). Only a constant series has σ = 0, and nothing exceeds it.
//!
//! A symbol-day's series has one value per window of the session; an activity table holds
//! rows for the windows with events only, so the missing windows count as zeros. They are
//! never materialised: the k-th smallest of "the rows plus `z` copies of a fill value" is
//! found from the rows alone.

use rustc_hash::FxHashMap;

/// The scale that makes the MAD estimate σ for normal data.
pub const MAD_SCALE: f64 = 1.4826;
/// The scale that makes the mean absolute deviation estimate σ for normal data (√(π/2)).
pub const MEAN_AD_SCALE: f64 = 1.253314;

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
        let zeros = n.max(s.len()) - s.len();
        (mu[g], sd[g]) = robust(s, zeros);
    }
    let per_row = |stat: &[f64]| group.iter().map(|&g| stat[g as usize]).collect();
    (per_row(&mu), per_row(&sd))
}

/// The median and robust σ (see the module's text) of `s` together with `zeros` zeros.
/// Reorders and overwrites `s`.
fn robust(s: &mut [f64], zeros: usize) -> (f64, f64) {
    let total = s.len() + zeros;
    if total == 0 {
        return (0.0, 0.0);
    }
    let (p1, p2) = ((total - 1) / 2, total / 2);
    let m = (kth(s, zeros, 0.0, p1) + kth(s, zeros, 0.0, p2)) / 2.0;
    for v in s.iter_mut() {
        *v = (*v - m).abs();
    }
    // A missing window deviates from the median by |0 - m|.
    let fill = m.abs();
    let mad = (kth(s, zeros, fill, p1) + kth(s, zeros, fill, p2)) / 2.0;
    if mad > 0.0 {
        return (m, MAD_SCALE * mad);
    }
    let mean_ad = (s.iter().sum::<f64>() + zeros as f64 * fill) / total as f64;
    (m, MEAN_AD_SCALE * mean_ad)
}

/// Per row, the baseline of the `lookback` windows strictly before its window in its
/// (`key`, `day`) series (window numbers `idx` from 0, windows without a row counting as
/// zeros): μ and σ (median and robust σ with `robust`, else mean and population σ), and
/// whether at least half of `lookback` windows precede it. Rows of a group need not be
/// in window order; a window has at most one row per group.
pub fn rolling_baseline(
    key: &[u32],
    day: &[i64],
    idx: &[i64],
    values: &[f64],
    lookback: usize,
    robust_scale: bool,
) -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    assert!(
        key.len() == day.len() && day.len() == idx.len() && idx.len() == values.len(),
        "key, day, idx and value columns must have one length"
    );
    let rows = key.len();
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_unstable_by_key(|&r| (key[r], day[r], idx[r]));
    let (mut mu, mut sd, mut ok) = (vec![0.0; rows], vec![0.0; rows], vec![false; rows]);
    let need = lookback.div_ceil(2);
    let mut past: Vec<f64> = Vec::with_capacity(lookback);
    let mut lo = 0; // first row (in `order`) of the current group
    let mut tail = 0; // first row of the group still inside the lookback
    for at in 0..rows {
        let r = order[at];
        if at > 0 && (key[order[at - 1]], day[order[at - 1]]) != (key[r], day[r]) {
            lo = at;
            tail = at;
        }
        let from = (idx[r] - lookback as i64).max(0);
        while tail < at && idx[order[tail]] < from {
            tail += 1;
        }
        let windows = (idx[r] - from).max(0) as usize;
        if windows < need {
            continue;
        }
        debug_assert!(tail >= lo);
        past.clear();
        past.extend(order[tail..at].iter().map(|&p| values[p]));
        let zeros = windows - past.len();
        ok[r] = true;
        (mu[r], sd[r]) = if robust_scale {
            robust(&mut past, zeros)
        } else {
            let mean = past.iter().sum::<f64>() / windows as f64;
            let dev: f64 = past.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>()
                + zeros as f64 * mean * mean;
            (mean, (dev / windows as f64).sqrt())
        };
    }
    (mu, sd, ok)
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
        let mean_ad = dev.iter().sum::<f64>() / dev.len() as f64;
        match median(&mut dev) {
            0.0 => (m, MEAN_AD_SCALE * mean_ad),
            mad => (m, MAD_SCALE * mad),
        }
    }

    #[test]
    fn a_series_mostly_one_value_still_has_a_spread() {
        // Series of 8: 5, 5, 5, 5, 5, 9, 1, 13 → median 5, MAD 0 (five zero deviations);
        // deviations 0×5, 4, 4, 8 → mean 2, so σ = 1.253314 × 2, not 0.
        let values = [5.0, 5.0, 5.0, 5.0, 5.0, 9.0, 1.0, 13.0];
        let (mu, sd) = median_mad_by_group(&[1; 8], &[0; 8], &values, 8);
        assert_eq!((mu[0], sd[0]), (5.0, 2.0 * MEAN_AD_SCALE));
        // One busy window in a quiet day: median 0, MAD 0, σ from the mean deviation.
        let (mu, sd) = median_mad_by_group(&[1], &[0], &[1000.0], 100);
        assert_eq!((mu[0], sd[0]), (0.0, 10.0 * MEAN_AD_SCALE));
        // Only a constant series has no spread.
        let (_, sd) = median_mad_by_group(&[1; 3], &[0; 3], &[4.0; 3], 3);
        assert_eq!(sd[0], 0.0);
    }

    #[test]
    fn the_rolling_baseline_is_the_dense_lookback_before_each_window() {
        let mut rng = crate::itch::synth::Rng::new(5);
        let mut next = |m: u64| rng.below(m);
        for _ in 0..200 {
            let lookback = 1 + next(8) as usize;
            let n = 1 + next(30) as usize;
            let key: Vec<u32> = (0..n).map(|_| next(2) as u32).collect();
            // One row per (key, window): distinct windows per key.
            let idx: Vec<i64> = (0..n)
                .scan(0i64, |at, _| {
                    *at += 1 + next(3) as i64;
                    Some(*at - 1)
                })
                .collect();
            let values: Vec<f64> = (0..n).map(|_| next(6) as f64).collect();
            let day = vec![3i64; n];
            for robust_scale in [true, false] {
                let (mu, sd, ok) =
                    rolling_baseline(&key, &day, &idx, &values, lookback, robust_scale);
                for r in 0..n {
                    let from = (idx[r] - lookback as i64).max(0);
                    let windows = (idx[r] - from) as usize;
                    assert_eq!(ok[r], windows >= lookback.div_ceil(2), "row {r}");
                    if !ok[r] {
                        continue;
                    }
                    let mut dense_past = vec![0.0; windows];
                    for p in 0..n {
                        if key[p] == key[r] && idx[p] >= from && idx[p] < idx[r] {
                            dense_past[(idx[p] - from) as usize] = values[p];
                        }
                    }
                    let want = if robust_scale {
                        dense(&dense_past, windows)
                    } else {
                        let mean = dense_past.iter().sum::<f64>() / windows as f64;
                        let var = dense_past
                            .iter()
                            .map(|v| (v - mean) * (v - mean))
                            .sum::<f64>()
                            / windows as f64;
                        (mean, var.sqrt())
                    };
                    assert!((mu[r] - want.0).abs() < 1e-9 && (sd[r] - want.1).abs() < 1e-9);
                }
            }
        }
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
