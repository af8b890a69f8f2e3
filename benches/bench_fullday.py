"""A whole trading day, cold, as a user runs it: each measurement in a fresh process (its
first-touch page faults count), wall time and peak resident memory (VmHWM), side by side in
one run with itch-book's book-only pass over the same file.

As a script it generates the day once into a cache folder (raw and gzip; never into the
repository) and prints a table; the README's full-day figures come from

    python benches/bench_fullday.py --messages 370000000 --cache ~/.cache/ki2fast/fullday

Under pytest (CI) the same measurements run once on a small day, to keep the harness honest:
every case must finish and produce its tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ki2fast as kf

_HWM = (
    "def _hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1]) * 1024\n"
    "    return 0\n"
)

#: Each case: the code a fresh interpreter runs with ``path``, ``out`` bound.
CASES: dict[str, str] = {
    "replay raw, in memory": "import ki2fast as kf\nr = kf.replay_itch(path)\n",
    "replay raw, out=DIR": "import ki2fast as kf\nkf.replay_itch(path, out=out)\n",
    "replay gz, out=DIR": "import ki2fast as kf\nkf.replay_itch(path + '.gz', out=out)\n",
    "replay + 1s activity, out=DIR": (
        "import ki2fast as kf\nkf.replay_itch(path, activity_window='1s', out=out)\n"
    ),
    "detect_stuffing": "import ki2fast as kf\nkf.detect_stuffing(path)\n",
    "iter_itch": "import ki2fast as kf\nfor _ in kf.iter_itch(path): pass\n",
    "itch-book book-only": (
        "import datetime, itch_book\n"
        "f = itch_book.Feed(path, date=datetime.date(2024, 3, 1))\n"
        "for _ in f.batches(tables=()): pass\n"
    ),
}

NAME = "03012024.NASDAQ_ITCH50"


def make_day(cache: Path, messages: int) -> Path:
    """The raw day and its gzip copy, made once per size in ``cache``."""
    folder = cache / f"{messages}"
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / NAME
    if not raw.exists():
        tmp = folder / (NAME + ".partial")
        kf.synth_itch(tmp, messages=messages, symbols=8000, depth=40, seed=1, truth=False)
        os.replace(tmp, raw)
    packed = folder / (NAME + ".gz")
    if not packed.exists():
        tmp = folder / (NAME + ".gz.partial")
        with open(tmp, "wb") as f:
            subprocess.run(["gzip", "-6", "-c", str(raw)], stdout=f, check=True)
        os.replace(tmp, packed)
    return raw


def run_case(name: str, path: Path, scratch: Path) -> dict[str, Any]:
    """One case in a fresh interpreter: wall seconds and peak RSS bytes."""
    out = scratch / "out"
    shutil.rmtree(out, ignore_errors=True)
    code = (
        _HWM
        + f"path, out = {str(path)!r}, {str(out)!r}\n"
        + "import time\nt = time.perf_counter()\n"
        + CASES[name]
        + "print(time.perf_counter() - t, _hwm())\n"
    )
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"case": name, "error": done.stderr.strip().splitlines()[-1:]}
    inner, hwm = done.stdout.split()[-2:]
    shutil.rmtree(out, ignore_errors=True)
    return {"case": name, "wall_s": wall, "work_s": float(inner), "peak_rss": int(hwm)}


def dask_days(path: Path, scratch: Path, workers: int, days: int = 4) -> float:
    """Seconds for ``days`` copies of the day (hard links under other dates) on a local
    Dask cluster of ``workers`` processes, one replay thread per task."""
    folder = scratch / "days"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    files = []
    for k in range(days):
        link = folder / f"03{k + 4:02d}2024.NASDAQ_ITCH50"
        os.link(path, link)
        files.append(str(link))
    code = (
        "import sys, time, ki2fast as kf\n"
        "from dask.distributed import Client, LocalCluster\n"
        "if __name__ == '__main__':\n"
        f"    cluster = LocalCluster(n_workers={workers}, threads_per_worker=1, "
        "dashboard_address=None)\n"
        "    client = Client(cluster)\n"
        "    t = time.perf_counter()\n"
        f"    kf.replay_days({files!r}, out={str(scratch / 'ds')!r}, client=client, "
        "threads=1, progress=False)\n"
        "    print(time.perf_counter() - t)\n"
        "    client.close(); cluster.close()\n"
    )
    script = scratch / "dask_days.py"
    script.write_text(code)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    shutil.rmtree(scratch / "ds", ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return float(done.stdout.split()[-1])


def machine() -> str:
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cores = len(os.sched_getaffinity(0))
    return f"{cpu}, {cores} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=370_000_000)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/ki2fast/fullday")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--only", nargs="+", metavar="TEXT", help="run the cases naming these")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    t = time.perf_counter()
    raw = make_day(args.cache, args.messages)
    print(f"day ready in {time.perf_counter() - t:.0f} s: {raw}", file=sys.stderr)
    messages = sum(kf.count_itch(raw).values())
    size, packed = raw.stat().st_size, Path(str(raw) + ".gz").stat().st_size
    scratch = args.cache / "scratch"
    scratch.mkdir(exist_ok=True)
    rows = []
    for name in CASES:
        if args.only and not any(t in name for t in args.only):
            continue
        print(f"running {name} ...", file=sys.stderr)
        rows.append(run_case(name, raw, scratch))
    print(f"\n{messages:,} messages, {size / 1e9:.1f} GB raw, {packed / 1e9:.1f} GB gzip")
    print(f"machine: {machine()}\n")
    print("| case | wall | M msg/s | peak RSS |\n|---|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['case']} | failed: {r['error']} | | |")
            continue
        rate = messages / r["wall_s"] / 1e6
        print(f"| {r['case']} | {r['wall_s']:.1f} s | {rate:.1f} | {r['peak_rss'] / 1e9:.2f} GB |")
    by = {r["case"]: r.get("wall_s") for r in rows}
    if by.get("itch-book book-only") and by.get("replay raw, out=DIR"):
        ratio = by["itch-book book-only"] / by["replay raw, out=DIR"]
        print(f"\nreplay (out=DIR) vs itch-book's book-only pass: {ratio:.2f}x")
    if by.get("replay gz, out=DIR") and by.get("replay raw, out=DIR"):
        print(f"gz / raw replay time: {by['replay gz, out=DIR'] / by['replay raw, out=DIR']:.2f}")
    result: dict[str, Any] = {"messages": messages, "machine": machine(), "cases": rows}
    if not args.skip_dask:
        one = dask_days(raw, scratch, workers=1)
        two = dask_days(raw, scratch, workers=2)
        print(f"4 days on Dask: 1 worker {one:.0f} s, 2 workers {two:.0f} s: {one / two:.2f}x")
        result["dask"] = {"one_worker_s": one, "two_workers_s": two}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


# --- under pytest: the harness on a small day ----------------------------------------------


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_day(tmp_path_factory.mktemp("fullday"), 100_000)


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith("itch-book")])
def test_every_case_runs_in_a_fresh_process(small_day: Path, tmp_path: Path, case: str) -> None:
    row = run_case(case, small_day, tmp_path)
    assert "error" not in row, row
    assert row["wall_s"] > 0 and row["peak_rss"] > 0


def test_days_on_dask_run(small_day: Path, tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    assert dask_days(small_day, tmp_path, workers=2, days=2) > 0


if __name__ == "__main__":
    main()
