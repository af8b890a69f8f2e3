"""HFTAlert Burst Monitor files: hft1 reports, daily burst rows and burst symbol files.

The Burst Monitor client writes CSV files that grow during the day (layout: feeds.md §3). The
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
from typing import Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from ki2fast.exceptions import Ki2fastError
from ki2fast.feeds._lines import MAX_CSV_LINE, Line, fields
from ki2fast.feeds.tail import FileTail

__all__ = [
    "BURST_COLUMNS",
    "BURST_COLUMNS_CB_FIRST",
    "HFT1_COLUMNS",
    "SYMBOL_COLUMNS",
    "FeedFileError",
    "UnknownColumnsError",
    "read_burst_symbols",
    "read_data_burst",
    "read_hft1",
]

#: hft1 columns in file order (feeds.md §3.2).
HFT1_COLUMNS = ("Symbol", "T1", "Time", "NumQuotes", "BBO", "NumTrades", "Dollars", "T3")
#: Daily burst columns, the default order (feeds.md §3.3).
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


class FeedFileError(Ki2fastError, ValueError):
    """A line of a feed file that is not what its format expects.

    Attributes
    ----------
    path : str
        The file.
    offset : int
        Byte offset of the line's first byte.
    line : int
        Line number (1-based).
    """

    def __init__(self, message: str, *, path: str, offset: int, line: int):
        super().__init__(f"{path}: line {line} (byte {offset}): {message}")
        self.path = path
        self.offset = offset
        self.line = line


class UnknownColumnsError(FeedFileError):
    """A header row names a column the format does not have."""


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
    """The file's columns and whether its first line is a header (feeds.md §3.3)."""
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


def _int(text: str, bits: int) -> int:
    value = int(text)
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise ValueError(f"{text} does not fit in {bits} bits")
    return value


class _Rows:
    """Parses the complete lines of one file into columns; bad lines raise or are counted."""

    def __init__(self, path: Path, default: Sequence[str], header: Header, strict: bool):
        self.path = str(path)
        path.stat()  # a file that is not there is an error here, unlike in a tail
        tail = FileTail(path)
        lines = tail.poll()
        self.held_back = tail.held_back
        self.end = tail.offset
        first = lines[0] if lines else None
        try:
            names = fields(first) if first is not None else None
        except ValueError:
            names = None
        self.columns, has_header = _layout(first, names, default, header, self.path)
        self.lines = lines[1:] if has_header else lines
        self.strict = strict
        self.bad: list[dict[str, object]] = []
        for number, offset in tail.long_lines:
            self.fail(f"line longer than {MAX_CSV_LINE} bytes", number, offset)

    def fail(self, reason: str, number: int, offset: int) -> None:
        """A bad line: raised when strict, else listed."""
        if self.strict:
            raise FeedFileError(reason, path=self.path, offset=offset, line=number)
        self.bad.append({"file": self.path, "line": number, "offset": offset, "reason": reason})

    def parse(self, each: Callable[[Line, dict[str, str]], None]) -> None:
        width = len(self.columns)
        for line in self.lines:
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
                self.fail(str(e), line.number, line.offset)

    def metadata(self, **extra: object) -> dict[bytes, bytes]:
        meta: dict[str, object] = {
            "source_file": self.path,
            "bytes_read": self.end,
            "held_back_bytes": self.held_back,
            "bad_lines": self.bad,
            **extra,
        }
        return {f"ki2fast.{k}".encode(): json.dumps(v).encode() for k, v in meta.items()}


def _dict(values: list[str]) -> pa.DictionaryArray:
    return pa.array(values, pa.string()).dictionary_encode()


def _source(path: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), pa.array([path]))


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
    """An hft1 file as a table, one row per symbol report (feeds.md §3.2, §3.7).

    The date comes from the file name (its last ``YYYYMMDD``) unless ``date`` is given; each
    row's time is read as ``HHMMSS`` (zero padding optional) or ``hh:mm:ss`` in ``tz``. A last
    line without its line end is held back (the writer may still be on it). ``strict=False``
    skips bad lines and lists them in the table's ``ki2fast.bad_lines`` metadata; otherwise
    the first raises :class:`FeedFileError` with the file, line and byte offset.
    """
    p = Path(path)
    day = _file_date(p, date)
    zone = ZoneInfo(tz)
    rows = _Rows(p, columns, header, strict)
    out: dict[str, list[object]] = {
        k: []
        for k in (
            "event_ts",
            "time_raw",
            "symbol",
            "t1",
            "num_quotes",
            "bbo",
            "num_trades",
            "dollars",
            "t3",
            "trade_size",
            "byte_offset",
            "line_no",
        )
    }

    def each(line: Line, f: dict[str, str]) -> None:
        if not f["Symbol"]:
            raise ValueError("empty Symbol")
        ts = _epoch(day, _seconds_of_day(f["Time"], time_format), zone)
        quotes, bbo, trades = _int(f["NumQuotes"], 32), _int(f["BBO"], 32), _int(f["NumTrades"], 32)
        dollars = _int(f["Dollars"], 64)
        row = (
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
            line.offset,
            line.number,
        )
        for key, value in zip(out, row, strict=True):
            out[key].append(value)

    rows.parse(each)
    n = len(out["symbol"])
    table = pa.table(
        {
            "file_date": pa.array([day] * n, pa.date32()),
            "event_ts": pa.array(out["event_ts"], pa.timestamp("s", tz=tz)),
            "time_raw": pa.array(out["time_raw"], pa.string()),
            "symbol": _dict(out["symbol"]),  # type: ignore[arg-type]
            "t1": pa.array(out["t1"], pa.string()),
            "num_quotes": pa.array(out["num_quotes"], pa.int32()),
            "bbo": pa.array(out["bbo"], pa.int32()),
            "num_trades": pa.array(out["num_trades"], pa.int32()),
            "dollars": pa.array(out["dollars"], pa.int64()),
            "t3": pa.array(out["t3"], pa.string()),
            "trade_size": pa.array(out["trade_size"], pa.float64()),
            "source_file": _source(rows.path, n),
            "byte_offset": pa.array(out["byte_offset"], pa.uint64()),
            "line_no": pa.array(out["line_no"], pa.uint64()),
        }
    )
    return table.replace_schema_metadata(rows.metadata())


def _symbol_rows(
    path: Path, columns: Sequence[str], header: Header, strict: bool
) -> tuple[_Rows, list[tuple[str, int, int, int, int]]]:
    """The rows of a burst symbol file: (symbol, trades, quotes, bbo, byte offset)."""
    rows = _Rows(path, columns, header, strict)
    out: list[tuple[str, int, int, int, int]] = []

    def each(line: Line, f: dict[str, str]) -> None:
        if not f["Symbol"]:
            raise ValueError("empty Symbol")
        out.append(
            (
                f["Symbol"],
                _int(f["NumTrades"], 32),
                _int(f["NumQuotes"], 32),
                _int(f["BBO"], 32),
                line.offset,
            )
        )

    rows.parse(each)
    return rows, out


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
    rows, out = _symbol_rows(p, columns, header, strict)
    n = len(out)
    symbol, trades, quotes, bbo, offset = (
        (list(c) for c in zip(*out, strict=True)) if out else ([], [], [], [], [])
    )
    table = pa.table(
        {
            "file_date": pa.array([day] * n, pa.date32()),
            "event_ts": pa.array([ts] * n, pa.timestamp("s", tz=tz)),
            "symbol": _dict(symbol),  # type: ignore[arg-type]
            "num_trades": pa.array(trades, pa.int32()),
            "num_quotes": pa.array(quotes, pa.int32()),
            "bbo": pa.array(bbo, pa.int32()),
            "source_file": _source(rows.path, n),
            "byte_offset": pa.array(offset, pa.uint64()),
        }
    )
    return table.replace_schema_metadata(rows.metadata())


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
    row per program burst (feeds.md §3.3–3.4).

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
    zone = ZoneInfo(tz)
    rows = _Rows(p, columns, header, strict)
    names = (
        "event_ts",
        "event_time_raw",
        "grade",
        "prog_type",
        "bckgrnd",
        "s1",
        "s2",
        "ct",
        "cs",
        "cb",
        "byte_offset",
    )
    out: dict[str, list[object]] = {k: [] for k in names}

    def each(line: Line, f: dict[str, str]) -> None:
        raw = f["EventTime"]
        ts = _epoch(day, _seconds_of_day(raw, "hhmmss"), zone)
        values = (
            ts,
            raw,
            _int(f["Grade"], 8),
            _int(f["ProgType"], 8),
            *(_int(f[k], 64) for k in ("Bckgrnd", "S1", "S2", "CT", "CS", "CB")),
            line.offset,
        )
        for key, value in zip(names, values, strict=True):
            out[key].append(value)

    rows.parse(each)
    n = len(out["event_ts"])
    order = ",".join(rows.columns)
    data: dict[str, pa.Array | pa.ChunkedArray] = {
        "file_date": pa.array([day] * n, pa.date32()),
        "event_ts": pa.array(out["event_ts"], pa.timestamp("s", tz=tz)),
        "event_time_raw": pa.array(out["event_time_raw"], pa.string()),
        "grade": pa.array(out["grade"], pa.int8()),
        "prog_type": pa.array(out["prog_type"], pa.int8()),
        "is_buy": pa.array([t == 1 for t in out["prog_type"]], pa.bool_()),
        **{k: pa.array(out[k], pa.int64()) for k in ("bckgrnd", "s1", "s2", "ct", "cs", "cb")},
        "column_order": _dict([order] * n),
        "source_file": _source(rows.path, n),
        "byte_offset": pa.array(out["byte_offset"], pa.uint64()),
    }
    extra: dict[str, object] = {"column_order": order}
    folder = Path(symbols_dir) if symbols_dir is not None else _symbols_dir(p)
    if folder is not None:
        lists: list[list[dict[str, object]]] = []
        status: list[str] = []
        missing: list[str] = []
        for raw in out["event_time_raw"]:
            found = _symbol_file(folder, day, str(raw))
            if found is None:
                lists.append([])
                status.append("missing")
                missing.append(str(raw))
                continue
            symbol_file, symbol_rows = _symbol_rows(found, symbol_columns, "auto", strict)
            rows.bad.extend(symbol_file.bad)
            lists.append(
                [
                    {"symbol": s, "num_trades": t, "num_quotes": q, "bbo": b}
                    for s, t, q, b, _ in symbol_rows
                ]
            )
            status.append("joined")
        data["symbols"] = pa.array(lists, pa.list_(SYMBOL_STRUCT))
        data["symbols_status"] = _dict(status)
        extra["symbols_dir"] = str(folder)
        extra["missing_symbol_files"] = missing
    return pa.table(data).replace_schema_metadata(rows.metadata(**extra))


def _symbol_file(folder: Path, day: dt.date, raw: str) -> Path | None:
    """The symbol file of the event at ``raw`` (as written in the daily file): the name with
    the time zero-padded first, then as written (feeds.md §3.4)."""
    stamp = day.strftime("%Y%m%d")
    for t in dict.fromkeys((raw.zfill(6), raw)):
        candidate = folder / f"Burst_{stamp}_{t}.csv"
        if candidate.is_file():
            return candidate
    return None
