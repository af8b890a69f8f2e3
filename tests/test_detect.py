"""Activity records and quote-stuffing episodes (docs/detection.md §2–4): planted bursts found on
generated days, hand-computed cases for each rule, the sliding rule against a brute-force
reading of its definition, and the same results from one thread, two threads and tables."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import ki2fast as kf
from ki2fast.detect import PRESETS, SlidingRule, ZScoreRule, window_episodes

NY = ZoneInfo("America/New_York")
DAY = dt.date(2024, 3, 1)
MIDNIGHT = dt.datetime(2024, 3, 1, tzinfo=NY)
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"


@pytest.fixture(scope="module", params=[3, 11])
def planted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("planted") / f"day{request.param}.itch"
    truth = kf.synth_itch(path, messages=300_000, symbols=150, seed=request.param, bursts=8)
    return path, truth


def _ns(t: Any) -> int:
    """ns since midnight of a zoned datetime or a duration."""
    if isinstance(t, dt.timedelta):
        return (t.days * 86_400 + t.seconds) * 10**9 + t.microseconds * 1000
    return _ns(t - MIDNIGHT)


def _matches(episodes: pl.DataFrame, bursts: list[dict[str, Any]]) -> tuple[float, float]:
    """Precision and recall of docs/detection.md §4.2 (τ = 0), episode bounds from the raw
    ns columns so nothing is lost to microsecond datetimes."""
    eps = episodes.select("locate", "start_timestamp", "end_timestamp").rows()
    hit = [
        any(loc == b["locate"] and e0 <= b["end_ts"] and e1 >= b["start_ts"] for b in bursts)
        for loc, e0, e1 in eps
    ]
    found = [
        any(loc == b["locate"] and e0 <= b["end_ts"] and e1 >= b["start_ts"] for loc, e0, e1 in eps)
        for b in bursts
    ]
    precision = sum(hit) / len(hit) if hit else 1.0
    return precision, sum(found) / len(found)


def test_micro_finds_every_planted_burst_and_flags_no_calm_symbol(planted: Any) -> None:
    path, truth = planted
    episodes = kf.detect_stuffing(path, date=DAY)
    assert truth["bursts"], "the generator planted bursts"
    precision, recall = _matches(episodes, truth["bursts"])
    assert recall == 1.0
    assert precision >= 0.95
    assert set(episodes["stock"]) <= set(truth["stuffers"])
    assert (episodes["rule"] == "micro").all()
    # Each planted burst is one episode holding at least its messages.
    assert episodes.height == len(truth["bursts"])
    by_start = sorted(truth["bursts"], key=lambda b: (b["start_ts"], b["locate"]))
    for row, b in zip(episodes.iter_rows(named=True), by_start, strict=True):
        assert row["stock"] == b["symbol"]
        assert row["num_quotes"] >= b["messages"] * 0.99
        assert row["peak_rate"] >= 200 / 0.025


@pytest.mark.parametrize("preset", ["nanex", "strict", "micro_50ms"])
def test_absolute_presets_catch_every_burst_they_must(planted: Any, preset: str) -> None:
    path, truth = planted
    rule = PRESETS[preset]
    assert isinstance(rule, SlidingRule)
    eligible = [
        b
        for b in truth["bursts"]
        if b["messages"] >= rule.min_msgs and b["end_ts"] - b["start_ts"] < rule.window
    ]
    episodes = kf.detect_stuffing(path, preset=preset, date=DAY)
    _, recall = _matches(episodes, eligible) if eligible else (1.0, 1.0)
    assert recall == 1.0
    # Every episode is a planted burst (bursts below N are simply not bursts here).
    assert _matches(episodes, truth["bursts"])[0] == 1.0


def test_the_sample_day_gives_its_truth_file() -> None:
    truth = json.loads(SAMPLE.with_name(SAMPLE.name + ".truth.json").read_text())
    episodes = kf.detect_stuffing(SAMPLE)
    assert _matches(episodes, truth["bursts"]) == (1.0, 1.0)
    assert episodes.columns[:8] == [*kf.detect.EPISODE_COLUMNS, "rule"]
    # Episode start is the first message of the first hot window: the burst's first message.
    starts = sorted(b["start_ts"] for b in truth["bursts"])
    assert episodes["start_timestamp"].to_list() == starts


def test_two_threads_give_what_one_thread_gives(planted: Any) -> None:
    path, _ = planted
    one = kf.replay_itch(path, date=DAY, threads=1, activity_window="100ms")
    two = kf.replay_itch(path, date=DAY, threads=2, activity_window="100ms")
    assert one.activity is not None and two.activity is not None
    assert one.activity.equals(two.activity)
    e1 = kf.detect_stuffing(path, date=DAY, threads=1, preset="micro_50ms")
    e2 = kf.detect_stuffing(path, date=DAY, threads=2, preset="micro_50ms")
    assert e1.equals(e2)


def test_activity_counts_every_message_and_print_of_the_day() -> None:
    tables = kf.read_itch(SAMPLE)
    activity = kf.quote_activity(SAMPLE, window="1s")
    # One row per symbol and window with anything in it, in window order.
    assert not activity.select("symbol", "window_start").is_duplicated().any()
    assert activity["window_timestamp"].is_sorted()
    assert (activity["window_timestamp"] % 10**9 == 0).all()
    quotes = sum(
        tables[m].num_rows
        for m in ("add_order", "add_order_mpid", "order_cancel", "order_delete", "order_replace")
    )
    assert activity["num_quotes"].sum() == quotes
    assert (
        activity["num_adds"].sum()
        == tables["add_order"].num_rows + tables["add_order_mpid"].num_rows
    )
    assert activity["num_cancels"].sum() == tables["order_cancel"].num_rows
    assert activity["num_deletes"].sum() == tables["order_delete"].num_rows
    assert activity["num_replaces"].sum() == tables["order_replace"].num_rows
    assert activity["num_executions"].sum() == (
        tables["order_executed"].num_rows + tables["order_executed_with_price"].num_rows
    )
    # Prints: what the replay's trades table holds, crosses left out (docs/detection.md §1).
    trades = kf.replay_itch(SAMPLE).trades
    assert trades is not None
    prints = trades.filter(pl.col("printable") & (pl.col("kind") != "Q"))
    assert activity["num_trades"].sum() == prints.height
    assert activity["shares"].sum() == prints["shares"].sum()
    assert activity["dollars"].sum() == pytest.approx((prints["price"] * prints["shares"]).sum())
    per = (
        prints.group_by("stock")
        .agg(pl.col("shares").filter(pl.col("aggressor") == "B").sum().alias("buy"))
        .sort("stock")
    )
    got = activity.group_by("symbol").agg(pl.col("buy_aggr_shares").sum()).sort("symbol")
    want = dict(zip(per["stock"].cast(pl.String), per["buy"], strict=True))
    assert all(want.get(s, 0) == b for s, b in got.rows())


def test_bbo_changes_are_the_replays_top_of_book_changes() -> None:
    activity = kf.quote_activity(SAMPLE, window="1m")
    bbo = kf.replay_itch(SAMPLE, bbo=True).bbo
    assert bbo is not None
    assert activity["num_bbo"].sum() == bbo.height
    fused = kf.replay_itch(SAMPLE, activity_window="1m").activity
    assert fused is not None and fused.equals(activity)


def _quotes(rows: list[tuple[str, int, float, int, float, int]]) -> pl.DataFrame:
    """A level-one quotes table from (stock, ns since midnight, bid, bid size, ask, ask size)."""
    epoch = int(MIDNIGHT.timestamp()) * 10**9
    return pl.DataFrame(
        {
            "ts": pl.Series([epoch + r[1] for r in rows], dtype=pl.Int64)
            .cast(pl.Datetime("ns", "UTC"))
            .dt.convert_time_zone("America/New_York"),
            "stock": [r[0] for r in rows],
            "bid": [r[2] for r in rows],
            "bid_size": [r[3] for r in rows],
            "ask": [r[4] for r in rows],
            "ask_size": [r[5] for r in rows],
        },
    )


MS = 1_000_000


def test_level_one_quotes_hand_computed() -> None:
    # Five updates of AAA 1 ms apart: three change the top (the first, a size, a price).
    rows = [
        ("AAA", 10 * 10**9 + 0 * MS, 10.0, 100, 10.1, 100),
        ("AAA", 10 * 10**9 + 1 * MS, 10.0, 100, 10.1, 100),
        ("AAA", 10 * 10**9 + 2 * MS, 10.0, 200, 10.1, 100),
        ("AAA", 10 * 10**9 + 3 * MS, 10.0, 200, 10.1, 100),
        ("AAA", 10 * 10**9 + 4 * MS, 10.05, 200, 10.1, 100),
        ("BBB", 10 * 10**9 + 2 * MS, 5.0, 1, 5.1, 1),
    ]
    trades = pl.DataFrame(
        {
            "ts": [MIDNIGHT + dt.timedelta(seconds=10, milliseconds=2)],
            "stock": ["AAA"],
            "price": [10.1],
            "shares": [300],
            "aggressor": ["B"],
        },
        schema_overrides={"ts": pl.Datetime("ns", "America/New_York")},
    )
    a = kf.quote_activity(_quotes(rows), trades=trades, window="1s")
    assert a.select("symbol", "num_quotes", "num_bbo", "num_trades", "shares").rows() == [
        ("AAA", 5, 3, 1, 300),
        ("BBB", 1, 1, 0, 0),
    ]
    aaa = a.row(0, named=True)
    assert aaa["dollars"] == pytest.approx(3030.0)
    assert aaa["notional_e4"] == 30_300_000
    assert aaa["buy_aggr_shares"] == 300 and aaa["sell_aggr_shares"] == 0
    assert aaa["window_start"] == MIDNIGHT + dt.timedelta(seconds=10)
    # Five quote messages within 5 ms: hot with N = 5, W = 10 ms; not with N = 6.
    e = kf.detect_stuffing(_quotes(rows), trades=trades, window="10ms", min_msgs=5)
    assert e.select("stock", "start_timestamp", "end_timestamp", "num_quotes").rows() == [
        ("AAA", 10 * 10**9, 10 * 10**9 + 4 * MS, 5)
    ]
    assert e["num_trades"].to_list() == [1] and e["num_bbo"].to_list() == [3]
    assert e["peak_rate"].to_list() == [500.0]
    assert kf.detect_stuffing(_quotes(rows), window="10ms", min_msgs=6).height == 0
    # Exactly W apart is not within W.
    assert kf.detect_stuffing(_quotes(rows), window="4ms", min_msgs=5).height == 0


def _brute_force(times: list[int], w: int, n: int, g: int) -> list[tuple[int, int, int, int]]:
    """docs/detection.md §3.1 read literally: (start, end, quote messages, peak count)."""
    episodes: list[list[int]] = []
    for i in range(n - 1, len(times)):
        if times[i] - times[i - n + 1] >= w:
            continue
        first = times[i - n + 1]
        if episodes and first <= episodes[-1][1] + g:
            episodes[-1][1] = times[i]
        else:
            episodes.append([first, times[i]])
    out = []
    for s, e in episodes:
        inside = [t for t in times if s <= t <= e]
        peak = max(sum(1 for u in inside if t <= u < t + w) for t in inside)
        out.append((s, e, len(inside), peak))
    return out


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=3 * MS), min_size=1, max_size=120),
    n=st.integers(min_value=1, max_value=8),
    w_ms=st.integers(min_value=1, max_value=5),
    g_ms=st.integers(min_value=0, max_value=4),
)
def test_the_sliding_rule_is_its_definition(gaps: list[int], n: int, w_ms: int, g_ms: int) -> None:
    times, t = [], 9 * 3600 * 10**9
    for gap in gaps:
        t += gap
        times.append(t)
    rows = [("ZZZ", u, 1.0, 1, 2.0, 1) for u in times]
    got = kf.detect_stuffing(
        _quotes(rows), window=f"{w_ms}ms", min_msgs=n, merge_gap=g_ms * MS if g_ms else 0
    )
    want = _brute_force(times, w_ms * MS, n, g_ms * MS)
    assert got.select("start_timestamp", "end_timestamp", "num_quotes", "peak_value").rows() == want


def _activity(values: dict[str, list[int]], window_ns: int = 60 * 10**9) -> pl.DataFrame:
    """Activity rows from per-symbol num_quotes series starting at 09:30, zeros left out."""
    rows = []
    for sym, series in values.items():
        for i, v in enumerate(series):
            if v:
                start = (
                    MIDNIGHT
                    + dt.timedelta(hours=9, minutes=30)
                    + dt.timedelta(microseconds=i * window_ns / 1000)
                )
                rows.append({"symbol": sym, "window_start": start, "num_quotes": v})
    return pl.DataFrame(rows).with_columns(
        pl.col("window_start").cast(pl.Datetime("ns", "America/New_York")),
        window_ns=pl.lit(window_ns, pl.Int64),
        num_trades=pl.lit(0, pl.UInt32),
        locate=pl.lit(None, pl.UInt16),
    )


def test_zscore_day_baseline_and_its_fallback_hand_computed() -> None:
    # 390 one-minute windows; AAA: 100 in windows 10 and 11, 1 in windows 0..9.
    aaa = [1] * 10 + [100, 100]
    act = _activity({"AAA": aaa})
    n = 390
    total, sq = 10 + 200, 10 + 2 * 100**2
    mu = total / n
    sigma = (sq / n - mu * mu) ** 0.5
    assert mu + 2 * sigma < 100  # so k = 2 flags both, and they merge
    e = kf.detect_stuffing(act, preset="zscore")
    assert e.select("stock", "n_windows", "num_quotes", "k_used", "peak_value").rows() == [
        ("AAA", 2, 200, 2.0, 100.0)
    ]
    assert e["start"][0] == MIDNIGHT + dt.timedelta(hours=9, minutes=40)
    assert e["end"][0] == MIDNIGHT + dt.timedelta(hours=9, minutes=42)
    assert e["peak_rate"][0] == pytest.approx(100 / 60)
    # No window of BBB beats μ + 20σ nor μ + 2σ of a flat series: nothing, no fallback used.
    flat = _activity({"BBB": [5] * 390})
    assert kf.detect_stuffing(flat, preset="zscore").height == 0
    # A k nothing reaches falls back to k_fallback for that symbol only.
    e = kf.detect_stuffing(act, preset="zscore", k=50, k_fallback=2)
    assert e["k_used"].to_list() == [2.0]
    assert kf.detect_stuffing(act, preset="zscore", k=50, k_fallback=60).height == 0


def test_robust_and_rolling_baselines_hand_computed() -> None:
    # Robust day baseline: median 0 and MAD 0 of a mostly empty series; the floor decides.
    act = _activity({"AAA": [0] * 100 + [150, 99, 0, 120]}, window_ns=10**9)
    e = kf.detect_stuffing(act, preset="zscore_robust")
    assert e.select("n_windows", "num_quotes", "peak_value").rows() == [
        (1, 150, 150.0),
        (1, 120, 120.0),
    ]
    # merge_windows=1 joins flagged windows one unflagged window apart (sums include it).
    e = kf.detect_stuffing(act, preset="zscore_robust", merge_windows=2)
    assert e.select("n_windows", "num_quotes").rows() == [(2, 369)]
    # Rolling: no flag until half the lookback exists; then μ, σ of the windows before.
    # Before window 19: eighteen 10s and one 500, so median 10 and MAD 0; σ is
    # 1.253314 × the mean deviation 490/19, and the bar 10 + 20σ = 656.4.
    series = [10] * 20
    series[3] = 500  # too early: 3 windows before it < ⌈30/2⌉
    series[19] = 657
    act = _activity({"AAA": series})
    e = kf.detect_stuffing(act, preset="zscore_trailing")
    assert e["start"].to_list() == [MIDNIGHT + dt.timedelta(hours=9, minutes=49)]
    series[19] = 656
    assert kf.detect_stuffing(_activity({"AAA": series}), preset="zscore_trailing").is_empty()


def test_a_zero_mad_baseline_keeps_a_spread() -> None:
    # Ten minutes of one-second windows: 400 at 150 and 199 at 210 make the median 150 and
    # the MAD 0. A σ of 0 would flag all 199 windows of 210; the mean absolute deviation
    # (199·60 + 1850)/600 gives σ = 1.253314 × 22.98 and a bar of 726: only the 2000 passes.
    series = [150] * 400 + [210] * 199 + [2000]
    act = _activity({"AAA": series}, window_ns=10**9)
    session = ("09:30", "09:40")
    e = kf.detect_stuffing(act, preset="zscore_robust", session=session)
    assert e.select("n_windows", "num_quotes").rows() == [(1, 2000)]
    assert kf.detect_stuffing(act, preset="zscore_robust", session=session, k=75).is_empty()
    # The same rule in the rolling baseline: 150, 150, 210 over and over, so two thirds of
    # every lookback are 150; the 210s stay under the bar, a 2000 does not.
    mix = [150, 150, 210] * 200
    one_minute = {"window_ns": 60 * 10**9}
    rolling = {"preset": "zscore_trailing", "lookback": 600, "floor": 0}
    hours = ("09:30", "19:30")
    assert kf.detect_stuffing(
        _activity({"AAA": mix}, **one_minute), session=hours, **rolling
    ).is_empty()
    mix[-1] = 2000
    e = kf.detect_stuffing(_activity({"AAA": mix}, **one_minute), session=hours, **rolling)
    assert e["num_quotes"].to_list() == [2000]
    # A constant series has no spread, and nothing in it stands out.
    flat = _activity({"AAA": [150] * 600}, window_ns=10**9)
    assert kf.detect_stuffing(flat, preset="zscore_robust", session=session).is_empty()


def test_ratio_rules_hand_computed() -> None:
    act = _activity({"AAA": [1000, 1000, 50]}).with_columns(
        num_trades=pl.Series([5, 20, 0], dtype=pl.UInt32),
        num_cancels=pl.Series([900, 10, 50], dtype=pl.UInt32),
        num_deletes=pl.lit(0, pl.UInt32),
        num_replaces=pl.lit(0, pl.UInt32),
        num_executions=pl.Series([5, 20, 0], dtype=pl.UInt32),
    )
    # otr: 1000/5 = 200 ≥ 100 flags; 1000/20 = 50 does not; 50 quotes < min_quotes.
    e = kf.detect_stuffing(act, preset="otr")
    assert e.select("n_windows", "num_quotes", "otr").rows() == [(1, 1000, 200.0)]
    assert kf.detect_stuffing(act, preset="otr", threshold=40).height == 1
    assert kf.detect_stuffing(act, preset="otr", threshold=40)["n_windows"][0] == 2
    e = kf.detect_stuffing(act, preset="cancel_to_exec")
    assert e.select("n_windows", "cancel_to_exec").rows() == [(1, 180.0)]
    assert kf.detect_stuffing(act, preset="otr", min_quotes=10, threshold=10).height == 1


def test_session_bounds_and_edges() -> None:
    act = _activity({"AAA": [500] + [1] * 388 + [500]})
    e = kf.detect_stuffing(act, preset="zscore")
    assert e.height == 2
    assert kf.detect_stuffing(act, preset="zscore", exclude_edges=True).height == 0


def test_hft1_rows_run_through_the_window_rules() -> None:
    from ki2fast.feeds import hftalert

    hft1_files = sorted((SAMPLE.parent / "hftalert").rglob("hft1*.csv"))
    assert hft1_files
    activity = hftalert.hft1_activity(hftalert.read_hft1(hft1_files[0]), window="1s")
    e = kf.detect_stuffing(activity, preset="zscore_robust", floor=1, session=None)
    assert e.columns[:8] == [*kf.detect.EPISODE_COLUMNS, "rule"]
    assert e.height > 0
    assert set(e["stock"]) <= set(activity.column("symbol").to_pylist())


def test_schwab_capture_hands_over_to_activity_and_detection() -> None:
    from ki2fast.feeds import schwab

    capture = schwab.read_levelone(SAMPLE.parent / "schwab" / "levelone_20250314.ndjson")
    a = kf.quote_activity(capture, window="1m")
    quotes = pl.from_arrow(capture.quotes)
    assert isinstance(quotes, pl.DataFrame)
    assert a["num_quotes"].sum() == quotes.height
    trades = pl.from_arrow(capture.trades)
    assert isinstance(trades, pl.DataFrame)
    assert a["num_trades"].sum() == trades.filter(pl.col("printable")).height
    e = kf.detect_stuffing(capture, preset="zscore", session=None)
    assert e.columns[:8] == [*kf.detect.EPISODE_COLUMNS, "rule"]


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        kf.detect_stuffing(SAMPLE, preset="nope")
    with pytest.raises(TypeError, match="takes no k"):
        kf.detect_stuffing(SAMPLE, preset="micro", k=3)
    with pytest.raises(TypeError, match="no trades"):
        kf.quote_activity(kf.read_order_events(SAMPLE), trades=pl.DataFrame())
    with pytest.raises(TypeError, match="single messages"):
        kf.detect_stuffing(_activity({"A": [1]}), preset="micro")
    with pytest.raises(ValueError, match="positive"):
        kf.quote_activity(SAMPLE, window="0s")
    with pytest.raises(ValueError, match="do not divide"):
        kf.detect_stuffing(_activity({"A": [1]}, window_ns=7 * 10**9), preset="zscore")


def test_presets_are_the_documented_ones() -> None:
    micro = PRESETS["micro"]
    assert micro == SlidingRule(25 * MS, 200, 25 * MS)
    assert PRESETS["nanex"] == SlidingRule(10**9, 500, 10**9)
    assert PRESETS["strict"] == SlidingRule(10**9, 1000, 10**9)
    z = PRESETS["zscore"]
    assert isinstance(z, ZScoreRule) and (z.k, z.k_fallback, z.window) == (2, 1, 60 * 10**9)
    # The dashboard rule flags even a lone quote in a quiet day (a ranking rule, not an alarm).
    assert window_episodes(_activity({"A": [1]}), z).height == 1


def _program_day(sizes: list[int], sides: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A level-one day of 60 calm symbols (a quote every 10 s from 09:30 to 16:00) with, at
    10:00, 11:00, 12:00 …, concurrent bursts of 200 updates within 20 ms in the first
    ``sizes[i]`` symbols, and 10 buyer- or seller-initiated trades in each of them."""
    names = [f"S{i:02d}" for i in range(60)]
    epoch = int(MIDNIGHT.timestamp()) * 10**9
    q_ts, q_sym, q_size = [], [], []
    for i, name in enumerate(names):
        for t in range(34_200, 57_600, 10):
            q_ts.append(t * 10**9 + i * MS)
            q_sym.append(name)
            q_size.append(100)
    t_ts, t_sym, t_side = [], [], []
    for k, (size, side) in enumerate(zip(sizes, sides, strict=True)):
        start = (36_000 + 3600 * k) * 10**9 + 500 * MS
        for i in range(size):
            for j in range(200):
                q_ts.append(start + i * 1000 + j * 100_000)
                q_sym.append(names[i])
                q_size.append(100 + j)
            for j in range(10):
                t_ts.append(start + 5 * MS + j)
                t_sym.append(names[i])
                t_side.append(side)
    n = len(q_ts)
    quotes = pl.DataFrame(
        {
            "ts": pl.Series([epoch + t for t in q_ts], dtype=pl.Int64)
            .cast(pl.Datetime("ns", "UTC"))
            .dt.convert_time_zone("America/New_York"),
            "stock": q_sym,
            "bid": [10.0] * n,
            "bid_size": q_size,
            "ask": [10.01] * n,
            "ask_size": [100] * n,
        }
    ).sort("ts", maintain_order=True)
    trades = pl.DataFrame(
        {
            "ts": pl.Series([epoch + t for t in t_ts], dtype=pl.Int64)
            .cast(pl.Datetime("ns", "UTC"))
            .dt.convert_time_zone("America/New_York"),
            "stock": t_sym,
            "price": [10.01 if s == "B" else 10.0 for s in t_side],
            "shares": [100] * len(t_ts),
            "aggressor": t_side,
        }
    ).sort("ts", maintain_order=True)
    return quotes, trades


def test_program_bursts_planted_in_many_symbols_are_found_graded_and_typed() -> None:
    quotes, trades = _program_day([10, 20, 40], ["B", "S", "B"])
    bursts = kf.detect_program_bursts(quotes, trades=trades)
    assert bursts.select("n_symbols", "grade", "prog_type", "capper").rows() == [
        (10, 1, "BUY", False),
        (20, 2, "SELL", False),
        (40, 3, "BUY", True),
    ]
    hours = [(s.hour, s.minute, s.second) for s in bursts["start"]]
    assert hours == [(10, 0, 0), (11, 0, 0), (12, 0, 0)]
    first = bursts.row(0, named=True)
    assert first["peak_symbols"] == 10
    assert first["num_trades"] == 100 and first["shares"] == 10_000
    assert first["buy_aggr_shares"] == 10_000 and first["imbalance"] == 1.0
    # Identical counts in every member: one algorithm's fingerprint.
    assert first["cv_quotes"] == pytest.approx(0.0)
    assert [s["symbol"] for s in first["symbols"]] == [f"S{i:02d}" for i in range(10)]
    # 200 burst updates and the calm update of 10:00:00 share the bucket.
    assert all(s["num_quotes"] == 201 and s["num_trades"] == 10 for s in first["symbols"])
    # Below M symbols is no program burst; M itself is.
    assert kf.detect_program_bursts(quotes, trades=trades, min_symbols=11)[
        "n_symbols"
    ].to_list() == [20, 40]
    # A fixed capper threshold replaces the percentile.
    capped = kf.detect_program_bursts(quotes, trades=trades, capper_threshold=1)
    assert capped["capper"].to_list() == [False, False, True]
    # Relative membership finds the same bursts here.
    rel = kf.detect_program_bursts(quotes, trades=trades, member="relative")
    assert rel["n_symbols"].to_list() == [10, 20, 40]


def test_single_symbol_bursts_make_no_program_burst(planted: Any) -> None:
    path, truth = planted
    assert truth["bursts"]
    assert kf.detect_program_bursts(path, date=DAY).height == 0
    assert kf.detect_program_bursts(SAMPLE).height == 0


def test_program_bursts_round_trip_through_the_burst_monitor_files(tmp_path: Path) -> None:
    from ki2fast.feeds import hftalert

    quotes, trades = _program_day([10, 20, 40], ["B", "S", "B"])
    bursts = kf.detect_program_bursts(quotes, trades=trades)
    activity = kf.quote_activity(quotes, trades=trades, window="1s")
    files = hftalert.write_burst_monitor(tmp_path, activity=activity, bursts=bursts)
    assert tmp_path / "Data_Burst" / "20240301.csv" in files
    raw = (tmp_path / "Data_Burst" / "20240301.csv").read_bytes()
    assert raw.startswith(b"100000,1,1,0,0,0,0,0,0\r\n")
    back = hftalert.read_data_burst(tmp_path / "Data_Burst" / "20240301.csv").to_pylist()
    assert [(r["event_time_raw"], r["grade"], r["is_buy"]) for r in back] == [
        ("100000", 1, True),
        ("110000", 2, False),
        ("120000", 3, True),
    ]
    assert all(r["symbols_status"] == "joined" for r in back)
    for row, burst in zip(back, bursts.iter_rows(named=True), strict=True):
        assert row["event_ts"] == burst["start"]
        got = [(s["symbol"], s["num_trades"], s["num_quotes"], s["bbo"]) for s in row["symbols"]]
        want = [
            (s["symbol"], s["num_trades"], s["num_quotes"], s["num_bbo"]) for s in burst["symbols"]
        ]
        assert got == want
    hft1 = hftalert.read_hft1(tmp_path / "hft1_20240301.csv")
    assert hft1.num_rows == activity.height
    assert sum(hft1.column("num_quotes").to_pylist()) == activity["num_quotes"].sum()
    assert sum(hft1.column("num_trades").to_pylist()) == activity["num_trades"].sum()
    # And the hft1 rows feed the window rules again.
    again = hftalert.hft1_activity(hft1, window="1s")
    assert sum(again.column("num_quotes").to_pylist()) == activity["num_quotes"].sum()


def test_the_bursts_command_writes_parquet_and_burst_monitor_files(tmp_path: Path) -> None:
    from ki2fast.cli import main

    assert main(["itch", "bursts", str(SAMPLE), "--out", str(tmp_path), "--hftalert"]) == 0
    episodes = pl.read_parquet(tmp_path / "episodes.parquet")
    assert episodes.height == 4 and episodes["rule"].unique().to_list() == ["micro"]
    assert pl.read_parquet(tmp_path / "program_bursts.parquet").height == 0
    activity = pl.read_parquet(tmp_path / "activity.parquet")
    lines = (tmp_path / "hft1_20240301.csv").read_bytes().split(b"\r\n")
    assert len(lines) - 1 == activity.height
    assert main(["itch", "bursts", str(SAMPLE), "--out", str(tmp_path), "--preset", "nope"]) == 1


def _chunks(quotes: pl.DataFrame, trades: pl.DataFrame, edges: list[dt.datetime]) -> Any:
    """The feed cut at ``edges``: (quotes, trades) of each interval."""
    bounds = [MIDNIGHT, *edges, MIDNIGHT + dt.timedelta(days=1)]
    for lo, hi in itertools.pairwise(bounds):
        yield (
            quotes.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)),
            trades.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi)),
        )


def test_the_live_monitor_gives_the_batch_results_as_the_feed_arrives() -> None:
    quotes, trades = _program_day([10, 20, 40], ["B", "S", "B"])
    hour = [
        MIDNIGHT + dt.timedelta(hours=h, minutes=m)
        for h in (9, 10, 11, 12, 13)
        for m in (0, 17, 43)
    ]
    seen: list[kf.BurstAlerts] = []
    monitor = kf.BurstMonitor(preset="micro", capper_threshold=5000, on_alert=seen.append)
    arrived: list[tuple[dt.datetime, kf.BurstAlerts]] = []
    for q, t in _chunks(quotes, trades, hour):
        arrived.append((q["ts"].min() if q.height else None, monitor.update(q, trades=t)))
    arrived.append((None, monitor.finish()))
    episodes = pl.concat([a.episodes for _, a in arrived])
    bursts = pl.concat([a.program_bursts for _, a in arrived])
    assert len(seen) == sum(1 for _, a in arrived if a)
    want_e = kf.detect_stuffing(quotes, trades=trades)
    want_b = kf.detect_program_bursts(quotes, trades=trades, capper_threshold=5000)
    assert episodes.equals(want_e)
    assert bursts.drop("market_z_peak").equals(want_b.drop("market_z_peak"))
    assert bursts["market_z_peak"].null_count() == bursts.height
    # Each burst was alerted while the feed went on, not at the end.
    at_end = arrived[-1][1]
    assert at_end.program_bursts.height == 0 and at_end.episodes.height == 0
    first_alert = next(i for i, (_, a) in enumerate(arrived) if a.program_bursts.height)
    assert arrived[first_alert][0] <= MIDNIGHT + dt.timedelta(hours=10, minutes=17)
    # Memory: what it keeps is the recent activity, not the day's.
    assert monitor._act.height < 200


def test_the_live_monitor_takes_pyarrow_quotes_and_trade_batches() -> None:
    quotes, trades = _program_day([12], ["S"])
    monitor = kf.BurstMonitor(min_symbols=12)
    alerts = [monitor.update(quotes.to_arrow()), monitor.finish()]
    bursts = pl.concat([a.program_bursts for a in alerts])
    # Without trades the burst has no aggressor shares: its type is NONE.
    assert bursts.select("n_symbols", "prog_type").rows() == [(12, "NONE")]
    assert not monitor.update(trades.filter(pl.col("ts") > MIDNIGHT + dt.timedelta(hours=23)))
    with pytest.raises(ValueError, match="sliding rules"):
        kf.BurstMonitor(preset="zscore")
    with pytest.raises(TypeError, match="quote"):
        monitor.update(pl.DataFrame({"x": [1]}))


def test_more_rules_hand_computed() -> None:
    # egginton_2016: 20σ of the day; one spike among 390 one-minute windows cannot reach it
    # (its z is at most √389 ≈ 19.7); k = 19 flags it.
    lone = _activity({"AAA": [0] * 100 + [1000]})
    assert kf.detect_stuffing(lone, preset="egginton_2016").height == 0
    assert kf.detect_stuffing(lone, preset="egginton_2016", k=19).height == 1
    # cancel_to_trade: (X + D + U) / max(1, prints).
    act = _activity({"AAA": [500, 500]}).with_columns(
        num_trades=pl.Series([2, 0], dtype=pl.UInt32),
        num_cancels=pl.Series([100, 50], dtype=pl.UInt32),
        num_deletes=pl.Series([100, 0], dtype=pl.UInt32),
        num_replaces=pl.Series([100, 0], dtype=pl.UInt32),
        num_executions=pl.Series([2, 0], dtype=pl.UInt32),
    )
    e = kf.detect_stuffing(act, preset="cancel_to_trade")
    # 300 / 2 = 150 flags; 50 / max(1, 0) = 50 does not.
    assert e.select("n_windows", "cancel_to_trade").rows() == [(1, 150.0)]
    assert kf.detect_stuffing(act, preset="cancel_to_trade", threshold=50)[
        "n_windows"
    ].to_list() == [2]


def test_statistical_program_bursts_need_breadth_far_above_the_day() -> None:
    quotes, trades = _program_day([4, 20], ["B", "B"])
    # Four symbols at once: below M = 10, but far above a day where nobody bursts.
    plain = kf.detect_program_bursts(quotes, trades=trades)
    assert plain["n_symbols"].to_list() == [20]
    stat = kf.detect_program_bursts(quotes, trades=trades, statistical=True)
    assert stat["n_symbols"].to_list() == [4, 20]
    # The M_min guard: three members are required.
    assert kf.detect_program_bursts(quotes, trades=trades, statistical=True, min_symbols_stat=5)[
        "n_symbols"
    ].to_list() == [20]


@pytest.mark.parametrize("prices", ["int", "float"])
def test_order_events_tables_give_what_the_itch_replay_gives(prices: str) -> None:
    events = kf.read_order_events(SAMPLE, prices=prices)
    from_itch = kf.quote_activity(SAMPLE, window="1s", threads=1)
    from_events = kf.quote_activity(events, window="1s")
    # Quote messages, top-of-book changes and executions: the same, window by window.
    same = [
        "num_quotes",
        "num_adds",
        "num_cancels",
        "num_deletes",
        "num_replaces",
        "num_bbo",
        "num_executions",
    ]
    key = ["symbol", "window_start"]
    busy = from_itch.filter(pl.sum_horizontal(same) > 0).select(*key, *same)
    assert from_events.filter(pl.sum_horizontal(same) > 0).select(*key, *same).equals(busy)
    # Prints: an order-events table has the E and C executions, not the P (hidden) prints.
    trades = kf.replay_itch(SAMPLE).trades
    assert trades is not None
    ec = trades.filter(pl.col("printable") & pl.col("kind").is_in(["E", "C"]))
    assert from_events["num_trades"].sum() == ec.height
    assert from_events["shares"].sum() == ec["shares"].sum()
    assert (
        from_events["buy_aggr_shares"].sum()
        == ec.filter(pl.col("aggressor") == "B")["shares"].sum()
    )
    # The planted bursts are quote storms: the same episodes from either source.
    assert (
        kf.detect_stuffing(events)
        .select("stock", "start", "end", "num_quotes")
        .equals(kf.detect_stuffing(SAMPLE).select("stock", "start", "end", "num_quotes"))
    )


def test_hft1_reports_feed_the_program_burst_detector(tmp_path: Path) -> None:
    from ki2fast.feeds import hftalert

    # A Burst Monitor day: 30 symbols report a few quotes every 10 s; at 10:00:05 twelve of
    # them report 800 quotes in the same second.
    lines = []
    for t in range(36_000, 37_800, 10):
        for i in range(30):
            hh, mm, ss = t // 3600, t // 60 % 60, t % 60
            lines.append(f"S{i:02d},0,{hh:02d}{mm:02d}{ss:02d},5,1,0,0,")
    lines += [f"S{i:02d},0,100005,800,300,2,20000," for i in range(12)]
    path = tmp_path / "hft1_20250314.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    activity = hftalert.hft1_activity(hftalert.read_hft1(path), window="1s")
    bursts = kf.detect_program_bursts(activity, member="relative")
    assert bursts.select("n_symbols", "num_quotes", "num_trades", "prog_type").rows() == [
        (12, 12 * 800, 24, "NONE")
    ]
    assert bursts["start"][0] == dt.datetime(2025, 3, 14, 10, 0, 5, tzinfo=NY)
    with pytest.raises(TypeError, match="relative"):
        kf.detect_program_bursts(activity)


def test_the_live_monitor_reads_order_event_batches(planted: Any) -> None:
    path, truth = planted
    monitor = kf.BurstMonitor(preset="micro_50ms")
    alerts = [monitor.update(b) for b in kf.scan_order_events(path, date=DAY, batch_size=20_000)]
    alerts.append(monitor.finish())
    episodes = pl.concat([a.episodes for a in alerts])
    want = kf.detect_stuffing(kf.read_order_events(path, date=DAY), preset="micro_50ms")
    assert episodes.equals(want)
    assert _matches(episodes, truth["bursts"])[1] == 1.0
    # Episodes came out while the day was being read, not all at the end.
    assert sum(a.episodes.height for a in alerts[:-1]) > 0
    with pytest.raises(TypeError, match="one kind of feed"):
        monitor.update(_quotes([("AAA", 10**12, 1.0, 1, 2.0, 1)]))


@settings(max_examples=40, deadline=None)
@given(
    series=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=390),
    k=st.sampled_from([0.5, 1.0, 2.0]),
    robust=st.booleans(),
)
def test_day_baselines_are_the_dense_series_statistics(
    series: list[int], k: float, robust: bool
) -> None:
    import numpy as np

    assume(any(series))
    dense = np.zeros(390)
    dense[: len(series)] = series
    if robust:
        mu = float(np.median(dense))
        dev = np.abs(dense - mu)
        mad = float(np.median(dev))
        sd = 1.4826 * mad if mad > 0 else 1.253314 * float(dev.mean())
    else:
        mu, sd = float(dense.mean()), float(dense.std())
    flags = (dense > mu + k * sd) & (dense > 0)
    runs, i = [], 0
    while i < 390:
        if flags[i]:
            j = i
            while j + 1 < 390 and flags[j + 1]:
                j += 1
            runs.append((i, j - i + 1))
            i = j + 1
        else:
            i += 1
    rule = ZScoreRule(60 * 10**9, k=k, robust=robust)
    e = window_episodes(_activity({"AAA": series}), rule)
    open_ = MIDNIGHT + dt.timedelta(hours=9, minutes=30)
    got = [
        (int((s - open_).total_seconds() // 60), n)
        for s, n in e.select("start", "n_windows").rows()
    ]
    assert got == runs


def test_robust_day_baseline_scales_the_mad_by_1_4826() -> None:
    # Median 12, MAD 2: the bar at k = 20 is 12 + 20 × 1.4826 × 2 = 71.304.
    series = [10] * 130 + [12] * 130 + [14] * 129
    for spike, flagged in [(72, 1), (71, 0)]:
        act = _activity({"AAA": [*series, spike]})
        rule = ZScoreRule(60 * 10**9, k=20, robust=True)
        assert window_episodes(act, rule).height == flagged


def _adds(stamps: list[int]) -> bytes:
    from ki2fast import reference

    msgs = [
        reference.encode_message(
            "A",
            dict(
                stock_locate=1,
                tracking_number=0,
                timestamp=ts,
                order_reference_number=k + 1,
                buy_sell_indicator="B",
                shares=100,
                stock="ZZZ",
                price=100_000 + k,
            ),
        )
        for k, ts in enumerate(stamps)
    ]
    return b"".join(msgs)


def test_time_going_back_is_counted_and_never_makes_an_episode() -> None:
    second = 10**9
    calm = [34_200 * second + k * second for k in range(250)]
    back = [34_200 * second + k * 1000 for k in range(3)]
    data = _adds(calm + back)
    with pytest.warns(kf.TimestampRegressionWarning, match="^3 quote messages"):
        episodes = kf.detect_stuffing(data, date=DAY)
    assert episodes.height == 0
    with pytest.warns(kf.TimestampRegressionWarning):
        events = kf.read_order_events(data)
        assert kf.detect_stuffing(events).height == 0


def test_a_day_written_twice_gives_the_days_episodes_once(tmp_path: Path) -> None:
    import gzip

    raw = gzip.decompress(SAMPLE.read_bytes())
    twice = tmp_path / SAMPLE.name
    twice.write_bytes(gzip.compress(raw, 1) + gzip.compress(raw, 1))
    once = kf.detect_stuffing(SAMPLE)
    with pytest.warns(kf.TimestampRegressionWarning):
        doubled = kf.detect_stuffing(twice)
    assert once.height > 0
    assert doubled.equals(once)


def _activity_producers(tmp_path: Path) -> dict[str, Any]:
    """Every way to get an activity table, each at one second."""
    import gzip

    from ki2fast.feeds import hftalert, schwab

    undated = tmp_path / "plain.itch"
    undated.write_bytes(gzip.decompress(SAMPLE.read_bytes()))
    capture = schwab.read_levelone(SAMPLE.parent / "schwab" / "levelone_20250314.ndjson")
    hft1 = sorted((SAMPLE.parent / "hftalert").rglob("hft1*.csv"))[0]
    return {
        "replay, dated": kf.replay_itch(SAMPLE, activity_window="1s").activity,
        "replay, undated": kf.replay_itch(undated, activity_window="1s").activity,
        "quote_activity, dated": kf.quote_activity(SAMPLE, window="1s"),
        "quote_activity, undated": kf.quote_activity(undated, window="1s"),
        "order events": kf.quote_activity(kf.read_order_events(SAMPLE), window="1s"),
        "order events, undated": kf.quote_activity(kf.read_order_events(undated), window="1s"),
        "level one": kf.quote_activity(capture, window="1s"),
        "hft1": hftalert.hft1_activity(hftalert.read_hft1(hft1), window="1s"),
    }


def test_every_activity_producer_feeds_every_consumer(tmp_path: Path) -> None:
    window_presets = [name for name, r in PRESETS.items() if not isinstance(r, SlidingRule)]
    for name, activity in _activity_producers(tmp_path).items():
        frame = activity if isinstance(activity, pl.DataFrame) else pl.from_arrow(activity)
        assert isinstance(frame, pl.DataFrame)
        assert {"window_start", "num_quotes", "symbol"} <= set(frame.columns), name
        assert frame.height > 0, name
        for preset in window_presets:
            e = kf.detect_stuffing(activity, preset=preset, session=None)
            assert e.columns[:8] == [*kf.detect.EPISODE_COLUMNS, "rule"], (name, preset)
            assert e.schema["start"] == frame.schema["window_start"], (name, preset)
        # The sliding rules count single messages: a clear TypeError, never a wrong answer.
        with pytest.raises(TypeError, match="single messages"):
            kf.detect_stuffing(activity, preset="micro")
        bursts = kf.detect_program_bursts(activity, member="relative", min_symbols=2)
        assert isinstance(bursts, pl.DataFrame), name


def _time_of_day(col: pl.Series) -> list[int]:
    if col.dtype == pl.Duration:
        return col.dt.total_nanoseconds().to_list()
    return [_ns(t) for t in col]


def test_undated_activity_finds_what_dated_activity_finds(tmp_path: Path) -> None:
    producers = _activity_producers(tmp_path)
    for preset in ("zscore", "zscore_robust", "cancel_to_trade"):
        dated = kf.detect_stuffing(producers["replay, dated"], preset=preset)
        undated = kf.detect_stuffing(producers["replay, undated"], preset=preset)
        assert undated.schema["start"] == pl.Duration("ns")
        assert _time_of_day(undated["start"]) == _time_of_day(dated["start"]), preset
        assert undated["stock"].to_list() == dated["stock"].to_list(), preset
    assert kf.detect_stuffing(producers["replay, dated"], preset="zscore").height > 0
    # Program bursts of a day without a date: the same, at the same times of day.
    quotes, trades = _program_day([10, 20, 40], ["B", "S", "B"])
    dated_activity = kf.quote_activity(quotes, trades=trades, window="1s")
    undated_activity = dated_activity.with_columns(
        window_start=pl.duration(nanoseconds=pl.col("window_timestamp"))
    )
    dated_bursts = kf.detect_program_bursts(dated_activity, member="relative")
    undated_bursts = kf.detect_program_bursts(undated_activity, member="relative")
    assert dated_bursts.height == 3
    for column in ("start", "end", "peak_bucket"):
        assert _time_of_day(undated_bursts[column]) == _time_of_day(dated_bursts[column])
    assert undated_bursts["n_symbols"].to_list() == dated_bursts["n_symbols"].to_list()


def test_long_passes_draw_progress_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    calls = [
        (lambda: kf.quote_activity(SAMPLE, window="1m", progress=True), ["replay ["]),
        (lambda: kf.detect_stuffing(SAMPLE, progress=True), ["replay ["]),
        (lambda: kf.detect_stuffing(SAMPLE, preset="zscore", progress=True), ["replay ["]),
        (lambda: kf.detect_program_bursts(SAMPLE, progress=True), ["pass 1/2 [", "pass 2/2 ["]),
    ]
    for call, labels in calls:
        call()
        err = capsys.readouterr().err
        for label in labels:
            assert label in err and "100%" in err, (label, err)
    kf.detect_stuffing(SAMPLE)
    assert capsys.readouterr().err == ""


def test_program_bursts_count_activity_in_the_first_episode_pass() -> None:
    # The activity counted alongside the first member rule is the activity counted alone.
    both = kf.detect_program_bursts(SAMPLE, member="relative", min_symbols=1, member_floor=5)
    alone = kf.detect_program_bursts(
        kf.quote_activity(SAMPLE, window="1s"), member="relative", min_symbols=1, member_floor=5
    )
    assert both.height > 0
    assert both.drop("symbols").equals(alone.drop("symbols"))


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C"]),
            *[st.one_of(st.none(), st.sampled_from([0.0, 1.0, 1.5, 100.0]))] * 4,
        ),
        max_size=40,
    )
)
def test_a_level_one_quote_changes_the_top_when_any_field_differs_from_its_symbols_last(
    rows: list[tuple[Any, ...]],
) -> None:
    """The core's rule against the same rule written column-wise in polars: a field that
    differs from the symbol's quote before (null and a value differ; a first quote differs
    from nothing when it shows anything)."""
    import polars as pl
    import pyarrow as pa

    from ki2fast import _core

    cols = ["bid", "ask", "bid_size", "ask_size"]
    df = pl.DataFrame(
        rows, schema={"s": pl.String, **dict.fromkeys(cols, pl.Float64)}, orient="row"
    )
    expected = df.select(
        pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(1).over("s")) for c in cols])
    ).to_series()
    keyed = df.select(
        pl.col("s").cast(pl.Categorical).to_physical().cast(pl.UInt32).alias("key"), *cols
    )
    got = pa.record_batch(_core.level_one_changes(keyed.to_arrow())).column("changed")
    assert got.to_pylist() == expected.fill_null(False).to_list()
