"""Writing files so that a crash leaves the old state or the new, never half of one."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Flushes a folder's entries (new, renamed, removed files) to disk (a no-op where
    folders cannot be opened, as on Windows)."""
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Replaces ``path`` with ``data`` so that a crash leaves the old content or the new:
    a temporary file in the same folder, flushed to disk, renamed over ``path``, then the
    folder flushed.

    The new file keeps the mode (and, where this process may set it, the owner) of the file
    it replaces, so a private file stays private. A new file gets the default mode, or
    ``0600`` with ``secret``; a secret's temporary file is ``0600`` from its creation, so
    its content is never readable by others, not even for a moment."""
    path = Path(path)
    try:
        old: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        old = None
    mode = 0o600 if secret or old is not None else 0o666
    tmp = path.with_name(path.name + ".tmp")
    # One left by a crash goes; O_EXCL then never writes through a file or a link that
    # someone else put at the temporary name.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    try:
        with os.fdopen(fd, "wb") as f:
            if old is not None:
                if hasattr(os, "fchown") and (old.st_uid, old.st_gid) != (
                    os.getuid(),
                    os.getgid(),
                ):
                    with contextlib.suppress(PermissionError):
                        os.fchown(f.fileno(), old.st_uid, old.st_gid)
                if hasattr(os, "fchmod"):
                    os.fchmod(f.fileno(), stat.S_IMODE(old.st_mode))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
