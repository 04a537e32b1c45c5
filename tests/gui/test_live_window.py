"""File → Open Camera: the live window tracks a clicked object on a (fake) camera from its own
QThread, shows fps and latency, records to a project that reopens, and reports a failing camera
as one sentence, leaving no thread running."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam2studio.errors import VideoError
from sam2studio.gui.dialogs import error_dialog as errors

from .helpers import CUPS


@pytest.fixture
def camera():
    from sam2studio.live import FakeCamera

    return FakeCamera(CUPS, realtime=True, loop=True)


@pytest.fixture
def live(qtbot, app_setup):
    """Makes LiveWindows and closes them (threads joined) at the end."""
    from sam2studio.gui.live_window import LiveWindow

    made = []

    def make(cam, **kw):
        w = LiveWindow(cam, **kw)
        made.append(w)
        w.resize(1000, 680)
        with qtbot.waitExposed(w):
            w.show()
        return w

    yield make
    for w in made:
        w.close()


def click_image(qtbot, w, x, y, button=Qt.MouseButton.LeftButton):
    """A real mouse click on image pixel (x, y) of the live view."""
    qtbot.mouseClick(w.canvas.viewport(), button, pos=w.canvas.view_pos(x, y))


def track_middle_cup(qtbot, w):
    qtbot.waitUntil(lambda: w.frames_shown >= 3 and w.canvas.has_image, timeout=20000)
    assert w.last_frame.rgb.shape == (720, 1280, 3) and not w.last_frame.tracking
    click_image(qtbot, w, 640, 400)
    assert w.current_obj == 1

    def tracked():
        f = w.last_frame
        return f.tracking and 1 in f.masks and f.masks[1].any()

    qtbot.waitUntil(tracked, timeout=30000)
    # the mask is on the middle cup, around the click, and drawn on the view
    mask = w.last_frame.masks[1]
    ys, xs = np.nonzero(mask)
    assert 450 < xs.mean() < 830 and 250 < ys.mean() < 550, (xs.mean(), ys.mean())
    assert mask.sum() < 0.25 * mask.size
    assert w.canvas.overlay_rgba is not None


def test_live_window_tracks_a_clicked_cup_and_stops_cleanly(qtbot, live, camera):
    w = live(camera)
    assert w.running and w.worker.thread() is w.live_thread
    for control in (w.stop_button, w.object_box, w.add_button, w.remove_button, w.record_box,
                    w.open_button, w.canvas, w.stats_label):
        assert control.toolTip(), control
    track_middle_cup(qtbot, w)
    qtbot.waitUntil(lambda: "fps" in w.stats_label.text() and w.worker.stats.frames > 3, timeout=20000)
    assert "latency p50" in w.stats_label.text() and "dropped" in w.stats_label.text()
    assert w.worker.stats.fps > 0

    # a negative click goes to object 1; "Add object" makes the next left click object 2
    click_image(qtbot, w, 300, 150, Qt.MouseButton.RightButton)
    assert w.current_obj == 1
    qtbot.mouseClick(w.add_button, Qt.MouseButton.LeftButton)
    click_image(qtbot, w, 320, 450)
    assert w.current_obj == 2 and w.object_box.count() == 2
    qtbot.waitUntil(lambda: 2 in w.last_frame.masks, timeout=30000)
    qtbot.mouseClick(w.remove_button, Qt.MouseButton.LeftButton)
    assert w.current_obj == 1 and w.object_box.count() == 1
    qtbot.waitUntil(lambda: set(w.last_frame.masks) == {1}, timeout=30000)

    with qtbot.waitSignal(w.stopped, timeout=5000):
        qtbot.mouseClick(w.stop_button, Qt.MouseButton.LeftButton)
    assert w.live_thread.wait(1000) and not w.running
    assert w.worker.tracker._closed and camera._closed
    assert w.recorded_path is None and not w.open_action.isVisible()
    assert "fps" in w.stats_label.text() and not errors.SHOWN


def test_live_window_records_a_project_that_opens(qtbot, live, camera, tmp_path):
    from sam2studio.session import Session

    target = tmp_path / "live.s2s"
    w = live(camera)
    assert not w.record_box.isChecked()
    qtbot.waitUntil(lambda: w.frames_shown >= 2, timeout=20000)
    w.set_record_path(target)  # what "Record to project…" does after its file dialog
    assert w.record_box.isChecked() and w.record_box.text() == "Record to live.s2s"
    qtbot.waitUntil(lambda: w.worker.record == target, timeout=10000)
    track_middle_cup(qtbot, w)
    assert w.record_box.isEnabled()  # recording can be switched while tracking, too
    qtbot.waitUntil(lambda: w.worker.stats.frames >= 10, timeout=30000)
    with qtbot.waitSignal(w.stopped, timeout=10000):
        w.stop()
    assert not w.running and w.recorded_path == target and target.is_file()
    assert w.open_action.isVisible() and "live.s2s" in w.stats_label.text()
    with qtbot.waitSignal(w.project_recorded, timeout=1000) as sig:
        qtbot.mouseClick(w.open_button, Qt.MouseButton.LeftButton)
    assert sig.args == [target]

    session = Session.open(target, engine="classic")
    try:
        project = session.project
        assert list(project.objects) == [1]
        frames = project.masks.frames(1)
        assert len(frames) >= 10
        assert project.masks.get(frames[-1], 1).any()
    finally:
        session.close()


def test_recording_starts_and_stops_while_tracking(qtbot, live, camera, tmp_path):
    target = tmp_path / "part.s2s"
    w = live(camera)
    qtbot.waitUntil(lambda: w.frames_shown >= 2, timeout=20000)
    track_middle_cup(qtbot, w)
    qtbot.waitUntil(lambda: w.worker.stats.frames >= 3, timeout=30000)
    w.set_record_path(target)
    qtbot.waitUntil(lambda: w.worker.record == target, timeout=10000)
    qtbot.waitUntil(lambda: w.worker.stats.frames >= 8, timeout=30000)
    with qtbot.waitSignal(w.worker.recording_saved, timeout=10000):
        w.set_record_path(None)
    assert w.running and target.is_file() and w.recorded_path == target and w.open_action.isVisible()
    assert not w.record_box.isChecked() and w.record_box.isEnabled()
    with qtbot.waitSignal(w.stopped, timeout=10000):
        w.stop()


def test_a_file_played_as_a_camera_starts_over_when_it_ends(qtbot, tmp_path):
    from sam2studio.gui.live_window import CameraChoice

    from pathlib import Path

    choice = CameraChoice()
    qtbot.addWidget(choice)
    choice.file = Path("resources/sample/cups.mp4")
    cam = choice.open_camera()
    try:
        assert cam.loop
    finally:
        cam.close()


class BrokenCamera:
    """A camera that fails on its first read, as an unplugged one does."""

    name = "camera 7"
    fps = 30.0

    def __init__(self) -> None:
        self.closed = False

    def read(self):
        raise VideoError("camera 7 stopped delivering frames")

    def close(self) -> None:
        self.closed = True


def test_a_failing_camera_is_one_sentence_and_leaves_no_thread(qtbot, live, monkeypatch):
    cam = BrokenCamera()
    w = live(cam)
    qtbot.waitUntil(lambda: w._finished, timeout=5000)
    assert w.live_thread.wait(1000) and not w.running and cam.closed
    assert errors.SHOWN == ["Camera 7 stopped delivering frames."]
    assert w.stats_label.text() == "Camera 7 stopped delivering frames."
    assert not w.stop_button.isEnabled()
    click_image(qtbot, w, 10, 10)  # nothing to click on: ignored

    # File → Open Camera on a camera that cannot be opened: one sentence, no window
    from sam2studio.gui import live_window
    from sam2studio.gui.live_window import CameraChoice, open_camera_dialog

    def unopenable(self):
        raise VideoError("camera 9 could not be opened")

    monkeypatch.setattr(CameraChoice, "exec", lambda self: CameraChoice.DialogCode.Accepted)
    monkeypatch.setattr(CameraChoice, "open_camera", unopenable)
    assert open_camera_dialog(None) is None
    assert errors.SHOWN[-1] == "Camera 9 could not be opened."
    assert live_window._ORPHANS == []


def test_file_open_camera_in_the_main_window_and_a_stalled_camera_stops(qtbot, make_window, monkeypatch):
    """File → Open Camera opens a live window on the chosen camera; a camera that stops
    delivering frames (without failing) does not keep the window from stopping."""
    import threading

    from sam2studio.gui import live_window

    class StalledCamera:
        """Delivers a few frames, then blocks forever in read() like an unplugged webcam."""

        def __init__(self):
            self.n = 0
            self.block = threading.Event()

        def read(self):
            self.n += 1
            if self.n > 5:
                self.block.wait()
            return self.n / 30.0, np.full((120, 160, 3), 90, np.uint8)

        def close(self):
            self.block.set()

    cam = StalledCamera()
    monkeypatch.setattr(live_window.CameraChoice, "exec", lambda self: live_window.QDialog.DialogCode.Accepted)
    monkeypatch.setattr(live_window.CameraChoice, "open_camera", lambda self: cam)
    win = make_window("classic")
    win.actions["open_camera"].trigger()
    assert len(win.files.live_windows) == 1
    lw = win.files.live_windows[0]
    qtbot.waitUntil(lambda: lw.frames_shown >= 1, timeout=20000)
    qtbot.mouseClick(lw.canvas.viewport(), Qt.MouseButton.LeftButton, pos=lw.canvas.view_pos(80, 60))
    qtbot.wait(300)
    lw.stop()
    qtbot.waitUntil(lambda: not lw.running, timeout=3000)
    lw.close()
    cam.block.set()
