"""What the live capture loops share: run a feed until it stops, with a status callback and
a stop file."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


async def run_until_stopped(
    run: Coroutine[Any, Any, T],
    stop: Callable[[], None],
    *,
    stop_file: str | os.PathLike[str] | None,
    every: float,
    tick: Callable[[], None] | None = None,
) -> T:
    """Runs ``run`` (a feed's ``run()``) until it returns or raises; every ``every`` seconds
    calls ``tick`` and asks ``stop()`` once ``stop_file`` exists. When this is left early
    (an error, a cancel), the feed is stopped and given 5 s to end cleanly."""
    task = asyncio.create_task(run)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=every)
            if tick is not None:
                tick()
            if stop_file is not None and Path(stop_file).exists():
                stop()
        return task.result()
    finally:
        if not task.done():
            stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5.0)
