"""Live level-one decoding of a Schwab streamer journal, side by side in one run: the whole
journal day read at once (``read_levelone``), and ``LiveLevelOne`` batches of 10 000 and
1 000 lines (each batch read behind the carried state of every symbol). The ratio is what
decoding while streaming costs over decoding the day at the end.

    KI2FAST_BENCH_MESSAGES=10000000 pytest benches/bench_live.py --benchmark-json=live.json

The journal holds the level-one capture of bench_schwab (MESSAGES / 25 frames).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ki2fast.feeds import schwab
from ki2fast.feeds.journal import Journal, journal_parts
from ki2fast.feeds.schwab.live import LiveLevelOne

from .bench_schwab import LINES, write_capture
from .conftest import run

DAY_NS = 1741959300 * 10**9  # 2025-03-14, 09:35 ET


@pytest.fixture(scope="module")
def journal_root(bench_dir: Path) -> Path:
    root = bench_dir / f"live-journal-{LINES}"
    if not root.exists():
        capture = bench_dir / f"levelone-{LINES}.ndjson"
        if not capture.exists():
            write_capture(capture, LINES)
        tmp = root.with_name(root.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        clock = iter(range(DAY_NS, DAY_NS + 10**15, 1000))
        with (
            Journal(tmp, "schwab", "streamer", durability="os", clock_ns=lambda: next(clock)) as j,
            open(capture, "rb") as f,
        ):
            for line in f:
                # The capture's lines are bare data items; the streamer journals frames.
                j.text(b'{"data":[' + line.rstrip(b"\n") + b"]}", epoch=1)
        os.replace(tmp, root)
    return root


def _day_bytes(root: Path) -> bytes:
    (day,) = (root / "journal" / "schwab").iterdir()
    return b"".join(p.read_bytes() for _, p in journal_parts(day, "streamer"))


def _live(root: Path, tmp: Path, batch_lines: int) -> int:
    """Every batch of the journal under ``root``, decoded as the capture would."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    live = LiveLevelOne(tmp, batch_lines=batch_lines)  # started before the journal "grew"
    os.symlink(root / "journal", tmp / "journal")
    rows = 0
    while True:
        rows += sum(b.data.equities.num_rows for b in live.poll(final=True))
        if not live.behind:
            return rows


def test_whole_day(benchmark, journal_root):
    data = _day_bytes(journal_root)
    r = run(benchmark, lambda: schwab.read_levelone(data), messages=LINES, nbytes=len(data))
    assert r.equities.num_rows > LINES


@pytest.mark.parametrize("batch_lines", [10_000, 1_000])
def test_live_batches(benchmark, journal_root, tmp_path, batch_lines):
    nbytes = len(_day_bytes(journal_root))
    want = schwab.read_levelone(_day_bytes(journal_root)).equities.num_rows
    rows = run(
        benchmark,
        lambda: _live(journal_root, tmp_path / "live", batch_lines),
        messages=LINES,
        nbytes=nbytes,
    )
    assert rows == want
