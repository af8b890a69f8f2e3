"""The event study over a day's bursts: the stuffing episodes and program bursts of a
generated day with planted program bursts, their returns at 1, 5, 15 and 30 minutes from
the day's prints, and the statistics per kind of event (goal: under 1 s).

    KI2FAST_BENCH_MESSAGES=10000000 KI2FAST_BENCH_DIR=bench-data \\
        pytest benches/bench_study.py --benchmark-json benches/results/study.json
"""

from __future__ import annotations

from pathlib import Path

import pytest

import ki2fast as kf

from .conftest import MESSAGES, run


@pytest.fixture(scope="module")
def day(bench_dir: Path) -> Path:
    path = bench_dir / f"programs-{MESSAGES}.itch"
    if not path.exists():
        kf.synth_itch(path, messages=MESSAGES, symbols=500, seed=3, program_bursts=20)
    return path


@pytest.fixture(scope="module")
def inputs(day: Path):
    r = kf.replay_itch(day, bar_every=None, date="2024-03-01")
    episodes = kf.detect_stuffing(day, date="2024-03-01")
    bursts = kf.detect_program_bursts(day, date="2024-03-01")
    assert r.trades is not None and bursts.height > 0
    return r.trades, episodes, bursts


def test_event_study(benchmark, inputs):
    import polars as pl

    from ki2fast import study
    from ki2fast.prices import price_rows

    trades, episodes, bursts = inputs

    def measure() -> pl.DataFrame:
        rows = price_rows(trades=trades)
        e = study.event_returns(episodes, rows)
        b = study.event_returns(bursts, rows)
        returns = pl.concat(
            [
                e.select(pl.lit("stuffing").alias("kind"), "side", "^ret_.*$"),
                b.select(pl.col("prog_type").alias("kind"), "side", "^ret_.*$"),
            ]
        )
        return study.summarize(returns, by="kind")

    summary = run(benchmark, measure, messages=trades.height, nbytes=trades.estimated_size())
    benchmark.extra_info.update(
        episodes=episodes.height, program_bursts=bursts.height, prints=trades.height
    )
    assert set(summary["kind"]) >= {"stuffing", "BUY", "SELL"}
