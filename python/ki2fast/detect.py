"""Quote activity and quote-stuffing episodes (docs/detection.md §2–3.4), from ITCH or any feed.

``quote_activity`` counts, per symbol and window, quote messages, top-of-book changes,
prints, shares and dollars. ``detect_stuffing`` finds stuffing episodes with a preset or
parameters of your own:

- sliding rate rules (``"micro"``, the default: ≥ 200 quote messages within 25 ms;
  ``"micro_50ms"``, ``"nanex"``, ``"strict"``) run message by message in the Rust core;
- statistical rules (``"zscore"``, ``"egginton_2016"``, ``"zscore_robust"``,
  ``"zscore_trailing"``) and ratio rules (``"otr"``, ``"cancel_to_trade"``,
  ``"cancel_to_exec"``) run over activity windows.

Sources: an ITCH file, bytes or buffer (replayed in the core: books give the top-of-book
changes); an order-events table (``kf.read_order_events``' schema, replayed into the core's
books the same way; it holds no ``P`` prints); a level-one quotes table (``ts``, ``stock``,
``bid``, ``bid_size``, ``ask``, ``ask_size``) with an optional trades table, such as
``ki2fast.feeds.schwab.read_levelone``'s ``quotes`` and ``trades``; or, for the window rules,
an activity table (``quote_activity``'s, or ``hftalert.hft1_activity``'s).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ki2fast import _core
from ki2fast._args import name_list, session_date, thread_count
from ki2fast._frames import polars_frame as _pl
from ki2fast._progress import run_with_progress
from ki2fast.analytics import Every, activity_frame, parse_every
from ki2fast.exceptions import TimestampRegressionWarning
from ki2fast.itch import DateLike

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "PRESETS",
    "BurstAlerts",
    "BurstMonitor",
    "RatioRule",
    "SlidingRule",
    "ZScoreRule",
    "detect_program_bursts",
    "detect_stuffing",
    "quote_activity",
]

ZONE = "America/New_York"
_SECOND = 10**9
_MINUTE = 60 * _SECOND


@dataclass(frozen=True)
class SlidingRule:
    """A symbol's quote message is hot when ``min_msgs`` quote messages fall within
    ``window`` ns ending at it; hot messages whose windows start no later than ``merge_gap``
    ns after an episode's end extend it (docs/detection.md §3.1)."""

    window: int
    min_msgs: int
    merge_gap: int


@dataclass(frozen=True)
class ZScoreRule:
    """Flag a window whose ``metric`` exceeds ``μ + k·σ`` of the symbol's day (``baseline``
    ``"day"``) or of the ``lookback`` windows before it (``"rolling"``), empty windows
    counting as 0, and is at least ``floor``. ``robust`` uses the median and 1.4826 × MAD;
    when the MAD is 0 (most of the series is one value, e.g. a quiet symbol's zeros), σ is
    1.253314 × the mean absolute deviation from the median instead, so a spread of zero never
    lets every window above the median through. When no window of a symbol-day is flagged at
    ``k``, ``k_fallback`` (if set) is tried (docs/detection.md §3.2)."""

    window: int
    k: float
    k_fallback: float | None = None
    floor: float = 0.0
    baseline: Literal["day", "rolling"] = "day"
    robust: bool = False
    lookback: int = 30
    metric: str = "num_quotes"


@dataclass(frozen=True)
class RatioRule:
    """Flag a window with at least ``min_quotes`` quote messages whose ``ratio``
    (denominator at least 1) is at least ``threshold`` (docs/detection.md §3.3)."""

    ratio: Literal["otr", "cancel_to_trade", "cancel_to_exec"]
    window: int = _MINUTE
    min_quotes: int = 100
    threshold: float = 100.0


Rule = SlidingRule | ZScoreRule | RatioRule

#: The presets of docs/detection.md §3.1–3.3; every value can be overridden by keyword.
PRESETS: dict[str, Rule] = {
    "micro": SlidingRule(25_000_000, 200, 25_000_000),
    "micro_50ms": SlidingRule(50_000_000, 100, 50_000_000),
    "nanex": SlidingRule(_SECOND, 500, _SECOND),
    "strict": SlidingRule(_SECOND, 1000, _SECOND),
    "zscore": ZScoreRule(_MINUTE, k=2, k_fallback=1),
    "egginton_2016": ZScoreRule(_MINUTE, k=20),
    "zscore_robust": ZScoreRule(_SECOND, k=20, floor=100, robust=True),
    "zscore_trailing": ZScoreRule(_MINUTE, k=20, floor=100, baseline="rolling", robust=True),
    "otr": RatioRule("otr"),
    "cancel_to_trade": RatioRule("cancel_to_trade"),
    "cancel_to_exec": RatioRule("cancel_to_exec"),
}

#: The columns every episode table starts with (docs/detection.md §3.4).
EPISODE_COLUMNS = ["stock", "start", "end", "peak_rate", "num_quotes", "num_trades", "dollars"]

#: The activity table's counts, as the core names them.
_COUNTS = list(_core.ACTIVITY_COUNT_COLUMNS)
_SUMS = [
    *_COUNTS,
    "shares",
    "dollars",
    "buy_aggr_shares",
    "sell_aggr_shares",
]


def _is_source(x: Any) -> bool:
    return isinstance(x, str | os.PathLike | bytes | bytearray | memoryview)


def _table_kind(df: pl.DataFrame) -> str:
    cols = set(df.columns)
    if {"num_quotes", "window_start"} <= cols:
        return "activity"
    if {"bid", "ask"} <= cols and ("stock" in cols or "symbol" in cols):
        return "quotes"
    if {"event", "order_reference_number", "stock_locate", "timestamp"} <= cols:
        return "order_events"
    raise TypeError(
        "expected an ITCH source (path, bytes or buffer), a level-one quotes table (stock, "
        "bid, ask, …) or an activity table (window_start, num_quotes, …); got columns "
        f"{sorted(cols)}"
    )


def _frame(x: Any) -> pl.DataFrame:
    import polars as pl

    return x if isinstance(x, pl.DataFrame) else _pl(x)


def quote_activity(
    x: Any,
    *,
    window: Every = "1s",
    trades: Any = None,
    date: DateLike = None,
    symbols: Iterable[str] | str | None = None,
    include_crosses: bool = False,
    threads: int | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Activity records (docs/detection.md §2): one row per symbol and ``window`` with at least one
    event, by window then symbol.

    Columns: ``symbol`` (categorical: dictionary-encoded, as in the other ITCH tables),
    ``locate``, ``window_start`` (ET; for ITCH, with a session date from
    ``date`` or the file name), ``window_timestamp`` (ns since midnight), ``window_ns``,
    ``num_quotes`` (ITCH ``A F X D U``; level-one: quote updates), ``num_adds``,
    ``num_cancels``, ``num_deletes``, ``num_replaces``, ``num_bbo`` (changes of the top of
    book, price or size), ``num_trades`` (prints: ``E``, printable ``C``, ``P``; ``Q`` crosses
    with ``include_crosses``), ``num_executions`` (``E`` and ``C`` messages), ``shares``,
    ``dollars``, ``trade_size`` (dollars per trade), ``notional_e4`` (exact, 1/10 000 $),
    ``buy_aggr_shares``, ``sell_aggr_shares``.

    ``x`` is an ITCH source; an order-events table (``kf.read_order_events``' columns,
    replayed into books; it has no ``P`` prints, so those are not counted); a level-one
    quotes table (pass its ``trades`` too for the trade columns); or a ``LevelOne`` capture
    from ``feeds.schwab.read_levelone``. ``progress=True`` draws a bar of the bytes read
    on a terminal while an ITCH source is replayed.

    >>> import ki2fast as kf
    >>> a = kf.quote_activity("data/samples/03012024.NASDAQ_ITCH50.gz", window="1m")
    >>> int(a["num_quotes"].sum()) > 0
    True
    """
    ns = parse_every(window)
    if _is_source(x):
        out = _replay(
            x,
            date=date,
            symbols=symbols,
            threads=threads,
            activity_every_ns=ns,
            include_crosses=include_crosses,
            progress=progress,
        )
        return activity_frame(out["activity"])
    x, trades = _unwrap_levelone(x, trades)
    df = _frame(x)
    if _table_kind(df) == "activity":
        raise TypeError("quote_activity reads ITCH, order events or level-one quotes")
    activity, _ = _from_table(
        df, trades, activity_ns=ns, sliding=None, include_crosses=include_crosses
    )
    return activity


def _unwrap_levelone(x: Any, trades: Any) -> tuple[Any, Any]:
    """A ``LevelOne`` capture stands for its equity quotes and trades."""
    if hasattr(x, "quotes") and hasattr(x, "trades") and hasattr(x, "equities"):
        return x.quotes, x.trades if trades is None else trades
    return x, trades


def _replay(
    src: Any,
    *,
    date: DateLike,
    symbols: Iterable[str] | str | None,
    threads: int | None,
    activity_every_ns: int | None = None,
    sliding: tuple[int, int, int] | None = None,
    include_crosses: bool = False,
    progress: bool = False,
    label: str = "replay",
) -> dict[str, Any]:
    run = _core.ReplayRun(
        src,
        symbols=name_list(symbols),
        date=session_date(src, date),
        trades=False,
        bar_every_ns=None,
        threads=thread_count(threads),
        activity_every_ns=activity_every_ns,
        sliding=sliding,
        activity_crosses=include_crosses,
    )
    run_with_progress(run, enabled=progress, label=label)
    return run.finish()


def _from_table(
    df: pl.DataFrame,
    trades: Any,
    *,
    activity_ns: int | None,
    sliding: tuple[int, int, int] | None,
    include_crosses: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Activity and episodes of an order-events or a level-one quotes table."""
    if _table_kind(df) == "order_events":
        if trades is not None:
            raise TypeError("order events carry their own executions: pass no trades table")
        return _from_order_events(
            df, activity_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
        )
    return _from_quotes(
        df, trades, activity_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
    )


def _episodes(table: Any) -> pl.DataFrame:
    """The sliding rule's episode table as a frame; warns when the rule left messages out
    because their time went back (the count is in the table's schema metadata)."""
    import pyarrow as pa

    table = pa.table(table)
    late = int((table.schema.metadata or {}).get(b"ki2fast.late_events", b"0"))
    if late:
        warnings.warn(
            f"{late:,} quote messages were stamped before an earlier message of the same symbol "
            "(time went back, as when days are concatenated); the sliding rule left them out "
            "of its windows instead of reordering them",
            TimestampRegressionWarning,
            stacklevel=3,
        )
    return _pl(table)


_ORDER_EVENT_CODES = {
    "add": ord("A"),
    "execute": ord("E"),
    "execute_price": ord("C"),
    "cancel": ord("X"),
    "delete": ord("D"),
    "replace": ord("U"),
}


def _from_order_events(
    events: pl.DataFrame,
    *,
    activity_ns: int | None,
    sliding: tuple[int, int, int] | None,
    include_crosses: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """An order-events table (``kf.read_order_events``' schema) through the core monitor's
    own books: the top-of-book changes, prints and aggressors the replay of the same ITCH
    would give."""
    import polars as pl
    import pyarrow as pa

    batch, names = _order_batch(events)
    midnight = None
    if "ts" in events.columns and events.height:
        first = events.select(pl.col("ts").first().dt.convert_time_zone(ZONE).dt.date()).item()
        midnight = _core.session_midnight_ns(first.isoformat())
    mon = _core.EventMonitor(
        activity_every_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
    )
    for b in batch.to_arrow().to_batches(max_chunksize=1 << 20):
        mon.feed_order_events(b)
    out = mon.finish(names, midnight)
    activity = (
        activity_frame(pa.table(out["activity"])) if out["activity"] is not None else pl.DataFrame()
    )
    episodes = _episodes(out["episodes"]) if out["episodes"] is not None else pl.DataFrame()
    return activity, episodes


def _order_batch(
    events: pl.DataFrame, names: list[str] | None = None
) -> tuple[pl.DataFrame, list[str]]:
    """An order-events frame as ``EventMonitor.feed_order_events`` reads it, and the symbol
    names by locate (``names`` extended)."""
    import polars as pl

    price = pl.col("price")
    if events.schema["price"].is_float():
        price = (price * 10_000).round(0)
    batch = events.select(
        timestamp=pl.col("timestamp").cast(pl.Int64),
        stock_locate=pl.col("stock_locate").cast(pl.UInt16),
        event=pl.col("event")
        .cast(pl.String)
        .replace_strict(_ORDER_EVENT_CODES, return_dtype=pl.UInt8),
        side=pl.col("side")
        .cast(pl.String)
        .replace_strict({"B": ord("B"), "S": ord("S")}, default=0, return_dtype=pl.UInt8),
        order_reference_number=pl.col("order_reference_number").fill_null(0).cast(pl.UInt64),
        new_order_reference_number=pl.col("new_order_reference_number")
        .fill_null(0)
        .cast(pl.UInt64),
        shares=pl.col("shares").fill_null(0).cast(pl.UInt32),
        price=price.fill_null(0).cast(pl.UInt32),
        printable=(
            pl.col("printable").fill_null(True).cast(pl.UInt8)
            if "printable" in events.columns
            else pl.lit(1, pl.UInt8)
        ),
    )
    pairs = (
        events.select(pl.col("stock_locate").cast(pl.Int64), pl.col("stock").cast(pl.String))
        .drop_nulls()
        .unique("stock_locate")
    )
    top = int(events.select(pl.col("stock_locate").max()).item() or 0) if events.height else 0
    names = list(names or [])
    names += [f"#{i}" for i in range(len(names), top + 1)]
    for locate, name in pairs.iter_rows():
        names[locate] = name
    return batch, names


def _from_quotes(
    quotes: pl.DataFrame,
    trades: Any,
    *,
    activity_ns: int | None,
    sliding: tuple[int, int, int] | None,
    include_crosses: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Level-one quotes (and trades) through the core monitor, day by day (times are ns
    since each day's midnight in New York): the activity and episode tables (empty frames
    for what was not asked for)."""
    import polars as pl
    import pyarrow as pa

    ev, _ = _l1_events(quotes, trades)
    names = sorted(ev["_stock"].unique().drop_nulls().to_list())
    if len(names) >= 0xFFFF:
        raise ValueError(f"{len(names)} symbols: at most 65534 fit a table")
    ev = _coded(ev, {n: i for i, n in enumerate(names)})
    activity: list[pl.DataFrame] = []
    episodes: list[pl.DataFrame] = []
    days = ev.partition_by("_day", as_dict=True, maintain_order=True) or {(None,): ev}
    for (day,), part in days.items():
        mon = _core.EventMonitor(
            activity_every_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
        )
        batch = _monitor_batch(part)
        for b in batch.to_batches(max_chunksize=1 << 20):
            mon.feed(b)
        midnight = None if day is None else _core.session_midnight_ns(day.isoformat())
        out = mon.finish(names, midnight)
        if out["activity"] is not None:
            activity.append(activity_frame(pa.table(out["activity"])))
        if out["episodes"] is not None:
            episodes.append(_episodes(out["episodes"]))
    return (
        pl.concat(activity) if activity else pl.DataFrame(),
        pl.concat(episodes) if episodes else pl.DataFrame(),
    )


def _l1_events(
    quotes: pl.DataFrame | None, trades: Any, seed: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Level-one quote updates (``L``), top-of-book changes (``B``) and trades (``T``) as
    time-ordered events with ``_day``, ``_ns``, ``_stock``, ``_event`` and the print columns;
    and each stock's last top of book, which ``seed`` carries into the next batch of a live
    feed (a change is counted against it)."""
    import polars as pl

    events: list[pl.DataFrame] = []
    last = seed
    if quotes is not None and quotes.height:
        stock = "stock" if "stock" in quotes.columns else "symbol"
        q = _local(quotes, stock)
        sizes = [c for c in ("bid_size", "ask_size") if c in q.columns]
        top = ["bid", "ask", *sizes]
        q = q.with_columns(_seed=pl.lit(False))
        if seed is not None:
            q = pl.concat(
                [
                    seed.with_columns(_seed=pl.lit(True)),
                    q.select("_stock", *top, "_seed", "_day", "_ns"),
                ],
                how="diagonal_relaxed",
            )
        changed = pl.any_horizontal(
            [pl.col(c).ne_missing(pl.col(c).shift(1).over("_stock")) for c in top]
        )
        first = pl.int_range(pl.len()).over("_stock") == 0
        q = q.with_columns(
            _bbo=changed | (first & pl.any_horizontal([pl.col(c).is_not_null() for c in top]))
        )
        last = q.group_by("_stock", maintain_order=True).last().select("_stock", *top)
        q = q.filter(~pl.col("_seed"))
        events += [
            q.select("_day", "_ns", "_stock", _event=pl.lit(ord("L"), pl.UInt8), _rank=pl.lit(0)),
            q.filter("_bbo").select(
                "_day", "_ns", "_stock", _event=pl.lit(ord("B"), pl.UInt8), _rank=pl.lit(1)
            ),
        ]
    if trades is not None:
        t = _frame(trades)
        t = _local(t, "stock" if "stock" in t.columns else "symbol")
        if "printable" in t.columns:
            t = t.filter(pl.col("printable"))
        if "broken" in t.columns:
            t = t.filter(~pl.col("broken"))
        price = pl.col("price")
        if t.schema["price"].is_float():
            price = (price * 10_000).round(0)
        aggr = (
            pl.col("aggressor")
            .cast(pl.String)
            .replace_strict({"B": ord("B"), "S": ord("S")}, default=0)
            if "aggressor" in t.columns
            else pl.lit(0)
        )
        events.append(
            t.filter(pl.col("shares") > 0).select(
                "_day",
                "_ns",
                "_stock",
                _event=pl.lit(ord("T"), pl.UInt8),
                _rank=pl.lit(2),
                _shares=pl.col("shares").cast(pl.UInt64),
                _price=price.cast(pl.UInt64),
                _aggr=aggr.cast(pl.UInt8),
            )
        )
    if not events:
        empty = pl.DataFrame(
            schema={"_day": pl.Date, "_ns": pl.Int64, "_stock": pl.String, "_event": pl.UInt8}
        )
        return empty, last
    ev = pl.concat(events, how="diagonal").sort(["_day", "_ns", "_rank"], maintain_order=True)
    return ev, last


def _coded(ev: pl.DataFrame, code: dict[str, int]) -> pl.DataFrame:
    """Events with the monitor's columns: ``code`` (from ``code``), shares, price, aggressor."""
    import polars as pl

    return ev.with_columns(
        code=pl.col("_stock").replace_strict(code, return_dtype=pl.UInt16),
        shares=pl.col("_shares").fill_null(0) if "_shares" in ev.columns else pl.lit(0, pl.UInt64),
        price_e4=pl.col("_price").fill_null(0) if "_price" in ev.columns else pl.lit(0, pl.UInt64),
        aggressor=pl.col("_aggr").fill_null(0) if "_aggr" in ev.columns else pl.lit(0, pl.UInt8),
    )


def _monitor_batch(part: pl.DataFrame) -> Any:
    """A coded event frame as the Arrow table ``EventMonitor.feed`` reads."""
    import polars as pl

    return part.select(
        timestamp=pl.col("_ns").cast(pl.Int64),
        code="code",
        event="_event",
        shares=pl.col("shares").cast(pl.UInt64),
        price_e4=pl.col("price_e4").cast(pl.UInt64),
        aggressor=pl.col("aggressor").cast(pl.UInt8),
    ).to_arrow()


def _local(df: pl.DataFrame, stock: str) -> pl.DataFrame:
    """``_day`` (date in New York), ``_ns`` (ns since that midnight) and ``_stock``."""
    import polars as pl

    if "ts" in df.columns:
        ts = pl.col("ts")
        if df.schema["ts"].time_zone is None:  # type: ignore[attr-defined]
            ts = ts.dt.replace_time_zone("UTC")
        local = ts.dt.convert_time_zone(ZONE).dt.replace_time_zone(None)
        df = df.with_columns(_local=local)
        df = df.with_columns(
            _day=pl.col("_local").dt.date(),
            _ns=(pl.col("_local") - pl.col("_local").dt.truncate("1d")).dt.total_nanoseconds(),
        )
    elif "timestamp" in df.columns:
        raise ValueError(
            "a level-one table needs a zoned 'ts' column (a raw 'timestamp' has no day)"
        )
    else:
        raise ValueError("a quotes or trades table needs a 'ts' column")
    return df.with_columns(_stock=pl.col(stock).cast(pl.String)).filter(
        pl.col("_stock").is_not_null()
    )


def _rule(preset: str, overrides: dict[str, Any]) -> Rule:
    try:
        rule = PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    for key in ("window", "merge_gap"):
        if key in given:
            given[key] = parse_every(given[key]) if key == "window" else _gap(given[key])
    fields = set(rule.__dataclass_fields__)
    unknown = sorted(set(given) - fields)
    if unknown:
        raise TypeError(f"preset {preset!r} ({type(rule).__name__}) takes no {', '.join(unknown)}")
    return replace(rule, **given)


def _gap(v: Every) -> int:
    if isinstance(v, int) and v == 0:
        return 0
    return parse_every(v)


def detect_stuffing(
    x: Any,
    *,
    preset: str = "micro",
    window: Every | None = None,
    min_msgs: int | None = None,
    merge_gap: Every | None = None,
    k: float | None = None,
    k_fallback: float | None = None,
    floor: float | None = None,
    baseline: Literal["day", "rolling"] | None = None,
    robust: bool | None = None,
    lookback: int | None = None,
    metric: str | None = None,
    min_quotes: int | None = None,
    threshold: float | None = None,
    merge_windows: int = 0,
    session: tuple[str, str] | None = ("09:30", "16:00"),
    exclude_edges: bool = False,
    trades: Any = None,
    date: DateLike = None,
    symbols: Iterable[str] | str | None = None,
    include_crosses: bool = False,
    threads: int | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Quote-stuffing episodes (docs/detection.md §3), one row each, by start then symbol.

    Columns start with ``stock, start, end, peak_rate, num_quotes, num_trades, dollars,
    rule``, then ``episode_id``, ``locate``, ``n_windows``, ``k_used``, ``peak_value``,
    ``peak_start``, every activity sum over the episode's span and the ratios recomputed
    from those sums (``otr``, ``cancel_to_trade``, ``cancel_to_exec``, ``adds_per_trade``,
    ``cancel_ratio``; null where the denominator is 0).

    ``preset`` picks the rule and its defaults (``PRESETS``); any keyword overrides them:
    ``window``, ``min_msgs``, ``merge_gap`` for sliding rules; ``window``, ``k``,
    ``k_fallback``, ``floor``, ``baseline``, ``robust``, ``lookback``, ``metric`` for z-score
    rules; ``window``, ``min_quotes``, ``threshold`` for ratio rules. Window rules merge
    flagged windows separated by at most ``merge_windows`` unflagged ones and evaluate the
    ``session`` (New York times; ``None``: the whole day), without its first and last
    minute with ``exclude_edges``. ``progress=True`` draws a bar of the bytes read on a
    terminal while an ITCH source is replayed.

    >>> import ki2fast as kf
    >>> e = kf.detect_stuffing("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> e.columns[:8]
    ['stock', 'start', 'end', 'peak_rate', 'num_quotes', 'num_trades', 'dollars', 'rule']
    """
    rule = _rule(
        preset,
        {
            "window": window,
            "min_msgs": min_msgs,
            "merge_gap": merge_gap,
            "k": k,
            "k_fallback": k_fallback,
            "floor": floor,
            "baseline": baseline,
            "robust": robust,
            "lookback": lookback,
            "metric": metric,
            "min_quotes": min_quotes,
            "threshold": threshold,
        },
    )
    if merge_windows < 0:
        raise ValueError("merge_windows must be 0 or more")
    if isinstance(rule, SlidingRule):
        params = (rule.window, rule.min_msgs, rule.merge_gap)
        if _is_source(x):
            out = _replay(
                x,
                date=date,
                symbols=symbols,
                threads=threads,
                sliding=params,
                include_crosses=include_crosses,
                progress=progress,
            )
            raw = _episodes(out["episodes"])
        else:
            x, trades = _unwrap_levelone(x, trades)
            df = _frame(x)
            if _table_kind(df) == "activity":
                raise TypeError(
                    f"the sliding preset {preset!r} counts single messages: pass ITCH, order "
                    "events or a level-one quotes table, not activity windows"
                )
            _, raw = _from_table(
                df, trades, activity_ns=None, sliding=params, include_crosses=include_crosses
            )
        return _finish_sliding(raw, preset, rule)
    if _is_source(x):
        activity = quote_activity(
            x,
            window=rule.window,
            date=date,
            symbols=symbols,
            include_crosses=include_crosses,
            threads=threads,
            progress=progress,
        )
    else:
        x, trades = _unwrap_levelone(x, trades)
        df = _frame(x)
        if _table_kind(df) == "activity":
            activity = _rewindow(df, rule.window)
        else:
            activity = quote_activity(
                df, window=rule.window, trades=trades, include_crosses=include_crosses
            )
    return window_episodes(
        activity,
        rule,
        name=preset,
        merge_windows=merge_windows,
        session=session,
        exclude_edges=exclude_edges,
    )


def _ratios(df: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    def ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        den = den.cast(pl.Float64)
        return pl.when(den > 0).then(num.cast(pl.Float64) / den)

    c = pl.col
    return df.with_columns(
        otr=ratio(c("num_quotes"), c("num_trades")),
        cancel_to_trade=ratio(
            c("num_cancels") + c("num_deletes") + c("num_replaces"), c("num_trades")
        ),
        cancel_to_exec=ratio(c("num_cancels") + c("num_deletes"), c("num_executions")),
        adds_per_trade=ratio(c("num_adds") + c("num_replaces"), c("num_trades")),
        cancel_ratio=ratio(
            c("num_cancels") + c("num_deletes") + c("num_replaces"),
            c("num_adds") + c("num_replaces"),
        ),
    ).with_columns(
        few_trades=c("num_trades") <= pl.max_horizontal(pl.lit(1.0), 0.01 * c("num_quotes")),
        mostly_cancels=c("cancel_ratio") >= 0.9,
    )


def _order(df: pl.DataFrame, rule_name: str) -> pl.DataFrame:
    import polars as pl

    df = df.with_columns(rule=pl.lit(rule_name), stock=pl.col("stock").cast(pl.String))
    df = df.sort(["start", "stock"], maintain_order=True).with_row_index("episode_id")
    head = [*EPISODE_COLUMNS, "rule", "episode_id"]
    return df.select(head + [c for c in df.columns if c not in head])


def _finish_sliding(raw: pl.DataFrame, name: str, rule: SlidingRule) -> pl.DataFrame:
    import polars as pl

    df = raw.rename({"stock_locate": "locate"})
    if "start" not in df.columns:  # no session date: times of day
        df = df.with_columns(
            start=pl.duration(nanoseconds=pl.col("start_timestamp")),
            end=pl.duration(nanoseconds=pl.col("end_timestamp")),
            peak_start=pl.duration(nanoseconds=pl.col("peak_timestamp")),
        )
    df = df.with_columns(
        n_windows=pl.lit(None, pl.UInt32),
        k_used=pl.lit(None, pl.Float64),
        peak_value=pl.col("peak_count"),
        window_ns=pl.lit(rule.window, pl.Int64),
        min_msgs=pl.lit(rule.min_msgs, pl.UInt32),
    ).drop("peak_count")
    return _order(_ratios(df), name)


def _rewindow(activity: pl.DataFrame, window: int) -> pl.DataFrame:
    """Activity re-cut into ``window`` (a multiple of its own)."""
    import polars as pl

    have = activity["window_ns"].unique().to_list() if "window_ns" in activity.columns else []
    if have == [window]:
        return activity
    if len(have) != 1 or window % have[0]:
        raise ValueError(
            f"the activity table's windows ({have}) do not divide the rule's {window} ns: "
            "compute the activity at the rule's window"
        )
    sums = [c for c in _SUMS if c in activity.columns]
    keys = ["symbol"] + (["locate"] if "locate" in activity.columns else [])
    start = pl.col("window_start")
    if activity.schema["window_start"] == pl.Duration:
        start = pl.duration(nanoseconds=start.dt.total_nanoseconds() // window * window)
    else:
        start = start.dt.truncate(f"{window}ns")
    out = (
        activity.with_columns(window_start=start)
        .group_by([*keys, "window_start"], maintain_order=True)
        .agg([pl.col(c).sum() for c in sums])
        .with_columns(window_ns=pl.lit(window, pl.Int64))
    )
    return out.sort(["window_start", "symbol"])


def window_episodes(
    activity: pl.DataFrame,
    rule: ZScoreRule | RatioRule,
    *,
    name: str = "custom",
    merge_windows: int = 0,
    session: tuple[str, str] | None = ("09:30", "16:00"),
    exclude_edges: bool = False,
) -> pl.DataFrame:
    """Episodes of a window rule over an activity table at the rule's window (docs/detection.md
    §3.2–3.4)."""
    import polars as pl

    w = rule.window
    if "window_start" not in activity.columns:
        raise ValueError("an activity table has a 'window_start' column")
    undated = activity.schema["window_start"] == pl.Duration
    if undated:
        # Times of day without a session date: one day, numbered 0.
        a = activity.with_columns(
            _day=pl.lit(0, pl.Int64),
            _idx=pl.col("window_start").dt.total_nanoseconds() // w,
        )
    elif "window_timestamp" in activity.columns:
        # The core's activity: ns since midnight are there, and start − ns is the day.
        a = activity.with_columns(
            _day=pl.col("window_start").cast(pl.Int64) - pl.col("window_timestamp"),
            _idx=pl.col("window_timestamp") // w,
        )
    else:
        local = pl.col("window_start").dt.convert_time_zone(ZONE).dt.replace_time_zone(None)
        a = activity.with_columns(
            _day=local.dt.date(),
            _idx=(local - local.dt.truncate("1d")).dt.total_nanoseconds() // w,
        )
    lo, hi = 0, (86_400 * _SECOND) // w
    if session is not None:
        lo = _clock_ns(session[0]) // w
        hi = -(-_clock_ns(session[1]) // w)
    edge_lo, edge_hi = lo, hi
    if exclude_edges:
        edge_lo = -(-(_clock_ns(session[0] if session else "00:00") + _MINUTE) // w)
        edge_hi = (_clock_ns(session[1] if session else "24:00") - _MINUTE) // w
    a = a.filter((pl.col("_idx") >= max(lo, edge_lo)) & (pl.col("_idx") < min(hi, edge_hi)))
    n = max(0, min(hi, edge_hi) - max(lo, edge_lo))
    first_idx = max(lo, edge_lo)
    for c in _SUMS:
        if c not in a.columns:
            a = a.with_columns(pl.lit(None, pl.UInt32).alias(c))
    metric = "num_quotes" if isinstance(rule, RatioRule) else rule.metric
    # Day baselines and ratios flag windows column-wise; a rolling baseline per window.
    hit = _flags(a, rule, n, first_idx=first_idx)
    frame = _merge_windows(hit, metric, merge_windows, w)
    when = (
        pl.Duration("ns")
        if undated
        else pl.Datetime("ns", activity.schema["window_start"].time_zone)  # type: ignore[attr-defined]
    )
    frame = frame.with_columns(
        pl.col("start", "end", "peak_start").cast(when),
        pl.col(*_COUNTS, "n_windows").cast(pl.UInt32),
        pl.col("shares", "buy_aggr_shares", "sell_aggr_shares").cast(pl.UInt64),
        pl.col("locate").cast(pl.UInt16),
        pl.col("window_ns").cast(pl.Int64),
    )
    return _order(_ratios(frame), name)


def _code(df: pl.DataFrame, name: str) -> pl.Expr:
    """Column ``name`` as an integer key: text by its category number (a categorical column
    as it is, with no string built per row), anything else unchanged."""
    import polars as pl

    col, dtype = pl.col(name), df.schema[name]
    if dtype == pl.Categorical:
        return col.to_physical()
    if dtype == pl.String:
        return col.cast(pl.Categorical).to_physical()
    return col


def _groups(
    df: pl.DataFrame, keys: list[str], order: str
) -> Iterable[tuple[tuple[Any, ...], pl.DataFrame]]:
    """``df``'s rows grouped by ``keys``, each group ordered by ``order``: one sort on integer
    keys (a symbol's text makes a slow key), then zero-copy slices (partitioning a day of
    one-second activity copies every column)."""
    import numpy as np
    import polars as pl

    if df.height == 0:
        return
    codes = [_code(df, k).alias(f"_k{i}") for i, k in enumerate(keys)]
    names = [f"_k{i}" for i in range(len(keys))]
    df = df.with_columns(codes).sort([*names, order])
    run = df.select(pl.struct(names).rle_id()).to_series().to_numpy()
    starts = [0, *(np.flatnonzero(np.diff(run)) + 1).tolist(), df.height]
    for lo, hi in itertools.pairwise(starts):
        g = df.slice(lo, hi - lo)
        yield tuple(g[k][0] for k in keys), g


def _clock_ns(text: str) -> int:
    hh, mm = text.split(":")[:2]
    return (int(hh) * 3600 + int(mm) * 60) * _SECOND


def _flags(
    a: pl.DataFrame,
    rule: ZScoreRule | RatioRule,
    n: int,
    *,
    at_least: bool = False,
    first_idx: int = 0,
) -> pl.DataFrame:
    """``_hit`` (the window is flagged) and ``_k`` (the k it used) for a ratio rule or a
    z-score rule, column-wise over every symbol-day (``n`` windows from window number
    ``first_idx``, in ``_idx``; the windows without a row count as 0). ``at_least`` flags
    values equal to the bar."""
    import polars as pl

    c = pl.col
    if isinstance(rule, RatioRule):

        def num(*names: str) -> pl.Expr:
            return pl.sum_horizontal([c(x).fill_null(0).cast(pl.Float64) for x in names])

        if rule.ratio == "otr":
            top, bottom = num("num_quotes"), num("num_trades")
        elif rule.ratio == "cancel_to_trade":
            top, bottom = num("num_cancels", "num_deletes", "num_replaces"), num("num_trades")
        else:
            top, bottom = num("num_cancels", "num_deletes"), num("num_executions")
        flagged = (num("num_quotes") >= rule.min_quotes) & (
            top / pl.max_horizontal(pl.lit(1.0), bottom) >= rule.threshold
        )
        return a.with_columns(_hit=flagged, _k=pl.lit(None, pl.Float64))
    # Integer group keys and a slim frame for the statistics: joins and sorts on a
    # symbol's text over millions of rows are most of the time otherwise.
    a = a.with_columns(
        _m=c(rule.metric).fill_null(0).cast(pl.Float64),
        _g=_code(a, "symbol"),
    )
    keys = ["_g", "_day"]
    slim = a.select(*keys, "_m")
    if rule.baseline == "rolling":
        # The lookback windows before each window; flags only once half of them exist.
        table = a.select(
            key=c("_g").cast(pl.UInt32),
            day=c("_day").cast(pl.Int64),
            idx=(c("_idx") - first_idx).cast(pl.Int64),
            value="_m",
        )
        st = pl.DataFrame(_core.rolling_baseline(table, rule.lookback, rule.robust))
        a = a.with_columns(st.rename({"mu": "_mu", "sd": "_sd", "ok": "_ok"}))
    elif not rule.robust:
        st = slim.group_by(keys).agg(_s=c("_m").sum(), _q=(c("_m") * c("_m")).sum())
        st = st.with_columns(
            _mu=c("_s") / n,
            _sd=(c("_q") / n - (c("_s") / n) ** 2).clip(lower_bound=0).sqrt(),
        ).drop("_s", "_q")
        a = a.join(st, on=keys, how="left")
    else:
        # Median and robust σ of the series with its empty windows as zeros, per row, in
        # the core (linear-time selection per symbol-day, no sort and no join).
        table = slim.select(key=c("_g").cast(pl.UInt32), day=c("_day").cast(pl.Int64), value="_m")
        st = pl.DataFrame(_core.median_mad_by_group(table, n)).rename({"mu": "_mu", "sd": "_sd"})
        a = a.with_columns(st)

    def hit(k: float) -> pl.Expr:
        bar = c("_mu") + k * c("_sd")
        over = (c("_m") >= bar if at_least else c("_m") > bar) & (c("_m") >= rule.floor)
        return over & c("_ok") if "_ok" in a.columns else over

    if rule.k_fallback is None:
        a = a.with_columns(_hit=hit(rule.k), _k=pl.lit(float(rule.k)))
    else:
        any_k = hit(rule.k).any().over(keys)
        a = a.with_columns(
            _hit=pl.when(any_k).then(hit(rule.k)).otherwise(hit(rule.k_fallback)),
            _k=pl.when(any_k).then(pl.lit(float(rule.k))).otherwise(pl.lit(float(rule.k_fallback))),
        )
    return a.drop("_m", "_mu", "_sd", "_g", "_ok", strict=False)


def _merge_windows(a: pl.DataFrame, metric: str, gap: int, w: int) -> pl.DataFrame:
    """Episodes from windows flagged in ``_hit``: per symbol-day, flagged windows at most
    ``gap`` windows apart form one run; an episode sums every active window of its span,
    flagged or not. Column-wise: one sort, runs by a cumulative sum, spans by a forward fill.
    """
    import polars as pl

    c = pl.col
    keys = ["_g", "_day"]
    a = a.with_columns(_g=_code(a, "symbol"), _v=c(metric).fill_null(0).cast(pl.Float64))
    a = a.join(a.filter("_hit").select(keys).unique(), on=keys, how="semi").sort(*keys, "_idx")
    hot = a.filter("_hit")
    prev = c("_idx").shift(1).over(keys)
    hot = hot.with_columns(_run=(prev.is_null() | (c("_idx") - prev - 1 > gap)).cum_sum())

    def at_peak(col: str) -> pl.Expr:  # the largest value, the earliest window on ties
        return c(col).sort_by(["_v", "_idx"], descending=[True, False]).first()

    runs = hot.group_by("_run").agg(
        stock=c("symbol").first().cast(pl.String),
        start=c("window_start").first(),
        end=c("window_start").last() + pl.duration(nanoseconds=w),
        _last=c("_idx").last(),
        locate=c("locate").first() if "locate" in a.columns else pl.lit(None, pl.UInt16),
        n_windows=pl.len(),
        k_used=c("_k").first().cast(pl.Float64),
        peak_value=at_peak("_v"),
        peak_start=at_peak("window_start"),
    )
    # Every window of a flagged symbol-day joins the run that last started at or before it,
    # and counts when it lies before that run's last flagged window.
    spans = (
        a.join(hot.select(*keys, "_idx", "_run"), on=[*keys, "_idx"], how="left")
        .with_columns(c("_run").forward_fill().over(keys))
        .join(runs.select("_run", "_last"), on="_run")
        .filter(c("_idx") <= c("_last"))
    )

    def total(col: str) -> pl.Expr:
        s = c(col).cast(pl.Float64) if col == "dollars" else c(col).cast(pl.Int64)
        return pl.when(c(col).null_count() < pl.len()).then(s.sum())

    sums = spans.group_by("_run").agg(total(col).alias(col) for col in _SUMS)
    return (
        runs.join(sums, on="_run")
        .with_columns(peak_rate=c("peak_value") * 1e9 / w, window_ns=pl.lit(w, pl.Int64))
        .select(
            "stock",
            "start",
            "end",
            "peak_rate",
            *_SUMS,
            "locate",
            "n_windows",
            "k_used",
            "peak_value",
            "peak_start",
            "window_ns",
        )
    )


def detect_program_bursts(
    x: Any,
    *,
    bucket: Every = "1s",
    min_symbols: int = 10,
    member: Literal["episode", "relative"] = "episode",
    member_presets: tuple[str, ...] = ("micro", "nanex"),
    member_floor: int = 50,
    member_k: float = 4.0,
    statistical: bool = False,
    min_symbols_stat: int = 3,
    k_symbols: float = 4.0,
    merge_buckets: int = 1,
    imbalance: float = 0.2,
    capper_pct: float = 0.99,
    capper_threshold: int | None = None,
    trades: Any = None,
    date: DateLike = None,
    symbols: Iterable[str] | str | None = None,
    threads: int | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Multi-symbol program bursts (docs/detection.md §3.5): buckets of ``bucket`` in which at
    least ``min_symbols`` symbols burst at once, merged when at most ``merge_buckets``
    buckets apart.

    A symbol is a member of a bucket when one of its ``member_presets`` episodes overlaps
    it (``member="episode"``), or when its quote messages in the bucket reach
    ``max(member_floor, median + member_k · σ)`` of its day (``"relative"``; σ robust, as
    ``ZScoreRule``'s; the only choice for an activity table, e.g. ``hftalert.hft1_activity``'s).
    ``statistical=True`` asks instead for at least ``min_symbols_stat`` members and more than
    the day's mean + ``k_symbols`` σ of the member counts.

    One row per burst: ``burst_id, start, end, n_symbols, prog_type`` (``BUY``/``SELL`` when
    the members' aggressor imbalance over the span is at least ``imbalance`` either way,
    ``MIXED`` otherwise, ``NONE`` without aggressor shares), ``dollars, grade`` (1–3 by peak
    breadth: below 2M, below 4M, else), ``capper`` (grade 3 and ``num_quotes`` at least the
    ``capper_pct`` nearest-rank quantile of the day's bursts, or ``capper_threshold``),
    ``peak_bucket, peak_symbols, num_quotes, num_bbo, num_trades, shares,
    buy_aggr_shares, sell_aggr_shares, imbalance, cv_quotes, market_z_peak`` and ``symbols``:
    a list of each member's ``symbol, num_quotes, num_bbo, num_trades, shares, dollars``
    over the span (the Burst Monitor's Data_Burst row and its symbol file).
    An ITCH source is replayed once per member preset (``progress=True``: a bar per pass).

    >>> import ki2fast as kf
    >>> kf.detect_program_bursts("data/samples/03012024.NASDAQ_ITCH50.gz").height
    0
    """
    import polars as pl

    b = parse_every(bucket)
    if min_symbols < 1 or merge_buckets < 0:
        raise ValueError("min_symbols must be at least 1 and merge_buckets at least 0")
    if not 0 < capper_pct <= 1:
        raise ValueError(f"capper_pct is a fraction in (0, 1], not {capper_pct}")
    rules = [_rule(p, {}) for p in member_presets] if member == "episode" else []
    if any(not isinstance(r, SlidingRule) for r in rules):
        raise ValueError("member_presets must be sliding presets (micro, micro_50ms, nanex, …)")
    if member not in ("episode", "relative"):
        raise ValueError(f"member is 'episode' or 'relative', not {member!r}")
    episodes: list[pl.DataFrame] = []
    if _is_source(x):
        # One pass per member rule; the first also counts the activity.
        passes = max(1, len(rules))
        activity = None
        for i in range(passes):
            r = rules[i] if rules else None
            assert r is None or isinstance(r, SlidingRule)
            replayed = _replay(
                x,
                date=date,
                symbols=symbols,
                threads=threads,
                activity_every_ns=b if i == 0 else None,
                sliding=None if r is None else (r.window, r.min_msgs, r.merge_gap),
                progress=progress,
                label=f"pass {i + 1}/{passes}" if passes > 1 else "replay",
            )
            if i == 0:
                activity = activity_frame(replayed["activity"])
            if r is not None:
                episodes.append(_episodes(replayed["episodes"]))
        assert activity is not None
    else:
        x, trades = _unwrap_levelone(x, trades)
        df = _frame(x)
        if _table_kind(df) == "activity":
            if member != "relative":
                raise TypeError(
                    "activity windows (hft1 reports, say) have no single messages for "
                    "episodes: use member='relative', or pass ITCH, order events or quotes"
                )
            activity = _rewindow(df, b)
            if activity.schema["window_start"] == pl.Duration:
                activity = activity.with_columns(
                    window_timestamp=pl.col("window_start").dt.total_nanoseconds()
                )
            elif "window_timestamp" not in activity.columns:
                local = pl.col("window_start").dt.convert_time_zone(ZONE).dt.replace_time_zone(None)
                activity = activity.with_columns(
                    window_timestamp=(local - local.dt.truncate("1d")).dt.total_nanoseconds()
                )
            rules = []
        else:
            activity, _ = _from_table(df, trades, activity_ns=b, sliding=None)
        for r in rules:
            assert isinstance(r, SlidingRule)
            _, e = _from_table(
                df, trades, activity_ns=None, sliding=(r.window, r.min_msgs, r.merge_gap)
            )
            episodes.append(e)
    if activity.height == 0 or "window_start" not in activity.columns:
        return _empty_bursts()
    a = activity.with_columns(
        _b=pl.col("window_timestamp") // b, symbol=pl.col("symbol").cast(pl.String)
    )
    if member == "episode":
        members = _members(episodes, b)
    else:
        members = _relative_members(a, b, member_floor, member_k)
    return _program_bursts(
        a,
        members,
        b,
        min_symbols=min_symbols,
        statistical=statistical,
        min_symbols_stat=min_symbols_stat,
        k_symbols=k_symbols,
        merge_buckets=merge_buckets,
        imbalance=imbalance,
        capper_pct=capper_pct,
        capper_threshold=capper_threshold,
    )


def _day_of(column: str, schema: Any) -> pl.Expr:
    """The day of a time column: its date, or 0 for times of day without a session date
    (durations since midnight)."""
    import polars as pl

    if schema[column] == pl.Duration:
        return pl.lit(0, pl.Int64)
    return pl.col(column).dt.date()


def _members(episodes: list[pl.DataFrame], b: int) -> pl.DataFrame:
    """(symbol, _day, _b) of every bucket of ``b`` ns an episode overlaps."""
    import polars as pl

    spans = [
        e.select(
            symbol=pl.col("stock").cast(pl.String),
            _day=_day_of("start", e.schema),
            _b0=pl.col("start_timestamp") // b,
            _b1=pl.col("end_timestamp") // b,
        )
        for e in episodes
        if e.height and "start" in e.columns
    ]
    if not spans:
        return pl.DataFrame(schema={"symbol": pl.String, "_day": pl.Date, "_b": pl.Int64})
    return (
        pl.concat(spans)
        .with_columns(_b=pl.int_ranges("_b0", pl.col("_b1") + 1))
        .explode("_b")
        .select("symbol", "_day", pl.col("_b").cast(pl.Int64))
        .unique()
    )


def _program_bursts(
    a: pl.DataFrame,
    members: pl.DataFrame,
    b: int,
    *,
    min_symbols: int,
    statistical: bool,
    min_symbols_stat: int,
    k_symbols: float,
    merge_buckets: int,
    imbalance: float,
    capper_pct: float,
    capper_threshold: int | None,
    market_z: bool = True,
) -> pl.DataFrame:
    """Program bursts from activity rows (with their bucket ``_b``) and members: the body of
    ``detect_program_bursts``, shared with ``BurstMonitor``. ``market_z=False`` leaves the
    day-wide market z-score null (a live feed has not seen the day yet)."""
    import polars as pl

    if members.height == 0:
        return _empty_bursts()
    a = a.with_columns(_day=_day_of("window_start", a.schema))
    breadth = members.group_by("_day", "_b").agg(n=pl.len())
    market = a.group_by("_day", "_b").agg(q=pl.col("num_quotes").sum())
    stats = market.group_by("_day").agg(
        mean=pl.col("q").sum() / ((86_400 * _SECOND) // b),
        sq=(pl.col("q").cast(pl.Float64) ** 2).sum() / ((86_400 * _SECOND) // b),
    )
    market = market.join(stats, on="_day").with_columns(
        z=(pl.col("q") - pl.col("mean"))
        / (pl.col("sq") - pl.col("mean") ** 2).clip(lower_bound=0).sqrt()
        if market_z
        else pl.lit(None, pl.Float64)
    )
    if statistical:
        day_n = (86_400 * _SECOND) // b
        s_stats = breadth.group_by("_day").agg(
            mu=pl.col("n").sum() / day_n,
            sd=(
                (pl.col("n").cast(pl.Float64) ** 2).sum() / day_n - (pl.col("n").sum() / day_n) ** 2
            )
            .clip(lower_bound=0)
            .sqrt(),
        )
        hot = breadth.join(s_stats, on="_day").filter(
            (pl.col("n") >= min_symbols_stat)
            & (pl.col("n") > pl.col("mu") + k_symbols * pl.col("sd"))
        )
    else:
        hot = breadth.filter(pl.col("n") >= min_symbols)
    if hot.height == 0:
        return _empty_bursts()
    hot = (
        hot.sort("_day", "_b")
        .with_columns(
            _new=(pl.col("_b").diff().over("_day").fill_null(merge_buckets + 2) > merge_buckets + 1)
        )
        .with_columns(_burst=pl.col("_new").cum_sum())
    )
    spans = hot.group_by("_burst", maintain_order=True).agg(
        _day=pl.col("_day").first(),
        _b0=pl.col("_b").min(),
        _b1=pl.col("_b").max(),
        peak_symbols=pl.col("n").max(),
        _peak_b=pl.col("_b").sort_by(pl.col("n"), descending=True, maintain_order=True).first(),
    )
    # Members of a burst: symbols that are members in any of its flagged buckets.
    hot_members = members.join(hot.select("_day", "_b", "_burst"), on=["_day", "_b"])
    # Joined in the activity's own symbol type (ITCH's is categorical), not by a cast of every
    # activity row; the members' rows are text again after it.
    who = hot_members.select("_burst", pl.col("symbol").cast(a.schema["symbol"])).unique()
    span_rows = (
        a.join(spans.select("_burst", "_day", "_b0", "_b1"), on="_day")
        .filter((pl.col("_b") >= pl.col("_b0")) & (pl.col("_b") <= pl.col("_b1")))
        .join(who, on=["_burst", "symbol"])
        .with_columns(pl.col("symbol").cast(pl.String))
    )
    sums = [
        "num_quotes",
        "num_bbo",
        "num_trades",
        "shares",
        "dollars",
        "buy_aggr_shares",
        "sell_aggr_shares",
    ]
    per_symbol = (
        span_rows.group_by("_burst", "symbol")
        .agg([pl.col(c).sum() for c in sums])
        .sort("_burst", "symbol")
    )
    totals = per_symbol.group_by("_burst").agg(
        [pl.col(c).sum() for c in sums],
        n_symbols=pl.len(),
        cv_quotes=pl.col("num_quotes").cast(pl.Float64).std(ddof=0)
        / pl.col("num_quotes").cast(pl.Float64).mean(),
        symbols=pl.struct(["symbol", *sums[:5]]),
    )
    out = spans.join(totals, on="_burst", how="left").join(
        market.select("_day", _peak_b="_b", market_z_peak="z"), on=["_day", "_peak_b"], how="left"
    )
    if a.schema["window_start"] == pl.Duration:

        def at(bucket_index: pl.Expr) -> pl.Expr:
            # No session date: times of day, as the activity's.
            return pl.duration(nanoseconds=bucket_index * b)

    else:
        zone = a.schema["window_start"].time_zone  # type: ignore[attr-defined]

        def at(bucket_index: pl.Expr) -> pl.Expr:
            # Wall-clock midnight + ns since midnight (the activity's own convention).
            midnight = pl.col("_day").cast(pl.Datetime("ns"))
            return (midnight + pl.duration(nanoseconds=bucket_index * b)).dt.replace_time_zone(
                zone, ambiguous="earliest", non_existent="null"
            )

    vb, vs = pl.col("buy_aggr_shares").cast(pl.Float64), pl.col("sell_aggr_shares").cast(pl.Float64)
    out = out.with_columns(
        start=at(pl.col("_b0")),
        end=at(pl.col("_b1") + 1),
        peak_bucket=at(pl.col("_peak_b")),
        imbalance=pl.when(vb + vs > 0).then((vb - vs) / (vb + vs)),
        grade=pl.when(pl.col("peak_symbols") < 2 * min_symbols)
        .then(1)
        .when(pl.col("peak_symbols") < 4 * min_symbols)
        .then(2)
        .otherwise(3)
        .cast(pl.UInt8),
    ).with_columns(
        prog_type=pl.when(pl.col("imbalance").is_null())
        .then(pl.lit("NONE"))
        .when(pl.col("imbalance") >= imbalance)
        .then(pl.lit("BUY"))
        .when(pl.col("imbalance") <= -imbalance)
        .then(pl.lit("SELL"))
        .otherwise(pl.lit("MIXED")),
    )
    if capper_threshold is not None:
        big = pl.col("num_quotes") >= capper_threshold
    else:
        cut = _nearest_rank(out["num_quotes"].to_list(), capper_pct)
        big = pl.col("num_quotes") >= cut
    out = out.with_columns(capper=big & (pl.col("grade") == 3)).sort("start")
    out = out.with_row_index("burst_id").with_columns(
        pl.col("n_symbols").cast(pl.UInt32),
        pl.col("peak_symbols").cast(pl.UInt32),
        pl.col("num_quotes", "num_bbo", "num_trades").cast(pl.UInt64),
    )
    return out.select(_BURST_COLUMNS)


_BURST_COLUMNS = [
    "burst_id",
    "start",
    "end",
    "n_symbols",
    "prog_type",
    "dollars",
    "grade",
    "capper",
    "peak_bucket",
    "peak_symbols",
    "num_quotes",
    "num_bbo",
    "num_trades",
    "shares",
    "buy_aggr_shares",
    "sell_aggr_shares",
    "imbalance",
    "cv_quotes",
    "market_z_peak",
    "symbols",
]


def _nearest_rank(values: list[Any], pct: float) -> float:
    """The nearest-rank ``pct`` quantile (the maximum with fewer than 1/(1-pct) values)."""
    ordered = sorted(v for v in values if v is not None)
    if not ordered:
        return math.inf
    return float(ordered[max(0, math.ceil(pct * len(ordered)) - 1)])


def _relative_members(a: pl.DataFrame, b: int, floor: int, k: float) -> pl.DataFrame:
    """Symbol-buckets whose quote count reaches max(floor, median + k·σ) (robust σ) of the
    symbol's day (empty buckets counted as 0)."""
    import polars as pl

    rule = ZScoreRule(b, k=k, floor=floor, robust=True)
    a = a.with_columns(_day=_day_of("window_start", a.schema))
    flagged = _flags(a, rule, (86_400 * _SECOND) // b, at_least=True).filter("_hit")
    return flagged.select(pl.col("symbol").cast(pl.String), "_day", pl.col("_b").cast(pl.Int64))


def _empty_bursts() -> pl.DataFrame:
    import polars as pl

    ts = pl.Datetime("ns", ZONE)
    sym = pl.Struct(
        {
            "symbol": pl.String,
            "num_quotes": pl.UInt32,
            "num_bbo": pl.UInt32,
            "num_trades": pl.UInt32,
            "shares": pl.UInt64,
            "dollars": pl.Float64,
        }
    )
    schema: dict[str, Any] = {
        "burst_id": pl.UInt32,
        "start": ts,
        "end": ts,
        "n_symbols": pl.UInt32,
        "prog_type": pl.String,
        "dollars": pl.Float64,
        "grade": pl.UInt8,
        "capper": pl.Boolean,
        "peak_bucket": ts,
        "peak_symbols": pl.UInt32,
        "num_quotes": pl.UInt64,
        "num_bbo": pl.UInt64,
        "num_trades": pl.UInt64,
        "shares": pl.UInt64,
        "buy_aggr_shares": pl.UInt64,
        "sell_aggr_shares": pl.UInt64,
        "imbalance": pl.Float64,
        "cv_quotes": pl.Float64,
        "market_z_peak": pl.Float64,
        "symbols": pl.List(sym),
    }
    return pl.DataFrame(schema=schema)


@dataclass
class BurstAlerts:
    """What one ``BurstMonitor.update`` found: stuffing ``episodes`` and
    ``program_bursts``, in the tables ``detect_stuffing`` and ``detect_program_bursts``
    return."""

    episodes: pl.DataFrame
    program_bursts: pl.DataFrame

    def __bool__(self) -> bool:
        return self.episodes.height > 0 or self.program_bursts.height > 0

    def __len__(self) -> int:
        return self.episodes.height + self.program_bursts.height


class BurstMonitor:
    """Live quote-stuffing and program-burst alerts over a feed, batch by batch.

    ``update(batch)`` takes the next time-ordered batch of a level-one feed — quotes (``ts``,
    ``stock``, ``bid``, ``ask`` …), trades (``ts``, ``stock``, ``price``, ``shares`` …), or
    both (``update(quotes, trades=trades)``) — or of order events (``kf.scan_order_events``'
    batches: the monitor keeps their books), as pyarrow or polars, and returns the
    ``BurstAlerts`` that became final with it: an episode once no later message can extend
    it, a program burst once the buckets after it are final. ``finish()`` closes the rest.
    On the same data the alerts, together, are what ``detect_stuffing`` and
    ``detect_program_bursts`` return, except two values that need the whole day:
    ``market_z_peak`` is null, and without ``capper_threshold`` a burst is a capper when it is
    at least the ``capper_pct`` quantile of the day's bursts so far.

    Memory holds the events of the last window, the open episodes and the activity since the
    earliest burst that is not final. ``on_alert`` is called with each non-empty
    ``BurstAlerts``.

    >>> import ki2fast as kf
    >>> from ki2fast.feeds import schwab
    >>> capture = schwab.read_levelone("data/samples/schwab/levelone_20250314.ndjson")
    >>> monitor = kf.BurstMonitor(min_msgs=3, window="1s")
    >>> alerts = monitor.update(capture.quotes, trades=capture.trades)
    >>> len(alerts) + len(monitor.finish()) >= 0
    True
    """

    def __init__(
        self,
        *,
        preset: str = "micro",
        window: Every | None = None,
        min_msgs: int | None = None,
        merge_gap: Every | None = None,
        program: bool = True,
        bucket: Every = "1s",
        min_symbols: int = 10,
        member_presets: tuple[str, ...] = ("micro", "nanex"),
        merge_buckets: int = 1,
        imbalance: float = 0.2,
        capper_pct: float = 0.99,
        capper_threshold: int | None = None,
        include_crosses: bool = False,
        on_alert: Any = None,
    ) -> None:
        rule = _rule(preset, {"window": window, "min_msgs": min_msgs, "merge_gap": merge_gap})
        if not isinstance(rule, SlidingRule):
            raise ValueError(
                f"live monitoring uses sliding rules (micro, micro_50ms, nanex, strict), "
                f"not {preset!r}"
            )
        members = [_rule(p, {}) for p in member_presets] if program else []
        if any(not isinstance(r, SlidingRule) for r in members):
            raise ValueError("member_presets must be sliding presets")
        self._name = preset
        self._rule = rule
        self._members: list[SlidingRule] = [r for r in members if isinstance(r, SlidingRule)]
        self._program = program
        self._b = parse_every(bucket)
        self._params: dict[str, Any] = dict(
            min_symbols=min_symbols,
            statistical=False,
            min_symbols_stat=3,
            k_symbols=4.0,
            merge_buckets=merge_buckets,
            imbalance=imbalance,
            capper_pct=capper_pct,
            capper_threshold=capper_threshold,
        )
        self._crosses = include_crosses
        self._on_alert = on_alert
        self._names: list[str] = []
        self._code: dict[str, int] = {}
        self._by_locate = False
        self._seed: pl.DataFrame | None = None
        self._day: _dt.date | None = None
        self._episodes_out = 0
        self._bursts_out = 0
        self._burst_sizes: list[int] = []
        self._start_day(None)

    def _start_day(self, day: _dt.date | None) -> None:
        import polars as pl

        self._day = day
        self._midnight = None if day is None else _core.session_midnight_ns(day.isoformat())
        mk = lambda r: _core.EventMonitor(  # noqa: E731
            sliding=(r.window, r.min_msgs, r.merge_gap), include_crosses=self._crosses
        )
        self._stuffing = mk(self._rule)
        self._member_monitors = [mk(r) for r in self._members]
        self._activity = _core.EventMonitor(
            activity_every_ns=self._b, include_crosses=self._crosses
        )
        self._act = pl.DataFrame()
        self._member_rows = pl.DataFrame(
            schema={"symbol": pl.String, "_day": pl.Date, "_b": pl.Int64}
        )
        self._done_before = 0  # buckets before this are settled
        self._now = 0

    def update(self, batch: Any, *, trades: Any = None) -> BurstAlerts:
        """Feeds the next batch (quotes, trades, or quotes with ``trades=``); returns the alerts
        that became final."""
        frame = _frame(batch) if batch is not None else None
        quotes: pl.DataFrame | None = None
        if frame is not None:
            cols = set(frame.columns)
            if {"event", "order_reference_number", "stock_locate", "timestamp"} <= cols:
                if trades is not None:
                    raise TypeError("order events carry their own executions: pass no trades")
                return self._emit(self._order_events(frame))
            if {"bid", "ask"} <= cols:
                quotes = frame
            elif {"price", "shares"} <= cols:
                if trades is not None:
                    raise TypeError("pass trades either as the batch or as trades=, not both")
                trades = frame
            else:
                raise TypeError(
                    f"a level-one batch has quote (bid, ask) or trade (price, shares) columns; "
                    f"got {sorted(cols)}"
                )
        import polars as pl

        ev, self._seed = _l1_events(quotes, trades, self._seed)
        alerts = []
        days = ev.partition_by("_day", as_dict=True, maintain_order=True) if ev.height else {}
        for (day,), part in days.items():
            if day != self._day:
                if self._day is not None:
                    alerts.append(self._close_day())
                self._start_day(day)
            if self._by_locate:
                raise TypeError("this monitor reads order events: one kind of feed per monitor")
            for name in part["_stock"].unique(maintain_order=True).to_list():
                if name not in self._code:
                    if len(self._names) >= 0xFFFE:
                        raise ValueError("at most 65534 symbols a day")
                    self._code[name] = len(self._names)
                    self._names.append(name)
            table = _monitor_batch(_coded(part, self._code))
            for b in table.to_batches(max_chunksize=1 << 20):
                for m in (self._stuffing, *self._member_monitors, self._activity):
                    m.feed(b)
            self._now = max(self._now, int(part.select(pl.col("_ns").max()).item()))
            alerts.append(self._poll(final=False))
        return self._emit(alerts)

    def _order_events(self, frame: pl.DataFrame) -> list[BurstAlerts]:
        """A batch of order events (one ITCH day's, with ``ts``), through each monitor's books."""
        import polars as pl

        if self._code:
            raise TypeError("this monitor reads level-one batches: one kind of feed per monitor")
        if frame.height == 0:
            return []
        if "ts" not in frame.columns:
            raise ValueError("order events need their 'ts' column for the day")
        self._by_locate = True
        day = frame.select(pl.col("ts").first().dt.convert_time_zone(ZONE).dt.date()).item()
        alerts = []
        if day != self._day:
            if self._day is not None:
                alerts.append(self._close_day())
            self._start_day(day)
        batch, self._names = _order_batch(frame, self._names)
        for b in batch.to_arrow().to_batches(max_chunksize=1 << 20):
            for m in (self._stuffing, *self._member_monitors, self._activity):
                m.feed_order_events(b)
        self._now = max(self._now, int(frame.select(pl.col("timestamp").max()).item()))
        alerts.append(self._poll(final=False))
        return alerts

    def finish(self) -> BurstAlerts:
        """Closes every episode and burst (the end of the feed)."""
        return self._emit([self._close_day()] if self._day is not None else [])

    def _close_day(self) -> BurstAlerts:
        return self._poll(final=True)

    def _emit(self, parts: list[BurstAlerts]) -> BurstAlerts:
        import polars as pl

        eps = [p.episodes for p in parts if p.episodes.height]
        bursts = [p.program_bursts for p in parts if p.program_bursts.height]
        out = BurstAlerts(
            episodes=pl.concat(eps)
            if eps
            else _finish_sliding(_no_episodes(self._midnight or 0), self._name, self._rule),
            program_bursts=pl.concat(bursts) if bursts else _empty_bursts(),
        )
        if out and self._on_alert is not None:
            self._on_alert(out)
        return out

    def _closed(self, m: Any, final: bool) -> pl.DataFrame:
        import pyarrow as pa

        if final:
            table = m.finish(self._names, self._midnight)["episodes"]
        else:
            table = m.closed(self._now, self._names, self._midnight)
        return _pl(pa.table(table))

    def _poll(self, *, final: bool) -> BurstAlerts:
        import polars as pl
        import pyarrow as pa

        eps = _finish_sliding(self._closed(self._stuffing, final), self._name, self._rule)
        eps = eps.with_columns(pl.col("episode_id") + self._episodes_out)
        self._episodes_out += eps.height
        if not self._program:
            return BurstAlerts(eps, _empty_bursts())
        b = self._b
        member_eps = [self._closed(m, final) for m in self._member_monitors]
        new = _members(member_eps, b)
        if new.height:
            self._member_rows = pl.concat([self._member_rows, new]).unique()
        if final:
            settled = 1 << 62
            act = self._activity.finish(self._names, self._midnight)["activity"]
        else:
            opens = [s for m in self._member_monitors if (s := m.open_since()) is not None]
            wmax = max((r.window for r in self._members), default=0)
            settled = min([max(0, self._now - wmax), *opens]) // b
            act = self._activity.activity_until(settled * b, self._names, self._midnight)
        rows = activity_frame(pa.table(act)) if act is not None else pl.DataFrame()
        if rows.height and "window_start" in rows.columns:
            rows = rows.with_columns(_b=pl.col("window_timestamp") // b)
            self._act = (
                pl.concat([self._act, rows], how="diagonal_relaxed") if self._act.height else rows
            )
        gap = int(self._params["merge_buckets"])
        members = self._member_rows.filter(
            (pl.col("_b") >= self._done_before) & (pl.col("_b") < settled)
        )
        bursts = _empty_bursts()
        if members.height and self._act.height:
            found = _program_bursts(
                self._act.filter(pl.col("_b") >= self._done_before),
                members,
                b,
                market_z=False,
                **{**self._params, "capper_threshold": 1 << 62},
            )
            last_bucket = self._bucket(found["end"]) - 1
            ready = (
                last_bucket + gap + 1 < settled
                if not final
                else pl.Series([True] * found.height, dtype=pl.Boolean)
            )
            bursts = found.filter(ready)
            waiting = found.filter(~ready)
            if waiting.height:
                first = self._bucket(waiting["start"]).min()
                settled = min(settled, int(first))  # type: ignore[arg-type]
        if bursts.height:
            bursts = self._capped(bursts)
        if not final:
            self._done_before = max(self._done_before, settled - gap - 1)
            self._member_rows = self._member_rows.filter(pl.col("_b") >= self._done_before)
            if self._act.height:
                self._act = self._act.filter(pl.col("_b") >= self._done_before)
        return BurstAlerts(eps, bursts)

    def _bucket(self, times: pl.Series) -> pl.Series:
        """Bucket numbers of zoned times of the current day."""
        assert self._day is not None
        midnight = _dt.datetime.combine(self._day, _dt.time())
        return (times.dt.replace_time_zone(None) - midnight).dt.total_nanoseconds() // self._b

    def _capped(self, bursts: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        threshold = self._params["capper_threshold"]
        sizes = bursts["num_quotes"].to_list()
        caps = []
        for q, grade in zip(sizes, bursts["grade"].to_list(), strict=True):
            self._burst_sizes.append(q)
            if threshold is not None:
                big = q >= threshold
            else:
                big = q >= _nearest_rank(self._burst_sizes, float(self._params["capper_pct"]))
            caps.append(bool(big and grade == 3))
        out = bursts.with_columns(
            capper=pl.Series(caps, dtype=pl.Boolean),
            burst_id=pl.col("burst_id") - pl.col("burst_id").min() + self._bursts_out,
        )
        self._bursts_out += out.height
        return out


def _no_episodes(midnight: int) -> pl.DataFrame:
    """No episodes, with dated columns."""
    import pyarrow as pa

    mon = _core.EventMonitor(sliding=(1, 1, 0))
    return _pl(pa.table(mon.finish([], midnight)["episodes"]))
