"""What every network client of ki2fast shares: the counters a status line shows, and the
reconnect schedule (exponential backoff with full jitter, reset after a healthy connection,
bounded by a number of attempts)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Backoff",
    "ConnectionStats",
    "Reconnect",
    "receive_journaled",
    "recv_within",
    "wait_or_stop",
]


@dataclass
class ConnectionStats:
    """Connections made (``epoch``), reconnects, the last error, when the client started."""

    reconnects: int = 0
    epoch: int = 0
    last_error: str | None = None
    started: float = field(default_factory=time.monotonic)


@dataclass
class Backoff:
    """When to try again after a connection ends: a uniform draw from 0 to
    ``min(cap, base · 2^(failures − 1))`` seconds. A connection that lasted ``healthy_reset``
    seconds or more starts the count again; more than ``max_attempts`` failures in a row
    (None: no limit) is the end."""

    base: float = 1.0
    cap: float = 120.0
    healthy_reset: float = 60.0
    max_attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    #: Connections in a row that ended before they were healthy.
    failures: int = 0

    def after(self, began: float, now: float | None = None) -> float | None:
        """Counts the end of a connection that began at ``began`` (``time.monotonic``);
        the seconds to wait before the next one, or None when the attempts are spent."""
        now = time.monotonic() if now is None else now
        if now - began >= self.healthy_reset:
            self.failures = 0
        self.failures += 1
        if self.max_attempts is not None and self.failures > self.max_attempts:
            return None
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (self.failures - 1)))


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleeps ``seconds``, or less when ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def recv_within(ws: Any, seconds: float) -> Any:
    """The next message of websocket ``ws``, or ``TimeoutError`` after ``seconds``.

    A cancellation of the caller always ends it: ``asyncio.wait_for`` before Python 3.12
    drops a cancellation that comes as the message does, and a reader cancelled that way
    went on reading (a client told to stop kept running)."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await ws.recv()
    task = asyncio.ensure_future(ws.recv())
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise TimeoutError
    return task.result()


class Reconnect(Exception):
    """Close this connection and connect again after ``wait`` seconds (None: backoff)."""

    def __init__(self, cause: str, wait: float | None = None):
        super().__init__(cause)
        self.cause, self.wait = cause, wait


async def receive_journaled(ws: Any, journal: Any, epoch: int, seconds: float) -> Any:
    """The next message of websocket ``ws``, written to ``journal`` (a
    ``feeds.journal.Journal``) before anything else is done with it. ``seconds`` without a
    message (the watchdog), or the socket closed (journaled as ``ws_close`` with its code),
    is a :class:`Reconnect`."""
    import websockets

    try:
        msg = await recv_within(ws, seconds)
    except TimeoutError:
        raise Reconnect("watchdog") from None
    except websockets.exceptions.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd is not None else 1006
        journal.append(dir="meta", kind="ws_close", epoch=epoch, code=code)
        raise Reconnect(f"closed {code}") from None
    journal.text(msg, epoch=epoch)
    return msg
