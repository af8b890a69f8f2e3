"""The old path of :mod:`ki2fast.feeds.schwab.token`
(Schwab credentials), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.schwab.token import *  # noqa: F403
from ki2fast.feeds.schwab.token import __all__ as __all__
