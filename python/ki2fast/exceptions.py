"""The one exception hierarchy of ki2fast.

Everything ki2fast raises about its inputs derives from `Ki2fastError`:

- `LineError` (also a `ValueError`): a line of a file that is not what its format expects,
  with the file, the line's byte offset and its number. `CaptureLineError` (Schwab
  captures) and `FeedFileError` (Burst Monitor files) are its kinds.
- `ItchDecodeError`: bytes that are not ITCH 5.0, with the file and byte offset.
- `TransportError`: a remote service that answered with something it cannot go on from: the
  Schwab streamer (`StreamerError` and its kinds, `ReauthRequired`) or the ThetaData
  terminal (`ThetaDataError` and its kinds).

I/O problems stay the builtin `FileNotFoundError`, `PermissionError` and `OSError`; bad
arguments stay `ValueError` / `TypeError`. Each kind is also importable from the module of
the feed that raises it.
"""

from __future__ import annotations

__all__ = [
    "AmbiguousLabelsError",
    "ArchiveWarning",
    "CaptureLineError",
    "ConnectionLimitExceeded",
    "FeedFileError",
    "ItchDecodeError",
    "Ki2fastError",
    "LineError",
    "PermissionDenied",
    "ReauthRequired",
    "SessionDateWarning",
    "StreamLost",
    "StreamUnhealthy",
    "StreamerError",
    "ThetaDataError",
    "TimestampRegressionWarning",
    "TokenFileError",
    "TransportError",
    "UnknownColumnsError",
    "WrongApiVersion",
]


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


class LineError(Ki2fastError, ValueError):
    """A line of a file that is not what its format expects.

    Attributes
    ----------
    path : str or None
        The file (None when the input was bytes).
    offset : int
        Byte offset of the line's first byte.
    line : int
        Line number (1-based).
    """

    def __init__(self, message: str, *, path: str | None, offset: int, line: int):
        where = f"{path}: " if path else ""
        super().__init__(f"{where}line {line} (byte {offset}): {message}")
        self.path = path
        self.offset = offset
        self.line = line


class CaptureLineError(LineError):
    """A line of a Schwab capture that is not a level-one record (``strict=True``)."""


class FeedFileError(LineError):
    """A line of a Burst Monitor file that is not what its format expects."""


class UnknownColumnsError(FeedFileError):
    """A header row names a column the format does not have."""


class AmbiguousLabelsError(Ki2fastError, ValueError):
    """The labels of a capture fit both schwab-py label schemes and nothing tells them apart;
    pass ``label_scheme=`` ("schwab_py" for captures written after 2024-05-15)."""


class TokenFileError(Ki2fastError, ValueError):
    """The token file cannot be used (missing, not JSON, no access token). The message names
    the file and what was expected; it never holds a token."""


class TransportError(Ki2fastError):
    """A remote service answered with something the client cannot go on from."""


class ReauthRequired(TransportError):
    """The refresh token was refused (or 3 logins in a row were denied): the user must redo
    Schwab's browser authorization (e.g. with schwab-py) and restart the capture."""


class StreamerError(TransportError):
    """The streamer stopped on a response it cannot recover from (e.g. a bad command)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


class ConnectionLimitExceeded(StreamerError):
    """Another streamer connection exists for this Schwab user (code 12, three times in a
    row): stop the other client first; Schwab allows one per user."""


class StreamLost(StreamerError):
    """The connection could not be re-established within ``max_attempts``."""


class StreamUnhealthy(StreamerError):
    """Three connections in a row died within 90 s of the login without one data frame: an
    entitlement or subscription problem, not the network."""


class ThetaDataError(TransportError):
    """The terminal answered with an error status (``status``) for ``url``."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message if url is None else f"{message} ({url})")
        self.url, self.status = url, status


class WrongApiVersion(ThetaDataError):
    """404: a v2 path on a v3 terminal, or the reverse; check the terminal's ``api``."""


class PermissionDenied(ThetaDataError):
    """471: the account's subscription does not include this endpoint."""


class SessionDateWarning(UserWarning):
    """The session date given disagrees with the one in the file name (the argument wins)."""


class TimestampRegressionWarning(UserWarning):
    """Messages were stamped earlier than an earlier message (time went back); they were kept
    in file order, never reordered, and left out where a rule needs time to run forward."""


class ArchiveWarning(UserWarning):
    """Something in an archive folder was left out (a folder that is not a feed's, say)."""
