//! Small command-line harness over the core, for profiling without Python:
//! `cargo run --release --example itch_tool -- synth OUT MESSAGES SYMBOLS SEED DEPTH`
//! `cargo run --release --example itch_tool -- read FILE`
//! `cargo run --release --example itch_tool -- events FILE`
//! `cargo run --release --example itch_tool -- replay FILE`

#![allow(clippy::unwrap_used)]

use std::io::BufWriter;
use std::path::Path;
use std::time::Instant;

use ki2fast_core::arrow::reader::{DEFAULT_STEP, Driver, ItchReader, OrderEventReader};
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::itch::decode::DecodeOptions;
use ki2fast_core::itch::framing::FrameSink;
use ki2fast_core::itch::synth::{SynthConfig, synth_day};
use ki2fast_core::replay::{ParallelReplay, ReplayOptions};
use ki2fast_core::source::Input;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("synth") => {
            let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
            let cfg = SynthConfig {
                messages: num(2, 1_000_000),
                symbols: num(3, 500) as usize,
                seed: num(4, 1),
                depth: num(5, 25) as usize,
                ..SynthConfig::default()
            };
            let t = Instant::now();
            let file = BufWriter::new(std::fs::File::create(&args[1])?);
            let (_, truth) = synth_day(&cfg, file)?;
            let secs = t.elapsed().as_secs_f64();
            let n = truth.total_messages();
            println!(
                "{n} messages in {secs:.2}s: {:.2} M msg/s; peak live {}",
                n as f64 / secs / 1e6,
                truth.peak_live_orders
            );
            std::fs::write(format!("{}.truth.json", args[1]), truth.to_json())?;
        }
        Some("read") => {
            let t = Instant::now();
            let opts = DecodeOptions {
                batch_size: 1 << 20,
                grow_batches: true,
                ..DecodeOptions::default()
            };
            let reader = ItchReader::new(Input::open(Path::new(&args[1]))?, opts)?;
            let tables = reader.read_all()?;
            let secs = t.elapsed().as_secs_f64();
            let n: usize = tables
                .iter()
                .flat_map(|(_, b)| b.iter().map(|b| b.num_rows()))
                .sum();
            println!(
                "{n} rows in {secs:.3}s: {:.1} M msg/s",
                n as f64 / secs / 1e6
            );
        }
        Some("events") => {
            let t = Instant::now();
            let opts = DecodeOptions {
                batch_size: 1 << 20,
                grow_batches: true,
                ..DecodeOptions::default()
            };
            let batches =
                OrderEventReader::new(Input::open(Path::new(&args[1]))?, opts)?.read_all()?;
            let secs = t.elapsed().as_secs_f64();
            let n: usize = batches.iter().map(|b| b.num_rows()).sum();
            println!(
                "{n} events in {secs:.3}s: {:.1} M events/s",
                n as f64 / secs / 1e6
            );
        }
        Some("replay") => {
            let t = Instant::now();
            let opts = if args.get(2).map(String::as_str) == Some("book") {
                ReplayOptions {
                    trades: false,
                    bar_ns: None,
                    ..ReplayOptions::default()
                }
            } else {
                ReplayOptions::default()
            };
            let threads = args.get(3).and_then(|t| t.parse().ok()).unwrap_or(1);
            let mut driver = Driver::new(
                Input::open(Path::new(&args[1]))?,
                ParallelReplay::new(opts, threads),
            );
            while !driver.is_done() {
                driver.step(DEFAULT_STEP)?;
            }
            let n = driver.sink.checks().known_messages();
            let fed = t.elapsed().as_secs_f64();
            let Some(out) = driver.into_sink().finish(None, PriceRepr::Int) else {
                eprintln!("the shards went apart (unknown references): replay with 1 thread");
                return Ok(());
            };
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{n} messages in {secs:.3}s ({fed:.3}s replaying): {:.1} M msg/s; {} trades, {} bars, {} report rows; live at end {}",
                n as f64 / secs / 1e6,
                out.trades.as_ref().map_or(0, |b| b.num_rows()),
                out.bars.as_ref().map_or(0, |b| b.num_rows()),
                out.hourly_vwap.num_rows(),
                out.book_checks.live_orders_at_end,
            );
            for (k, v) in out.book_checks.items() {
                if v > 0 {
                    println!("  {k}: {v}");
                }
            }
        }
        _ => eprintln!(
            "usage: itch_tool synth OUT [MESSAGES SYMBOLS SEED DEPTH] | read FILE | events FILE | replay FILE [full|book] [THREADS]"
        ),
    }
    Ok(())
}
