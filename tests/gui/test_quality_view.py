"""Quality flags on the timeline and the correction loop; the smoothed view; export options;
the memory budget setting. Driven through the real widgets."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from sam2studio.gui.timeline import FLAG, LANE_ROWS

from .helpers import click_canvas, open_clip, settle

CUP = (650, 450)  # the middle red cup on the first frames of the sample clip
CUP2 = (915, 450)  # the right cup
BAD = 10  # the frame that gets a broken mask


def _tracked(qtbot, win, clip):
    open_clip(qtbot, win, clip)
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    qtbot.keyClick(win.canvas, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # propagate
    settle(qtbot, win)
    # the automatic check after the propagation
    qtbot.waitUntil(lambda: 1 in win.quality.flags, timeout=60000)
    settle(qtbot, win)


def _break_frame(qtbot, win, frame: int, mask: np.ndarray, score: float) -> None:
    win.ctl.call(lambda ctx: ctx.session.masks.set(frame, 1, mask, score), "test: a broken mask")
    settle(qtbot, win)


def _flag_band(win, lane: int, frame: int) -> np.ndarray:
    return win.timeline.lane_image[lane * LANE_ROWS + LANE_ROWS - 1, frame]


def test_flags_on_the_timeline_next_flag_and_the_correction_loop(make_window, qtbot, cups_clip):
    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    assert win.actions["auto_quality"].isChecked()
    before = set(win.quality.frames(1))

    # a wrong mask on one frame: a speck far from the cup, with a low score
    speck = np.zeros((720, 1280), bool)
    speck[100:106, 100:106] = True
    _break_frame(qtbot, win, BAD, speck, 0.2)
    win.actions["check_quality"].trigger()  # Ctrl+K
    qtbot.waitUntil(lambda: BAD in win.quality.frames(1), timeout=30000)
    settle(qtbot, win)
    flag = win.quality.at(BAD, 1)[0][1]
    assert {"small_area", "low_confidence"} <= set(flag["reasons"])
    qtbot.wait(60)  # the timeline redraws at most ~30 times a second
    assert (_flag_band(win, 0, BAD) == FLAG).all(), "the lane marks the flagged frame"
    assert "Quality check" in win.statusBar().currentMessage()

    # N jumps from flag to flag; the status bar says why the frame is flagged
    win.set_frame(0)
    win.canvas.setFocus()
    flagged = win.quality.frames(1)
    qtbot.keyClick(win.canvas, Qt.Key.Key_N)
    assert win.frame == flagged[0]
    while win.frame != BAD:
        qtbot.keyClick(win.canvas, Qt.Key.Key_N)
    assert "Flagged" in win.statusBar().currentMessage() and "frame 10" in win.statusBar().currentMessage()
    win.set_frame(len(cups_clip) - 1)
    qtbot.keyClick(win.canvas, Qt.Key.Key_N, Qt.KeyboardModifier.ShiftModifier)  # previous flagged frame
    assert win.frame == max(f for f in flagged if f < len(cups_clip) - 1)

    # fix it: a click on the cup there, then Propagate from Here; the check runs again
    win.set_frame(BAD)
    settle(qtbot, win)
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    assert BAD not in win.quality.frames(1), "a corrected frame loses its flag at once"
    assert win.session.masks.get(BAD, 1)[CUP[1], CUP[0]]
    checks = []
    win.ctl.finished.connect(lambda job: checks.append(job) if job.kind == "quality" else None)
    qtbot.keyClick(win.canvas, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # propagate from here
    qtbot.waitUntil(lambda: bool(checks), timeout=60000)
    settle(qtbot, win)
    assert BAD not in win.quality.frames(1)
    assert set(win.quality.frames(1)) <= before | {BAD - 1, BAD + 1}
    assert win.errors == []


def test_smoothed_view_fills_a_one_frame_dropout(make_window, qtbot, cups_clip):
    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    _break_frame(qtbot, win, BAD, np.zeros((720, 1280), bool), 0.9)
    win.set_frame(BAD)
    settle(qtbot, win)
    assert win.canvas.overlay_pixel(*CUP)[3] == 0, "the stored mask is empty there"
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_T)  # View → Temporal Smoothing
    settle(qtbot, win)
    assert win.actions["smooth"].isChecked() and win.display.smooth == 5
    assert win.canvas.overlay_pixel(*CUP)[3] > 0, "the smoothed view fills the dropout"
    assert not win.session.masks.get(BAD, 1).any(), "the stored mask is not changed"
    qtbot.keyClick(win.canvas, Qt.Key.Key_T)
    settle(qtbot, win)
    assert win.canvas.overlay_pixel(*CUP)[3] == 0


def test_export_dialog_effect_options(make_window, qtbot, cups_clip, tmp_path):
    import av

    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    dlg = win.files.export_dialog()
    dlg.set_format("background")
    assert set(dlg.options.fields) >= {"color", "image", "video", "crf", "feather"}
    dlg.options.set_value("color", "#ff0000")
    out = tmp_path / "bg.mp4"
    dlg.out_edit.setText(str(out))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result_path is not None or dlg.error is not None, timeout=60000)
    assert dlg.error is None
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(cups_clip)
    r, g, b = frames[5][40, 40].astype(int)  # far from the cup: the new background
    assert r > 200 and g < 60 and b < 60
    dlg.set_format("grade")
    assert "saturation" in dlg.options.fields and "color" not in dlg.options.fields
    dlg.set_format("png")
    assert not dlg.options.fields and dlg.options.isHidden()
    dlg.close()


def test_memory_budget_setting_reaches_the_engine_options(make_window, qtbot):
    win = make_window("classic")
    dlg = win.models.model_manager()
    dlg.engine_box.setCurrentIndex(dlg.engine_box.findData("sam2"))
    dlg.budget_box.setValue(768)
    assert dlg.apply()
    name, opts = win.settings.engine_options()
    assert name == "sam2" and opts["memory_budget_mb"] == 768
    dlg.budget_box.setValue(0)
    assert dlg.apply()
    assert "memory_budget_mb" not in win.settings.engine_options()[1]
    dlg.close()


def test_quality_thresholds_are_kept_and_used(make_window, qtbot, cups_clip):
    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    dlg = win.review.thresholds_dialog()
    assert dlg.boxes["min_confidence"].value() == 0.7 and dlg.boxes["max_drift"].value() == 50
    dlg.boxes["min_confidence"].setValue(1.0)  # nothing is that sure: every tracked frame is flagged
    checks = []
    win.ctl.finished.connect(lambda job: checks.append(job) if job.kind == "quality" else None)
    dlg.accept()  # keeps them and checks again
    qtbot.waitUntil(lambda: bool(checks), timeout=30000)
    settle(qtbot, win)
    flagged = win.quality.frames(1)
    assert len(flagged) >= len(cups_clip) - 2 and 0 not in flagged  # the clicked frame is trusted
    assert all("low_confidence" in f["reasons"] for f in win.quality.flags[1])
    from sam2studio.gui.dialogs.quality_thresholds import load_thresholds

    assert load_thresholds(win.settings).min_confidence == 1.0
    again = win.review.thresholds_dialog()
    assert again.boxes["min_confidence"].value() == 1.0
    again.reject()


def test_a_running_quality_check_gives_way_to_a_click(make_window, qtbot, cups_clip):
    import threading

    from sam2studio.gui import quality_flags as gq

    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    started, release = threading.Event(), threading.Event()

    def slow_assess(use_video=True, thresholds=None):  # a check on a long video: still running
        def fn(ctx):
            started.set()
            while not ctx.cancel.is_set() and not release.is_set():
                release.wait(0.01)
            ctx.check_cancel()
            return {1: []}
        return fn

    old = dict(win.quality.flags)
    gq.assess_job, real = slow_assess, gq.assess_job
    try:
        job = win.review.check_quality()
        qtbot.waitUntil(started.is_set, timeout=10000)
        click_canvas(qtbot, win, *CUP2)  # the user goes on editing: the check stops at once
        qtbot.waitUntil(lambda: win.ctl.running is None or win.ctl.running.kind != "quality", timeout=3000)
        settle(qtbot, win)
        assert job.cancelled and win.quality.flags == old  # the old flags stay until the next check
        assert win.session.prompt(0, 1) is not None
        assert win.errors == []
    finally:
        gq.assess_job = real
        release.set()


def test_track_report_writes_the_html_report_and_opens_it(make_window, qtbot, cups_clip, tmp_path, monkeypatch):
    import sam2studio.gui.handlers.review as review

    pytest.importorskip("matplotlib", reason="the HTML report draws with matplotlib (report extra)")
    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    out = tmp_path / "cups_report.html"
    monkeypatch.setattr(review, "report_path", lambda project_path, name: out)
    opened = []
    win.review.open_url = lambda url: opened.append(url.toLocalFile()) or True
    assert win.actions["report"].isEnabled()
    win.actions["report"].trigger()
    qtbot.waitUntil(lambda: win.review.report_job is None and bool(opened), timeout=120000)
    assert opened == [str(out)]
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="report-data"' in page
    assert str(out) in win.status_text()  # the whole message (the bar may show it shortened)
    assert "opened in your browser" in win.status_text()


def test_report_goes_beside_the_saved_project(tmp_path):
    from sam2studio.gui.handlers.review import report_path

    assert report_path(tmp_path / "rally.s2s", "rally.s2s") == tmp_path / "rally_report.html"
    unsaved = report_path(None, "rally.mp4")
    assert unsaved.name == "rally_report.html" and unsaved.parent.name == "SAM2 Studio reports"


def test_export_dialog_writes_the_html_report_with_its_scale(make_window, qtbot, cups_clip, tmp_path):
    import json
    import re

    pytest.importorskip("matplotlib", reason="the HTML report draws with matplotlib (report extra)")
    win = make_window("classic")
    _tracked(qtbot, win, cups_clip)
    dlg = win.files.export_dialog()
    dlg.set_format("report-html")
    assert set(dlg.options.fields) == {"px_per_m", "thumbnails"}
    dlg.options.set_value("px_per_m", 1400.0)
    dlg.options.set_value("thumbnails", 2)
    out = tmp_path / "cups.html"
    dlg.out_edit.setText(str(out))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result_path is not None or dlg.error is not None, timeout=120000)
    assert dlg.error is None
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', out.read_text(encoding="utf-8"), re.S)
                      .group(1).replace("<\\/", "</"))
    assert data["meta"]["px_per_m"] == 1400.0 and data["meta"]["engine"] == "classic"
    assert "total_distance_m" in data["derived"]["objects"][0]
    dlg.close()
