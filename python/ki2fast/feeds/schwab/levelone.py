"""Schwab streamer level-one captures (NDJSON) into typed Arrow tables.

``read_levelone(src)`` reads the capture files users write all day, in either shape:

- one data item per line (``{"service": "LEVELONE_EQUITIES", "timestamp": …, "content": [...]}``),
  with schwab-py labels, Schwabdev's names or numeric field ids, mixed freely (docs/feeds.md §1.12);
- whole streamer frames (``{"data": [...]}``, ``{"response": [...]}``, ``{"notify": [...]}``),
  or ki2fast journal records that hold one (``{"v": …, "raw": "<frame>"}``).

Level-one updates are deltas (docs/feeds.md §1.7): a field absent from an update is unchanged. The
reader returns both the deltas as sent and the state forward-filled per (service, symbol): a
baseline item (one carrying ``delayed``, ``assetMainType`` or ``cusip``) replaces the state,
and the state never carries across a reconnect (a new ``LOGIN`` response in a frame capture) or
an ET calendar day. From the state it derives the canonical ``quotes`` table and ``trades`` from
the rises of total volume (shares = the rise, price = the last price), ready for ``kf.vwap`` and
``kf.bars``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ki2fast._common import NY
from ki2fast.exceptions import AmbiguousLabelsError
from ki2fast.feeds.schwab import _fields as schwab_fields
from ki2fast.feeds.schwab._frames import (
    I64,
    CaptureLineError,
    capture_bytes,
    content_of,
    time_ms,
)
from ki2fast.feeds.schwab.book import BOOK_SCHEMA, BookLevels, book_levels

__all__ = [
    "EQUITIES",
    "OPTIONS",
    "AmbiguousLabelsError",
    "CaptureLineError",
    "LevelOne",
    "LevelOneDecoder",
    "equity_schema",
    "option_schema",
    "read_levelone",
]

EQUITIES = schwab_fields.EQUITIES
OPTIONS = schwab_fields.OPTIONS
LabelScheme = Literal["auto", "numeric", "schwab_py", "schwab_py_tda", "schwabdev"]
#: Captures whose first item is from this day on were written by Schwab-era schwab-py
#: (docs/feeds.md §1.11).
SCHWAB_PY_SINCE_MS = int(dt.datetime(2024, 5, 16, 4, tzinfo=dt.UTC).timestamp() * 1000)


_ARROW = {
    "f64": pa.float64(),
    "i64": pa.int64(),
    "i8": pa.int8(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "dict": pa.string(),
    "ts": pa.int64(),
}
_TS = pa.timestamp("ms", tz="UTC")
_DICT = pa.dictionary(pa.int32(), pa.string())
_RESERVED = ("key", "delayed", "assetMainType", "assetSubType", "cusip", "seq")


def _column_type(kind: str) -> pa.DataType:
    return {"ts": _TS, "dict": _DICT}.get(kind, _ARROW[kind])


def _meta_fields() -> list[pa.Field]:
    return [
        pa.field("msg_ts", _TS),
        pa.field("conn_epoch", pa.uint32(), nullable=False),
        pa.field("frame_seq", pa.uint64(), nullable=False),
        pa.field("item_idx", pa.uint16(), nullable=False),
        pa.field("key", _DICT, nullable=False),
        pa.field("delayed", pa.bool_()),
        pa.field("asset_main_type", _DICT),
        pa.field("asset_sub_type", _DICT),
        pa.field("cusip", pa.string()),
        pa.field("is_baseline", pa.bool_(), nullable=False),
    ]


@functools.cache
def _schema(service: str, state: bool) -> pa.Schema:
    fields = _meta_fields()
    if service == OPTIONS:
        fields += [
            pa.field("root", _DICT),
            pa.field("expiration", pa.date32()),
            pa.field("put_call", _DICT),
            pa.field("strike", pa.decimal128(12, 3)),
        ]
    fields += [
        pa.field(label.lower(), _column_type(kind))
        for i, label, kind in schwab_fields.FIELDS[service][1:]
    ]
    fields.append(pa.field("present", pa.uint64(), nullable=False))
    if state:
        fields += [pa.field("has_baseline", pa.bool_(), nullable=False)]
    else:
        fields.append(pa.field("extra", pa.map_(pa.string(), pa.string())))
    return pa.schema(fields)


def equity_schema(*, state: bool = True) -> pa.Schema:
    """Columns of ``LevelOne.equities`` (``state=True``) or ``.equity_deltas``."""
    return _schema(EQUITIES, state)


def option_schema(*, state: bool = True) -> pa.Schema:
    """Columns of ``LevelOne.options`` (``state=True``) or ``.option_deltas``."""
    return _schema(OPTIONS, state)


QUOTES_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ms", tz=NY)),
        pa.field("stock", _DICT, nullable=False),
        pa.field("bid", pa.float64()),
        pa.field("bid_size", pa.int64()),
        pa.field("ask", pa.float64()),
        pa.field("ask_size", pa.int64()),
        pa.field("last", pa.float64()),
        pa.field("last_size", pa.int64()),
        pa.field("total_volume", pa.int64()),
    ]
)
TRADES_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("ms", tz=NY)),
        pa.field("stock", _DICT, nullable=False),
        pa.field("price", pa.float64()),
        pa.field("shares", pa.int64(), nullable=False),
        pa.field("aggressor", _DICT, nullable=False),
        pa.field("last_size", pa.int64()),
        pa.field("conflated", pa.bool_(), nullable=False),
        pa.field("printable", pa.bool_(), nullable=False),
    ]
)
CONTROL_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("kind", _DICT, nullable=False),
        pa.field("service", pa.string()),
        pa.field("command", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("ts", _TS),
        pa.field("code", pa.int64()),
        pa.field("msg", pa.string()),
    ]
)
# The state columns the canonical tables take, the same names in both services:
# (bid, bid_size, ask, ask_size, last, last_size, volume, trade time).
_CANONICAL = (
    "bid_price",
    "bid_size",
    "ask_price",
    "ask_size",
    "last_price",
    "last_size",
    "total_volume",
    "trade_time_millis",
)


@dataclass(frozen=True)
class LevelOne:
    """What ``read_levelone`` returns: pyarrow tables, one row per content item unless noted.

    - ``equities`` / ``options``: the forward-filled state after each update (every field,
      typed; ``present`` is the mask of fields known so far, ``has_baseline`` whether the
      state started from a baseline item).
    - ``equity_deltas`` / ``option_deltas``: the updates as sent (``present`` = fields in
      the item; unknown keys in ``extra`` as raw JSON text).
    - ``quotes`` / ``option_quotes``: the canonical quotes table (``ts`` in ET).
    - ``trades`` / ``option_trades``: one row per rise of total volume.
    - ``control``: ``response`` items and ``notify`` items other than heartbeats.
    - ``gap_notes``: a streamer journal's ``gap`` notes (outages it recorded), each the
      note's record with its ``line``.
    - ``books``: the book services' rows (``BOOK_SCHEMA`` of ``ki2fast.feeds.schwab.book``),
      read in the same pass; a book item that could not be read is a note.
    - ``bad_lines``: ``{"line", "offset", "reason"}`` for every line that was not read.
    - ``notes``: values that were read as null, conflicting duplicate fields, and the like.
    - ``stats``: counts (lines, bytes, items per service, skipped services, heartbeats,
      ``journal_other``: journal records that are not frames received,
      label scheme per service, ``held_back_bytes`` of an unfinished last line).
    """

    equities: pa.Table
    options: pa.Table
    equity_deltas: pa.Table
    option_deltas: pa.Table
    quotes: pa.Table
    trades: pa.Table
    option_quotes: pa.Table
    option_trades: pa.Table
    control: pa.Table
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    books: pa.Table = field(default_factory=BOOK_SCHEMA.empty_table)
    gap_notes: list[dict[str, Any]] = field(default_factory=list)

    def archive_tables(self) -> dict[str, pa.Table]:
        """The tables the daily archive stores (``ki2fast.store``), by feed name; the
        control table only when every row has a time (so it can be dated)."""
        tables = {
            "schwab_quotes": self.quotes,
            "schwab_trades": self.trades,
            "schwab_l1_equity_state": self.equities,
            "schwab_option_quotes": self.option_quotes,
            "schwab_option_trades": self.option_trades,
            "schwab_l1_option_state": self.options,
        }
        if self.control.column("ts").null_count == 0:
            tables["schwab_control"] = self.control
        if self.books.num_rows:
            tables["schwab_book_levels"] = self.books
        return tables


# --------------------------------------------------------------------------------------------
# Pass 1: lines → data items per service


#: Why a line is a bad line, by the reason codes the Rust pass gives.
_BAD_TEXT = {
    "not_object": "not a JSON object",
    "item_not_object": "a data item that is not a JSON object",
    "response_not_object": "a response item that is not a JSON object",
    "data_not_list": "'data' is not a list",
    "response_not_list": "'response' is not a list",
    "notify_not_list": "'notify' is not a list",
    "timestamp_out_of_range": "a data item's timestamp is out of range (ms since 1970)",
    "too_many_items": "a frame with more than 65 536 content items",
    "no_frame_part": "a frame with none of data, response, notify",
    "journal_raw_not_object": "journal record whose raw frame is not a JSON object",
    "unknown_shape": "unknown shape (no service+content, data, response, notify or raw)",
}


class _ServiceKeys:
    """One service's items as pass 1 found them: the time of the first, and the distinct
    keys of their pairs (by the code the core gave each)."""

    def __init__(self) -> None:
        self.first_ts: Any = None
        self.labels: list[str] | None = None

    def label_set(self) -> set[str]:
        """Every key the items use."""
        return set(self.labels or ())


@dataclass
class _Reading:
    path: str | None
    strict: bool
    items: dict[str, _ServiceKeys] = field(
        default_factory=lambda: {EQUITIES: _ServiceKeys(), OPTIONS: _ServiceKeys()}
    )
    bad: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    control: list[tuple[Any, ...]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    heartbeats: int = 0
    #: Journal records that are not frames received (requests sent, notes, opens, closes).
    journal_other: int = 0
    #: The journal's ``gap`` notes, each with its ``line``.
    gap_notes: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    logins: int = 0

    def fail(self, reason: str, line: int, offset: int) -> None:
        if self.strict:
            raise CaptureLineError(reason, path=self.path, offset=offset, line=line)
        self.bad.append({"line": line, "offset": offset, "reason": reason})

    def note(self, note: str, line: int, offset: int | None = None) -> None:
        self.notes.append({"line": line, "offset": offset, "note": note})


def _control_row(item: Any, line: int, *, notify: bool) -> tuple[Any, ...]:
    """A row of the control table from a ``response`` item (a dict) or a ``notify`` item."""
    if notify:
        item = item if type(item) is dict else {"value": item}
    content = content_of(item)
    return (
        line,
        "notify" if notify else "response",
        _text(item.get("service")),
        _text(item.get("command")),
        None if notify else _text(item.get("requestid")),
        time_ms(item.get("timestamp")),
        _int(content.get("code")),
        (_text(content.get("msg")) or json.dumps(item)) if notify else _text(content.get("msg")),
    )


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def _int(v: Any) -> int | None:
    """An int, or a string of ASCII digits (a sign allowed), that fits 64 bits; else None."""
    if type(v) is str and v.isascii() and v.lstrip("-").isdigit():
        v = int(v)
    return v if type(v) is int and v in I64 else None


def _core_lines(p: _Reading, r: dict[str, Any]) -> tuple[int, int]:
    """Pass 1 as the core read it (``r``, what ``_core.levelone_read`` gave) into ``p``;
    returns (lines, held-back bytes)."""
    for line, offset, reason, detail in r["bad"]:
        if reason == "not_json":
            p.fail(f"not JSON: {detail}", line, offset)
        elif reason == "no_content_list":
            p.fail(f"data item of {orjson.loads(detail)!r} without a content list", line, offset)
        elif reason == "journal_raw_not_json":
            p.fail(f"journal record whose raw frame is not JSON: {detail}", line, offset)
        else:
            p.fail(_BAD_TEXT[reason], line, offset)
    for line, offset, item in r["notes"]:
        if item is None:
            p.note("NaN/Infinity read as null", line, offset)
        else:
            p.note(f"content item {item} is not a JSON object; skipped", line)
    for line, notify, text in r["control"]:
        p.control.append(_control_row(orjson.loads(text), line, notify=notify))
    for text in r["skipped"]:
        p.skipped[str(orjson.loads(text))] += 1
    p.heartbeats = r["heartbeats"]
    p.journal_other = r["journal_other"]
    p.gap_notes = [{**orjson.loads(text), "line": line} for line, text in r["gap_notes"]]
    for service in (EQUITIES, OPTIONS):
        acc = p.items[service]
        acc.first_ts = r[service]["first_ts"]
        acc.labels = r[service]["names"]
    return r["lines"], r["held_back"]


#: What pass 2 gives for a service: deltas, state, conflicting duplicate fields, and the
#: canonical (quotes, trades).
Decoded = tuple[pa.Table, pa.Table, int, tuple[pa.Table, pa.Table]]


def _core_decoded(service: str, acc: _ServiceKeys, got: dict[str, Any], p: _Reading) -> Decoded:
    """A service's pass 2 as the core gave it (``got``) into tables; the values behind the
    notes it names into ``p``."""
    assert acc.labels is not None
    extra: dict[int, list[tuple[str, str]]] = {}
    if "pairs" in got:
        pairs = pa.record_batch(got["pairs"])
        values = _Values(pairs)
        for line, pair in got["bad_keys"]:
            _bad_key(p, None if pair is None else values[pair], line)
        shown = values.pick(np.array([pair for _, pair, _ in got["notes"]], dtype=np.int64))
        for (line, _, kind), v in zip(got["notes"], shown, strict=True):
            p.notes.append(_null_note(v, kind, line))
        at = np.array([pair for _, pair in got["extra"]], dtype=np.int64)
        codes = pairs.column("name").to_numpy()[at].tolist()
        for (row, _), code, v in zip(got["extra"], codes, values.pick(at), strict=True):
            extra.setdefault(row, []).append((acc.labels[code], orjson.dumps(v).decode()))
    d, st = pa.record_batch(got["deltas"]), pa.record_batch(got["state"])
    opt = _option_columns(d.column("key")) if service == OPTIONS else []
    head = len(_meta_fields())
    dc, sc = d.columns, st.columns
    deltas = pa.Table.from_arrays(
        [*dc[:head], *opt, *dc[head:], _extra(d.num_rows, extra)], schema=_schema(service, False)
    )
    state = pa.Table.from_arrays([*sc[:head], *opt, *sc[head:]], schema=_schema(service, True))
    assert got["trades"] is not None  # both services have the fields trades come from
    canonical = _canonical(state, pa.record_batch(got["trades"]))
    return deltas, state, got["conflicts"], canonical


def _values(pairs: pa.RecordBatch) -> list[Any]:
    """The Python value of every pair, from the typed columns."""
    n = pairs.num_rows
    values: list[Any] = [None] * n
    tags = pairs.column("tag").to_numpy()
    for code, column, convert in (
        (1, "int", bool),
        (2, "int", None),
        (3, "float", None),
        (4, "text", None),
        (5, "text", orjson.loads),
    ):
        at = np.flatnonzero(tags == code)
        if not len(at):
            continue
        got = pairs.column(column).take(pa.array(at)).to_pylist()
        if convert is not None:
            got = [convert(v) for v in got]
        for i, v in zip(at.tolist(), got, strict=True):
            values[i] = v
    return values


class _Values:
    """The values of a service's (key, value) pairs, from the core's typed columns (tags,
    ints, floats, texts), as Python objects on demand."""

    def __init__(self, pairs: pa.RecordBatch):
        self.pairs = pairs

    def pick(self, at: np.ndarray) -> list[Any]:
        """The values at ``at`` as Python objects."""
        return _values(self.pairs.take(pa.array(at, pa.int64())))

    def __getitem__(self, i: int) -> Any:
        return self.pick(np.array([i]))[0]


# --------------------------------------------------------------------------------------------
# Label schemes (docs/feeds.md §1.11)


def _field_map(service: str, scheme: str) -> dict[str, int]:
    """Key → field id: numeric ids always, plus the labels of the scheme."""
    fields = schwab_fields.FIELDS[service]
    out: dict[str, int] = {}
    if scheme in ("schwab_py", "numeric"):
        out.update({label: i for i, label, _ in fields})
        out.pop("STRIKE_PRICE", None)  # a TDA-era label; schwab-py writes STRIKE_TYPE
        out.update(schwab_fields.SCHWAB_PY_ALIASES[service])
    elif scheme == "schwab_py_tda":
        out.update({label: i for i, label in enumerate(schwab_fields.TDA[service])})
    elif scheme == "schwabdev":
        if service == EQUITIES:
            out.update({name: i for i, name in enumerate(schwab_fields.EQUITY_OFFICIAL)})
        else:
            out.update({label.replace("_", " ").title(): i for i, label, _ in fields})
            out.update({label: i for i, label, _ in fields})
    else:
        raise ValueError(f"unknown label scheme {scheme!r}")
    out.update({str(i): i for i, _, _ in fields})
    for n, name in enumerate(_RESERVED):
        out[name] = -1 - n
    return out


@functools.cache
def _labels() -> Any:
    """The label tables of both services for the core (a ``_core.LevelOneLabels``)."""
    from ki2fast import _core

    def tables(service: str) -> dict[str, Any]:
        fields = schwab_fields.FIELDS[service]
        equities = service == EQUITIES
        return {
            "fields": [(j, label.lower(), kind) for j, label, kind in fields[1:]],
            "schemes": {s: _field_map(service, s) for s in get_args(LabelScheme) if s != "auto"},
            "reserved": list(_RESERVED),
            "tda_markers": sorted(schwab_fields.TDA_MARKERS[service]),
            "tda_prefixes": list(schwab_fields.TDA_EQUITY_PREFIXES) if equities else [],
            "tda_suffixes": [schwab_fields.TDA_EQUITY_SUFFIX] if equities else [],
            "schwab_py_markers": sorted(schwab_fields.SCHWAB_PY_MARKERS),
            "same_in_both": [
                label for _, label, _ in fields[: schwab_fields.SAME_IN_BOTH[service]]
            ],
            "schwab_py_since_ms": SCHWAB_PY_SINCE_MS,
        }

    return _core.LevelOneLabels(tables(EQUITIES), tables(OPTIONS))


def _schemes(label_scheme: LabelScheme | dict[str, LabelScheme]) -> tuple[str, str]:
    """The scheme asked for each service (equities, options)."""
    if isinstance(label_scheme, dict):
        return (label_scheme.get(EQUITIES, "auto"), label_scheme.get(OPTIONS, "auto"))
    return (label_scheme, label_scheme)


# --------------------------------------------------------------------------------------------
# Pass 2: items → columns


def _null_note(v: Any, kind: str, line: int) -> dict[str, Any]:
    return {"line": line, "offset": None, "note": f"{v!r} is not {kind}; null"}


def _bad_key(p: _Reading, k: Any, line: int) -> None:
    what = "RRRRRRYYMMDDsWWWWWddd" if type(k) is str and k else "a key"
    p.note(f"content item with key {k!r}, not {what}; skipped", line)


def _option_key(key: str) -> tuple[str, dt.date, str, int] | None:
    """``RRRRRRYYMMDDsWWWWWddd`` → (root, expiry, C/P, strike in thousandths): 21 ASCII
    characters, the expiry and strike in digits; else None."""
    if len(key) != 21 or not key.isascii() or key[12] not in "CP":
        return None
    if not (key[6:12].isdigit() and key[13:].isdigit()):  # (ASCII: 0-9 only)
        return None
    try:
        expiry = dt.date(2000 + int(key[6:8]), int(key[8:10]), int(key[10:12]))
    except ValueError:
        return None
    return key[:6].rstrip(), expiry, key[12], int(key[13:])


_KEY, _DELAYED, _MAIN, _SUB, _CUSIP, _SEQ = (-1 - n for n in range(len(_RESERVED)))
_UNKNOWN = -100


def _extra(n: int, extra: dict[int, list[tuple[str, str]]]) -> pa.Array:
    if not extra:
        return pa.nulls(n, pa.map_(pa.string(), pa.string()))
    return pa.array([extra.get(r) for r in range(n)], pa.map_(pa.string(), pa.string()))


def _option_columns(key: pa.DictionaryArray) -> list[pa.Array]:
    parsed = [_option_key(k) for k in key.dictionary.to_pylist()]
    idx = key.indices
    root = pa.DictionaryArray.from_arrays(
        idx, pa.array([p[0] if p else None for p in parsed], pa.string())
    )
    expiry = pa.array([p[1] if p else None for p in parsed], pa.date32()).take(idx)
    right = (
        pa.array([p[2] if p else None for p in parsed], pa.string()).take(idx).dictionary_encode()
    )
    strike = pa.array(
        [None if p is None else _decimal3(p[3]) for p in parsed], pa.decimal128(12, 3)
    ).take(idx)
    return [root, expiry, right, strike]


def _decimal3(thousandths: int) -> Any:
    import decimal

    return decimal.Decimal(thousandths).scaleb(-3)


# --------------------------------------------------------------------------------------------
# Canonical quotes and trades


def _canonical(state: pa.Table, trades: pa.RecordBatch) -> tuple[pa.Table, pa.Table]:
    """The canonical quotes (one row per state row) and trades (those the core found: rows
    of the state, shares, aggressor, conflated)."""
    bid, bid_size, ask, ask_size, last, last_size, volume, trade_time = _CANONICAL
    ny = QUOTES_SCHEMA.field("ts").type
    quotes = pa.Table.from_arrays(
        [
            state.column("msg_ts").cast(ny),
            state.column("key"),
            *(state.column(c) for c in (bid, bid_size, ask, ask_size, last, last_size, volume)),
        ],
        schema=QUOTES_SCHEMA,
    )
    at = trades.column("row")
    sold = state.select(["msg_ts", "key", last, last_size, trade_time]).take(at)
    stock = sold.column("key").cast(pa.string()).combine_chunks().dictionary_encode()
    out = pa.Table.from_arrays(
        [
            pc.coalesce(sold.column(trade_time), sold.column("msg_ts")).cast(ny),
            stock,
            sold.column(last),
            trades.column("shares"),
            trades.column("aggressor"),
            sold.column(last_size),
            trades.column("conflated"),
            pa.repeat(pa.scalar(True, pa.bool_()), len(at)),
        ],
        schema=TRADES_SCHEMA,
    )
    return quotes, out


def _control(rows: list[tuple[Any, ...]]) -> pa.Table:
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in CONTROL_SCHEMA]
    arrays = []
    for f, values in zip(CONTROL_SCHEMA, cols, strict=True):
        t = pa.string() if pa.types.is_dictionary(f.type) else f.type
        a = pa.array(list(values), pa.int64() if f.type == _TS else t)
        a = a.cast(_TS) if f.type == _TS else a
        arrays.append(a.dictionary_encode() if pa.types.is_dictionary(f.type) else a)
    return pa.Table.from_arrays(arrays, schema=CONTROL_SCHEMA)


# --------------------------------------------------------------------------------------------


def read_levelone(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    strict: bool = False,
    label_scheme: LabelScheme | dict[str, LabelScheme] = "auto",
) -> LevelOne:
    """Reads a Schwab level-one NDJSON capture (plain or gzip) into typed Arrow tables.

    ``label_scheme`` names how the capture labels fields (docs/feeds.md §1.11) — for all services,
    or per service as ``{"LEVELONE_EQUITIES": ...}``; ``"auto"`` detects it per service.
    Lines that are not level-one records are listed in ``bad_lines`` (or raise
    ``CaptureLineError`` with ``strict=True``); a last line without its line end is not read
    (``stats["held_back_bytes"]``).

    >>> import ki2fast.feeds.schwab as schwab
    >>> line = (b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,"command":"SUBS",'
    ...         b'"content":[{"key":"QQQ","1":481.22,"2":481.25}]}\\n')
    >>> schwab.read_levelone(line).quotes.column("bid").to_pylist()
    [481.22]
    """
    from ki2fast import _core

    data, path = capture_bytes(src)
    got = _core.levelone_read(data, _labels(), _schemes(label_scheme), strict)
    return _from_core(_Reading(path, strict), got, len(data))


def _from_core(p: _Reading, r: dict[str, Any], nbytes: int) -> LevelOne:
    """What the core read (``r``: ``_core.levelone_read``, ``LevelOneStream.push``) as a
    :class:`LevelOne`."""
    if "ambiguous" in r:
        service, labels = r["ambiguous"]
        raise AmbiguousLabelsError(
            f"{p.path or 'capture'}: {service} labels {labels} fit both schwab-py label "
            "schemes and the capture predates 2024-05-16; pass label_scheme='schwab_py' or "
            "'schwab_py_tda'"
        )
    got = _core_lines(p, r)  # with strict=True, raises on the first bad line
    decoded: dict[str, tuple[str, Decoded | None]] = {}
    for service in (EQUITIES, OPTIONS):
        s = r[service]
        d = s["decoded"]
        decoded[service] = (
            s["scheme"],
            None if d is None else _core_decoded(service, p.items[service], d, p),
        )
    return _level_one(p, got, nbytes, decoded, book_levels(r["book"]))


def _level_one(
    p: _Reading,
    got: tuple[int, int],
    nbytes: int,
    decoded: dict[str, tuple[str, Decoded | None]],
    books: BookLevels,
) -> LevelOne:
    """The tables of both services: pass 1 (``got``: lines, held-back bytes) read into
    ``p``, per service its label scheme and pass 2 (None without items), and the book
    services' rows."""
    path = p.path
    lines, held = got
    out: dict[str, tuple[pa.Table, pa.Table]] = {}
    canonical: dict[str, tuple[pa.Table, pa.Table]] = {}
    schemes: dict[str, str] = {}
    conflicts = 0
    for service in (EQUITIES, OPTIONS):
        schemes[service], d = decoded[service]
        if d is None:
            deltas, state, canonical[service] = _nothing(service)
        else:
            deltas, state, clashes, canonical[service] = d
            conflicts += clashes
        out[service] = (deltas, state)
    quotes, trades = canonical[EQUITIES]
    option_quotes, option_trades = canonical[OPTIONS]
    stats = {
        "source_file": path,
        "bytes": nbytes,
        "lines": lines,
        "held_back_bytes": held,
        "items": {s: out[s][0].num_rows for s in out},
        "label_scheme": schemes,
        "skipped_services": dict(p.skipped),
        "heartbeats": p.heartbeats,
        "journal_other": p.journal_other,
        "conflicting_fields": conflicts,
        "bad_lines": len(p.bad),
        "book_snapshots": books.stats["snapshots"],
        "notes": len(p.notes) + len(books.bad_lines),
    }
    book_notes = [
        {"line": b["line"], "offset": b["offset"], "note": b["reason"]} for b in books.bad_lines
    ]
    return LevelOne(
        equities=out[EQUITIES][1],
        options=out[OPTIONS][1],
        equity_deltas=out[EQUITIES][0],
        option_deltas=out[OPTIONS][0],
        quotes=quotes,
        trades=trades,
        option_quotes=option_quotes,
        option_trades=option_trades,
        control=_control(p.control),
        bad_lines=p.bad,
        notes=p.notes + book_notes,
        stats=stats,
        books=books.levels,
        gap_notes=p.gap_notes,
    )


@functools.cache
def _nothing(service: str) -> tuple[pa.Table, pa.Table, tuple[pa.Table, pa.Table]]:
    """A service's tables when a capture has none of its items (tables are immutable, so
    one set serves every call)."""
    return (
        _schema(service, False).empty_table(),
        _schema(service, True).empty_table(),
        (QUOTES_SCHEMA.empty_table(), TRADES_SCHEMA.empty_table()),
    )


class LevelOneDecoder:
    """Decodes a Schwab level-one capture that grows — a streamer journal day, or any
    NDJSON capture read a block at a time — batch by batch, in the Rust core.

    Each :meth:`push` takes the next bytes (any cut: a torn last line waits for its end)
    and returns a :class:`LevelOne` of the complete lines among them. Line numbers
    (``frame_seq``, ``bad_lines``), byte offsets and connection epochs count from the start
    of the capture, and each symbol's state carries over from the lines before, so the
    batches, put together, are what :func:`read_levelone` gives for the whole capture.

    The label scheme is detected per batch (``label_scheme="auto"``) unless named. Lines
    that are not level-one records are bad lines of their batch, or raise
    ``CaptureLineError`` with ``strict=True``.

    >>> import ki2fast.feeds.schwab as schwab
    >>> d = schwab.LevelOneDecoder()
    >>> frame = (b'{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,'
    ...          b'"content":[{"key":"QQQ","1":481.22,"2":481.25}]}\\n')
    >>> d.push(frame[:50]).equities.num_rows, d.held_back
    (0, 50)
    >>> d.push(frame[50:]).quotes.column("bid").to_pylist()
    [481.22]
    >>> d.push(frame.replace(b'"1":481.22,', b"")).quotes.column("bid").to_pylist()
    [481.22]
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        label_scheme: LabelScheme | dict[str, LabelScheme] = "auto",
        path: str | None = None,
    ) -> None:
        from ki2fast import _core

        self._core = _core.LevelOneStream()
        self.strict = strict
        self.label_scheme = label_scheme
        self.path = path

    @property
    def lines(self) -> int:
        """Complete lines decoded so far."""
        return self._core.lines

    @property
    def logins(self) -> int:
        """Successful LOGINs in the lines decoded so far."""
        return self._core.logins

    @property
    def epoch(self) -> int:
        """The connection epoch the next line starts in (a successful LOGIN after the first
        starts a new one)."""
        return self._core.epoch

    @property
    def held_back(self) -> int:
        """Bytes of a last line still waiting for its end."""
        return self._core.held_back

    def push(self, data: bytes | bytearray | memoryview) -> LevelOne:
        """Decodes the complete lines ``data`` ends (after what was held back)."""
        if not isinstance(data, bytes):
            data = bytes(data)
        schemes = _schemes(self.label_scheme)
        got = self._core.push(data, _labels(), schemes, self.strict)
        return _from_core(_Reading(self.path, self.strict), got, len(data))
