"""A small progress bar on stderr for long CLI work: drawn only on a terminal, at most ten
times a second, and gone once the work is done."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    """``with Progress("reading", total=size) as bar: bar.update(done)``."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ):
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, done: int, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        if self.total:
            frac = min(done / self.total, 1.0)
            filled = int(frac * 30)
            eta = (self.total - done) / rate if rate > 0 else 0.0
            line = (
                f"{self.label} [{'#' * filled}{'.' * (30 - filled)}] {frac:4.0%} "
                f"{human_bytes(done)}/{human_bytes(self.total)} "
                f"{human_bytes(rate)}/s ETA {eta:4.0f}s"
            )
        else:
            line = f"{self.label} {human_bytes(done)} {human_bytes(rate)}/s {elapsed:5.1f}s"
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()


def run_with_progress(run: Any, *, enabled: bool, label: str = "replay") -> None:
    """Step a core pass (``step()`` until it returns False, ``progress`` = (bytes done,
    total)) to its end, with a bar when ``enabled``."""
    with Progress(label, total=run.progress[1], enabled=enabled) as bar:
        while run.step():
            bar.update(run.progress[0])
        bar.update(run.progress[0], force=True)


class StatusLine:
    """A status line on stderr for long-running captures: rewritten in place on a terminal;
    elsewhere (a log file) printed as its own line at most every ``every`` seconds."""

    def __init__(self, *, stream: TextIO | None = None, every: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every = every
        self._last = -float("inf")

    def show(self, line: str) -> None:
        if self.tty:
            print("\r" + line + " " * 8, end="", file=self.stream, flush=True)
            return
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(line, file=self.stream, flush=True)

    def say(self, line: str) -> None:
        """A line of its own (an alert), above the status line on a terminal."""
        print(("\r\x1b[K" if self.tty else "") + line, file=self.stream, flush=True)
