"""The synthetic day generator as users call it: deterministic files, a truth sidecar that
matches the file, every message type, planted bursts on a few symbols."""

from __future__ import annotations

import hashlib
import json

import pytest

import ki2fast as kf


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_arguments_same_bytes(tmp_path):
    a, b, c = tmp_path / "a.itch", tmp_path / "b.itch", tmp_path / "c.itch"
    kf.synth_itch(a, messages=20_000, symbols=30, seed=9)
    kf.synth_itch(b, messages=20_000, symbols=30, seed=9)
    kf.synth_itch(c, messages=20_000, symbols=30, seed=10)
    assert digest(a) == digest(b) != digest(c)


def test_truth_matches_the_file(small_day):
    truth = json.loads((small_day.parent / (small_day.name + ".truth.json")).read_text())
    counts = kf.count_itch(small_day)
    assert truth["summary"]["counts"] == {
        k: v for k, v in counts.items() if not k.startswith("unknown")
    }
    assert abs(truth["summary"]["messages"] - 60_000) <= 50
    assert all(n > 0 for n in truth["summary"]["counts"].values())
    assert truth["summary"]["live_orders_at_end"] == 0
    assert [e["code"] for e in truth["events"]] == list("OSQMEC")
    assert {h["kind"] for h in truth["halts"]} == {"halt", "luld_pause", "operational_halt"}
    for burst in truth["bursts"]:
        assert burst["symbol"] in truth["stuffers"]
        assert burst["messages"] >= 200 and burst["duration_ms"] < 25
        assert burst["adds"] + burst["deletes"] + burst["cancels"] == burst["messages"]


def test_gzip_output_decodes_to_the_same_day(tmp_path):
    raw, gz = tmp_path / "d.itch", tmp_path / "d.itch.gz"
    kf.synth_itch(raw, messages=20_000, symbols=30, seed=3)
    kf.synth_itch(gz, messages=20_000, symbols=30, seed=3, gzip=True)
    assert gz.read_bytes()[:2] == b"\x1f\x8b"
    assert kf.count_itch(raw) == kf.count_itch(gz)
    assert gz.stat().st_size < raw.stat().st_size / 2


@pytest.mark.parametrize("seed", range(1, 6))
def test_the_fewest_symbols_allowed_make_a_valid_day(tmp_path, seed):
    path = tmp_path / "few.itch"
    truth = kf.synth_itch(path, messages=5_000, symbols=8, seed=seed)
    assert kf.replay_itch(path).stats["unknown_ref"] == 0
    assert truth["summary"]["messages"] > 0
