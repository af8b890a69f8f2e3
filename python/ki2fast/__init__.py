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

from typing import TYPE_CHECKING, Any

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
    ArchiveWarning,
    ItchDecodeError,
    Ki2fastError,
    LineError,
    SessionDateWarning,
    TimestampRegressionWarning,
    TransportError,
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
from ki2fast.prices import attach_prices

if TYPE_CHECKING:
    from ki2fast.charts import burst_chart
    from ki2fast.distributed import ReplayDataset, open_days, replay_days
    from ki2fast.replay_dir import StoredReplay, open_replay

# Loaded on first use: they pull in file and thread machinery a plain import does not need.
_LAZY = {
    "burst_chart": "ki2fast.charts",
    "ReplayDataset": "ki2fast.distributed",
    "open_days": "ki2fast.distributed",
    "replay_days": "ki2fast.distributed",
    "StoredReplay": "ki2fast.replay_dir",
    "open_replay": "ki2fast.replay_dir",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ki2fast' has no attribute {name!r}")


__all__ = [
    "MESSAGE_LENGTHS",
    "MESSAGE_TYPES",
    "ArchiveWarning",
    "BurstAlerts",
    "BurstMonitor",
    "ItchBatchIterator",
    "ItchDecodeError",
    "ItchSummary",
    "ItchTables",
    "Ki2fastError",
    "LineError",
    "OrderBook",
    "Replay",
    "ReplayDataset",
    "SessionDateWarning",
    "StoredReplay",
    "TimestampRegressionWarning",
    "TransportError",
    "__version__",
    "attach_prices",
    "bars",
    "burst_chart",
    "count_itch",
    "detect_program_bursts",
    "detect_stuffing",
    "hourly_vwap",
    "itch_schema",
    "itch_summary",
    "iter_itch",
    "level1",
    "open_days",
    "open_replay",
    "order_events_schema",
    "quote_activity",
    "read_itch",
    "read_order_events",
    "replay_days",
    "replay_itch",
    "scan_order_events",
    "synth_itch",
    "vwap",
    "write_itch",
]
