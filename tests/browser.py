"""A real headless Chromium for the tests of what ki2fast draws: pages opened with the network
off, JavaScript evaluated in them, screenshots. Spoken to over the Chrome DevTools Protocol
with the websockets client ki2fast already depends on."""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str:
    """The browser's path; the test is skipped, with the reason, when there is none."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")


class Browser:
    """One headless Chromium process and one page in it."""

    def __init__(self) -> None:
        from websockets.sync.client import connect

        self._profile = tempfile.TemporaryDirectory(
            prefix="ki2fast-chromium-", ignore_cleanup_errors=True
        )
        self.proc = subprocess.Popen(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--host-resolver-rules=MAP * ~NOTFOUND",  # no name resolves: nothing remote
                f"--user-data-dir={self._profile.name}",
                "--window-size=1300,1000",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            url = m[1] if m else None
        if url is None:
            self.close()
            raise RuntimeError("Chromium did not start its DevTools endpoint")
        self._connection = connect(url, max_size=None, open_timeout=30)
        self.ws = self._connection.__enter__()
        self._ids = itertools.count(1)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call("Network.enable", session=True)
        self.call(
            "Network.emulateNetworkConditions",
            session=True,
            offline=True,
            latency=0,
            downloadThroughput=-1,
            uploadThroughput=-1,
        )

    def call(self, method: str, *, session: bool = False, **params: Any) -> dict[str, Any]:
        """Sends one command and returns its result (events met on the way are dropped)."""
        n = next(self._ids)
        msg: dict[str, Any] = {"id": n, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == n:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, path: Path, ready: str = "true", timeout: float = 30) -> None:
        """Opens a local file and waits until the expression ``ready`` is true in it."""
        self.call("Page.navigate", session=True, url=path.resolve().as_uri())
        deadline = time.monotonic() + timeout
        while not self.eval(f"document.readyState === 'complete' && ({ready})"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path.name}: not ready ({ready})")
            time.sleep(0.1)

    def eval(self, expression: str) -> Any:
        wrapped = f"(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"
        got = self.call("Runtime.evaluate", session=True, expression=wrapped, returnByValue=True)
        return got["result"].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", session=True)["data"])

    def close(self) -> None:
        try:
            if getattr(self, "ws", None) is not None:
                self._connection.__exit__(None, None, None)
        finally:
            self.proc.kill()
            self.proc.wait()
            self._profile.cleanup()


def distinct_colors(png: bytes) -> int:
    """How many different pixel colours a (8-bit RGB or RGBA, non-interlaced) PNG holds."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, width, height, channels = 8, b"", 0, 0, 0
    while at < len(png):
        (size,) = struct.unpack(">I", png[at : at + 4])
        kind, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + size]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), (depth, color)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        at += 12 + size
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    colors: set[bytes] = set()
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif kind == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        for x in range(0, stride, channels * 7):  # every 7th pixel is plenty
            colors.add(bytes(cur[x : x + 3]))
        prev = cur
    return len(colors)
