"""The reference reading of Schwab level-one captures: line by line in Python, from
orjson's objects, with numpy and polars for the columns. The package reads captures in the
Rust core only; the tests hold it against this reading (the same tables, bad lines, notes
and statistics), which was written from the format's rules and not from the core's code.

``read_levelone(src, strict=, label_scheme=)`` mirrors the package's function. Where the
two word a bad line differently (a JSON parser's own message), ``same`` compares the reason
up to the parser's words.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ki2fast._common import NY, et_dates
from ki2fast.feeds._lines import BOM
from ki2fast.feeds.schwab import _fields as schwab_fields
from ki2fast.feeds.schwab import levelone as L
from ki2fast.feeds.schwab._frames import any_time_ms, capture_bytes, content_of, time_ms
from ki2fast.feeds.schwab.levelone import (
    _ARROW,
    _BAD_TEXT,
    _CANONICAL,
    _CUSIP,
    _DELAYED,
    _KEY,
    _MAIN,
    _SUB,
    _TS,
    _UNKNOWN,
    OPTIONS,
    QUOTES_SCHEMA,
    TRADES_SCHEMA,
    _bad_key,
    _column_type,
    _control_row,
    _extra,
    _null_note,
    _option_columns,
    _option_key,
    _schema,
)


def read_levelone(
    src: str | os.PathLike[str] | bytes,
    *,
    strict: bool = False,
    label_scheme: Any = "auto",
) -> L.LevelOne:
    data, path = capture_bytes(src)
    p = Pass(path, strict)
    got = _read_lines(p, data)
    decoded: dict[str, tuple[str, L.Decoded | None]] = {}
    for service, wanted in zip((L.EQUITIES, OPTIONS), L._schemes(label_scheme), strict=True):
        acc = p.items[service]
        scheme = (
            detect(service, acc.label_set(), acc.first_ts, path) if wanted == "auto" else wanted
        )
        fmap = L._field_map(service, scheme)
        decoded[service] = (scheme, decode(service, acc, fmap, p) if acc.labels else None)
    from tests.schwab_book_reference import read_book  # it reads numbers by these rules

    return L._level_one(p, got, len(data), decoded, read_book(data))


def detect(service: str, labels: set[str], first_ts: Any, path: str | None) -> str:
    """The label scheme of a service's keys (docs/feeds.md §1.11)."""
    names = {k for k in labels if not (k.isascii() and k.isdigit()) and k not in L._RESERVED}
    if not names:
        return "numeric"
    if any(" " in k for k in names):
        return "schwabdev"
    if names & schwab_fields.TDA_MARKERS[service] or (
        service == L.EQUITIES
        and any(
            k.startswith(schwab_fields.TDA_EQUITY_PREFIXES)
            or k.endswith(schwab_fields.TDA_EQUITY_SUFFIX)
            for k in names
        )
    ):
        return "schwab_py_tda"
    if names & schwab_fields.SCHWAB_PY_MARKERS:
        return "schwab_py"
    same = {
        label
        for i, label, _ in schwab_fields.FIELDS[service][: schwab_fields.SAME_IN_BOTH[service]]
    }
    if names <= same:
        return "schwab_py"
    ms = time_ms(first_ts)
    if ms is not None and ms >= L.SCHWAB_PY_SINCE_MS:
        return "schwab_py"
    raise L.AmbiguousLabelsError(
        f"{path or 'capture'}: {service} labels {sorted(names)[:5]} fit both schwab-py label "
        "schemes and the capture predates 2024-05-16; pass label_scheme='schwab_py' or "
        "'schwab_py_tda'"
    )


class Acc(L._ServiceKeys):
    """One service's content items as flat lists: every item's keys and values in order
    (``names``, ``values``), and per item how many it has, its line, position in the frame,
    connection epoch and timestamp."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[Any] = []
        self.values: list[Any] = []
        self.counts: list[int] = []
        self.line: list[int] = []
        self.item_idx: list[int] = []
        self.epoch: list[int] = []
        self.ts: list[Any] = []

    def keys(self) -> pa.DictionaryArray:
        """The key of every pair, dictionary-encoded."""
        return pa.array(self.names, pa.string()).dictionary_encode()

    def vals(self) -> Values:
        return Values(self.values)

    def add(self, content: list[Any], line: int, idx0: int, epoch: int, ts: Any, p: Pass) -> None:
        names, values, counts = self.names, self.values, self.counts
        k = 0
        for n, c in enumerate(content):
            if type(c) is dict:
                names.extend(c)
                values.extend(c.values())
                counts.append(len(c))
                k += 1
            else:
                p.note(f"content item {n} is not a JSON object; skipped", line)
        if k == len(content):
            self.item_idx.extend(range(idx0, idx0 + k))
        else:
            self.item_idx.extend(idx0 + n for n, c in enumerate(content) if type(c) is dict)
        if self.first_ts is None:
            self.first_ts = ts
        self.line.extend([line] * k)
        self.epoch.extend([epoch] * k)
        self.ts.extend([ts] * k)

    def done(self) -> None:
        """After pass 1: the distinct keys, as the package's pass 2 checks for items."""
        self.labels = self.keys().dictionary.to_pylist()


class Pass(L._Reading):
    def __init__(self, path: str | None, strict: bool) -> None:
        super().__init__(path, strict)
        self.items = {L.EQUITIES: Acc(), L.OPTIONS: Acc()}

    def data_item(self, item: Any, line: int, offset: int, idx: int) -> int:
        """Takes one data item; returns how many content items it held."""
        if type(item) is not dict:
            self.fail(_BAD_TEXT["item_not_object"], line, offset)
            return 0
        service = item.get("service")
        content = item.get("content")
        if type(content) is not list:
            self.fail(f"data item of {service!r} without a content list", line, offset)
            return 0
        acc = self.items.get(service) if type(service) is str else None
        if acc is None:
            self.skipped[str(service)] += 1
            return len(content)
        stamp = item.get("timestamp")
        ts = time_ms(stamp)
        if ts is None and any_time_ms(stamp) is not None:
            self.fail(_BAD_TEXT["timestamp_out_of_range"], line, offset)
            return 0
        if idx + len(content) > 1 << 16:
            self.fail(_BAD_TEXT["too_many_items"], line, offset)
            return 0
        acc.add(content, line, idx, self.epoch, ts, self)
        return len(content)

    def frame(self, obj: dict[str, Any], line: int, offset: int) -> None:
        known = False
        for key in ("response", "notify"):
            if obj.get(key) is not None and type(obj[key]) is not list:
                self.fail(_BAD_TEXT[f"{key}_not_list"], line, offset)
                return
        for r in obj.get("response") or ():
            known = True
            if type(r) is not dict:
                self.fail(_BAD_TEXT["response_not_object"], line, offset)
                continue
            content = content_of(r)
            if r.get("command") == "LOGIN" and content.get("code") == 0:
                # A new session: level-one state never carries across a reconnect.
                self.logins += 1
                if self.logins > 1:
                    self.epoch += 1
            self.control.append(_control_row(r, line, notify=False))
        for n in obj.get("notify") or ():
            known = True
            if type(n) is dict and set(n) == {"heartbeat"}:
                self.heartbeats += 1
                continue
            self.control.append(_control_row(n, line, notify=True))
        data = obj.get("data")
        if data is not None:
            known = True
            if type(data) is not list:
                self.fail(_BAD_TEXT["data_not_list"], line, offset)
                return
            idx = 0
            for item in data:
                idx += self.data_item(item, line, offset, idx)
        if not known:
            self.fail(_BAD_TEXT["no_frame_part"], line, offset)


class Values:
    """The values of a service's pairs, as orjson gave them."""

    def __init__(self, objects: list[Any]) -> None:
        self.objects = objects

    def pick(self, at: np.ndarray) -> list[Any]:
        return [self.objects[i] for i in at.tolist()]

    def __getitem__(self, i: int) -> Any:
        return self.objects[i]

    def strings(self, at: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """The values at ``at`` that are strings (null for the others), and which are."""
        got = self.pick(at)
        is_str = np.array([type(v) is str for v in got], dtype=bool)
        text = pa.array([v if type(v) is str else None for v in got], pa.string())
        return text, is_str

    def coerce(self, at: np.ndarray, kind: str, lines: Any, notes: list[Any]) -> pa.Array:
        return _coerce(self.pick(at), kind, lines, notes)


def _lenient(raw: bytes) -> tuple[Any, bool]:
    """JSON with the NaN/Infinity tokens old captures hold (read as null): Python's json,
    but neither a number beyond a float's range nor a string with a lone surrogate escape
    (which is no text) is JSON."""
    hit = False

    def constant(_: str) -> None:
        nonlocal hit
        hit = True

    def number(text: str) -> float:
        f = float(text)
        if math.isinf(f):
            raise ValueError(f"{text} is beyond a float's range")
        return f

    obj = json.loads(raw, parse_constant=constant, parse_float=number)
    orjson.dumps(obj)  # TypeError for a lone surrogate
    return obj, hit


def _read_lines(p: Pass, data: bytes) -> tuple[int, int]:
    """Pass 1 over the complete lines; returns (lines, held-back bytes)."""
    loads = orjson.loads
    start = len(BOM) if data.startswith(BOM) else 0
    end = data.rfind(b"\n") + 1
    held = len(data) - max(end, start)
    body = data[start:end] if start or end != len(data) else data
    offset = start
    number = 0
    for raw in body.split(b"\n")[:-1] if end > start else ():
        number += 1
        off = offset
        offset += len(raw) + 1
        if not raw or raw.isspace():
            continue
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError as e:
            try:
                obj, constants = _lenient(raw)
            except (ValueError, TypeError, RecursionError):
                p.fail(f"not JSON: {e}", number, off)
                continue
            if constants:
                p.note("NaN/Infinity read as null", number, off)
        if type(obj) is not dict:
            p.fail(_BAD_TEXT["not_object"], number, off)
        elif (
            "v" in obj
            and "dir" in obj
            and "kind" in obj
            and (obj["dir"] != "in" or obj["kind"] != "ws_text")
        ):
            p.journal_other += 1  # the journal's own records: requests sent, notes, opens
            if obj.get("kind") == "note" and obj.get("note") == "gap":
                p.gap_notes.append({**obj, "line": number})
        elif "content" in obj and "service" in obj:
            p.data_item(obj, number, off, 0)
        elif "data" in obj or "response" in obj or "notify" in obj:
            p.frame(obj, number, off)
        elif "raw" in obj and "v" in obj:
            try:
                frame = loads(obj["raw"])
            except (orjson.JSONDecodeError, TypeError) as e:
                p.fail(f"journal record whose raw frame is not JSON: {e}", number, off)
                continue
            if type(frame) is dict:
                p.frame(frame, number, off)
            else:
                p.fail(_BAD_TEXT["journal_raw_not_object"], number, off)
        else:
            p.fail(_BAD_TEXT["unknown_shape"], number, off)
    for acc in p.items.values():
        acc.done()  # type: ignore[attr-defined]
    return number, held


def _coerce(
    values: list[Any], kind: str, lines: Sequence[int] | np.ndarray, notes: list[dict[str, Any]]
) -> pa.Array:
    """The values of one field as one Arrow array of its type; what cannot be read is null
    (:func:`_one`, value by value), with a note."""
    target = _ARROW[kind]
    if {type(v) for v in values} <= _PLAIN[kind]:  # every value read as it is
        try:
            return pa.array(values, target)
        except (pa.ArrowInvalid, OverflowError):  # an int out of the type's range
            pass
    out: list[Any] = []
    for v, line in zip(values, lines, strict=True):
        got = _one(v, kind)
        if got is None and v is not None:
            notes.append(_null_note(v, kind, int(line)))
        out.append(got)
    return pa.array(out, target)


#: The value types each kind takes without a conversion.
_PLAIN: dict[str, set[type]] = {
    "f64": {float, int, type(None)},
    "i64": {int, type(None)},
    "ts": {int, type(None)},
    "i8": {int, type(None)},
    "bool": {bool, type(None)},
    "str": {str, type(None)},
    "dict": {str, type(None)},
}
#: Numbers written as text: a plain decimal number for float fields, ``-digits`` for the
#: integer ones (ASCII only).
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT_TEXT = re.compile(r"-?[0-9]+")


def _one(v: Any, kind: str) -> Any:
    """One value as a field of type ``kind``: None when it cannot be read as one."""
    if v is None:
        return None
    if kind in ("str", "dict"):
        return v if type(v) is str else None
    if kind == "bool":
        if type(v) is bool:
            return v
        return bool(v) if type(v) is int and v in (0, 1) else None
    if type(v) is bool:
        return None
    if kind == "f64":
        if type(v) in (int, float):
            return float(v)
        return float(v) if type(v) is str and _DECIMAL_TEXT.fullmatch(v) else None
    # integers
    if (type(v) is float and v.is_integer()) or (type(v) is str and _INT_TEXT.fullmatch(v)):
        v = int(v)
    if type(v) is not int:
        return None
    if kind == "i8" and not -128 <= v <= 127:
        return None
    if not -(1 << 63) <= v < (1 << 63):
        return None
    return v


def _gather(values: pa.Array, at: np.ndarray) -> pa.Array:
    """``values[at]``, null where ``at`` < 0."""
    ok = at >= 0
    if ok.all():
        return values.take(pa.array(at))
    if len(values) == 0:
        return pa.nulls(len(at), values.type)
    taken = values.take(pa.array(np.where(ok, at, 0)))
    return pc.if_else(pa.array(ok), taken, pa.scalar(None, values.type))


def _gather_typed(values: pa.Array, at: np.ndarray, kind: str) -> pa.Array:
    if kind == "dict":
        enc = values.dictionary_encode()
        return pa.DictionaryArray.from_arrays(_gather(enc.indices, at), enc.dictionary)
    got = _gather(values, at)
    return got.cast(_TS) if kind == "ts" else got


def decode(service: str, acc: Acc, fmap: dict[str, int], p: Pass) -> L.Decoded:  # type: ignore[override]
    """Pass 2 of one service: deltas, forward-filled state, conflicting duplicate fields,
    canonical (quotes, trades)."""
    counts = np.asarray(acc.counts, dtype=np.int64)
    n_all = len(counts)
    pair_row = np.repeat(np.arange(n_all), counts)
    names = acc.keys()
    name_list = names.dictionary.to_pylist()
    name_code = names.indices.to_numpy()
    ids = [fmap.get(k, _UNKNOWN) for k in names.dictionary.to_pylist()]
    fid = (
        np.asarray(ids, dtype=np.int64)[names.indices.to_numpy()] if ids else np.zeros(0, np.int64)
    )
    values = acc.vals()
    line_all = np.asarray(acc.line, dtype=np.int64)

    # Keys: "key", else field 0 ("0" or "SYMBOL"); of several, the last in the item.
    key_pair = np.full(n_all, -1, dtype=np.int64)
    for want in (0, _KEY):  # "key" over field 0
        sel = np.flatnonzero(fid == want)
        last = np.full(n_all, -1, dtype=np.int64)
        np.maximum.at(last, pair_row[sel], sel)
        key_pair = np.where(last >= 0, last, key_pair)
    has_key = key_pair >= 0
    key_text, is_str = values.strings(np.where(has_key, key_pair, 0))
    is_str &= has_key
    key_text = pc.if_else(pa.array(is_str), key_text, pa.scalar(None, pa.string()))
    enc = key_text.dictionary_encode()
    good = np.array(
        [
            bool(k) and (service != OPTIONS or _option_key(k) is not None)
            for k in enc.dictionary.to_pylist()
        ],
        dtype=bool,
    )
    codes = pc.fill_null(enc.indices, pa.scalar(-1, enc.indices.type)).to_numpy(
        zero_copy_only=False
    )
    keep = is_str & (good[codes] if len(good) else False)
    bad_rows = np.flatnonzero(~keep)
    if len(bad_rows):
        picked = values.pick(key_pair[bad_rows][has_key[bad_rows]])
        shown = iter(picked)
        for r in bad_rows.tolist():
            _bad_key(p, next(shown) if has_key[r] else None, int(line_all[r]))
    rows_kept = np.flatnonzero(keep)
    n = len(rows_kept)
    new_row = np.full(n_all, -1, dtype=np.int64)
    new_row[rows_kept] = np.arange(n)
    pair_ok = keep[pair_row]
    pair_row, fid = new_row[pair_row[pair_ok]], fid[pair_ok]
    pair_idx = np.flatnonzero(pair_ok)
    key_arr = key_text.take(pa.array(rows_kept, pa.int64())).dictionary_encode()
    key_codes = key_arr.indices.to_numpy().astype(np.int64)
    epoch = np.asarray(acc.epoch, dtype=np.int64)[rows_kept]
    line = line_all[rows_kept]
    ts = (
        pa.array(np.asarray(acc.ts, dtype=object)[rows_kept], pa.int64()).cast(_TS)
        if n
        else pa.array([], _TS)
    )

    # Baselines (F1) and their metadata.
    is_base = np.zeros(n, dtype=bool)
    is_base[pair_row[np.isin(fid, (_DELAYED, _MAIN, _CUSIP))]] = True
    conflicts = 0
    meta_cols = []

    def once(sel: np.ndarray) -> np.ndarray:
        """One pair per item of a field's pairs ``sel`` (in item order): of a field sent more
        than once, the last pair named by its id, else the first; each pair whose value
        differs from the one before it is a conflict."""
        nonlocal conflicts
        rr = pair_row[sel]
        if not (rr[1:] == rr[:-1]).any():
            return sel
        keep = []
        for _, group in itertools.groupby(range(len(sel)), key=lambda i: rr[i]):
            g = list(group)
            vals = [values[pair_idx[sel[i]]] for i in g]
            conflicts += sum(a != b for a, b in itertools.pairwise(vals))
            ids = [i for i in g if name_list[name_code[pair_idx[sel[i]]]].isdigit()]
            keep.append(ids[-1] if ids else g[0])
        return sel[keep]

    for code, kind in ((_DELAYED, "bool"), (_MAIN, "dict"), (_SUB, "dict"), (_CUSIP, "str")):
        sel = once(np.flatnonzero(fid == code))
        at = np.full(n, -1, dtype=np.int64)
        at[pair_row[sel]] = np.arange(len(sel))
        got = values.coerce(pair_idx[sel], kind, line[pair_row[sel]], p.notes)
        meta_cols.append(_gather_typed(got, at, kind))

    # Forward-fill runs: a symbol's consecutive items of one epoch and ET day, each
    # baseline starting a new one. `order` lists the items symbol by symbol, in arrival
    # order; `start_pos` is, per position in it, where its run starts.
    pos = np.arange(n)
    day = _et_days(ts)
    order = np.lexsort((pos, key_codes))
    starts = is_base[order].copy()
    if n:
        starts[0] = True
        for col in (key_codes, epoch, day):
            c = col[order]
            starts[1:] |= c[1:] != c[:-1]
    start_pos = np.maximum.accumulate(np.where(starts, pos, 0)) if n else pos

    # Fields: sort the (row, field) pairs by field, then row.
    field_pairs = np.flatnonzero(fid >= 1)
    by_field = field_pairs[np.lexsort((pair_row[field_pairs], fid[field_pairs]))]
    f_sorted = fid[by_field]
    present = np.zeros(n, dtype=np.uint64)
    known = np.zeros(n, dtype=np.uint64)
    delta_cols: list[pa.Array] = []
    state_cols: list[pa.Array] = []
    for j, _label, kind in schwab_fields.FIELDS[service][1:]:
        lo, hi = np.searchsorted(f_sorted, [j, j + 1])
        sel = by_field[lo:hi]
        if len(sel) == 0:
            nulls = pa.nulls(n, _column_type(kind))
            delta_cols.append(nulls)
            state_cols.append(nulls)
            continue
        sel = once(sel)
        rr = pair_row[sel]
        got = values.coerce(pair_idx[sel], kind, line[rr], p.notes)
        at = np.full(n, -1, dtype=np.int64)
        at[rr] = np.arange(len(rr))
        bit = np.uint64(1 << j)
        present[rr] |= bit
        delta_cols.append(_gather_typed(got, at, kind))
        # State: the value of the latest row of the same run that had the field.
        has = at[order] >= 0
        last = np.maximum.accumulate(np.where(has, pos, -1))
        filled = last >= start_pos
        src = np.full(n, -1, dtype=np.int64)
        src[order[filled]] = at[order[last[filled]]]
        known[src >= 0] |= bit
        state_cols.append(_gather_typed(got, src, kind))

    has_baseline = np.zeros(n, dtype=bool)
    has_baseline[order] = is_base[order[start_pos]]
    extra_sel = np.flatnonzero(fid == _UNKNOWN)
    extra: dict[int, list[tuple[str, str]]] = {}
    for r, i in zip(pair_row[extra_sel].tolist(), pair_idx[extra_sel].tolist(), strict=True):
        extra.setdefault(r, []).append((name_list[name_code[i]], orjson.dumps(values[i]).decode()))
    key_col = pa.DictionaryArray.from_arrays(key_arr.indices, key_arr.dictionary)
    head = [
        ts,
        pa.array(epoch, pa.uint32()),
        pa.array(line, pa.uint64()),
        pa.array(np.asarray(acc.item_idx, dtype=np.int64)[rows_kept], pa.uint16()),
        key_col,
    ]
    tail = [pa.array(is_base), *(_option_columns(key_col) if service == OPTIONS else [])]
    # The baseline's metadata holds for its whole run.
    run_head = np.empty(n, dtype=np.int64)
    run_head[order] = order[start_pos]
    state_meta = [c.take(pa.array(run_head)) for c in meta_cols]
    deltas = pa.Table.from_arrays(
        [*head, *meta_cols, *tail, *delta_cols, pa.array(present), _extra(n, extra)],
        schema=_schema(service, False),
    )
    state = pa.Table.from_arrays(
        [*head, *state_meta, *tail, *state_cols, pa.array(known), pa.array(has_baseline)],
        schema=_schema(service, True),
    )
    return deltas, state, conflicts, canonical(state)


#: The day of an item without a time: a day of its own (ET days before 1970 are negative).
_NO_DAY = -(1 << 31)


def _et_days(ts: pa.Array) -> np.ndarray:
    """ET calendar day of each timestamp, as days since 1970 (no time: ``_NO_DAY``)."""
    days = et_dates(ts).cast(pa.int32())
    return pc.fill_null(days, pa.scalar(_NO_DAY, pa.int32())).to_numpy()


def canonical(state: pa.Table) -> tuple[pa.Table, pa.Table]:
    import polars as pl

    bid, bid_size, ask, ask_size, last, last_size, volume, trade_time = _CANONICAL
    df = pl.from_arrow(
        state.select(
            [
                "msg_ts",
                "conn_epoch",
                "key",
                bid,
                bid_size,
                ask,
                ask_size,
                last,
                last_size,
                volume,
                trade_time,
            ]
        )
    )
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(
        pl.col("msg_ts").dt.convert_time_zone(NY).alias("ts"),
        pl.col("key").cast(pl.String).alias("stock"),
    )
    quotes = df.select(
        "ts",
        "stock",
        pl.col(bid).alias("bid"),
        pl.col(bid_size).alias("bid_size"),
        pl.col(ask).alias("ask"),
        pl.col(ask_size).alias("ask_size"),
        pl.col(last).alias("last"),
        pl.col(last_size).alias("last_size"),
        pl.col(volume).alias("total_volume"),
    )
    # Total volume only rises within a session; a rise over the symbol's item before, when
    # that is of the same epoch and ET day, is one or more prints (conflated).
    date = pl.col("ts").dt.date()
    same = pl.col("conn_epoch").shift(1).over("stock").eq(pl.col("conn_epoch")) & date.shift(
        1
    ).over("stock").eq_missing(date)

    def before(c: str) -> pl.Expr:
        return pl.when(same).then(pl.col(c).shift(1).over("stock"))

    prev_volume = before(volume)
    # A rise beyond 64 bits wraps in the subtraction; it is no trade.
    rise = pl.when(pl.col(volume) > prev_volume).then(pl.col(volume) - prev_volume)
    prev_bid = before(bid)
    prev_ask = before(ask)
    price = pl.col(last)
    trades = (
        df.with_columns(rise.alias("shares"), prev_bid.alias("_bid"), prev_ask.alias("_ask"))
        .filter(pl.col("shares") > 0)
        .select(
            pl.coalesce(pl.col(trade_time).dt.convert_time_zone(NY), pl.col("ts")).alias("ts"),
            "stock",
            price.alias("price"),
            "shares",
            pl.when(pl.col("_ask").is_not_null() & (price >= pl.col("_ask")))
            .then(pl.lit("B"))
            .when(pl.col("_bid").is_not_null() & (price <= pl.col("_bid")))
            .then(pl.lit("S"))
            .otherwise(pl.lit("unknown"))
            .alias("aggressor"),
            pl.col(last_size).alias("last_size"),
            (pl.col(last_size).is_null() | (pl.col(last_size) != pl.col("shares"))).alias(
                "conflated"
            ),
            pl.lit(True).alias("printable"),
        )
    )
    return _to_arrow(quotes, QUOTES_SCHEMA), _to_arrow(trades, TRADES_SCHEMA)


def _to_arrow(df: Any, schema: pa.Schema) -> pa.Table:
    t = df.to_arrow()
    cols = []
    for f in schema:
        c = t.column(f.name)
        if pa.types.is_dictionary(f.type):
            c = c.cast(pa.string()).dictionary_encode()
        cols.append(c.cast(f.type) if c.type != f.type else c)
    return pa.Table.from_arrays(cols, schema=schema)
