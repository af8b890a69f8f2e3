"""The one exception hierarchy of ki2fast.

Everything ki2fast raises about the *content* of its inputs derives from `Ki2fastError`.
I/O problems stay the builtin `FileNotFoundError`, `PermissionError` and `OSError`; bad
arguments stay `ValueError` / `TypeError`.
"""

from __future__ import annotations

__all__ = ["ItchDecodeError", "Ki2fastError", "SessionDateWarning", "TimestampRegressionWarning"]


class Ki2fastError(Exception):
    """Base class of every ki2fast error about input data."""


class ItchDecodeError(Ki2fastError, ValueError):
    """Bytes that are not valid ITCH 5.0 where ITCH 5.0 was expected.

    Attributes
    ----------
    path : str or None
        The file, when the input was a file.
    offset : int or None
        Byte offset (in the decompressed stream) where the problem starts.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.path = path
        self.offset = offset


class SessionDateWarning(UserWarning):
    """The session date given disagrees with the one in the file name (the argument wins)."""


class TimestampRegressionWarning(UserWarning):
    """Messages were stamped earlier than an earlier message (time went back); they were kept
    in file order, never reordered, and left out where a rule needs time to run forward."""


class ArchiveWarning(UserWarning):
    """Something in an archive folder was left out (a folder that is not a feed's, say)."""
