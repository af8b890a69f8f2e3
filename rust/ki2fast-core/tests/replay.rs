//! Whole-day replays whose outputs must not depend on how the frame loop runs.

use ki2fast_core::arrow::reader::Driver;
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::book::Side;
use ki2fast_core::itch::encode::ItchWriter;
use ki2fast_core::itch::spec::{AddOrder, OrderExecuted};
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::replay::{ParallelReplay, ReplayOptions, ReplayOutput};
use ki2fast_core::source::Input;

/// A replay over `threads` threads in steps of `step` bytes, driven as the binding drives it:
/// through `ParallelReplay` (one thread is a plain replay), whose frame walk is compiled once,
/// in the library. Driving `Replay` itself from here made this file instantiate and optimise
/// the whole inlined frame loop again: 14 minutes of one LLVM thread in the `ci` profile.
fn replay_on(
    bytes: &[u8],
    opts: ReplayOptions,
    threads: usize,
    step: usize,
) -> Option<ReplayOutput> {
    let mut driver = Driver::new(
        Input::from_vec(bytes.to_vec()),
        ParallelReplay::new(opts, threads),
    );
    while !driver.is_done() {
        driver.step(step).expect("a generated day replays");
    }
    driver
        .into_sink()
        .finish(None, PriceRepr::Int)
        .expect("an in-memory replay has no spill to fail")
}

/// One replay in one thread.
fn replay(bytes: &[u8], opts: ReplayOptions, step: usize) -> ReplayOutput {
    replay_on(bytes, opts, 1, step).expect("one thread never declines")
}

/// Every table and counter of two replays of the same bytes is the same.
fn assert_same_output(got: &ReplayOutput, want: &ReplayOutput, what: &str) {
    assert_eq!(got.checks, want.checks, "{what}");
    assert_eq!(got.book_checks, want.book_checks, "{what}");
    assert_eq!(got.examples, want.examples, "{what}");
    assert_eq!(got.hourly_vwap, want.hourly_vwap, "{what}");
    assert_eq!(got.trades, want.trades, "{what}");
    assert_eq!(got.bars, want.bars, "{what}");
    assert_eq!(got.bbo, want.bbo, "{what}");
    assert_eq!(got.snapshots, want.snapshots, "{what}");
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
        assert_same_output(&other, &base, &format!("lookahead from {from}"));
    }
}

fn replay_parallel(bytes: &[u8], opts: ReplayOptions, threads: usize) -> Option<ReplayOutput> {
    replay_on(bytes, opts, threads, 1 << 16)
}

/// Everything a user sees of the final books: every book's orders, side by side, best
/// level first and in queue order.
fn book_listing(out: &ReplayOutput) -> Vec<(u32, u8, u64, u32, u32, u64)> {
    let books = &out.books;
    (0..books.book_count() as u32)
        .flat_map(|b| {
            [Side::Bid, Side::Ask].into_iter().flat_map(move |side| {
                books
                    .orders(b, side)
                    .map(move |o| (b, side.code(), o.reference, o.price, o.shares, o.timestamp))
            })
        })
        .collect()
}

/// Split across 2 or 4 threads by stock, a day with every kind of print, breaks, halts,
/// a BBO stream, snapshots and orders left at the close gives exactly what one replay
/// gives: every table, counter, example and final book.
#[test]
fn parallel_replay_equals_one_replay() {
    let cfg = SynthConfig {
        messages: 150_000,
        symbols: 37,
        seed: 5,
        depth: 30,
        ..SynthConfig::default()
    };
    let (bytes, _) = synth_day(&cfg, Vec::new()).expect("valid config");
    // Cut the day short so that books are still full at the end.
    let cut = bytes.len() * 9 / 10;
    let mut frames = ki2fast_core::itch::framing::Frames::new(&bytes[..cut]);
    frames.by_ref().for_each(drop);
    let cut = frames.position();
    let opts = ReplayOptions {
        bbo: true,
        snapshot_ns: Some(600_000_000_000),
        depth: 3,
        ..ReplayOptions::default()
    };
    for day in [&bytes[..], &bytes[..cut]] {
        let one = replay(day, opts.clone(), 1 << 16);
        assert!(one.trades.as_ref().is_some_and(|t| t.num_rows() > 1000));
        assert!(one.book_checks.broken_trades > 0, "the day has breaks");
        for threads in [2, 3, 4] {
            let par = replay_parallel(day, opts.clone(), threads)
                .expect("clean data never needs the serial replay");
            assert_same_output(&par, &one, &format!("{threads} threads"));
            assert_eq!(book_listing(&par), book_listing(&one));
        }
    }
    let cut_books = replay(&bytes[..cut], opts, 1 << 16);
    assert!(cut_books.book_checks.live_orders_at_end > 100);
}

/// An execution whose header names another stock than its order's (its order rests in
/// another shard's book) makes the parallel replay decline, so the caller replays serially
/// and the counters stay those of one replay.
#[test]
fn parallel_replay_declines_when_a_message_names_another_stock() {
    let mut w = ItchWriter::new(Vec::new());
    let add = |stock_locate: u16, reference: u64, timestamp: u64| AddOrder {
        stock_locate,
        tracking_number: 0,
        timestamp,
        order_reference_number: reference,
        buy_sell_indicator: b'B',
        shares: 100,
        stock: *b"ABC     ",
        price: 10_000,
    };
    w.write(&add(1, 7, 10)).expect("writes to memory");
    w.write(&add(2, 8, 11)).expect("writes to memory");
    // Reference 7 rests in locate 1's book; the header says 2.
    w.write(&OrderExecuted {
        stock_locate: 2,
        tracking_number: 0,
        timestamp: 12,
        order_reference_number: 7,
        executed_shares: 40,
        match_number: 1,
    })
    .expect("writes to memory");
    let bytes = w.into_inner().expect("writes to memory");
    let one = replay(&bytes, ReplayOptions::default(), 1 << 16);
    assert_eq!(one.book_checks.locate_mismatch, 1);
    assert_eq!(one.book_checks.unknown_ref, 0);
    assert!(replay_parallel(&bytes, ReplayOptions::default(), 2).is_none());
    // One thread is one replay.
    let single = replay_parallel(&bytes, ReplayOptions::default(), 1).expect("one shard");
    assert_eq!(single.book_checks, one.book_checks);
}
