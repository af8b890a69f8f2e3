"""Benchmark fixtures: synthetic days made once per session by ki2fast's generator.

Sizes come from the environment so the same suite runs as a quick test in CI and as the real
measurement on a workstation:

    KI2FAST_BENCH_MESSAGES   messages per day (default 10 000 000)
    KI2FAST_BENCH_ROUNDS     timed rounds per benchmark (default 3; CI uses 1)
    KI2FAST_BENCH_DIR        where the days are cached (default: a temporary directory)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import ki2fast as kf

MESSAGES = int(os.environ.get("KI2FAST_BENCH_MESSAGES", "10000000"))
ROUNDS = int(os.environ.get("KI2FAST_BENCH_ROUNDS", "3"))


@pytest.fixture(scope="session", autouse=True)
def warm_up() -> None:
    """First use of pyarrow's table machinery costs ~0.1 s once per process; pay it here."""
    import pyarrow as pa

    pa.table({"x": pa.array([1, 2, 3])}).to_batches()
    kf.read_itch(b"\x00\x0cS" + bytes(10) + b"O")  # one framed System Event


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("KI2FAST_BENCH_DIR")
    if where:
        path = Path(where)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("bench")


def _day(bench_dir: Path, name: str, **kwargs) -> Path:
    path = bench_dir / name
    if not path.exists():
        kf.synth_itch(path, messages=MESSAGES, seed=1, **kwargs)
    return path


@pytest.fixture(scope="session")
def shallow(bench_dir: Path) -> Path:
    """About 500 symbols and 12 000 resting orders: the shallow day of the benchmarks."""
    return _day(bench_dir, f"shallow-{MESSAGES}.itch", symbols=500, depth=25)


@pytest.fixture(scope="session")
def shallow_gz(bench_dir: Path) -> Path:
    return _day(bench_dir, f"shallow-{MESSAGES}.itch.gz", symbols=500, depth=25, gzip=True)


@pytest.fixture(scope="session")
def without_dlcr(bench_dir: Path, shallow: Path) -> Path:
    """The shallow day minus its `O` messages, for parsers that cannot read them."""
    path = bench_dir / f"shallow-{MESSAGES}-no-O.itch"
    if not path.exists():
        tables = kf.read_itch(shallow)
        del tables["dlcr_price_discovery"]
        kf.write_itch(path, tables)
    return path


def run(benchmark, fn, *, messages: int, nbytes: int, rounds: int = ROUNDS):
    """Times `fn` and records throughput next to pytest-benchmark's timings. With more than
    one round, one untimed warm-up round goes first: on virtual machines the first use of
    fresh memory costs host-side page faults that say nothing about the code."""
    warmup = 1 if rounds > 1 else 0
    # The previous round's result is dropped before the next round starts (untimed), so
    # rounds do not stack hundreds of megabytes of tables on each other.
    held: list = []

    def setup() -> None:
        held.clear()

    benchmark.pedantic(
        lambda: held.append(fn()), setup=setup, rounds=rounds, iterations=1, warmup_rounds=warmup
    )
    result = held[0]
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(
        messages=messages,
        bytes=nbytes,
        msg_per_s=messages / median,
        mb_per_s=nbytes / median / 1e6,
    )
    return result
