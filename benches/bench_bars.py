"""Bars from tables, as a feed other than ITCH gets them: the trades and top-of-book tables of
the shallow day's replay handed to ``kf.bars`` (the core's fold) and to the column-wise polars
reading it is tested against (``tests/bars_reference.py``, what ``kf.bars`` was before).

    KI2FAST_BENCH_MESSAGES=10000000 KI2FAST_BENCH_DIR=bench-data \\
        pytest benches/bench_bars.py --benchmark-json benches/results/bars.json
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ki2fast as kf

from .conftest import run


@pytest.fixture(scope="module")
def tables(shallow: Path):
    r = kf.replay_itch(shallow, bbo=True, bar_every=None)
    assert r.trades is not None and r.bbo is not None
    return r.trades, r.bbo


def test_bars_from_tables(benchmark, tables):
    trades, quotes = tables
    out = run(
        benchmark,
        lambda: kf.bars(trades, quotes, every="1m"),
        messages=trades.height + quotes.height,
        nbytes=trades.estimated_size() + quotes.estimated_size(),
    )
    assert out["volume"].sum() > 0


def test_bars_from_tables_reference(benchmark, tables):
    from tests import bars_reference

    trades, quotes = tables
    out = run(
        benchmark,
        lambda: bars_reference.bars(trades, quotes, every="1m"),
        messages=trades.height + quotes.height,
        nbytes=trades.estimated_size() + quotes.estimated_size(),
    )
    assert out["volume"].sum() > 0
