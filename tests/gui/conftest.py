"""GUI test fixtures: isolated settings and data folders, no leaked threads, small clips, windows.

* every test gets its own QSettings INI file and ``SAM2STUDIO_DATA_DIR`` (autosaves, logs);
* a test fails when it leaves a QThread (or a Python thread it started) running;
* clips are built from the bundled sample clip resources/sample/cups.mp4.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QThread
from PySide6.QtWidgets import QApplication

from .helpers import CUPS

# ---- thread-leak guard --------------------------------------------------------------------
_STARTED: list[weakref.ref] = []
_original_start = QThread.start


def _tracking_start(self, *args, **kwargs):
    _STARTED.append(weakref.ref(self))
    return _original_start(self, *args, **kwargs)


QThread.start = _tracking_start


@pytest.fixture(autouse=True)
def no_thread_leaks():
    """Fail a test that leaves a QThread (or a non-daemon Python thread) running, or a window
    that was never shut down (gui/ui_thread_gc.py)."""
    _STARTED.clear()
    before = {t.ident for t in threading.enumerate()}
    yield
    app = QApplication.instance()
    deadline = time.monotonic() + 3.0
    while True:
        running = []
        for ref in _STARTED:
            t = ref()
            try:
                if t is not None and t.isRunning():
                    running.append(t.objectName() or type(t).__name__)
            except RuntimeError:  # the C++ object is gone, so is the thread
                pass
        extra = [t.name for t in threading.enumerate()
                 if t.ident not in before and t.is_alive() and not t.daemon]
        if not running and not extra:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"test left threads running: QThreads {running}, Python threads {extra}")
        if app is not None:
            app.processEvents()
        time.sleep(0.02)
    from sam2studio.gui import ui_thread_gc

    if ui_thread_gc.holders():  # a window never shut down: automatic collection would stay off
        held = ui_thread_gc.holders()
        while ui_thread_gc.holders():
            ui_thread_gc.release()
        pytest.fail(f"test left {held} window(s) holding UI-thread garbage collection (not shut down)")


# ---- isolation ------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings go to a temporary INI file; autosaves and logs to a temporary data dir."""
    ini = tmp_path / "settings"
    ini.mkdir()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(ini))
    data = tmp_path / "data"
    monkeypatch.setenv("SAM2STUDIO_DATA_DIR", str(data))
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("SAM2STUDIO_CACHE_DIR", str(cache))
    from sam2studio.gui.dialogs import error_dialog as errors

    errors.SHOWN.clear()
    yield ini


@pytest.fixture(scope="session")
def app_setup(qapp):
    from sam2studio.gui.app import setup_application

    setup_application(qapp)
    return qapp


# ---- clips ------------------------------------------------------------------------------------
def _cups_frames(n: int, step: int = 1) -> list[np.ndarray]:
    from sam2studio.core.video import open_video

    v = open_video(CUPS)
    try:
        return [v.get_frame(i * step).copy() for i in range(n)]
    finally:
        v.close()


@pytest.fixture(scope="session")
def cups_frames():
    """The first 24 frames of the sample clip (1280x720 RGB)."""
    return _cups_frames(24)


@pytest.fixture
def cups_clip(cups_frames):
    from sam2studio.core.video import ArrayVideo

    return ArrayVideo(cups_frames[:20], fps=29.97)


@pytest.fixture
def short_clip(cups_frames):
    """Six frames, for SAM 2 with random weights."""
    from sam2studio.core.video import ArrayVideo

    return ArrayVideo(cups_frames[:6], fps=29.97)


@pytest.fixture(scope="session")
def cups_mp4(cups_frames, tmp_path_factory) -> Path:
    """A real 16-frame H.264 file cut from the sample clip (saving and reopening need a path)."""
    import av

    path = tmp_path_factory.mktemp("clips") / "cups16.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=30)
        stream.width, stream.height = 640, 360
        stream.pix_fmt = "yuv420p"
        import cv2

        for f in cups_frames[:16]:
            small = cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(small, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


# ---- windows -------------------------------------------------------------------------------------
class WindowHelper:
    """Creates main windows and tears them down cleanly (threads stopped, no dialogs)."""

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot
        self.windows = []

    def __call__(self, engine: str | None = "classic", check_recovery: bool = False, show: bool = True,
                 **engine_options):
        from sam2studio.gui.main_window import MainWindow

        win = MainWindow(engine=engine, engine_options=engine_options, check_recovery=check_recovery)
        self.windows.append(win)
        if show:
            win.resize(1280, 820)
            with self.qtbot.waitExposed(win):
                win.show()
            if not check_recovery:
                with self.qtbot.waitActive(win):
                    win.activateWindow()
        return win

    def close_all(self) -> None:
        for win in self.windows:
            try:
                win.shutdown()
                win._closing = True
                win.close()
                win.deleteLater()
            except RuntimeError:  # already deleted
                pass
        self.windows.clear()
        QApplication.processEvents()


@pytest.fixture
def make_window(qtbot, app_setup):
    helper = WindowHelper(qtbot)
    yield helper
    helper.close_all()
