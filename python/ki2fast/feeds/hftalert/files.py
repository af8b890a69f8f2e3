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
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from ki2fast.exceptions import FeedFileError, UnknownColumnsError
from ki2fast.feeds._lines import MAX_CSV_LINE, Line, LineBlock, fields
from ki2fast.feeds.tail import FileTail

__all__ = [
    "BURST_COLUMNS",
    "BURST_COLUMNS_CB_FIRST",
    "BURST_SCHEMA",
    "HFT1_COLUMNS",
    "HFT1_SCHEMA",
    "JOIN_SCHEMA",
    "SYMBOLS_SCHEMA",
    "SYMBOL_COLUMNS",
    "FeedFileError",
    "UnknownColumnsError",
    "read_burst_symbols",
    "read_data_burst",
    "read_hft1",
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


def file_date(path: Path, date: dt.date | str | None) -> dt.date:
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


class Csv:
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
) -> Csv:
    """A whole file as it is now: every data line to ``each``; the parsed file (its bad lines,
    where reading stopped) back."""
    path.stat()  # a file that is not there is an error here, unlike in a tail
    csv = Csv(FileTail(path), default, header, strict)
    csv.poll(each)
    return csv


def _metadata(csv: Csv, **extra: object) -> dict[bytes, bytes]:
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


SCHEMAS = (HFT1_SCHEMA, BURST_SCHEMA, SYMBOLS_SCHEMA, JOIN_SCHEMA)


def arrow_table(schema: pa.Schema, rows: Sequence[Sequence[object]], tz: str) -> pa.Table:
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


def hft1_table(
    csv: Csv, lines: LineBlock, day: dt.date, tz: str, time_format: TimeFormat
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
        return arrow_table(HFT1_SCHEMA, [], tz)
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
        fast = arrow_table(HFT1_SCHEMA, [], tz)
    fast_rows = np.zeros(len(lines), bool)
    fast_rows[index] = True
    slow_lines = [lines.line(i) for i in np.flatnonzero(~fast_rows).tolist()]
    if not slow_lines:
        return fast.cast(arrow_table(HFT1_SCHEMA, [], tz).schema)
    slow: list[tuple[object, ...]] = []
    csv.parse(slow_lines, lambda line, fl: slow.append(row(line, fl)))
    both = pa.concat_tables(
        [fast.cast(arrow_table(HFT1_SCHEMA, [], tz).schema), arrow_table(HFT1_SCHEMA, slow, tz)]
    )
    return both.take(pc.sort_indices(both, [("byte_offset", "ascending")])).combine_chunks()


def burst_row(
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


def symbol_row(
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
    day = file_date(p, date)
    p.stat()  # a file that is not there is an error here, unlike in a tail
    csv = Csv(FileTail(p), columns, header, strict)
    table = hft1_table(csv, csv.take_block(), day, tz, time_format)
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
    day = file_date(p, m.group(1))
    ts = _epoch(day, _seconds_of_day(m.group(2), "hhmmss"), ZoneInfo(tz))
    row = symbol_row(day, ts, str(p))
    out: list[tuple[object, ...]] = []
    csv = _read_file(p, columns, header, strict, lambda line, f: out.append(row(line, f)))
    return arrow_table(SYMBOLS_SCHEMA, out, tz).replace_schema_metadata(_metadata(csv))


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
    day = file_date(p, date)
    row = burst_row(day, ZoneInfo(tz), str(p))
    out: list[tuple[object, ...]] = []
    csv = _read_file(p, columns, header, strict, lambda line, f: out.append(row(line, f)))
    table = arrow_table(BURST_SCHEMA, out, tz)
    order = ",".join(csv.columns)
    extra: dict[str, object] = {"column_order": order}
    folder = Path(symbols_dir) if symbols_dir is not None else _symbols_dir(p)
    if folder is not None:
        lists: list[list[dict[str, object]]] = []
        status: list[str] = []
        missing: list[str] = []
        for raw in table.column("event_time_raw").to_pylist():
            found = symbol_file(folder, day, raw)
            if found is None:
                lists.append([])
                status.append("missing")
                missing.append(raw)
                continue
            symbols: list[dict[str, object]] = []

            def each(
                line: Line, f: dict[str, str], into: list[dict[str, object]] = symbols
            ) -> None:
                _, _, symbol, trades, quotes, bbo, *_ = symbol_row(day, 0, "")(line, f)
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


def symbol_file(folder: Path, day: dt.date, raw: str) -> Path | None:
    """The symbol file of the event at ``raw`` (as written in the daily file): the name with
    the time zero-padded first, then as written (docs/feeds.md §3.4)."""
    stamp = day.strftime("%Y%m%d")
    for t in dict.fromkeys((raw.zfill(6), raw)):
        candidate = folder / f"Burst_{stamp}_{t}.csv"
        if candidate.is_file():
            return candidate
    return None
