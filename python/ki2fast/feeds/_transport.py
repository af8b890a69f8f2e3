"""What every network client of ki2fast shares: the counters a status line shows, and the
reconnect schedule (exponential backoff with full jitter, reset after a healthy connection,
bounded by a number of attempts) and the loop that follows it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "Backoff",
    "ConnectionStats",
    "Reconnect",
    "receive_journaled",
    "reconnecting",
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


async def reconnecting(
    session: Callable[[], Awaitable[None]],
    *,
    stop: asyncio.Event,
    backoff: Backoff,
    journal: Any,
    stats: ConnectionStats,
    ended: Callable[[BaseException], float | Literal["done"] | None],
    lost: Callable[[str], Exception],
    catch: tuple[type[BaseException], ...] = (Reconnect,),
    log: Any = None,
) -> None:
    """Runs ``session`` until it returns or ``stop`` is set, connecting again after each
    failure (an exception in ``catch``) on ``backoff``'s schedule.

    ``ended(error)`` is the client's own policy, called once per failure after
    ``stats.last_error`` is set: it raises to give up, returns ``"done"`` to end the run
    quietly, and otherwise the least wait in seconds (None: the schedule's). When the schedule's
    attempts are spent, ``lost(cause)`` is raised. Each reconnect is a ``reconnect`` note in
    ``journal`` and counts in ``stats.reconnects``."""
    while not stop.is_set():
        began = time.monotonic()
        try:
            await session()
            return
        except catch as e:
            cause = e.cause if isinstance(e, Reconnect) else f"connect: {type(e).__name__}"
            stats.last_error = cause
            floor = ended(e)
        if floor == "done":
            return
        wait = backoff.after(began)
        if wait is None:
            raise lost(cause)
        if floor is not None:
            wait = max(wait, float(floor))
        journal.note("reconnect", epoch=stats.epoch, cause=cause)
        if log is not None:
            log.info("reconnecting in %.3f s after %s", wait, cause)
        await wait_or_stop(stop, wait)
        stats.reconnects += 1
