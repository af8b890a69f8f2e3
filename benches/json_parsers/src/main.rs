//! Parses every line of each NDJSON file given into a JSON tree with the level-one pass's own
//! reader and with serde_json, simd-json and sonic-rs, and prints each one's best time of
//! five rounds and its throughput. Every reader must see the same number of values. Lines
//! that are not strict JSON (the NaN tokens of old captures) are left out.

use std::time::Instant;

#[path = "../../../rust/ki2fast-core/src/feeds/json.rs"]
#[allow(dead_code)]
mod json;

/// Values in a tree of ours.
fn ours(v: &json::Value<'_>) -> usize {
    1 + match v {
        json::Value::Array(a) => a.iter().map(ours).sum(),
        json::Value::Object(o) => o.iter().map(|(_, v)| ours(v)).sum(),
        _ => 0,
    }
}

fn serde(v: &serde_json::Value) -> usize {
    1 + match v {
        serde_json::Value::Array(a) => a.iter().map(serde).sum(),
        serde_json::Value::Object(o) => o.values().map(serde).sum(),
        _ => 0,
    }
}

fn simd(v: &simd_json::BorrowedValue<'_>) -> usize {
    1 + match v {
        simd_json::BorrowedValue::Array(a) => a.iter().map(simd).sum(),
        simd_json::BorrowedValue::Object(o) => o.values().map(simd).sum(),
        _ => 0,
    }
}

fn sonic(v: &sonic_rs::Value) -> usize {
    use sonic_rs::JsonContainerTrait;
    1 + if let Some(a) = v.as_array() {
        a.iter().map(sonic).sum()
    } else if let Some(o) = v.as_object() {
        o.iter().map(|(_, v)| sonic(v)).sum()
    } else {
        0
    }
}

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: json-parsers FILE...");
        std::process::exit(2);
    }
    println!("| file | reader | best of 5 (s) | MB/s | values |");
    println!("|---|---|---:|---:|---:|");
    for f in files {
        let data = std::fs::read(&f).expect("readable file");
        // Strict JSON only: the other readers take no NaN or Infinity tokens.
        let lines: Vec<&[u8]> = data
            .split(|&c| c == b'\n')
            .filter(|l| !l.is_empty() && json::parse(l, false).is_ok())
            .collect();
        let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
        let mut counts = Vec::new();
        let mut run = |name: &str, parse: &mut dyn FnMut() -> usize| {
            let mut best = f64::INFINITY;
            let mut n = 0;
            for _ in 0..5 {
                let t = Instant::now();
                n = parse();
                best = best.min(t.elapsed().as_secs_f64());
            }
            let name_of_file = std::path::Path::new(&f)
                .file_name()
                .unwrap()
                .to_string_lossy();
            println!(
                "| {name_of_file} | {name} | {best:.3} | {:.0} | {n} |",
                bytes as f64 / best / 1e6
            );
            counts.push(n);
        };
        run("ki2fast json.rs (borrowed tree)", &mut || {
            lines
                .iter()
                .map(|l| ours(&json::parse(l, false).expect("JSON").0))
                .sum()
        });
        run("serde_json 1 (Value)", &mut || {
            lines
                .iter()
                .map(|l| serde(&serde_json::from_slice(l).expect("JSON")))
                .sum()
        });
        let mut buf = Vec::new();
        run("simd-json (BorrowedValue)", &mut || {
            lines
                .iter()
                .map(|l| {
                    buf.clear();
                    buf.extend_from_slice(l);
                    simd(&simd_json::to_borrowed_value(&mut buf).expect("JSON"))
                })
                .sum()
        });
        run("sonic-rs (Value)", &mut || {
            lines
                .iter()
                .map(|l| sonic(&sonic_rs::from_slice(l).expect("JSON")))
                .sum()
        });
        assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
    }
}
