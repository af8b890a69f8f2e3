"""Runtime behaviour users rely on: a cheap import, decoding that releases the GIL, and
Ctrl-C that interrupts a long read."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

import ki2fast as kf


def test_import_is_cheap():
    code = (
        "import sys, ki2fast\n"
        "print(sorted(m for m in ('polars', 'pyarrow', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def big_day(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.itch"
    kf.synth_itch(path, messages=3_000_000, symbols=300, seed=11, truth=False)
    return path


def _spin_rate(until) -> float:
    n, start = 0, time.perf_counter()
    while not until():
        n += 1
    return n / (time.perf_counter() - start)


def test_decoding_releases_the_gil(big_day):
    deadline = time.perf_counter() + 0.3
    alone = _spin_rate(lambda: time.perf_counter() > deadline)
    done = threading.Event()

    def read():
        for _ in range(2):
            kf.read_itch(big_day)
            kf.count_itch(big_day)
        done.set()

    worker = threading.Thread(target=read)
    worker.start()
    beside = _spin_rate(done.is_set)
    worker.join()
    # Were the GIL held while decoding, this thread would stall for whole reads (C code is
    # never asked to switch); released, it keeps most of its speed on a second core.
    assert beside > 0.3 * alone, (beside, alone)


def test_ctrl_c_interrupts_a_long_read(big_day):
    code = (
        "import sys, ki2fast as kf\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    while True:\n"
        "        kf.read_itch(sys.argv[1])\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(big_day)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert "interrupted" in out
