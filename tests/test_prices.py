"""``kf.attach_prices``: prices as of each event, against a brute-force lookup, and the edges
(equal times, no price yet, a price too old)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ki2fast as kf
from ki2fast.prices import price_rows

ET = ZoneInfo("America/New_York")
T0 = dt.datetime(2025, 3, 14, 9, 30, tzinfo=ET)
SYMBOLS = ["A", "B", "C"]


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@st.composite
def days(draw: st.DrawFn):
    """Events, trades and quotes on a few shared times (many ties), two ET days."""
    pool = draw(st.lists(st.integers(0, 40), min_size=1, max_size=8))
    # 20 h later is the next ET day: the trades' cumulative volume starts again there.
    when = st.sampled_from(pool).map(lambda s: s if s < 30 else s * 2400)
    sym = st.sampled_from(SYMBOLS)
    trades = [
        {
            "ts": at(draw(when)),
            "stock": draw(sym),
            "price": draw(st.integers(100, 120)) / 4,
            "shares": draw(st.integers(1, 500)),
            "printable": draw(st.integers(0, 5)) > 0,
        }
        for _ in range(draw(st.integers(0, 25)))
    ]
    quotes = [
        {
            "ts": at(draw(when)),
            "stock": draw(sym),
            "bid": draw(st.integers(90, 110)) / 4,
            "bid_size": draw(st.integers(0, 9)),
            "ask": draw(st.integers(111, 130)) / 4,
            "ask_size": draw(st.integers(0, 9)),
        }
        for _ in range(draw(st.integers(0, 25)))
    ]
    events = [
        {"event_ts": at(draw(when)), "symbol": draw(sym), "n": i}
        for i in range(draw(st.integers(1, 15)))
    ]
    t_schema = {
        "ts": pl.Datetime("us", "America/New_York"),
        "stock": pl.String,
        "price": pl.Float64,
        "shares": pl.Int64,
        "printable": pl.Boolean,
    }
    q_schema = {
        "ts": pl.Datetime("us", "America/New_York"),
        "stock": pl.String,
        "bid": pl.Float64,
        "bid_size": pl.Int64,
        "ask": pl.Float64,
        "ask_size": pl.Int64,
    }
    e_schema = {
        "event_ts": pl.Datetime("us", "America/New_York"),
        "symbol": pl.String,
        "n": pl.Int64,
    }
    return (
        pl.DataFrame(events, schema=e_schema),
        pl.DataFrame(trades, schema=t_schema),
        pl.DataFrame(quotes, schema=q_schema),
        draw(st.booleans()),
    )


def latest(rows: list[dict], sym: str, t: dt.datetime, exact: bool) -> dict | None:
    """The row of ``sym`` with the latest time at (or, not ``exact``, before) ``t``; of rows
    with that time, the last in the list."""
    best = None
    for r in rows:
        known = r["ts"] <= t if exact else r["ts"] < t
        if r["stock"] == sym and known and (best is None or r["ts"] >= best["ts"]):
            best = r
    return best


@settings(max_examples=200, deadline=None)
@given(days())
def test_prices_are_the_latest_rows_at_or_before_each_event(case):
    events, trades, quotes, exact = case
    got = kf.attach_prices(events, quotes, trades, exact=exact)
    # Rows read once (price_rows) price events as the tables themselves do.
    assert kf.attach_prices(events, price_rows(quotes, trades), exact=exact).equals(got)
    assert got.columns[: events.width] == events.columns
    assert got["n"].to_list() == events["n"].to_list()  # the events' order, one row each
    prints = [r for r in trades.to_dicts() if r["printable"]]
    quote_rows = quotes.to_dicts()
    for e, g in zip(events.to_dicts(), got.to_dicts(), strict=True):
        t, s = e["event_ts"], e["symbol"]
        p = latest(prints, s, t, exact)
        if p is None:
            assert (g["last"], g["last_time"], g["cum_volume"]) == (None, None, None)
        else:
            assert (g["last"], g["last_size"], g["last_time"]) == (p["price"], p["shares"], p["ts"])
            assert g["last_age"] == t - p["ts"]
            # Shares of the symbol's prints that day up to that print's time.
            day = p["ts"].astimezone(ET).date()
            want = sum(
                r["shares"]
                for r in prints
                if r["stock"] == s and r["ts"] <= p["ts"] and r["ts"].astimezone(ET).date() == day
            )
            assert g["cum_volume"] == want
        q = latest(quote_rows, s, t, exact)
        if q is None:
            assert (g["bid"], g["ask"], g["quote_time"]) == (None, None, None)
        else:
            assert (g["bid"], g["bid_size"], g["ask"], g["ask_size"]) == (
                q["bid"],
                q["bid_size"],
                q["ask"],
                q["ask_size"],
            )
            assert g["quote_time"] == q["ts"] and g["quote_age"] == t - q["ts"]


def test_the_edges_by_hand():
    trades = pl.DataFrame(
        {
            "ts": [at(0), at(10), at(10), at(20)],
            "stock": ["A", "A", "A", "A"],
            "price": [10.0, 11.0, 12.0, 13.0],
            "shares": [100, 200, 300, 400],
        }
    )
    events = pl.DataFrame(
        {"event_ts": [at(-1), at(10), at(15), at(300)], "symbol": ["A", "A", "A", "A"]}
    )
    got = kf.attach_prices(events, trades=trades)
    # Before any print: nothing. At 10 s: both prints of 10 s count, the later one is the
    # last. 15 s: still the 10 s one, 5 s old. 300 s: the 20 s print.
    assert got["last"].to_list() == [None, 12.0, 12.0, 13.0]
    assert got["cum_volume"].to_list() == [None, 600, 600, 1000]
    assert got["last_age"].to_list()[2] == dt.timedelta(seconds=5)
    # Strictly before: the prints of 10 s are not known at 10 s.
    strict = kf.attach_prices(events, trades=trades, exact=False)
    assert strict["last"].to_list() == [None, 10.0, 12.0, 13.0]
    # Too old: the value goes, its time and age stay.
    young = kf.attach_prices(events, trades=trades, max_age="1m")
    assert young["last"].to_list() == [None, 12.0, 12.0, None]
    assert young["last_age"].to_list()[3] == dt.timedelta(seconds=280)
    assert young["cum_volume"].to_list() == [None, 600, 600, None]
    # No quotes given: the quote columns are there, and null.
    assert got["bid"].null_count() == got.height


def test_levelone_quotes_snapshots_and_event_shapes():
    # Schwab-like quotes: the last price where it changes, the venue's own day volume.
    quotes = pl.DataFrame(
        {
            "ts": [at(0), at(1), at(2)],
            "stock": ["A"] * 3,
            "bid": [9.9, 9.95, 9.95],
            "ask": [10.1, 10.05, 10.05],
            "last": [10.0, 10.0, 10.02],
            "last_size": [100, 100, 50],
            "total_volume": [5_000, 5_000, 5_050],
        }
    )
    program = pl.DataFrame(
        {
            "start": [at(1.5)],
            "burst_id": [7],
            "symbols": [[{"symbol": "A", "num_quotes": 3}, {"symbol": "Z", "num_quotes": 1}]],
        }
    )
    got = kf.attach_prices(program, quotes)
    assert got["symbol"].to_list() == ["A", "Z"]
    assert got["member_num_quotes"].to_list() == [3, 1]
    a = got.row(0, named=True)
    assert (a["last"], a["last_time"], a["cum_volume"], a["bid"]) == (10.0, at(0), 5_000, 9.95)
    # ThetaData snapshots: a quote kind and an OHLC kind, one list.
    quote_snap = pl.DataFrame(
        {
            "symbol": ["Z"],
            "ts": [at(1)],
            "bid": [1.0],
            "bid_size": [3],
            "ask": [1.1],
            "ask_size": [4],
        }
    )
    ohlc_snap = pl.DataFrame({"symbol": ["Z"], "ts": [at(1.2)], "close": [1.05], "volume": [900]})
    z = kf.attach_prices(program, snapshots=[quote_snap, ohlc_snap]).row(1, named=True)
    assert (z["bid"], z["ask_size"], z["last"], z["cum_volume"]) == (1.0, 4, 1.05, 900)
    # Data_Burst rows take their symbols from the symbol rows.
    bursts = pl.DataFrame({"file_date": [T0.date()], "event_ts": [at(2)], "grade": [3]})
    listed = pl.DataFrame(
        {"file_date": [T0.date()] * 2, "event_ts": [at(2)] * 2, "symbol": ["A", "Q"], "bbo": [4, 5]}
    )
    got = kf.attach_prices(bursts, quotes, symbols=listed)
    assert got["symbol"].to_list() == ["A", "Q"] and got["member_bbo"].to_list() == [4, 5]
    assert got["last"].to_list() == [10.02, None]
    # A burst without members stays: one row, no symbol, no prices.
    lonely = pl.concat([bursts, bursts.with_columns(event_ts=pl.lit(at(9)))])
    got = kf.attach_prices(lonely, quotes, symbols=listed)
    assert got["symbol"].to_list() == ["A", "Q", None] and got["last"].to_list()[2] is None
    empty = program.with_columns(symbols=pl.lit([], program.schema["symbols"]))
    assert kf.attach_prices(empty, quotes)["symbol"].to_list() == [None]
    with pytest.raises(ValueError, match="need a symbol"):
        kf.attach_prices(bursts, quotes)
    with pytest.raises(ValueError, match="no prices"):
        kf.attach_prices(program)


def test_an_itch_replay_prices_its_own_bursts(small_day):
    r = kf.replay_itch(small_day, bbo=True)
    episodes = kf.detect_stuffing(small_day)
    if episodes.height == 0:
        pytest.skip("no episode on this day")
    got = kf.attach_prices(episodes, r)
    assert got.height == episodes.height
    known = got.filter(pl.col("quote_time").is_not_null())
    assert known.height > 0
    assert (known["quote_time"] <= known["start"]).all()
    with pytest.raises(ValueError, match="bbo=True"):
        kf.attach_prices(episodes, kf.replay_itch(small_day))
