"""What every reader of Schwab streamer captures shares: the capture's bytes, the line error,
and how a frame's times and contents are read."""

from __future__ import annotations

import gzip
import os
from typing import Any

from ki2fast._common import read_source
from ki2fast.exceptions import CaptureLineError

__all__ = ["I64", "CaptureLineError", "any_time_ms", "capture_bytes", "content_of", "time_ms"]


#: The values a 64-bit signed integer holds.
I64 = range(-(1 << 63), 1 << 63)

#: The largest time in ms (either side of the epoch) a nanosecond timestamp can hold.
MS_LIMIT = ((1 << 63) - 1) // 1_000_000


def time_ms(v: Any) -> int | None:
    """A time in ms (:func:`any_time_ms`) that a nanosecond timestamp can hold; else None."""
    t = any_time_ms(v)
    return t if t is not None and abs(t) <= MS_LIMIT else None


def any_time_ms(v: Any) -> int | None:
    """A time in ms: an int, a string of ASCII digits or a float with an integer value, that
    fits 64 bits; else None."""
    digits = type(v) is str and v.isascii() and v.isdigit()
    if digits or (type(v) is float and v.is_integer()):
        v = int(v)
    return v if type(v) is int and v in I64 else None


def content_of(item: dict[str, Any]) -> dict[str, Any]:
    """A response or notify item's ``content`` object ({} when it is none)."""
    c = item.get("content")
    return c if type(c) is dict else {}


def capture_bytes(
    src: str | os.PathLike[str] | bytes | bytearray | memoryview,
) -> tuple[bytes, str | None]:
    """The decompressed bytes of a capture and its path (None for bytes)."""
    path = None if isinstance(src, (bytes, bytearray, memoryview)) else os.fspath(src)
    try:
        return read_source(src), path
    except (EOFError, gzip.BadGzipFile) as e:
        # A capture cut short while being gzipped, or not gzip after all.
        raise CaptureLineError(
            f"gzip stream is damaged: {e}", path=path, offset=0, line=0
        ) from None
