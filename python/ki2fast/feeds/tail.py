"""Following a growing file: complete lines only, byte offsets, atomic checkpoints.

The rules are docs/feeds.md §4.2–4.4: a line ends at ``\\n`` (one ``\\r`` before it is dropped);
bytes after the last ``\\n`` are held back until the writer finishes the line; offsets count
bytes; a checkpoint names the file by identity and by a hash of its first bytes, so a file
that was truncated or replaced is read again from the start as a new generation; checkpoints
are written to a temporary file, flushed to disk, renamed over the old one and the folder
flushed, so a crash leaves either the old checkpoint or the new one.

The consumer decides when a checkpoint is written (:meth:`FileTail.commit`): after what it
did with the lines is durable. A crash in between repeats lines on restart, never loses them;
``(gen, offset)`` identifies a line for removing the repeats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from ki2fast._common import NY
from ki2fast._files import fsync_dir, write_atomic
from ki2fast.feeds._lines import MAX_CSV_LINE, Line, LineBlock, split_block

__all__ = [
    "MAX_JOURNAL_LINE",
    "Checkpoint",
    "FileTail",
    "JournalPoll",
    "JournalRecord",
    "JournalTail",
    "KeyLog",
    "journal_key",
    "read_checkpoint",
    "write_atomic",
]

#: Longest journal line accepted (docs/feeds.md §4.2).
MAX_JOURNAL_LINE = 16 << 20

#: Bytes of a file's start that identify it besides its inode (docs/feeds.md §4.2).
HEAD_LEN = 4096
#: Bytes read at a time. Lines are split with numpy over each read: 1 MiB beat 0.25 to 64 MiB
#: on a 7.2 MB hft1 file (47-49 MB/s against 38 for 4 MiB and more, whose per-line counts
#: no longer fit the CPU's caches).
CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """Where reading a file stopped (docs/feeds.md §4.3)."""

    path: str
    gen: int
    identity: str
    head_len: int
    head_hash: str
    byte_offset: int
    line_no: int
    written_at: str = ""
    v: int = 1


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``; None when there is none. A ``.tmp`` left by a crash during
    a write is deleted (the checkpoint before it stands)."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    return Checkpoint(**data)


def _identity(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _head(f: BinaryIO, length: int) -> tuple[int, str]:
    f.seek(0)
    head = f.read(length)
    return len(head), hashlib.sha256(head).hexdigest()


class FileTail:
    """The complete lines a file gains, poll after poll, resumable from a checkpoint.

    ``poll()`` returns the lines completed since the previous poll (a line the writer is still
    on is held back); ``commit()`` writes the checkpoint up to the last line returned. A file
    that does not exist yet gives no lines. A file that shrank, or was replaced (another inode,
    or other first bytes), is read again from its start with ``gen`` one higher. Lines longer
    than ``max_line`` bytes are passed over (to the next line end, without holding them in
    memory) and listed in ``long_lines``.

    The checkpoint is its own file (``checkpoint``), or, for tails whose checkpoints are kept
    together, a :class:`Checkpoint` from :meth:`snapshot` passed back as ``resume``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        max_line: int = MAX_CSV_LINE,
        resume: Checkpoint | None = None,
    ):
        self.path = Path(path)
        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else None
        self.max_line = max_line
        self.gen = 0
        self.offset = 0
        self.line_no = 0
        #: (line number, byte offset) of the lines passed over for their length.
        self.long_lines: list[tuple[int, int]] = []
        # Bytes of the file seen so far (the end of the last read).
        self._seen = 0
        self._identity = ""
        self._head_len = 0
        self._head_hash = hashlib.sha256(b"").hexdigest()
        # Where the next read starts; ahead of `offset` while inside an over-long line.
        self._read_at = 0
        self._skipping = False
        saved = read_checkpoint(self.checkpoint_path) if self.checkpoint_path else resume
        if saved is not None:
            self.gen, self.offset, self.line_no = saved.gen, saved.byte_offset, saved.line_no
            self._read_at = self.offset
            self._identity = saved.identity
            self._head_len, self._head_hash = saved.head_len, saved.head_hash

    def _same_file(self, f: BinaryIO, st: os.stat_result) -> bool:
        if st.st_size < self.offset:
            return False
        if self._identity and self._identity != _identity(st):
            return False
        if self._head_len:
            return _head(f, self._head_len) == (self._head_len, self._head_hash)
        return True

    def _restart(self) -> None:
        if self._identity or self.offset or self._head_len:  # it was known: a new generation
            self.gen += 1
        self.offset = self._read_at = self.line_no = self._seen = 0
        self._skipping = False
        self._head_len, self._head_hash = 0, hashlib.sha256(b"").hexdigest()

    def poll(self) -> list[Line]:
        """The lines completed since the last poll, in file order. A file that does not exist
        yet, or that its writer holds locked, gives none this time (docs/feeds.md §4.2)."""
        return self.poll_block().lines()

    def poll_block(self) -> LineBlock:
        """:meth:`poll`'s lines in columns (no object per line)."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below; only the open may fail
        except (FileNotFoundError, PermissionError):
            return LineBlock.concat([])
        with f:
            return LineBlock.concat(self._read(f))

    def poll_raw(self, max_bytes: int | None = None) -> tuple[list[bytes], bool]:
        """The lines completed since the last poll, exactly as written (without their line
        ends; nothing dropped: blank lines, ``\\r`` and all), and whether the read stopped at
        ``max_bytes`` (so more may wait): for a reader that takes lines whole, as the
        journal's level-one decoder does. With ``max_bytes``, about that much at most (whole
        lines; one line longer than that is read whole). Lines are not checked against
        ``max_line``. Do not mix with :meth:`poll` on one tail."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below; only the open may fail
        except (FileNotFoundError, PermissionError):
            return [], False
        with f:
            self._check(f)
            f.seek(self.offset)
            full = False
            if max_bytes is None:
                data = f.read()
            else:
                data = f.read(max_bytes)
                full = len(data) == max_bytes
                if full and b"\n" not in data:
                    data += f.readline()  # one line longer than the budget: read it whole
            self._seen = max(self._seen, self.offset + len(data))
            lines = data.split(b"\n")
            rest = lines.pop()  # after the last line end: not a line (yet)
            self.offset += len(data) - len(rest)
            self.line_no += len(lines)
            self._read_at = self.offset
            self._note_head(f)
        return lines, full

    def _check(self, f: BinaryIO) -> None:
        """Starts a new generation when ``f`` is not the file read so far: identity and first
        bytes of the file actually open, not of a path that may have been replaced since."""
        st = os.fstat(f.fileno())
        if not self._same_file(f, st):
            self._restart()
        self._identity = _identity(st)

    def _note_head(self, f: BinaryIO) -> None:
        """Remembers the file's first bytes (up to ``HEAD_LEN``) read so far."""
        if self._head_len < HEAD_LEN and self.offset > 0:
            self._head_len, self._head_hash = _head(f, min(HEAD_LEN, self.offset))

    def _read(self, f: BinaryIO) -> list[LineBlock]:
        self._check(f)
        lines: list[LineBlock] = []
        # A read always holds a whole line of the longest length kept, line end included.
        size = max(CHUNK, self.max_line + 2)
        while True:
            f.seek(self._read_at)
            chunk = f.read(size)
            self._seen = max(self._seen, self._read_at + len(chunk))
            if not chunk or not self._take(chunk, len(chunk) == size, lines):
                break
        self._note_head(f)
        return lines

    def _take(self, chunk: bytes, full: bool, lines: list[LineBlock]) -> bool:
        """Consumes the complete lines of ``chunk`` (read at ``_read_at``; ``full`` when the
        read filled its buffer, so the file may go on); False when nothing more can be
        taken now (the rest is a line still being written)."""
        base = self._read_at
        last = chunk.rfind(b"\n")
        at = 0
        if last >= 0:
            block, long_lines, self.line_no, self.offset = split_block(
                chunk[: last + 1], base, self.line_no, self.max_line, self._skipping, self.offset
            )
            self.long_lines.extend(long_lines)
            lines.append(block)
            self._skipping = False
            self._read_at = self.offset
            at = last + 1
        if self._skipping or len(chunk) - at > self.max_line + 1:
            # Inside an over-long line: move on without keeping it.
            self._skipping = True
            self._read_at = base + len(chunk)
            return full
        self._read_at = base + at
        return full and at > 0

    @property
    def held_back(self) -> int:
        """Bytes after the last complete line, as of the last poll: a line being written."""
        return max(self._seen - self.offset, 0)

    def snapshot(self) -> Checkpoint:
        """Where this tail stands: after the last line returned. ``FileTail(path,
        resume=...)`` continues from it (for tails whose checkpoints are kept together)."""
        return Checkpoint(
            path=str(self.path),
            gen=self.gen,
            identity=self._identity,
            head_len=self._head_len,
            head_hash=self._head_hash,
            byte_offset=self.offset,
            line_no=self.line_no,
            written_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )

    def commit(self) -> Checkpoint:
        """Writes the checkpoint up to the last line returned (atomically); returns it."""
        if self.checkpoint_path is None:
            raise ValueError("this tail has no checkpoint file")
        saved = self.snapshot()
        write_atomic(self.checkpoint_path, json.dumps(asdict(saved)).encode())
        return saved


class KeyLog:
    """The set of keys seen, kept in an append-only file of 16-byte key digests.

    Dedup that survives a restart: :meth:`add` says whether a key is new; :meth:`sync`
    appends the new digests, flushes them to disk and returns the number of digests now
    durable. Whoever keeps the log records that number in its checkpoint (after the sync), and
    opens the log with it: digests past it were written after the last checkpoint, so the
    lines they came from will be read again, and they are cut off. ``path=None`` keeps the
    keys in memory only.
    """

    def __init__(self, path: Path | None, length: int = 0):
        self.path = path
        self._keys: set[bytes] = set()
        self._new: list[bytes] = []
        try:
            data = path.read_bytes()[: length * 16] if path is not None else b""
        except FileNotFoundError:
            data = b""
        if len(data) != length * 16:
            raise ValueError(f"{path}: {len(data) // 16} keys, the checkpoint counts {length}")
        self._keys.update(data[i : i + 16] for i in range(0, len(data), 16))
        self.length = length
        if path is not None and path.exists() and path.stat().st_size != len(data):
            with open(path, "r+b") as f:
                f.truncate(len(data))
                os.fsync(f.fileno())

    @staticmethod
    def digest(key: Hashable) -> bytes:
        """16 bytes that stand for ``key`` (its JSON text hashed; bytes are hashed as is)."""
        text = key if isinstance(key, bytes) else json.dumps(key, default=str).encode()
        return hashlib.blake2b(text, digest_size=16).digest()

    def add(self, key: Hashable) -> bool:
        """True when ``key`` was not seen before (it is now)."""
        d = self.digest(key)
        if d in self._keys:
            return False
        self._keys.add(d)
        self._new.append(d)
        return True

    def add_digests(self, digests: Iterable[bytes]) -> list[bool]:
        """:meth:`add` for keys given as their 16-byte digests already; whether each is new."""
        keys, new, out = self._keys, self._new, []
        for d in digests:
            if len(d) != 16:
                raise ValueError("a key digest is 16 bytes")
            fresh = d not in keys
            if fresh:
                keys.add(d)
                new.append(d)
            out.append(fresh)
        return out

    def __len__(self) -> int:
        return len(self._keys)

    def sync(self) -> int:
        """Appends the new keys, flushes them to disk; the number of keys now durable."""
        if self._new and self.path is not None:
            created = not self.path.exists()
            with open(self.path, "ab") as f:
                f.write(b"".join(self._new))
                f.flush()
                os.fsync(f.fileno())
            if created:
                fsync_dir(self.path.parent)
        self.length += len(self._new)
        self._new.clear()
        return self.length


_DAY = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def path_day(path: str | os.PathLike[str]) -> str:
    """The last ``YYYYMMDD`` in a path that is a real date; ``""`` when there is none."""
    for text in reversed(_DAY.findall(str(path))):
        try:
            dt.datetime.strptime(text, "%Y%m%d")
        except ValueError:
            continue
        return text
    return ""


class FileSet:
    """Many tailed files with one state file: their checkpoints, a key log per day, files
    retired once their day is over, and whatever else the owner keeps (``extra``).

    The state file is written atomically after the key logs are on disk, so a crash leaves
    checkpoints that never count a key or a line that is not durable.
    """

    STATE = "state.json"

    def __init__(
        self,
        state_dir: str | os.PathLike[str] | None,
        *,
        clock: Callable[[], float],
        finalize_after: float,
        tz: str = NY,
        max_line: int = MAX_CSV_LINE,
    ):
        self.dir = Path(state_dir) if state_dir is not None else None
        self.clock = clock
        self.finalize_after = finalize_after
        self.zone = ZoneInfo(tz)
        self.max_line = max_line
        self.tails: dict[str, FileTail] = {}
        self.day_of: dict[str, str] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.retired: dict[str, str] = {}
        self.logs: dict[str, KeyLog] = {}
        self.extra: dict[str, Any] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        self._log_lengths: dict[str, int] = {}
        self._dropped: set[str] = set()
        if self.dir is not None:
            self.dir.mkdir(parents=True, exist_ok=True)
            state_path = self.dir / self.STATE
            tmp = state_path.with_name(state_path.name + ".tmp")
            if tmp.exists():
                tmp.unlink()
            if state_path.exists():
                state = json.loads(state_path.read_bytes())
                self._saved = state["files"]
                self.retired = state["retired"]
                self._log_lengths = state["keys"]
                self.extra = state["extra"]

    def follow(self, path: Path, day: str) -> FileTail | None:
        """The tail of ``path`` (made on first use, resumed from the state); None once the
        file is retired."""
        key = str(path)
        if key in self.retired:
            return None
        tail = self.tails.get(key)
        if tail is None:
            saved = self._saved.pop(key, None)
            resume = Checkpoint(**saved["checkpoint"]) if saved else None
            tail = FileTail(path, max_line=self.max_line, resume=resume)
            self.tails[key] = tail
            self.day_of[key] = day
            self.meta[key] = saved["meta"] if saved else {}
        return tail

    def log(self, day: str) -> KeyLog:
        """The keys seen for ``day``."""
        log = self.logs.get(day)
        if log is None:
            path = self.dir / f"keys-{day or 'undated'}.bin" if self.dir is not None else None
            log = KeyLog(path, self._log_lengths.get(day, 0))
            self.logs[day] = log
        return log

    def day_over(self, day: str) -> bool:
        """True once ``day`` (YYYYMMDD) ended in the time zone ``finalize_after`` seconds ago."""
        if not day:
            return False
        d = dt.datetime.strptime(day, "%Y%m%d").date() + dt.timedelta(days=1)
        end = dt.datetime(d.year, d.month, d.day, tzinfo=self.zone).timestamp()
        return self.clock() >= end + self.finalize_after

    def retire(self, path: Path, remember: bool = True) -> int:
        """Stops following ``path``; the bytes of a last line left unfinished. A file found by
        a glob is remembered as retired (while it exists) so that it is not read again."""
        key = str(path)
        tail = self.tails.pop(key, None)
        self.meta.pop(key, None)
        self._saved.pop(key, None)
        day = self.day_of.pop(key, "")
        if remember:
            self.retired[key] = day
        return tail.held_back if tail is not None else 0

    def drop_day(self, day: str) -> None:
        """Forgets the keys of a day none of whose files is followed any more (its key log
        is deleted at the next commit, once the state no longer counts it)."""
        if day and day not in self.day_of.values():
            self.logs.pop(day, None)
            self._log_lengths.pop(day, None)
            self._dropped.add(day)

    def commit(self) -> None:
        """Key logs to disk, then the state file (atomically)."""
        if self.dir is None:
            raise ValueError("this tail keeps no state (state_dir=None)")
        lengths = dict(self._log_lengths)
        for day, log in self.logs.items():
            lengths[day] = log.sync()
        files = dict(self._saved)
        for key, tail in self.tails.items():
            files[key] = {"checkpoint": asdict(tail.snapshot()), "meta": self.meta[key]}
        state = {
            "v": 1,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "files": files,
            "retired": {k: v for k, v in self.retired.items() if os.path.exists(k)},
            "keys": lengths,
            "extra": self.extra,
        }
        write_atomic(self.dir / self.STATE, json.dumps(state).encode())
        for day in self._dropped - set(self.logs):
            (self.dir / f"keys-{day}.bin").unlink(missing_ok=True)
        self._dropped.clear()


def journal_key(record: dict[str, Any]) -> Hashable:
    """The dedup key of a ki2fast journal record (docs/feeds.md §4.7): ``(src, chan, seq)``."""
    return (record["src"], record["chan"], record["seq"])


@dataclass(frozen=True)
class JournalRecord:
    """One record of a journal, and where it was read."""

    value: Any
    file: str
    gen: int
    offset: int
    line: int


@dataclass
class JournalPoll:
    """What one poll of a :class:`JournalTail` gave: the new records in file order, the
    lines that are not JSON (or have no key) with where they are, and how many duplicates
    were dropped."""

    records: list[JournalRecord] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


class JournalTail:
    """Follows every NDJSON file under ``root`` that matches ``pattern`` (a journal:
    ``journal/<src>/<YYYYMMDD>/<chan>.<part>.ndjson``, or any NDJSON capture), poll after
    poll, with the guarantees of docs/feeds.md §4:

    - complete lines only, by byte offset; a line still being written waits for its end;
    - records whose ``key`` was seen before are dropped (default :func:`journal_key`,
      ``(src, chan, seq)``; ``key=None`` keeps every record). Keys are kept per day (the
      ``YYYYMMDD`` in the file's path) in ``state_dir``, so a restart drops the records a
      crashed run gave already;
    - day rotation: new files (a new day's folder, a new part) are picked up as they appear;
      a day's files are followed until ``finalize_after`` seconds after that day ended in
      ``tz``, then retired, a last unfinished line quarantined as ``partial_final``;
    - :meth:`commit` saves the place of every file and the keys seen, atomically, after the
      key logs are on disk. Call it once what the records became is durable: a crash in
      between repeats records on restart (dropped as duplicates), never loses them.

    Lines that are not JSON, or whose key cannot be read, are quarantined with their file,
    byte offset and first 4 KiB; reading goes on.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        state_dir: str | os.PathLike[str] | None = None,
        *,
        pattern: str = "**/*.ndjson",
        key: Callable[[Any], Hashable] | None = journal_key,
        finalize_after: float = 900.0,
        tz: str = NY,
        clock: Callable[[], float] = time.time,
        max_line: int = MAX_JOURNAL_LINE,
    ):
        self.root = Path(root)
        self.pattern = pattern
        self.key = key
        self.files = FileSet(
            state_dir, clock=clock, finalize_after=finalize_after, tz=tz, max_line=max_line
        )

    def _discover(self) -> Iterable[Path]:
        found = [p for p in self.root.glob(self.pattern) if p.is_file()]
        return sorted(found, key=lambda p: (path_day(p.relative_to(self.root)), _natural(p)))

    def poll(self) -> JournalPoll:
        """The records added since the last poll, in file order, duplicates dropped."""
        import orjson

        out = JournalPoll()
        for path in self._discover():
            day = path_day(path.relative_to(self.root))
            tail = self.files.follow(path, day)
            if tail is None:
                continue
            seen_long = len(tail.long_lines)
            for line in tail.poll():
                try:
                    value = orjson.loads(line.raw)
                    k = self.key(value) if self.key is not None else None
                except (orjson.JSONDecodeError, KeyError, TypeError, IndexError) as e:
                    out.quarantine.append(_bad(path, tail.gen, line, f"{type(e).__name__}: {e}"))
                    continue
                if k is not None and not self.files.log(day).add(k):
                    out.duplicates += 1
                    continue
                out.records.append(
                    JournalRecord(value, str(path), tail.gen, line.offset, line.number)
                )
            for number, offset in tail.long_lines[seen_long:]:
                out.quarantine.append(
                    {
                        "file": str(path),
                        "gen": tail.gen,
                        "line": number,
                        "offset": offset,
                        "reason": "line_too_long",
                        "raw": "",
                    }
                )
            if self.files.day_over(day):
                held = self.files.retire(path)
                if held:
                    out.quarantine.append(
                        {
                            "file": str(path),
                            "gen": tail.gen,
                            "line": tail.line_no + 1,
                            "offset": tail.offset,
                            "reason": "partial_final",
                            "raw": "",
                        }
                    )
                self.files.drop_day(day)
        return out

    def commit(self) -> None:
        """Saves where every file stands and the keys seen (atomically)."""
        self.files.commit()


def _bad(path: Path, gen: int, line: Line, reason: str) -> dict[str, Any]:
    """A quarantine entry (docs/feeds.md §4.2): the file, where, why and the first 4 KiB."""
    return {
        "file": str(path),
        "gen": gen,
        "line": line.number,
        "offset": line.offset,
        "reason": reason,
        "raw": line.raw[:4096].decode("utf-8", "replace"),
    }
