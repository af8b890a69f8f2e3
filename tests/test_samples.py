"""Golden tests on data/samples: the shipped day is what its README says, and the generator
still makes exactly it."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import ki2fast as kf

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
DAY = SAMPLES / "03012024.NASDAQ_ITCH50.gz"
ITCH_SHA256 = "9e609ded83cd0378a1691c1d36d8862ed4ac2221c8e1f8a24db26f928e43c3d2"


def test_sample_decompresses_to_the_documented_bytes():
    raw = gzip.decompress(DAY.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == ITCH_SHA256
    assert ITCH_SHA256 in (SAMPLES / "README.md").read_text()


def test_the_documented_command_still_makes_the_sample(tmp_path):
    out = tmp_path / "03012024.NASDAQ_ITCH50"
    kf.synth_itch(out, messages=100_000, symbols=200, seed=7)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == ITCH_SHA256
    truth = json.loads((SAMPLES / (DAY.name + ".truth.json")).read_text())
    assert json.loads(Path(f"{out}.truth.json").read_text()) == truth


def test_sample_reads_completely():
    truth = json.loads((SAMPLES / (DAY.name + ".truth.json")).read_text())
    tables = kf.read_itch(DAY)
    assert {n: t.num_rows for n, t in tables.items()} == truth["summary"]["counts"]
    assert all("ts" in t.column_names for t in tables.values())
    summary = kf.itch_summary(DAY)
    assert [c for c, _, _ in summary.system_events] == list("OSQMEC")
    assert len(summary.symbols) == 200
