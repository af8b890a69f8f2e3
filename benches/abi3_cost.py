"""What the stable ABI costs: the same calls through two installed builds of ki2fast, for
example the abi3 wheel and a version-specific one, each in its own environment. Every round
is a fresh process per environment, alternated so that drift of a shared machine hits both
alike; medians per call.

    python benches/abi3_cost.py ENV_A/bin/python ENV_B/bin/python [--rounds 7]

The calls are the ones whose cost is mostly the crossing into the core (small inputs, many
calls) plus one replay of the sample day, where the crossing is a rounding error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"

# Run inside each environment; prints {measure: seconds per call}.
PROBE = r"""
import gzip, json, sys, time
import ki2fast as kf
sample = sys.argv[1]
raw = gzip.open(sample).read()
event = b"\x00\x0cS" + bytes(10) + b"O"          # one framed System Event
kf.read_itch(event)                                # warm pyarrow up once
out = {}
def per_call(name, fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    out[name] = (time.perf_counter() - t) / n
per_call("count_itch, one message", lambda: kf.count_itch(event), 20_000)
per_call("read_itch, one message", lambda: kf.read_itch(event), 2_000)
per_call("count_itch, sample bytes", lambda: kf.count_itch(raw), 200)
per_call("replay_itch, sample day", lambda: kf.replay_itch(sample), 5)
out["abi"] = kf._core.__file__.rsplit("/", 1)[-1]
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs=2)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {p: [] for p in args.pythons}
    for _ in range(args.rounds):
        for python in args.pythons:
            out = subprocess.run(
                [python, "-c", PROBE, str(SAMPLE)], capture_output=True, text=True, check=True
            )
            runs[python].append(json.loads(out.stdout))
    a, b = args.pythons
    names = [k for k in runs[a][0] if k != "abi"]
    print(f"A: {runs[a][0]['abi']}   B: {runs[b][0]['abi']}   ({args.rounds} rounds)")
    for name in names:
        ma = statistics.median(r[name] for r in runs[a])
        mb = statistics.median(r[name] for r in runs[b])
        print(f"{name:<28} A {ma * 1e6:10.1f} us   B {mb * 1e6:10.1f} us   B/A {mb / ma:.3f}")


if __name__ == "__main__":
    sys.exit(main())
