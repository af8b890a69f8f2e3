"""Complete lines of a growing text file, by byte offset (feeds.md §4.2).

A line ends at ``\\n``; one ``\\r`` before it is dropped. Bytes after the last ``\\n`` are a
fragment still being written: they are held back, never parsed. Offsets count bytes, never
characters.
"""

from __future__ import annotations

from typing import NamedTuple

BOM = b"\xef\xbb\xbf"
#: Longest CSV line accepted (feeds.md §4.2, L6).
MAX_CSV_LINE = 1 << 20


class Line(NamedTuple):
    """One complete line: its bytes without the line end, where it starts, its number."""

    raw: bytes
    offset: int
    number: int


def fields(line: Line) -> list[str]:
    """The comma-separated fields of a line (UTF-8, unquoted, spaces trimmed).

    Raises ``ValueError`` for a line that is not UTF-8.
    """
    try:
        text = line.raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte {e.start} of the line)") from None
    return [f.strip() for f in text.split(",")]
