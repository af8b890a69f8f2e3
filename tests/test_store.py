"""The daily Parquet archive (ki2fast.store) and the feeds/store command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ki2fast import store
from ki2fast.cli import main
from ki2fast.feeds import schwab

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
NY = "America/New_York"


def trades(times_ms: list[int], start: int = 0) -> pa.Table:
    n = len(times_ms)
    return pa.table(
        {
            "ts": pa.array(times_ms, pa.int64()).cast(pa.timestamp("ms", tz=NY)),
            "stock": ["X"] * n,
            "price": [10.0 + i for i in range(start, start + n)],
            "shares": [100] * n,
        }
    )


# 2025-03-14 23:59 ET and 2025-03-15 00:01 ET: one day each, in ET (both 2025-03-15 in UTC).
LATE, EARLY = 1742011140000, 1742011260000


def test_append_places_rows_by_et_day_and_connect_reads_them(tmp_path):
    written = store.append(tmp_path, "t", trades([LATE, EARLY, EARLY]), part="p1")
    assert [p.parent.name for p in written] == ["date=2025-03-14", "date=2025-03-15"]
    assert not list(tmp_path.rglob("*.tmp"))
    assert store.feeds(tmp_path) == ["t"]
    assert store.dates(tmp_path, "t") == [dt.date(2025, 3, 14), dt.date(2025, 3, 15)]
    con = store.connect(tmp_path)
    got = con.execute("SELECT date, count(*) FROM t GROUP BY date ORDER BY date").fetchall()
    assert got == [(dt.date(2025, 3, 14), 1), (dt.date(2025, 3, 15), 2)]
    lazy = store.scan(tmp_path, "t").sort("price").collect()
    assert lazy["price"].to_list() == [10.0, 11.0, 12.0]


def test_the_same_part_again_replaces_it(tmp_path):
    store.append(tmp_path, "t", trades([EARLY]), part="src")
    store.append(tmp_path, "t", trades([EARLY, EARLY]), part="src")
    store.append(tmp_path, "t", trades([EARLY]), part="other")
    assert store.query(tmp_path, "SELECT count(*) AS n FROM t").to_pylist() == [{"n": 3}]


def test_compaction_merges_a_day_and_later_appends_of_its_parts_are_skipped(tmp_path):
    for i in range(5):
        store.append(tmp_path, "t", trades([EARLY + i], start=i), part=f"p{i}")
    assert store.compact(tmp_path, "2025-03-15") == {"t": 5}
    folder = tmp_path / "feed=t" / "date=2025-03-15"
    assert [p.name for p in folder.iterdir()] == ["compacted.parquet"]
    assert store.append(tmp_path, "t", trades([EARLY]), part="p3") == []
    store.append(tmp_path, "t", trades([EARLY], start=9), part="p9")
    assert store.compact(tmp_path, dt.date(2025, 3, 15)) == {"t": 6}
    prices = sorted(store.scan(tmp_path, "t").collect()["price"].to_list())
    assert prices == [10.0, 11.0, 12.0, 13.0, 14.0, 19.0]


def test_a_compaction_cut_short_neither_doubles_rows_nor_leaves_parts(tmp_path):
    for i in range(3):
        store.append(tmp_path, "t", trades([EARLY + i], start=i), part=f"p{i}")
    folder = tmp_path / "feed=t" / "date=2025-03-15"
    parts = {p: p.read_bytes() for p in folder.glob("*.parquet")}
    store.compact(tmp_path, "2025-03-15")
    for p, data in parts.items():  # as if the process died before removing the parts
        p.write_bytes(data)
    assert store.query(tmp_path, "SELECT count(*) AS n FROM t").to_pylist() == [{"n": 3}]
    assert store.compact(tmp_path, "2025-03-15") == {"t": 3}
    assert [p.name for p in folder.iterdir()] == ["compacted.parquet"]


def test_tables_without_a_time_need_a_date_and_feed_names_are_checked(tmp_path):
    plain = pa.table({"a": [1, 2]})
    with pytest.raises(ValueError, match="date="):
        store.append(tmp_path, "t", plain)
    assert store.append(tmp_path, "t", plain, date="2025-03-14")[0].name.endswith(".parquet")
    with pytest.raises(ValueError, match="feed names"):
        store.append(tmp_path, "../evil", plain, date="2025-03-14")
    with pytest.raises(ValueError, match="part name"):
        store.append(tmp_path, "t", plain, date="2025-03-14", part="../x")


def test_cli_imports_a_schwab_capture_once_however_often_it_runs(tmp_path, capsys):
    capture = SAMPLES / "schwab" / "frames_20250314.ndjson"
    if not capture.exists():
        pytest.skip("samples not in this checkout")
    out = tmp_path / "archive"
    assert main(["feeds", "schwab", str(capture), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "schwab_trades" in printed and "1 bad line(s)" in printed and "line 50" in printed
    assert main(["feeds", "schwab", str(capture), "--out", str(out)]) == 0
    r = schwab.read_levelone(capture)
    sql = "SELECT stock, sum(shares)::BIGINT AS shares FROM schwab_trades GROUP BY 1 ORDER BY 1"
    capsys.readouterr()
    assert main(["store", "query", str(out), sql, "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    want: dict[str, int] = {}
    for row in r.trades.to_pylist():
        want[row["stock"]] = want.get(row["stock"], 0) + row["shares"]
    assert got == [{"stock": k, "shares": v} for k, v in sorted(want.items())]
    assert main(["store", "compact", str(out), "--date", "2025-03-14"]) == 0
    table = pq.read_table(out / "feed=schwab_trades" / "date=2025-03-14" / "compacted.parquet")
    assert table.num_rows == r.trades.num_rows


def test_cli_imports_a_burst_monitor_folder(tmp_path, capsys):
    folder = SAMPLES / "hftalert"
    if not folder.exists():
        pytest.skip("samples not in this checkout")
    out = tmp_path / "archive"
    assert main(["feeds", "hftalert", str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    # The tables a follower stores (docs/feeds.md §3.7): symbols in their own table, join states.
    sql = (
        "SELECT (SELECT count(*) FROM burst_events) AS n, (SELECT count(*) FROM burst_symbols)"
        " AS s, (SELECT string_agg(status, ',' ORDER BY event_ts) FROM burst_join_status) AS j"
    )
    assert main(["store", "query", str(out), sql, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"n": 3, "s": 4, "j": "joined,joined,missing"}
    # Importing the folder again replaces its rows.
    assert main(["feeds", "hftalert", str(folder), "--out", str(out)]) == 0
    capsys.readouterr()
    assert (
        main(["store", "query", str(out), "SELECT count(*) AS n FROM hft1_reports", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out) == {"n": 3}
    assert main(["feeds", "hftalert", str(tmp_path / "nope"), "--out", str(out)]) == 1


def test_queries_only_read_the_archive_unless_unrestricted(tmp_path):
    import duckdb

    import ki2fast as kf

    archive = tmp_path / "archive"
    store.append(archive, "t", trades([EARLY, EARLY]), part="p")
    outside = tmp_path / "outside.csv"
    outside.write_text("secret\n1\n")
    target = tmp_path / "written.csv"
    refused = [
        f"SELECT * FROM read_csv('{outside}')",
        f"COPY (SELECT 1) TO '{target}'",
        f"COPY (SELECT 1) TO '{archive}/feed=t/x.csv'",
        f"ATTACH '{tmp_path}/other.db'",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "SELECT 1; DROP VIEW t",
    ]
    for sql in refused:
        with pytest.raises((PermissionError, duckdb.Error)):
            store.query(archive, sql)
    assert not target.exists() and not (archive / "feed=t" / "x.csv").exists()
    assert store.query(archive, "SELECT count(*) AS n FROM t").to_pylist() == [{"n": 2}]
    # The same through the command line, and the flag that lifts the limits.
    assert main(["store", "query", str(archive), f"COPY (SELECT 1) TO '{target}'"]) != 0
    assert not target.exists()
    assert (
        main(["store", "query", str(archive), f"COPY (SELECT 1) TO '{target}'", "--unrestricted"])
        == 0
    )
    assert target.exists()
    # A stray folder is left out with a warning instead of breaking every query.
    (archive / "feed=Bad-Name").mkdir()
    with pytest.warns(kf.ArchiveWarning, match="Bad-Name"):
        assert store.query(archive, "SELECT count(*) AS n FROM t").to_pylist() == [{"n": 2}]
