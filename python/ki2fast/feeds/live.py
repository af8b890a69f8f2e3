"""The old path of :mod:`ki2fast.feeds.schwab.live`
(the Schwab live decoder), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.schwab.live import *  # noqa: F403
from ki2fast.feeds.schwab.live import __all__ as __all__
