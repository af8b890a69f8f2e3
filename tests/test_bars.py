"""``kf.bars`` over tables of any feed: the core's fold (the ITCH replay's) against the
column-wise reference in ``tests/bars_reference.py``."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ki2fast as kf
from tests import bars_reference as ref

MIN = 60_000_000_000
SYMBOLS = ["A", "BRK.A", "ZVZZT"]
#: Around $700 000 (beyond 32 bits of 1/10 000 $), a penny stock, and one in between.
BASE = {"A": 1_500_000, "BRK.A": 7_000_000_000, "ZVZZT": 3_456}


@st.composite
def tables(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    """Trades and quotes of a few symbols over a few minutes, rows not in time order, times
    shared between quotes and trades, sides missing, prints that do not count."""
    times = st.integers(0, 4 * MIN)
    # A few distinct times, reused, so that quotes and prints often share one.
    pool = draw(st.lists(times, min_size=1, max_size=6))
    at = st.one_of(st.sampled_from(pool), times)
    n_trades = draw(st.integers(0, 40))
    trades = []
    for _ in range(n_trades):
        s = draw(st.sampled_from(SYMBOLS))
        trades.append(
            {
                "timestamp": draw(at),
                "stock": s,
                "price": BASE[s] + draw(st.integers(-20, 20)) * 100,
                "shares": draw(st.sampled_from([0, 1, 100, 250, 2**32])),
                "printable": draw(st.booleans()) or draw(st.booleans()),
                "broken": draw(st.integers(0, 9)) == 0,
                "kind": draw(st.sampled_from("ECPQ")),
                "aggressor": draw(st.sampled_from(["B", "S", None])),
            }
        )
    quotes = []
    for _ in range(draw(st.integers(0, 40))):
        s = draw(st.sampled_from(SYMBOLS))
        mid = BASE[s] + draw(st.integers(-20, 20)) * 100
        half = draw(st.sampled_from([0, 50, 100, 300]))
        bid = draw(st.sampled_from([mid - half, None, 0]))
        ask = draw(st.sampled_from([mid + half, None, mid + half, mid - 100]))
        quotes.append({"timestamp": draw(at), "stock": s, "bid": bid, "ask": ask})
    trade_schema = {
        "timestamp": pl.Int64,
        "stock": pl.String,
        "price": pl.Int64,
        "shares": pl.UInt64,
        "printable": pl.Boolean,
        "broken": pl.Boolean,
        "kind": pl.String,
        "aggressor": pl.String,
    }
    quote_schema = {"timestamp": pl.Int64, "stock": pl.String, "bid": pl.Int64, "ask": pl.Int64}
    t = pl.DataFrame(trades, schema=trade_schema)
    q = pl.DataFrame(quotes, schema=quote_schema)
    return t, q, draw(st.booleans())


def dollars(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    return df.with_columns(pl.col(c).cast(pl.Float64) / 10_000 for c in cols)


def same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    key = [got.columns[0], got.columns[1]]
    got, want = got.sort(key), want.sort(key)
    assert got.height == want.height
    for c in want.columns:
        a, b = got[c], want[c]
        if a.dtype.is_float() or b.dtype.is_float():
            for x, y in zip(a.to_list(), b.to_list(), strict=True):
                assert (x is None) == (y is None), (c, x, y)
                if x is not None:
                    assert x == pytest.approx(y, rel=1e-12, abs=1e-9), c
        else:
            assert a.cast(pl.String).to_list() == b.cast(pl.String).to_list(), c


@pytest.mark.filterwarnings("ignore:Sortedness of columns cannot be checked")
@settings(max_examples=150, deadline=None)
@given(tables())
def test_bars_are_the_references_on_generated_trades_and_quotes(case) -> None:
    trades, quotes, floats = case
    if floats:
        trades, quotes = dollars(trades, "price"), dollars(quotes, "bid", "ask")
    # Prints placed against their quotes and the time-weighted spread.
    same(kf.bars(trades, quotes, every="1m"), ref.bars(trades, quotes, every="1m"))
    # Prints placed against their own bid and ask: the quote just before each.
    placed = (
        trades.with_row_index("_i")
        .sort("timestamp", maintain_order=True)
        .join_asof(
            quotes.sort("timestamp", maintain_order=True),
            on="timestamp",
            by="stock",
            allow_exact_matches=False,
        )
        .sort("_i")
        .drop("_i")
    )
    got = kf.bars(placed, every="1m")
    want = ref.bars(placed, every="1m")
    same(got, want)
    assert "spread" not in got.columns and "askvol" in got.columns
    # Without any quote information: no placement columns at all.
    bare = kf.bars(trades.drop("kind"), every=dt.timedelta(seconds=30))
    same(bare, ref.bars(trades, every="30s"))
    assert "askvol" not in bare.columns and "hidden_volume" not in bare.columns


def test_wide_prices_and_the_extra_volumes_by_hand() -> None:
    # BRK.A beyond $429 496.7295: three prints, two bars, the tick rule and the quote rule.
    t = pl.DataFrame(
        {
            "ts": [dt.datetime(2025, 3, 14, 9, 30, s, tzinfo=dt.UTC) for s in (1, 2, 3)],
            "symbol": ["BRK.A"] * 3,
            "price": [712_345.0, 712_350.0, 712_340.25],
            "shares": [1, 2, 3],
        }
    ).with_columns(pl.col("ts").dt.convert_time_zone("America/New_York"))
    q = pl.DataFrame(
        {
            "ts": [t["ts"][0] - dt.timedelta(seconds=1), t["ts"][2]],
            "symbol": ["BRK.A"] * 2,
            "bid": [712_340.0, 712_300.0],
            "ask": [712_350.0, 712_400.0],
        }
    )
    b = kf.bars(t, q, every="2s")
    assert b.columns[:2] == ["symbol", "ts"]
    assert b.schema["ts"] == t.schema["ts"]
    assert b["open"].to_list() == [712_345.0, 712_350.0]
    assert b["close"].to_list() == [712_345.0, 712_340.25]
    # 712 345 is the mid (no side by the quote rule, no earlier price for the tick rule);
    # 712 350 is at the ask (an uptick); 712 340.25 is below the mid of the quote strictly
    # before it (the quote at its own time comes after it), a downtick.
    assert b["askvol"].to_list() == [0, 2] and b["bidvol"].to_list() == [0, 0]
    assert b["buy_aggr_volume"].to_list() == [0, 2]
    assert b["sell_aggr_volume"].to_list() == [0, 3]
    assert b["tick_buy_volume"].to_list() == [0, 2]
    assert b["tick_sell_volume"].to_list() == [0, 3]
    assert b["vwap"][1] == pytest.approx((712_350.0 * 2 + 712_340.25 * 3) / 5)
    assert b["spread"][0] == pytest.approx(10.0)
    assert b["first_trade_time"][1] == t["ts"][1]


def test_prices_finer_than_the_unit_and_prints_without_a_symbol_are_errors() -> None:
    t = pl.DataFrame({"timestamp": [0], "stock": ["A"], "price": [1.23456], "shares": [1]})
    with pytest.raises(ValueError, match="finer than 1/10 000"):
        kf.bars(t)
    t = pl.DataFrame({"timestamp": [0], "stock": [None], "price": [1.0], "shares": [1]})
    with pytest.raises(ValueError, match="no stock"):
        kf.bars(t, every="1s")
    t = pl.DataFrame({"timestamp": [0], "stock": ["A"], "price": [-1.0], "shares": [1]})
    with pytest.raises(ValueError, match="negative"):
        kf.bars(t)
