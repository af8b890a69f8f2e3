"""NASDAQ TotalView-ITCH 5.0 into Apache Arrow.

Every function takes ``src``: a path to a raw or gzip day file (compression is detected from
the magic bytes; multi-member gzip is read to the end), or any bytes-like object (``bytes``,
``bytearray``, ``memoryview``, a numpy array), which is read in place without copying.

Tables are pyarrow; they share their buffers with the Rust decoder, and polars or duckdb read
them without copies. Column names are the snake_case ITCH field names; every table starts with
``stock_locate, tracking_number, timestamp`` (nanoseconds since midnight, New York), then
``ts`` (``timestamp[ns, America/New_York]``) when a session date is known, then ``stock``
(dictionary-encoded symbol). Prices are exact integers (1/10 000 $; Price(8) in 1e-8 $) with
the scale in field metadata, or float64 dollars with ``prices="float"``.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

from ki2fast import _core
from ki2fast._args import name_list, session_date

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MESSAGE_LENGTHS",
    "MESSAGE_TYPES",
    "ItchBatchIterator",
    "ItchSummary",
    "ItchTables",
    "count_itch",
    "itch_schema",
    "itch_summary",
    "iter_itch",
    "order_events_schema",
    "read_itch",
    "read_order_events",
    "scan_order_events",
    "synth_itch",
    "write_itch",
]

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Any]
Prices = Literal["int", "float"]
Errors = Literal["raise", "skip"]
DateLike = Union[_dt.date, str, None]  # noqa: UP007 (a runtime alias on 3.10)

#: Type code → snake_case message name, for all 23 ITCH 5.0 message types.
MESSAGE_TYPES: dict[str, str] = dict(_core.MESSAGE_TYPES)
#: snake_case message name → length in bytes (type byte included, framing excluded).
MESSAGE_LENGTHS: dict[str, int] = dict(_core.MESSAGE_LENGTHS)


def _options(
    src: Source,
    symbols: Iterable[str] | str | None,
    date: DateLike,
    prices: Prices,
    allow_truncated: bool,
    errors: Errors,
) -> dict[str, Any]:
    """The keyword arguments every `_core` reader takes, normalised."""
    return {
        "symbols": name_list(symbols),
        "date": session_date(src, date),
        "prices": prices,
        "allow_truncated": allow_truncated,
        "errors": errors,
    }


class ItchTables(dict[str, "pa.Table"]):
    """``read_itch``'s result: a dict of message name → table, plus ``checks``.

    ``checks`` holds the framing counters: messages per type, unknown type codes (skipped by
    their length), length mismatches (with ``errors="skip"``), zero-length frames, the bytes
    of a partial tail (with ``allow_truncated=True``) and the bytes read.
    """

    checks: dict[str, Any]


def read_itch(
    src: Source,
    *,
    messages: Iterable[str] | str | None = None,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "int",
    allow_truncated: bool = False,
    errors: Errors = "raise",
) -> ItchTables:
    """Decode a whole ITCH 5.0 stream into one Arrow table per message type.

    Parameters
    ----------
    src
        Path (raw or gzip) or bytes-like object.
    messages
        Message types to keep: snake_case names (``"add_order"``) or codes (``"A"``).
        All 23 by default. Every selected type gets a table, empty or not.
    symbols
        Symbols to keep. Market-wide messages (system events, MWCB) always stay.
    date
        Session date (``datetime.date`` or ``"YYYY-MM-DD"``); adds the zoned ``ts`` column.
        Taken from NASDAQ file names (``MMDDYYYY.NASDAQ_ITCH50``) when not given.
    prices
        ``"int"`` (exact, 1/10 000 $) or ``"float"`` (dollars).
    allow_truncated
        Stop cleanly at a partial last frame (a capture still being written); the bytes
        left over are ``checks["truncated_tail_bytes"]``.
    errors
        ``"raise"``: a known message type with a wrong length raises; ``"skip"``: it is
        skipped and counted in ``checks["length_mismatch"]``.

    Raises
    ------
    ItchDecodeError
        Truncated or malformed frames, empty or non-ITCH input (with path and byte offset).
    FileNotFoundError
        ``src`` is a path that does not exist.

    Examples
    --------
    >>> import ki2fast as kf
    >>> tables = kf.read_itch("data/samples/03012024.NASDAQ_ITCH50.gz", messages=["A", "E"])
    >>> tables["add_order"].column_names[:5]
    ['stock_locate', 'tracking_number', 'timestamp', 'ts', 'stock']
    """
    import pyarrow as pa

    opts = _options(src, symbols, date, prices, allow_truncated, errors)
    raw, checks = _core.read_itch(src, messages=name_list(messages), **opts)
    out = ItchTables((name, pa.table(table)) for name, table in raw.items())
    out.checks = checks
    return out


class ItchBatchIterator(Iterator[tuple[str, "pa.RecordBatch"]]):
    """Lazy ``(message name, RecordBatch)`` pairs; memory stays bounded by the batch size.

    ``checks`` (framing counters) is complete once the iterator is exhausted; ``progress``
    is ``(bytes read, total bytes or None)`` in stored (compressed, for gzip) bytes.
    """

    def __init__(self, inner: _core.ItchBatches):
        self._inner = inner

    def __iter__(self) -> ItchBatchIterator:
        return self

    def __next__(self) -> tuple[str, pa.RecordBatch]:
        import pyarrow as pa

        name, batch = next(self._inner)
        return name, pa.record_batch(batch)

    @property
    def checks(self) -> dict[str, Any]:
        return self._inner.checks

    @property
    def progress(self) -> tuple[int, int | None]:
        return self._inner.progress


def iter_itch(
    src: Source,
    *,
    batch_size: int = 65_536,
    messages: Iterable[str] | str | None = None,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "int",
    allow_truncated: bool = False,
    errors: Errors = "raise",
) -> ItchBatchIterator:
    """Stream ``(message name, RecordBatch)`` pairs with bounded memory.

    Batches of one type come in file order; batches of different types interleave as they
    fill up (each holds ``batch_size`` rows except the last of its type). Options as in
    `read_itch`.

    Examples
    --------
    >>> import ki2fast as kf
    >>> rows = {}
    >>> for name, batch in kf.iter_itch("data/samples/03012024.NASDAQ_ITCH50.gz"):
    ...     rows[name] = rows.get(name, 0) + batch.num_rows
    """
    opts = _options(src, symbols, date, prices, allow_truncated, errors)
    inner = _core.ItchBatches(src, messages=name_list(messages), batch_size=batch_size, **opts)
    return ItchBatchIterator(inner)


def count_itch(
    src: Source, *, allow_truncated: bool = False, errors: Errors = "raise"
) -> dict[str, int]:
    """Messages per type from a framing walk only (nothing is decoded into tables).

    Returns every one of the 23 message names (zero included) plus ``"unknown_0xNN"`` for each
    unknown type code met (such frames are skipped by their length).

    Examples
    --------
    >>> import ki2fast as kf
    >>> kf.count_itch("data/samples/03012024.NASDAQ_ITCH50.gz")["system_event"]
    6
    """
    checks = _core.count_itch(src, allow_truncated=allow_truncated, errors=errors)
    counts: dict[str, int] = dict(checks["messages"])
    counts.update({f"unknown_{code}": n for code, n in checks["unknown_types"].items()})
    return counts


def itch_schema(message: str, *, prices: Prices = "int", with_ts: bool = False) -> pa.Schema:
    """The Arrow schema of one message type's table (by name or code)."""
    import pyarrow as pa

    return pa.schema(_core.itch_schema(message, prices=prices, with_ts=with_ts))


def order_events_schema(*, prices: Prices = "int", with_ts: bool = False) -> pa.Schema:
    """The canonical ``order_events`` schema (see `read_order_events`)."""
    import pyarrow as pa

    return pa.schema(_core.order_events_schema(prices=prices, with_ts=with_ts))


def read_order_events(
    src: Source,
    *,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "int",
    allow_truncated: bool = False,
    errors: Errors = "raise",
) -> pa.Table:
    """One ordered stream of the book's events: add (``A``/``F``), execute (``E``),
    execute_price (``C``), cancel (``X``), delete (``D``), replace (``U``), in file order.

    Columns: ``stock_locate, timestamp[, ts], stock, event, side, order_reference_number,
    new_order_reference_number, shares, price, printable, match_number, attribution``. A cell
    is null where the message does not carry it: only adds have a side, an ``E`` has no price
    (it executes at the resting order's price), a delete has no shares.

    Examples
    --------
    >>> import ki2fast as kf
    >>> events = kf.read_order_events("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> sorted(set(events.column("event").to_pylist()))[:3]
    ['add', 'cancel', 'delete']
    """
    import pyarrow as pa

    opts = _options(src, symbols, date, prices, allow_truncated, errors)
    table, _checks = _core.read_order_events(src, **opts)
    return pa.table(table)


def scan_order_events(
    src: Source,
    *,
    batch_size: int = 65_536,
    symbols: Iterable[str] | str | None = None,
    date: DateLike = None,
    prices: Prices = "int",
    allow_truncated: bool = False,
    errors: Errors = "raise",
) -> pa.RecordBatchReader:
    """`read_order_events` as a lazy ``pyarrow.RecordBatchReader`` (bounded memory).

    Decoding errors surface as `ItchDecodeError` while the reader is consumed.
    """
    import pyarrow as pa

    opts = _options(src, symbols, date, prices, allow_truncated, errors)
    inner = _core.OrderEvents(src, batch_size=batch_size, **opts)
    schema = pa.schema(inner.schema)
    return pa.RecordBatchReader.from_batches(schema, (pa.record_batch(b) for b in inner))


@dataclass(frozen=True)
class ItchSummary:
    """What `itch_summary` found in a stream."""

    messages: dict[str, int]
    unknown_types: dict[str, int]
    symbols: list[str]
    first_time: str | None
    last_time: str | None
    first_timestamp: int | None
    last_timestamp: int | None
    system_events: list[tuple[str, int, str]]
    checks: dict[str, int] = field(default_factory=dict)
    bytes: int = 0

    @property
    def total_messages(self) -> int:
        return sum(self.messages.values())

    @classmethod
    def _from_core(cls, d: dict[str, Any]) -> ItchSummary:
        frame = d["checks"]
        checks = {
            "length_mismatch": frame["length_mismatch"],
            "unknown_type": sum(frame["unknown_types"].values()),
            "zero_length_frames": frame["zero_length_frames"],
            "truncated_tail_bytes": frame["truncated_tail_bytes"],
            "gzip_cut_at": frame["gzip_cut_at"],
            "timestamp_regressions": d["timestamp_regressions"],
            "timestamp_out_of_range": d["timestamp_out_of_range"],
            "unknown_locate": d["unknown_locate"],
            "events_out_of_order": d["events_out_of_order"],
            "test_symbols": d["test_symbols"],
        }
        return cls(
            messages=dict(frame["messages"]),
            unknown_types=dict(frame["unknown_types"]),
            symbols=list(d["symbols"]),
            first_time=d["first_time"],
            last_time=d["last_time"],
            first_timestamp=d["first_timestamp"],
            last_timestamp=d["last_timestamp"],
            system_events=list(d["system_events"]),
            checks=checks,
            bytes=frame["bytes"],
        )


def itch_summary(
    src: Source, *, allow_truncated: bool = False, errors: Errors = "raise"
) -> ItchSummary:
    """Messages per type, symbols, time span, system events and integrity counters
    (timestamps going backwards or past midnight, messages for locates no directory entry
    assigned, system events out of order, unknown types, partial tail).

    Examples
    --------
    >>> import ki2fast as kf
    >>> s = kf.itch_summary("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> [code for code, _, _ in s.system_events]
    ['O', 'S', 'Q', 'M', 'E', 'C']
    """
    scan = _core.SummaryScan(src, allow_truncated=allow_truncated, errors=errors)
    while scan.step():
        pass
    return ItchSummary._from_core(scan.result())


def synth_itch(
    path: str | os.PathLike[str],
    *,
    messages: int = 1_000_000,
    symbols: int = 500,
    seed: int = 1,
    depth: int = 25,
    date: DateLike = "2024-03-01",
    bursts: int | None = None,
    program_bursts: int = 0,
    gzip: bool = False,
    gzip_level: int = 6,
    truth: bool = True,
) -> dict[str, Any]:
    """Write a synthetic, valid ITCH 5.0 trading day; return its truth record.

    The day has every one of the 23 message types in a realistic order (system events,
    directory spin, pre-market, opening NOII and cross, halts, a LULD pause, closing cross,
    post-market, end-of-day purge), consistent order lifecycles, activity skewed across
    ``symbols`` symbols with about ``depth`` resting orders each on average, and a few planted
    quote bursts. ``program_bursts`` also plants that many program bursts: 12 symbols stuffed
    in the same 5 ms, each followed by executions all on one side (buy, sell, buy, ...). The
    same arguments always give the same bytes.

    With ``truth=True`` the record is also written next to the file as ``<path>.truth.json``
    (bursts, halts, crosses, system events, counts).

    Examples
    --------
    >>> import ki2fast as kf
    >>> truth = kf.synth_itch("/tmp/day.itch", messages=50_000, symbols=50, seed=7)
    >>> truth["summary"]["messages"] >= 50_000 - 50
    True
    """
    import json

    text = _core.synth_itch(
        os.fspath(path),
        messages=messages,
        symbols=symbols,
        seed=seed,
        depth=depth,
        date=date.isoformat() if isinstance(date, _dt.date) else str(date),
        bursts=bursts,
        program_bursts=program_bursts,
        gzip_level=gzip_level if gzip else None,
    )
    if truth:
        with open(f"{os.fspath(path)}.truth.json", "w", encoding="utf-8") as f:
            f.write(text)
    result: dict[str, Any] = json.loads(text)
    return result


def _itch_table(name: str, table: Any) -> pa.Table:
    """A table in the exact integer-price schema of message ``name``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema = itch_schema(name)
    if not isinstance(table, pa.Table):
        table = pa.table(table)
    columns = []
    for target in schema:
        if target.name not in table.column_names:
            raise ValueError(f"{name}: missing column {target.name!r}")
        col = table.column(target.name)
        scale = (target.metadata or {}).get(b"scale")
        if scale is not None and pa.types.is_floating(col.type):
            col = pc.round(pc.multiply(col, 10 ** int(scale)))
        columns.append(col.cast(target.type))
    return pa.Table.from_arrays(columns, schema=schema)


def write_itch(
    dest: str | os.PathLike[str] | None,
    tables: dict[str, Any] | Iterable[tuple[str, Any]],
    *,
    gzip: bool = False,
    gzip_level: int = 6,
) -> bytes | int:
    """Encode Arrow tables back into ITCH 5.0 frames: the inverse of `read_itch`.

    ``tables`` maps message names (or codes) to tables with that message's columns, as
    `read_itch` returns them (integer or float prices; ``stock`` dictionary or plain text;
    ``ts`` ignored). Rows of all tables are merged by ``timestamp``; rows with equal
    timestamps keep the order of the tables and rows given. Writes to ``dest`` (gzip with
    ``gzip=True``) and returns the number of messages, or returns the bytes when ``dest`` is
    None.

    Examples
    --------
    >>> import pyarrow.compute as pc
    >>> import ki2fast as kf
    >>> day = kf.read_itch("data/samples/03012024.NASDAQ_ITCH50.gz")
    >>> one = {name: t.filter(pc.equal(t["stock_locate"], 1)) for name, t in day.items()}
    >>> kf.write_itch("/tmp/locate1.itch", one) == sum(t.num_rows for t in one.values())
    True
    """
    items = list(tables.items()) if isinstance(tables, dict) else list(tables)
    prepared = []
    for name, table in items:
        kind = MESSAGE_TYPES.get(name, name)
        prepared.append((kind, _itch_table(kind, table)))
    path = None if dest is None else os.fspath(dest)
    n, data = _core.write_itch(path, prepared, gzip_level=gzip_level if gzip else None)
    if dest is None:
        assert data is not None
        return bytes(data)
    return int(n)
