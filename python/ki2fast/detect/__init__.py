"""Quote activity and quote-stuffing episodes (docs/detection.md §2–3.4), from ITCH or any feed.

``quote_activity`` counts, per symbol and window, quote messages, top-of-book changes,
prints, shares and dollars. ``detect_stuffing`` finds stuffing episodes with a preset or
parameters of your own:

- sliding rate rules (``"micro"``, the default: ≥ 200 quote messages within 25 ms;
  ``"micro_50ms"``, ``"nanex"``, ``"strict"``) run message by message in the Rust core;
- statistical rules (``"zscore"``, ``"egginton_2016"``, ``"zscore_robust"``,
  ``"zscore_trailing"``) and ratio rules (``"otr"``, ``"cancel_to_trade"``,
  ``"cancel_to_exec"``) run over activity windows.

Sources: an ITCH file, bytes or buffer (replayed in the core: books give the top-of-book
changes); an order-events table (``kf.read_order_events``' schema, replayed into the core's
books the same way; it holds no ``P`` prints); a level-one quotes table (``ts``, ``stock``,
``bid``, ``bid_size``, ``ask``, ``ask_size``) with an optional trades table, such as
``ki2fast.feeds.schwab.read_levelone``'s ``quotes`` and ``trades``; or, for the window rules,
an activity table (``quote_activity``'s, or ``hftalert.hft1_activity``'s).
"""

from __future__ import annotations

from ki2fast.detect.monitor import *  # noqa: F403
from ki2fast.detect.monitor import __all__ as _monitor
from ki2fast.detect.program import *  # noqa: F403
from ki2fast.detect.program import __all__ as _program
from ki2fast.detect.rules import *  # noqa: F403

# Public names of earlier releases that were never in ``__all__``.
from ki2fast.detect.rules import EPISODE_COLUMNS, ZONE, Rule  # noqa: F401
from ki2fast.detect.rules import __all__ as _rules
from ki2fast.detect.sources import *  # noqa: F403
from ki2fast.detect.sources import __all__ as _sources
from ki2fast.detect.windows import *  # noqa: F403
from ki2fast.detect.windows import __all__ as _windows
from ki2fast.detect.windows import window_episodes  # noqa: F401

__all__ = [*_rules, *_sources, *_windows, *_program, *_monitor]
