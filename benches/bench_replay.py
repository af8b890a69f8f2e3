"""Book replay side by side, one session, same files: ki2fast's fused replay (books + trades +
hourly VWAP + minute bars; by default split across the cores, and in one thread) against
itch-book's book-only pass (`Feed.batches(tables=())`), itchcpp's
`BookManager.process_stream`, and ki2fast's pure-Python reference (book + hourly VWAP, on
the first 1/10 of the shallow day: it runs at well under 1 M msg/s).

Peak resident memory is measured per peer in a fresh process (VmHWM).

    KI2FAST_BENCH_MESSAGES=10000000 KI2FAST_BENCH_DIR=bench-data \\
        pytest benches/bench_replay.py --benchmark-json benches/results/replay.json
"""

from __future__ import annotations

import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ki2fast as kf
from ki2fast import reference

from .conftest import MESSAGES, ROUNDS, _day, run

DATE = dt.date(2024, 3, 1)

_HWM = (
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)

_PEERS = {
    "ki2fast": "import ki2fast as kf\nr = kf.replay_itch(path)\nassert r.bars is not None\n",
    "ki2fast_1thread": (
        "import ki2fast as kf\nr = kf.replay_itch(path, threads=1)\nassert r.bars is not None\n"
    ),
    "ki2fast_books": (
        "import ki2fast as kf\nr = kf.replay_itch(path, trades=False, bar_every=None)\n"
        "assert r.trades is None\n"
    ),
    "itch_book_trades": (
        "import datetime, itch_book\n"
        "f = itch_book.Feed(path, date=datetime.date(2024, 3, 1))\n"
        "kept = [b.trades for b in f.batches(tables=('trades',))]\n"
    ),
    "itch_book": (
        "import datetime, itch_book\n"
        "f = itch_book.Feed(path, date=datetime.date(2024, 3, 1))\n"
        "for _ in f.batches(tables=()): pass\n"
    ),
    "itchcpp": (
        "from itchcpp.book import BookManager\n"
        "data = open(path, 'rb').read()\nBookManager().process_stream(data)\n"
    ),
}


@pytest.fixture(scope="session")
def deep(bench_dir: Path) -> Path:
    """About 5 000 symbols and a few hundred thousand resting orders: the deep day."""
    return _day(bench_dir, f"deep-{MESSAGES}.itch", symbols=5000, depth=63)


@pytest.fixture(scope="session")
def shallow_raw(shallow: Path) -> Path:
    return shallow


def _peak_rss_mb(peer: str, path: Path) -> float:
    code = _HWM + f"path = {str(path)!r}\n" + _PEERS[peer] + "print(hwm())\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def _messages(path: Path) -> int:
    return sum(v for k, v in kf.count_itch(path).items() if not k.startswith("unknown"))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_ki2fast(benchmark, request, day):
    path = request.getfixturevalue(day)
    n = _messages(path)
    r = run(benchmark, lambda: kf.replay_itch(path), messages=n, nbytes=path.stat().st_size)
    assert r.stats["unknown_ref"] == 0 and r.bars is not None and r.trades is not None
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("ki2fast", path))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_ki2fast_one_thread(benchmark, request, day):
    """The same replay in one thread (the default splits the books across the cores)."""
    path = request.getfixturevalue(day)
    n = _messages(path)
    r = run(
        benchmark,
        lambda: kf.replay_itch(path, threads=1),
        messages=n,
        nbytes=path.stat().st_size,
    )
    assert r.stats["unknown_ref"] == 0 and r.bars is not None
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("ki2fast_1thread", path))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_ki2fast_books_only(benchmark, request, day):
    """The like-for-like row for the peers' book-only passes: books, hourly VWAP and the
    integrity counters, no trades table and no bars."""
    path = request.getfixturevalue(day)
    n = _messages(path)
    r = run(
        benchmark,
        lambda: kf.replay_itch(path, trades=False, bar_every=None),
        messages=n,
        nbytes=path.stat().st_size,
    )
    assert r.stats["unknown_ref"] == 0 and r.trades is None
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("ki2fast_books", path))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_peer_itch_book_trades(benchmark, request, day):
    """itch-book with its trades table, every batch kept: the peer's nearest match to a
    replay that returns its trades."""
    itch_book = pytest.importorskip("itch_book")
    path = request.getfixturevalue(day)
    n = _messages(path)

    def replay() -> int:
        feed = itch_book.Feed(str(path), date=DATE)
        kept = [b.trades for b in feed.batches(tables=("trades",))]
        return sum(len(next(iter(t.values()))) for t in kept)

    rows = run(benchmark, replay, messages=n, nbytes=path.stat().st_size)
    assert rows > 0
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("itch_book_trades", path))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_peer_itch_book(benchmark, request, day):
    itch_book = pytest.importorskip("itch_book")
    path = request.getfixturevalue(day)
    n = _messages(path)

    def replay() -> dict:
        feed = itch_book.Feed(str(path), date=DATE)
        for _ in feed.batches(tables=()):
            pass
        assert feed.stats is not None
        return feed.stats

    stats = run(benchmark, replay, messages=n, nbytes=path.stat().st_size)
    assert stats["messages"] == n and stats["missing_ref"] == 0
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("itch_book", path))


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_peer_itchcpp(benchmark, request, day):
    book = pytest.importorskip("itchcpp.book")
    path = request.getfixturevalue(day)
    n = _messages(path)

    def replay() -> int:
        manager = book.BookManager()
        manager.process_stream(path.read_bytes())
        return int(manager.book_count())

    books = run(benchmark, replay, messages=n, nbytes=path.stat().st_size, rounds=1)
    assert books > 0
    benchmark.extra_info.update(day=day, peak_rss_mb=_peak_rss_mb("itchcpp", path))


def test_replay_reference_python(benchmark, shallow):
    data = shallow.read_bytes()
    offsets = [at for at, _ in reference.frames(data[: len(data) // 10], allow_truncated=True)]
    part = data[: offsets[-1]]
    n = len(offsets) - 1
    rows, _ = run(benchmark, lambda: reference.replay(part), messages=n, nbytes=len(part), rounds=1)
    assert rows
    benchmark.extra_info.update(day="shallow_raw (first tenth)")


# Wall time on a shared VM drifts by tens of percent between minutes, so a ratio of two
# benchmarks timed minutes apart can be off by as much. The goals are ratios: these tests time
# ki2fast and the peer alternately, pair by pair (ABBA order), and report the median of the
# per-pair ratios, which drift between pairs does not bias.


def _seconds(fn) -> float:
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    del out
    return elapsed


def _paired(benchmark, ours, theirs, pairs: int) -> dict:
    """Times `ours` and `theirs` alternately `pairs` times after one untimed run of each;
    returns the per-pair speed-ups (their time / ours) and their median."""
    ratios: list[float] = []

    def loop() -> None:
        ours(), theirs()
        for k in range(pairs):
            if k % 2 == 0:
                t_ours, t_theirs = _seconds(ours), _seconds(theirs)
            else:
                t_theirs, t_ours = _seconds(theirs), _seconds(ours)
            ratios.append(t_theirs / t_ours)

    benchmark.pedantic(loop, rounds=1, iterations=1, warmup_rounds=0)
    return {"ratios": [round(r, 3) for r in ratios], "median_ratio": statistics.median(ratios)}


@pytest.mark.parametrize("day", ["shallow_raw", "deep"])
def test_replay_paired_with_itch_book(benchmark, request, day):
    """The full replay (default threads) against itch-book's book-only pass, alternately."""
    itch_book = pytest.importorskip("itch_book")
    path = request.getfixturevalue(day)

    def theirs() -> None:
        for _ in itch_book.Feed(str(path), date=DATE).batches(tables=()):
            pass

    info = _paired(benchmark, lambda: kf.replay_itch(path), theirs, max(ROUNDS, 2))
    benchmark.extra_info.update(day=day, vs="itch_book books only", **info)
    assert len(info["ratios"]) == max(ROUNDS, 2)


def test_replay_paired_with_reference(benchmark, shallow):
    """The full replay and the pure-Python reference on the first tenth of the shallow day,
    alternately (the reference replays books and the hourly report, no bars)."""
    data = shallow.read_bytes()
    offsets = [at for at, _ in reference.frames(data[: len(data) // 10], allow_truncated=True)]
    part = data[: offsets[-1]]
    info = _paired(benchmark, lambda: kf.replay_itch(part), lambda: reference.replay(part), 3)
    benchmark.extra_info.update(day="shallow_raw (first tenth)", vs="reference", **info)
    assert len(info["ratios"]) == 3
