"""HFTAlert Burst Monitor files, in one namespace: the readers (:mod:`.files`), the follower
of a Burst Monitor folder (:mod:`.tail`) and the bridges to the detectors and back to the
Burst Monitor's file shapes (:mod:`.export`), all re-exported here."""

from __future__ import annotations

from ki2fast.feeds.hftalert.export import *  # noqa: F403
from ki2fast.feeds.hftalert.export import __all__ as _export
from ki2fast.feeds.hftalert.files import *  # noqa: F403
from ki2fast.feeds.hftalert.files import __all__ as _files
from ki2fast.feeds.hftalert.tail import *  # noqa: F403
from ki2fast.feeds.hftalert.tail import __all__ as _tail

__all__ = sorted([*_files, *_tail, *_export])
