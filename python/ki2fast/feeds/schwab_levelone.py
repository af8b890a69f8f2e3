"""The old path of :mod:`ki2fast.feeds.schwab.levelone`
(the Schwab level-one reader), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.schwab.levelone import *  # noqa: F403
from ki2fast.feeds.schwab.levelone import __all__ as __all__
