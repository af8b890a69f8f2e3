"""The reconnect schedule and loop both network clients share."""

from __future__ import annotations

import asyncio
import json
import random
import time

import pytest

from ki2fast.feeds._transport import (
    Backoff,
    ConnectionStats,
    Reconnect,
    reconnecting,
    recv_within,
    wait_or_stop,
)
from ki2fast.feeds.journal import Journal


def test_backoff_doubles_up_to_its_cap_with_full_jitter_and_resets_after_a_healthy_run():
    b = Backoff(base=1.0, cap=8.0, healthy_reset=60.0, max_attempts=None, rng=random.Random(7))
    draws = random.Random(7)
    # Connections that fail at once: the bound doubles 1, 2, 4, 8, then stays at the cap.
    for bound in (1, 2, 4, 8, 8):
        assert b.after(began=100.0, now=100.5) == draws.uniform(0, bound)
    # One that lasted the healthy time starts over at the base.
    assert b.after(began=100.0, now=160.0) == draws.uniform(0, 1)
    assert b.failures == 1


def test_backoff_ends_after_max_attempts_in_a_row():
    b = Backoff(base=0.1, cap=1.0, healthy_reset=60.0, max_attempts=2, rng=random.Random(1))
    assert b.after(0.0, 1.0) is not None
    assert b.after(0.0, 1.0) is not None
    assert b.after(0.0, 1.0) is None


def test_wait_or_stop_returns_when_stopped():
    async def main() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.05, stop.set)
        t = time.monotonic()
        await wait_or_stop(stop, 30.0)
        return time.monotonic() - t

    assert asyncio.run(main()) < 5.0


class _Socket:
    """A websocket whose next message is whatever ``arrive`` sets."""

    def __init__(self) -> None:
        self.next: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def recv(self) -> str:
        msg = await self.next
        self.next = asyncio.get_running_loop().create_future()
        return msg


def test_a_reader_told_to_stop_as_a_message_arrives_stops():
    """The stream clients' readers loop on ``recv_within``: a cancellation that comes in the
    same step as a message must end the loop, not be dropped with the reader going on."""

    async def main() -> None:
        ws = _Socket()
        got: list[str] = []

        async def reader() -> None:
            while True:
                got.append(await recv_within(ws, 30.0))

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)  # the reader waits for a message
        ws.next.set_result("status")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2.0)

    asyncio.run(main())


def test_recv_within_times_out():
    async def main() -> None:
        with pytest.raises(TimeoutError):
            await recv_within(_Socket(), 0.01)

    asyncio.run(main())


def _run_reconnecting(tmp_path, causes, ended, max_attempts=2):
    """``reconnecting`` over sessions that fail with ``causes`` in turn (then return); the
    journal's notes, the stats, the sessions run and the error raised (if any)."""
    journal = Journal(tmp_path, "test", "stream")
    stats = ConnectionStats()
    backoff = Backoff(base=0.0, cap=0.0, max_attempts=max_attempts, rng=random.Random(1))
    runs: list[str] = []
    left = list(causes)

    async def session() -> None:
        runs.append("run")
        if left:
            cause = left.pop(0)
            raise (Reconnect(cause) if cause != "os" else ConnectionRefusedError())

    async def main() -> BaseException | None:
        try:
            await reconnecting(
                session,
                stop=asyncio.Event(),
                backoff=backoff,
                journal=journal,
                stats=stats,
                ended=ended,
                lost=lambda cause: RuntimeError(f"lost after {cause}"),
                catch=(Reconnect, OSError),
            )
        except RuntimeError as e:
            return e
        return None

    error = asyncio.run(main())
    journal.close()
    notes = [
        (r["note"], r["cause"])
        for p in sorted(tmp_path.rglob("*.ndjson"))
        for r in map(json.loads, p.read_text().splitlines())
        if r.get("kind") == "note"
    ]
    return notes, stats, len(runs), error


def test_reconnecting_follows_the_schedule_and_the_clients_policy(tmp_path):
    # Two failures within the attempts: two reconnects, then the session runs through.
    notes, stats, runs, error = _run_reconnecting(
        tmp_path / "a", ["closed 1006", "os"], lambda e: None
    )
    assert error is None and runs == 3 and stats.reconnects == 2
    assert notes == [("reconnect", "closed 1006"), ("reconnect", "connect: ConnectionRefusedError")]
    assert stats.last_error == "connect: ConnectionRefusedError"
    # More failures in a row than the attempts: the client's own "lost" error.
    notes, stats, runs, error = _run_reconnecting(tmp_path / "b", ["watchdog"] * 5, lambda e: None)
    assert isinstance(error, RuntimeError) and str(error) == "lost after watchdog"
    assert runs == 3 and stats.reconnects == 2
    # The policy ends the run quietly, or raises its own error.
    notes, stats, runs, error = _run_reconnecting(tmp_path / "c", ["code 30"], lambda e: "done")
    assert (error, runs, stats.reconnects, notes) == (None, 1, 0, [])

    def refuse(e: BaseException) -> None:
        raise RuntimeError("policy")

    notes, stats, runs, error = _run_reconnecting(tmp_path / "d", ["closed 1000"], refuse)
    assert str(error) == "policy" and runs == 1


def test_reconnecting_waits_at_least_what_the_policy_asks(tmp_path):
    began = time.monotonic()
    _, stats, runs, error = _run_reconnecting(tmp_path, ["code 19"], lambda e: 0.2)
    assert stats.reconnects == 1
    assert error is None and runs == 2 and time.monotonic() - began >= 0.2
