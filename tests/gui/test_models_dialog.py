"""The model manager downloads from a loopback HTTP server: progress, cancel, install, engine switch."""

from __future__ import annotations

import io
import threading
import time

import pytest
from PySide6.QtCore import Qt

from loopback import LoopbackServer

from .helpers import open_clip, settle

TINY = "sam2.1-tiny"


class _Server(LoopbackServer):
    """Serves one payload at any path; ``drip`` sends it slowly (64 KiB every 20 ms);
    ``stall_after`` sends that many bytes and then nothing more."""

    path = "/models"

    def __init__(self, payload: bytes, drip: bool = False, stall_after: int | None = None) -> None:
        self.payload = payload
        self.drip = drip
        self.stall_after = stall_after
        self.release = threading.Event()
        self.requests = 0
        self.start()

    def get(self, request) -> None:
        self.requests += 1
        data = self.payload
        request.send_response(200)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        step = 64 * 1024 if self.drip else 4 * 1024 * 1024
        if self.stall_after is not None:
            try:
                request.wfile.write(data[:self.stall_after])
                request.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.release.wait(60)
            return
        try:
            for i in range(0, len(data), step):
                request.wfile.write(data[i:i + step])
                if self.drip:
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def unblock(self) -> None:
        self.release.set()


@pytest.fixture
def serve(monkeypatch):
    servers = []

    def start(payload: bytes, drip: bool = False, stall_after: int | None = None) -> _Server:
        s = _Server(payload, drip, stall_after)
        servers.append(s)
        monkeypatch.setenv("SAM2STUDIO_MODEL_BASE_URL", s.url)
        return s

    yield start
    for s in servers:
        s.close()


@pytest.fixture(scope="session")
def tiny_checkpoint() -> bytes:
    """A real sam2.1-tiny checkpoint with seeded random weights (built once per test session)."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(0)
    model = build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu")
    buf = io.BytesIO()
    torch.save({"model": model.state_dict()}, buf)
    return buf.getvalue()


def test_download_progress_and_cancel(make_window, qtbot, serve):
    from sam2studio.engines import models

    serve(bytes(20 * 1024 * 1024), drip=True)
    win = make_window("classic")
    dlg = win.models.model_manager()
    assert dlg.selected_model() == TINY
    assert not dlg.installed(TINY) and dlg.download_button.isEnabled()
    assert not dlg.cancel_button.isEnabled()
    ended = []
    dlg.download_finished.connect(lambda name, outcome: ended.append((name, outcome)))
    qtbot.mouseClick(dlg.download_button, Qt.MouseButton.LeftButton)
    assert dlg.downloading and dlg.cancel_button.isEnabled() and not dlg.download_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.progress.value() > 20, timeout=15000)
    assert "of 21.0 MB" in dlg.progress.format()
    t0 = time.monotonic()
    qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=5000)
    assert time.monotonic() - t0 < 1.5
    assert ended == [(TINY, "cancelled")]
    assert "cancelled" in dlg.status.text()
    assert not models.is_installed(TINY)
    assert (models.cache_dir() / "sam2.1_hiera_tiny.pt.part").is_file(), "kept for a resume"
    assert dlg.download_button.isEnabled() and not dlg.downloading
    dlg.close()


@pytest.mark.loads_sam2
def test_download_installs_and_switches_to_sam2(make_window, qtbot, serve, tiny_checkpoint, short_clip):
    from sam2studio.engines import models
    from sam2studio.gui.settings import Settings

    Settings().set("engine/image_size", 256)  # keep the switched-to engine quick on a CPU
    server = serve(tiny_checkpoint)
    win = make_window(None)  # engine from the settings: auto
    open_clip(qtbot, win, short_clip)
    assert win.session.engine_name == "classic" and win.banner.isVisible()
    qtbot.mouseClick(win.banner.download, Qt.MouseButton.LeftButton)  # "Download SAM 2.1 tiny"
    dlg = win.models.dialog
    assert dlg.downloading
    qtbot.waitUntil(lambda: not dlg.downloading, timeout=120000)
    assert "installed" in dlg.status.text(), dlg.status.text()
    assert models.is_installed(TINY) and server.requests == 1
    row = [dlg.table.item(i, 2).text() for i in range(dlg.table.rowCount())
           if dlg.table.item(i, 0).data(256) == TINY][0]
    assert "installed" in row
    # the open video now segments with SAM 2
    qtbot.waitUntil(lambda: win.session.engine_name == "sam2", timeout=120000)
    settle(qtbot, win)
    assert "sam2.1-tiny" in win.engine_label.text()
    assert not win.banner.isVisible()
    dlg.close()
    assert win.errors == []


def test_a_stalled_download_shows_the_stall_error_and_keeps_the_part(make_window, qtbot, serve, monkeypatch):
    from sam2studio.engines import models

    monkeypatch.setenv(models.STALL_ENV, "10000/1")  # the rule, with a 1 s window for the test
    serve(bytes(1024 * 1024), stall_after=3000)
    win = make_window("classic")
    dlg = win.models.model_manager()
    ended = []
    dlg.download_finished.connect(lambda name, outcome: ended.append((name, outcome)))
    qtbot.mouseClick(dlg.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(ended), timeout=10000)
    name, outcome = ended[0]
    assert name == TINY and "stalled" in outcome
    text = dlg.status.text()
    assert "the download stalled (less than 10 KB in 1 s) after 3000 of 1048576 bytes" in text
    assert "resume" in text
    assert (models.cache_dir() / "sam2.1_hiera_tiny.pt.part").stat().st_size == 3000
    assert dlg.download_button.isEnabled() and not dlg.downloading
    dlg.close()
