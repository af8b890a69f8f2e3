"""Breadth against hand-computed cases and a brute-force recount on generated snapshot days
(a holiday between the sessions, a symbol missing), and the McClellan series by hand."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("exchange_calendars")

from ki2fast import breadth

ET = ZoneInfo("America/New_York")


def test_the_previous_session_skips_weekends_and_holidays():
    assert breadth.previous_session("2025-07-07") == dt.date(2025, 7, 3)  # July 4th
    assert breadth.previous_session("2025-07-08") == dt.date(2025, 7, 7)
    assert breadth.previous_session(dt.date(2025, 1, 2)) == dt.date(2024, 12, 31)
    assert breadth.previous_session("2025-07-05") == dt.date(2025, 7, 3)  # a Saturday


def snap(day: dt.date, minute: int, rows: dict[str, float]) -> list[dict]:
    ts = dt.datetime.combine(day, dt.time(9, 30), ET) + dt.timedelta(minutes=minute)
    return [{"ts": ts, "symbol": s, "close": c} for s, c in rows.items()]


def test_by_hand_across_a_holiday_with_a_symbol_missing():
    before, day = dt.date(2025, 7, 3), dt.date(2025, 7, 7)
    assert breadth.previous_session(day) == before
    history = pl.DataFrame(
        snap(before, 0, {"A": 9.0, "B": 20.0, "C": 5.0}) + snap(before, 390, {"A": 10.0, "B": 20.0})
    )
    closes = breadth.closes_from_snapshots(history, before)
    # C's last close of the day is its only one; A's and B's the 16:00 snapshot.
    assert dict(closes.rows()) == {"A": 10.0, "B": 20.0, "C": 5.0}
    today = pl.DataFrame(
        snap(day, 0, {"A": 11.0, "B": 19.0, "C": 5.0, "D": 7.0})  # D has no previous close
        + snap(day, 10, {"A": 10.0, "B": 21.0})  # C missing from this snapshot
    )
    moves = breadth.changes(today, closes)
    assert sorted(
        moves.filter(pl.col("ts") == moves["ts"].min()).select("symbol", "change").rows()
    ) == [
        ("A", 1),
        ("B", -1),
        ("C", 0),
    ]
    counts = breadth.breadth(
        moves, {"TECH": pl.DataFrame({"symbol": ["A", "B"], "weight": [0.75, 0.25]})}
    )
    rows = {(r["list"], r["ts"].minute): r for r in counts.iter_rows(named=True)}
    first, second = rows["TECH", 30], rows["TECH", 40]
    assert (first["advances"], first["declines"], first["unchanged"], first["net"]) == (1, 1, 0, 0)
    assert first["weighted_net"] == pytest.approx(0.75 - 0.25)
    assert (second["advances"], second["declines"], second["net"]) == (1, 0, 1)
    assert second["weighted_net"] == pytest.approx(0.25)
    every = rows[breadth.ALL, 30]
    assert (every["advances"], every["declines"], every["unchanged"]) == (1, 1, 1)
    assert every["weighted_net"] == pytest.approx(0.0)


def test_mcclellan_by_hand():
    # Three days of one list; α19 = 0.1, α39 = 0.05.
    counts = pl.DataFrame(
        {
            "list": ["L"] * 3,
            "ts": [1, 2, 3],
            "advances": [60, 40, 80],
            "declines": [40, 60, 20],
            "net": [20, -20, 60],
        }
    )
    m = breadth.mcclellan(counts)
    e19 = [20.0, 20 + 0.1 * (-20 - 20), 0]
    e19[2] = e19[1] + 0.1 * (60 - e19[1])
    e39 = [20.0, 20 + 0.05 * (-20 - 20), 0]
    e39[2] = e39[1] + 0.05 * (60 - e39[1])
    osc = [a - b for a, b in zip(e19, e39, strict=True)]
    assert m["oscillator"].to_list() == pytest.approx(osc)
    assert m["summation"].to_list() == pytest.approx([osc[0], osc[0] + osc[1], sum(osc)])
    assert m["rana"].to_list() == pytest.approx([200.0, -200.0, 600.0])
    assert m["ra_oscillator"][0] == 0.0  # both EMAs start at the first value
    assert breadth.ema([10, 20, 20], 3) == [10.0, 15.0, 17.5]


def test_read_lists_takes_each_funds_file(tmp_path):
    pl.DataFrame({"Ticker": ["AAPL", "MSFT", "MSFT"], "weight": [2.0, 1.0, 1.0]}).write_csv(
        tmp_path / "xlk-2025-03.csv"
    )
    pl.DataFrame({"symbol": ["SPY1", "SPY2"]}).write_parquet(tmp_path / "SPY_holdings.parquet")
    (tmp_path / "notes.txt").write_text("not a list")
    lists = breadth.read_lists(tmp_path)
    assert sorted(lists) == ["SPY", "XLK"]
    assert dict(lists["XLK"].rows()) == {"AAPL": 0.5, "MSFT": 0.5}
    assert dict(lists["SPY"].rows()) == {"SPY1": 0.5, "SPY2": 0.5}


@st.composite
def days(draw: st.DrawFn):
    symbols = [f"S{i}" for i in range(draw(st.integers(1, 8)))]
    closes = {s: draw(st.integers(95, 105)) / 10 for s in symbols if draw(st.booleans())}
    snaps = []
    for minute in range(draw(st.integers(1, 5))):
        present = {s: draw(st.integers(95, 105)) / 10 for s in symbols if draw(st.integers(0, 4))}
        snaps += snap(dt.date(2025, 7, 7), minute, present)
    lists = {
        f"L{k}": draw(st.lists(st.sampled_from(symbols), min_size=1, max_size=5, unique=True))
        for k in range(draw(st.integers(0, 3)))
    }
    return closes, snaps, lists


@settings(max_examples=150, deadline=None)
@given(days())
def test_counts_are_a_brute_force_recount(case):
    closes, snaps, lists = case
    if not snaps:
        return
    moves = breadth.changes(
        pl.DataFrame(snaps),
        pl.DataFrame({"symbol": list(closes), "close": list(closes.values())},
                     schema={"symbol": pl.String, "close": pl.Float64}),
    )  # fmt: skip
    got = breadth.breadth(moves, lists)
    by_key = {(r["list"], r["ts"]): r for r in got.iter_rows(named=True)}
    times = sorted({r["ts"] for r in snaps})
    for name, members in [*lists.items(), (breadth.ALL, None)]:
        for t in times:
            signs = [
                (r["close"] > closes[r["symbol"]]) - (r["close"] < closes[r["symbol"]])
                for r in snaps
                if r["ts"] == t
                and r["symbol"] in closes
                and (members is None or r["symbol"] in members)
            ]
            row = by_key.get((name, t))
            if not signs:
                assert row is None
                continue
            assert (row["advances"], row["declines"], row["unchanged"]) == (
                signs.count(1),
                signs.count(-1),
                signs.count(0),
            )
            w = 1 / len(signs) if members is None else 1 / len(members)
            assert row["weighted_net"] == pytest.approx(w * sum(signs))


def test_the_breadth_command_from_an_archive_of_snapshots(tmp_path):
    """Two sessions of OHLC snapshots across July 4th in the archive, a folder of holdings:
    the day's counts per list and the daily series; the chart opens in a browser."""
    from ki2fast import store
    from ki2fast.cli import main
    from tests.browser import Browser

    before, day = dt.date(2025, 7, 3), dt.date(2025, 7, 7)
    rows = snap(before, 390, {"A": 10.0, "B": 20.0, "C": 30.0})
    rows += snap(day, 0, {"A": 11.0, "B": 19.0, "C": 30.0}) + snap(day, 1, {"A": 12.0, "B": 21.0})
    table = pl.DataFrame(rows).with_columns(pl.col("ts").dt.convert_time_zone("America/New_York"))
    store.append(tmp_path / "archive", "theta_stock_ohlc_snapshot", table.to_arrow())
    lists = tmp_path / "holdings"
    lists.mkdir()
    pl.DataFrame({"symbol": ["A", "B"], "weight": [3.0, 1.0]}).write_csv(lists / "AB_fund.csv")
    out = tmp_path / "out"
    argv = ["breadth", str(tmp_path / "archive"), "--date", "2025-07-07", "--lists", str(lists)]
    assert main([*argv, "--out", str(out)]) == 0
    intraday = pl.read_parquet(out / "intraday.parquet")
    ab = intraday.filter(pl.col("list") == "AB").sort("ts")
    assert ab.select("advances", "declines", "net").rows() == [(1, 1, 0), (2, 0, 2)]
    assert ab["weighted_net"].to_list() == pytest.approx([0.5, 1.0])
    every = intraday.filter(pl.col("list") == breadth.ALL).sort("ts")
    assert every.select("advances", "declines", "unchanged").rows() == [(1, 1, 1), (2, 0, 0)]
    daily = pl.read_parquet(out / "daily.parquet")
    # July 7th against July 3rd, by each session's last snapshot: A 12 > 10, B 21 > 20.
    assert daily.filter(pl.col("list") == "AB").select("ts", "advances", "declines").rows() == [
        (day, 2, 0)
    ]
    assert main([*argv, "--lists-only", "ZZZ", "--out", str(out)]) == 1
    browser = Browser()
    try:
        browser.open(
            out / "breadth.html", "window.Bokeh !== undefined && Bokeh.documents.length > 0"
        )
        lines = browser.eval(
            "Bokeh.documents[0].get_model_by_name('AB net').data_source.data.y.length"
        )
        assert lines == 2
    finally:
        browser.close()


def test_closes_from_an_itch_replay_are_its_closing_crosses():
    from pathlib import Path

    import ki2fast as kf

    day = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"
    r = kf.replay_itch(day)
    closes = breadth.closes_from_trades(r.trades)
    trades = r.trades.with_columns(pl.col("stock").cast(pl.String))
    cross = trades.filter(
        (pl.col("kind") == "Q") & (pl.col("cross_type") == "C") & pl.col("printable")
    )
    assert cross.height > 0
    got = dict(closes.rows())
    for symbol, price in cross.select("stock", "price").rows():
        assert got[symbol] == price
    # A symbol without a closing cross: its last counting print.
    other = trades.filter(
        ~pl.col("stock").is_in(cross["stock"].to_list()) & pl.col("printable") & ~pl.col("broken")
    )
    symbol = other["stock"][0]
    assert got[symbol] == other.filter(pl.col("stock") == symbol)["price"][-1]
