"""The core loop in the app and the rough edges met on the way (issue 13): each fixed edge
has its test here."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from sam2studio.core.objects import TrackedObject


# ---- export dialog ----------------------------------------------------------------------------
def test_switching_export_format_derives_the_name_from_the_stem(qtbot, tmp_path):
    from sam2studio.gui.dialogs.export_dialog import ExportDialog

    dlg = ExportDialog(None, [TrackedObject(1, "rider")], 10, base_name="biker", start_dir=str(tmp_path))
    qtbot.addWidget(dlg)
    dlg.set_format("png")
    assert Path(dlg.out_edit.text()) == tmp_path / "biker_png"
    dlg.out_edit.setText(str(tmp_path / "elsewhere" / "biker_png"))  # the user edits the folder
    dlg.set_format("overlay")
    assert Path(dlg.out_edit.text()) == tmp_path / "elsewhere" / "biker_overlay.mp4"
    dlg.set_format("coco")
    assert Path(dlg.out_edit.text()) == tmp_path / "elsewhere" / "biker_coco.json"
    dlg.out_edit.setText(str(tmp_path / "final.mp4"))  # a name of the user's own keeps its stem
    dlg.set_format("png")
    assert Path(dlg.out_edit.text()) == tmp_path / "final"


def test_the_first_export_goes_to_the_project_folder_or_the_videos_folder_not_the_sources(tmp_path):
    from sam2studio.gui.dialogs.export_dialog import default_export_dir

    assert Path(default_export_dir(tmp_path / "work" / "biker.s2s")) == (tmp_path / "work").resolve()
    unsaved = Path(default_export_dir(None))
    from PySide6.QtCore import QStandardPaths

    movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    assert unsaved.is_dir() and unsaved in {Path(movies), Path.home()}  # the user's videos folder, else home


# ---- model manager ------------------------------------------------------------------------------
def test_a_failed_download_opens_a_dialog_that_offers_a_checkpoint_file(qtbot, monkeypatch):
    from PySide6.QtWidgets import QDialogButtonBox

    from sam2studio.engines import models
    from sam2studio.gui.dialogs.model_manager import ModelManagerDialog, size_text
    from sam2studio.gui.settings import Settings

    monkeypatch.setenv("SAM2STUDIO_MODEL_BASE_URL", "http://127.0.0.1:9/models")  # nothing listens
    dlg = ModelManagerDialog(None, Settings())
    qtbot.addWidget(dlg)
    # one size everywhere, one way to keep the settings
    row = next(i for i in range(dlg.table.rowCount()) if dlg.table.item(i, 0).data(256) == "sam2.1-tiny")
    assert dlg.table.item(row, 1).text() == size_text("sam2.1-tiny") == f"{models.get_model('sam2.1-tiny').size_mb} MB"
    assert dlg.buttons.button(QDialogButtonBox.StandardButton.Apply) is None
    assert dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).text() == "Use these settings"

    dlg.start_download("sam2.1-tiny")
    qtbot.waitUntil(lambda: dlg.failure_box is not None, timeout=30000)
    box = dlg.failure_box
    assert box.isVisible() and "could not be downloaded" in box.text()
    assert "--" not in box.informativeText()
    assert {b.text() for b in box.buttons()} == {"Choose a checkpoint file…", "Try again", "Close"}
    box.close()


# ---- F1 -----------------------------------------------------------------------------------------
def test_the_shortcuts_window_shows_the_mouse_descriptions_whole(qtbot):
    from PySide6.QtWidgets import QMenu

    from sam2studio.gui.dialogs.shortcuts import MOUSE, ShortcutsDialog

    dlg = ShortcutsDialog([QMenu("File")])
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitExposed(dlg)
    tree = dlg.tree
    fm = tree.fontMetrics()
    for item in dlg._children():
        what, keys = item.text(0), item.text(1)
        rect0 = tree.visualItemRect(item)
        assert tree.columnWidth(0) >= fm.horizontalAdvance(what) or rect0.height() > fm.height() * 1.5, what
        assert tree.columnWidth(1) >= fm.horizontalAdvance(keys), keys
    assert {w for _, w in MOUSE} <= {a for a, _ in dlg.rows()}


def test_every_quality_threshold_has_a_field_in_the_thresholds_dialog():
    from dataclasses import fields

    from sam2studio.core.quality import QualityThresholds
    from sam2studio.gui.dialogs.quality_thresholds import FIELDS

    assert set(FIELDS) == {f.name for f in fields(QualityThresholds)} - {"appearance_rate"}


# ---- object panel -------------------------------------------------------------------------------
def _panel(qtbot):
    from sam2studio.gui.object_panel import ObjectPanel

    panel = ObjectPanel()
    qtbot.addWidget(panel)
    objs = [TrackedObject(1, "ball"), TrackedObject(2, "rider")]
    panel.set_objects(objs, 1)
    panel.resize(320, 300)
    panel.show()
    panel.activateWindow()
    qtbot.waitActive(panel)
    return panel


def test_a_click_on_a_name_selects_the_object_and_frame_keys_never_edit_it(qtbot):
    from PySide6.QtCore import Qt

    panel = _panel(qtbot)
    row = panel.row(2)
    renamed = []
    panel.rename_requested.connect(lambda o, n: renamed.append((o, n)))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=panel.list.visualItemRect(panel._items[2]).center())
    assert panel.current == 2 and not row.name.editing and not row.name.hasFocus()
    from PySide6.QtWidgets import QApplication

    for key in (Qt.Key.Key_Home, Qt.Key.Key_Right, Qt.Key.Key_Backspace, Qt.Key.Key_X):
        qtbot.keyClick(QApplication.focusWidget() or panel, key)  # where the keyboard goes
    assert row.name.text() == "rider" and renamed == []


def test_double_click_or_f2_renames_enter_keeps_and_escape_cancels(qtbot):
    from PySide6.QtCore import Qt

    panel = _panel(qtbot)
    row = panel.row(2)
    renamed = []
    panel.rename_requested.connect(lambda o, n: renamed.append((o, n)))
    pos = panel.list.visualItemRect(panel._items[2]).center()
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)  # as a real double-click
    qtbot.mouseDClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: row.name.editing and row.name.hasFocus(), timeout=2000)
    row.name.selectAll()
    qtbot.keyClicks(row.name, "biker")
    qtbot.keyClick(row.name, Qt.Key.Key_Return)
    assert renamed == [(2, "biker")] and not row.name.editing and not row.name.hasFocus()

    panel.list.setFocus()
    qtbot.keyClick(panel.list, Qt.Key.Key_F2)
    assert row.name.editing
    qtbot.keyClicks(row.name, "zzz")
    qtbot.keyClick(row.name, Qt.Key.Key_Escape)
    assert not row.name.editing and row.name.text() == "biker" and renamed == [(2, "biker")]


def test_deleting_an_object_asks_first(qtbot):
    from PySide6.QtWidgets import QMessageBox

    panel = _panel(qtbot)
    deleted = []
    panel.delete_requested.connect(deleted.append)
    panel.row(1).delete.click()
    box = panel.confirm_box
    assert box is not None and box.isVisible() and "ball" in box.text() and deleted == []
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert deleted == []
    panel.row(1).delete.click()
    next(b for b in panel.confirm_box.buttons() if b.text() == "Delete").click()
    assert deleted == [1]


def test_the_object_menu_tracks_one_object_and_marks_it_absent(qtbot):
    panel = _panel(qtbot)
    tracked, absent = [], []
    panel.track_requested.connect(lambda o, d: tracked.append((o, d)))
    panel.absent_requested.connect(lambda o, k: absent.append((o, k)))
    menu = panel.context_actions(2)
    acts = {a.text(): a for a in menu.actions() if a.text()}
    assert "Track forward (rider only)" in acts and "Absent from here" in acts
    acts["Track forward (rider only)"].trigger()
    acts["Track both ways (rider only)"].trigger()
    acts["Absent on frames…"].trigger()
    assert tracked == [(2, "forward"), (2, "both")] and absent == [(2, "range")]


# ---- canvas: candidate masks -------------------------------------------------------------------
def test_tab_and_the_wheel_cycle_the_candidates_of_a_click_with_a_1_of_3_indicator(qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QImage, QWheelEvent
    from PySide6.QtWidgets import QApplication

    from sam2studio.gui.canvas import Canvas, Tool

    c = Canvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    img = QImage(160, 120, QImage.Format.Format_RGB888)
    img.fill(Qt.GlobalColor.darkGray)
    c.set_image(0, img)
    c.show()
    qtbot.waitExposed(c)
    steps = []
    c.candidate_step.connect(steps.append)

    def wheel(dy):
        pos = QPointF(200, 150)
        ev = QWheelEvent(pos, c.viewport().mapToGlobal(pos), QPoint(), QPoint(0, dy), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(c.viewport(), ev)

    zoom = c.zoom
    c.set_candidates(0, 3)
    assert c.candidate_badge.isVisible() and "1/3" in c.candidate_badge.text()
    qtbot.keyClick(c, Qt.Key.Key_Tab)
    qtbot.keyClick(c, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    wheel(-120)
    assert steps == [1, -1, 1] and c.zoom == zoom  # the wheel cycles instead of zooming
    c.set_candidates(1, 3)
    assert "2/3" in c.candidate_badge.text()

    c.set_tool(Tool.BRUSH)  # other tools: the wheel zooms again
    wheel(120)
    assert steps == [1, -1, 1] and c.zoom > zoom
    c.set_candidates(None)
    assert not c.candidate_badge.isVisible()


# ---- timeline -----------------------------------------------------------------------------------
def _timeline(qtbot, n=100, lanes=3, height=220):
    from sam2studio.gui.timeline import Timeline

    t = Timeline()
    qtbot.addWidget(t)
    t.resize(900, height)
    t.show()
    qtbot.waitExposed(t)
    if n:
        t.set_video(n, 30.0)
    return t


def test_the_empty_timeline_shows_no_axis_numbers_and_no_playhead(qtbot):
    t = _timeline(qtbot, n=0)
    assert not t.playhead.isVisible()
    assert not t.plot.getPlotItem().getAxis("top").style["showValues"]
    t.set_video(50, 25.0)
    assert t.playhead.isVisible() and t.plot.getPlotItem().getAxis("top").style["showValues"]


def test_the_last_lane_and_its_flag_band_are_drawn_whole_at_any_height(qtbot):
    import numpy as np

    from sam2studio.gui.timeline import PRESENT

    for height, lanes in ((160, 3), (400, 3), (220, 8)):
        t = _timeline(qtbot, height=height)
        objs = [TrackedObject(i) for i in range(1, lanes + 1)]
        states = {o.id: np.full(100, PRESENT, np.uint8) for o in objs}
        t.set_lanes(objs, 1, states, {}, {}, None, {lanes: list(range(100))})  # the last lane flagged
        qtbot.wait(20)
        img = t.plot.grab().toImage()
        vb = t.view.sceneBoundingRect()
        col = int(vb.center().x())
        bottom = int(vb.bottom())
        white = [y for y in range(int(vb.top()), bottom) if min(img.pixelColor(col, y).getRgb()[:3]) > 240]
        assert len(white) >= 2, (height, lanes)  # the flag band shows ...
        assert max(white) < bottom - 1, (height, lanes)  # ... with room under it


def test_frames_marked_absent_are_drawn_striped_with_a_cross_on_the_mark(qtbot):
    import numpy as np

    from sam2studio.gui.timeline import LANE_ROWS, MARKED, MARKED_STRIPE, PRESENT

    t = _timeline(qtbot)
    objs = [TrackedObject(1, "ball")]
    st = np.full(100, PRESENT, np.uint8)
    st[40:60] = 1
    t.set_lanes(objs, 1, {1: st}, {1: [0, 40]}, {}, None, None, absent={1: [(40, 59)]})
    body = t.lane_image[3:LANE_ROWS, 50]
    assert {tuple(p) for p in body} == {tuple(MARKED), tuple(MARKED_STRIPE)}
    assert tuple(t.lane_image[5, 30]) != tuple(MARKED)
    symbols = [s["symbol"] for s in t.keys_item.data]
    assert sorted(symbols) == ["d", "x"]


# ---- the loop in the window -----------------------------------------------------------------------
def _window_with_two_cups(make_window, qtbot, clip):
    from .helpers import click_canvas, open_clip, settle

    win = make_window("classic")
    open_clip(qtbot, win, clip)
    click_canvas(qtbot, win, 650, 450)
    win.editing.add_object()
    click_canvas(qtbot, win, 915, 450)
    settle(qtbot, win)
    return win


def test_the_track_button_has_text_and_a_menu_and_tracks_each_object_from_its_prompt(make_window, qtbot,
                                                                                     cups_clip):
    from .helpers import settle

    win = _window_with_two_cups(make_window, qtbot, cups_clip)
    b = win.track_button
    assert b.text() == "Track" and b.isVisible() and b.isEnabled()
    texts = [a.text().replace("&", "") for a in b.menu().actions() if not a.isSeparator()]
    assert texts[:4] == ["Track All Objects Both Ways", "Track All Objects Forward", "Track All Objects Backward",
                         "Track Selected Object Both Ways"]
    win.set_frame(10)  # the objects were clicked on frame 0: tracked from there, not from 10
    settle(qtbot, win)
    win.actions["propagate_fwd"].trigger()
    settle(qtbot, win, 120)
    n = len(cups_clip)
    assert all(win.session.masks.frames(o) == list(range(n)) for o in (1, 2))
    assert win.statusBar().currentMessage() == f"Tracked object 1: frames 0-{n - 1}, object 2: frames 0-{n - 1}."

    win.set_frame(10)
    win.editing.add_object()
    settle(qtbot, win)
    from .helpers import click_canvas

    click_canvas(qtbot, win, 400, 300)  # object 3 starts on frame 10
    settle(qtbot, win)
    win.set_frame(5)
    settle(qtbot, win)
    win.propagation.forward()
    settle(qtbot, win, 120)
    assert win.statusBar().currentMessage().startswith("Object 3 has no prompt on or before frame 5: nothing to "
                                                       "track forward.")
    assert "Tracked object 1: frames 0-19, object 2: frames 0-19." in win.propagation.last_message


def test_track_selected_and_lock_leave_the_other_objects_alone(make_window, qtbot, cups_clip):
    from .helpers import settle

    win = _window_with_two_cups(make_window, qtbot, cups_clip)
    s = win.session
    win.editing.set_current_object(2)
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return, ctrl_shift)  # Track Selected Object Both Ways
    settle(qtbot, win, 120)
    assert s.masks.frames(1) == [0] and len(s.masks.frames(2)) == len(cups_clip)

    win.objects_panel.track_requested.emit(1, "forward")  # the object panel's menu
    settle(qtbot, win, 120)
    assert len(s.masks.frames(1)) == len(cups_clip)
    obj2 = {f: s.masks.entry(f, 2).rle["counts"] for f in s.masks.frames(2)}
    win.objects_panel.row(2).lock.click()
    settle(qtbot, win)
    win.propagation.both()
    settle(qtbot, win, 120)
    assert {f: s.masks.entry(f, 2).rle["counts"] for f in s.masks.frames(2)} == obj2
    assert win.statusBar().currentMessage().startswith("Object 2 is locked: left as it is.")


def test_absent_from_here_empties_the_object_draws_stripes_and_undoes(make_window, qtbot, cups_clip):
    from sam2studio.gui.timeline import LANE_ROWS, MARKED, MARKED_STRIPE

    from .helpers import settle

    win = _window_with_two_cups(make_window, qtbot, cups_clip)
    s = win.session
    win.propagation.forward()
    settle(qtbot, win, 120)
    win.editing.set_current_object(1)
    win.set_frame(12)
    settle(qtbot, win)
    win.actions["absent_here"].trigger()
    settle(qtbot, win)
    n = len(cups_clip)
    assert s.absent_ranges(1) == [(12, n - 1)]
    assert all(not s.mask(f, 1).any() for f in range(12, n)) and s.mask(11, 1).any()
    qtbot.wait(60)
    win.refresh_timeline()
    lane = win.timeline.lane_image[3:LANE_ROWS, 15]
    assert {tuple(p) for p in lane} == {tuple(MARKED), tuple(MARKED_STRIPE)}
    win.propagation.both()  # a later run does not fill it
    settle(qtbot, win, 120)
    assert all(not s.mask(f, 1).any() for f in range(12, n))
    win.undo.undo()  # the run
    win.undo.undo()  # the mark
    settle(qtbot, win)
    assert s.absent_ranges(1) == [] and s.mask(15, 1).any()

    win.propagation.range = (3, 6)  # "absent on frames" takes the I / Shift+I range
    win.actions["absent_range"].trigger()
    settle(qtbot, win)
    assert s.absent_ranges(1) == [(3, 6)]


def test_messages_about_a_frame_go_when_it_is_corrected_or_left(make_window, qtbot, cups_clip):
    from .helpers import click_canvas, settle

    win = _window_with_two_cups(make_window, qtbot, cups_clip)
    win.editing.set_current_object(1)
    win.status("Flagged: object 1 on frame 0", 10000, scope=(0, 1))
    click_canvas(qtbot, win, 660, 455)  # a correction of that mask
    settle(qtbot, win)
    assert "Flagged" not in win.statusBar().currentMessage()
    win.status("Flagged: object 1 on frame 0", 10000, scope=(0, 1))
    win.set_frame(3)
    assert "Flagged" not in win.statusBar().currentMessage()
    long = "A very long hint " * 30
    win.status(long, 5000)
    assert win.statusBar().currentMessage().endswith("…") and win.statusBar().toolTip() == long


def test_a_reopened_project_opens_on_the_frame_and_object_with_its_flags(make_window, qtbot, cups_mp4, tmp_path):
    from .helpers import click_canvas, open_clip, settle

    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    click_canvas(qtbot, win, 320, 225)
    win.editing.add_object()
    click_canvas(qtbot, win, 458, 225)
    settle(qtbot, win)
    win.propagation.both()
    settle(qtbot, win, 120)
    win.review.check_quality()
    settle(qtbot, win, 120)
    win.quality.set_flags({2: [{"type": "drift", "frame": 7, "reasons": ["drift"], "message": "jump"}]})
    settle(qtbot, win)
    win.session.project.quality_flags = {2: [{"type": "drift", "frame": 7, "reasons": ["drift"], "message": "jump"}]}
    win.editing.set_current_object(2)
    win.set_frame(9)
    path = tmp_path / "cups.s2s"
    win.files.save_project(path)
    settle(qtbot, win)

    again = make_window("classic")
    open_clip(qtbot, again, str(path))
    assert again.frame == 9 and again.current_obj == 2
    assert again.quality.frames(2) == [7]


@pytest.mark.loads_sam2
def test_a_sam2_click_shows_1_of_3_and_tab_uses_the_next_candidate(make_window, qtbot, short_clip):
    import numpy as np

    from .helpers import click_canvas, open_clip, settle

    win = make_window("sam2", weights="random", seed=0, image_size=256, device="cpu")
    open_clip(qtbot, win, short_clip)
    click_canvas(qtbot, win, 650, 450)
    settle(qtbot, win, 120)
    qtbot.waitUntil(lambda: win.canvas.candidates is not None, timeout=10000)
    assert "Mask 1/3" in win.canvas.candidate_badge.text() and win.canvas.candidate_badge.isVisible()
    s = win.session
    cands = [c.mask for c in s.candidates(0, 1)]
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    settle(qtbot, win, 120)
    assert s.prompt(0, 1).candidate == 1 and np.array_equal(s.mask(0, 1), cands[1])
    assert "Mask 2/3" in win.canvas.candidate_badge.text()
    win.undo.undo()
    settle(qtbot, win, 120)
    assert s.prompt(0, 1).candidate == 0 and np.array_equal(s.mask(0, 1), cands[0])
    win.set_frame(2)  # another frame: no candidates shown
    assert win.canvas.candidates is None


def test_a_run_of_tab_picks_is_one_undo_step_and_the_badge_follows_undo_and_redo(make_window, qtbot, cups_clip):
    # cycling through a click's masks with Tab is one step of the history: undo goes back to
    # the mask used before the run (not through every mask seen on the way), and the badge
    # always names the mask in use
    import numpy as np

    from .helpers import click_canvas, open_clip, settle

    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    click_canvas(qtbot, win, 640, 400)  # the middle cup
    settle(qtbot, win)
    qtbot.waitUntil(lambda: win.canvas.candidates is not None, timeout=10000)
    s = win.session
    cands = [c.mask for c in s.candidates(0, 1)]
    assert len(cands) >= 3
    steps = win.undo.count()
    win.canvas.setFocus()
    for _ in range(2):
        qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)
    settle(qtbot, win)
    assert s.prompt(0, 1).candidate == 2 and np.array_equal(s.mask(0, 1), cands[2])
    assert win.undo.count() == steps + 1 and win.undo.undoText().startswith("Mask 3/")
    assert "Mask 3/" in win.canvas.candidate_badge.text()

    win.undo.undo()  # the whole run
    settle(qtbot, win)
    assert s.prompt(0, 1).candidate == 0 and np.array_equal(s.mask(0, 1), cands[0])
    qtbot.waitUntil(lambda: "Mask 1/" in win.canvas.candidate_badge.text(), timeout=5000)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)  # Tab goes on from the mask in use
    settle(qtbot, win)
    assert s.prompt(0, 1).candidate == 1 and "Mask 2/" in win.canvas.candidate_badge.text()
    win.undo.undo()
    settle(qtbot, win)
    win.undo.redo()  # the run's last pick
    settle(qtbot, win)
    assert s.prompt(0, 1).candidate == 1 and np.array_equal(s.mask(0, 1), cands[1])
    qtbot.waitUntil(lambda: "Mask 2/" in win.canvas.candidate_badge.text(), timeout=5000)

    win.undo.undo()
    win.undo.undo()  # the click itself: no mask, no badge
    settle(qtbot, win)
    assert s.prompt(0, 1) is None
    qtbot.waitUntil(lambda: win.canvas.candidates is None and not win.canvas.candidate_badge.isVisible(),
                    timeout=5000)


def test_the_export_dialog_of_an_unsaved_project_does_not_default_to_the_videos_own_folder(make_window, qtbot,
                                                                                          cups_mp4):
    from .helpers import open_clip

    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    dlg = win.files.export_dialog()
    try:
        assert Path(dlg.start_dir).resolve() != Path(cups_mp4).resolve().parent
        assert Path(dlg.out_edit.text()).name.startswith("cups16_")
    finally:
        dlg.close()


def test_the_opening_message_goes_when_the_video_is_open(make_window, qtbot, cups_clip):
    from .helpers import open_clip

    win = make_window("classic")
    open_clip(qtbot, win, cups_clip)
    qtbot.waitUntil(lambda: not win.statusBar().currentMessage().startswith("Opening"), timeout=5000)


def test_a_click_on_a_mask_left_behind_offers_the_click_alone_and_the_badge_says_so(make_window, qtbot):
    # the judo pair's mask has stayed on the mat beside it (as a propagated mask left behind by
    # a fast object does); a click on the pair edits that mask, and Shift+Tab from there shows
    # the click's own mask in its place (much what the same click gives on a frame without a
    # mask: IoU 0.90 here), the badge saying what it is
    import numpy as np
    from PIL import Image

    from sam2studio.core.synthetic import interior_point, iou

    from .helpers import DATA, click_canvas, open_clip, settle

    gt = np.array(Image.open(DATA / "judo" / "masks" / "00000.png")) == 1
    stale = np.roll(gt, -110, axis=1) & ~gt
    x, y = interior_point(gt)
    win = make_window("classic")
    open_clip(qtbot, win, str(DATA / "judo" / "frames"))
    click_canvas(qtbot, win, x, y)
    settle(qtbot, win)
    s = win.session
    fresh = s.mask(0, 1)  # the click alone, on a frame with no mask
    win.ctl.call(lambda ctx: ctx.session.set_mask(0, 1, stale), "a mask left behind")
    settle(qtbot, win)
    click_canvas(qtbot, win, x, y)
    settle(qtbot, win)
    qtbot.waitUntil(lambda: win.canvas.candidates is not None, timeout=10000)
    assert "Tab or wheel" in win.canvas.candidate_badge.text()
    assert np.count_nonzero(s.mask(0, 1) & stale) >= 0.95 * np.count_nonzero(stale)  # the default edits
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    settle(qtbot, win)
    assert "in place of the mask that was here" in win.canvas.candidate_badge.text()
    alone = s.mask(0, 1)
    assert iou(alone, fresh) >= 0.8 and not (alone & stale).any()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Tab)  # back to the default: no note
    settle(qtbot, win)
    assert "Mask 1/" in win.canvas.candidate_badge.text() and "in place" not in win.canvas.candidate_badge.text()
