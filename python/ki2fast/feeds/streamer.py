"""The old path of :mod:`ki2fast.feeds.schwab.streamer`
(the Schwab streamer client), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.schwab.streamer import *  # noqa: F403
from ki2fast.feeds.schwab.streamer import __all__ as __all__
