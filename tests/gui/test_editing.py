"""Clicks, boxes, strokes, propagation, corrections and undo, driven through the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from .helpers import click_canvas, drag_canvas, open_clip, settle

CUP = (650, 450)  # the middle red cup on the first frames of the sample clip
CUP2 = (915, 450)  # the right cup


def overlay_at(win, x, y):
    return win.canvas.overlay_pixel(x, y)


def test_click_shows_the_mask_at_once(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    assert win.session.engine_name == "classic"
    assert win.banner.isVisible()  # no checkpoint: the classic-engine banner says so
    assert "classic" in win.engine_label.text()

    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    m = win.session.masks.get(0, 1)
    assert m is not None and m[CUP[1], CUP[0]], "the clicked pixel is in the new mask"
    assert win.session.masks.frames(1) == [0], "a click computes its frame only (no propagation)"
    color = win.doc.state.objects[1].color
    px = overlay_at(win, *CUP)
    assert tuple(px[:3]) == tuple(color) and px[3] > 0
    assert overlay_at(win, 5, 5)[3] == 0
    assert win.canvas.marker_count() == 1
    assert win.objects_panel.ids() == [1]

    # right click = negative click on the same object
    click_canvas(qtbot, win, 1100, 650, Qt.MouseButton.RightButton)
    settle(qtbot, win)
    p = win.session.prompt(0, 1)
    assert p.labels == [1, 0]
    assert win.canvas.marker_count() == 2
    assert win.errors == []


def test_box_tool_and_hidden_and_locked_objects(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    qtbot.keyClick(win.canvas, Qt.Key.Key_M)  # box tool
    assert win.canvas.tool.value == "box"
    drag_canvas(qtbot, win, [(830, 300), (900, 400), (1000, 545)])
    settle(qtbot, win)
    p = win.session.prompt(0, 1)
    assert p is not None and p.box is not None
    assert p.box[0] == pytest.approx(830, abs=2) and p.box[3] == pytest.approx(545, abs=2)
    assert win.session.masks.get(0, 1)[450, 915]
    # a box alone offers GrabCut's other masks as a click does: the badge, and Tab
    qtbot.waitUntil(lambda: win.canvas.candidates is not None, timeout=10000)
    assert "Mask 1/" in win.canvas.candidate_badge.text()
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    settle(qtbot, win)
    assert win.session.prompt(0, 1).candidate == 1 and "Mask 2/" in win.canvas.candidate_badge.text()

    # hidden objects are not drawn
    win.objects_panel.row(1).visible.click()
    settle(qtbot, win)
    assert not win.doc.state.objects[1].visible
    assert win.canvas.overlay_rgba is None
    win.objects_panel.row(1).visible.click()
    settle(qtbot, win)
    assert win.canvas.overlay_rgba is not None

    # locked objects ignore edits
    win.objects_panel.row(1).lock.click()
    settle(qtbot, win)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Q)
    before = win.session.prompt(0, 1)
    click_canvas(qtbot, win, 300, 300)
    settle(qtbot, win)
    assert win.session.prompt(0, 1) is before
    assert "locked" in win.statusBar().currentMessage()


def test_propagate_fills_the_timeline(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    click_canvas(qtbot, win, *CUP)
    win.editing.add_object()
    click_canvas(qtbot, win, *CUP2)
    settle(qtbot, win)
    assert sorted(win.doc.state.objects) == [1, 2]
    assert win.session.prompt(0, 2) is not None

    qtbot.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # propagate
    settle(qtbot, win)
    n = len(cups_clip)
    for obj in (1, 2):
        assert win.session.masks.frames(obj) == list(range(n))
    qtbot.wait(60)  # the timeline redraws at most ~30 times a second
    assert win.timeline.lane_ids == [1, 2]
    for lane, obj in enumerate((1, 2)):
        color = np.array(win.doc.state.objects[obj].color)
        filled = [f for f in range(n) if (win.timeline.lane_pixels(lane, f)[:3] == color).all()]
        assert filled == win.session.masks.present_frames(obj), f"lane {lane} shows the object's presence"
        assert len(filled) >= n - 3
    # keyframe diamonds: one per object at frame 0
    assert len(win.timeline.keys_item.data) == 2
    assert win.statusBar().currentMessage().startswith("Tracked object 1: frames 0-")

    # transport: keys step, jump and select
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Right)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Right)
    assert win.frame == 2
    qtbot.keyClick(win.canvas, Qt.Key.Key_End)
    assert win.frame == n - 1
    qtbot.keyClick(win.canvas, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)  # previous keyframe
    assert win.frame == 0
    qtbot.keyClick(win.canvas, Qt.Key.Key_2)
    assert win.current_obj == 2
    qtbot.keyClick(win.canvas, Qt.Key.Key_1)
    assert win.current_obj == 1
    # click in the timeline lanes jumps there
    qtbot.mouseClick(win.timeline.plot.viewport(), Qt.MouseButton.LeftButton,
                     pos=win.timeline.view_pos_of_frame(7, 0))
    assert win.frame == 7
    qtbot.waitUntil(lambda: win.canvas.frame_index == 7, timeout=5000)
    assert win.errors == []


def test_brush_eraser_correction_and_rerun(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    click_canvas(qtbot, win, *CUP)
    win.editing.add_object()
    click_canvas(qtbot, win, *CUP2)
    settle(qtbot, win)
    win.propagation.both()
    settle(qtbot, win)
    s = win.session
    n = len(cups_clip)
    early = {f: s.masks.entry(f, 1).rle["counts"] for f in range(10)}
    other = {f: s.masks.entry(f, 2).rle["counts"] for f in range(n)}

    # correct object 1 on frame 10 with the brush, then the eraser
    win.set_frame(10)
    qtbot.waitUntil(lambda: win.canvas.frame_index == 10, timeout=5000)
    win.editing.select_object_index(0)
    qtbot.keyClick(win.canvas, Qt.Key.Key_B)
    win.editing.set_brush_size(30)
    before = s.masks.get(10, 1).copy()
    drag_canvas(qtbot, win, [(200, 600), (260, 610), (320, 620)])
    settle(qtbot, win)
    after = s.masks.get(10, 1)
    assert after[610, 260] and not before[610, 260], "the brush stroke painted into the mask"
    assert s.prompt(10, 1).mask_rle is not None, "the stroke became a mask prompt"
    stale = win.doc.state.stale[1]
    assert stale == frozenset(range(11, n)), "frames after the correction are stale"
    assert 2 not in win.doc.state.stale
    win.refresh_timeline()
    band = win.timeline.lane_image[1, 15]  # lane 0, stale band row, frame 15
    assert tuple(band[:3]) == (255, 179, 71)

    qtbot.keyClick(win.canvas, Qt.Key.Key_E)
    drag_canvas(qtbot, win, [(250, 605), (270, 615)])
    settle(qtbot, win)
    assert not s.masks.get(10, 1)[610, 260], "the eraser removed it again"
    assert s.masks.get(10, 1)[610, 310]

    # Propagate from here (Ctrl+R) re-runs object 1 only, from frame 10
    qtbot.keyClick(win.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, win)
    assert 1 not in win.doc.state.stale, "stale frames cleared by the re-run"
    assert {f: s.masks.entry(f, 1).rle["counts"] for f in range(10)} == early, "earlier frames kept"
    assert {f: s.masks.entry(f, 2).rle["counts"] for f in range(n)} == other, "other objects kept"
    win.refresh_timeline()
    assert tuple(win.timeline.lane_image[1, 15][:3]) != (255, 179, 71)
    assert win.errors == []


def test_undo_redo_every_kind_of_edit(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    s = win.session
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    first = s.masks.entry(0, 1)
    click_canvas(qtbot, win, 620, 380, Qt.MouseButton.RightButton)
    settle(qtbot, win)
    assert s.prompt(0, 1).labels == [1, 0]

    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, win)
    assert s.prompt(0, 1).labels == [1]
    assert s.masks.entry(0, 1).rle["counts"] == first.rle["counts"], "undo restores the exact mask"
    assert win.canvas.marker_count() == 1
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    settle(qtbot, win)
    assert s.prompt(0, 1).labels == [1, 0]

    # a stroke after propagation: undo restores the mask, the prompt and the stale marks
    win.propagation.forward()
    settle(qtbot, win)
    win.set_frame(5)
    win.actions["tool_brush"].trigger()
    before = s.masks.entry(5, 1)
    drag_canvas(qtbot, win, [(100, 100), (160, 120)])
    settle(qtbot, win)
    assert win.doc.state.stale.get(1)
    win.undo.undo()
    settle(qtbot, win)
    assert s.prompt(5, 1) is None
    assert s.masks.entry(5, 1).rle["counts"] == before.rle["counts"]
    assert not win.doc.state.stale.get(1)
    win.undo.redo()
    settle(qtbot, win)
    assert s.prompt(5, 1).mask_rle is not None and win.doc.state.stale.get(1)

    # rename, add and delete objects
    row = win.objects_panel.row(1)
    win.objects_panel.rename(1)  # F2 or a double-click: the name is not edited by a plain click
    row.name.selectAll()
    qtbot.keyClicks(row.name, "left cup")
    qtbot.keyClick(row.name, Qt.Key.Key_Return)
    settle(qtbot, win)
    assert s.objects[1].name == "left cup"
    win.undo.undo()
    settle(qtbot, win)
    assert s.objects[1].name == "object 1"
    win.undo.redo()
    settle(qtbot, win)
    assert s.objects[1].name == "left cup"

    win.objects_panel.add_button.click()
    settle(qtbot, win)
    assert sorted(s.objects) == [1, 2] and win.current_obj == 2
    win.undo.undo()
    settle(qtbot, win)
    assert sorted(s.objects) == [1]
    assert win.objects_panel.ids() == [1]

    frames = s.masks.frames(1)
    keys = s.keyframes(1)
    win.objects_panel.row(1).delete.click()
    next(b for b in win.objects_panel.confirm_box.buttons() if b.text() == "Delete").click()  # it asks first
    settle(qtbot, win)
    assert s.objects == {} and s.masks.frames(1) == []
    assert win.canvas.overlay_rgba is None
    qtbot.keyClick(win.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot, win)
    assert s.objects[1].name == "left cup"
    assert s.masks.frames(1) == frames and s.keyframes(1) == keys
    assert win.errors == []


def test_canvas_zoom_pan_and_view_settings(make_window, qtbot, cups_clip):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    c = win.canvas
    fit = c.zoom
    vp = c.viewport()
    anchor = QPointF(c.view_pos(640, 360))
    wheel = QWheelEvent(anchor, vp.mapToGlobal(anchor), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, wheel)
    assert c.zoom > fit * 1.3
    # the pixel under the cursor stays under the cursor
    p = c.mapToScene(anchor.toPoint())
    assert abs(p.x() - 640) < 3 and abs(p.y() - 360) < 3
    qtbot.keyClick(c, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert c.zoom == pytest.approx(1.0)
    # middle-drag pans
    h = c.horizontalScrollBar().value()
    drag_canvas(qtbot, win, [(640, 360), (600, 360), (540, 360)], Qt.MouseButton.MiddleButton)
    assert c.horizontalScrollBar().value() != h
    qtbot.keyClick(c, Qt.Key.Key_F)
    assert c.zoom == pytest.approx(fit, rel=0.02)

    # brush size keys, opacity and outline are kept in QSettings
    win.actions["tool_brush"].trigger()
    size = c.brush_size
    qtbot.keyClick(c, Qt.Key.Key_BracketRight)
    assert c.brush_size > size
    win.opacity_slider.setValue(80)
    qtbot.keyClick(c, Qt.Key.Key_O)
    assert c.outline
    from sam2studio.gui.settings import Settings

    st = Settings()
    assert st.get("view/opacity") == pytest.approx(0.8)
    assert st.get("view/outline") is True
    assert st.get("tools/brush_size") == int(c.brush_size)
    assert Settings().path.startswith(str(win.settings.path).rsplit("/", 3)[0])

    # outline mode draws edges only
    win.actions["tool_positive"].trigger()
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    m = win.session.masks.get(0, 1)
    ys, xs = np.nonzero(m)
    cy, cx = int(np.median(ys)), int(np.median(xs))
    assert c.overlay_pixel(cx, cy)[3] == 0, "inside is clear in outline mode"
    assert c.overlay_rgba[..., 3].max() == 255


def test_propagation_range(make_window, qtbot, cups_clip):
    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    qtbot.keyClick(win.canvas, Qt.Key.Key_I)  # range starts here (frame 0)
    win.set_frame(8)
    qtbot.keyClick(win.canvas, Qt.Key.Key_I, Qt.KeyboardModifier.ShiftModifier)  # and ends at frame 8
    assert win.propagation.range == (0, 8) and win.timeline.range_item.isVisible()
    win.playback.first_frame()
    win.propagation.both()
    settle(qtbot, win)
    assert win.session.masks.frames(1) == list(range(9))
    qtbot.keyClick(win.canvas, Qt.Key.Key_I, Qt.KeyboardModifier.AltModifier)
    assert win.propagation.range is None and not win.timeline.range_item.isVisible()
