"""Type stubs of the Rust extension `ki2fast._core` (checked by mypy.stubtest).

Functions here return Arrow objects that implement the PyCapsule interface
(``__arrow_c_stream__`` / ``__arrow_c_array__`` / ``__arrow_c_schema__``); the Python layer
wraps them as pyarrow objects.
"""

from collections.abc import Iterator
from os import PathLike
from typing import Any, Protocol, final

class _ArrowStream(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class _ArrowArray(Protocol):
    def __arrow_c_array__(
        self, requested_schema: object | None = None
    ) -> tuple[object, object]: ...

class _ArrowSchema(Protocol):
    def __arrow_c_schema__(self) -> object: ...

_Source = str | PathLike[str] | bytes | bytearray | memoryview | Any

__all__ = [
    "ACTIVITY_COUNT_COLUMNS",
    "MAX_PRINT_SHARES",
    "MESSAGE_LENGTHS",
    "MESSAGE_TYPES",
    "EventMonitor",
    "ItchBatches",
    "LevelOneLabels",
    "LevelOneStream",
    "OrderBook",
    "OrderEvents",
    "ReplayRun",
    "SummaryScan",
    "__version__",
    "activity_merge",
    "book_read",
    "count_itch",
    "feed_bars",
    "hft1_fields",
    "inflate_len",
    "itch_schema",
    "level_one_changes",
    "levelone_read",
    "line_stats",
    "median_mad_by_group",
    "order_events_schema",
    "read_itch",
    "read_order_events",
    "rolling_baseline",
    "session_date_from_name",
    "session_midnight_ns",
    "synth_itch",
    "write_itch",
]

__version__: str
MESSAGE_TYPES: dict[str, str]
MESSAGE_LENGTHS: dict[str, int]
MAX_PRINT_SHARES: int
#: The activity table's count columns, in order.
ACTIVITY_COUNT_COLUMNS: list[str]

@final
class ItchBatches(Iterator[tuple[str, _ArrowArray]]):
    def __new__(
        cls,
        src: _Source,
        *,
        messages: list[str] | None = None,
        symbols: list[str] | None = None,
        date: str | None = None,
        prices: str = "int",
        batch_size: int = 65536,
        allow_truncated: bool = False,
        errors: str = "raise",
    ) -> ItchBatches: ...
    def __iter__(self) -> ItchBatches: ...
    def __next__(self) -> tuple[str, _ArrowArray]: ...
    @property
    def checks(self) -> dict[str, Any]: ...
    @property
    def progress(self) -> tuple[int, int | None]: ...

@final
class OrderEvents(Iterator[_ArrowArray]):
    def __new__(
        cls,
        src: _Source,
        *,
        symbols: list[str] | None = None,
        date: str | None = None,
        prices: str = "int",
        batch_size: int = 65536,
        allow_truncated: bool = False,
        errors: str = "raise",
    ) -> OrderEvents: ...
    def __iter__(self) -> OrderEvents: ...
    def __next__(self) -> _ArrowArray: ...
    @property
    def schema(self) -> _ArrowSchema: ...
    @property
    def checks(self) -> dict[str, Any]: ...

@final
class SummaryScan:
    def __new__(
        cls, src: _Source, *, allow_truncated: bool = False, errors: str = "raise"
    ) -> SummaryScan: ...
    def step(self) -> bool: ...
    @property
    def progress(self) -> tuple[int, int | None]: ...
    def result(self) -> dict[str, Any]: ...

@final
class ReplayRun:
    def __new__(
        cls,
        src: _Source,
        *,
        symbols: list[str] | None = None,
        date: str | None = None,
        prices: str = "float",
        trades: bool = True,
        bar_every_ns: int | None = ...,
        clock_hours: bool = False,
        bbo: bool = False,
        snapshot_every_ns: int | None = None,
        depth: int = 5,
        allow_truncated: bool = False,
        errors: str = "raise",
        threads: int = 1,
        activity_every_ns: int | None = None,
        sliding: tuple[int, int, int] | None = None,
        activity_crosses: bool = False,
        spill_dir: str | PathLike[str] | None = None,
    ) -> ReplayRun: ...
    def step(self) -> bool: ...
    def drain(self) -> dict[str, _ArrowStream | None]: ...
    @property
    def restarts(self) -> int: ...
    @property
    def progress(self) -> tuple[int, int | None]: ...
    def finish(self) -> dict[str, Any]: ...

@final
class EventMonitor:
    def __new__(
        cls,
        *,
        activity_every_ns: int | None = None,
        sliding: tuple[int, int, int] | None = None,
        include_crosses: bool = False,
    ) -> EventMonitor: ...
    def feed(self, batch: _ArrowStream) -> None: ...
    def feed_order_events(self, batch: _ArrowStream) -> None: ...
    def closed(self, now: int, names: list[str], midnight: int | None) -> _ArrowStream | None: ...
    def open_since(self) -> int | None: ...
    def activity_until(
        self, before: int, names: list[str], midnight: int | None
    ) -> _ArrowStream | None: ...
    def finish(self, names: list[str], midnight: int | None) -> dict[str, Any]: ...

@final
class OrderBook:
    def __new__(cls, *, prices: str = "float") -> OrderBook: ...
    def apply(self, events: _ArrowStream) -> None: ...
    def bbo(self, symbol: str) -> dict[str, Any]: ...
    def depth(self, symbol: str, levels: int = 10) -> _ArrowStream: ...
    def orders(self, symbol: str) -> _ArrowStream: ...
    def symbols(self) -> list[str]: ...
    @property
    def live_orders(self) -> int: ...
    @property
    def stats(self) -> dict[str, int]: ...

def read_itch(
    src: _Source,
    *,
    messages: list[str] | None = None,
    symbols: list[str] | None = None,
    date: str | None = None,
    prices: str = "int",
    batch_size: int = 1048576,
    allow_truncated: bool = False,
    errors: str = "raise",
) -> tuple[dict[str, _ArrowStream], dict[str, Any]]: ...
def read_order_events(
    src: _Source,
    *,
    symbols: list[str] | None = None,
    date: str | None = None,
    prices: str = "int",
    batch_size: int = 1048576,
    allow_truncated: bool = False,
    errors: str = "raise",
) -> tuple[_ArrowStream, dict[str, Any]]: ...
def count_itch(
    src: _Source, *, allow_truncated: bool = False, errors: str = "raise"
) -> dict[str, Any]: ...
def itch_schema(message: str, *, prices: str = "int", with_ts: bool = False) -> _ArrowSchema: ...
def order_events_schema(*, prices: str = "int", with_ts: bool = False) -> _ArrowSchema: ...
def session_date_from_name(path: str | PathLike[str]) -> str | None: ...
def session_midnight_ns(date: str) -> int: ...
def inflate_len(path: str | PathLike[str]) -> int: ...
def levelone_read(
    data: bytes, labels: LevelOneLabels, schemes: tuple[str, str], strict: bool
) -> dict[str, Any]:
    """Both passes of the Schwab level-one reader over a decompressed capture."""

def book_read(data: bytes) -> dict[str, Any]:
    """The Schwab book services of a decompressed capture: ``lines`` and ``book``."""

def level_one_changes(table: _ArrowStream) -> _ArrowStream:
    """Per row of ``key, bid, ask, bid_size, ask_size``: whether it changes its key's top."""

def feed_bars(
    trades: _ArrowStream, quotes: _ArrowStream | None, every_ns: int, names: list[str]
) -> _ArrowStream:
    """Bars of counting prints (and quotes) of any feed, prices in 1/10 000 $ (uint64)."""

def line_stats(chunk: bytes, bom: bool) -> _ArrowStream:
    """Per complete line: ``start``, ``stop`` and its ``spaces``, ``odd`` and ``commas``."""

def hft1_fields(
    data: bytes, start: Any, stop: Any, layout: list[int], time_format: str
) -> _ArrowStream:
    """The hft1 rows of the lines of the plain shape, typed, with their ``line``."""

def median_mad_by_group(table: _ArrowStream, n: int) -> _ArrowStream:
    """Per row: its (key, day) group's median and robust σ, missing windows as zeros."""

def activity_merge(table: _ArrowStream, midnight: int | None = None) -> _ArrowStream:
    """Activity rows with the rows of one window and locate summed into one."""

def rolling_baseline(table: _ArrowStream, lookback: int, robust: bool) -> _ArrowStream:
    """Per row: μ, σ and ``ok`` of the ``lookback`` windows before its window."""

@final
class LevelOneLabels:
    """The level-one label tables of both services, given to every reading."""

    def __new__(cls, equities: dict[str, Any], options: dict[str, Any]) -> LevelOneLabels: ...

@final
class LevelOneStream:
    """Both level-one passes over a capture that grows, a batch of bytes at a time."""

    def __init__(self) -> None: ...
    def push(
        self, data: bytes, labels: LevelOneLabels, schemes: tuple[str, str], strict: bool
    ) -> dict[str, Any]: ...
    @property
    def lines(self) -> int: ...
    @property
    def bytes(self) -> int: ...
    @property
    def logins(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def held_back(self) -> int: ...

def synth_itch(
    path: str | PathLike[str],
    *,
    messages: int,
    symbols: int,
    seed: int,
    depth: int = 25,
    date: str = "2024-03-01",
    bursts: int | None = None,
    program_bursts: int = 0,
    gzip_level: int | None = None,
) -> str: ...
def write_itch(
    path: str | PathLike[str] | None,
    tables: list[tuple[str, _ArrowStream]],
    *,
    gzip_level: int | None = None,
) -> tuple[int, bytes | None]: ...
