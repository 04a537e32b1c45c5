"""Widgets on their own: frame loader, timeline, playback keys, colours, model settings, new project."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from .helpers import click_canvas, drag_canvas, drag_widget, open_clip, settle


def small_clip(n=40):
    from sam2studio.core.video import ArrayVideo

    frames = []
    for i in range(n):
        f = np.zeros((48, 64, 3), np.uint8)
        f[..., 0] = (i * 5) % 256
        frames.append(f)
    return ArrayVideo(frames, fps=25)


def test_frame_loader_decodes_off_the_ui_thread_and_reads_ahead(qtbot, qapp):
    from sam2studio.gui.frame_loader import FrameLoader

    loader = FrameLoader(capacity=12, read_ahead=6, read_behind=2)
    try:
        loader.set_source(small_clip())
        assert loader.request(10) is None  # not decoded yet: it comes as a signal
        with qtbot.waitSignal(loader.frame_ready, timeout=5000) as blocker:
            pass
        index, img = blocker.args
        assert index == 10 and (img.width(), img.height()) == (64, 48)
        assert img.pixelColor(3, 3).red() == 50
        qtbot.waitUntil(lambda: loader.cache_size() >= 9, timeout=5000)  # read ahead and behind
        assert loader.cached(16) is not None and loader.cached(8) is not None
        assert loader.request(14) is not None, "cached frames come back at once"
        for i in range(0, 40, 3):  # the LRU stays bounded
            loader.request(i)
            qtbot.waitUntil(lambda i=i: loader.cached(i) is not None, timeout=5000)
        assert loader.cache_size() <= 12
        loader.set_source(None)
        assert loader.cache_size() == 0
    finally:
        loader.stop()


def test_timeline_zoom_pan_and_scrub(make_window, qtbot):
    win = make_window("classic")
    open_clip(qtbot, win, small_clip(200))
    tl = win.timeline
    lo, hi = tl.view.viewRange()[0]
    assert (lo, hi) == pytest.approx((0, 200), abs=2)
    vp = tl.plot.viewport()
    pos = QPointF(tl.view_pos_of_frame(100, 0))
    wheel = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 480), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    lo2, hi2 = tl.view.viewRange()[0]
    assert hi2 - lo2 < 150 and lo2 <= 100 <= hi2, "the wheel zooms about the cursor"
    # dragging the ruler (the top axis) pans the view
    axis = tl.plot.getPlotItem().getAxis("top")
    top = tl.plot.mapFromScene(axis.sceneBoundingRect().center())
    tl.view.setXRange(50, 150, padding=0)
    before = tl.view.viewRange()[0]
    drag_widget(vp, [QPoint(top.x() + dx, top.y()) for dx in (0, 40, 80, 120)])
    after = tl.view.viewRange()[0]
    assert after[0] < before[0] - 5 and after[1] - after[0] == pytest.approx(before[1] - before[0], rel=0.01)
    # drag in the lanes scrubs the playhead (a new gesture: after the double-click interval,
    # else the press continues the previous one, as it would for a person)
    qtbot.wait(QApplication.doubleClickInterval() + 50)
    lo2, hi2 = tl.view.viewRange()[0]
    frames = []
    tl.frame_requested.connect(frames.append)
    a, b = tl.view_pos_of_frame(int(lo2) + 5, 0), tl.view_pos_of_frame(int(lo2) + 20, 0)
    drag_widget(vp, [QPoint(int(a.x() + t * (b.x() - a.x())), a.y()) for t in np.linspace(0, 1, 6)])
    assert frames and frames[-1] == pytest.approx(int(lo2) + 20, abs=1)
    assert win.frame == frames[-1]
    # the playhead follows keyboard steps, and the view pans to keep it in sight
    win.playback.last_frame()
    lo3, hi3 = tl.view.viewRange()[0]
    assert lo3 <= 199.5 <= hi3
    tl.fit_all()
    assert tl.view.viewRange()[0] == pytest.approx((0, 200), abs=2)


def test_space_plays_and_space_drag_pans(make_window, qtbot):
    win = make_window("classic")
    open_clip(qtbot, win, small_clip(60))
    c = win.canvas
    c.setFocus()
    qtbot.keyClick(c, Qt.Key.Key_Space)
    assert win.playback.timer.isActive()
    qtbot.waitUntil(lambda: win.frame >= 5, timeout=5000)
    qtbot.keyClick(c, Qt.Key.Key_Space)
    assert not win.playback.timer.isActive()
    stopped = win.frame
    # hold space and drag: pans, does not toggle playback
    c.zoom_by(4.0)
    h = c.horizontalScrollBar().value()
    qtbot.keyPress(c, Qt.Key.Key_Space)
    drag_canvas(qtbot, win, [(30, 24), (20, 24), (10, 24)])
    qtbot.keyRelease(c, Qt.Key.Key_Space)
    assert c.horizontalScrollBar().value() != h
    assert not win.playback.timer.isActive() and win.frame == stopped
    assert win.session.masks.frames(1) == [], "a pan is not a click"


def test_colour_change_is_undoable(make_window, qtbot):
    from PySide6.QtGui import QColor

    win = make_window("classic")
    open_clip(qtbot, win, small_clip(10))
    click_canvas(qtbot, win, 30, 20)
    settle(qtbot, win)
    before = win.doc.state.objects[1].color
    row = win.objects_panel.row(1)
    qtbot.mouseClick(row.swatch, Qt.MouseButton.LeftButton)
    dlg = win.objects_panel.color_dialog
    assert dlg is not None and dlg.isVisible()
    dlg.setCurrentColor(QColor(10, 200, 30))
    dlg.accept()
    settle(qtbot, win)
    assert win.session.objects[1].color == (10, 200, 30)
    assert "rgb(10,200,30)" in row.swatch.styleSheet()
    win.undo.undo()
    settle(qtbot, win)
    assert win.session.objects[1].color == before


def test_model_settings_and_new_project(make_window, qtbot):
    from sam2studio.gui.settings import Settings

    win = make_window(None)
    open_clip(qtbot, win, small_clip(10))
    dlg = win.models.model_manager()
    dlg.engine_box.setCurrentIndex(dlg.engine_box.findData("classic"))
    dlg.device_box.setCurrentIndex(dlg.device_box.findData("cpu"))
    dlg.size_box.setCurrentIndex(dlg.size_box.findData(512))
    dlg.checkpoint_edit.setText("/no/such/file.pt")
    assert not dlg.apply()
    assert "does not exist" in dlg.status.text()
    dlg.checkpoint_edit.setText("")
    assert dlg.apply()
    st = Settings()
    assert (st.get("engine/name"), st.get("engine/device"), st.get("engine/image_size")) == ("classic", "cpu", 512)
    assert st.engine_options() == ("classic", {})
    settle(qtbot, win)  # applying rebuilt the engine of the open video
    assert win.session.engine_name == "classic"
    dlg.close()

    # New Project (not dirty: no question) closes the video
    with qtbot.waitActive(win):
        win.activateWindow()
    qtbot.keyClick(win.canvas, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, win)
    assert win.session is None and not win.canvas.has_image
    assert win.objects_panel.ids() == [] and win.windowTitle() == "SAM2 Studio"
    assert not win.actions["save"].isEnabled()


def test_a_classic_click_that_runs_into_the_background_gets_a_hint(make_window, qtbot, cups_clip):
    from sam2studio.core.video import ArrayVideo

    win = make_window("classic")
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):  # a wall of one colour over two thirds of the frame, another beside it
        f = np.empty((120, 160, 3), np.uint8)
        f[:, :110] = (200, 120, 60)
        f[:, 110:] = (30, 60, 200)
        frames.append(np.clip(f + rng.integers(-8, 9, f.shape), 0, 255).astype(np.uint8))
    open_clip(qtbot, win, ArrayVideo(frames, fps=25))
    click_canvas(qtbot, win, 50, 60)  # on the wall: its region runs to the frame's edges
    settle(qtbot, win)
    # the mask shown stays under 40% of the frame; the wall is among the candidates, and the
    # status bar says so
    assert win.session.mask(0, 1).mean() <= 0.4
    cands = win.session.candidates(0, 1)
    assert len(cands) > 1 and max(c.mask.mean() for c in cands) > 0.5
    assert "ran into the background" in win.status_text()

    open_clip(qtbot, win, cups_clip)  # a clicked cup: no hint
    click_canvas(qtbot, win, 650, 450)
    settle(qtbot, win)
    assert win.session.mask(0, 1)[450, 650]
    assert "ran into the background" not in win.status_text()


def test_a_background_worker_missing_a_hook_is_refused_where_it_is_defined():
    from sam2studio.gui.cached_worker import CachedWorker

    with pytest.raises(TypeError, match="Partial must implement _has_work, _produce, _deliver"):
        class Partial(CachedWorker):
            def _take(self):
                return None
