"""The ThetaData terminal, in one namespace: its REST API (:mod:`.rest`, re-exported here)
and its websocket stream (:mod:`.stream`, which needs ``websockets``: import it yourself)."""

from __future__ import annotations

from ki2fast.feeds.thetadata.rest import *  # noqa: F403
from ki2fast.feeds.thetadata.rest import __all__ as __all__
