"""Replay, VWAP, bars and the level-one view.

``replay_itch`` runs the Rust core over an ITCH day once: every book, every print, the hourly
VWAP report, time bars and, on request, the top-of-book stream and depth snapshots. Results
are polars frames over the core's Arrow buffers.

``vwap``, ``bars`` and ``level1`` take any table in the canonical trades / quotes schemas
(``ts`` or ``timestamp``, ``stock``, ``price``, ``shares`` …), so feeds other than ITCH get
the same analytics.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union, overload

from ki2fast import _core
from ki2fast._args import name_list, session_date, thread_count
from ki2fast._frames import polars_frame as _pl
from ki2fast._progress import Progress, run_with_progress
from ki2fast.book import OrderBook
from ki2fast.itch import DateLike, Errors, Prices, Source

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa

    from ki2fast.replay_dir import StoredReplay

__all__ = ["Replay", "bars", "hourly_vwap", "level1", "parse_every", "replay_itch", "vwap"]

Every = Union[str, int, _dt.timedelta]  # noqa: UP007 (a runtime alias on 3.10)

_UNITS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def parse_every(every: Every) -> int:
    """An interval in nanoseconds from ``"1m"``, ``"30s"``, ``"1h"``, ``"250ms"``, an int (ns)
    or a ``timedelta``."""
    if isinstance(every, _dt.timedelta):
        ns = round(every.total_seconds() * 1e9)
    elif isinstance(every, int):
        ns = every
    else:
        text = str(every).strip()
        for unit in sorted(_UNITS, key=len, reverse=True):
            if text.endswith(unit) and text[: -len(unit)].strip().isdigit():
                ns = int(text[: -len(unit)]) * _UNITS[unit]
                break
        else:
            raise ValueError(f"interval {every!r} is not like '1m', '30s', '1h' or '250ms'")
    if ns <= 0:
        raise ValueError(f"interval {every!r} must be positive")
    return ns


@dataclass
class Replay:
    """What ``replay_itch`` produced.

    - ``hourly_vwap``: the reference report (``symbol, time, vwap, volume, notional, label``).
    - ``trades``: every execution and print in file order: ``kind`` E/C/P/Q, exact
      ``aggressor`` for E/C (B = buyer-initiated), ``match_number``, ``printable``,
      ``broken`` (voided by a later B), the Nasdaq BBO just before the print and the trade's
      ``position`` code (0 no valid BBO, 1 below bid … 4 at mid … 7 above ask). ``stock``
      and the one-letter columns (``kind``, ``aggressor``, ``cross_type``) are categoricals;
      they compare with plain strings (``pl.col("kind") == "E"``).
    - ``bars``: time bars of printable, unbroken prints.
    - ``bbo``: every change of a book's top (with ``bbo=True``).
    - ``snapshots``: top ``depth`` levels per side of every non-empty book every
      ``snapshot_every`` (with ``snapshot_every``).
    - ``book``: the final books; ``stats``: the integrity counters; ``checks``: framing
      counters; ``examples``: the first offending messages per counter.
    - ``activity``: per-symbol activity windows (with ``activity_window``; the columns of
      ``kf.quote_activity``).
    """

    hourly_vwap: pl.DataFrame
    trades: pl.DataFrame | None
    bars: pl.DataFrame | None
    bbo: pl.DataFrame | None
    snapshots: pl.DataFrame | None
    book: OrderBook
    stats: dict[str, int]
    checks: dict[str, Any]
    examples: list[dict[str, Any]] = field(default_factory=list)
    activity: pl.DataFrame | None = None

    @property
    def level1(self) -> pl.DataFrame:
        """The level-one view at every print (see ``level1``)."""
        if self.trades is None:
            raise ValueError("the replay ran with trades=False")
        return level1(self.trades)


@overload
def replay_itch(
    src: Source,
    *,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "float",
    trades: bool = True,
    bar_every: Every | None = "1m",
    clock_hours: bool = False,
    bbo: bool = False,
    snapshot_every: Every | None = None,
    depth: int = 5,
    allow_truncated: bool = False,
    errors: Errors = "raise",
    progress: bool = False,
    threads: int | None = None,
    activity_window: Every | None = None,
    out: None = None,
) -> Replay: ...


@overload
def replay_itch(
    src: Source,
    *,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "float",
    trades: bool = True,
    bar_every: Every | None = "1m",
    clock_hours: bool = False,
    bbo: bool = False,
    snapshot_every: Every | None = None,
    depth: int = 5,
    allow_truncated: bool = False,
    errors: Errors = "raise",
    progress: bool = False,
    threads: int | None = None,
    activity_window: Every | None = None,
    out: str | os.PathLike[str],
) -> StoredReplay: ...


def replay_itch(
    src: Source,
    *,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "float",
    trades: bool = True,
    bar_every: Every | None = "1m",
    clock_hours: bool = False,
    bbo: bool = False,
    snapshot_every: Every | None = None,
    depth: int = 5,
    allow_truncated: bool = False,
    errors: Errors = "raise",
    progress: bool = False,
    threads: int | None = None,
    activity_window: Every | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Replay | StoredReplay:
    """Replay an ITCH 5.0 day in one pass (GIL released; Ctrl-C interrupts).

    Books follow the ITCH rules exactly (E at the resting price, C at its own price and only
    printable ones print, X partial, D rest, U new reference inheriting side, stock and MPID,
    P and Q never touch the book); unknown references, over-executions and the like are
    counted in ``stats`` and never raise. ``bar_every=None`` skips bars; ``trades=False``
    skips the trades table.

    ``threads`` splits the books by stock across that many threads (rounded down to a power
    of two; default: the cores this process may use, up to 4). Every thread walks the whole
    file and the results are merged into exactly what one thread gives. That relies on each
    message naming its order's stock, as exchange data does; where a thread sees a sign
    otherwise (an unknown order reference or a duplicate add, common in files that start
    mid-day, or a timestamp going back), the replay starts again in one thread. Gzip input
    and a replay of chosen ``symbols`` run in one thread.

    ``activity_window`` (e.g. ``"1s"``) also counts quote messages, top-of-book changes,
    prints, shares and dollars per symbol and window in the same pass (``Replay.activity``,
    the table ``kf.quote_activity`` returns).

    >>> import ki2fast as kf
    >>> r = kf.replay_itch("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> r.hourly_vwap.columns[:5]
    ['symbol', 'time', 'timestamp', 'vwap', 'volume']
    """
    session = session_date(src, date)
    options: dict[str, Any] = dict(
        symbols=name_list(symbols),
        date=session,
        prices=prices,
        trades=trades,
        bar_every_ns=None if bar_every is None else parse_every(bar_every),
        clock_hours=clock_hours,
        bbo=bbo,
        snapshot_every_ns=None if snapshot_every is None else parse_every(snapshot_every),
        depth=depth,
        allow_truncated=allow_truncated,
        errors=errors,
        threads=thread_count(threads),
        activity_every_ns=None if activity_window is None else parse_every(activity_window),
    )
    if out is not None:
        from ki2fast.replay_dir import stream_replay

        source = os.fspath(src) if isinstance(src, str | os.PathLike) else None
        with Progress("replay", enabled=progress) as bar:

            def step(run: Any) -> None:
                bar.total = run.progress[1]
                bar.update(run.progress[0])

            return stream_replay(
                lambda spill_dir: _core.ReplayRun(src, spill_dir=spill_dir, **options),
                out,
                manifest={"source": source, "date": session, "options": options},
                on_step=step,
                activity=activity_table,
            )
    run = _core.ReplayRun(src, **options)
    run_with_progress(run, enabled=progress)
    result = run.finish()

    def frame(name: str) -> pl.DataFrame | None:
        table = result[name]
        return None if table is None else _pl(table)

    hourly = frame("hourly_vwap")
    assert hourly is not None
    return Replay(
        hourly_vwap=hourly,
        trades=frame("trades"),
        bars=frame("bars"),
        bbo=frame("bbo"),
        snapshots=frame("snapshots"),
        book=OrderBook._wrap(result["book"]),
        stats=dict(result["stats"]),
        checks=dict(result["checks"]),
        examples=list(result["examples"]),
        activity=None if result["activity"] is None else activity_frame(result["activity"]),
    )


def activity_frame(table: Any) -> pl.DataFrame:
    """The core's activity batch as an activity table: ``symbol``, ``locate``,
    ``window_start`` (ET with a session date; without one, a duration since midnight) and
    ``window_timestamp`` (ns since midnight), ``window_ns``, the counts, ``shares``,
    ``dollars``, ``trade_size``, the aggressor shares, ``num_executions`` (E and C messages)
    and the exact ``notional_e4``. ``symbol`` stays dictionary-encoded (a polars
    Categorical), as in the other ITCH tables: no string per row is built."""
    return _pl(activity_table(table))


def activity_table(table: Any) -> pa.Table:
    """:func:`activity_frame`'s columns as an Arrow table, without a copy (what a streamed
    replay writes)."""
    import pyarrow as pa

    t = pa.table(table)
    t = t.rename_columns(
        [{"stock": "symbol", "stock_locate": "locate"}.get(n, n) for n in t.column_names]
    )
    if "window_start" not in t.column_names:
        # No session date: the window start is a time of day (a duration since midnight),
        # as the start of an episode is, so that every consumer finds its column.
        t = t.append_column("window_start", t.column("window_timestamp").cast(pa.duration("ns")))
    first = ["symbol", "locate", "window_start", "window_timestamp"]
    return t.select(first + [c for c in t.column_names if c not in first])


def hourly_vwap(
    src: Source,
    *,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    clock_hours: bool = False,
) -> pl.DataFrame:
    """The classic hourly VWAP report: cumulative VWAP per symbol at the market open
    (``S Q``), every hour after it (or at whole clock hours with ``clock_hours=True``), at
    the close (``S M``) and at the end of the file. Each report holds the prints strictly
    before its time; ``notional`` is exact (decimal, 1/10 000 $).

    >>> import ki2fast as kf
    >>> report = kf.hourly_vwap("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> report["label"].unique(maintain_order=True).to_list()[:2]
    ['open', '10:30:00']
    """
    return replay_itch(
        src, symbols=symbols, date=date, trades=False, bar_every=None, clock_hours=clock_hours
    ).hourly_vwap


def _time_col(df: pl.DataFrame) -> str:
    for name in ("ts", "timestamp"):
        if name in df.columns:
            return name
    raise ValueError("a trades or quotes table needs a 'ts' or 'timestamp' column")


def _asof_by_stock(left: pl.DataFrame, right: pl.DataFrame, on: str, **kw: Any) -> pl.DataFrame:
    """``left.join_asof(right, on=on, by="stock", ...)``. Callers sort both sides by ``on``,
    so each stock's rows are in order too; polars cannot check that with groups and would
    warn on every call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Sortedness of columns cannot be checked", UserWarning)
        return left.join_asof(right, on=on, by="stock", **kw)


def _frame(table: Any) -> pl.DataFrame:
    import polars as pl

    if isinstance(table, pl.DataFrame):
        return table
    return _pl(table)


def counting_prints(trades: pl.DataFrame) -> pl.DataFrame:
    """The prints that count in volume: with a price, printable, not broken, with 1 to
    ``MAX_PRINT_SHARES`` shares (the core's rule: more is an absurd print, which would make
    any sum of volume wrap)."""
    import polars as pl

    keep = (pl.col("shares") > 0) & (pl.col("shares") <= _core.MAX_PRINT_SHARES)
    keep &= pl.col("price").is_not_null()
    if "printable" in trades.columns:
        keep &= pl.col("printable")
    if "broken" in trades.columns:
        keep &= ~pl.col("broken")
    return trades.filter(keep)


def _bucket(time: str, every_ns: int) -> pl.Expr:
    import polars as pl

    col = pl.col(time)
    if time == "timestamp":
        return (col // every_ns) * every_ns
    return col.dt.truncate(f"{every_ns}ns")


def _dollars(trades: pl.DataFrame, name: str) -> pl.Expr:
    """Prices as float dollars whatever their representation (ticks carry scale 4)."""
    import polars as pl

    if trades.schema[name].is_integer():
        return pl.col(name).cast(pl.Float64) / 10_000
    return pl.col(name).cast(pl.Float64)


def vwap(
    trades: Any, *, every: Every | None = None, by: str | Sequence[str] = "stock"
) -> pl.DataFrame:
    """VWAP, volume and notional per ``by`` (and per ``every`` interval), over printable,
    unbroken prints of any canonical trades table. Integer prices accumulate exactly.

    >>> import polars as pl, ki2fast as kf
    >>> t = pl.DataFrame({"timestamp": [1, 2], "stock": ["A", "A"],
    ...                   "price": [10.0, 20.0], "shares": [100, 300]})
    >>> kf.vwap(t)["vwap"].to_list()
    [17.5]
    """
    import polars as pl

    df = counting_prints(_frame(trades))
    keys = [by] if isinstance(by, str) else list(by)
    if every is not None:
        time = _time_col(df)
        df = df.with_columns(_bucket(time, parse_every(every)).alias(time))
        keys = [*keys, time]
    notional = (
        (pl.col("price").cast(pl.Int128) * pl.col("shares").cast(pl.Int128))
        if df.schema["price"].is_integer()
        else pl.col("price") * pl.col("shares")
    )
    out = (
        df.group_by(keys, maintain_order=True)
        .agg(notional.sum().alias("notional"), pl.col("shares").sum().alias("volume"))
        .with_columns((pl.col("notional").cast(pl.Float64) / pl.col("volume")).alias("vwap"))
    )
    if df.schema["price"].is_integer():
        out = out.with_columns(
            pl.col("vwap") / 10_000,
            pl.col("notional").cast(pl.Decimal(38, 0)).cast(pl.Decimal(38, 4)) / 10_000,
        )
    return out.sort(keys).select(*keys, "vwap", "volume", "notional")


def bars(trades: Any, quotes: Any | None = None, *, every: Every = "1m") -> pl.DataFrame:
    """Time bars per symbol from any canonical trades table, folded by the core with the
    ITCH replay's own bar rules. Prints count when printable, not broken and with 1 to
    ``MAX_PRINT_SHARES`` shares; they are taken in time order (file order at equal times).

    Columns: the symbol (``stock`` or ``symbol``, as in the input), the bar start (``ts`` or
    ``timestamp``, as in the input), ``open high low close`` (float dollars) ``volume count
    vwap first_trade_time last_trade_time``, ``buy_aggr_volume`` / ``sell_aggr_volume``
    (the print's aggressor for ITCH ``E`` and ``C``; else above / below the mid, then the
    tick rule), ``tick_buy_volume`` / ``tick_sell_volume`` (uptick / downtick, an unchanged
    price keeping the last sign); with a ``kind`` column ``hidden_volume`` (``P`` prints).
    When quotes are known: ``askvol`` / ``bidvol`` (volume at or above the ask / at or below
    the bid in force just before each print: the last quote strictly before it, or the
    trades' own ``bid`` / ``ask`` columns); and with ``quotes``, the time-weighted
    ``spread`` (dollars) and ``spread_bps`` over each bar, the quote in force carried over
    from earlier bars. A bid or ask of 0 or null is a side without a quote.

    Prices may be floats (dollars, to 1/10 000 $: finer ones raise ``ValueError``) or
    integers (1/10 000 $), up to $1.8 quadrillion.

    >>> import polars as pl, ki2fast as kf
    >>> t = pl.DataFrame({"timestamp": [0, 10, 70_000_000_000], "stock": ["A"] * 3,
    ...                   "price": [10.0, 11.0, 9.0], "shares": [1, 2, 3]})
    >>> kf.bars(t)["close"].to_list()
    [11.0, 9.0]
    """
    import polars as pl

    every_ns = parse_every(every)
    df = counting_prints(_frame(trades))
    time = _time_col(df)
    stock = _stock_col(df)
    q = None
    if quotes is not None:
        q = _frame(quotes)
        if _time_col(q) != time:
            raise ValueError(f"trades are keyed by {time!r} but quotes by {_time_col(q)!r}")
        q = q.rename({_stock_col(q): stock}) if _stock_col(q) != stock else q
    if df[stock].null_count():
        raise ValueError(f"a print has no {stock}")
    names = _names(df[stock], None if q is None else q[stock])
    code = pl.col(stock).cast(pl.String).cast(pl.Enum(names)).to_physical().cast(pl.UInt16)
    clock = pl.col(time) if time == "timestamp" else pl.col(time).dt.epoch("ns")
    own = q is None and {"bid", "ask"} <= set(df.columns)

    def ticks(frame: pl.DataFrame, name: str, side: bool = False) -> pl.Expr:
        col = pl.col(name)
        if frame.schema[name].is_float():
            col = (col * 10_000).round(0)
        col = col.cast(pl.Int64)
        if side:  # null or non-positive: no quote on that side
            return pl.when(col > 0).then(col).otherwise(0).cast(pl.UInt64)
        return col

    def letter(name: str, letters: str) -> pl.Expr:
        if name not in df.columns:
            return pl.lit(0, pl.UInt8)
        codes = {c: ord(c) for c in letters}
        return (
            pl.col(name)
            .cast(pl.String)
            .replace_strict(codes, default=0, return_dtype=pl.UInt8)
            .fill_null(0)
        )

    prints = df.select(
        timestamp=clock.cast(pl.Int64),
        locate=code,
        kind=letter("kind", "ECPQ"),
        aggressor=letter("aggressor", "BS"),
        price=ticks(df, "price"),
        shares=pl.col("shares").cast(pl.UInt64),
        bid=ticks(df, "bid", side=True) if own else pl.lit(0, pl.UInt64),
        ask=ticks(df, "ask", side=True) if own else pl.lit(0, pl.UInt64),
    ).sort("timestamp", maintain_order=True)
    _check_ticks(df, "price", prints["price"])
    if prints.height and prints["price"].min() < 0:  # type: ignore[operator]
        raise ValueError("a print has a negative price")
    prints = prints.with_columns(pl.col("price").cast(pl.UInt64))
    quote_rows = None
    if q is not None:
        quote_rows = q.select(
            timestamp=(pl.col(time) if time == "timestamp" else pl.col(time).dt.epoch("ns")).cast(
                pl.Int64
            ),
            locate=code,
            bid=ticks(q, "bid", side=True),
            ask=ticks(q, "ask", side=True),
        ).sort("timestamp", maintain_order=True)
        for side in ("bid", "ask"):
            _check_ticks(q, side, quote_rows[side])
    out = _pl(
        _core.feed_bars(
            prints.to_arrow(),
            None if quote_rows is None else quote_rows.to_arrow(),
            every_ns,
            names,
        )
    )
    times = ["timestamp", "first_trade_timestamp", "last_trade_timestamp"]
    if time == "ts":
        dtype = df.schema[time]
        zone = getattr(dtype, "time_zone", None)

        def back(c: str) -> pl.Expr:
            t = pl.col(c).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
            return (t.dt.convert_time_zone(zone) if zone else t.dt.replace_time_zone(None)).cast(
                dtype
            )

        out = out.with_columns(back(c) for c in times)
    out = out.rename(
        {
            "timestamp": time,
            "first_trade_timestamp": "first_trade_time",
            "last_trade_timestamp": "last_trade_time",
        }
    ).with_columns(pl.col("stock").cast(df.schema[stock]).alias(stock))
    keep = [stock, time, "open", "high", "low", "close", "volume", "count", "vwap"]
    keep += ["first_trade_time", "last_trade_time"]
    if own or q is not None:
        keep += ["askvol", "bidvol"]
    if q is not None:
        keep += ["spread", "spread_bps"]
    keep += ["buy_aggr_volume", "sell_aggr_volume", "tick_buy_volume", "tick_sell_volume"]
    if "kind" in df.columns:
        keep.append("hidden_volume")
    return out.select(keep)


def _stock_col(df: pl.DataFrame) -> str:
    for name in ("stock", "symbol"):
        if name in df.columns:
            return name
    raise ValueError("a trades or quotes table needs a 'stock' or 'symbol' column")


def _names(*columns: pl.Series | None) -> list[str]:
    """The symbols of ``columns``, sorted; each symbol's code into the core is its index."""
    import polars as pl

    parts = [c.cast(pl.String).drop_nulls().unique() for c in columns if c is not None]
    names = pl.concat(parts).unique().sort().to_list() if parts else []
    if len(names) > 0xFFFF:
        raise ValueError(f"{len(names)} symbols: bars take at most 65 535 in one call")
    return names


def _check_ticks(frame: pl.DataFrame, name: str, ticks: pl.Series) -> None:
    """Float prices must be whole 1/10 000 $ (a finer price would be silently rounded)."""
    import polars as pl

    if not frame.schema[name].is_float() or not frame.height:
        return
    x = frame[name].cast(pl.Float64) * 10_000
    off = (x - x.round(0)).abs()
    worst = off.arg_max()
    if worst is not None and (off[worst] or 0) > 1e-3:
        raise ValueError(
            f"{name} {frame[name][worst]!r} is finer than 1/10 000 $, the unit bars count in"
        )


def _cum_where(cond: pl.Expr, by: str) -> pl.Expr:
    import polars as pl

    return pl.when(cond).then(pl.col("shares")).otherwise(0).cum_sum().over(by)


def level1(trades: Any, quotes: Any | None = None, *, at: Any | None = None) -> pl.DataFrame:
    """A level-one view per symbol, in the spirit of CloudQuant's ``md.L1``: at every print,
    or at the times in ``at`` (a list of datetimes/ns, carried forward per symbol).

    Columns: ``last, last_size, last_position, open, daily_high, daily_high_time,
    daily_low, daily_low_time, daily_vwap, daily_count, acc_volume, daily_bidvol,
    daily_askvol, change_from_open, percent_change_from_open`` and ``bid, bid_size, ask,
    ask_size`` (the Nasdaq BBO before the print, or from ``quotes`` at the ``at`` times).
    ``open`` is the opening-cross price when the trades hold one (``kind`` Q, ``cross_type``
    O), else the first print.
    """
    import polars as pl

    df = counting_prints(_frame(trades))
    time = _time_col(df)
    price = _dollars(df, "price").alias("_p")
    df = df.with_columns(price)
    cum = pl.col("_p")
    open_expr = cum.first()
    if "kind" in df.columns and "cross_type" in df.columns:
        is_open = (pl.col("kind") == "Q") & (pl.col("cross_type") == "O")
        open_expr = pl.when(is_open.any()).then(cum.filter(is_open).first()).otherwise(cum.first())
    by = "stock"
    cols = [
        pl.col("_p").alias("last"),
        pl.col("shares").alias("last_size"),
        cum.cum_max().over(by).alias("daily_high"),
        cum.cum_min().over(by).alias("daily_low"),
        ((cum * pl.col("shares")).cum_sum().over(by) / pl.col("shares").cum_sum().over(by)).alias(
            "daily_vwap"
        ),
        pl.int_range(1, pl.len() + 1).over(by).alias("daily_count"),
        pl.col("shares").cum_sum().over(by).alias("acc_volume"),
        open_expr.over(by).alias("open"),
    ]
    if "position" in df.columns:
        cols += [
            pl.col("position").alias("last_position"),
            _cum_where(pl.col("position").is_in([1, 2]), by).alias("daily_bidvol"),
            _cum_where(pl.col("position").is_in([6, 7]), by).alias("daily_askvol"),
        ]
    out = df.with_columns(cols)
    # First time each running extreme was reached.
    out = (
        out.with_columns(
            pl.when(pl.col("_p") == pl.col("daily_high"))
            .then(pl.col(time))
            .otherwise(None)
            .alias("_ht"),
            pl.when(pl.col("_p") == pl.col("daily_low"))
            .then(pl.col(time))
            .otherwise(None)
            .alias("_lt"),
            (pl.col("daily_high") != pl.col("daily_high").shift(1).over(by))
            .fill_null(True)
            .alias("_hn"),
            (pl.col("daily_low") != pl.col("daily_low").shift(1).over(by))
            .fill_null(True)
            .alias("_ln"),
        )
        .with_columns(
            pl.when(pl.col("_hn"))
            .then(pl.col("_ht"))
            .otherwise(None)
            .forward_fill()
            .over(by)
            .alias("daily_high_time"),
            pl.when(pl.col("_ln"))
            .then(pl.col("_lt"))
            .otherwise(None)
            .forward_fill()
            .over(by)
            .alias("daily_low_time"),
        )
        .with_columns(
            (pl.col("last") - pl.col("open")).alias("change_from_open"),
            (100 * (pl.col("last") - pl.col("open")) / pl.col("open")).alias(
                "percent_change_from_open"
            ),
        )
    )
    keep = [time, "stock", "last", "last_size"]
    keep += [c for c in ("last_position",) if c in out.columns]
    keep += [
        "open",
        "daily_high",
        "daily_high_time",
        "daily_low",
        "daily_low_time",
        "daily_vwap",
        "daily_count",
        "acc_volume",
    ]
    keep += [c for c in ("daily_bidvol", "daily_askvol") if c in out.columns]
    keep += ["change_from_open", "percent_change_from_open"]
    quote_cols = [c for c in ("bid", "bid_size", "ask", "ask_size") if c in out.columns]
    out = out.select([*keep, *quote_cols])
    if at is None:
        return out
    times = pl.Series(time, list(at))
    if time != "timestamp":
        times = times.cast(out.schema[time])
    grid = (
        out.select(pl.col("stock").unique().sort())
        .join(pl.DataFrame(times).sort(time), how="cross")
        .sort(time)
    )
    snap = _asof_by_stock(grid, out.drop(quote_cols).sort(time), time, strategy="backward")
    if quotes is not None:
        q = _frame(quotes).sort(time)
        snap = _asof_by_stock(
            snap, q.select(time, "stock", "bid", "bid_size", "ask", "ask_size"), time
        )
    return snap.sort("stock", time)
