"""The stuffing rules: sliding rate rules, z-score rules over activity windows, ratio rules,
and the named presets (docs/detection.md §3)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from ki2fast.analytics import Every, parse_every

__all__ = ["PRESETS", "RatioRule", "SlidingRule", "ZScoreRule"]


ZONE = "America/New_York"
SECOND = 10**9
MINUTE = 60 * SECOND


@dataclass(frozen=True)
class SlidingRule:
    """A symbol's quote message is hot when ``min_msgs`` quote messages fall within
    ``window`` ns ending at it; hot messages whose windows start no later than ``merge_gap``
    ns after an episode's end extend it (docs/detection.md §3.1)."""

    window: int
    min_msgs: int
    merge_gap: int


@dataclass(frozen=True)
class ZScoreRule:
    """Flag a window whose ``metric`` exceeds ``μ + k·σ`` of the symbol's day (``baseline``
    ``"day"``) or of the ``lookback`` windows before it (``"rolling"``), empty windows
    counting as 0, and is at least ``floor``. ``robust`` uses the median and 1.4826 × MAD;
    when the MAD is 0 (most of the series is one value, e.g. a quiet symbol's zeros), σ is
    1.253314 × the mean absolute deviation from the median instead, so a spread of zero never
    lets every window above the median through. When no window of a symbol-day is flagged at
    ``k``, ``k_fallback`` (if set) is tried (docs/detection.md §3.2)."""

    window: int
    k: float
    k_fallback: float | None = None
    floor: float = 0.0
    baseline: Literal["day", "rolling"] = "day"
    robust: bool = False
    lookback: int = 30
    metric: str = "num_quotes"


@dataclass(frozen=True)
class RatioRule:
    """Flag a window with at least ``min_quotes`` quote messages whose ``ratio``
    (denominator at least 1) is at least ``threshold`` (docs/detection.md §3.3)."""

    ratio: Literal["otr", "cancel_to_trade", "cancel_to_exec"]
    window: int = MINUTE
    min_quotes: int = 100
    threshold: float = 100.0


Rule = SlidingRule | ZScoreRule | RatioRule


#: The presets of docs/detection.md §3.1–3.3; every value can be overridden by keyword.
PRESETS: dict[str, Rule] = {
    "micro": SlidingRule(25_000_000, 200, 25_000_000),
    "micro_50ms": SlidingRule(50_000_000, 100, 50_000_000),
    "nanex": SlidingRule(SECOND, 500, SECOND),
    "strict": SlidingRule(SECOND, 1000, SECOND),
    "zscore": ZScoreRule(MINUTE, k=2, k_fallback=1),
    "egginton_2016": ZScoreRule(MINUTE, k=20),
    "zscore_robust": ZScoreRule(SECOND, k=20, floor=100, robust=True),
    "zscore_trailing": ZScoreRule(MINUTE, k=20, floor=100, baseline="rolling", robust=True),
    "otr": RatioRule("otr"),
    "cancel_to_trade": RatioRule("cancel_to_trade"),
    "cancel_to_exec": RatioRule("cancel_to_exec"),
}


#: The columns every episode table starts with (docs/detection.md §3.4).
EPISODE_COLUMNS = ["stock", "start", "end", "peak_rate", "num_quotes", "num_trades", "dollars"]


def rule_of(preset: str, overrides: dict[str, Any]) -> Rule:
    try:
        rule = PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}") from None
    given = {k: v for k, v in overrides.items() if v is not None}
    for key in ("window", "merge_gap"):
        if key in given:
            given[key] = parse_every(given[key]) if key == "window" else _gap(given[key])
    fields = set(rule.__dataclass_fields__)
    unknown = sorted(set(given) - fields)
    if unknown:
        raise TypeError(f"preset {preset!r} ({type(rule).__name__}) takes no {', '.join(unknown)}")
    return replace(rule, **given)


def _gap(v: Every) -> int:
    if isinstance(v, int) and v == 0:
        return 0
    return parse_every(v)
