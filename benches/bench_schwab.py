"""Schwab level-one NDJSON, side by side in one run: ki2fast's ``read_levelone`` (deltas,
forward-filled state, quotes, trades; both passes in the Rust core), the reference reading
in Python the tests hold it against (``tests/schwab_reference.py``), the plain ``json`` +
Python loop users write (the forward-filled state as rows), and ``polars.read_ndjson``
(parsing only: no forward-fill, no label mapping; the floor of what a JSON reader costs).

    KI2FAST_BENCH_MESSAGES=10000000 pytest benches/bench_schwab.py --benchmark-json=schwab.json

The capture has MESSAGES / 25 lines (400 000 lines, about 116 MB, at the default size).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ki2fast.feeds import schwab
from ki2fast.feeds.schwab._fields import EQUITY_FIELDS

from .conftest import MESSAGES, run

LINES = max(MESSAGES // 25, 1000)
#: schwab-py's labels of the fields the capture uses, by numeric id.
LABELS = {str(i): label for i, label, _ in EQUITY_FIELDS if i in (1, 2, 3, 4, 5, 8, 9, 33, 34, 35)}


def write_capture(path: Path, lines: int, seed: int = 1) -> None:
    """Relabelled data items, one to three symbols each, a few fields per update."""
    rng = random.Random(seed)
    symbols = ["QQQ", "SPY", "AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "META", "IWM", "AMD"]
    ts = 1741959000000
    volume = dict.fromkeys(symbols, 1_000_000)
    with open(path, "w") as f:
        base = [
            {"key": s, "delayed": False, "assetMainType": "EQUITY", "8": volume[s]} for s in symbols
        ]
        f.write(
            json.dumps({"service": "LEVELONE_EQUITIES", "timestamp": ts, "content": base}) + "\n"
        )
        for _ in range(lines):
            ts += rng.randrange(1, 20)
            content = []
            for s in rng.sample(symbols, rng.randrange(1, 4)):
                item: dict[str, object] = {"key": s}
                for fid in rng.sample(["1", "2", "4", "5", "33", "34"], rng.randrange(1, 5)):
                    if fid in ("1", "2", "33"):
                        item[fid] = round(100 + rng.random(), 2)
                    else:
                        item[fid] = ts if fid == "34" else rng.randrange(1, 50)
                if rng.random() < 0.3:
                    size = rng.randrange(1, 500)
                    volume[s] += size
                    item.update(
                        {"3": round(100 + rng.random(), 2), "8": volume[s], "9": size, "35": ts}
                    )
                content.append({LABELS.get(k, k): v for k, v in item.items()})
            f.write(
                json.dumps({"service": "LEVELONE_EQUITIES", "timestamp": ts, "content": content})
                + "\n"
            )


@pytest.fixture(scope="module")
def capture(bench_dir: Path) -> Path:
    path = bench_dir / f"levelone-{LINES}.ndjson"
    if not path.exists():
        write_capture(path, LINES)
    return path


def json_loop(path: Path):
    """What a notebook does: json.loads per line, a dict of state per symbol, one row each."""
    import polars as pl

    names = {v: k for k, v in LABELS.items()}
    state: dict[str, dict[str, object]] = {}
    rows = []
    with open(path, "rb") as f:
        for line in f:
            msg = json.loads(line)
            for item in msg["content"]:
                key = item["key"]
                if "delayed" in item or key not in state:
                    state[key] = {}
                s = state[key]
                for k, v in item.items():
                    if k != "key":
                        s[names.get(k, k)] = v
                rows.append({"ts": msg["timestamp"], "key": key, **s})
    return pl.DataFrame(rows, infer_schema_length=None)


def test_read_levelone(benchmark, capture):
    r = run(
        benchmark,
        lambda: schwab.read_levelone(capture),
        messages=LINES,
        nbytes=capture.stat().st_size,
    )
    assert r.bad_lines == [] and r.equities.num_rows > LINES


def test_read_levelone_reference(benchmark, capture):
    """The reference reading in Python (every line, and the forward-fill in numpy) that the
    tests hold the core against."""
    from tests import schwab_reference

    r = run(
        benchmark,
        lambda: schwab_reference.read_levelone(capture),
        messages=LINES,
        nbytes=capture.stat().st_size,
    )
    assert r.bad_lines == [] and r.equities.num_rows > LINES


def test_json_python_loop(benchmark, capture):
    df = run(benchmark, lambda: json_loop(capture), messages=LINES, nbytes=capture.stat().st_size)
    assert df.height > LINES


def test_polars_read_ndjson_parse_only(benchmark, capture):
    import polars as pl

    df = run(
        benchmark, lambda: pl.read_ndjson(capture), messages=LINES, nbytes=capture.stat().st_size
    )
    assert df.height == LINES + 1


def test_state_agrees_with_the_json_loop(capture):
    r = schwab.read_levelone(capture)
    loop = json_loop(capture)
    assert r.equities.column("bid_price").to_pylist() == loop["1"].to_list()
    assert r.equities.column("total_volume").to_pylist() == loop["8"].to_list()


# -- book services ---------------------------------------------------------------------------
#: Book frames: two symbols' snapshots each, ten levels a side, two market makers a level
#: (80 rows a line).
BOOK_LINES = max(LINES // 10, 200)


def write_book_capture(path: Path, lines: int, seed: int = 2) -> None:
    rng = random.Random(seed)
    ts = 1741959000000
    with open(path, "w") as f:
        for _ in range(lines):
            ts += rng.randrange(1, 200)
            content = []
            for key in rng.sample(["QQQ", "SPY", "AAPL", "MSFT"], 2):
                sides = {}
                for side, sign in (("2", -1), ("3", 1)):
                    sides[side] = [
                        {
                            "0": round(480 + sign * (0.01 * lv + rng.random() / 100), 2),
                            "1": rng.randrange(100, 5000),
                            "2": 2,
                            "3": [
                                {"0": mm, "1": rng.randrange(100, 2500), "2": 34_500_000 + lv}
                                for mm in rng.sample(["NSDQ", "ARCX", "EDGX", "BATS"], 2)
                            ],
                        }
                        for lv in range(10)
                    ]
                content.append({"key": key, "1": ts - 5, **sides})
            frame = {"service": "NASDAQ_BOOK", "timestamp": ts, "content": content}
            f.write(json.dumps({"data": [frame]}) + "\n")


@pytest.fixture(scope="module")
def book_capture(bench_dir: Path) -> Path:
    path = bench_dir / f"book-{BOOK_LINES}.ndjson"
    if not path.exists():
        write_book_capture(path, BOOK_LINES)
    return path


def test_read_book(benchmark, book_capture):
    r = run(
        benchmark,
        lambda: schwab.read_book(book_capture),
        messages=BOOK_LINES,
        nbytes=book_capture.stat().st_size,
    )
    assert r.bad_lines == [] and r.levels.num_rows == BOOK_LINES * 80


def test_read_book_reference(benchmark, book_capture):
    """The reference reading in Python, row by row (the package's reader before the core
    read book services)."""
    from tests import schwab_book_reference

    r = run(
        benchmark,
        lambda: schwab_book_reference.read_book(book_capture),
        messages=BOOK_LINES,
        nbytes=book_capture.stat().st_size,
    )
    assert r.bad_lines == [] and r.levels.num_rows == BOOK_LINES * 80
