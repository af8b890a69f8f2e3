"""ki2fast: NASDAQ TotalView-ITCH 5.0 into Apache Arrow, fast.

A Rust core decodes ITCH zero-copy into Arrow record batches; this package is its typed
Python shell. Importing it is cheap: pyarrow loads on first use, polars only where an
analytics function returns a polars frame.

>>> import ki2fast as kf
>>> tables = kf.read_itch("data/samples/03012024.NASDAQ_ITCH50.gz")
>>> tables["add_order"].num_rows > 0
True
"""

from __future__ import annotations

from ki2fast._core import __version__
from ki2fast.analytics import Replay, bars, hourly_vwap, level1, replay_itch, vwap
from ki2fast.book import OrderBook
from ki2fast.detect import (
    BurstAlerts,
    BurstMonitor,
    detect_program_bursts,
    detect_stuffing,
    quote_activity,
)
from ki2fast.exceptions import (
    ItchDecodeError,
    Ki2fastError,
    SessionDateWarning,
    TimestampRegressionWarning,
)
from ki2fast.itch import (
    MESSAGE_LENGTHS,
    MESSAGE_TYPES,
    ItchBatchIterator,
    ItchSummary,
    ItchTables,
    count_itch,
    itch_schema,
    itch_summary,
    iter_itch,
    order_events_schema,
    read_itch,
    read_order_events,
    scan_order_events,
    synth_itch,
    write_itch,
)

__all__ = [
    "MESSAGE_LENGTHS",
    "MESSAGE_TYPES",
    "BurstAlerts",
    "BurstMonitor",
    "ItchBatchIterator",
    "ItchDecodeError",
    "ItchSummary",
    "ItchTables",
    "Ki2fastError",
    "OrderBook",
    "Replay",
    "SessionDateWarning",
    "TimestampRegressionWarning",
    "__version__",
    "bars",
    "count_itch",
    "detect_program_bursts",
    "detect_stuffing",
    "hourly_vwap",
    "itch_schema",
    "itch_summary",
    "iter_itch",
    "level1",
    "order_events_schema",
    "quote_activity",
    "read_itch",
    "read_order_events",
    "replay_itch",
    "scan_order_events",
    "synth_itch",
    "vwap",
    "write_itch",
]
