"""The Schwab streamer, in one namespace: level-one captures (:mod:`.levelone`, re-exported
here), book captures (:mod:`.book`), credentials (:mod:`.token`), and the live client and
capture (:mod:`.streamer`, :mod:`.live`).

Reading files needs neither asyncio nor websockets: the live pieces are imported on first
use. The modules behind this one import one way (level one and books below the live
capture, which is below this namespace), so none of them imports it.
"""

from __future__ import annotations

from typing import Any

# The reader's names, re-exported as they are.
from ki2fast.feeds.schwab.levelone import *  # noqa: F403
from ki2fast.feeds.schwab.levelone import __all__ as __all__

#: Imported on first use (listed here rather than in ``__all__``).
_LAZY = {
    "read_book": "ki2fast.feeds.schwab.book",
    "BookLevels": "ki2fast.feeds.schwab.book",
    "Streamer": "ki2fast.feeds.schwab.streamer",
    "capture": "ki2fast.feeds.schwab.streamer",
    "archive_journal": "ki2fast.feeds.schwab.streamer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
