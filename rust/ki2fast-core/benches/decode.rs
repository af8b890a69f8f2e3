//! Core throughput without Python: framing walk, full decode into Arrow, order events, and
//! the generator, on a synthetic day held in memory (`KI2FAST_BENCH_MESSAGES`, default 2 M).
//! `cargo bench -p ki2fast-core --bench decode`

#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ki2fast_core::arrow::reader::{ItchReader, OrderEventReader, count};
use ki2fast_core::itch::decode::DecodeOptions;
use ki2fast_core::itch::framing::FramePolicy;
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::source::Input;

fn messages() -> u64 {
    std::env::var("KI2FAST_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

fn bench(c: &mut Criterion) {
    let cfg = SynthConfig {
        messages: messages(),
        symbols: 500,
        seed: 1,
        depth: 25,
        ..SynthConfig::default()
    };
    let (day, truth) = synth_day(&cfg, Vec::new()).expect("a valid configuration");
    let day = std::sync::Arc::new(day);
    let mut g = c.benchmark_group("itch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(truth.total_messages()));
    g.bench_function("count", |b| {
        b.iter(|| count(Input::Memory(day.clone()), FramePolicy::default()).expect("valid day"))
    });
    g.bench_function("read_all", |b| {
        b.iter(|| {
            let opts = DecodeOptions {
                batch_size: 1 << 20,
                grow_batches: true,
                ..DecodeOptions::default()
            };
            black_box(
                ItchReader::new(Input::Memory(day.clone()), opts)
                    .and_then(|r| r.read_all())
                    .expect("valid day"),
            )
        })
    });
    g.bench_function("order_events", |b| {
        b.iter(|| {
            let opts = DecodeOptions {
                batch_size: 1 << 20,
                ..DecodeOptions::default()
            };
            black_box(
                OrderEventReader::new(Input::Memory(day.clone()), opts)
                    .and_then(|r| r.read_all())
                    .expect("valid day"),
            )
        })
    });
    g.bench_function("synth", |b| {
        b.iter(|| black_box(synth_day(&cfg, Vec::with_capacity(day.len())).expect("valid config")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
