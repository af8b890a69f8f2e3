"""The event study against a brute-force loop: returns after each event from prices no later
than each horizon, the group statistics, and the race of buy and sell programs."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ki2fast import study

ET = ZoneInfo("America/New_York")
T0 = dt.datetime(2025, 3, 14, 10, 0, tzinfo=ET)
SYMBOLS = ["A", "B", "C"]


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@st.composite
def days(draw: st.DrawFn):
    minute = st.integers(0, 40).map(float) | st.floats(0, 40, allow_nan=False)
    trades = [
        {
            "ts": at(draw(minute)),
            "stock": draw(st.sampled_from(SYMBOLS)),
            "price": draw(st.integers(80, 120)) / 4,
            "shares": 100,
        }
        for _ in range(draw(st.integers(1, 40)))
    ]
    events = [
        {"start": at(draw(minute)), "stock": draw(st.sampled_from(SYMBOLS)), "rule": "micro"}
        for _ in range(draw(st.integers(1, 10)))
    ]
    t_schema = {
        "ts": pl.Datetime("us", "America/New_York"),
        "stock": pl.String,
        "price": pl.Float64,
        "shares": pl.Int64,
    }
    e_schema = {
        "start": pl.Datetime("us", "America/New_York"),
        "stock": pl.String,
        "rule": pl.String,
    }
    return pl.DataFrame(trades, schema=t_schema), pl.DataFrame(events, schema=e_schema)


def last_at(trades: list[dict], sym: str, t: dt.datetime) -> float | None:
    best = None
    for r in trades:
        if r["stock"] == sym and r["ts"] <= t and (best is None or r["ts"] >= best["ts"]):
            best = r
    return None if best is None else best["price"]


@settings(max_examples=150, deadline=None)
@given(days())
def test_returns_are_the_brute_force_ones_and_never_look_ahead(case):
    trades, events = case
    got = study.event_returns(events, trades=trades, horizons=["1m", "5m"])
    rows = trades.to_dicts()
    for e, g in zip(events.to_dicts(), got.to_dicts(), strict=True):
        entry = last_at(rows, e["stock"], e["start"])
        assert g["entry"] == entry
        for label, minutes in (("1m", 1), ("5m", 5)):
            exit_ = last_at(rows, e["stock"], e["start"] + dt.timedelta(minutes=minutes))
            want = None if entry is None or exit_ is None else exit_ / entry - 1
            assert (
                g[f"ret_{label}"] == pytest.approx(want)
                if want is not None
                else g[f"ret_{label}"] is None
            )
        assert g["last_time"] is None or g["last_time"] <= e["start"]


def test_by_hand_programs_baskets_and_the_race():
    trades = pl.DataFrame(
        {
            "ts": [at(0), at(0), at(1), at(1), at(5), at(5)],
            "stock": ["A", "B", "A", "B", "A", "B"],
            "price": [10.0, 20.0, 11.0, 19.0, 12.0, 22.0],
            "shares": [1] * 6,
        }
    )
    member = pl.Struct({"symbol": pl.String, "dollars": pl.Float64})
    bursts = pl.DataFrame(
        {
            "burst_id": [1, 2, 3],
            "start": [at(0), at(0.5), at(2)],
            "prog_type": ["BUY", "SELL", "SELL"],
            "symbols": [
                [{"symbol": "A", "dollars": 300.0}, {"symbol": "B", "dollars": 100.0}],
                [{"symbol": "B", "dollars": 50.0}],
                [{"symbol": "A", "dollars": 10.0}],
            ],
        },
        schema_overrides={"symbols": pl.List(member)},
    )
    r = study.event_returns(bursts, trades=trades, horizons=["1m", "5m"])
    assert r.select("burst_id", "symbol", "entry", "side").rows() == [
        (1, "A", 10.0, 1),
        (1, "B", 20.0, 1),
        (2, "B", 20.0, -1),
        (3, "A", 11.0, -1),
    ]
    assert r["ret_1m"].to_list() == pytest.approx([0.1, -0.05, -0.05, 0.0])
    baskets = study.basket_returns(r)
    # Burst 1 after a minute: A +10 %, B −5 %; equal −> 2.5 %, by dollars (300, 100) −> 6.25 %.
    one = baskets.row(0, named=True)
    assert one["ret_1m_equal"] == pytest.approx(0.025)
    assert one["ret_1m_dollar"] == pytest.approx(0.0625)
    s = study.summarize(r, by="prog_type", resamples=200)
    buy = s.filter((pl.col("prog_type") == "BUY") & (pl.col("horizon") == "1m")).row(0, named=True)
    assert buy["count"] == 2 and buy["mean"] == pytest.approx(0.025)
    assert buy["median"] == pytest.approx(statistics.median([0.1, -0.05]))
    assert buy["hit_rate"] == 0.5  # A rose after a buy program, B fell
    sell = s.filter((pl.col("prog_type") == "SELL") & (pl.col("horizon") == "1m")).row(
        0, named=True
    )
    assert sell["hit_rate"] == 0.5  # B fell after a sell program (a hit), A was flat
    assert buy["ci_low"] <= buy["mean"] <= buy["ci_high"]
    race = study.program_race(bursts)
    assert race.select("buys", "sells", "lead", "cross").rows() == [
        (1, 0, "buy", False),
        (1, 1, "even", False),
        (1, 2, "sell", True),
    ]


def test_summary_statistics_are_the_textbook_ones():
    r = pl.DataFrame({"ret_1m": [0.01, -0.02, 0.03, None], "side": [0, 0, 0, 0]})
    s = study.summarize(r, resamples=2000, seed=1).row(0, named=True)
    assert s["count"] == 3
    assert s["mean"] == pytest.approx(statistics.mean([0.01, -0.02, 0.03]))
    assert s["hit_rate"] == pytest.approx(2 / 3)
    # The bootstrap interval of a mean of three values lies within their range.
    assert -0.02 <= s["ci_low"] < s["mean"] < s["ci_high"] <= 0.03
    assert not math.isnan(s["ci_low"])


def test_the_study_command_on_the_program_burst_sample(tmp_path, capsys):
    from pathlib import Path

    from ki2fast.cli import main

    day = Path(__file__).resolve().parents[1] / "data" / "samples" / "03042024.NASDAQ_ITCH50.gz"
    assert main(["study", "itch", str(day), "--out", str(tmp_path), "--horizons", "1m,5m"]) == 0
    out = capsys.readouterr().out
    assert "26 episodes, 2 program bursts" in out
    summary = pl.read_parquet(tmp_path / "summary.parquet")
    assert set(summary["kind"]) == {"stuffing", "program BUY", "program SELL"}
    assert set(summary["horizon"]) == {"1m", "5m"}
    counts = dict(summary.filter(pl.col("horizon") == "1m").select("kind", "count").rows())
    assert counts == {"stuffing": 26, "program BUY": 12, "program SELL": 12}
    baskets = pl.read_parquet(tmp_path / "baskets.parquet")
    assert baskets["members"].to_list() == [12, 12]
    assert pl.read_parquet(tmp_path / "program_race.parquet")["lead"].to_list() == ["buy", "even"]
    assert main(["study", "csv", str(day), "--out", str(tmp_path)]) == 1


def test_the_study_command_from_the_archive(tmp_path, sample_archive):
    """The Burst Monitor's bursts and hft1 reports of a day, priced by the Schwab capture in
    the same archive."""
    from ki2fast.cli import main

    archive = sample_archive
    out = tmp_path / "study"
    argv = ["study", str(archive), "--date", "2025-03-14", "--out", str(out), "--horizons", "1m"]
    assert main(argv) == 0
    returns = pl.read_parquet(out / "returns.parquet")
    # Three bursts: 09:35:12 (AAPL, QQQ, SPY), 09:40:03 (NVDA), 10:15:07 (no symbol file);
    # three hft1 reports. NVDA has no price in the capture, so no return.
    kinds = returns.group_by("kind").len().sort("kind").rows()
    assert kinds == [("burst monitor BUY", 4), ("burst monitor SELL", 1), ("hft1", 3)]
    spy = returns.filter((pl.col("kind") == "hft1") & (pl.col("symbol") == "SPY"))
    assert spy["ret_1m"][0] is not None
    assert main(["study", str(archive), "--out", str(out)]) == 1  # no --date
