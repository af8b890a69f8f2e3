"""Complete lines of a growing text file, by byte offset (feeds.md §4.2).

A line ends at ``\\n``; one ``\\r`` before it is dropped. Bytes after the last ``\\n`` are a
fragment still being written: they are held back, never parsed. Offsets count bytes, never
characters.
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
#: Longest CSV line accepted (feeds.md §4.2, L6).
MAX_CSV_LINE = 1 << 20


@dataclass(frozen=True)
class Line:
    """One complete line: its bytes without the line end, where it starts, its number."""

    raw: bytes
    offset: int
    number: int


@dataclass
class Lines:
    """The complete lines of ``data`` and what was held back."""

    lines: list[Line]
    #: Byte offset just past the last complete line (where the next read starts).
    end: int
    #: Bytes after ``end``: a line still being written.
    held_back: int


def complete_lines(data: bytes, *, start: int = 0, first_number: int = 1) -> Lines:
    """Splits ``data`` (which begins at byte ``start`` of its file) into complete lines.

    A UTF-8 byte-order mark at the very start of the file is skipped. Empty lines are kept out
    of the result but counted in the numbering.
    """
    lines: list[Line] = []
    at = 0
    if start == 0 and data.startswith(BOM):
        at = len(BOM)
    number = first_number
    while True:
        end = data.find(b"\n", at)
        if end < 0:
            break
        raw = data[at:end]
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if raw.strip():
            lines.append(Line(raw, start + at, number))
        number += 1
        at = end + 1
    return Lines(lines, start + at, len(data) - at)


def fields(line: Line) -> list[str]:
    """The comma-separated fields of a line (UTF-8, unquoted, spaces trimmed).

    Raises ``ValueError`` for a line over :data:`MAX_CSV_LINE` bytes or one that is not UTF-8.
    """
    if len(line.raw) > MAX_CSV_LINE:
        raise ValueError(f"line of {len(line.raw)} bytes, over the {MAX_CSV_LINE}-byte limit")
    try:
        text = line.raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 (byte {e.start} of the line)") from None
    return [f.strip() for f in text.split(",")]
