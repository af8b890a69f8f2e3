"""The capture journal: an append-only raw log of everything a feed sent (docs/feeds.md §4.1).

One NDJSON record per inbound or outbound unit, written before anything else is done with it,
so a capture that dies loses nothing it had received. Records carry ``(src, chan, seq)``, a
sequence number that only goes up per source and channel, across files and restarts; the
readers (:class:`ki2fast.feeds.tail.JournalTail`) drop repeats by that key.

Files are ``journal/<src>/<YYYYMMDD>/<chan>.<part>.ndjson`` under the capture root, by the
Eastern calendar date of the receive time. A process never appends to a file an earlier one
wrote: every start opens a new part, as do 256 MiB and the day's end. On start, ``seq``
resumes after the last complete line of the newest part; a torn tail there (a process killed
mid-write) is reported once and left as it is.

Each record reaches the operating system with one ``write`` before :meth:`Journal.append`
returns, so a killed process keeps it; ``durability`` says when it is also on disk:
``"batch"`` (default) flushes to disk every 1 000 lines, 200 ms or 8 MiB, ``"strict"`` after
every record, ``"os"`` never (tests and benchmarks).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pyarrow as pa

from ki2fast._common import NY
from ki2fast._files import fsync_dir

__all__ = [
    "GAPS_SCHEMA",
    "Durability",
    "Journal",
    "JournalWarning",
    "gaps_table",
    "journal_parts",
    "last_record",
]

Durability = Literal["batch", "strict", "os"]

#: A new part after this many bytes (docs/feeds.md §4.1).
PART_BYTES = 256 << 20
#: Group commit in ``batch`` mode (docs/feeds.md §4.9): lines, seconds, bytes.
GROUP_LINES, GROUP_SECONDS, GROUP_BYTES = 1000, 0.2, 8 << 20

_PART = re.compile(r"^(?P<chan>.+)\.(?P<part>\d+)\.ndjson$")
#: A source or channel name: one path component, never ".", ".." or a separator.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


#: The archive's ``gaps`` feed (docs/feeds.md §0, §4.4): one row per outage or loss window.
GAPS_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("start", pa.timestamp("ns", tz="UTC")),
        pa.field("end", pa.timestamp("ns", tz="UTC")),
        pa.field("cause", pa.string()),
        pa.field("epoch", pa.int64()),
    ]
)


def gaps_table(rows: list[dict[str, Any]]) -> pa.Table:
    """``GAPS_SCHEMA`` rows from dicts with ``source, channel, start_ns, end_ns, cause`` and
    ``epoch`` (a gap note's fields); a missing start is the end (nothing came before)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in GAPS_SCHEMA}
    for r in rows:
        end = r.get("end_ns")
        start = r.get("start_ns")
        cols["source"].append(str(r["source"]))
        cols["channel"].append(str(r["channel"]))
        cols["start"].append(start if isinstance(start, int) else end)
        cols["end"].append(end if isinstance(end, int) else None)
        cols["cause"].append(None if r.get("cause") is None else str(r["cause"]))
        cols["epoch"].append(r.get("epoch") if isinstance(r.get("epoch"), int) else None)
    arrays = [
        pa.array(cols[f.name], pa.int64()).cast(f.type)
        if pa.types.is_timestamp(f.type)
        else pa.array(cols[f.name], f.type)
        for f in GAPS_SCHEMA
    ]
    return pa.Table.from_arrays(arrays, schema=GAPS_SCHEMA)


class JournalWarning(UserWarning):
    """Something about an earlier journal file worth knowing, e.g. a torn last line."""


def journal_parts(folder: Path, chan: str) -> list[tuple[int, Path]]:
    """The parts of ``chan`` in one day's folder, as (part number, path), in order."""
    out = []
    if folder.is_dir():
        for p in folder.iterdir():
            m = _PART.match(p.name)
            if m and m["chan"] == chan:
                out.append((int(m["part"]), p))
    return sorted(out)


def last_record(path: str | os.PathLike[str]) -> tuple[dict[str, Any] | None, int]:
    """The last complete, well-formed record of a journal file, and the number of bytes
    after its last newline (a torn tail; 0 when the file ends with a whole line). Reads
    backwards from the end, a block at a time."""
    import orjson

    with open(path, "rb") as f:
        pos = f.seek(0, os.SEEK_END)
        size, buf, torn = pos, b"", None
        while pos > 0:
            step = min(pos, 1 << 16)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            if torn is None:
                cut = buf.rfind(b"\n")
                if cut < 0:
                    continue
                torn, buf = len(buf) - cut - 1, buf[:cut]
            lines = buf.split(b"\n")
            # The first piece may still be cut by the block's start.
            for line in reversed(lines if pos == 0 else lines[1:]):
                try:
                    rec = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("seq"), int):
                    return rec, torn
            buf = lines[0]
        return None, size if torn is None else torn


class Journal:
    """Appends records for one ``(src, chan)`` under ``root`` (see the module's notes).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     with Journal(root, "schwab", "streamer", durability="os") as j:
    ...         j.text('{"notify":[{"heartbeat":"1741959310000"}]}', epoch=1)
    ...         j.text('{"data":[]}', epoch=1)
    ...     with Journal(root, "schwab", "streamer", durability="os") as j:  # a restart
    ...         j.seq
    0
    1
    2
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        src: str,
        chan: str,
        *,
        durability: Durability = "batch",
        part_bytes: int = PART_BYTES,
        clock_ns: Callable[[], int] = time.time_ns,
        tz: str = NY,
    ):
        if durability not in ("batch", "strict", "os"):
            raise ValueError(f"durability must be 'batch', 'strict' or 'os', not {durability!r}")
        for what, name in (("source", src), ("channel", chan)):
            if not isinstance(name, str) or _NAME.fullmatch(name) is None:
                raise ValueError(
                    f"bad {what} name {name!r}: a journal name is 1 to 64 letters, digits, "
                    "'_' or '-', starting with a letter or digit (it becomes a folder or a "
                    "file name)"
                )
        self.root = Path(root)
        self.src, self.chan = src, chan
        self.durability = durability
        self.part_bytes = part_bytes
        self.clock_ns = clock_ns
        self._tz = ZoneInfo(tz)
        self._fd: int | None = None
        self.path: Path | None = None
        self._size = 0
        self._day: str | None = None  # of the open part
        self._days = (0, -1, "")  # the last day looked up: [start, end) in ns, YYYYMMDD
        self._closed = False
        self._unsynced = (0, 0, 0.0)  # lines, bytes, monotonic time of the first
        self._lock = threading.Lock()
        #: The ``seq`` the next record gets.
        self.seq = self._resume()

    # -- files -----------------------------------------------------------------------------

    def _folder(self) -> Path:
        return self.root / "journal" / self.src

    def _resume(self) -> int:
        days = sorted(
            (p for p in self._folder().glob("[0-9]" * 8) if p.is_dir()),
            key=lambda p: p.name,
            reverse=True,
        )
        for day in days:
            for _, path in reversed(journal_parts(day, self.chan)):
                rec, torn = last_record(path)
                if torn:
                    warnings.warn(
                        f"{path}: {torn} bytes after its last complete line (a writer "
                        "stopped mid-record); left as they are",
                        JournalWarning,
                        stacklevel=3,
                    )
                if rec is not None:
                    return int(rec["seq"]) + 1
        return 0

    def _day_of(self, ns: int) -> str:
        lo, hi, day = self._days
        if lo <= ns < hi:
            return day
        local = dt.datetime.fromtimestamp(ns / 1e9, self._tz).date()
        start, end = (
            int(dt.datetime.combine(d, dt.time(), self._tz).timestamp()) * 10**9
            for d in (local, local + dt.timedelta(days=1))
        )
        self._days = (start, end, local.strftime("%Y%m%d"))
        return self._days[2]

    def _open(self, day: str) -> None:
        self._close_file()
        folder = self._folder() / day
        folder.mkdir(parents=True, exist_ok=True)
        parts = journal_parts(folder, self.chan)
        part = parts[-1][0] + 1 if parts else 0
        while True:
            path = folder / f"{self.chan}.{part}.ndjson"
            try:
                # Never an existing file: a part belongs to one writer, from its first byte.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
                break
            except FileExistsError:
                part += 1
        self._fd, self.path, self._size, self._day = fd, path, 0, day
        if self.durability != "os":
            fsync_dir(folder)

    def _close_file(self) -> None:
        if self._fd is not None:
            self.sync()
            os.close(self._fd)
            self._fd = None

    # -- writing ---------------------------------------------------------------------------

    def append(
        self, *, dir: str, kind: str, epoch: int = 0, recv_ns: int | None = None, **fields: Any
    ) -> int:
        """Writes one record (``dir`` ``in``/``out``/``meta``, ``kind`` as docs/feeds.md §4.1 lists
        them, then ``fields``) and returns its ``seq``."""
        with self._lock:  # one writer per part; threads take turns
            return self._append(dir, kind, epoch, recv_ns, fields)

    def _append(
        self, dir: str, kind: str, epoch: int, recv_ns: int | None, fields: dict[str, Any]
    ) -> int:
        import orjson

        if self._closed:
            raise ValueError("the journal is closed")
        ns = self.clock_ns() if recv_ns is None else recv_ns
        seq = self.seq
        head = {
            "v": 1,
            "src": self.src,
            "chan": self.chan,
            "epoch": epoch,
            "seq": seq,
            "recv_ns": ns,
            "dir": dir,
            "kind": kind,
        }
        line = orjson.dumps(head | fields) + b"\n"
        day = self._day_of(ns)
        full = self._size > 0 and self._size + len(line) > self.part_bytes
        if self._fd is None or day != self._day or full:
            self._open(day)
        assert self._fd is not None
        view = memoryview(line)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(line)
        self.seq = seq + 1
        self._committed(len(line))
        return seq

    def text(self, raw: str | bytes, *, epoch: int, dir: str = "in", **fields: Any) -> int:
        """A websocket message as received: ``ws_text`` with the exact text, or ``ws_binary``
        with ``raw_b64`` for bytes that are not UTF-8 text."""
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                b64 = base64.b64encode(raw).decode("ascii")
                return self.append(dir=dir, kind="ws_binary", epoch=epoch, raw_b64=b64, **fields)
        else:
            text = raw
        return self.append(dir=dir, kind="ws_text", epoch=epoch, raw=text, **fields)

    def note(self, note: str, *, epoch: int = 0, **fields: Any) -> int:
        """A ``meta`` record: a reconnect, a gap, a configuration hash."""
        return self.append(dir="meta", kind="note", epoch=epoch, note=note, **fields)

    def _committed(self, nbytes: int) -> None:
        if self.durability == "os":
            return
        if self.durability == "strict":
            self.sync()
            return
        lines, size, since = self._unsynced
        now = time.monotonic()
        lines, size, since = lines + 1, size + nbytes, since if lines else now
        self._unsynced = (lines, size, since)
        if lines >= GROUP_LINES or size >= GROUP_BYTES or now - since >= GROUP_SECONDS:
            self.sync()

    def sync(self) -> None:
        """Puts every record written so far on disk (``fdatasync``)."""
        if self._fd is not None and self.durability != "os" and self._unsynced != (0, 0, 0.0):
            os.fdatasync(self._fd)
        self._unsynced = (0, 0, 0.0)

    def tick(self) -> None:
        """Group commit without a write: syncs what waited longer than the group's time
        (call it from a capture loop's timer)."""
        lines, _, since = self._unsynced
        if lines and time.monotonic() - since >= GROUP_SECONDS:
            self.sync()

    def close(self) -> None:
        """Syncs and closes the part; the journal takes no more records."""
        self._close_file()
        self._closed = True

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({str(self.root)!r}, {self.src!r}, {self.chan!r}, seq={self.seq})"
