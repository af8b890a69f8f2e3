"""Following a Burst Monitor folder while the client writes it: new rows of the four tables
as lines complete, bursts joined with their symbol files, duplicates dropped, bad lines
quarantined, checkpoints that never lose a line (docs/feeds.md §3, §4)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from ki2fast.exceptions import FeedFileError
from ki2fast.feeds._lines import BOM, MAX_CSV_LINE, Line
from ki2fast.feeds.hftalert.files import (
    BURST_COLUMNS,
    BURST_SCHEMA,
    DEFAULT_TZ,
    HFT1_COLUMNS,
    HFT1_SCHEMA,
    JOIN_SCHEMA,
    SCHEMAS,
    SYMBOL_COLUMNS,
    SYMBOLS_SCHEMA,
    Csv,
    Header,
    TimeFormat,
    arrow_table,
    burst_row,
    file_date,
    hft1_table,
    symbol_file,
    symbol_row,
)
from ki2fast.feeds.tail import FileSet

__all__ = ["HftAlertPoll", "HftAlertTail"]


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
        self._csv: dict[str, Csv] = {}
        self._counts: dict[str, Counter[bytes]] = {}
        self._undated: set[str] = set()

    def _follow(
        self, path: Path, day: dt.date, default: Sequence[str], header: Header
    ) -> Csv | None:
        key = str(path)
        tail = self.files.follow(path, day.strftime("%Y%m%d"))
        if tail is None:
            return None
        csv = self._csv.get(key)
        if csv is None:
            layout = self.files.meta[key].setdefault("layout", {})
            csv = self._csv[key] = Csv(tail, default, header, False, layout)
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

    def _line_counts(self, csv: Csv) -> Counter[bytes]:
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
        hft1: list[pa.Table] = [arrow_table(HFT1_SCHEMA, [], self.tz)]
        bursts: list[tuple[object, ...]] = []
        symbols: list[tuple[object, ...]] = []
        status: list[tuple[object, ...]] = []
        out = HftAlertPoll(*(arrow_table(s, [], self.tz) for s in SCHEMAS))
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
        out.burst_events = arrow_table(BURST_SCHEMA, bursts, self.tz)
        out.burst_symbols = arrow_table(SYMBOLS_SCHEMA, symbols, self.tz)
        out.burst_join_status = arrow_table(JOIN_SCHEMA, status, self.tz)
        for csv in self._csv.values():
            out.quarantine.extend(csv.bad)
            csv.bad.clear()
        return out

    def _poll_hft1(self, csv: Csv, day: dt.date, out: HftAlertPoll) -> pa.Table:
        """New hft1 rows; a line is new unless its (bytes, occurrence) key was seen."""
        counts = self._line_counts(csv)
        lines = csv.take_block()
        if csv.layout.get("counted_gen") != csv.tail.gen:  # a new generation: count anew
            counts.clear()
            csv.layout["counted_gen"] = csv.tail.gen
        table = hft1_table(csv, lines, day, self.tz, self.time_format)
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
        self, csv: Csv, day: dt.date, rows: list[tuple[object, ...]], out: HftAlertPoll
    ) -> None:
        """New burst rows; a burst time seen before is a duplicate, or, with other values,
        quarantined."""
        row = burst_row(day, self.zone, csv.path)

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
                found = symbol_file(self.symbols_dir, day, event["raw"])
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
        csv: Csv,
        stamp: str,
        event: dict[str, Any],
        rows: list[tuple[object, ...]],
        out: HftAlertPoll,
    ) -> int:
        """New lines of a burst's symbol file; a symbol seen before for the burst is a
        duplicate. The number of new symbols."""
        log = self.files.log(stamp[:8])
        row = symbol_row(dt.datetime.strptime(stamp[:8], "%Y%m%d").date(), event["ts"], csv.path)
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
            return file_date(path, None)
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
