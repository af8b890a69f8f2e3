//! The synthetic day generator against a plain model of the rules it promises: consistent
//! order lifecycles, FIFO executions at the best level, uncrossed books while trading,
//! system events in order, non-decreasing time, all 23 types, and a truth file that matches.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use ki2fast_core::arrow::reader::count;
use ki2fast_core::itch::framing::{FramePolicy, Frames};
use ki2fast_core::itch::spec::{Dispatch, Message, MessageKind};
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::source::Input;

fn day(
    messages: u64,
    symbols: usize,
    seed: u64,
    depth: usize,
) -> (Vec<u8>, ki2fast_core::itch::synth::Truth) {
    let cfg = SynthConfig {
        messages,
        symbols,
        seed,
        depth,
        ..SynthConfig::default()
    };
    synth_day(&cfg, Vec::new()).expect("valid config")
}

#[derive(Debug, Clone, Copy)]
struct Live {
    locate: u16,
    side: u8,
    price: u32,
    shares: u32,
    seq: u64,
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, ta) = day(30_000, 40, 11, 20);
    let (b, _) = day(30_000, 40, 11, 20);
    let (c, _) = day(30_000, 40, 12, 20);
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(ta.to_json(), day(30_000, 40, 11, 20).1.to_json());
}

#[test]
fn a_day_is_consistent_and_complete() {
    let (bytes, truth) = day(120_000, 60, 3, 30);
    consistent_and_complete(bytes, &truth, 120_000);
}

#[test]
fn a_day_with_program_bursts_is_consistent_and_plants_them() {
    let cfg = SynthConfig {
        messages: 120_000,
        symbols: 60,
        seed: 3,
        depth: 30,
        program_bursts: 3,
        ..SynthConfig::default()
    };
    let (bytes, truth) = synth_day(&cfg, Vec::new()).expect("valid config");
    consistent_and_complete(bytes, &truth, 120_000);
    assert_eq!(truth.program_bursts.len(), 3);
    let sides: Vec<char> = truth.program_bursts.iter().map(|p| p.side).collect();
    assert_eq!(sides, ['B', 'S', 'B']);
    for p in &truth.program_bursts {
        assert_eq!(p.symbols.len(), 12);
        // Each member's burst is a planted burst too, at the program's start.
        for s in &p.symbols {
            assert!(
                truth
                    .bursts
                    .iter()
                    .any(|b| &b.symbol == s && b.start_ts == p.start_ts)
            );
        }
        assert!(p.end_ts > p.start_ts && p.end_ts - p.start_ts < 1_000_000_000);
    }
    assert!(truth.to_json().contains("\"program_bursts\""));
    // A day without them says nothing of them.
    assert!(
        !day(30_000, 40, 11, 20)
            .1
            .to_json()
            .contains("program_bursts")
    );
}

fn consistent_and_complete(bytes: Vec<u8>, truth: &ki2fast_core::itch::synth::Truth, asked: u64) {
    let checks = count(Input::from_vec(bytes.clone()), FramePolicy::default()).unwrap();
    for kind in MessageKind::ALL {
        assert!(checks.messages(kind) > 0, "no {kind} message");
        assert_eq!(checks.messages(kind), truth.counts[kind.index()], "{kind}");
    }
    let total = checks.known_messages();
    assert!(
        total.abs_diff(asked) <= 50,
        "{total} messages for {asked} asked"
    );

    let mut live: HashMap<u64, Live> = HashMap::new();
    let mut trading: HashMap<u16, bool> = HashMap::new();
    let (mut seq, mut last_ts, mut events) = (0u64, 0u64, Vec::new());
    let (mut executions, mut fifo_violations) = (0u64, 0u64);
    let best = |live: &HashMap<u64, Live>, locate: u16, side: u8| {
        live.values()
            .filter(|o| o.locate == locate && o.side == side)
            .map(|o| {
                (
                    if side == b'B' {
                        u32::MAX - o.price
                    } else {
                        o.price
                    },
                    o.seq,
                )
            })
            .min()
    };
    let crossed = |live: &HashMap<u64, Live>, locate: u16| {
        let bid = live
            .values()
            .filter(|o| o.locate == locate && o.side == b'B')
            .map(|o| o.price)
            .max();
        let ask = live
            .values()
            .filter(|o| o.locate == locate && o.side == b'S')
            .map(|o| o.price)
            .min();
        matches!((bid, ask), (Some(b), Some(a)) if b >= a)
    };
    for (_, raw) in Frames::new(&bytes) {
        let Dispatch::Visited(m) = Message::parse(raw) else {
            panic!("malformed frame")
        };
        let h = m.header();
        assert!(
            h.timestamp >= last_ts,
            "time went backwards at {}",
            h.timestamp
        );
        last_ts = h.timestamp;
        seq += 1;
        let exec = |live: &mut HashMap<u64, Live>, r: u64, shares: u32| {
            let o = live
                .get_mut(&r)
                .unwrap_or_else(|| panic!("execution of unknown order {r}"));
            assert!(shares <= o.shares && shares > 0);
            o.shares -= shares;
            if o.shares == 0 {
                live.remove(&r);
            }
        };
        match m {
            Message::SystemEvent(e) => events.push(e.event_code),
            Message::StockTradingAction(a) => {
                trading.insert(a.stock_locate, a.trading_state == b'T');
            }
            Message::AddOrder(_) | Message::AddOrderMpid(_) => {
                let (reference, o) = match m {
                    Message::AddOrder(a) => (
                        a.order_reference_number,
                        Live {
                            locate: a.stock_locate,
                            side: a.buy_sell_indicator,
                            price: a.price,
                            shares: a.shares,
                            seq,
                        },
                    ),
                    Message::AddOrderMpid(f) => (
                        f.order_reference_number,
                        Live {
                            locate: f.stock_locate,
                            side: f.buy_sell_indicator,
                            price: f.price,
                            shares: f.shares,
                            seq,
                        },
                    ),
                    _ => unreachable!(),
                };
                assert!(
                    live.insert(reference, o).is_none(),
                    "reference {reference} added twice"
                );
                assert!(
                    !crossed(&live, o.locate),
                    "add crossed the book of locate {}",
                    o.locate
                );
            }
            Message::OrderExecuted(e) => {
                let o = live[&e.order_reference_number];
                assert_eq!(
                    trading.get(&o.locate),
                    Some(&true),
                    "execution while halted"
                );
                executions += 1;
                if best(&live, o.locate, o.side).map(|b| b.1) != Some(o.seq) {
                    fifo_violations += 1;
                }
                exec(&mut live, e.order_reference_number, e.executed_shares);
            }
            Message::OrderExecutedWithPrice(c) => {
                exec(&mut live, c.order_reference_number, c.executed_shares);
            }
            Message::OrderCancel(x) => {
                let o = live
                    .get_mut(&x.order_reference_number)
                    .expect("cancel of a live order");
                assert!(x.cancelled_shares < o.shares);
                o.shares -= x.cancelled_shares;
            }
            Message::OrderDelete(d) => {
                assert!(
                    live.remove(&d.order_reference_number).is_some(),
                    "delete of unknown order"
                );
            }
            Message::OrderReplace(u) => {
                let old = live
                    .remove(&u.original_order_reference_number)
                    .expect("replace of a live order");
                assert!(
                    live.insert(
                        u.new_order_reference_number,
                        Live {
                            price: u.price,
                            shares: u.shares,
                            seq,
                            ..old
                        }
                    )
                    .is_none()
                );
                assert!(!crossed(&live, old.locate), "replace crossed the book");
            }
            _ => {}
        }
    }
    assert_eq!(events, b"OSQMEC");
    assert!(live.is_empty(), "{} orders left after S C", live.len());
    assert!(executions > 100);
    assert_eq!(
        fifo_violations, 0,
        "executions must take the head of the best level"
    );
    assert!(!truth.bursts.is_empty());
    assert_eq!(truth.halts.len(), 3);
    assert!(
        truth.crosses.iter().any(|c| c.shares == 0),
        "one cross must not take place"
    );
}

#[test]
fn planted_bursts_are_dense_and_calm_symbols_are_not() {
    let (bytes, truth) = day(400_000, 120, 5, 25);
    let mut per_locate: HashMap<u16, Vec<u64>> = HashMap::new();
    for (_, raw) in Frames::new(&bytes) {
        if let Dispatch::Visited(m) = Message::parse(raw)
            && matches!(
                m.kind(),
                MessageKind::AddOrder
                    | MessageKind::AddOrderMpid
                    | MessageKind::OrderCancel
                    | MessageKind::OrderDelete
                    | MessageKind::OrderReplace
            )
        {
            per_locate
                .entry(m.header().stock_locate)
                .or_default()
                .push(m.header().timestamp);
        }
    }
    // Densest 25 ms window per symbol.
    let densest = |ts: &[u64]| {
        let (mut best, mut lo) = (0, 0);
        for hi in 0..ts.len() {
            while ts[hi] - ts[lo] >= 25_000_000 {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    };
    let stuffers: Vec<u16> = truth.bursts.iter().map(|b| b.locate).collect();
    for b in &truth.bursts {
        assert!(
            b.messages >= 200 && b.end_ts - b.start_ts < 25_000_000,
            "{b:?}"
        );
        assert_eq!(b.adds + b.deletes + b.cancels, b.messages);
        assert!(densest(&per_locate[&b.locate]) as u64 >= b.messages);
    }
    for (locate, ts) in &per_locate {
        if !stuffers.contains(locate) {
            assert!(
                densest(ts) < 100,
                "calm locate {locate} has {} quotes in 25 ms",
                densest(ts)
            );
        }
    }
}
