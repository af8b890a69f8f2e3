"""Level-one Arrow batches from the Schwab streamer journal while it grows (docs/feeds.md §0).

:class:`LiveLevelOne` tails ``journal/schwab/<YYYYMMDD>/streamer.<part>.ndjson`` under a
capture root, complete lines only, and every ``batch_lines`` lines or ``batch_ms``
milliseconds decodes what came with ``read_levelone``. Each batch goes to the daily archive
(``ki2fast.store``), to a ``BurstMonitor`` and to a callback.

The batches, put together, are exactly what ``read_levelone`` gives for the whole journal
day: each journal day has one ``LevelOneDecoder`` (the Rust core's stateful decoder), which
carries every symbol's state, the connection epoch and the line count from batch to batch,
so ``frame_seq`` and ``conn_epoch`` are the day's.

Archive parts are named ``streamer-<YYYYMMDD>-<first line>-<last line>`` (ten digits each),
written every ``archive_every`` seconds; after each write a checkpoint
(``<archive>/checkpoints/journal-schwab-streamer.json``, written atomically once the parts
are on disk) records the day's last archived line. A restart resumes after it,
first removing parts written after it (a crash between the parts and the checkpoint), so
the archive never holds a line twice and misses none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from ki2fast.exceptions import CaptureLineError
from ki2fast.feeds.journal import gaps_table, journal_parts
from ki2fast.feeds.schwab.levelone import LevelOneDecoder
from ki2fast.feeds.tail import MAX_JOURNAL_LINE, Checkpoint, FileTail

__all__ = ["LiveBatch", "LiveLevelOne", "archive_journal"]

_DAY = re.compile(r"^\d{8}$")


@dataclasses.dataclass
class _Day:
    """Where the tail is in one journal day."""

    name: str
    done_to: int = 0  # lines up to here were decoded before: carried, not decoded again
    part: int = -1
    #: The part being read (the tail every follower of a growing file uses).
    tail: FileTail | None = None
    lines: int = 0  # complete lines read so far (the day's line numbers)
    decoder: LevelOneDecoder = dataclasses.field(default_factory=LevelOneDecoder)


@dataclasses.dataclass
class LiveBatch:
    """One decoded batch: its journal day (``YYYYMMDD``), its first and last line in the
    day's parts, the ``LevelOne`` tables (book rows included), and the monitor's alerts
    (None without one)."""

    day: str
    first_line: int
    last_line: int
    #: The level-one tables (a ``ki2fast.feeds.schwab.levelone.LevelOne``).
    data: Any
    #: Outages the streamer recorded in these lines (``gaps``: source, channel, start, end,
    #: cause, epoch).
    gaps: pa.Table | None = None
    alerts: Any = None

    @property
    def books(self) -> pa.Table:
        """The book services' rows (``schwab_book_levels``, docs/feeds.md §1.10)."""
        return self.data.books

    def archive_tables(self) -> dict[str, pa.Table]:
        """The tables the archive stores, by feed name."""
        tables = self.data.archive_tables()
        if self.gaps is not None and self.gaps.num_rows:
            tables["gaps"] = self.gaps
        return tables


class LiveLevelOne:
    """Decodes the Schwab streamer journal under ``root`` in batches while it grows.

    - ``archive``: store the batches' level-one tables there (``LevelOne.archive_tables``;
      the batches of ``archive_every`` seconds, or ``archive_rows`` rows, in one part per
      table, so a day is not thousands of small files) and resume after the last archived
      line; without it, only lines journaled after the start are decoded.
    - ``monitor``: a ``ki2fast.BurstMonitor`` fed each batch's equity quotes and trades; its
      alerts go to its own ``on_alert`` and to ``on_alerts``.
    - ``on_batch``: called with each :class:`LiveBatch`.

    :meth:`poll` reads what is new and decodes it when ``batch_lines`` lines wait or the
    oldest waited ``batch_ms``; :meth:`finish` decodes all that waits; :meth:`run` polls
    from an asyncio task.

    >>> import tempfile
    >>> from ki2fast.feeds.journal import Journal
    >>> frame = ('{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312345,'
    ...          '"content":[{"key":"QQQ","1":481.22,"2":481.25}]}]}')
    >>> delta = ('{"data":[{"service":"LEVELONE_EQUITIES","timestamp":1741959312400,'
    ...          '"content":[{"key":"QQQ","2":481.26}]}]}')
    >>> with tempfile.TemporaryDirectory() as root:
    ...     live = LiveLevelOne(root, batch_lines=1)
    ...     with Journal(root, "schwab", "streamer", durability="os") as j:
    ...         _ = j.text(frame, epoch=1)
    ...         first = live.poll()
    ...         _ = j.text(delta, epoch=1)
    ...         second = live.poll()
    >>> [(b.first_line, b.data.quotes.column("bid").to_pylist()) for b in first + second]
    [(1, [481.22]), (2, [481.22])]
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        archive: str | os.PathLike[str] | None = None,
        monitor: Any = None,
        on_batch: Callable[[Any], None] | None = None,
        on_alerts: Callable[[Any], None] | None = None,
        batch_lines: int = 10_000,
        batch_ms: float = 1000.0,
        archive_every: float = 60.0,
        archive_rows: int = 500_000,
        chan: str = "streamer",
        clock: Callable[[], float] = time.monotonic,
        max_read: int = 8 << 20,
    ):
        if batch_lines < 1 or not batch_ms > 0:
            raise ValueError("batch_lines must be at least 1 and batch_ms positive")
        self.base = Path(root) / "journal" / "schwab"
        self.archive = None if archive is None else Path(archive)
        self.monitor = monitor
        self.on_batch, self.on_alerts = on_batch, on_alerts
        self.batch_lines, self.batch_ms = batch_lines, batch_ms
        #: Bytes of journal read per poll at most; ``behind`` says the last poll hit it.
        self.max_read = max_read
        self.behind = False
        self.chan = chan
        self.clock = clock
        #: Rows stored per archive table; batches and journal lines decoded so far.
        self.stored: dict[str, int] = {}
        self.batches = 0
        self.lines = 0
        #: The archive's days (ET) this decoder wrote to.
        self.dates: set[dt.date] = set()
        self.archive_every = archive_every
        #: Decoded, not yet archived: (journal day, first line, last line, tables).
        self._unarchived: list[tuple[str, int, int, dict[str, pa.Table]]] = []
        self._unarchived_rows = 0
        self.archive_rows = archive_rows
        self._archived_at = clock()
        self._pending: list[bytes] = []
        self._pending_day: _Day | None = None
        self._replay = False
        self._first_line = 0
        self._since: float | None = None
        self._day: _Day | None = None
        self._checkpoint = (
            None
            if self.archive is None
            else self.archive / "checkpoints" / f"journal-schwab-{chan}.json"
        )
        #: Journal part (relative path) → its first bytes' length and hash, as read.
        self._heads: dict[str, tuple[int, str]] = {}
        self._done = self._read_checkpoint()
        self._skip = self._lines_now() if self.archive is None else {}

    # -- where to start --------------------------------------------------------------------

    def _days(self) -> list[str]:
        if not self.base.is_dir():
            return []
        return sorted(p.name for p in self.base.iterdir() if p.is_dir() and _DAY.match(p.name))

    def _read_checkpoint(self) -> dict[str, int]:
        if self._checkpoint is None:
            return {}
        tmp = self._checkpoint.with_name(self._checkpoint.name + ".tmp")
        tmp.unlink(missing_ok=True)  # a crash while writing it: the one before stands
        try:
            got = json.loads(self._checkpoint.read_bytes())
        except FileNotFoundError:
            return {}
        # Each part's first bytes as the runs before saw them (checked when it is read again).
        self._heads = {str(k): (int(n), str(h)) for k, (n, h) in got.get("heads", {}).items()}
        return {str(k): int(v) for k, v in got.get("days", {}).items()}

    def _write_checkpoint(self) -> None:
        from ki2fast._files import write_atomic

        assert self._checkpoint is not None
        self._checkpoint.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "v": 1,
            "src": "schwab",
            "chan": self.chan,
            "days": self._done,
            "heads": self._heads,
        }
        write_atomic(self._checkpoint, json.dumps(body, sort_keys=True).encode())

    def _drop_orphans(self, day: str, after: int) -> None:
        """Removes this day's parts that start after line ``after``: written, but not yet
        covered by the checkpoint when the process stopped (their lines come again)."""
        assert self.archive is not None
        name = re.compile(rf"^{re.escape(self.chan)}-{day}-(\d+)-(\d+)\.parquet$")
        for path in self.archive.glob(f"feed=schwab_*/date=*/{self.chan}-{day}-*.parquet"):
            m = name.match(path.name)
            if m and int(m[1]) > after:
                path.unlink()

    def _open_day(self, name: str) -> _Day:
        if self.archive is not None:
            done = self._done.get(name, 0)
            self._drop_orphans(name, done)
        else:
            done = self._skip.get(name, 0)
        return _Day(name, done)

    def _lines_now(self) -> dict[str, int]:
        """The newest journal day and its complete lines now (without an archive, what
        was journaled before the start is not decoded; it only sets the state)."""
        days = self._days()
        if not days:
            return {}
        parts = journal_parts(self.base / days[-1], self.chan)
        return {days[-1]: sum(_count_lines(p) for _, p in parts)}

    # -- reading ---------------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.base).as_posix()

    def _tail(self, path: Path) -> FileTail:
        """A tail on a journal part from its first line. A part an earlier run read must
        still start with the bytes it read then (wherever the folder now is: the file's
        identity is not compared), else reading it stops the decoder."""
        head = self._heads.get(self._rel(path))
        if head is None:
            return FileTail(path, max_line=MAX_JOURNAL_LINE)
        seen = Checkpoint(str(path), 0, "", head[0], head[1], byte_offset=0, line_no=0)
        return FileTail(path, max_line=MAX_JOURNAL_LINE, resume=seen)

    def _read(self) -> list[tuple[_Day, list[bytes]]]:
        """New complete lines, by journal day. A day is left once a later one exists and
        its parts are read to their last line end (bytes after it in a part that is not the
        newest are a torn tail: a writer killed mid-record)."""
        out: list[tuple[_Day, list[bytes]]] = []
        if self._day is None:
            days = self._days()
            if self.archive is not None:
                archived = [d for d in days if d in self._done]
                days = days[days.index(archived[-1]) :] if archived else days
            else:
                days = [d for d in days if d >= min(self._skip, default="")]
            if not days:
                return out
            self._day = self._open_day(days[0])
        budget = self.max_read
        self.behind = False
        while True:
            day = self._day
            later = [d for d in self._days() if d > day.name]
            got: list[bytes] = []
            for number, path in journal_parts(self.base / day.name, self.chan):
                if number < day.part:
                    continue
                if number > day.part or day.tail is None:
                    day.part, day.tail = number, self._tail(path)
                at, line = day.tail.offset, day.tail.line_no
                lines, full = day.tail.poll_raw(budget)
                if day.tail.gen:
                    # Its lines would be decoded twice, or numbered wrongly: stop.
                    raise CaptureLineError(
                        "journal part shrank or was replaced after this line was decoded",
                        path=str(path),
                        offset=at,
                        line=line,
                    )
                got += lines
                budget -= day.tail.offset - at
                if self.archive is not None and day.tail.offset > at:
                    cp = day.tail.snapshot()
                    self._heads[self._rel(path)] = (cp.head_len, cp.head_hash)
                del lines
                if full or budget <= 0:
                    # Behind the writer: the rest on the next poll, so memory stays bounded.
                    self.behind = True
                    break
            if got:
                out.append((day, got))
            if not later or self.behind:
                return out
            self._day = self._open_day(later[0])

    def poll(self, *, final: bool = False) -> list[LiveBatch]:
        """Reads what the journal gained and decodes it if a batch is due (with ``final``,
        whatever waits); returns the batches decoded (:class:`LiveBatch`)."""
        done: list[LiveBatch] = []
        for day, lines in self._read():
            if self._pending and self._pending_day is not day:
                done += self._flush()  # a batch never spans two journal days
            at = 0
            while at < len(lines):
                replay = day.lines < day.done_to
                if self._pending and replay != self._replay:
                    done += self._flush()  # decoded before: state only, never output
                if not self._pending:
                    self._since = self.clock()
                    self._pending_day, self._first_line = day, day.lines + 1
                    self._replay = replay
                room = self.batch_lines - len(self._pending)
                if replay:
                    room = min(room, day.done_to - day.lines)
                take = lines[at : at + room]
                self._pending += take
                day.lines += len(take)
                at += len(take)
                if len(self._pending) >= self.batch_lines:
                    done += self._flush()
        waited = self._since is not None and (self.clock() - self._since) * 1000 >= self.batch_ms
        if self._pending and (final or waited):
            done += self._flush()
        return done

    # -- decoding --------------------------------------------------------------------------

    def _flush(self) -> list[LiveBatch]:
        lines, self._pending, self._since = self._pending, [], None
        day, first = self._pending_day, self._first_line
        assert day is not None and day.decoder.lines == first - 1
        data = b"\n".join(lines) + b"\n"
        got = day.decoder.push(data)
        if self._replay:
            return []  # decoded before: it only set the state
        last = first + len(lines) - 1
        self.lines += len(lines)
        self.batches += 1
        gaps = None
        if got.gap_notes:
            notes = [n | {"source": "schwab", "channel": self.chan} for n in got.gap_notes]
            gaps = gaps_table(notes)
        batch = LiveBatch(day.name, first, last, got, gaps)
        if self.archive is not None:
            # Only what the archive takes is held until it is written.
            tables = batch.archive_tables()
            self._unarchived.append((day.name, first, last, tables))
            self._unarchived_rows += sum(t.num_rows for t in tables.values())
            due = self.clock() - self._archived_at >= self.archive_every
            if due or self._unarchived_rows >= self.archive_rows:
                self._store()
        if self.monitor is not None and (got.quotes.num_rows or got.trades.num_rows):
            batch.alerts = self.monitor.update(got.quotes, trades=got.trades)
            if batch.alerts and self.on_alerts is not None:
                self.on_alerts(batch.alerts)
        if self.on_batch is not None:
            self.on_batch(batch)
        return [batch]

    def _store(self) -> None:
        """Writes the decoded batches not yet in the archive, one part per journal day, then
        the checkpoint (so it never covers a line whose rows are not on disk)."""
        from ki2fast import store

        assert self.archive is not None
        todo, self._unarchived, self._unarchived_rows = self._unarchived, [], 0
        self._archived_at = self.clock()
        while todo:
            day = todo[0][0]
            run = [b for b in todo if b[0] == day]
            todo = todo[len(run) :]
            first, last = run[0][1], run[-1][2]
            tables: dict[str, list[pa.Table]] = {}
            for *_, got in run:
                for feed, t in got.items():
                    tables.setdefault(feed, []).append(t)
            part = f"{self.chan}-{day}-{first:010d}-{last:010d}"
            merged = {feed: pa.concat_tables(ts) for feed, ts in tables.items()}
            for feed, n in store.append_tables(self.archive, merged, part=part).items():
                self.stored[feed] = self.stored.get(feed, 0) + n
                self.dates.update(store.table_dates(merged[feed]))
            self._done[day] = last
            self._write_checkpoint()

    def finish(self) -> Any:
        """Decodes all that waits and archives it; returns the monitor's last alerts (its
        ``finish()``)."""
        self.poll(final=True)
        while self.behind:
            self.poll(final=True)
        if self._unarchived:
            self._store()
        if self.monitor is None:
            return None
        alerts = self.monitor.finish()
        if alerts and self.on_alerts is not None:
            self.on_alerts(alerts)
        return alerts

    async def run(self, stop: Any, *, tick: float | None = None) -> None:
        """Polls (in a worker thread of its own, so the socket reader never waits on
        decoding) until the ``asyncio.Event`` ``stop`` is set, then decodes what is left."""
        import asyncio
        import contextlib
        from concurrent.futures import ThreadPoolExecutor

        every = tick if tick is not None else min(self.batch_ms / 1000 / 4, 0.25)
        loop = asyncio.get_running_loop()
        # One thread for every poll: the allocators' per-thread caches stay one.
        with ThreadPoolExecutor(1, thread_name_prefix="ki2fast-live") as worker:
            while not stop.is_set():
                await loop.run_in_executor(worker, self.poll)
                if self.behind:
                    continue  # more is waiting: no pause
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
            await loop.run_in_executor(worker, self.finish)


def _count_lines(path: Path) -> int:
    """Complete lines in a file (its line ends), read a block at a time."""
    n = 0
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            n += block.count(b"\n")
    return n


def archive_journal(
    root: str | os.PathLike[str], archive: str | os.PathLike[str], *, chan: str = "streamer"
) -> dict[str, int]:
    """Stores the Schwab streamer journal under ``root`` in the archive: every line not
    archived yet (per the archive's checkpoint), one batch per journal day. Running it again
    stores nothing new. Returns rows stored per table."""
    live = LiveLevelOne(root, archive=archive, chan=chan, batch_lines=1 << 62)
    live.finish()
    return live.stored
