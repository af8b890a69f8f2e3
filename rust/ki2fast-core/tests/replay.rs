//! Whole-day replays whose outputs must not depend on how the frame loop runs.

use ki2fast_core::arrow::reader::Driver;
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::replay::{Replay, ReplayOptions, ReplayOutput};
use ki2fast_core::source::Input;

fn replay(bytes: &[u8], opts: ReplayOptions, step: usize) -> ReplayOutput {
    let mut driver = Driver::new(Input::from_vec(bytes.to_vec()), Replay::new(opts));
    while !driver.is_done() {
        driver.step(step).expect("a generated day replays");
    }
    driver.into_sink().finish(None, PriceRepr::Int)
}

/// The lookahead prefetch is a hint: with it always on, never on, or switching on part-way
/// (a threshold the day crosses), in small or large steps, every table and counter is the
/// same.
#[test]
fn lookahead_never_changes_the_outputs() {
    let cfg = SynthConfig {
        messages: 120_000,
        symbols: 40,
        seed: 11,
        depth: 40,
        ..SynthConfig::default()
    };
    let (bytes, truth) = synth_day(&cfg, Vec::new()).expect("valid config");
    let with = |lookahead_from: usize, step: usize| {
        replay(
            &bytes,
            ReplayOptions {
                lookahead_from,
                bbo: true,
                ..ReplayOptions::default()
            },
            step,
        )
    };
    let base = with(usize::MAX, 1 << 20);
    assert!(base.trades.as_ref().is_some_and(|t| t.num_rows() > 1000));
    // Half the day's peak: the loop switches on part-way through (and off again as the
    // books empty at the end).
    let half_peak = truth.peak_live_orders as usize / 2;
    assert!(
        half_peak > 100,
        "the generated day has a book worth prefetching"
    );
    for (from, step) in [(0, 1 << 20), (0, 4096), (half_peak, 4096)] {
        let other = with(from, step);
        assert_eq!(other.book_checks, base.book_checks, "lookahead from {from}");
        assert_eq!(other.checks, base.checks);
        assert_eq!(other.hourly_vwap, base.hourly_vwap);
        assert_eq!(other.trades, base.trades);
        assert_eq!(other.bars, base.bars);
        assert_eq!(other.bbo, base.bbo);
    }
}
