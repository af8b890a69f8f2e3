"""The bar rules as polars expressions, column by column: the reference the core's bars
(``kf.bars``, the same fold as the ITCH replay's) are checked against."""

from __future__ import annotations

from typing import Any

import polars as pl

# Which prints count is the package's one rule; the fold of bars is what this reference checks.
from ki2fast.analytics import counting_prints, parse_every


def _frame(table: Any) -> pl.DataFrame:
    return table if isinstance(table, pl.DataFrame) else pl.DataFrame(pl.from_arrow(table))


def _time_col(df: pl.DataFrame) -> str:
    return "ts" if "ts" in df.columns else "timestamp"


def _bucket(time: str, every_ns: int) -> pl.Expr:
    col = pl.col(time)
    if time == "timestamp":
        return (col // every_ns) * every_ns
    return col.dt.truncate(f"{every_ns}ns")


def _dollars(trades: pl.DataFrame, name: str) -> pl.Expr:
    if trades.schema[name].is_integer():
        return pl.col(name).cast(pl.Float64) / 10_000
    return pl.col(name).cast(pl.Float64)


def _asof(left: pl.DataFrame, right: pl.DataFrame, on: str, **kw: Any) -> pl.DataFrame:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sortedness of columns cannot be checked", UserWarning)
        return left.join_asof(right, on=on, by="stock", **kw)


def bars(trades: Any, quotes: Any | None = None, *, every: Any = "1m") -> pl.DataFrame:
    """OHLC, volume, count, VWAP, first and last trade time per stock and bar over the
    prints in time order (file order at equal times); ``askvol`` / ``bidvol`` against the
    quote strictly before each print (or the print's own ``bid`` / ``ask``); the
    time-weighted ``spread`` with quotes. A price of 0 or null is a side without a quote."""
    every_ns = parse_every(every)
    df = counting_prints(_frame(trades))
    time = _time_col(df)
    df = df.sort(time, maintain_order=True)
    if quotes is not None:
        q = _frame(quotes)
        qt = _time_col(q)
        if qt != time:
            raise ValueError(f"trades are keyed by {time!r} but quotes by {qt!r}")
        df = _asof(
            df.drop([c for c in ("bid", "ask", "bid_size", "ask_size") if c in df.columns]).sort(
                time
            ),
            q.select(time, "stock", "bid", "ask").sort(time, maintain_order=True),
            time,
            strategy="backward",
            allow_exact_matches=False,
        )
    price = _dollars(df, "price")
    aggs = [
        price.first().alias("open"),
        price.max().alias("high"),
        price.min().alias("low"),
        price.last().alias("close"),
        pl.col("shares").sum().alias("volume"),
        pl.len().alias("count"),
        ((price * pl.col("shares")).sum() / pl.col("shares").sum()).alias("vwap"),
        pl.col(time).first().alias("first_trade_time"),
        pl.col(time).last().alias("last_trade_time"),
    ]
    if "bid" in df.columns and "ask" in df.columns:
        bid, ask = _dollars(df, "bid"), _dollars(df, "ask")
        valid = (bid > 0) & (ask > bid)
        aggs += [
            pl.col("shares").filter(valid & (price >= ask)).sum().alias("askvol"),
            pl.col("shares").filter(valid & (price <= bid)).sum().alias("bidvol"),
        ]
    out = (
        df.with_columns(_bucket(time, every_ns).alias("bar"))
        .group_by("stock", "bar", maintain_order=True)
        .agg(aggs)
        .sort("stock", "bar")
        .rename({"bar": time})
    )
    if quotes is not None:
        out = out.join(
            _spreads(_frame(quotes), out, time, every_ns), on=["stock", time], how="left"
        )
    return out


def _spreads(quotes: pl.DataFrame, bars: pl.DataFrame, time: str, every_ns: int) -> pl.DataFrame:
    """Time-weighted spread per (stock, bar) over the bars' intervals: quote intervals are
    cut at every bar start and end, and the quote in force carries over."""
    # A null side is a side without a quote (0); only the cut rows take the quote in force.
    q = quotes.select(
        time,
        "stock",
        _dollars(quotes, "bid").fill_null(0).alias("bid"),
        _dollars(quotes, "ask").fill_null(0).alias("ask"),
    )
    starts = bars.select(time, "stock")
    if time == "timestamp":
        ends = starts.with_columns(pl.col(time) + every_ns)
    else:
        ends = starts.with_columns(pl.col(time) + pl.duration(nanoseconds=every_ns))
    cuts = (
        pl.concat([starts, ends])
        .unique()
        .with_columns(
            pl.lit(None, pl.Float64).alias("bid"),
            pl.lit(None, pl.Float64).alias("ask"),
            pl.lit(1).alias("cut"),
        )
    )
    rows = (
        pl.concat([q.with_columns(pl.lit(0).alias("cut")), cuts.select([*q.columns, "cut"])])
        .sort("stock", time, "cut", maintain_order=True)
        .with_columns(pl.col("bid", "ask").forward_fill().over("stock"))
        .with_columns(
            (pl.col(time).shift(-1).over("stock") - pl.col(time)).alias("dt"),
            _bucket(time, every_ns).alias("bar"),
        )
    )
    if time != "timestamp":
        rows = rows.with_columns(pl.col("dt").dt.total_nanoseconds())
    valid = (pl.col("bid") > 0) & (pl.col("ask") > pl.col("bid"))
    w = pl.when(valid).then(pl.col("dt")).otherwise(0).fill_null(0).cast(pl.Float64)
    return (
        rows.group_by("stock", "bar")
        .agg(
            ((pl.col("ask") - pl.col("bid")).fill_null(0) * w).sum().alias("s"),
            w.sum().alias("w"),
        )
        .select(
            "stock",
            pl.col("bar").alias(time),
            pl.when(pl.col("w") > 0).then(pl.col("s") / pl.col("w")).alias("spread"),
        )
    )
