"""The examples in the docstrings run as written (from the repository root)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import ki2fast
import ki2fast.analytics
import ki2fast.detect.monitor
import ki2fast.detect.program
import ki2fast.detect.sources
import ki2fast.detect.windows
import ki2fast.feeds.journal
import ki2fast.feeds.schwab.book
import ki2fast.feeds.schwab.levelone
import ki2fast.feeds.schwab.live
import ki2fast.feeds.schwab.streamer
import ki2fast.feeds.schwab.token
import ki2fast.feeds.thetadata.rest
import ki2fast.itch
import ki2fast.replay_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "module",
    [
        ki2fast,
        ki2fast.itch,
        ki2fast.analytics,
        ki2fast.detect.sources,
        ki2fast.detect.windows,
        ki2fast.detect.program,
        ki2fast.detect.monitor,
        ki2fast.replay_dir,
        ki2fast.feeds.journal,
        ki2fast.feeds.schwab.live,
        ki2fast.feeds.schwab.book,
        ki2fast.feeds.schwab.levelone,
        ki2fast.feeds.schwab.token,
        ki2fast.feeds.schwab.streamer,
        ki2fast.feeds.thetadata.rest,
    ],
)
def test_docstring_examples(module, monkeypatch):
    monkeypatch.chdir(ROOT)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
