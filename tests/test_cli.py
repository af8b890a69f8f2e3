"""The `ki2fast` command line, run as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import ki2fast as kf
from ki2fast.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"


def test_summary_report(capsys):
    assert main(["itch", "summary", str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    counts = kf.count_itch(SAMPLE)
    assert f"{counts['add_order']:,}" in out
    assert "session    2024-03-01" in out
    assert "timestamp_regressions" in out and "M msg/s" in out


def test_summary_json(capsys):
    assert main(["itch", "summary", str(SAMPLE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["messages"] == {k: v for k, v in kf.count_itch(SAMPLE).items()}
    assert [e["code"] for e in report["system_events"]] == list("OSQMEC")
    assert report["symbols"] == 200


def test_to_parquet(tmp_path, capsys):
    assert main(["itch", "to-parquet", str(SAMPLE), str(tmp_path), "--messages", "A", "E"]) == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["add_order.parquet", "order_executed.parquet"]
    table = pq.read_table(tmp_path / "add_order.parquet")
    assert table.equals(kf.read_itch(SAMPLE, messages=["A"])["add_order"])
    meta = pq.ParquetFile(tmp_path / "add_order.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_synth_is_deterministic(tmp_path, capsys):
    a, b = tmp_path / "a.itch", tmp_path / "b.itch"
    for out in (a, b):
        args = ["itch", "synth", str(out), "--messages", "20000", "--symbols", "30", "--seed", "5"]
        assert main(args) == 0
    assert a.read_bytes() == b.read_bytes()
    assert json.loads(Path(f"{a}.truth.json").read_text())["seed"] == 5


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad = tmp_path / "bad.itch"
    bad.write_bytes(b"\x00\x24A" + bytes(20))
    assert main(["itch", "summary", str(bad)]) == 1
    assert "truncated frame at byte 0" in capsys.readouterr().err
    assert main(["itch", "summary", str(tmp_path / "missing.itch")]) == 1


@pytest.mark.parametrize("cmd", ["summary", "to-parquet", "synth"])
def test_every_command_has_help_with_an_example(cmd):
    out = subprocess.run(
        [sys.executable, "-m", "ki2fast.cli", "itch", cmd, "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "example:" in out and f"ki2fast itch {cmd}" in out


def test_a_reader_that_stops_early_ends_the_command_quietly():
    """`ki2fast itch summary … --json | head -2`: no error, no traceback. The pipe's reader
    is gone before the command writes, so every write fails as it does after `head` quits."""
    import os

    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ki2fast.cli", "itch", "summary", str(SAMPLE), "--json"],
            stdout=write,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr.decode()) == (141, "")


def test_a_missing_optional_part_names_the_extra_to_install(monkeypatch, tmp_path, capsys):
    import builtins

    real = builtins.__import__

    def no_bokeh(name, *args, **kwargs):
        if name == "bokeh" or name.startswith("bokeh."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bokeh)
    assert main(["chart", "itch", str(SAMPLE), "--out", str(tmp_path), "--top", "1"]) == 1
    assert "pip install 'ki2fast[charts]'" in capsys.readouterr().err
