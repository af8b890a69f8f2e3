"""Schwab NASDAQ_BOOK / NYSE_BOOK / OPTIONS_BOOK messages into ``schwab_book_levels``
(docs/feeds.md §1.10): one row per (snapshot, side, price level, market maker).

Every book message is a whole snapshot: an item per symbol with the book time (``"1"``), bid
levels (``"2"``) and ask levels (``"3"``), best first. A level holds its price (``"0"``),
aggregate size (``"1"``), market-maker count (``"2"``) and market makers (``"3"``), each with
an id (``"0"``), a size (``"1"``) and a quote time (``"2"``, decoded as milliseconds since
midnight ET; the raw number is kept). schwab-py's labels (``BOOK_TIME``, ``BIDS``,
``BID_PRICE``, ``TOTAL_VOLUME``, ``NUM_BIDS``, ``EXCHANGE``, ``BID_VOLUME``, ``SEQUENCE`` ...)
are read as well. A level without market makers still gets one row, with null MM columns.

The core reads these rows in the same pass as the level-one items (``read_levelone`` gives
them as ``LevelOne.books``; this reader is that pass alone): ``frame_seq`` is the line number
and ``conn_epoch`` counts successful logins, so the two tables' rows line up. An item the
reader cannot take (no key, sides or levels of the wrong type) is listed in ``bad_lines``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from ki2fast.feeds.schwab._frames import capture_bytes

__all__ = ["BOOK_SCHEMA", "BOOK_SERVICES", "BookLevels", "book_levels", "read_book"]

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


@dataclass
class BookLevels:
    """What :func:`read_book` returns: the ``levels`` table (``BOOK_SCHEMA``), the lines
    that could not be read (``{"line", "offset", "reason"}``) and counts."""

    levels: pa.Table
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


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
    from ki2fast import _core

    data, _ = capture_bytes(src)
    got = _core.book_read(data)
    book = book_levels(got["book"])
    book.stats.update(lines=got["lines"], rows=book.levels.num_rows)
    return book


def book_levels(got: dict[str, Any] | None) -> BookLevels:
    """The book rows the core read (``book`` of ``_core.book_read`` and of the level-one
    readings; None when there were none) as :class:`BookLevels`."""
    if got is None:
        return BookLevels(BOOK_SCHEMA.empty_table(), [], {"snapshots": 0})
    levels = pa.Table.from_batches([pa.record_batch(got["levels"])], schema=BOOK_SCHEMA)
    bad = [{"line": n, "offset": o, "reason": r} for n, o, r in got["bad"]]
    return BookLevels(levels, bad, {"snapshots": got["snapshots"]})
