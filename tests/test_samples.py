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


PROGRAM_DAY = SAMPLES / "03042024.NASDAQ_ITCH50.gz"
PROGRAM_SHA256 = "32e5105f76015b15be5b0846749f50485b637319366508b627d13d7c5ad3eb90"


def test_the_program_burst_sample_is_what_its_command_makes(tmp_path):
    raw = gzip.decompress(PROGRAM_DAY.read_bytes())
    assert hashlib.sha256(raw).hexdigest() == PROGRAM_SHA256
    assert PROGRAM_SHA256 in (SAMPLES / "README.md").read_text()
    out = tmp_path / "03042024.NASDAQ_ITCH50"
    kf.synth_itch(out, messages=60_000, symbols=60, seed=11, program_bursts=2, date="2024-03-04")
    assert out.read_bytes() == raw
    truth = json.loads((SAMPLES / (PROGRAM_DAY.name + ".truth.json")).read_text())
    assert json.loads(Path(f"{out}.truth.json").read_text()) == truth


def test_the_planted_program_bursts_are_found_with_their_side_and_symbols():
    """Every feature the README shows has something to show on the samples: the second
    day's two program bursts come back at their time, on their side, with their symbols."""
    truth = json.loads((SAMPLES / (PROGRAM_DAY.name + ".truth.json")).read_text())
    planted = truth["program_bursts"]
    assert [p["side"] for p in planted] == ["B", "S"]
    found = kf.detect_program_bursts(PROGRAM_DAY).sort("start")
    assert found["prog_type"].to_list() == ["BUY", "SELL"]
    for row, p in zip(found.iter_rows(named=True), planted, strict=True):
        # The burst's one-second bucket holds the planted start (ET clock time).
        assert row["start"].strftime("%H:%M:%S") == p["start"][:8]
        assert sorted(m["symbol"] for m in row["symbols"]) == sorted(p["symbols"])
    # The stuffing rule finds every planted burst, the program bursts' members included.
    episodes = kf.detect_stuffing(PROGRAM_DAY)
    assert episodes.height == len(truth["bursts"]) == 2 + 24
