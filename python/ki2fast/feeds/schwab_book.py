"""The old path of :mod:`ki2fast.feeds.schwab.book`
(the Schwab book reader), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.schwab.book import *  # noqa: F403
from ki2fast.feeds.schwab.book import __all__ as __all__
