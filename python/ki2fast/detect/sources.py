"""Where activity and sliding-rule episodes come from: an ITCH file or buffer replayed in the
core, an order-events table, or level-one quotes and trades; and the activity table itself
(docs/detection.md §2)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ki2fast import _core
from ki2fast._args import name_list, session_date, thread_count
from ki2fast._frames import polars_frame as _pl
from ki2fast._progress import run_with_progress
from ki2fast.analytics import Every, activity_frame, parse_every
from ki2fast.detect.rules import ZONE
from ki2fast.exceptions import TimestampRegressionWarning
from ki2fast.itch import DateLike

if TYPE_CHECKING:
    import polars as pl

__all__ = ["quote_activity"]


#: The activity table's counts, as the core names them.
COUNTS = list(_core.ACTIVITY_COUNT_COLUMNS)
SUMS = [
    *COUNTS,
    "shares",
    "dollars",
    "buy_aggr_shares",
    "sell_aggr_shares",
]


def is_source(x: Any) -> bool:
    return isinstance(x, str | os.PathLike | bytes | bytearray | memoryview)


def table_kind(df: pl.DataFrame) -> str:
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


def as_frame(x: Any) -> pl.DataFrame:
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
    if is_source(x):
        out = replay_source(
            x,
            date=date,
            symbols=symbols,
            threads=threads,
            activity_every_ns=ns,
            include_crosses=include_crosses,
            progress=progress,
        )
        return activity_frame(out["activity"])
    x, trades = unwrap_levelone(x, trades)
    df = as_frame(x)
    if table_kind(df) == "activity":
        raise TypeError("quote_activity reads ITCH, order events or level-one quotes")
    activity, _ = from_table(
        df, trades, activity_ns=ns, sliding=None, include_crosses=include_crosses
    )
    return activity


def unwrap_levelone(x: Any, trades: Any) -> tuple[Any, Any]:
    """A ``LevelOne`` capture stands for its equity quotes and trades."""
    if hasattr(x, "quotes") and hasattr(x, "trades") and hasattr(x, "equities"):
        return x.quotes, x.trades if trades is None else trades
    return x, trades


def replay_source(
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


def from_table(
    df: pl.DataFrame,
    trades: Any,
    *,
    activity_ns: int | None,
    sliding: tuple[int, int, int] | None,
    include_crosses: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Activity and episodes of an order-events or a level-one quotes table."""
    if table_kind(df) == "order_events":
        if trades is not None:
            raise TypeError("order events carry their own executions: pass no trades table")
        return _from_order_events(
            df, activity_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
        )
    return _from_quotes(
        df, trades, activity_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
    )


def episodes_frame(table: Any) -> pl.DataFrame:
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

    batch, names = order_batch(events)
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
    episodes = episodes_frame(out["episodes"]) if out["episodes"] is not None else pl.DataFrame()
    return activity, episodes


def order_batch(
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

    ev, _ = l1_events(quotes, trades)
    names = sorted(ev["_stock"].unique().drop_nulls().to_list())
    if len(names) >= 0xFFFF:
        raise ValueError(f"{len(names)} symbols: at most 65534 fit a table")
    ev = coded_events(ev, {n: i for i, n in enumerate(names)})
    activity: list[pl.DataFrame] = []
    episodes: list[pl.DataFrame] = []
    days = ev.partition_by("_day", as_dict=True, maintain_order=True) or {(None,): ev}
    for (day,), part in days.items():
        mon = _core.EventMonitor(
            activity_every_ns=activity_ns, sliding=sliding, include_crosses=include_crosses
        )
        batch = monitor_batch(part)
        for b in batch.to_batches(max_chunksize=1 << 20):
            mon.feed(b)
        midnight = None if day is None else _core.session_midnight_ns(day.isoformat())
        out = mon.finish(names, midnight)
        if out["activity"] is not None:
            activity.append(activity_frame(pa.table(out["activity"])))
        if out["episodes"] is not None:
            episodes.append(episodes_frame(out["episodes"]))
    return (
        pl.concat(activity) if activity else pl.DataFrame(),
        pl.concat(episodes) if episodes else pl.DataFrame(),
    )


def l1_events(
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
        # Which quotes change the top: in event order, in the core (the rule the ITCH replay
        # counts top-of-book changes by).
        keyed = q.select(
            key=pl.col("_stock").cast(pl.Categorical).to_physical().cast(pl.UInt32),
            **{
                c: pl.col(c).cast(pl.Float64) if c in top else pl.lit(None, pl.Float64)
                for c in ("bid", "ask", "bid_size", "ask_size")
            },
        )
        import pyarrow as pa

        changed = pa.record_batch(_core.level_one_changes(keyed.to_arrow())).column("changed")
        q = q.with_columns(_bbo=pl.Series("_bbo", changed))
        last = q.group_by("_stock", maintain_order=True).last().select("_stock", *top)
        q = q.filter(~pl.col("_seed"))
        events += [
            q.select("_day", "_ns", "_stock", _event=pl.lit(ord("L"), pl.UInt8), _rank=pl.lit(0)),
            q.filter("_bbo").select(
                "_day", "_ns", "_stock", _event=pl.lit(ord("B"), pl.UInt8), _rank=pl.lit(1)
            ),
        ]
    if trades is not None:
        t = as_frame(trades)
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


def coded_events(ev: pl.DataFrame, code: dict[str, int]) -> pl.DataFrame:
    """Events with the monitor's columns: ``code`` (from ``code``), shares, price, aggressor."""
    import polars as pl

    return ev.with_columns(
        code=pl.col("_stock").replace_strict(code, return_dtype=pl.UInt16),
        shares=pl.col("_shares").fill_null(0) if "_shares" in ev.columns else pl.lit(0, pl.UInt64),
        price_e4=pl.col("_price").fill_null(0) if "_price" in ev.columns else pl.lit(0, pl.UInt64),
        aggressor=pl.col("_aggr").fill_null(0) if "_aggr" in ev.columns else pl.lit(0, pl.UInt8),
    )


def monitor_batch(part: pl.DataFrame) -> Any:
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
