"""Shared fixtures: small synthetic days made by ki2fast's own generator (deterministic per
seed), and the real NASDAQ fixtures of ../shared/data/real when that checkout is present."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

import ki2fast as kf

SHARED_REAL = Path(
    os.environ.get(
        "KI2FAST_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    )
)


@pytest.fixture(scope="session")
def day_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("days")


@pytest.fixture(scope="session")
def small_day(day_dir: Path) -> Path:
    """About 60 000 messages, 40 symbols, every message type; session date in the name."""
    path = day_dir / "03012024.NASDAQ_ITCH50"
    kf.synth_itch(path, messages=60_000, symbols=40, seed=42, depth=20, date="2024-03-01")
    return path


@pytest.fixture(scope="session")
def small_day_gz(small_day: Path, day_dir: Path) -> Path:
    path = day_dir / "small.itch.gz"
    with open(small_day, "rb") as src, gzip.open(path, "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    return path


@pytest.fixture(scope="session")
def plain_day(small_day: Path, day_dir: Path) -> Path:
    """The same bytes under a name that carries no date."""
    path = day_dir / "plain.itch"
    shutil.copy(small_day, path)
    return path


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"real NASDAQ fixtures not present at {SHARED_REAL}")
    return SHARED_REAL


def frame(msg: bytes) -> bytes:
    return len(msg).to_bytes(2, "big") + msg


@pytest.fixture
def sample_archive(tmp_path: Path) -> Path:
    """An archive made from the samples as users make one: the Schwab capture and the Burst
    Monitor folder of 2025-03-14 imported with `ki2fast feeds`."""
    import subprocess
    import sys

    samples = Path(__file__).resolve().parents[1] / "data" / "samples"
    archive = tmp_path / "archive"
    for feed, src in (("schwab", "schwab/levelone_20250314.ndjson"), ("hftalert", "hftalert")):
        subprocess.run(
            [sys.executable, "-m", "ki2fast.cli", "feeds", feed, str(samples / src),
             "--out", str(archive)],
            check=True, capture_output=True,
        )  # fmt: skip
    return archive
