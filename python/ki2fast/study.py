"""What happens after a burst: the symbol's return at horizons after each event, as of the
event's time, and the statistics per group of events (docs/study.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from ki2fast.analytics import Every, parse_every
from ki2fast.prices import PriceRows, attach_prices, price_rows

if TYPE_CHECKING:
    import polars as pl

__all__ = ["HORIZONS", "basket_returns", "event_returns", "program_race", "summarize"]

#: The default horizons after an event.
HORIZONS: tuple[str, ...] = ("1m", "5m", "15m", "30m")

Price = Literal["last", "mid"]


def _label(h: Every) -> str:
    return h if isinstance(h, str) else f"{parse_every(h) // 10**9}s"


def event_returns(
    events: Any,
    quotes: Any = None,
    trades: Any = None,
    snapshots: Any = None,
    *,
    horizons: Sequence[Every] = HORIZONS,
    price: Price = "last",
    at: str | None = None,
    symbols: Any = None,
    max_age: Every | None = None,
) -> pl.DataFrame:
    """The events with, per symbol, the price at the event and the return ``ret_<h>`` at each
    horizon after it (``exit / entry − 1``), and ``side``: +1 for a buy program, −1 for a
    sell program, 0 for anything else.

    Events and prices are taken as :func:`ki2fast.attach_prices` takes them (program bursts
    give a row per member symbol). ``price="last"``: the last trade; ``"mid"``: the mid of
    the bid and ask. The entry is the price as of the event's time (at or before it); the exit
    at horizon *h* is the price as of the time + *h*. Nothing later than that is used.
    """
    import polars as pl

    rows = quotes if isinstance(quotes, PriceRows) else price_rows(quotes, trades, snapshots)
    base = attach_prices(events, rows, at=at, symbols=symbols, max_age=max_age)
    time = at or next(c for c in ("event_ts", "start", "ts", "time") if c in base.columns)
    value = _price(price)
    out = base.with_columns(entry=value, side=_side(base))
    key = base.select("symbol", _t=pl.col(time))
    for h in horizons:
        step = pl.duration(nanoseconds=parse_every(h))
        later = attach_prices(
            key.with_columns(_t=pl.col("_t") + step), rows, at="_t", max_age=max_age
        )
        exit_ = later.select(value.alias("exit"))["exit"]
        out = out.with_columns((exit_ / pl.col("entry") - 1).alias(f"ret_{_label(h)}"))
    return out


def _price(price: Price) -> pl.Expr:
    import polars as pl

    if price == "last":
        return pl.col("last")
    if price == "mid":
        bid, ask = pl.col("bid"), pl.col("ask")
        return pl.when((bid > 0) & (ask > bid)).then((bid + ask) / 2)
    raise ValueError(f"price must be 'last' or 'mid', not {price!r}")


def _side(events: pl.DataFrame) -> pl.Expr:
    """+1 buy program, −1 sell program, 0 otherwise."""
    import polars as pl

    if "prog_type" in events.columns and events.schema["prog_type"] == pl.String:
        kind = pl.col("prog_type").str.to_uppercase()
        return pl.when(kind == "BUY").then(1).when(kind == "SELL").then(-1).otherwise(0)
    if "is_buy" in events.columns:
        return pl.when(pl.col("is_buy")).then(1).otherwise(-1)
    return pl.lit(0)


def basket_returns(returns: pl.DataFrame, *, by: str = "burst_id") -> pl.DataFrame:
    """Per event (``by``), the equal-weighted and dollar-weighted (``member_dollars``) mean of
    its members' returns at each horizon, over the members with a return."""
    import polars as pl

    rets = [c for c in returns.columns if c.startswith("ret_")]
    w = pl.col("member_dollars") if "member_dollars" in returns.columns else pl.lit(1.0)
    aggs = []
    for c in rets:
        ok = pl.col(c).is_not_null()
        aggs += [
            pl.col(c).mean().alias(f"{c}_equal"),
            ((pl.col(c) * w).filter(ok).sum() / w.filter(ok).sum()).alias(f"{c}_dollar"),
        ]
    keep = [c for c in ("side", "prog_type", "grade", "capper") if c in returns.columns]
    return (
        returns.group_by(by, maintain_order=True)
        .agg(*[pl.col(c).first() for c in keep], pl.len().alias("members"), *aggs)
        .sort(by)
    )


def summarize(
    returns: pl.DataFrame,
    *,
    by: str | Sequence[str] = (),
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pl.DataFrame:
    """Per group (``by``) and horizon: ``count``, ``mean``, ``median``, ``hit_rate`` (the share
    of returns in the event's direction: up for buy programs and unsided events, down for sell
    programs) and a percentile-bootstrap confidence interval of the mean (``ci_low``,
    ``ci_high``; ``resamples`` draws with replacement, seeded)."""
    import numpy as np
    import polars as pl

    keys = [by] if isinstance(by, str) else list(by)
    rets = [c for c in returns.columns if c.startswith("ret_")]
    side = pl.col("side") if "side" in returns.columns else pl.lit(0)
    direction = pl.when(side < 0).then(-1).otherwise(1)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - confidence) / 2, 1 - (1 - confidence) / 2
    rows = []
    groups = returns.partition_by(keys, as_dict=True) if keys else {(): returns}
    for key, part in sorted(groups.items(), key=lambda kv: str(kv[0])):
        for c in rets:
            one = part.filter(pl.col(c).is_not_null())
            r = one[c].to_numpy()
            hits = one.select((pl.col(c) * direction > 0).mean()).item() if one.height else None
            low = high = None
            if r.size:
                means = rng.choice(r, size=(resamples, r.size), replace=True).mean(axis=1)
                low, high = (float(x) for x in np.quantile(means, [lo_q, hi_q]))
            rows.append(
                {
                    **dict(zip(keys, key, strict=True)),
                    "horizon": c.removeprefix("ret_"),
                    "count": int(r.size),
                    "mean": float(r.mean()) if r.size else None,
                    "median": float(np.median(r)) if r.size else None,
                    "hit_rate": hits,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pl.DataFrame(rows)


def program_race(bursts: Any) -> pl.DataFrame:
    """Program bursts in time order with the running count of buy and sell programs, the
    side ahead (``lead``: buy, sell or even) and ``cross``: True where the lead passes from
    one side to the other (an even count in between does not hide it)."""
    import polars as pl

    from ki2fast._frames import polars_frame

    b = bursts if isinstance(bursts, pl.DataFrame) else polars_frame(bursts)
    time = "start" if "start" in b.columns else "event_ts"
    b = b.sort(time, maintain_order=True).with_columns(_side=_side(b))
    b = b.with_columns(
        buys=(pl.col("_side") == 1).cum_sum(),
        sells=(pl.col("_side") == -1).cum_sum(),
    ).with_columns(
        lead=pl.when(pl.col("buys") > pl.col("sells"))
        .then(pl.lit("buy"))
        .when(pl.col("sells") > pl.col("buys"))
        .then(pl.lit("sell"))
        .otherwise(pl.lit("even"))
    )
    # The last side ahead before each row, evens skipped.
    ahead = pl.when(pl.col("lead") != "even").then(pl.col("lead"))
    prev = ahead.shift(1).forward_fill()
    return b.with_columns(
        cross=(pl.col("lead") != "even") & prev.is_not_null() & (pl.col("lead") != prev)
    ).drop("_side")
