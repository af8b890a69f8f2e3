"""The old path of :mod:`ki2fast.feeds.thetadata.stream`
(the ThetaData stream client), kept so that existing imports work."""

from __future__ import annotations

from ki2fast.feeds.thetadata.stream import *  # noqa: F403
from ki2fast.feeds.thetadata.stream import __all__ as __all__
