"""Schwab NASDAQ_BOOK / NYSE_BOOK / OPTIONS_BOOK messages into ``schwab_book_levels``
(docs/feeds.md §1.10): one row per (snapshot, side, price level, market maker).

Every book message is a whole snapshot: an item per symbol with the book time (``"1"``), bid
levels (``"2"``) and ask levels (``"3"``), best first. A level holds its price (``"0"``),
aggregate size (``"1"``), market-maker count (``"2"``) and market makers (``"3"``), each with
an id (``"0"``), a size (``"1"``) and a quote time (``"2"``, decoded as milliseconds since
midnight ET; the raw number is kept). schwab-py's labels (``BOOK_TIME``, ``BIDS``,
``BID_PRICE``, ``TOTAL_VOLUME``, ``NUM_BIDS``, ``EXCHANGE``, ``BID_VOLUME``, ``SEQUENCE`` ...)
are read as well. A level without market makers still gets one row, with null MM columns.

Lines are read like ``read_levelone`` reads them (plain frames, bare data items, or journal
records): ``frame_seq`` is the line number and ``conn_epoch`` counts successful logins, so
the two readers' rows line up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ki2fast.feeds._lines import BOM
from ki2fast.feeds._schwab_frames import capture_bytes, content_of, time_ms

__all__ = ["BOOK_SCHEMA", "BOOK_SERVICES", "BookLevels", "read_book"]

BOOK_SERVICES = ("NASDAQ_BOOK", "NYSE_BOOK", "OPTIONS_BOOK")
_TS = pa.timestamp("ms", tz="UTC")
_DICT = pa.dictionary(pa.int32(), pa.string())

BOOK_SCHEMA = pa.schema(
    [
        pa.field("recv_ts", pa.timestamp("ns", tz="UTC")),
        pa.field("msg_ts", _TS),
        pa.field("conn_epoch", pa.uint32(), nullable=False),
        pa.field("frame_seq", pa.uint64(), nullable=False),
        pa.field("service", _DICT, nullable=False),
        pa.field("key", _DICT, nullable=False),
        pa.field("book_time", _TS),
        pa.field("side", _DICT, nullable=False),
        pa.field("level_idx", pa.uint16(), nullable=False),
        pa.field("price", pa.float64()),
        pa.field("agg_size", pa.int64()),
        pa.field("mm_count", pa.int32()),
        pa.field("mm_idx", pa.uint16()),
        pa.field("mm_id", _DICT),
        pa.field("mm_size", pa.int64()),
        pa.field("mm_quote_ms_of_day", pa.uint32()),
        pa.field("mm_quote_raw", pa.int64()),
    ]
)

# Field names: the streamer's numbers, then schwab-py's labels per side.
_ITEM = {"time": ("1", "BOOK_TIME"), "B": ("2", "BIDS"), "A": ("3", "ASKS")}
_LEVEL = {
    "price": ("0", "BID_PRICE", "ASK_PRICE", "PRICE"),
    "size": ("1", "TOTAL_VOLUME"),
    "count": ("2", "NUM_BIDS", "NUM_ASKS"),
    "mms": ("3", "BIDS", "ASKS"),
}
_MM = {
    "id": ("0", "EXCHANGE"),
    "size": ("1", "BID_VOLUME", "ASK_VOLUME"),
    "time": ("2", "SEQUENCE"),
}
_DAY_MS = 86_400_000


@dataclass
class BookLevels:
    """What :func:`read_book` returns: the ``levels`` table (``BOOK_SCHEMA``), the lines
    that could not be read (``{"line", "offset", "reason"}``) and counts."""

    levels: pa.Table
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def _get(d: dict[str, Any], names: tuple[str, ...]) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return None


def _num(v: Any, kind: type) -> Any:
    """A JSON number (or numeric text) as ``kind``; None for anything else."""
    if type(v) is bool or v is None:
        return None
    if type(v) is str:
        try:
            v = float(v) if kind is float else int(v)
        except ValueError:
            return None
    if type(v) not in (int, float):
        return None
    if kind is int:
        if type(v) is float and not v.is_integer():
            return None
        v = int(v)
        return v if -(1 << 63) <= v < (1 << 63) else None
    return float(v)


def read_book(src: str | os.PathLike[str] | bytes | bytearray | memoryview) -> BookLevels:
    """Reads the book services of a Schwab capture or streamer journal (plain or gzip).

    >>> frame = (b'{"data":[{"service":"NASDAQ_BOOK","timestamp":1741959312345,"content":'
    ...          b'[{"key":"QQQ","1":1741959312300,"2":[{"0":481.22,"1":300,"2":2,"3":'
    ...          b'[{"0":"NSDQ","1":200,"2":34512300},{"0":"ARCX","1":100,"2":34512299}]}],'
    ...          b'"3":[{"0":481.25,"1":100,"2":0,"3":[]}]}]}]}\\n')
    >>> t = read_book(frame).levels
    >>> t.select(["side", "level_idx", "price", "mm_id", "mm_size"]).to_pylist()[0]
    {'side': 'B', 'level_idx': 0, 'price': 481.22, 'mm_id': 'NSDQ', 'mm_size': 200}
    >>> t.num_rows
    3
    """
    import orjson

    data, _ = capture_bytes(src)
    cols: dict[str, list[Any]] = {f.name: [] for f in BOOK_SCHEMA}
    bad: list[dict[str, Any]] = []
    logins = 0
    snapshots = 0
    start = len(BOM) if data.startswith(BOM) else 0
    end = data.rfind(b"\n") + 1
    offset, number = start, 0
    for raw in data[start:end].split(b"\n")[:-1] if end > start else ():
        number += 1
        off = offset
        offset += len(raw) + 1
        if b"BOOK" not in raw and b"LOGIN" not in raw:
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue  # read_levelone reports lines that are not JSON
        if type(obj) is not dict:
            continue
        recv = None
        if "raw" in obj and "v" in obj:
            recv = obj.get("recv_ns") if type(obj.get("recv_ns")) is int else None
            try:
                obj = orjson.loads(obj["raw"])
            except (orjson.JSONDecodeError, TypeError):
                continue
            if type(obj) is not dict:
                continue
        elif "content" in obj and "service" in obj:
            obj = {"data": [obj]}
        for r in obj.get("response") or ():
            if type(r) is dict and r.get("command") == "LOGIN" and content_of(r).get("code") == 0:
                logins += 1
        data_list = obj.get("data")
        if type(data_list) is not list:
            continue
        epoch = max(logins - 1, 0)
        for block in data_list:
            if type(block) is not dict or block.get("service") not in BOOK_SERVICES:
                continue
            service = block["service"]
            content = block.get("content")
            if type(content) is not list:
                bad.append({"line": number, "offset": off, "reason": f"{service}: no content list"})
                continue
            msg_ts = time_ms(block.get("timestamp"))
            for item in content:
                key = item.get("key") if type(item) is dict else None
                if type(key) is not str or not key:
                    bad.append(
                        {"line": number, "offset": off, "reason": f"{service}: item without key"}
                    )
                    continue
                snapshots += 1
                book_time = time_ms(_get(item, _ITEM["time"]))
                head = (recv, msg_ts, epoch, number, service, key, book_time)
                for side in ("B", "A"):
                    levels = _get(item, _ITEM[side])
                    if levels is None:
                        continue
                    if type(levels) is not list:
                        bad.append(
                            {
                                "line": number,
                                "offset": off,
                                "reason": f"{service} {key}: "
                                f"{'bids' if side == 'B' else 'asks'} are not a list",
                            }
                        )
                        continue
                    for li, level in enumerate(levels):
                        if type(level) is not dict:
                            bad.append(
                                {
                                    "line": number,
                                    "offset": off,
                                    "reason": f"{service} {key}: a price level is not an object",
                                }
                            )
                            continue
                        lv = (
                            side,
                            li,
                            _num(_get(level, _LEVEL["price"]), float),
                            _num(_get(level, _LEVEL["size"]), int),
                            _num(_get(level, _LEVEL["count"]), int),
                        )
                        mms = _get(level, _LEVEL["mms"])
                        mms = [m for m in mms if type(m) is dict] if type(mms) is list else []
                        if not mms:
                            _row(cols, head, lv, None)
                        for mi, mm in enumerate(mms):
                            _row(cols, head, lv, (mi, mm))
    n = len(cols["key"])
    arrays = []
    for f in BOOK_SCHEMA:
        values = cols[f.name]
        if pa.types.is_dictionary(f.type):
            arrays.append(pa.array(values, pa.string()).dictionary_encode().cast(f.type))
        elif f.name == "mm_count":
            arrays.append(
                pa.array(
                    [v if v is None or -(1 << 31) <= v < 1 << 31 else None for v in values],
                    pa.int32(),
                )
            )
        else:
            arrays.append(pa.array(values, f.type if f.type != _TS else pa.int64()).cast(f.type))
    table = pa.Table.from_arrays(arrays, schema=BOOK_SCHEMA) if n else BOOK_SCHEMA.empty_table()
    return BookLevels(table, bad, {"lines": number, "snapshots": snapshots, "rows": n})


def _row(
    cols: dict[str, list[Any]],
    head: tuple[Any, ...],
    lv: tuple[Any, ...],
    mm: tuple[int, dict[str, Any]] | None,
) -> None:
    recv, msg_ts, epoch, number, service, key, book_time = head
    side, li, price, size, count = lv
    cols["recv_ts"].append(recv)
    cols["msg_ts"].append(msg_ts)
    cols["conn_epoch"].append(epoch)
    cols["frame_seq"].append(number)
    cols["service"].append(service)
    cols["key"].append(key)
    cols["book_time"].append(book_time)
    cols["side"].append(side)
    cols["level_idx"].append(min(li, 0xFFFF))
    cols["price"].append(price)
    cols["agg_size"].append(size)
    cols["mm_count"].append(count)
    if mm is None:
        for c in ("mm_idx", "mm_id", "mm_size", "mm_quote_ms_of_day", "mm_quote_raw"):
            cols[c].append(None)
        return
    mi, m = mm
    mm_id = _get(m, _MM["id"])
    quote = _num(_get(m, _MM["time"]), int)
    cols["mm_idx"].append(mi if mi < 1 << 16 else None)
    cols["mm_id"].append(mm_id if type(mm_id) is str else None)
    cols["mm_size"].append(_num(_get(m, _MM["size"]), int))
    cols["mm_quote_ms_of_day"].append(quote if quote is not None and 0 <= quote < _DAY_MS else None)
    cols["mm_quote_raw"].append(quote)
