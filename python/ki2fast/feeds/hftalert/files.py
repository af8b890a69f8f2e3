"""HFTAlert Burst Monitor files: hft1 reports, daily burst rows and burst symbol files.

The Burst Monitor client writes CSV files that grow during the day (layout: docs/feeds.md §3). The
readers here take the complete lines of a file as it is now (a last line still being written is
held back), and return typed Arrow tables with timestamps in the writer's wall clock
(``America/New_York`` unless told otherwise) and the byte offset of every row.

No public definition exists for ``T1``, ``T3``, ``Grade``, ``Bckgrnd``, ``S1``, ``S2``,
``CT``, ``CS`` or ``CB``: they are kept as read, untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from ki2fast.exceptions import FeedFileError, UnknownColumnsError
from ki2fast.feeds._lines import BOM, MAX_CSV_LINE, Line, LineBlock, fields
from ki2fast.feeds.tail import FileSet, FileTail

__all__ = [
    "ACTIVITY_SCHEMA",
    "BURST_COLUMNS",
    "BURST_COLUMNS_CB_FIRST",
    "BURST_SCHEMA",
    "HFT1_COLUMNS",
    "HFT1_SCHEMA",
    "JOIN_SCHEMA",
    "PROG_TYPE_CODES",
    "SYMBOLS_SCHEMA",
    "SYMBOL_COLUMNS",
    "FeedFileError",
    "HftAlertPoll",
    "HftAlertTail",
    "UnknownColumnsError",
    "hft1_activity",
    "read_burst_symbols",
    "read_data_burst",
    "read_hft1",
    "write_burst_monitor",
]

#: hft1 columns in file order (docs/feeds.md §3.2).
HFT1_COLUMNS = ("Symbol", "T1", "Time", "NumQuotes", "BBO", "NumTrades", "Dollars", "T3")
#: Daily burst columns, the default order (docs/feeds.md §3.3).
BURST_COLUMNS = ("EventTime", "Grade", "ProgType", "Bckgrnd", "S1", "S2", "CT", "CS", "CB")
#: The other order some consumers read (``CT, CB, CS``).
BURST_COLUMNS_CB_FIRST = ("EventTime", "Grade", "ProgType", "Bckgrnd", "S1", "S2", "CT", "CB", "CS")
#: Burst symbol file columns (not hft1's order).
SYMBOL_COLUMNS = ("Symbol", "NumTrades", "NumQuotes", "BBO")

DEFAULT_TZ = "America/New_York"
Header = Literal["auto", "present", "absent"]
TimeFormat = Literal["auto", "hhmmss", "hh:mm:ss"]

_DATE = re.compile(r"(\d{8})")
_SYMBOL_FILE = re.compile(r"Burst_(\d{8})_(\d{1,6})\.csv$", re.IGNORECASE)


def _norm(name: str) -> str:
    return name.strip().strip('"').replace(" ", "").replace("_", "").lower()


#: Other names of a column, by normalised name.
_ALIASES = {"eventdatetime": "eventtime"}
_HFT1_TIME_ALIASES = {"time", "eventtime", "eventdatetime"}


def _canonical(name: str, known: Sequence[str]) -> str | None:
    n = _norm(name)
    n = _ALIASES.get(n, n)
    for k in known:
        if _norm(k) == n:
            return k
    if "Time" in known and n in _HFT1_TIME_ALIASES:
        return "Time"
    return None


def _layout(
    first: Line | None,
    header_names: list[str] | None,
    default: Sequence[str],
    header: Header,
    path: str,
) -> tuple[tuple[str, ...], bool]:
    """The file's columns and whether its first line is a header (docs/feeds.md §3.3)."""
    if header not in ("auto", "present", "absent"):
        raise ValueError(f"header must be 'auto', 'present' or 'absent', not {header!r}")
    if first is None or header_names is None or header == "absent":
        return tuple(default), False
    names = [_canonical(f, default) for f in header_names]
    if header == "auto" and not all(names):
        return tuple(default), False
    unknown = [f for f, n in zip(header_names, names, strict=True) if n is None]
    if unknown:
        raise UnknownColumnsError(
            f"unknown column names {unknown} in the header (expected names from {list(default)})",
            path=path,
            offset=first.offset,
            line=first.number,
        )
    return tuple(n for n in names if n is not None), True


def _file_date(path: Path, date: dt.date | str | None) -> dt.date:
    if isinstance(date, dt.date):
        return date
    text = date
    if text is None:
        found = _DATE.findall(path.name)
        if not found:
            raise ValueError(f"{path}: no YYYYMMDD date in the file name; pass date=")
        text = found[-1]
    try:
        return dt.datetime.strptime(text.replace("-", ""), "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{path}: {text!r} is not a YYYYMMDD date") from None


def _seconds_of_day(text: str, time_format: TimeFormat) -> int:
    """Seconds after midnight of ``HHMMSS`` (zero padding optional) or ``hh:mm:ss``."""
    if time_format not in ("auto", "hhmmss", "hh:mm:ss"):
        raise ValueError(f"time_format must be 'auto', 'hhmmss' or 'hh:mm:ss', not {time_format!r}")
    colon = ":" in text if time_format == "auto" else time_format == "hh:mm:ss"
    if colon:
        parts = text.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"time {text!r} is not hh:mm:ss")
        h, m, s = (int(p) for p in parts)
    else:
        if not text.isdigit() or len(text) > 6:
            raise ValueError(f"time {text!r} is not HHMMSS")
        padded = text.zfill(6)
        h, m, s = int(padded[:2]), int(padded[2:4]), int(padded[4:])
    if h > 23 or m > 59 or s > 59:
        raise ValueError(f"time {text!r} is out of range")
    return h * 3600 + m * 60 + s


def _epoch(day: dt.date, seconds: int, zone: ZoneInfo) -> int:
    """UTC epoch seconds of wall-clock ``seconds`` after midnight of ``day`` in ``zone``."""
    h, rest = divmod(seconds, 3600)
    wall = dt.datetime(day.year, day.month, day.day, h, rest // 60, rest % 60, tzinfo=zone)
    return int(wall.timestamp())


def _wall_to_utc(day: dt.date, zone: ZoneInfo, seconds: Any) -> Any:
    """:func:`_epoch` of many wall-clock ``seconds`` (a numpy array) of one day: the UTC
    offset from the tz database per minute of the day, looked up an hour at a time where it
    does not change within the hour (offsets change on a minute's boundary)."""
    import numpy as np

    midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())

    def offset(minute: int) -> int:
        return _epoch(day, minute * 60, zone) - midnight - minute * 60

    by_minute = np.empty(24 * 60, np.int64)
    for h in range(24):
        first, last = offset(h * 60), offset(h * 60 + 59)
        if first == last:
            by_minute[h * 60 : h * 60 + 60] = first
        else:  # a change of offset within the hour
            by_minute[h * 60 : h * 60 + 60] = [offset(h * 60 + m) for m in range(60)]
    return seconds + midnight + by_minute[seconds // 60]


def _int(text: str, bits: int) -> int:
    value = int(text)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{text} does not fit in {bits} bits")
    return value


class _Csv:
    """The complete lines of one CSV file parsed by its columns, poll after poll.

    The columns are decided from the file's first line (a header, or the default order) once
    per generation of the file; ``layout`` holds that decision so that a tail resumed in the
    middle of the file keeps it.
    """

    def __init__(
        self,
        tail: FileTail,
        default: Sequence[str],
        header: Header,
        strict: bool,
        layout: dict[str, Any] | None = None,
    ):
        self.tail = tail
        self.path = str(tail.path)
        self.default = default
        self.header = header
        self.strict = strict
        self.layout = layout if layout is not None else {}
        self.bad: list[dict[str, object]] = []
        self._long = 0

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.layout.get("columns") or self.default)

    def fail(self, reason: str, number: int, offset: int, raw: bytes = b"") -> None:
        """A bad line: raised when strict, else listed."""
        if self.strict:
            raise FeedFileError(reason, path=self.path, offset=offset, line=number)
        self.bad.append(
            {
                "file": self.path,
                "gen": self.tail.gen,
                "line": number,
                "offset": offset,
                "reason": reason,
                "raw": raw[:4096].decode("utf-8", "replace"),
            }
        )

    def poll(self, each: Callable[[Line, dict[str, str]], None]) -> None:
        """Parses the lines completed since the last poll; ``each`` gets every data line."""
        self.parse(self.take(), each)

    def take(self) -> list[Line]:
        """The data lines completed since the last poll (a header line decides the layout
        and is left out)."""
        return self.take_block().lines()

    def take_block(self) -> LineBlock:
        """:meth:`take`'s lines in columns."""
        lines = self.tail.poll_block()
        for number, offset in self.tail.long_lines[self._long :]:
            self.fail(f"line longer than {MAX_CSV_LINE} bytes", number, offset)
        self._long = len(self.tail.long_lines)
        if len(lines) and self.layout.get("gen") != self.tail.gen:
            first = lines.line(0)
            try:
                names = fields(first)
            except ValueError:
                names = None
            columns, has_header = _layout(first, names, self.default, self.header, self.path)
            # In place: the dict may be the one a tail saves with its checkpoint.
            self.layout.clear()
            self.layout.update(gen=self.tail.gen, columns=list(columns))
            if has_header:
                lines = lines.select(range(1, len(lines)))
        return lines

    def parse(self, lines: list[Line], each: Callable[[Line, dict[str, str]], None]) -> None:
        """Splits each line into its fields by the layout and gives them to ``each``; a line
        that does not fit, or that ``each`` rejects (ValueError), is a bad line."""
        width = len(self.columns)
        for line in lines:
            try:
                values = fields(line)
                # hft1 lines end with ',' (an empty T3); a missing trailing empty field is fine.
                if len(values) == width - 1 and self.columns[-1] == "T3":
                    values = [*values, ""]
                if len(values) != width:
                    raise ValueError(
                        f"{len(values)} fields, expected {width} ({', '.join(self.columns)})"
                    )
                each(line, dict(zip(self.columns, values, strict=True)))
            except ValueError as e:
                self.fail(str(e), line.number, line.offset, line.raw)


def _read_file(
    path: Path,
    default: Sequence[str],
    header: Header,
    strict: bool,
    each: Callable[[Line, dict[str, str]], None],
) -> _Csv:
    """A whole file as it is now: every data line to ``each``; the parsed file (its bad lines,
    where reading stopped) back."""
    path.stat()  # a file that is not there is an error here, unlike in a tail
    csv = _Csv(FileTail(path), default, header, strict)
    csv.poll(each)
    return csv


def _metadata(csv: _Csv, **extra: object) -> dict[bytes, bytes]:
    meta: dict[str, object] = {
        "source_file": csv.path,
        "bytes_read": csv.tail.offset,
        "held_back_bytes": csv.tail.held_back,
        "bad_lines": [{k: v for k, v in b.items() if k not in ("gen", "raw")} for b in csv.bad],
        **extra,
    }
    return {f"ki2fast.{k}".encode(): json.dumps(v).encode() for k, v in meta.items()}


_DICT = pa.dictionary(pa.int32(), pa.string())

#: ``hft1_reports`` (docs/feeds.md §3.7).
HFT1_SCHEMA = pa.schema(
    [
        ("file_date", pa.date32()),
        ("event_ts", pa.timestamp("s", tz=DEFAULT_TZ)),
        ("time_raw", pa.string()),
        ("symbol", _DICT),
        ("t1", pa.string()),
        ("num_quotes", pa.int32()),
        ("bbo", pa.int32()),
        ("num_trades", pa.int32()),
        ("dollars", pa.int64()),
        ("t3", pa.string()),
        ("trade_size", pa.float64()),
        ("source_file", _DICT),
        ("file_gen", pa.uint32()),
        ("byte_offset", pa.uint64()),
        ("line_no", pa.uint64()),
    ]
)
#: ``burst_events`` (docs/feeds.md §3.7).
BURST_SCHEMA = pa.schema(
    [
        ("file_date", pa.date32()),
        ("event_ts", pa.timestamp("s", tz=DEFAULT_TZ)),
        ("event_time_raw", pa.string()),
        ("grade", pa.int8()),
        ("prog_type", pa.int8()),
        ("is_buy", pa.bool_()),
        *((k, pa.int64()) for k in ("bckgrnd", "s1", "s2", "ct", "cs", "cb")),
        ("column_order", _DICT),
        ("source_file", _DICT),
        ("byte_offset", pa.uint64()),
    ]
)
#: ``burst_symbols`` (docs/feeds.md §3.7): one row per symbol of a burst.
SYMBOLS_SCHEMA = pa.schema(
    [
        ("file_date", pa.date32()),
        ("event_ts", pa.timestamp("s", tz=DEFAULT_TZ)),
        ("symbol", _DICT),
        ("num_trades", pa.int32()),
        ("num_quotes", pa.int32()),
        ("bbo", pa.int32()),
        ("source_file", _DICT),
        ("byte_offset", pa.uint64()),
    ]
)
#: ``burst_join_status`` (docs/feeds.md §3.4, §3.7): appended, never rewritten.
JOIN_SCHEMA = pa.schema(
    [
        ("file_date", pa.date32()),
        ("event_ts", pa.timestamp("s", tz=DEFAULT_TZ)),
        ("status", _DICT),
        ("symbol_count", pa.uint32()),
        ("observed_at", pa.timestamp("ns", tz="UTC")),
    ]
)


_SCHEMAS = (HFT1_SCHEMA, BURST_SCHEMA, SYMBOLS_SCHEMA, JOIN_SCHEMA)


def _table(schema: pa.Schema, rows: Sequence[Sequence[object]], tz: str) -> pa.Table:
    """Rows (tuples in schema order) as a table; timestamps of the file's wall clock in ``tz``."""
    schema = pa.schema(
        [
            pa.field(f.name, pa.timestamp(f.type.unit, tz=tz))
            if pa.types.is_timestamp(f.type) and f.type.tz == DEFAULT_TZ
            else f
            for f in schema
        ]
    )
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table(
        [pa.array(list(c), f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


def _hft1_row(
    day: dt.date, zone: ZoneInfo, time_format: TimeFormat, path: str, gen: Callable[[], int]
) -> Callable[[Line, dict[str, str]], tuple[object, ...]]:
    """Parses an hft1 line into an ``hft1_reports`` row (``gen``: the file's generation)."""

    def row(line: Line, f: dict[str, str]) -> tuple[object, ...]:
        if not f["Symbol"]:
            raise ValueError("empty Symbol")
        ts = _epoch(day, _seconds_of_day(f["Time"], time_format), zone)
        quotes, bbo, trades = _int(f["NumQuotes"], 32), _int(f["BBO"], 32), _int(f["NumTrades"], 32)
        dollars = _int(f["Dollars"], 64)
        return (
            day,
            ts,
            f["Time"],
            f["Symbol"],
            f["T1"],
            quotes,
            bbo,
            trades,
            dollars,
            f["T3"] or None,
            dollars / trades if trades else None,
            path,
            gen(),
            line.offset,
            line.number,
        )

    return row


def _hft1_table(
    csv: _Csv, lines: LineBlock, day: dt.date, tz: str, time_format: TimeFormat
) -> pa.Table:
    """The ``hft1_reports`` rows of ``lines``, parsed column-wise.

    Lines the column-wise checks cannot vouch for (other than printable ASCII, a field count
    or number that does not fit, a time out of range...) go through :func:`_hft1_row` one by
    one, which either reads them or reports them as bad lines; so the result is the same as
    that of the line-by-line parser, at a fraction of the cost.
    """
    if time_format not in ("auto", "hhmmss", "hh:mm:ss"):
        raise ValueError(f"time_format must be 'auto', 'hhmmss' or 'hh:mm:ss', not {time_format!r}")
    zone = ZoneInfo(tz)
    gen = csv.tail.gen
    row = _hft1_row(day, zone, time_format, csv.path, lambda: gen)
    if not lines:
        return _table(HFT1_SCHEMA, [], tz)
    import numpy as np

    from ki2fast import _core

    columns = csv.columns
    width = len(columns)
    names = ("Symbol", "T1", "Time", "NumQuotes", "BBO", "NumTrades", "Dollars", "T3")
    # The core types the fields of the lines of the plain shape (printable ASCII, as many
    # fields as columns or one fewer when T3 is last, plain integers, a time of the day),
    # as fields() and the line parser read them; every other line goes through the line
    # parser, which reads it or reports it.
    parts: list[tuple[pa.RecordBatch, np.ndarray]] = []
    if all(name in columns for name in names):
        layout = [width, *(columns.index(name) for name in names)]
        done = 0
        for data, _, starts, stops, _ in lines.segments:
            got = pa.record_batch(_core.hft1_fields(data, starts, stops, layout, time_format))
            parts.append((got, done + got.column("line").to_numpy().astype(np.int64)))
            done += len(starts)
    index = np.concatenate([at for _, at in parts]) if parts else np.zeros(0, np.int64)
    got = pa.Table.from_batches([b for b, _ in parts]).combine_chunks() if parts else None
    rows = len(index)
    if got is not None and rows:
        seconds = got.column("seconds").to_numpy().astype(np.int64)
        event_ts = _wall_to_utc(day, zone, seconds)
        # In numpy, which divides as IEEE does, as Python's dollars / trades.
        dollars = got.column("dollars").to_numpy().astype(np.float64)
        trades = got.column("num_trades").to_numpy().astype(np.float64)
        none = trades == 0
        trade_size = pa.array(
            np.divide(dollars, trades, out=np.zeros_like(dollars), where=~none), mask=none
        )
        fast = pa.table(
            {
                "file_date": pa.array(
                    np.full(rows, (day - dt.date(1970, 1, 1)).days, np.int32)
                ).cast(pa.date32()),
                "event_ts": pa.array(event_ts).cast(pa.timestamp("s", tz=tz)),
                "time_raw": got.column("time_raw"),
                "symbol": got.column("symbol").dictionary_encode(),
                **{
                    k: got.column(k)
                    for k in ("t1", "num_quotes", "bbo", "num_trades", "dollars", "t3")
                },
                "trade_size": trade_size,
                "source_file": pa.DictionaryArray.from_arrays(
                    pa.array(np.zeros(rows, np.int32)), pa.array([csv.path])
                ),
                "file_gen": pa.array(np.full(rows, gen, np.uint32)),
                "byte_offset": pa.array(lines.offset[index], pa.uint64()),
                "line_no": pa.array(lines.number[index], pa.uint64()),
            }
        )
    else:
        fast = _table(HFT1_SCHEMA, [], tz)
    fast_rows = np.zeros(len(lines), bool)
    fast_rows[index] = True
    slow_lines = [lines.line(i) for i in np.flatnonzero(~fast_rows).tolist()]
    if not slow_lines:
        return fast.cast(_table(HFT1_SCHEMA, [], tz).schema)
    slow: list[tuple[object, ...]] = []
    csv.parse(slow_lines, lambda line, fl: slow.append(row(line, fl)))
    both = pa.concat_tables(
        [fast.cast(_table(HFT1_SCHEMA, [], tz).schema), _table(HFT1_SCHEMA, slow, tz)]
    )
    return both.take(pc.sort_indices(both, [("byte_offset", "ascending")])).combine_chunks()


def _burst_row(
    day: dt.date, zone: ZoneInfo, path: str
) -> Callable[[Line, dict[str, str]], tuple[object, ...]]:
    """Parses a daily burst line into a ``burst_events`` row (the column order used is the
    order of ``f``)."""

    def row(line: Line, f: dict[str, str]) -> tuple[object, ...]:
        raw = f["EventTime"]
        ts = _epoch(day, _seconds_of_day(raw, "hhmmss"), zone)
        prog = _int(f["ProgType"], 8)
        return (
            day,
            ts,
            raw,
            _int(f["Grade"], 8),
            prog,
            prog == 1,
            *(_int(f[k], 64) for k in ("Bckgrnd", "S1", "S2", "CT", "CS", "CB")),
            ",".join(f),
            path,
            line.offset,
        )

    return row


def _symbol_row(
    day: dt.date, ts: int, path: str
) -> Callable[[Line, dict[str, str]], tuple[object, ...]]:
    """Parses a burst symbol file line into a ``burst_symbols`` row."""

    def row(line: Line, f: dict[str, str]) -> tuple[object, ...]:
        if not f["Symbol"]:
            raise ValueError("empty Symbol")
        counts = (_int(f[k], 32) for k in ("NumTrades", "NumQuotes", "BBO"))
        return (day, ts, f["Symbol"], *counts, path, line.offset)

    return row


def read_hft1(
    path: str | os.PathLike[str],
    *,
    date: dt.date | str | None = None,
    columns: Sequence[str] = HFT1_COLUMNS,
    header: Header = "auto",
    time_format: TimeFormat = "auto",
    tz: str = DEFAULT_TZ,
    strict: bool = True,
) -> pa.Table:
    """An hft1 file as a table, one row per symbol report (docs/feeds.md §3.2, §3.7).

    The date comes from the file name (its last ``YYYYMMDD``) unless ``date`` is given; each
    row's time is read as ``HHMMSS`` (zero padding optional) or ``hh:mm:ss`` in ``tz``. A last
    line without its line end is held back (the writer may still be on it). ``strict=False``
    skips bad lines and lists them in the table's ``ki2fast.bad_lines`` metadata; otherwise
    the first raises :class:`FeedFileError` with the file, line and byte offset.
    """
    p = Path(path)
    day = _file_date(p, date)
    p.stat()  # a file that is not there is an error here, unlike in a tail
    csv = _Csv(FileTail(p), columns, header, strict)
    table = _hft1_table(csv, csv.take_block(), day, tz, time_format)
    return table.replace_schema_metadata(_metadata(csv))


def read_burst_symbols(
    path: str | os.PathLike[str],
    *,
    columns: Sequence[str] = SYMBOL_COLUMNS,
    header: Header = "auto",
    tz: str = DEFAULT_TZ,
    strict: bool = True,
) -> pa.Table:
    """A ``Burst_YYYYMMDD_HHMMSS.csv`` symbol file: the symbols of one program burst.

    The event's date and time come from the file name (the time zero-padded or not). Columns
    ``file_date, event_ts, symbol, num_trades, num_quotes, bbo, source_file, byte_offset``.
    """
    p = Path(path)
    m = _SYMBOL_FILE.search(p.name)
    if m is None:
        raise ValueError(f"{p}: not a Burst_YYYYMMDD_HHMMSS.csv file name")
    day = _file_date(p, m.group(1))
    ts = _epoch(day, _seconds_of_day(m.group(2), "hhmmss"), ZoneInfo(tz))
    row = _symbol_row(day, ts, str(p))
    out: list[tuple[object, ...]] = []
    csv = _read_file(p, columns, header, strict, lambda line, f: out.append(row(line, f)))
    return _table(SYMBOLS_SCHEMA, out, tz).replace_schema_metadata(_metadata(csv))


#: The list column of symbols attached to each burst row.
SYMBOL_STRUCT = pa.struct(
    [
        ("symbol", pa.string()),
        ("num_trades", pa.int32()),
        ("num_quotes", pa.int32()),
        ("bbo", pa.int32()),
    ]
)


def _symbols_dir(path: Path) -> Path | None:
    """``Data_Burst_Symbols`` next to the daily file's folder (``Data_Burst/D.csv``) or next
    to the file itself (``Data_Burst D.csv``), if it exists."""
    for root in (
        (path.parent.parent, path.parent)
        if path.parent.name.lower() == "data_burst"
        else (path.parent,)
    ):
        candidate = root / "Data_Burst_Symbols"
        if candidate.is_dir():
            return candidate
    return None


def read_data_burst(
    path: str | os.PathLike[str],
    symbols_dir: str | os.PathLike[str] | None = None,
    *,
    date: dt.date | str | None = None,
    columns: Sequence[str] = BURST_COLUMNS,
    header: Header = "auto",
    symbol_columns: Sequence[str] = SYMBOL_COLUMNS,
    tz: str = DEFAULT_TZ,
    strict: bool = True,
) -> pa.Table:
    """A daily burst file (``Data_Burst/YYYYMMDD.csv`` or ``Data_Burst YYYYMMDD.csv``), one
    row per program burst (docs/feeds.md §3.3–3.4).

    ``EventTime`` is ``HHMMSS`` without zero padding. The ``CT, CS, CB`` order is disputed:
    pass ``columns=BURST_COLUMNS_CB_FIRST`` for the other one; a header row, when there is
    one, names the columns and wins. The order used is in ``column_order``.

    Each burst's symbol file (``Burst_D_HHMMSS.csv``, padded or as written) from
    ``symbols_dir`` (default: a ``Data_Burst_Symbols`` folder beside the daily files, when
    there is one) is attached as the list column ``symbols``; ``symbols_status`` says
    ``joined`` or ``missing``. A missing file gives an empty list, and the table's
    ``ki2fast.missing_symbol_files`` metadata lists the event times without one.
    """
    p = Path(path)
    day = _file_date(p, date)
    row = _burst_row(day, ZoneInfo(tz), str(p))
    out: list[tuple[object, ...]] = []
    csv = _read_file(p, columns, header, strict, lambda line, f: out.append(row(line, f)))
    table = _table(BURST_SCHEMA, out, tz)
    order = ",".join(csv.columns)
    extra: dict[str, object] = {"column_order": order}
    folder = Path(symbols_dir) if symbols_dir is not None else _symbols_dir(p)
    if folder is not None:
        lists: list[list[dict[str, object]]] = []
        status: list[str] = []
        missing: list[str] = []
        for raw in table.column("event_time_raw").to_pylist():
            found = _symbol_file(folder, day, raw)
            if found is None:
                lists.append([])
                status.append("missing")
                missing.append(raw)
                continue
            symbols: list[dict[str, object]] = []

            def each(
                line: Line, f: dict[str, str], into: list[dict[str, object]] = symbols
            ) -> None:
                _, _, symbol, trades, quotes, bbo, *_ = _symbol_row(day, 0, "")(line, f)
                into.append(
                    {"symbol": symbol, "num_trades": trades, "num_quotes": quotes, "bbo": bbo}
                )

            csv.bad.extend(_read_file(found, symbol_columns, "auto", strict, each).bad)
            lists.append(symbols)
            status.append("joined")
        table = table.append_column("symbols", pa.array(lists, pa.list_(SYMBOL_STRUCT)))
        table = table.append_column("symbols_status", pa.array(status, _DICT))
        extra["symbols_dir"] = str(folder)
        extra["missing_symbol_files"] = missing
    return table.replace_schema_metadata(_metadata(csv, **extra))


def _symbol_file(folder: Path, day: dt.date, raw: str) -> Path | None:
    """The symbol file of the event at ``raw`` (as written in the daily file): the name with
    the time zero-padded first, then as written (docs/feeds.md §3.4)."""
    stamp = day.strftime("%Y%m%d")
    for t in dict.fromkeys((raw.zfill(6), raw)):
        candidate = folder / f"Burst_{stamp}_{t}.csv"
        if candidate.is_file():
            return candidate
    return None


@dataclass
class HftAlertPoll:
    """What one poll of an :class:`HftAlertTail` gave: new rows of the four tables of
    docs/feeds.md §3.7, the lines quarantined (with file, byte offset, reason and raw text), and
    how many lines were dropped as duplicates (docs/feeds.md §4.7)."""

    hft1_reports: pa.Table
    burst_events: pa.Table
    burst_symbols: pa.Table
    burst_join_status: pa.Table
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0

    def tables(self) -> dict[str, pa.Table]:
        """The four tables by name."""
        return {
            "hft1_reports": self.hft1_reports,
            "burst_events": self.burst_events,
            "burst_symbols": self.burst_symbols,
            "burst_join_status": self.burst_join_status,
        }

    def first_error(self) -> FeedFileError:
        """The first quarantined line as the error a strict reader raises."""
        q = self.quarantine[0]
        return FeedFileError(
            f"{q['reason']}; nothing stored (strict)",
            path=str(q["file"]),
            offset=int(q["offset"]),
            line=int(q["line"]),
        )

    def store(self, root: str | os.PathLike[str], part: str, today: dt.date) -> bool:
        """Writes the tables with rows into the :mod:`ki2fast.store` archive at ``root`` as
        the part ``part`` (by their own dates), and the quarantined lines into the
        ``hftalert_quarantine`` feed under ``today``; False when there was nothing to write."""
        from ki2fast import store

        wrote = False
        for feed, table in self.tables().items():
            if table.num_rows:
                store.append(root, feed, table, part=part)
                wrote = True
        if self.quarantine:
            bad = pa.Table.from_pylist(self.quarantine)
            store.append(root, "hftalert_quarantine", bad, date=today, part=part)
            wrote = True
        return wrote


class HftAlertTail:
    """Follows a Burst Monitor folder while the client appends to its files (docs/feeds.md §3, §4).

    Each :meth:`poll` reads the lines completed since the last one in the day's hft1 files
    (``hft1_glob``), the daily burst files (``Data_Burst/YYYYMMDD.csv`` and
    ``Data_Burst YYYYMMDD.csv``) and the symbol files of the bursts read so far, and returns
    the new rows (:class:`HftAlertPoll`). A line still being written waits for its end.

    - **Join.** A burst whose symbol file is not there yet is ``pending``; when the file shows
      up it is ``joined`` (``late_joined`` after ``missing``), and its lines are read as the
      file grows. After ``symbols_wait`` seconds without the file the burst is ``missing``.
      Each change is a new ``burst_join_status`` row.
    - **Duplicates** (docs/feeds.md §4.7): a burst is keyed by ``(file_date, event time)``:
      a repeat is dropped, and a repeat with other values is quarantined. A symbol is keyed by
      ``(file_date, event time, symbol)``. An hft1 line is keyed by its bytes and occurrence
      number in the file, so a line written twice gives two rows, and a file that was replaced
      and is read again from the start gives none twice.
    - **Resume.** :meth:`commit` saves where every file stands, the keys seen and the burst
      join states in ``state_dir``, atomically. Call it once what the rows became is durable;
      after a crash (even ``kill -9``) a new tail on the same ``state_dir`` goes on from the
      last commit, and the repeats of lines read after it are dropped.
    - **Day end.** A day's files are read until ``finalize_after`` seconds after the day
      ended (in ``tz``); then they are retired, a last line left unfinished is quarantined as
      ``partial_final``, and the day's state is dropped.

    ``clock`` gives the time in seconds since the epoch (for tests that move time on).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        state_dir: str | os.PathLike[str] | None = None,
        *,
        hft1_glob: str = "hft1*.csv",
        symbols_dir: str = "Data_Burst_Symbols",
        burst_columns: Sequence[str] = BURST_COLUMNS,
        header: Header = "auto",
        time_format: TimeFormat = "auto",
        symbols_wait: float = 300.0,
        max_pending: int = 100_000,
        finalize_after: float = 900.0,
        tz: str = DEFAULT_TZ,
        clock: Callable[[], float] = time.time,
    ):
        self.root = Path(root)
        self.hft1_glob = hft1_glob
        self.symbols_dir = self.root / symbols_dir
        self.burst_columns = burst_columns
        self.header: Header = header
        self.time_format: TimeFormat = time_format
        self.symbols_wait = symbols_wait
        self.max_pending = max_pending
        self.tz = tz
        self.zone = ZoneInfo(tz)
        self.clock = clock
        self.files = FileSet(state_dir, clock=clock, finalize_after=finalize_after, tz=tz)
        #: Bursts not yet retired, by "YYYYMMDD HHMMSS" (saved with the checkpoints).
        self.events: dict[str, dict[str, Any]] = self.files.extra.setdefault("events", {})
        #: Anything the caller wants saved atomically with the checkpoints.
        self.user: dict[str, Any] = self.files.extra.setdefault("user", {})
        self._csv: dict[str, _Csv] = {}
        self._counts: dict[str, Counter[bytes]] = {}
        self._undated: set[str] = set()

    def _follow(
        self, path: Path, day: dt.date, default: Sequence[str], header: Header
    ) -> _Csv | None:
        key = str(path)
        tail = self.files.follow(path, day.strftime("%Y%m%d"))
        if tail is None:
            return None
        csv = self._csv.get(key)
        if csv is None:
            layout = self.files.meta[key].setdefault("layout", {})
            csv = self._csv[key] = _Csv(tail, default, header, False, layout)
        return csv

    def _retire(self, path: Path, out: HftAlertPoll, remember: bool = True) -> None:
        csv = self._csv.pop(str(path), None)
        if csv is not None:
            # Its bad lines go with this poll: the reader that holds them is dropped here.
            out.quarantine.extend(csv.bad)
            csv.bad.clear()
        self._counts.pop(str(path), None)
        held = self.files.retire(path, remember)
        if held and csv is not None:
            out.quarantine.append(
                {
                    "file": str(path),
                    "gen": csv.tail.gen,
                    "line": csv.tail.line_no + 1,
                    "offset": csv.tail.offset,
                    "reason": "partial_final",
                    "raw": "",
                }
            )

    def _line_counts(self, csv: _Csv) -> Counter[bytes]:
        """Occurrences of each line (by hash) in the file's generation so far. A tail resumed
        from a checkpoint counts the lines before it again, from the file's bytes."""
        counts = self._counts.get(csv.path)
        if counts is None:
            counts = self._counts[csv.path] = Counter()
            if csv.tail.offset:
                with open(csv.tail.path, "rb") as f:
                    head = f.read(csv.tail.offset)
                for raw in head.removeprefix(BOM).split(b"\n"):
                    raw = raw.removesuffix(b"\r")
                    if raw.strip() and len(raw) <= MAX_CSV_LINE:
                        counts[hashlib.sha256(raw).digest()[:12]] += 1
        return counts

    def poll(self) -> HftAlertPoll:
        """The rows added since the last poll."""
        hft1: list[pa.Table] = [_table(HFT1_SCHEMA, [], self.tz)]
        bursts: list[tuple[object, ...]] = []
        symbols: list[tuple[object, ...]] = []
        status: list[tuple[object, ...]] = []
        out = HftAlertPoll(*(_table(s, [], self.tz) for s in _SCHEMAS))
        now_ns = int(self.clock() * 1e9)

        for path in sorted(self.root.glob(self.hft1_glob)):
            day = self._day(path, out)
            csv = self._follow(path, day, HFT1_COLUMNS, self.header) if day else None
            if day is None or csv is None:
                continue
            hft1.append(self._poll_hft1(csv, day, out))
            if self.files.day_over(f"{day:%Y%m%d}"):
                self._retire(path, out)

        for path in self._burst_files():
            day = self._day(path, out)
            csv = self._follow(path, day, self.burst_columns, self.header) if day else None
            if day is None or csv is None:
                continue
            self._poll_bursts(csv, day, bursts, out)
            if self.files.day_over(f"{day:%Y%m%d}"):
                self._retire(path, out)

        self._join(symbols, status, out, now_ns)

        for stamp, event in list(self.events.items()):
            if self.files.day_over(stamp[:8]):
                if event["status"] in ("new", "pending"):
                    status.append(self._status(stamp, "missing", None, now_ns))
                if event["file"] is not None:  # found through its burst, not by a glob
                    self._retire(Path(event["file"]), out, remember=False)
                del self.events[stamp]
        for day_text in list(self.files.logs):
            if self.files.day_over(day_text):
                self.files.drop_day(day_text)

        out.hft1_reports = pa.concat_tables(hft1)
        out.burst_events = _table(BURST_SCHEMA, bursts, self.tz)
        out.burst_symbols = _table(SYMBOLS_SCHEMA, symbols, self.tz)
        out.burst_join_status = _table(JOIN_SCHEMA, status, self.tz)
        for csv in self._csv.values():
            out.quarantine.extend(csv.bad)
            csv.bad.clear()
        return out

    def _poll_hft1(self, csv: _Csv, day: dt.date, out: HftAlertPoll) -> pa.Table:
        """New hft1 rows; a line is new unless its (bytes, occurrence) key was seen."""
        counts = self._line_counts(csv)
        lines = csv.take_block()
        if csv.layout.get("counted_gen") != csv.tail.gen:  # a new generation: count anew
            counts.clear()
            csv.layout["counted_gen"] = csv.tail.gen
        table = _hft1_table(csv, lines, day, self.tz, self.time_format)
        log = self.files.log(f"{day:%Y%m%d}")
        # Every complete line counts towards its occurrence number, read or not. The key of
        # its row: 12 bytes of the line's SHA-256 and the occurrence number.
        key: dict[int, bytes] = {}
        sha256 = hashlib.sha256
        for raw, offset in zip(lines.raw, lines.offset.tolist(), strict=True):
            digest = sha256(raw).digest()[:12]
            counts[digest] += 1
            key[offset] = digest + counts[digest].to_bytes(4, "little")
        keep = log.add_digests([key[o] for o in table.column("byte_offset").to_pylist()])
        out.duplicates += keep.count(False)
        return table.filter(pa.array(keep, pa.bool_())) if not all(keep) else table

    def _poll_bursts(
        self, csv: _Csv, day: dt.date, rows: list[tuple[object, ...]], out: HftAlertPoll
    ) -> None:
        """New burst rows; a burst time seen before is a duplicate, or, with other values,
        quarantined."""
        row = _burst_row(day, self.zone, csv.path)

        def each(line: Line, f: dict[str, str]) -> None:
            r = row(line, f)
            stamp = f"{day:%Y%m%d} {str(r[2]).zfill(6)}"
            content = hashlib.sha256(repr(r[3:12]).encode()).hexdigest()
            seen = self.events.get(stamp)
            if seen is not None:
                if seen["sha"] != content:
                    reason = f"burst {stamp} seen before with other values"
                    csv.fail(reason, line.number, line.offset, line.raw)
                else:
                    out.duplicates += 1
                return
            rows.append(r)
            self.events[stamp] = {
                "raw": r[2],
                "ts": r[1],
                "sha": content,
                "status": "new",
                "read_at": self.clock(),
                "file": None,
                "count": 0,
            }

        csv.poll(each)

    def _join(
        self,
        symbols: list[tuple[object, ...]],
        status: list[tuple[object, ...]],
        out: HftAlertPoll,
        now_ns: int,
    ) -> None:
        """Pending bursts meet their symbol files; joined ones read what their files gained."""
        pending = [s for s, e in self.events.items() if e["status"] in ("new", "pending")]
        for stamp in pending[: max(len(pending) - self.max_pending, 0)]:
            self.events[stamp]["status"] = "missing"
            status.append(self._status(stamp, "missing", None, now_ns))
        for stamp, event in self.events.items():
            day = dt.datetime.strptime(stamp[:8], "%Y%m%d").date()
            if event["file"] is None:
                found = _symbol_file(self.symbols_dir, day, event["raw"])
                if found is None:
                    if event["status"] == "new":
                        # A burst of a day already over (an import of past files) has
                        # nothing to wait for.
                        new = "missing" if self.files.day_over(stamp[:8]) else "pending"
                        event["status"] = new
                        status.append(self._status(stamp, new, None, now_ns))
                    elif (
                        event["status"] == "pending"
                        and self.clock() - event["read_at"] >= self.symbols_wait
                    ):
                        event["status"] = "missing"
                        status.append(self._status(stamp, "missing", None, now_ns))
                    continue
                event["file"] = str(found)
            csv = self._follow(Path(event["file"]), day, SYMBOL_COLUMNS, "auto")
            if csv is None:
                continue
            added = self._poll_symbols(csv, stamp, event, symbols, out)
            event["count"] += added
            if event["status"] in ("new", "pending", "missing"):
                new = "late_joined" if event["status"] == "missing" else "joined"
                event["status"] = new
                status.append(self._status(stamp, new, event["count"], now_ns))

    def _poll_symbols(
        self,
        csv: _Csv,
        stamp: str,
        event: dict[str, Any],
        rows: list[tuple[object, ...]],
        out: HftAlertPoll,
    ) -> int:
        """New lines of a burst's symbol file; a symbol seen before for the burst is a
        duplicate. The number of new symbols."""
        log = self.files.log(stamp[:8])
        row = _symbol_row(dt.datetime.strptime(stamp[:8], "%Y%m%d").date(), event["ts"], csv.path)
        before = len(rows)

        def each(line: Line, f: dict[str, str]) -> None:
            r = row(line, f)
            if log.add(f"{stamp} {r[2]}"):
                rows.append(r)
            else:
                out.duplicates += 1

        csv.poll(each)
        return len(rows) - before

    def _status(self, stamp: str, state: str, count: int | None, now_ns: int) -> tuple[object, ...]:
        event = self.events[stamp]
        day = dt.datetime.strptime(stamp[:8], "%Y%m%d").date()
        return (day, event["ts"], state, count, now_ns)

    def _burst_files(self) -> list[Path]:
        found = [*self.root.glob("Data_Burst/*.csv"), *self.root.glob("Data_Burst *.csv")]
        return sorted(p for p in found if p.is_file())

    def _day(self, path: Path, out: HftAlertPoll) -> dt.date | None:
        try:
            return _file_date(path, None)
        except ValueError as e:
            if str(path) not in self._undated:
                self._undated.add(str(path))
                out.quarantine.append(
                    {
                        "file": str(path),
                        "gen": 0,
                        "line": 0,
                        "offset": 0,
                        "reason": str(e),
                        "raw": "",
                    }
                )
            return None

    def commit(self) -> None:
        """Saves where every file stands, the keys seen and the join states (atomically).
        Call it after the rows of the polls so far are durable."""
        self.files.commit()

    def archive(
        self, root: str | os.PathLike[str], name: str = "hftalert", *, strict: bool = False
    ) -> HftAlertPoll:
        """One poll into the :mod:`ki2fast.store` archive at ``root``, then a commit; the
        poll's rows back. ``strict``: a poll with a quarantined line raises
        :class:`FeedFileError` for the first, and nothing of it is stored or committed; the
        tail is then spent, and a new one on the same ``state_dir`` reads those lines again.

        Each poll's rows are written as the part ``{name}-{poll number}``, the number saved
        with the checkpoints. A crash after the write and before the commit repeats the poll
        from the same checkpoint under the same part name, and that write replaces the first:
        nothing is stored twice. Quarantined lines go to the ``hftalert_quarantine`` feed.
        """
        seq = int(self.user.get("part_seq", 0))
        polled = self.poll()
        if strict and polled.quarantine:
            raise polled.first_error()
        today = dt.datetime.fromtimestamp(self.clock(), self.zone).date()
        wrote = polled.store(root, f"{name}-{seq:09d}", today)
        if wrote:
            self.user["part_seq"] = seq + 1
        self.commit()
        return polled


#: The activity record of docs/detection.md §2, as hft1 rows fill it.
ACTIVITY_SCHEMA = pa.schema(
    [
        ("symbol", pa.dictionary(pa.uint16(), pa.string())),
        ("locate", pa.uint16()),
        ("window_start", pa.timestamp("ns", tz=DEFAULT_TZ)),
        ("window_ns", pa.int64()),
        ("num_quotes", pa.uint32()),
        ("num_adds", pa.uint32()),
        ("num_cancels", pa.uint32()),
        ("num_deletes", pa.uint32()),
        ("num_replaces", pa.uint32()),
        ("num_bbo", pa.uint32()),
        ("num_trades", pa.uint32()),
        ("shares", pa.uint64()),
        ("dollars", pa.float64()),
        ("trade_size", pa.float64()),
        ("buy_aggr_shares", pa.uint64()),
        ("sell_aggr_shares", pa.uint64()),
    ]
)


def hft1_activity(hft1: pa.Table, *, window: str = "1s") -> pa.Table:
    """hft1 reports as activity records (docs/detection.md §2), for the stuffing and
    program-burst detectors: ``num_quotes`` ← NumQuotes, ``num_bbo`` ← BBO,
    ``num_trades`` ← NumTrades, ``dollars`` ← Dollars, one row per (symbol, window) with the
    reports of a window summed.

    The Burst Monitor does not document how long a report's interval is; a report counts in
    the ``window`` (default one second) its time falls in. What hft1 does not carry (adds,
    cancels, deletes, replaces, shares, aggressor shares, locate) is null.
    """
    import polars as pl

    ns = _window_ns(window)
    frame = pl.from_arrow(
        hft1.select(["symbol", "event_ts", "num_quotes", "bbo", "num_trades", "dollars"])
    )
    assert isinstance(frame, pl.DataFrame)
    frame = (
        frame.with_columns(
            symbol=pl.col("symbol").cast(pl.String),
            window_start=pl.col("event_ts").cast(pl.Datetime("ns", DEFAULT_TZ)).dt.truncate(window),
        )
        .group_by(["symbol", "window_start"], maintain_order=True)
        .agg(
            num_quotes=pl.col("num_quotes").sum(),
            num_bbo=pl.col("bbo").sum(),
            num_trades=pl.col("num_trades").sum(),
            dollars=pl.col("dollars").sum().cast(pl.Float64),
        )
        .sort(["window_start", "symbol"], maintain_order=True)
        .with_columns(
            trade_size=pl.when(pl.col("num_trades") != 0).then(
                pl.col("dollars") / pl.col("num_trades").cast(pl.Float64)
            )
        )
    )
    negative = frame.filter(pl.min_horizontal("num_quotes", "num_bbo", "num_trades") < 0)
    if negative.height:
        raise ValueError(
            f"hft1 counts below zero for {negative['symbol'][0]} at "
            f"{negative['window_start'][0]}: not activity counts"
        )
    n = frame.height
    columns: dict[str, pa.Array] = {
        "symbol": pa.array(frame["symbol"].to_list(), pa.string()).dictionary_encode(),
        "locate": pa.nulls(n, pa.uint16()),
        "window_start": frame["window_start"].to_arrow(),
        "window_ns": pa.array([ns] * n, pa.int64()),
        "num_quotes": frame["num_quotes"].to_arrow(),
        "num_adds": pa.nulls(n, pa.uint32()),
        "num_cancels": pa.nulls(n, pa.uint32()),
        "num_deletes": pa.nulls(n, pa.uint32()),
        "num_replaces": pa.nulls(n, pa.uint32()),
        "num_bbo": frame["num_bbo"].to_arrow(),
        "num_trades": frame["num_trades"].to_arrow(),
        "shares": pa.nulls(n, pa.uint64()),
        "dollars": frame["dollars"].to_arrow(),
        "trade_size": frame["trade_size"].to_arrow(),
        "buy_aggr_shares": pa.nulls(n, pa.uint64()),
        "sell_aggr_shares": pa.nulls(n, pa.uint64()),
    }
    zone = hft1.schema.field("event_ts").type.tz or DEFAULT_TZ
    schema = pa.schema(
        [
            pa.field(f.name, pa.timestamp("ns", tz=zone)) if f.name == "window_start" else f
            for f in ACTIVITY_SCHEMA
        ]
    )
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)


def _window_ns(window: str) -> int:
    m = re.fullmatch(r"([1-9]\d*)(ms|s|m|h)", window)
    if m is None:
        raise ValueError(
            f"window is a positive number and ms, s, m or h (e.g. '1s'), not {window!r}"
        )
    unit = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}[m.group(2)]
    return int(m.group(1)) * unit


#: ``ProgType`` written for each ``prog_type`` (docs/feeds.md §3.3: 1 is a buy program; Burst
#: Monitor dashboards draw every other value as a sell program).
PROG_TYPE_CODES = {"BUY": 1, "SELL": 0, "MIXED": 2, "NONE": 3}


def write_burst_monitor(
    out_dir: str | os.PathLike[str],
    *,
    activity: Any = None,
    bursts: Any = None,
) -> list[Path]:
    """Write activity records and program bursts in the Burst Monitor's own file shapes
    (docs/feeds.md §3.1–3.4), so dashboards built on those files run on ITCH history:

    - ``hft1_YYYYMMDD.csv``: one row per activity record (``kf.quote_activity``, one-second
      windows as the Burst Monitor reports): ``Symbol, 0, HHMMSS, NumQuotes, BBO, NumTrades,
      Dollars,`` with dollars rounded to whole dollars;
    - ``Data_Burst/YYYYMMDD.csv``: one row per program burst (``kf.detect_program_bursts``):
      the start time as unpadded ``HHMMSS``, ``Grade``, ``ProgType`` (``PROG_TYPE_CODES``),
      and 0 in the six columns whose meaning no public source documents;
    - ``Data_Burst_Symbols/Burst_YYYYMMDD_HHMMSS.csv``: each burst's members,
      ``Symbol, NumTrades, NumQuotes, BBO``.

    Lines end in CRLF, as the client writes them. Each file is written whole to a temporary
    name and renamed. Returns the files written; ``read_hft1`` and ``read_data_burst`` read
    them back.
    """
    import polars as pl

    root = Path(out_dir)
    written: list[Path] = []

    def put(path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="ascii", newline="") as f:
            f.write("".join(line + "\r\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        written.append(path)

    def hhmmss(t: dt.datetime) -> int:
        return t.hour * 10_000 + t.minute * 100 + t.second

    if activity is not None:
        a = activity if isinstance(activity, pl.DataFrame) else pl.DataFrame(activity)
        a = a.with_columns(
            _local=pl.col("window_start").dt.convert_time_zone(DEFAULT_TZ),
        ).with_columns(_day=pl.col("_local").dt.date())
        for (day,), part in sorted(a.partition_by("_day", as_dict=True).items()):
            lines = [
                f"{sym},0,{hhmmss(t):06d},{q},{b},{n},{round(d or 0)},"
                for sym, t, q, b, n, d in part.select(
                    pl.col("symbol").cast(pl.String),
                    "_local",
                    pl.col("num_quotes").fill_null(0),
                    pl.col("num_bbo").fill_null(0),
                    pl.col("num_trades").fill_null(0),
                    "dollars",
                ).iter_rows()
            ]
            put(root / f"hft1_{day:%Y%m%d}.csv", lines)
    if bursts is not None:
        b = bursts if isinstance(bursts, pl.DataFrame) else pl.DataFrame(bursts)
        b = b.with_columns(_local=pl.col("start").dt.convert_time_zone(DEFAULT_TZ)).with_columns(
            _day=pl.col("_local").dt.date()
        )
        for (day,), part in sorted(b.partition_by("_day", as_dict=True).items()):
            rows = []
            for row in part.iter_rows(named=True):
                t = hhmmss(row["_local"])
                rows.append(f"{t},{row['grade']},{PROG_TYPE_CODES[row['prog_type']]},0,0,0,0,0,0")
                members = [
                    f"{s['symbol']},{s['num_trades']},{s['num_quotes']},{s['num_bbo']}"
                    for s in row["symbols"] or []
                ]
                put(root / "Data_Burst_Symbols" / f"Burst_{day:%Y%m%d}_{t:06d}.csv", members)
            put(root / "Data_Burst" / f"{day:%Y%m%d}.csv", rows)
    return written
