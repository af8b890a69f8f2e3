"""A day's burst charts: the 50 symbols with the most bursts of the shallow day, from its
replay's trades and one-second activity, and the day page (goal: under 10 s for all 50).

    KI2FAST_BENCH_MESSAGES=10000000 KI2FAST_BENCH_DIR=bench-data \\
        pytest benches/bench_charts.py --benchmark-json benches/results/charts.json
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

import ki2fast as kf

from .conftest import run

pytest.importorskip("bokeh")

DAY = dt.date(2024, 3, 1)


@pytest.fixture(scope="module")
def inputs(shallow: Path):
    r = kf.replay_itch(shallow, date=DAY, bar_every=None, activity_window="1s")
    assert r.trades is not None and r.activity is not None
    bursts = kf.detect_program_bursts(r.activity, member="relative", min_symbols=5)
    episodes = kf.detect_stuffing(r.activity, preset="zscore")
    return r.trades, r.activity, bursts, episodes


@pytest.mark.parametrize("js", ["shared", "inline"])
def test_a_days_charts(benchmark, inputs, tmp_path, js):
    from ki2fast import charts

    trades, activity, bursts, episodes = inputs
    out = tmp_path / js

    def draw() -> Path:
        shutil.rmtree(out, ignore_errors=True)
        data = charts.BurstDay.build(
            DAY, trades, activity=activity, bursts=bursts, episodes=episodes
        )
        return charts.burst_charts(data, out, top=50, js=js)

    index = run(benchmark, draw, messages=trades.height, nbytes=trades.estimated_size())
    files = list(index.parent.iterdir())
    pages = [p for p in files if p.name != "index.html" and p.suffix == ".html"]
    benchmark.extra_info.update(
        charts=len(pages),
        total_mb=sum(p.stat().st_size for p in files) / 1e6,
        chart_kb_median=sorted(p.stat().st_size for p in pages)[len(pages) // 2] / 1e3,
    )
    assert len(pages) == min(50, trades["stock"].n_unique())


def test_a_live_update_after_a_day(benchmark, inputs, tmp_path):
    """What ``--charts`` costs while a capture runs: the day so far is charted, then a batch
    of prints for one symbol arrives and the charts are redrawn. Only that symbol's chart and
    the day page are written again."""
    import polars as pl

    from ki2fast import charts

    trades, _, _, episodes = inputs
    live = charts.LiveCharts(tmp_path / "live", every=0)
    day = trades.with_columns(pl.col("stock").cast(pl.String))
    live.add(trades=day, episodes=episodes)
    live.redraw(force=True)
    busiest = day.group_by("stock").len().sort("len")["stock"][-1]
    batch = day.filter(pl.col("stock") == busiest).tail(10)

    def update() -> list:
        live.add(trades=batch)
        return live.redraw(force=True)

    drawn = run(benchmark, update, messages=batch.height, nbytes=batch.estimated_size())
    assert [p.name for p in drawn] == [f"20240301_{busiest}.html"]
    benchmark.extra_info.update(
        day_prints=day.height, symbols=day["stock"].n_unique(), symbol_prints=day.filter(
            pl.col("stock") == busiest).height
    )  # fmt: skip
