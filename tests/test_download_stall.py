"""Downloads cannot hang: a server that trickles bytes (or sends none) below the stall rule
stops the download with a clear error, and the partial file is kept and resumed next time.

The server is a real HTTP server on 127.0.0.1; the stall rule is shortened through
$SAM2STUDIO_DOWNLOAD_STALL so the test takes seconds, not minutes."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from sam2studio.engines import models
from sam2studio.errors import UserError

TINY = "sam2.1-tiny"
SIZE = 200_000


class Trickle:
    """Serves SIZE bytes: ``burst`` at once, then ``step`` bytes every ``every`` seconds (or
    nothing when ``every`` is None). Honours Range requests. Records each request's Range header."""

    def __init__(self, burst: int, every: float | None, size: int = SIZE, step: int = 1) -> None:
        self.data = (bytes(range(256)) * (size // 256 + 1))[:size]
        self.burst, self.every, self.step = burst, every, step
        self.ranges: list[str | None] = []
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = outer.data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    n = len(outer.data)
                    self.send_header("Content-Range", f"bytes {start}-{n - 1}/{n}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    if rng or outer.burst >= len(body):  # a resume: all of it at once
                        self.wfile.write(body)
                        return
                    self.wfile.write(body[:outer.burst])
                    self.wfile.flush()
                    for i in range(outer.burst, len(body), outer.step):
                        if outer.stop.wait(outer.every if outer.every is not None else 3600):
                            return
                        self.wfile.write(body[i:i + outer.step])
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/sam2.1_hiera_tiny.pt"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


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
