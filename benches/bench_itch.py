"""ITCH 5.0 parsing, side by side in one run: ki2fast (count, read, stream, gzip), the
inflate-only baseline, ki2fast's pure-Python reference, and the parsers on PyPI (itchcpp,
itchfeed, meatpy) on the same generated day.

    KI2FAST_BENCH_MESSAGES=10000000 pytest benches/bench_itch.py --benchmark-json=bench.json
    python benches/report.py bench.json

Each benchmark runs as a test too (CI: a small day, one round). Peers that are not installed
are skipped; install them with ``pip install .[bench]``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest

import ki2fast as kf
from ki2fast import reference

from .conftest import MESSAGES, ROUNDS, run


def total(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if not k.startswith("unknown"))


@pytest.fixture(scope="module")
def n_messages(shallow):
    return total(kf.count_itch(shallow))


def test_count_itch(benchmark, shallow, n_messages):
    counts = run(
        benchmark,
        lambda: kf.count_itch(shallow),
        messages=n_messages,
        nbytes=shallow.stat().st_size,
    )
    assert total(counts) == n_messages


def test_read_itch(benchmark, shallow, n_messages):
    tables = run(
        benchmark, lambda: kf.read_itch(shallow), messages=n_messages, nbytes=shallow.stat().st_size
    )
    assert sum(t.num_rows for t in tables.values()) == n_messages


def test_read_order_events(benchmark, shallow, n_messages):
    table = run(
        benchmark,
        lambda: kf.read_order_events(shallow),
        messages=n_messages,
        nbytes=shallow.stat().st_size,
    )
    assert table.num_rows > 0


def _stream(path) -> int:
    return sum(batch.num_rows for _, batch in kf.iter_itch(path))


def test_iter_itch(benchmark, shallow, n_messages):
    rows = run(
        benchmark, lambda: _stream(shallow), messages=n_messages, nbytes=shallow.stat().st_size
    )
    assert rows == n_messages
    # Peak resident memory of a fresh process that streams the whole day. VmHWM, not
    # ru_maxrss: Linux carries ru_maxrss over from the (large) forking parent across exec.
    hwm = (
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
    )
    code = hwm + (
        "import sys, ki2fast as kf\n"
        "n = sum(b.num_rows for _, b in kf.iter_itch(sys.argv[1]))\n"
        "print(n, hwm())\n"
    )
    base = hwm + "import ki2fast, pyarrow\nprint(hwm())\n"
    out = subprocess.run(
        [sys.executable, "-c", code, str(shallow)], capture_output=True, text=True, check=True
    ).stdout.split()
    idle = subprocess.run(
        [sys.executable, "-c", base], capture_output=True, text=True, check=True
    ).stdout.split()
    benchmark.extra_info.update(peak_rss_mb=int(out[1]) / 1024, idle_rss_mb=int(idle[0]) / 1024)
    assert int(out[0]) == n_messages


def test_read_itch_gzip(benchmark, shallow_gz, n_messages, shallow):
    tables = run(
        benchmark,
        lambda: kf.read_itch(shallow_gz),
        messages=n_messages,
        nbytes=shallow.stat().st_size,
    )
    assert sum(t.num_rows for t in tables.values()) == n_messages


def test_inflate_only(benchmark, shallow_gz, n_messages, shallow):
    size = run(
        benchmark,
        lambda: kf._core.inflate_len(shallow_gz),
        messages=n_messages,
        nbytes=shallow.stat().st_size,
    )
    assert size == shallow.stat().st_size


def test_reference_python(benchmark, shallow, n_messages):
    columns = run(
        benchmark,
        lambda: reference.decode_columns(shallow),
        messages=n_messages,
        nbytes=shallow.stat().st_size,
        rounds=1,
    )
    assert sum(len(c["timestamp"]) for c in columns.values()) == n_messages


def test_synth_itch(benchmark, bench_dir, n_messages):
    out = bench_dir / "synth-bench.itch"
    truth = run(
        benchmark,
        lambda: kf.synth_itch(out, messages=MESSAGES, symbols=500, seed=2, truth=False),
        messages=MESSAGES,
        nbytes=MESSAGES * 31,
    )
    assert abs(truth["summary"]["messages"] - MESSAGES) <= 50


# --- peers (parse-only: one Python object per message) --------------------------------------


def test_peer_itchcpp(benchmark, shallow, n_messages):
    itchcpp = pytest.importorskip("itchcpp")

    def parse() -> int:
        with open(shallow, "rb") as f:
            return sum(1 for _ in itchcpp.MessageParser().parse_file(f, cachesize=1 << 20))

    n = run(benchmark, parse, messages=n_messages, nbytes=shallow.stat().st_size)
    assert n >= n_messages - 1  # stops at S 'C'


def _pure_python_itchfeed():
    """itchfeed switches to itchcpp when that is installed; force its own Python parser."""
    os.environ["ITCH_NO_CPP"] = "1"
    for name in [m for m in sys.modules if m == "itch" or m.startswith("itch.")]:
        del sys.modules[name]
    try:
        parser = importlib.import_module("itch.parser")
    finally:
        os.environ.pop("ITCH_NO_CPP", None)
    assert not importlib.import_module("itch").USING_CPP_BACKEND
    return parser


def test_peer_itchfeed(benchmark, shallow, n_messages):
    pytest.importorskip("itch")
    parser = _pure_python_itchfeed()

    def parse() -> int:
        with open(shallow, "rb") as f:
            return sum(1 for _ in parser.MessageParser().parse_file(f, cachesize=1 << 20))

    n = run(benchmark, parse, messages=n_messages, nbytes=shallow.stat().st_size, rounds=1)
    assert n >= n_messages - 1


def test_peer_meatpy(benchmark, shallow, without_dlcr, n_messages):
    itch50 = pytest.importorskip("meatpy.itch50")
    # meatpy 0.5 reads 'O' as 52 bytes (the spec says 48) and fails on days that have one.
    try:
        sum(1 for _ in itch50.ITCH50MessageReader().read_file(shallow))
        failed = None
    except Exception as e:  # any failure is what we report
        failed = f"{type(e).__name__}: {e}"[:200]
    path = without_dlcr if failed else shallow
    n = run(
        benchmark,
        lambda: sum(1 for _ in itch50.ITCH50MessageReader().read_file(path)),
        messages=n_messages,
        nbytes=path.stat().st_size,
        rounds=1,
    )
    benchmark.extra_info["fails_on_full_day"] = failed
    assert n >= n_messages - 20


def test_report_is_json_serialisable():
    json.dumps({"messages": MESSAGES, "rounds": ROUNDS})
