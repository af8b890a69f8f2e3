"""Prices at events: what the market showed for a symbol when a burst, an episode or an alert
happened, from the quotes and trades of any feed (docs/prices.md)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ki2fast._frames import polars_frame
from ki2fast.analytics import Every, parse_every

if TYPE_CHECKING:
    import polars as pl

__all__ = ["PRICE_COLUMNS", "ArchivedPrices", "archived_prices", "attach_prices", "price_rows"]

#: The columns ``attach_prices`` adds, in order.
PRICE_COLUMNS = (
    "last",
    "last_size",
    "last_time",
    "last_age",
    "bid",
    "bid_size",
    "ask",
    "ask_size",
    "quote_time",
    "quote_age",
    "cum_volume",
    "volume_time",
)

#: Where an event's time is, in the order looked for.
_EVENT_TIMES = ("event_ts", "start", "ts", "time")


def attach_prices(
    events: Any,
    quotes: Any = None,
    trades: Any = None,
    snapshots: Any = None,
    *,
    at: str | None = None,
    symbols: Any = None,
    max_age: Every | None = None,
    exact: bool = True,
) -> Any:
    """The events with the prices of their symbol as of each event's time added: the last
    trade's price and size, the bid and ask and their sizes, the day's cumulative volume,
    each with its own time and age (the event's time minus the price's).

    ``events``: any table with a time (``at``, else the first of ``event_ts``, ``start``,
    ``ts``, ``time``) and a symbol (``symbol`` or ``stock``). hft1 rows, Burst Monitor
    symbol rows, stuffing episodes and their alerts qualify as they are. Program bursts
    (``detect_program_bursts``, ``BurstMonitor`` alerts) and Data_Burst rows
    (``hftalert.read_data_burst``) list their symbols in ``symbols``: each event becomes one
    row per listed symbol (``symbol``, and that symbol's figures as ``member_*``); an event
    without members stays, with a null symbol and no prices. Events without a symbol or a
    list take their members from ``symbols=`` (e.g. ``hftalert.read_burst_symbols`` rows),
    joined on the event's file date and time. A
    ``BurstAlerts`` gives a ``BurstAlerts`` back, both tables priced.

    Prices, from any of:

    - ``quotes``: a quotes table (``ts``, ``stock`` or ``symbol``, ``bid``, ``bid_size``,
      ``ask``, ``ask_size``; ``last``, ``last_size`` and ``total_volume`` too, as Schwab
      level-one quotes have), a Schwab ``LevelOne`` capture (its quotes and trades), or an
      ITCH ``Replay`` run with ``bbo=True`` (its top-of-book changes and trades);
    - ``trades``: any canonical trades table (also taken in ``quotes``' place: a table with
      ``price`` and ``shares`` is one); the prints that count in volume (printable,
      not broken) give the last price and, summed per symbol and Eastern day from the first
      print in the table, the cumulative volume;
    - ``snapshots``: ThetaData stock snapshots (``stock_snapshot``, quote and/or OHLC
      kind, one table or a list), which cover every symbol: the quote, and the session's
      ``close`` and ``volume`` as the last price and cumulative volume.

    Each field comes from the first source that has it: the last price from trades, else a
    change of the quotes' ``last``, else the snapshots' ``close``; the cumulative volume from
    the quotes' ``total_volume`` (the venue's own count for the day), else the snapshots'
    ``volume``, else the summed trades; the quote from quotes and snapshots together.

    As of: a price counts for an event when it is stamped at or before the event's time
    (``exact=False``: strictly before); of several rows with one time, the last one in the
    table's order. No look-ahead: nothing later than the event is ever used. A symbol with
    no price yet gets nulls. ``max_age`` (e.g. ``"5m"``) leaves a value null when it is
    older than that; its time and age stay, so the reason shows.
    """
    import polars as pl

    if hasattr(events, "episodes") and hasattr(events, "program_bursts"):
        return type(events)(
            episodes=attach_prices(
                events.episodes, quotes, trades, snapshots, max_age=max_age, exact=exact
            ),
            program_bursts=attach_prices(
                events.program_bursts, quotes, trades, snapshots, max_age=max_age, exact=exact
            ),
        )
    frame = _frame(events)
    time = at or next((c for c in _EVENT_TIMES if c in frame.columns), None)
    if time is None or time not in frame.columns:
        raise ValueError(
            f"the events need a time column ({', '.join(_EVENT_TIMES)}, or at=); "
            f"they have {frame.columns}"
        )
    frame = _one_symbol_per_row(frame, _frame(symbols) if symbols is not None else None)
    taken = [c for c in PRICE_COLUMNS if c in frame.columns]
    if taken:
        raise ValueError(f"the events already have columns named {taken}")
    if isinstance(quotes, PriceRows):
        sources = quotes.prepared
    else:
        quotes, trades = _unwrap(quotes, trades)
        sources = _prepare(_sources(quotes, trades, snapshots))
    if not sources:
        raise ValueError("no prices: pass quotes, trades or snapshots")
    key = frame.select(_k=_utc_ns(frame, time), _s=pl.col("symbol").cast(pl.String)).with_row_index(
        "_row"
    )
    out = key.sort("_k", maintain_order=True)
    limit = None if max_age is None else parse_every(max_age)
    for fields, when, rows in sources.values():
        with warnings.catch_warnings():
            # Both sides are sorted by "_k"; polars cannot check that within groups.
            warnings.filterwarnings("ignore", "Sortedness of columns", UserWarning)
            out = out.join_asof(
                rows.rename({"_k": "_t"}).with_columns(_t2=pl.col("_t")),
                left_on="_k",
                right_on="_t",
                by="_s",
                strategy="backward",
                allow_exact_matches=exact,
            )
        age = pl.col("_k") - pl.col("_t2")
        stale = age > limit if limit is not None else pl.lit(False)
        out = out.with_columns(
            [pl.when(stale).then(None).otherwise(pl.col(f)).alias(f) for f in fields]
            + [pl.col("_t2").alias(when), age.alias(f"_{when}_age")]
        ).drop("_t")
        out = out.drop("_t2")
    zone = _zone(frame, time)
    out = out.sort("_row")
    added = []
    for name in PRICE_COLUMNS:
        if name.endswith("_age"):
            base = name.replace("_age", "_time")
            col = f"_{base}_age"
            added.append(
                pl.col(col).cast(pl.Duration("ns")).alias(name)
                if col in out.columns
                else pl.lit(None, pl.Duration("ns")).alias(name)
            )
        elif name.endswith("_time"):
            added.append(
                _from_utc_ns(pl.col(name), zone).alias(name)
                if name in out.columns
                else pl.lit(None, pl.Datetime("ns", zone)).alias(name)
            )
        else:
            added.append(
                pl.col(name) if name in out.columns else pl.lit(None, _dtype(name)).alias(name)
            )
    return pl.concat([frame, out.select(added)], how="horizontal")


def _frame(x: Any) -> pl.DataFrame:
    import polars as pl

    return x if isinstance(x, pl.DataFrame) else polars_frame(x)


def _dtype(name: str) -> Any:
    """The type of an added column that no source filled."""
    import polars as pl

    return pl.Float64 if name in ("last", "bid", "ask") else pl.Int64


def _zone(frame: pl.DataFrame, time: str) -> str | None:
    import polars as pl

    dtype = frame.schema[time]
    if isinstance(dtype, pl.Datetime):
        return dtype.time_zone
    return None


def _utc_ns(frame: pl.DataFrame, time: str) -> pl.Expr:
    """A time column as ns since the epoch (UTC); naive times are taken as UTC."""
    import polars as pl

    dtype = frame.schema[time]
    if not isinstance(dtype, pl.Datetime):
        raise ValueError(f"the time column {time!r} is {dtype}, not a datetime")
    return pl.col(time).dt.epoch("ns")


def _from_utc_ns(col: pl.Expr, zone: str | None) -> pl.Expr:
    import polars as pl

    t = col.cast(pl.Datetime("ns"))
    return t.dt.replace_time_zone("UTC").dt.convert_time_zone(zone) if zone else t


def _one_symbol_per_row(frame: pl.DataFrame, symbols: pl.DataFrame | None) -> pl.DataFrame:
    """Events with one ``symbol`` per row: a ``stock`` column renamed, a ``symbols`` list
    exploded, or the Burst Monitor's symbol rows joined to their bursts."""
    import polars as pl

    if "symbol" in frame.columns:
        return frame
    if "stock" in frame.columns:
        return frame.rename({"stock": "symbol"})
    if "symbols" in frame.columns:
        # An empty list as null first: exploded, it stays as one row (polars drops it).
        members = pl.col("symbols")
        listed = frame.with_columns(
            symbols=pl.when(members.list.len() > 0).then(members).otherwise(None)
        ).explode("symbols")
        inner = listed.schema["symbols"]
        if isinstance(inner, pl.Struct):
            fields = [f.name for f in inner.fields]
            listed = listed.with_columns(
                pl.col("symbols")
                .struct.field(f)
                .alias("symbol" if f == "symbol" else f"member_{f}")
                for f in fields
            )
        else:
            listed = listed.with_columns(pl.col("symbols").alias("symbol"))
        return listed.drop("symbols")
    if symbols is not None:
        on = [c for c in ("file_date", "event_ts") if c in frame.columns and c in symbols.columns]
        if "event_ts" not in on:
            raise ValueError("symbols= joins on event_ts: both tables need it")
        extra = symbols.select(
            *on,
            "symbol",
            *[pl.col(c).alias(f"member_{c}") for c in symbols.columns if c not in {*on, "symbol"}],
        )
        return frame.join(extra, on=on, how="left", maintain_order="left")
    raise ValueError(
        "the events need a symbol: a 'symbol' or 'stock' column, a 'symbols' list, or "
        "symbols= (the Burst Monitor's symbol rows for Data_Burst rows)"
    )


def _unwrap(quotes: Any, trades: Any) -> tuple[Any, Any]:
    """A ``LevelOne`` capture or an ITCH ``Replay`` stands for its quotes and trades."""
    if hasattr(quotes, "equities") and hasattr(quotes, "quotes"):  # LevelOne
        return quotes.quotes, quotes.trades if trades is None else trades
    if hasattr(quotes, "hourly_vwap") and hasattr(quotes, "bbo"):  # Replay
        if quotes.bbo is None:
            raise ValueError("the replay has no top-of-book changes: run it with bbo=True")
        return quotes.bbo, quotes.trades if trades is None else trades
    if trades is None and _is_trades(quotes):
        return None, quotes
    return quotes, trades


def _is_trades(table: Any) -> bool:
    """A table of prints (``price`` and ``shares``) passed where quotes go."""
    names = getattr(table, "columns", None) or getattr(table, "column_names", None) or []
    return {"price", "shares"} <= set(names)


def _rows(table: pl.DataFrame, **columns: pl.Expr) -> pl.DataFrame:
    """``_k`` (UTC ns), ``_s`` (symbol) and ``columns`` of a price table."""
    import polars as pl

    sym = "symbol" if "symbol" in table.columns else "stock"
    if sym not in table.columns or "ts" not in table.columns:
        raise ValueError(f"a price table needs 'ts' and 'symbol' or 'stock'; got {table.columns}")
    return table.select(_k=_utc_ns(table, "ts"), _s=pl.col(sym).cast(pl.String), **columns)


@dataclass
class ArchivedPrices:
    """One day's prices in the archive: the Schwab level one and the ThetaData stock
    snapshots (quote and OHLC), each None (or empty) when the archive has none."""

    quotes: pl.DataFrame | None
    trades: pl.DataFrame | None
    snapshots: list[pl.DataFrame]

    def __bool__(self) -> bool:
        return self.quotes is not None or self.trades is not None or bool(self.snapshots)


#: Where the archive keeps prices: (feed, symbol column), level one first.
_PRICE_FEEDS = (
    ("schwab_quotes", "stock"),
    ("schwab_trades", "stock"),
    ("theta_stock_quote_snapshot", "symbol"),
    ("theta_stock_ohlc_snapshot", "symbol"),
)


def archived_prices(
    root: str | os.PathLike[str], day: Any, symbols: list[str] | None = None
) -> ArchivedPrices:
    """The prices the archive at ``root`` holds for ``day`` (ET), only of ``symbols`` when
    given (the filter is applied as the Parquet files are read)."""
    import datetime as dt

    import polars as pl

    from ki2fast import store

    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    feeds = set(store.feeds(root))
    found: list[pl.DataFrame | None] = []
    for feed, sym in _PRICE_FEEDS:
        if feed not in feeds or day not in store.dates(root, feed):
            found.append(None)
            continue
        keep = pl.col("date") == day
        if symbols is not None:
            keep &= pl.col(sym).cast(pl.String).is_in(symbols)
        got = store.scan(root, feed).filter(keep).drop("date").collect()
        found.append(got if got.height else None)
    return ArchivedPrices(found[0], found[1], [s for s in found[2:] if s is not None])


class PriceRows(dict):  # type: ignore[type-arg]
    """:func:`price_rows`' frames by name. Given to :func:`attach_prices` in place of the
    quotes, it prices events from rows read once, however many event tables there are."""

    #: Per field group: the fields, their time's name, the rows as of which they are taken.
    prepared: dict[str, tuple[list[str], str, pl.DataFrame]]


def price_rows(quotes: Any = None, trades: Any = None, snapshots: Any = None) -> PriceRows:
    """The rows each field of :func:`attach_prices` comes from, by the same rules, in time
    order: ``"last"`` (``time_ns, symbol, last, last_size``), ``"quote"`` (``time_ns, symbol,
    bid, bid_size, ask, ask_size``) and ``"volume"`` (``time_ns, symbol, cum_volume``), each
    present when some source gives it. ``time_ns``: ns since the epoch (UTC)."""
    quotes, trades = _unwrap(quotes, trades)
    sources = _sources(quotes, trades, snapshots)
    out = PriceRows(
        {
            name: rows.sort("_k", maintain_order=True).rename({"_k": "time_ns", "_s": "symbol"})
            for name, (_, _, rows) in sources.items()
        }
    )
    out.prepared = _prepare(sources)
    return out


def _prepare(
    sources: dict[str, tuple[list[str], str, pl.DataFrame]],
) -> dict[str, tuple[list[str], str, pl.DataFrame]]:
    """The rows as the as-of join takes them: in time order, one per symbol and time (the
    last one of the table's order)."""
    return {
        name: (
            fields,
            when,
            rows.sort("_k", maintain_order=True).unique(
                ["_s", "_k"], keep="last", maintain_order=True
            ),
        )
        for name, (fields, when, rows) in sources.items()
    }


def _sources(
    quotes: Any, trades: Any, snapshots: Any
) -> dict[str, tuple[list[str], str, pl.DataFrame]]:
    """Per group of fields: the fields, the name of their time, and their rows."""
    import polars as pl

    from ki2fast.analytics import counting_prints

    q = None if quotes is None else _frame(quotes)
    t = None if trades is None else counting_prints(_frame(trades))
    snaps: list[pl.DataFrame] = []
    if snapshots is not None:
        parts = snapshots if isinstance(snapshots, Sequence) else [snapshots]
        snaps = [_frame(s) for s in parts]
    f64, i64 = pl.Float64, pl.Int64

    def has(df: pl.DataFrame | None, *cols: str) -> bool:
        return df is not None and set(cols) <= set(df.columns)

    out: dict[str, tuple[list[str], str, pl.DataFrame]] = {}
    # The last price.
    last: pl.DataFrame | None = None
    if t is not None:
        last = _rows(t, last=pl.col("price").cast(f64), last_size=pl.col("shares").cast(i64))
        if t.schema["price"].is_integer():
            last = last.with_columns(pl.col("last") / 10_000)
    elif has(q, "last"):
        assert q is not None
        size = pl.col("last_size").cast(i64) if "last_size" in q.columns else pl.lit(None, i64)
        rows = _rows(q, last=pl.col("last").cast(f64), last_size=size)
        changed = pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(c).shift(1).over("_s")) for c in ("last", "last_size")
        )
        last = rows.filter(changed & pl.col("last").is_not_null())
    else:
        closes = [s for s in snaps if has(s, "close")]
        if closes:
            last = pl.concat(
                [
                    _rows(s, last=pl.col("close").cast(f64), last_size=pl.lit(None, i64))
                    for s in closes
                ]
            ).filter(pl.col("last").is_not_null())
    if last is not None:
        out["last"] = (["last", "last_size"], "last_time", last)
    # The quote.
    books = [x for x in ([q] if q is not None else []) + snaps if has(x, "bid", "ask")]
    if books:

        def side_size(df: pl.DataFrame, c: str) -> pl.Expr:
            return pl.col(c).cast(i64) if c in df.columns else pl.lit(None, i64)

        rows = pl.concat(
            [
                _rows(
                    b,
                    bid=pl.col("bid").cast(f64),
                    bid_size=side_size(b, "bid_size"),
                    ask=pl.col("ask").cast(f64),
                    ask_size=side_size(b, "ask_size"),
                )
                for b in books
            ]
        )
        out["quote"] = (["bid", "bid_size", "ask", "ask_size"], "quote_time", rows)
    # The day's cumulative volume.
    volume: pl.DataFrame | None = None
    if has(q, "total_volume"):
        assert q is not None
        volume = _rows(q, cum_volume=pl.col("total_volume").cast(i64)).filter(
            pl.col("cum_volume").is_not_null()
        )
    elif any(has(s, "volume") for s in snaps):
        volume = pl.concat(
            [_rows(s, cum_volume=pl.col("volume").cast(i64)) for s in snaps if has(s, "volume")]
        ).filter(pl.col("cum_volume").is_not_null())
    elif t is not None:
        day = (
            pl.col("_k")
            .cast(pl.Datetime("ns"))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone("America/New_York")
            .dt.date()
        )
        volume = (
            _rows(t, _q=pl.col("shares").cast(i64))
            .sort("_k", maintain_order=True)
            .with_columns(cum_volume=pl.col("_q").cum_sum().over("_s", day))
            .drop("_q")
        )
    if volume is not None:
        out["volume"] = (["cum_volume"], "volume_time", volume)
    return out
