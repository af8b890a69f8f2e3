"""Arguments the public functions share, normalised in one place: session dates, name
lists, thread counts."""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Iterable
from typing import Any

from ki2fast import _core
from ki2fast.exceptions import SessionDateWarning

__all__ = ["name_list", "session_date", "thread_count"]


def session_date(src: Any, date: Any) -> str | None:
    """Normalises ``date`` to ``YYYY-MM-DD``; warns when the file name says otherwise."""
    if date is None:
        return None
    if isinstance(date, _dt.date):
        text = date.isoformat()
    else:
        text = str(date).strip()
        try:
            _dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"session date {date!r} is not a calendar date YYYY-MM-DD") from None
    if isinstance(src, (str, os.PathLike)):
        named = _core.session_date_from_name(src)
        if named is not None and named != text:
            warnings.warn(
                f"session date {text} given for {os.fspath(src)!r}, whose name says {named}; "
                f"using {text}",
                SessionDateWarning,
                stacklevel=4,
            )
    return text


def name_list(names: Iterable[str] | str | None) -> list[str] | None:
    """``names`` as a list (one name given as a string is a list of one; None stays None)."""
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    return list(names)


def thread_count(threads: int | None) -> int:
    """``threads``, checked; None: the cores this process may use, up to 4."""
    if threads is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        return max(1, min(cores, 4))
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    return threads
