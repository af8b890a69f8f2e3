"""Activity windows and stuffing detection on the shallow day, in one session: the full
replay without and with activity windows of a second and a minute fused in (the goal: at
most 10 % more),
the default `micro` rule straight from ITCH, and the window rules over a day of activity
records (the goal: under a second).

    KI2FAST_BENCH_MESSAGES=10000000 KI2FAST_BENCH_DIR=bench-data \\
        pytest benches/bench_detect.py --benchmark-json benches/results/detect.json
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import ki2fast as kf

from .conftest import run

DATE = dt.date(2024, 3, 1)


def _messages(path: Path) -> int:
    return sum(v for k, v in kf.count_itch(path).items() if not k.startswith("unknown"))


def test_replay_without_activity(benchmark, shallow):
    n = _messages(shallow)
    r = run(
        benchmark,
        lambda: kf.replay_itch(shallow, date=DATE),
        messages=n,
        nbytes=shallow.stat().st_size,
    )
    assert r.activity is None


@pytest.mark.parametrize("window", ["1s", "1m"])
def test_replay_with_activity(benchmark, shallow, window):
    n = _messages(shallow)
    r = run(
        benchmark,
        lambda: kf.replay_itch(shallow, date=DATE, activity_window=window),
        messages=n,
        nbytes=shallow.stat().st_size,
    )
    assert r.activity is not None and r.activity.height > 0
    benchmark.extra_info.update(activity_rows=r.activity.height)


def test_detect_micro_from_itch(benchmark, shallow):
    n = _messages(shallow)
    e = run(
        benchmark,
        lambda: kf.detect_stuffing(shallow, date=DATE),
        messages=n,
        nbytes=shallow.stat().st_size,
    )
    assert e.height > 0


@pytest.fixture(scope="module")
def day_activity(shallow):
    return {
        "1m": kf.quote_activity(shallow, window="1m", date=DATE),
        "1s": kf.quote_activity(shallow, window="1s", date=DATE),
    }


@pytest.mark.parametrize("preset", ["zscore", "zscore_robust", "otr"])
def test_window_rules_over_a_day_of_activity(benchmark, day_activity, preset):
    rule = kf.detect.PRESETS[preset]
    activity = day_activity["1s" if rule.window == 10**9 else "1m"]
    run(
        benchmark,
        lambda: kf.detect_stuffing(activity, preset=preset),
        messages=activity.height,
        nbytes=activity.estimated_size(),
    )
    benchmark.extra_info.update(activity_rows=activity.height)
