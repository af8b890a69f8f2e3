"""Replay with and without fused activity windows, alternated in one process so that drift
of a shared machine hits every setting alike; medians per setting. The pytest benchmarks
run each setting's rounds back to back, which on a noisy VM can move a 10 % difference
either way.

    python benches/paired_activity.py bench-data/shallow-10000000.itch none 1h 1m 1s
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

import ki2fast as kf


def main(argv: list[str]) -> None:
    path, settings = argv[0], argv[1:] or ["none", "1m", "1s"]
    rounds = 7
    times: dict[str, list[float]] = {w: [] for w in settings}
    for _ in range(rounds):
        for w in settings:
            t = time.perf_counter()
            r = kf.replay_itch(
                path, date=dt.date(2024, 3, 1), activity_window=None if w == "none" else w
            )
            times[w].append(time.perf_counter() - t)
            del r
    base = statistics.median(times[settings[0]])
    for w in settings:
        m = statistics.median(times[w])
        print(
            f"{w:>5}  median {m:.3f} s  {m / base:.3f}x  " + " ".join(f"{x:.2f}" for x in times[w])
        )


if __name__ == "__main__":
    main(sys.argv[1:])
