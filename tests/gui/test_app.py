"""Start-up: run(), each real video, the missing-xcb message, shortcuts and tooltips."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .helpers import CUPS, DATA, open_clip, settle

HARMLESS_QT = ("propagateSizeHints",)  # the offscreen platform plugin says this for docks


SAMPLE = CUPS  # the README's run command


def real_videos():
    return [SAMPLE, DATA / "dog.mp4"]


def qt_warnings(qtlog):
    return [r.message for r in qtlog.records
            if r.type.name in ("QtWarningMsg", "QtCriticalMsg", "QtFatalMsg")
            and not any(h in r.message for h in HARMLESS_QT)]


@pytest.mark.parametrize("video", real_videos(), ids=lambda p: getattr(p, "name", "none"))
def test_window_starts_on_each_real_video(make_window, qtbot, qtlog, caplog, video):
    caplog.set_level(logging.WARNING)
    win = make_window(None)  # the default engine: classic, since no checkpoint is installed here
    open_clip(qtbot, win, str(video))
    s = win.session
    assert s.engine_name == "classic"
    assert win.canvas.has_image and win.canvas.frame_index == 0
    img = win.loader.cached(0)
    assert (img.width(), img.height()) == (s.video.width, s.video.height)
    assert win.timeline.num_frames == len(s.video) >= 48
    assert video.name in win.windowTitle()
    assert "Frame 0 / " in win.frame_label.text()
    win.playback.last_frame()
    qtbot.waitUntil(lambda: win.canvas.frame_index == len(s.video) - 1, timeout=15000)
    settle(qtbot, win)
    assert win.errors == []
    bad = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("sam2studio")]
    assert bad == [], [r.getMessage() for r in bad]
    assert qt_warnings(qtlog) == []


def test_run_opens_the_window_with_a_path(qtbot, app_setup, cups_mp4, monkeypatch):
    from sam2studio.gui import app as app_mod

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(app_mod, "xcb_problem", lambda: None)
    seen = {}

    def close_when_open():
        win = next((w for w in QApplication.topLevelWidgets() if w.objectName() == "" and hasattr(w, "doc")
                    and w.isVisible()), None)
        if win is None or win.session is None or not win.canvas.has_image:
            QTimer.singleShot(50, close_when_open)
            return
        seen["video"] = win.session.video.path
        seen["title"] = win.windowTitle()
        win.close()

    QTimer.singleShot(50, close_when_open)
    try:
        code = app_mod.run(str(cups_mp4))
    finally:
        root = logging.getLogger()
        for h in [h for h in root.handlers if getattr(h, "_sam2studio", False)]:
            root.removeHandler(h)
            h.close()
    assert code == 0
    assert seen["video"] == Path(cups_mp4)
    assert "cups16.mp4" in seen["title"]
    from sam2studio.gui.settings import log_dir

    assert (log_dir() / "sam2studio.log").is_file()
    from sam2studio.gui.settings import Settings

    assert not Settings().get("window/geometry").isEmpty(), "the window geometry is kept"


def test_open_an_image_folder(make_window, qtbot):
    folder = DATA / "judo" / "frames"
    win = make_window("classic")
    open_clip(qtbot, win, str(folder))
    assert win.session.video.kind == "folder" and len(win.session.video) == 16
    assert (win.session.video.width, win.session.video.height) == (428, 240)
    assert "frames" in win.windowTitle()


def test_unexpected_errors_become_one_sentence(make_window, qtbot, monkeypatch, caplog):
    from sam2studio.gui import app as app_mod

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    win = make_window("classic")
    app_mod.install_excepthook(lambda: win)
    try:
        raise RuntimeError("the frobnicator broke\nsecond line")
    except RuntimeError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    msg = win.errors[-1]
    assert msg == "Something went wrong while working (the frobnicator broke); the details are in the log."
    assert any(r.exc_info for r in caplog.records), "the traceback is logged"
    box = QApplication.activeModalWidget()
    assert box is not None and box.text() == msg and "Traceback" not in box.text()
    box.accept()
    # a failing job on the controller thread: one sentence too
    win.ctl.call(lambda ctx: 1 / 0, "testing a failure")
    qtbot.waitUntil(lambda: len(win.errors) == 2, timeout=5000)
    assert win.errors[-1].startswith("Something went wrong while testing a failure (division by zero)")


def test_missing_xcb_library_names_the_package(monkeypatch, capsys):
    from sam2studio.gui import app as app_mod

    msg = app_mod.xcb_message("libxcb-cursor.so.0: cannot open shared object file: No such file or directory")
    assert "libxcb-cursor0" in msg and "apt-get install" in msg
    assert app_mod.package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert app_mod.package_for("libxcb.so.1") == "libxcb1"
    assert app_mod.package_for("libEGL.so.1") == "libegl1"
    assert "xcb" in app_mod.xcb_message("something odd happened")

    # no display at all: one clear line, exit code 1, no Qt abort
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert app_mod.run(None) == 1
    err = capsys.readouterr().err
    assert "DISPLAY" in err and "xvfb-run" in err

    # the plugin fails to load: the message names the package
    monkeypatch.setenv("DISPLAY", ":99")
    import ctypes

    def fail(path, *a, **k):
        raise OSError("libxcb-icccm.so.4: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(ctypes, "CDLL", fail)
    problem = app_mod.xcb_problem()
    assert problem is not None and "libxcb-icccm4" in problem


def test_shortcuts_window_and_tooltips(make_window, qtbot):
    from PySide6.QtCore import Qt

    win = make_window("classic")
    win.canvas.setFocus()
    qtbot.keyClick(win.canvas, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: win.view.shortcuts_dialog is not None and win.view.shortcuts_dialog.isVisible(),
                    timeout=3000)
    rows = dict(win.view.shortcuts_dialog.rows())
    for text in ("Positive Click", "Negative Click", "Box", "Brush", "Eraser", "Play / Pause",
                 "Track Corrected Objects from Here", "Save", "Undo", "Next Keyframe", "Cancel"):
        assert text in rows, f"{text} is missing from the shortcuts window"
    assert rows["Play / Pause"] == "Space"
    assert rows["Undo"] == "Ctrl+Z"
    win.view.shortcuts_dialog.close()
    for name in ("tool_positive", "tool_negative", "tool_box", "tool_brush", "tool_eraser", "propagate", "rerun",
                 "cancel", "play", "zoom_fit", "zoom_100"):
        assert win.actions[name].toolTip(), name
    for w in (win.brush_slider, win.opacity_slider, win.objects_panel.add_button):
        assert w.toolTip()


def test_every_action_sits_in_a_menu_and_the_tools_are_exclusive_on_menu_and_toolbar(make_window, qtbot):
    from sam2studio.gui.actions import SPECS, TOOLS, build_actions
    from sam2studio.gui.canvas import Tool

    win = make_window("classic")
    in_menus: list[str] = []
    for top in win.menuBar().actions():
        for act in top.menu().actions():
            in_menus.append(act.objectName())
    for spec in SPECS:
        assert in_menus.count(f"action_{spec.name}") == 1, f"{spec.name} is not in exactly one menu"
    on_toolbar = [a.objectName() for a in win.toolbar.actions()]
    for name in TOOLS:
        assert on_toolbar.count(f"action_{name}") == 1

    win.actions["tool_brush"].trigger()  # a tool chosen from the toolbar or menu drives the canvas
    assert win.canvas.tool == Tool.BRUSH
    assert [n for n in TOOLS if win.actions[n].isChecked()] == ["tool_brush"]
    win.actions["tool_box"].trigger()
    assert win.canvas.tool == Tool.BOX and not win.actions["tool_brush"].isChecked()

    handlers = {spec.name: (lambda: None) for spec in SPECS}
    del handlers["save"]
    with pytest.raises(ValueError, match="missing \\['save'\\]"):  # no action without its handler
        build_actions(win, handlers)
