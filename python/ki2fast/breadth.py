"""Market breadth: each symbol's move against its previous close, counted per list of
tickers (advances, declines, net, weighted net) at every snapshot time, and the McClellan
oscillator and summation index over those counts (docs/breadth.md).

The previous session comes from an exchange calendar (``exchange_calendars``:
``pip install ki2fast[breadth]``), not from a list of holidays kept here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ki2fast._common import NY

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "ALL",
    "breadth",
    "changes",
    "chart",
    "closes_from_snapshots",
    "closes_from_trades",
    "daily_changes",
    "ema",
    "mcclellan",
    "previous_session",
    "read_lists",
]

#: The name of the list of every symbol.
ALL = "ALL"


def previous_session(day: dt.date | str, calendar: str = "XNYS") -> dt.date:
    """The last trading session before ``day`` on the exchange ``calendar`` (NYSE by
    default): weekends and the exchange's holidays are skipped.

    >>> previous_session("2025-07-07")   # Monday; Friday the 4th was a holiday
    datetime.date(2025, 7, 3)
    """
    import exchange_calendars as xc
    import pandas as pd

    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    cal = xc.get_calendar(calendar)
    stamp = pd.Timestamp(day)
    if cal.is_session(stamp):
        before = cal.previous_session(stamp)
    else:
        before = cal.date_to_session(stamp, direction="previous")
    return before.date()


def _frame(x: Any) -> pl.DataFrame:
    import polars as pl

    from ki2fast._frames import polars_frame

    return x if isinstance(x, pl.DataFrame) else polars_frame(x)


def _symbol(df: pl.DataFrame) -> str:
    """The symbol column, by any of its usual names in any case (``Ticker``, ``SYMBOL``)."""
    lower = {c.lower(): c for c in df.columns}
    for name in ("symbol", "stock", "ticker"):
        if name in lower:
            return lower[name]
    raise ValueError(f"a table with a symbol, stock or ticker column; got {df.columns}")


def closes_from_snapshots(snapshots: Any, day: dt.date | str, price: str = "close") -> pl.DataFrame:
    """``symbol, close``: each symbol's last ``price`` on ``day`` (ET) in a snapshot table
    (ThetaData OHLC snapshots: the session's ``close`` so far, so the last snapshot of the day
    holds the day's close)."""
    import polars as pl

    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    df = _frame(snapshots)
    sym = _symbol(df)
    local = pl.col("ts").dt.convert_time_zone(NY).dt.date()
    return (
        df.filter((local == day) & pl.col(price).is_not_null())
        .sort("ts", maintain_order=True)
        .group_by(sym, maintain_order=True)
        .agg(pl.col(price).last().cast(pl.Float64).alias("close"))
        .rename({sym: "symbol"})
        .with_columns(pl.col("symbol").cast(pl.String))
    )


def closes_from_trades(trades: Any) -> pl.DataFrame:
    """``symbol, close`` from a day's trades (an ITCH replay's ``trades``, or any canonical
    trades table): the closing cross's price where the table has one (``kind`` Q,
    ``cross_type`` C), else the last print that counts in volume."""
    import polars as pl

    from ki2fast.analytics import counting_prints

    t = counting_prints(_frame(trades))
    sym = _symbol(t)
    time = "ts" if "ts" in t.columns else "timestamp"
    price = pl.col("price").cast(pl.Float64)
    if t.schema["price"].is_integer():
        price = price / 10_000
    closing = pl.lit(False)
    if {"kind", "cross_type"} <= set(t.columns):
        closing = (pl.col("kind").cast(pl.String) == "Q") & (
            pl.col("cross_type").cast(pl.String) == "C"
        )
    return (
        t.sort(time, maintain_order=True)
        .with_columns(_p=price, _c=closing)
        .group_by(sym, maintain_order=True)
        .agg(
            pl.when(pl.col("_c").any())
            .then(pl.col("_p").filter(pl.col("_c")).last())
            .otherwise(pl.col("_p").last())
            .alias("close")
        )
        .select(pl.col(sym).cast(pl.String).alias("symbol"), "close")
    )


def changes(snapshots: Any, closes: Any, price: str = "close") -> pl.DataFrame:
    """``ts, symbol, change``: per snapshot row, +1 when ``price`` is above the symbol's
    previous close, −1 below, 0 equal. A symbol without a previous close or without a price
    in a snapshot is not counted there."""
    import polars as pl

    df, prev = _frame(snapshots), _frame(closes)
    sym = _symbol(df)
    prev = prev.select(
        pl.col(_symbol(prev)).cast(pl.String).alias("symbol"),
        pl.col("close").cast(pl.Float64).alias("_prev"),
    )
    now = pl.col("_now")
    return (
        df.select(
            "ts",
            pl.col(sym).cast(pl.String).alias("symbol"),
            pl.col(price).cast(pl.Float64).alias("_now"),
        )
        .join(prev, on="symbol", how="inner")
        .filter(now.is_not_null() & pl.col("_prev").is_not_null())
        .select(
            "ts",
            "symbol",
            change=pl.when(now > pl.col("_prev"))
            .then(1)
            .when(now < pl.col("_prev"))
            .then(-1)
            .otherwise(0)
            .cast(pl.Int8),
        )
    )


def read_lists(folder: str | os.PathLike[str]) -> dict[str, pl.DataFrame]:
    """Ticker lists from a folder of holdings files, as users keep them: one Parquet or CSV
    file per fund, the fund's ticker the first word of the file name (``SPY.csv``,
    ``QQQ_holdings.parquet``, ``xlk-2025-03.csv``), a ``symbol`` (or ``ticker``, ``stock``)
    column and, optionally, ``weight`` (equal weights without it). Each list: ``symbol,
    weight``, the weights summing to 1."""
    import polars as pl

    out: dict[str, pl.DataFrame] = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix.lower() not in (".csv", ".parquet"):
            continue
        first = re.match(r"[A-Za-z0-9]+", path.stem)
        if first is None:
            continue
        name = first.group(0).upper()
        df = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path)
        sym = _symbol(df)
        weight = pl.col("weight").cast(pl.Float64) if "weight" in df.columns else pl.lit(1.0)
        members = (
            df.select(pl.col(sym).cast(pl.String).str.strip_chars().alias("symbol"), weight=weight)
            .filter(pl.col("symbol").is_not_null() & (pl.col("symbol") != ""))
            .group_by("symbol", maintain_order=True)
            .agg(pl.col("weight").sum())
        )
        total = members["weight"].sum()
        if members.height == 0 or not total:
            raise ValueError(f"{path}: no members with weight")
        out[name] = members.with_columns(pl.col("weight") / total)
    return out


def breadth(
    moves: pl.DataFrame,
    lists: Mapping[str, Any] | None = None,
    *,
    include_all: bool = True,
) -> pl.DataFrame:
    """Per list and snapshot time: ``advances``, ``declines``, ``unchanged``, ``net``
    (advances − declines) and ``weighted_net`` (Σ weight · change over the members counted,
    the weights as the list gives them). ``moves``: :func:`changes`' table. ``lists``: name →
    a table of ``symbol`` (and ``weight``), or a list of symbols (equal weights); with
    ``include_all`` also the list ``ALL`` of every symbol, equally weighted (1/N of the
    symbols counted at that time)."""
    import polars as pl

    parts = []
    for name, members in (lists or {}).items():
        if (
            isinstance(members, Iterable)
            and not hasattr(members, "columns")
            and not hasattr(members, "column_names")
        ):
            m = pl.DataFrame({"symbol": [str(s) for s in members]}).unique(maintain_order=True)
            m = m.with_columns(weight=pl.lit(1.0 / max(m.height, 1)))
        else:
            m = _frame(members)
            m = m.select(
                pl.col(_symbol(m)).cast(pl.String).alias("symbol"),
                (pl.col("weight") if "weight" in m.columns else pl.lit(1.0 / m.height))
                .cast(pl.Float64)
                .alias("weight"),
            )
        parts.append(m.with_columns(list=pl.lit(name)))
    counts = [
        pl.col("change").eq(1).sum().cast(pl.UInt32).alias("advances"),
        pl.col("change").eq(-1).sum().cast(pl.UInt32).alias("declines"),
        pl.col("change").eq(0).sum().cast(pl.UInt32).alias("unchanged"),
    ]
    out = []
    if parts:
        membership = pl.concat(parts)
        joined = moves.join(membership, on="symbol", how="inner")
        out.append(
            joined.group_by("list", "ts").agg(
                *counts, (pl.col("weight") * pl.col("change")).sum().alias("weighted_net")
            )
        )
    if include_all:
        out.append(
            moves.group_by("ts")
            .agg(*counts, pl.col("change").cast(pl.Float64).mean().alias("weighted_net"))
            .with_columns(list=pl.lit(ALL))
        )
    if not out:
        raise ValueError("no list to count: pass lists or include_all=True")
    return (
        pl.concat(out, how="diagonal")
        .with_columns(net=pl.col("advances").cast(pl.Int64) - pl.col("declines").cast(pl.Int64))
        .select("list", "ts", "advances", "declines", "unchanged", "net", "weighted_net")
        .sort("list", "ts")
    )


def ema(values: Iterable[float], n: int) -> list[float]:
    """Exponential moving average with α = 2 / (n + 1), started at the first value:
    ``e₀ = x₀``, ``eᵢ = eᵢ₋₁ + α (xᵢ − eᵢ₋₁)``.

    >>> ema([10, 20], 3)   # α = 0.5
    [10.0, 15.0]
    """
    alpha = 2.0 / (n + 1)
    out: list[float] = []
    for x in values:
        out.append(float(x) if not out else out[-1] + alpha * (float(x) - out[-1]))
    return out


def mcclellan(counts: pl.DataFrame, *, fast: int = 19, slow: int = 39) -> pl.DataFrame:
    """The McClellan oscillator and summation index per list, in time order (daily rows for
    the daily series, snapshot rows for the intraday one):

    - ``oscillator`` = EMA\\ :sub:`fast`\\ (net) − EMA\\ :sub:`slow`\\ (net), net = advances −
      declines, each EMA as :func:`ema` (α = 2 / (n + 1), started at the first value);
    - ``summation`` = the running sum of ``oscillator``;
    - the ratio-adjusted forms on ``rana`` = (advances − declines) / (advances + declines) ·
      1000 (0 when nothing moved): ``ra_oscillator`` and ``ra_summation``.
    """
    import polars as pl

    out = []
    for part in counts.sort("list", "ts").partition_by("list", maintain_order=True):
        net = part["net"].cast(pl.Float64).to_list()
        moved = (part["advances"].cast(pl.Float64) + part["declines"].cast(pl.Float64)).to_list()
        rana = [1000.0 * x / m if m else 0.0 for x, m in zip(net, moved, strict=True)]
        osc = [f - s for f, s in zip(ema(net, fast), ema(net, slow), strict=True)]
        ra = [f - s for f, s in zip(ema(rana, fast), ema(rana, slow), strict=True)]
        out.append(
            part.with_columns(
                pl.Series("rana", rana),
                pl.Series("oscillator", osc),
                pl.Series("summation", osc).cum_sum(),
                pl.Series("ra_oscillator", ra),
                pl.Series("ra_summation", ra).cum_sum(),
            )
        )
    return pl.concat(out) if out else counts


def daily_changes(closes: Any, calendar: str = "XNYS") -> pl.DataFrame:
    """``ts`` (the session's date), ``symbol``, ``change``: each session's close against the
    previous session's close (by the exchange ``calendar``), from a table of ``date, symbol,
    close``. A session whose previous session is not in the table is left out, as is a symbol
    missing from either session."""
    import polars as pl

    df = _frame(closes)
    df = df.select(
        pl.col("date").cast(pl.Date), pl.col(_symbol(df)).cast(pl.String).alias("symbol"), "close"
    )
    days = sorted(set(df["date"].to_list()))
    previous = pl.DataFrame(
        {"date": days, "_before": [previous_session(d, calendar) for d in days]},
        schema={"date": pl.Date, "_before": pl.Date},
    )
    before = df.rename({"date": "_before", "close": "_prev"})
    return (
        df.join(previous, on="date")
        .join(before, on=["_before", "symbol"], how="inner")
        .select(
            pl.col("date").alias("ts"),
            "symbol",
            change=pl.when(pl.col("close") > pl.col("_prev"))
            .then(1)
            .when(pl.col("close") < pl.col("_prev"))
            .then(-1)
            .otherwise(0)
            .cast(pl.Int8),
        )
    )


def chart(series: pl.DataFrame, path: str | os.PathLike[str], *, title: str = "Breadth") -> Path:
    """A self-contained HTML chart (bokeh) of breadth series: one line per list and measure
    (``net``, ``weighted_net``, ``oscillator``, ``summation`` …), each scaled to −1..1 by its
    largest absolute value so that they share the plot, each with its own axis of real values
    on the right; the hover shows the real value."""
    import html as _html

    import polars as pl
    from bokeh.embed import file_html
    from bokeh.models import ColumnDataSource, HoverTool, LinearAxis, Range1d
    from bokeh.palettes import Category10_10
    from bokeh.plotting import figure
    from bokeh.resources import INLINE

    measures = [c for c in ("net", "weighted_net", "oscillator", "summation") if c in series]
    temporal = series.schema["ts"].is_temporal()
    p = figure(
        width=1200,
        height=500,
        title=title,
        x_axis_type="datetime" if temporal else "linear",
        y_range=Range1d(start=-1.05, end=1.05),
        tools="xpan,xwheel_zoom,box_zoom,reset,save",
    )
    p.yaxis.visible = False
    colors = iter(Category10_10 * 20)
    for (name,), part in series.sort("ts").partition_by("list", as_dict=True).items():
        for m in measures:
            real = part[m].cast(pl.Float64)
            top = float(real.abs().fill_null(0).max() or 0.0) or 1.0  # type: ignore[arg-type]
            key = f"{name} {m}"
            p.extra_y_ranges[key] = Range1d(start=-1.05 * top, end=1.05 * top)
            p.add_layout(LinearAxis(y_range_name=key, axis_label=key), "right")
            ts = part["ts"]
            if temporal and isinstance(ts.dtype, pl.Datetime) and ts.dtype.time_zone:
                ts = ts.dt.convert_time_zone(NY).dt.replace_time_zone(None)
            src = ColumnDataSource(
                {"x": ts.to_numpy(), "y": (real / top).to_numpy(), "value": real.to_numpy()}
            )
            r = p.line("x", "y", source=src, color=next(colors), legend_label=key, name=key)
            p.add_tools(HoverTool(renderers=[r], tooltips=[(key, "@value{0.00}")]))
    p.legend.click_policy = "hide"
    p.legend.location = "top_left"
    out = Path(path)
    out.write_text(file_html(p, INLINE, _html.escape(title)), "utf-8")
    return out
