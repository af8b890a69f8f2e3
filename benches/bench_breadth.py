"""Breadth over a snapshot day: 390 one-minute snapshots of 11 000 symbols against their
previous closes, counted for 50 lists of 500 weighted members and for all symbols, with the
intraday McClellan series (goal: under 2 s). Sizes shrink with KI2FAST_BENCH_MESSAGES below
10 M (CI runs it small).

    KI2FAST_BENCH_MESSAGES=10000000 pytest benches/bench_breadth.py
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from .conftest import MESSAGES, run

pytest.importorskip("exchange_calendars")

SYMBOLS = max(200, int(11_000 * min(1.0, MESSAGES / 10_000_000)))
SNAPSHOTS, LISTS, MEMBERS = 390, 50, min(500, SYMBOLS)


@pytest.fixture(scope="module")
def day():
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(5)
    names = [f"S{i:05d}" for i in range(SYMBOLS)]
    open_ = dt.datetime(2025, 7, 7, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    closes = pl.DataFrame({"symbol": names, "close": rng.uniform(10, 500, SYMBOLS).round(2)})
    walk = rng.normal(0, 0.002, (SNAPSHOTS, SYMBOLS)).cumsum(axis=0)
    prices = (closes["close"].to_numpy() * (1 + walk)).round(2)
    snapshots = pl.DataFrame(
        {
            "ts": pl.datetime_range(
                open_, open_ + dt.timedelta(minutes=SNAPSHOTS - 1), "1m", eager=True
            )
            .repeat_by(SYMBOLS)
            .explode(),
            "symbol": names * SNAPSHOTS,
            "close": prices.ravel(),
        }
    )
    lists = {
        f"L{k:02d}": pl.DataFrame(
            {
                "symbol": rng.choice(names, MEMBERS, replace=False).tolist(),
                "weight": rng.dirichlet(np.ones(MEMBERS)),
            }
        )
        for k in range(LISTS)
    }
    return snapshots, closes, lists


def test_breadth_of_a_snapshot_day(benchmark, day):
    from ki2fast import breadth

    snapshots, closes, lists = day

    def count():
        moves = breadth.changes(snapshots, closes)
        return breadth.mcclellan(breadth.breadth(moves, lists))

    out = run(benchmark, count, messages=snapshots.height, nbytes=snapshots.estimated_size())
    benchmark.extra_info.update(symbols=SYMBOLS, snapshots=SNAPSHOTS, lists=LISTS)
    assert out.height == (LISTS + 1) * SNAPSHOTS
