"""HFTAlert hft1 files, side by side in one run: ki2fast's ``read_hft1`` (whole file, typed,
timestamps from the file date), ``HftAlertTail`` catching up on the same file from nothing
(dedup keys, checkpoints written), the ``csv`` module + Python loop users write, and
``polars.read_csv`` (parsing only: no timestamps, no byte offsets, no held-back last line).

    KI2FAST_BENCH_MESSAGES=10000000 pytest benches/bench_hftalert.py --benchmark-json=hft1.json

The file has MESSAGES / 50 lines (200 000 lines, about 7 MB, at the default size).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ki2fast.feeds import hftalert
from ki2fast.feeds.hftalert.tail import HftAlertTail

from .conftest import MESSAGES, run

LINES = max(MESSAGES // 50, 1000)
DAY = "20250314"


@pytest.fixture(scope="module")
def folder(bench_dir: Path) -> Path:
    root = bench_dir / f"hftalert-{LINES}"
    path = root / f"hft1_{DAY}.csv"
    if not path.exists():
        root.mkdir(parents=True, exist_ok=True)
        rng = random.Random(5)
        symbols = [f"S{k:03d}" for k in range(800)]
        with open(path, "wb") as f:
            for k in range(LINES):
                t = 40000 + k * 120000 // LINES  # 04:00:00 to 16:00:00, unpadded before 10:00
                h, m, s = t // 10000, t // 100 % 100, t % 100
                if m > 59 or s > 59:
                    t = h * 10000 + min(m, 59) * 100 + min(s, 59)
                trades = rng.randrange(0, 400)
                f.write(
                    f"{rng.choice(symbols)},0,{t},{rng.randrange(1, 5000)},"
                    f"{rng.randrange(1, 900)},{trades},{trades * rng.randrange(100, 90000)},"
                    "\r\n".encode()
                )
    return root


def csv_loop(path: Path):
    """What a notebook does: the csv module, one dict per row, then a table."""
    import pyarrow as pa

    zone = ZoneInfo("America/New_York")
    day = dt.date(2025, 3, 14)
    rows = []
    with open(path, newline="") as f:
        for rec in csv.reader(f):
            t = rec[2].zfill(6)
            wall = dt.datetime.combine(day, dt.time(int(t[:2]), int(t[2:4]), int(t[4:])), zone)
            trades, dollars = int(rec[5]), int(rec[6])
            rows.append(
                {
                    "event_ts": wall,
                    "symbol": rec[0],
                    "num_quotes": int(rec[3]),
                    "bbo": int(rec[4]),
                    "num_trades": trades,
                    "dollars": dollars,
                    "trade_size": dollars / trades if trades else None,
                }
            )
    return pa.Table.from_pylist(rows)


def test_read_hft1(benchmark, folder):
    path = folder / f"hft1_{DAY}.csv"
    t = run(benchmark, lambda: hftalert.read_hft1(path), messages=LINES, nbytes=path.stat().st_size)
    assert t.num_rows == LINES


def test_tail_catching_up(benchmark, folder, tmp_path):
    path = folder / f"hft1_{DAY}.csv"
    state = tmp_path / "state"
    clock = dt.datetime(2025, 3, 14, 21, 0, tzinfo=dt.UTC).timestamp  # the day is not over

    def catch_up():
        shutil.rmtree(state, ignore_errors=True)
        tail = HftAlertTail(folder, state, clock=lambda: clock())
        polled = tail.poll()
        tail.commit()
        return polled

    polled = run(benchmark, catch_up, messages=LINES, nbytes=path.stat().st_size)
    assert polled.hft1_reports.num_rows == LINES - polled.duplicates


def test_csv_python_loop(benchmark, folder):
    path = folder / f"hft1_{DAY}.csv"
    t = run(benchmark, lambda: csv_loop(path), messages=LINES, nbytes=path.stat().st_size)
    assert t.num_rows == LINES


def test_polars_read_csv_parse_only(benchmark, folder):
    import polars as pl

    path = folder / f"hft1_{DAY}.csv"
    df = run(
        benchmark,
        lambda: pl.read_csv(path, has_header=False),
        messages=LINES,
        nbytes=path.stat().st_size,
    )
    assert df.height == LINES


def test_the_readers_agree(folder):
    path = folder / f"hft1_{DAY}.csv"
    ours = hftalert.read_hft1(path)
    loop = csv_loop(path)
    assert ours.column("event_ts").cast("int64").to_pylist() == [
        int(x.timestamp()) for x in loop.column("event_ts").to_pylist()
    ]
    assert ours.column("trade_size").to_pylist() == loop.column("trade_size").to_pylist()
