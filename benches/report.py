"""Turns a pytest-benchmark JSON file from benches/ into the README's table.

python benches/report.py bench.json
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

ROWS = [
    ("test_count_itch", "ki2fast `count_itch` (framing walk)"),
    ("test_read_itch", "ki2fast `read_itch` (all 23 types → Arrow)"),
    ("test_read_order_events", "ki2fast `read_order_events`"),
    ("test_iter_itch", "ki2fast `iter_itch` (streaming, 65 536-row batches)"),
    ("test_read_itch_gzip", "ki2fast `read_itch` on the gzip file"),
    ("test_inflate_only", "inflate only (same gzip file, zlib-rs)"),
    ("test_synth_itch", "ki2fast `synth_itch` (generator, raw)"),
    ("test_peer_itchcpp", "itchcpp 1.6.4 parse (C++, one object per message)"),
    ("test_peer_itchfeed", "itchfeed 1.6.4 parse (pure Python)"),
    ("test_peer_meatpy", "meatpy 0.5.0 parse (pure Python)"),
    ("test_reference_python", "ki2fast pure-Python reference"),
]


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    by_name = {b["name"]: b for b in data["benchmarks"]}
    ref = by_name.get("test_reference_python", {}).get("extra_info", {}).get("msg_per_s")
    read = by_name.get("test_read_itch", {}).get("extra_info", {}).get("msg_per_s")
    any_info = next(iter(by_name.values()))["extra_info"]
    print(
        f"{any_info['messages']:,} messages, {any_info['bytes'] / 1e6:.0f} MB raw; "
        f"{cpu()}, {data['machine_info'].get('cpu', {}).get('count', '?')} cores; "
        f"Python {platform.python_version()}; file in page cache; median of "
        f"{by_name['test_read_itch']['stats']['rounds']} rounds.\n"
    )
    print("| what | M msg/s | MB/s | vs reference | read_itch is × faster |")
    print("|---|---:|---:|---:|---:|")
    for name, label in ROWS:
        b = by_name.get(name)
        if not b:
            continue
        info = b["extra_info"]
        rate = info["msg_per_s"]
        vs_ref = f"{rate / ref:,.0f}×" if ref else "-"
        vs_read = f"{read / rate:.1f}" if read and name.startswith("test_peer") else ""
        note = " (file without `O`: fails on full day)" if info.get("fails_on_full_day") else ""
        print(
            f"| {label}{note} | {rate / 1e6:.2f} | {info['mb_per_s']:.0f} | {vs_ref} | {vs_read} |"
        )
    gz, inflate = by_name.get("test_read_itch_gzip"), by_name.get("test_inflate_only")
    if gz and inflate:
        ratio = inflate["stats"]["median"] / gz["stats"]["median"]
        print(f"\ngzip input runs at {ratio:.2f}× the inflate-only speed.")
    it = by_name.get("test_iter_itch", {}).get("extra_info", {})
    if "peak_rss_mb" in it:
        print(
            f"`iter_itch` over the whole file: peak RSS {it['peak_rss_mb']:.0f} MB "
            f"(an idle interpreter with ki2fast and pyarrow: {it['idle_rss_mb']:.0f} MB)."
        )


if __name__ == "__main__":
    main(sys.argv[1])
