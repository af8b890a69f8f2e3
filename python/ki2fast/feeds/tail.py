"""Following a growing file: complete lines only, byte offsets, atomic checkpoints.

The rules are feeds.md §4.2–4.4: a line ends at ``\\n`` (one ``\\r`` before it is dropped);
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from ki2fast.feeds._lines import BOM, MAX_CSV_LINE, Line

__all__ = ["Checkpoint", "FileTail", "read_checkpoint", "write_atomic"]

#: Bytes of a file's start that identify it besides its inode (feeds.md §4.2, L7).
HEAD_LEN = 4096
#: Bytes read at a time.
CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """Where reading a file stopped (feeds.md §4.3)."""

    path: str
    gen: int
    identity: str
    head_len: int
    head_hash: str
    byte_offset: int
    line_no: int
    written_at: str = ""
    v: int = 1


def write_atomic(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` so that a crash leaves the old content or the new:
    a temporary file in the same folder, flushed to disk, renamed over ``path``, then the
    folder flushed."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        max_line: int = MAX_CSV_LINE,
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
        saved = read_checkpoint(self.checkpoint_path) if self.checkpoint_path else None
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
        if self._identity or self.offset:
            self.gen += 1
        self.offset = self._read_at = self.line_no = self._seen = 0
        self._skipping = False
        self._head_len, self._head_hash = 0, hashlib.sha256(b"").hexdigest()

    def poll(self) -> list[Line]:
        """The lines completed since the last poll, in file order."""
        try:
            with open(self.path, "rb") as f:
                return self._read(f)
        except FileNotFoundError:
            return []

    def _read(self, f: BinaryIO) -> list[Line]:
        # Identity and first bytes of the file actually open, not of a path that may have
        # been replaced in between.
        st = os.fstat(f.fileno())
        if not self._same_file(f, st):
            self._restart()
        self._identity = _identity(st)
        lines: list[Line] = []
        # A read always holds a whole line of the longest length kept, line end included.
        size = max(CHUNK, self.max_line + 2)
        while True:
            f.seek(self._read_at)
            chunk = f.read(size)
            self._seen = max(self._seen, self._read_at + len(chunk))
            if not chunk or not self._take(chunk, len(chunk) == size, lines):
                break
        if self._head_len < HEAD_LEN and self.offset > 0:
            self._head_len, self._head_hash = _head(f, min(HEAD_LEN, self.offset))
        return lines

    def _take(self, chunk: bytes, full: bool, lines: list[Line]) -> bool:
        """Consumes the complete lines of ``chunk`` (read at ``_read_at``; ``full`` when the
        read filled its buffer, so the file may go on); False when nothing more can be
        taken now (the rest is a line still being written)."""
        base = self._read_at
        at = 0
        while True:
            end = chunk.find(b"\n", at)
            if end < 0:
                if self._skipping or len(chunk) - at > self.max_line + 1:
                    # Inside an over-long line: move on without keeping it.
                    self._skipping = True
                    self._read_at = base + len(chunk)
                    return full
                self._read_at = base + at
                return full and at > 0
            raw = chunk[at:end]
            start = base + at
            self.line_no += 1
            if start == 0 and raw.startswith(BOM):
                raw, start = raw[len(BOM) :], len(BOM)
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if self._skipping or len(raw) > self.max_line:
                self._skipping = False
                self.long_lines.append((self.line_no, self.offset))
            elif raw.strip():
                lines.append(Line(raw, start, self.line_no))
            at = end + 1
            self.offset = self._read_at = base + at

    @property
    def held_back(self) -> int:
        """Bytes after the last complete line, as of the last poll: a line being written."""
        return max(self._seen - self.offset, 0)

    def commit(self) -> Checkpoint:
        """Writes the checkpoint up to the last line returned (atomically); returns it."""
        if self.checkpoint_path is None:
            raise ValueError("this tail has no checkpoint file")
        saved = Checkpoint(
            path=str(self.path),
            gen=self.gen,
            identity=self._identity,
            head_len=self._head_len,
            head_hash=self._head_hash,
            byte_offset=self.offset,
            line_no=self.line_no,
            written_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        )
        write_atomic(self.checkpoint_path, json.dumps(asdict(saved)).encode())
        return saved
