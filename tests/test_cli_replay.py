"""The replay commands of the CLI on the shipped sample."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from ki2fast.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "03012024.NASDAQ_ITCH50.gz"


def test_vwap_prints_the_pivot_and_writes_files(tmp_path: Path, capsys):
    assert main(["itch", "vwap", str(SAMPLE), "--symbols", "A", "BE"]) == 0
    out = capsys.readouterr().out
    assert "10:30:00" in out and "close" in out and "BE" in out
    target = tmp_path / "report.csv"
    assert main(["itch", "vwap", str(SAMPLE), "--out", str(target)]) == 0
    report = pl.read_csv(target)
    assert {"symbol", "vwap", "volume", "notional", "label"} <= set(report.columns)
    assert main(["itch", "vwap", str(SAMPLE), "--out", str(tmp_path / "x.txt")]) == 1


def test_book_at_a_time(capsys):
    assert (
        main(["itch", "book", str(SAMPLE), "--symbol", "A", "--at", "10:00:00", "--levels", "3"])
        == 0
    )
    out = capsys.readouterr().out
    assert "A before 10:00:00: bid" in out and "level" in out


def test_bars_writes_parquet(tmp_path: Path):
    assert main(["itch", "bars", str(SAMPLE), "--out", str(tmp_path), "--every", "5m"]) == 0
    bars = pl.read_parquet(tmp_path / "bars.parquet")
    trades = pl.read_parquet(tmp_path / "trades.parquet")
    counted = trades.filter(pl.col("printable") & ~pl.col("broken"))
    assert bars["volume"].sum() == counted["shares"].sum()


def test_bars_threads_give_the_same_files(tmp_path: Path):
    raw = tmp_path / "day.itch"
    raw.write_bytes(gzip.decompress(SAMPLE.read_bytes()))
    for threads in ("1", "2"):
        out = tmp_path / threads
        assert main(["itch", "bars", str(raw), "--out", str(out), "--threads", threads]) == 0
    for name in ("bars.parquet", "trades.parquet"):
        assert pl.read_parquet(tmp_path / "2" / name).equals(pl.read_parquet(tmp_path / "1" / name))
    assert main(["itch", "vwap", str(raw), "--threads", "0"]) == 1


@pytest.mark.parametrize("cmd", ["vwap", "book", "bars"])
def test_help_has_an_example(cmd, capsys):
    with pytest.raises(SystemExit):
        main(["itch", cmd, "--help"])
    assert "example:" in capsys.readouterr().out


def test_replay_writes_a_day_folder_and_many_days_on_dask(tmp_path: Path, capsys):
    import ki2fast as kf

    day = tmp_path / "day"
    assert main(["itch", "replay", str(SAMPLE), "--out", str(day), "--activity-window", "1s"]) == 0
    assert "StoredReplay" in capsys.readouterr().out
    stored = kf.open_replay(day)
    assert set(stored.tables()) == {"trades", "bars", "hourly_vwap", "activity"}
    assert stored.hourly_vwap is not None
    assert stored.hourly_vwap.collect().equals(kf.hourly_vwap(SAMPLE))
    # Two days (the sample under a second date) on a local Dask cluster.
    pytest.importorskip("distributed")
    second = tmp_path / "03042024.NASDAQ_ITCH50.gz"
    second.write_bytes(SAMPLE.read_bytes())
    args = ["itch", "replay", str(SAMPLE), str(second), "--out", str(tmp_path / "ds")]
    assert main([*args, "--workers", "2", "--bars", "none"]) == 0
    ds = kf.open_days(tmp_path / "ds")
    assert [d.isoformat() for d in ds.days] == ["2024-03-01", "2024-03-04"]
    hourly = ds.hourly_vwap.collect()
    assert hourly.filter(pl.col("date") == hourly["date"].min()).height == hourly.height // 2
    assert main(["itch", "replay", str(tmp_path / "missing.itch"), "--out", str(day)]) == 1
    assert "No such file" in capsys.readouterr().err
    assert kf.open_replay(day).tables()  # the day written before still stands
