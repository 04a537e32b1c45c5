"""Downloads cannot hang: a server that trickles bytes (or sends none) below the stall rule
stops the download with a clear error, and the partial file is kept and resumed next time.

The server is a real HTTP server on 127.0.0.1; the stall rule is shortened through
$SAM2STUDIO_DOWNLOAD_STALL so the test takes seconds, not minutes."""

from __future__ import annotations

import threading
import time

import pytest

from loopback import LoopbackServer
from sam2studio.engines import models
from sam2studio.errors import UserError

TINY = "sam2.1-tiny"
SIZE = 200_000


class Trickle(LoopbackServer):
    """Serves SIZE bytes: ``burst`` at once, then ``step`` bytes every ``every`` seconds (or
    nothing when ``every`` is None). Honours Range requests. Records each request's Range header."""

    path = "/sam2.1_hiera_tiny.pt"

    def __init__(self, burst: int, every: float | None, size: int = SIZE, step: int = 1) -> None:
        self.data = (bytes(range(256)) * (size // 256 + 1))[:size]
        self.burst, self.every, self.step = burst, every, step
        self.ranges: list[str | None] = []
        self.stop = threading.Event()
        self.start()

    def get(self, request) -> None:
        rng = request.headers.get("Range")
        self.ranges.append(rng)
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        body = self.data[start:]
        request.send_response(206 if rng else 200)
        if rng:
            n = len(self.data)
            request.send_header("Content-Range", f"bytes {start}-{n - 1}/{n}")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        try:
            if rng or self.burst >= len(body):  # a resume: all of it at once
                request.wfile.write(body)
                return
            request.wfile.write(body[:self.burst])
            request.wfile.flush()
            for i in range(self.burst, len(body), self.step):
                if self.stop.wait(self.every if self.every is not None else 3600):
                    return
                request.wfile.write(body[i:i + self.step])
                request.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def unblock(self) -> None:
        self.stop.set()


@pytest.fixture
def trickle():
    servers = []

    def start(burst: int, every: float | None, size: int = SIZE, step: int = 1) -> Trickle:
        servers.append(Trickle(burst, every, size, step))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


@pytest.fixture(autouse=True)
def no_checkpoint_check(monkeypatch, tmp_path):
    """The bytes served are not a checkpoint: these tests are about the transport. Each test
    has its own empty cache."""
    monkeypatch.setattr(models, "check_checkpoint", lambda *a, **k: None)
    monkeypatch.setenv(models.CACHE_ENV, str(tmp_path / "cache"))


@pytest.fixture
def short_rule(monkeypatch):
    monkeypatch.setenv(models.STALL_ENV, "1000/1")  # under 1 KB in 1 s is a stall


def test_a_trickling_server_stops_the_download_with_a_clear_error_and_keeps_the_part(trickle, short_rule):
    srv = trickle(burst=5000, every=0.2)  # 5 bytes a second after the first 5000
    t0 = time.monotonic()
    with pytest.raises(UserError) as err:
        models.download(TINY, url=srv.url)
    took = time.monotonic() - t0
    msg = str(err.value)
    assert "\n" not in msg
    assert "the download stalled (less than 1 KB in 1 s) after" in msg and f"of {SIZE} bytes" in msg
    assert "run it again to resume" in msg
    assert took < 4, took  # the rule's window, not the connect timeout or forever
    part = models.cache_dir() / "sam2.1_hiera_tiny.pt.part"
    kept = part.stat().st_size
    assert 5000 <= kept < SIZE and part.read_bytes() == srv.data[:kept]

    # the next try resumes from the kept bytes and completes
    path = models.download(TINY, url=srv.url)
    assert srv.ranges[-1] == f"bytes={kept}-"
    assert path.read_bytes() == srv.data and not part.exists()


def test_a_silent_server_stalls_after_the_window(trickle, short_rule):
    srv = trickle(burst=0, every=None)  # headers, then nothing
    t0 = time.monotonic()
    with pytest.raises(UserError, match="the download stalled"):
        models.download(TINY, url=srv.url, timeout=30)
    assert time.monotonic() - t0 < 3


def test_a_slow_but_steady_download_is_not_a_stall(trickle, monkeypatch):
    monkeypatch.setenv(models.STALL_ENV, "500/1")
    srv = trickle(burst=0, every=0.02, size=12_000, step=100)  # up to 5 KB a second, steadily
    path = models.download(TINY, url=srv.url)
    assert path.read_bytes() == srv.data


def test_a_bad_stall_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(models.STALL_ENV, "fast")
    with pytest.raises(UserError, match="must be BYTES/SECONDS"):
        models.stall_rule()
