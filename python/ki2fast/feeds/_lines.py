"""Complete lines of a growing text file, by byte offset (docs/feeds.md §4.2).

A line ends at ``\\n``; one ``\\r`` before it is dropped. Bytes after the last ``\\n`` are a
fragment still being written: they are held back, never parsed. Offsets count bytes, never
characters.
"""

from __future__ import annotations

from typing import Any, NamedTuple

BOM = b"\xef\xbb\xbf"
#: Longest CSV line accepted (docs/feeds.md §4.2).
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


#: Bytes ``bytes.strip`` removes: a line of only these is blank.
class LineBlock:
    """Complete lines in columns: the kept lines of one read, without building an object
    per line. ``offset[i]`` is where line ``i`` starts, ``number[i]`` its number,
    ``printable[i]`` whether it is printable ASCII only, ``commas[i]`` how many commas it
    holds and ``spaced[i]`` whether it holds whitespace; ``raw`` (the lines' bytes, no line
    ends) is built when asked for.

    ``segments`` hold, per chunk read, the chunk's bytes, how many lines it holds and, for
    its kept lines, their first and past-the-end byte in it and their index among them."""

    __slots__ = ("_raw", "commas", "number", "offset", "printable", "segments", "spaced")

    def __init__(
        self,
        segments: list[tuple[bytes, int, Any, Any, Any]],
        offset: Any,
        number: Any,
        printable: Any,
        commas: Any,
        spaced: Any,
    ) -> None:
        self.segments = segments
        self.offset, self.number = offset, number
        self.printable, self.commas, self.spaced = printable, commas, spaced
        self._raw: list[bytes] | None = None

    def __len__(self) -> int:
        return len(self.offset)

    @property
    def raw(self) -> list[bytes]:
        if self._raw is None:
            self._raw = [
                data[a:b]
                for data, _, starts, stops, _ in self.segments
                for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
            ]
        return self._raw

    def line(self, i: int) -> Line:
        if self._raw is not None:
            return Line(self._raw[i], int(self.offset[i]), int(self.number[i]))
        k = i
        for data, _, starts, stops, _ in self.segments:
            if k < len(starts):
                raw = data[int(starts[k]) : int(stops[k])]
                return Line(raw, int(self.offset[i]), int(self.number[i]))
            k -= len(starts)
        raise IndexError(i)

    def lines(self) -> list[Line]:
        rows = zip(self.raw, self.offset.tolist(), self.number.tolist(), strict=True)
        return [Line(*x) for x in rows]

    def select(self, keep: Any) -> LineBlock:
        """The lines at the positions (or where the mask is true) of ``keep``."""
        import numpy as np

        if isinstance(keep, np.ndarray) and keep.dtype == np.bool_:
            at = np.flatnonzero(keep)
        else:
            at = np.asarray(keep, dtype=np.int64)
        segments = []
        done = 0
        for data, count, starts, stops, index in self.segments:
            k = len(starts)
            mine = at[(at >= done) & (at < done + k)] - done
            segments.append((data, count, starts[mine], stops[mine], index[mine]))
            done += k
        return LineBlock(
            segments,
            self.offset[at],
            self.number[at],
            self.printable[at],
            self.commas[at],
            self.spaced[at],
        )

    def csv_text(self, keep: Any) -> list[tuple[bytes, Any]]:
        """The lines where ``keep`` is true as CSV text, a piece per chunk: ``(text,
        positions)``, one line of text per position, in order. A chunk whose lines from one
        on are all kept is given as it is from there (no copy of its lines)."""
        import numpy as np

        out = []
        done = 0
        for data, count, starts, stops, index in self.segments:
            k = len(starts)
            mine = np.flatnonzero(keep[done : done + k])
            whole = 0 < k == len(mine) and index[-1] == count - 1 and index[-1] - index[0] == k - 1
            if whole:
                out.append((data[int(starts[0]) :], done + mine))
            elif len(mine):
                a, b = starts[mine].tolist(), stops[mine].tolist()
                text = b"\n".join([data[x:y] for x, y in zip(a, b, strict=True)]) + b"\n"
                out.append((text, done + mine))
            done += k
        return out

    @staticmethod
    def concat(blocks: list[LineBlock]) -> LineBlock:
        import numpy as np

        if len(blocks) == 1:
            return blocks[0]
        return LineBlock(
            [seg for b in blocks for seg in b.segments],
            np.concatenate([b.offset for b in blocks] or [np.zeros(0, np.int64)]),
            np.concatenate([b.number for b in blocks] or [np.zeros(0, np.int64)]),
            np.concatenate([b.printable for b in blocks] or [np.zeros(0, bool)]),
            np.concatenate([b.commas for b in blocks] or [np.zeros(0, np.int64)]),
            np.concatenate([b.spaced for b in blocks] or [np.zeros(0, bool)]),
        )


def split_block(
    chunk: bytes, base: int, number: int, max_line: int, skipping: bool, offset: int
) -> tuple[LineBlock, list[tuple[int, int]], int, int]:
    """The complete lines of ``chunk`` (read at byte ``base``; ``chunk`` ends with ``\\n``):
    the kept ones (not blank, at most ``max_line`` bytes; a BOM at byte 0 and one ``\\r``
    before each line end dropped), the over-long ones as ``(number, start)`` (the first one
    continues a line that began at ``offset`` when ``skipping``), and the last line's number
    and the offset after it. Lines are numbered from ``number + 1``."""
    import numpy as np
    import pyarrow as pa

    from ki2fast import _core

    stats = pa.record_batch(_core.line_stats(chunk, base == 0))
    starts, stops, n_space, n_odd, commas = (
        stats.column(k).to_numpy() for k in ("start", "stop", "spaces", "odd", "commas")
    )
    n = len(starts)
    line_start = base + starts  # where each line begins, BOM included
    if base == 0 and chunk.startswith(BOM):
        line_start[0] = 0
    numbers = number + 1 + np.arange(n, dtype=np.int64)
    begins = base + starts
    length = stops - starts
    blank = n_space >= length
    long = length > max_line
    if skipping:
        long[0] = True
    long_lines = [
        (int(numbers[i]), int(offset if (skipping and i == 0) else line_start[i]))
        for i in np.flatnonzero(long).tolist()
    ]
    keep = ~long & ~blank
    at = np.flatnonzero(keep)
    block = LineBlock(
        [(chunk, n, starts[at], stops[at], at)],
        begins[at],
        numbers[at],
        n_odd[at] == 0,
        commas[at],
        n_space[at] > 0,
    )
    return block, long_lines, int(numbers[-1]), len(chunk) + base
