"""The reference reading of Schwab book services: line by line in Python, from the objects
Python's JSON readers give. The package reads book rows in the Rust core, in the same pass as
the level-one items; the tests hold that against this reading (the same rows, bad items and
counts), written from the format's rules (docs/feeds.md §1.10) and not from the core's code.

Lines take the shapes the level-one reference reads (``schwab_reference``): bare data items,
frames and journal records; numbers follow its rules for float and integer fields.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import pyarrow as pa

from ki2fast.feeds._lines import BOM
from ki2fast.feeds.schwab._frames import capture_bytes, content_of, time_ms
from ki2fast.feeds.schwab.book import BOOK_SCHEMA, BOOK_SERVICES, BookLevels
from tests.schwab_reference import _lenient, _one

# Field names: the streamer's numbers, then schwab-py's labels.
_TIME = ("1", "BOOK_TIME")
_SIDES = {"B": ("2", "BIDS"), "A": ("3", "ASKS")}
_PRICE = ("0", "BID_PRICE", "ASK_PRICE", "PRICE")
_SIZE = ("1", "TOTAL_VOLUME")
_COUNT = ("2", "NUM_BIDS", "NUM_ASKS")
_MMS = ("3", "BIDS", "ASKS")
_MM_ID = ("0", "EXCHANGE")
_MM_SIZE = ("1", "BID_VOLUME", "ASK_VOLUME")
_MM_TIME = ("2", "SEQUENCE")
_DAY_MS = 86_400_000


def _get(d: dict[str, Any], names: tuple[str, ...]) -> Any:
    for n in names:
        if n in d:
            return d[n]
    return None


def _parse(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return _lenient(raw)[0]
        except (ValueError, TypeError, RecursionError):
            return None


def _frame(line: bytes) -> tuple[Any, int | None]:
    """The frame a line holds (a bare data item as a frame of one) and the journal record's
    receive time; (None, None) for anything else."""
    obj = _parse(line)
    if type(obj) is not dict:
        return None, None
    journal = "v" in obj and "dir" in obj and "kind" in obj
    if journal and (obj["dir"] != "in" or obj["kind"] != "ws_text"):
        return None, None  # the journal's own records
    if "content" in obj and "service" in obj:
        return {"data": [obj]}, None
    if "data" in obj or "response" in obj or "notify" in obj:
        return obj, None
    if "raw" in obj and "v" in obj and type(obj["raw"]) is str:
        recv = obj.get("recv_ns")
        try:
            frame = orjson.loads(obj["raw"])
        except orjson.JSONDecodeError:
            return None, None
        if type(frame) is dict:
            return frame, recv if type(recv) is int and -(1 << 63) <= recv < 1 << 63 else None
    return None, None


def read_book(src: str | os.PathLike[str] | bytes) -> BookLevels:
    data, _ = capture_bytes(src)
    cols: dict[str, list[Any]] = {f.name: [] for f in BOOK_SCHEMA}
    bad: list[dict[str, Any]] = []
    logins = snapshots = 0
    start = len(BOM) if data.startswith(BOM) else 0
    end = data.rfind(b"\n") + 1
    offset, number = start, 0
    for raw in data[start:end].split(b"\n")[:-1] if end > start else ():
        number += 1
        off = offset
        offset += len(raw) + 1
        obj, recv = _frame(raw)
        if obj is None:
            continue
        for what in ("response", "notify"):
            if obj.get(what) is not None and type(obj.get(what)) is not list:
                obj = {}  # the level-one reader calls it a bad line and reads nothing
        for r in obj.get("response") or ():
            ok = type(r) is dict and content_of(r).get("code") == 0
            if ok and r.get("command") == "LOGIN":
                logins += 1
        blocks = obj.get("data")
        if type(blocks) is not list:
            continue
        epoch = max(logins - 1, 0)
        for block in blocks:
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
                head = (recv, msg_ts, epoch, number, service, key, time_ms(_get(item, _TIME)))
                for side, names in _SIDES.items():
                    levels = _get(item, names)
                    if levels is None:
                        continue
                    if type(levels) is not list:
                        what = "bids" if side == "B" else "asks"
                        reason = f"{service} {key}: {what} are not a list"
                        bad.append({"line": number, "offset": off, "reason": reason})
                        continue
                    for li, level in enumerate(levels):
                        if type(level) is not dict:
                            reason = f"{service} {key}: a price level is not an object"
                            bad.append({"line": number, "offset": off, "reason": reason})
                            continue
                        count = _one(_get(level, _COUNT), "i64")
                        lv = (
                            side,
                            min(li, 0xFFFF),
                            _one(_get(level, _PRICE), "f64"),
                            _one(_get(level, _SIZE), "i64"),
                            count if count is not None and -(1 << 31) <= count < 1 << 31 else None,
                        )
                        mms = _get(level, _MMS)
                        mms = [m for m in mms if type(m) is dict] if type(mms) is list else []
                        if not mms:
                            _row(cols, head, lv, None)
                        for mi, mm in enumerate(mms):
                            _row(cols, head, lv, (mi, mm))
    n = len(cols["key"])
    table = pa.table(cols, schema=BOOK_SCHEMA)
    return BookLevels(table, bad, {"lines": number, "snapshots": snapshots, "rows": n})


def _row(
    cols: dict[str, list[Any]],
    head: tuple[Any, ...],
    lv: tuple[Any, ...],
    mm: tuple[int, dict[str, Any]] | None,
) -> None:
    for name, v in zip(
        ("recv_ts", "msg_ts", "conn_epoch", "frame_seq", "service", "key", "book_time"),
        head,
        strict=True,
    ):
        cols[name].append(v)
    for name, v in zip(("side", "level_idx", "price", "agg_size", "mm_count"), lv, strict=True):
        cols[name].append(v)
    if mm is None:
        for c in ("mm_idx", "mm_id", "mm_size", "mm_quote_ms_of_day", "mm_quote_raw"):
            cols[c].append(None)
        return
    mi, m = mm
    mm_id = _get(m, _MM_ID)
    quote = _one(_get(m, _MM_TIME), "i64")
    cols["mm_idx"].append(mi if mi < 1 << 16 else None)
    cols["mm_id"].append(mm_id if type(mm_id) is str else None)
    cols["mm_size"].append(_one(_get(m, _MM_SIZE), "i64"))
    cols["mm_quote_ms_of_day"].append(quote if quote is not None and 0 <= quote < _DAY_MS else None)
    cols["mm_quote_raw"].append(quote)
