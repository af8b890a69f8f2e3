"""HFTAlert Burst Monitor files, in one namespace: the readers and the follower of a Burst
Monitor folder (:mod:`.files`, re-exported here)."""

from __future__ import annotations

from ki2fast.feeds.hftalert.files import *  # noqa: F403
from ki2fast.feeds.hftalert.files import __all__ as __all__
