"""Projects: save and reopen, unsaved-changes prompt, autosave and crash recovery, drops, recents, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from .helpers import click_canvas, open_clip, settle

CUP = (325, 225)  # the middle cup in the 640x360 test file


def _segment(qtbot, win, n_objects=2):
    click_canvas(qtbot, win, *CUP)
    if n_objects > 1:
        win.editing.add_object()
        click_canvas(qtbot, win, 458, 225)
    settle(qtbot, win)
    win.propagation.both()
    settle(qtbot, win)


def test_save_and_reopen(make_window, qtbot, cups_mp4, tmp_path):
    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    _segment(qtbot, win)
    row = win.objects_panel.row(2)
    row.name.setText("right cup")
    row.name.editingFinished.emit()
    settle(qtbot, win)
    assert win.isWindowModified() and win.doc.dirty
    target = tmp_path / "cups.s2s"
    win.files.save_project(target)
    settle(qtbot, win)
    assert target.is_file()
    assert not win.doc.dirty and not win.isWindowModified()
    assert "cups.s2s" in win.windowTitle()
    masks = {(f, o): e.rle["counts"] for f, o, e in win.session.masks.items()}
    keys = {o: win.session.keyframes(o) for o in (1, 2)}

    again = make_window("classic")
    open_clip(qtbot, again, str(target))
    s = again.session
    assert {(f, o): e.rle["counts"] for f, o, e in s.masks.items()} == masks
    assert {o: s.keyframes(o) for o in (1, 2)} == keys
    assert s.objects[2].name == "right cup"
    assert again.objects_panel.ids() == [1, 2]
    assert not again.doc.dirty
    assert again.timeline.lane_ids == [1, 2], "the reopened project's lanes are drawn"
    color = np.array(s.objects[1].color)
    assert (again.timeline.lane_pixels(0, 0)[:3] == color).all()
    # it reopens on the frame and object the user was on
    assert again.current_obj == win.current_obj and again.frame == win.frame
    # the reopened prompts reach the engine: a new click on frame 3 works
    again.editing.select_object_index(0)
    again.set_frame(3)
    click_canvas(qtbot, again, *CUP)
    settle(qtbot, again)
    assert again.session.prompt(3, 1) is not None and again.doc.dirty
    assert str(target.resolve()) in again.settings.recent_files()
    assert again.errors == [] and win.errors == []


def test_unsaved_changes_prompt_on_close(make_window, qtbot, cups_mp4, monkeypatch, tmp_path):
    from sam2studio.gui.dialogs import error_dialog as err

    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    asked = []

    def answer(choice):
        def ask(parent, name):
            asked.append(name)
            return choice
        return ask

    monkeypatch.setattr(err, "ask_save_changes", answer("cancel"))
    assert not win.close()
    assert win.isVisible() and asked == ["cups16.mp4"]

    # the real question box: answer "Save" through the dialog itself (the project has a file)
    win.files.save_project(tmp_path / "p.s2s")
    settle(qtbot, win)
    click_canvas(qtbot, win, 450, 230)
    settle(qtbot, win)
    assert win.doc.dirty
    monkeypatch.undo()

    def press_save():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox), box
        box.button(QMessageBox.StandardButton.Save).click()

    QTimer.singleShot(100, press_save)
    assert win.close()
    from sam2studio.core.project import Project

    import pytest

    assert Project.load(tmp_path / "p.s2s").prompts.get(0, 1).points[-1] == pytest.approx((450, 230), abs=1)


def test_autosave_and_recovery_after_a_crash(make_window, qtbot, cups_mp4, tmp_path):
    from sam2studio.gui import autosave
    from sam2studio.gui.settings import Settings, autosave_dir

    Settings().set("autosave/interval_s", 0.3)
    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    assert not autosave.find_orphans()
    _segment(qtbot, win, n_objects=1)
    qtbot.waitUntil(lambda: win.doc.autosaver.count >= 1, timeout=10000)
    settle(qtbot, win)
    files = sorted(p.name for p in autosave_dir().iterdir() if p.suffix in (".s2s", ".json"))
    assert files == sorted([f"{win.doc.autosaver.id}.s2s", f"{win.doc.autosaver.id}.json"])
    masks = {(f, o): e.rle["counts"] for f, o, e in win.session.masks.items()}
    assert not autosave.find_orphans(), "a live window's autosave is not offered"

    # "kill" the app: threads stop, nothing is cleaned up, the window just goes away
    win.shutdown(keep_autosave=True)
    win._closing = True
    win.close()
    assert autosave.find_orphans()

    again = make_window("classic", check_recovery=True)
    messages = []
    again.statusBar().messageChanged.connect(messages.append)
    qtbot.waitUntil(lambda: again.files.recovery_dialog is not None, timeout=5000)
    dlg = again.files.recovery_dialog
    assert dlg.isVisible() and QApplication.activeModalWidget() is dlg
    seen = [[e.name for e in dlg.entries]]
    qtbot.mouseClick(dlg.recover_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.session is not None, timeout=20000)
    settle(qtbot, again)
    assert seen == [["cups16.mp4"]]
    assert {(f, o): e.rle["counts"] for f, o, e in again.session.masks.items()} == masks
    assert again.doc.dirty, "recovered work is unsaved"
    assert again.session.keyframes(1) == [0]
    assert any("Recovered" in m for m in messages), messages
    # the crashed window's files are gone; the recovered work autosaves under the new window
    assert not (autosave_dir() / f"{win.doc.autosaver.id}.s2s").exists()
    qtbot.waitUntil(lambda: (autosave_dir() / f"{again.doc.autosaver.id}.s2s").exists(), timeout=10000)
    assert not autosave.find_orphans()

    # a clean close (discarding) leaves nothing behind
    from sam2studio.gui.dialogs import error_dialog as err

    err_ask = err.ask_save_changes
    err.ask_save_changes = lambda parent, name: "discard"
    try:
        assert again.close()
    finally:
        err.ask_save_changes = err_ask
    assert [p for p in autosave_dir().iterdir() if p.suffix in (".s2s", ".json")] == []


def test_an_autosave_queued_when_the_window_closes_cleanly_leaves_no_files(make_window, qtbot, cups_mp4):
    """(Seen once in a full run: an autosave that ran after a clean close left its files, which
    the next start would have offered to recover as a crash.)"""
    import threading

    from sam2studio.gui.settings import autosave_dir

    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    _segment(qtbot, win, n_objects=1)
    gate = threading.Event()
    win.ctl.call(lambda ctx: gate.wait(10), "busy")  # the controller is busy with a job...
    win.doc.autosaver.save_now()  # ...and an autosave waits behind it
    win.doc.autosaver.release()  # the window closes cleanly meanwhile
    gate.set()
    settle(qtbot, win)
    assert [p.name for p in autosave_dir().glob("*") if p.suffix in (".s2s", ".json")] == []


def test_drop_a_video_and_recent_files(make_window, qtbot, cups_mp4):
    win = make_window("classic")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(cups_mp4))])
    pos = QPointF(200, 200)
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted()
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, drop)
    qtbot.waitUntil(lambda: win.session is not None, timeout=20000)
    settle(qtbot, win)
    assert win.session.video.path == Path(cups_mp4)
    assert win.settings.recent_files()[0] == str(Path(cups_mp4).resolve())
    win.files.fill_recent()
    assert win.recent_menu.actions()[0].text() == "cups16.mp4"
    # a text drop is refused
    other = QMimeData()
    other.setText("hello")
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, other, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert not enter.isAccepted()


def test_open_errors_are_one_sentence(make_window, qtbot, tmp_path):
    win = make_window("classic")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    win.files.open_path(str(bad), ask=False)
    qtbot.waitUntil(lambda: bool(win.errors), timeout=10000)
    msg = win.errors[-1]
    assert "broken.mp4" in msg and "Traceback" not in msg and msg.endswith(".") and "\n" not in msg
    assert win.session is None
    box = QApplication.activeModalWidget()
    assert isinstance(box, QMessageBox) and box.text() == msg
    box.accept()


def test_export_dialog_writes_pngs(make_window, qtbot, cups_mp4, tmp_path):
    win = make_window("classic")
    open_clip(qtbot, win, str(cups_mp4))
    _segment(qtbot, win, n_objects=1)
    dlg = win.files.export_dialog()
    names = [dlg.format_box.itemData(i) for i in range(dlg.format_box.count())]
    from sam2studio.export.formats import format_names

    assert names == format_names() and "png" in names and "coco" in names
    dlg.set_format("png")
    out = tmp_path / "pngs"
    dlg.out_edit.setText(str(out))
    progress = []
    dlg._bridge.progress.connect(lambda d, t: progress.append((d, t)))
    qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.result_path is not None or dlg.error is not None, timeout=30000)
    assert dlg.error is None
    assert sorted(p.name for p in out.iterdir())[:2] == ["frame_0000_obj_1.png", "frame_0001_obj_1.png"]
    assert len(list(out.glob("*.png"))) == 16
    assert progress and progress[-1][0] == progress[-1][1]
    assert dlg.progress.value() == 1000
    dlg.set_format("coco")
    assert dlg.out_edit.text().endswith(".json")
    dlg.close()
