"""The object panel's class box and File → Import Annotations..., on a generated clip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam2studio.core.objects import TrackedObject

from .helpers import open_clip, settle

H, W, N = 48, 64, 6


def _mask(f: int, o: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    if o == 1:
        m[5:20, 4 + 3 * f:20 + 3 * f] = True
    elif f != 3:  # object 2 is absent on frame 3
        m[28:44, 30:50] = True
    return m


@pytest.fixture
def clip_folder(tmp_path):
    """A six-frame image folder (no shared test material needed)."""
    folder = tmp_path / "clip"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for f in range(N):
        Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / f"{f:05d}.png")
    return folder


@pytest.fixture
def coco_file(clip_folder, tmp_path):
    """A COCO export of two objects (one with the class "person") on the clip."""
    from sam2studio import Session

    with Session.open(clip_folder, engine="classic") as s:
        s.add_object("rider", category="person")
        s.add_object("board")
        for f in range(N):
            for o in (1, 2):
                s.masks.set(f, o, _mask(f, o))
        return s.export("coco", tmp_path / "ann.json")


def test_class_box_edits_the_current_objects_class(qtbot):
    from sam2studio.gui.object_panel import ObjectPanel

    panel = ObjectPanel()
    qtbot.addWidget(panel)
    objs = [TrackedObject(1, "rider", category="person"), TrackedObject(2, "board")]
    panel.set_objects(objs, 1, classes=["person", "vehicle"])
    assert [panel.category.itemText(i) for i in range(panel.category.count())] == ["person", "vehicle"]
    assert panel.category.currentText() == "person"
    panel.select(2)
    assert panel.category.currentText() == ""
    with qtbot.waitSignal(panel.category_requested) as sig:
        panel.category.setEditText("surf board")
        panel.category.lineEdit().editingFinished.emit()
    assert sig.args == [2, "surf board"]
    with qtbot.waitSignal(panel.category_requested) as sig:
        panel.category.setCurrentIndex(1)
        panel.category.activated.emit(1)
    assert sig.args == [2, "vehicle"]
    panel.set_objects([], None)
    assert not panel.category.isEnabled()


def test_file_import_annotations_previews_then_imports_into_the_open_project(make_window, qtbot, clip_folder,
                                                                            coco_file, tmp_path):
    win = make_window("classic")
    assert not win.actions["import_annotations"].isEnabled()  # no video yet
    open_clip(qtbot, win, str(clip_folder))
    file_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&File")
    assert win.actions["import_annotations"] in file_menu.actions()
    assert win.actions["import_annotations"].isEnabled()
    win.actions["import_annotations"].trigger()
    dlg = win.files.import_dialog_widget
    assert dlg is not None and dlg.isVisible()
    dlg.set_source(coco_file)
    qtbot.waitUntil(lambda: dlg.found is not None or dlg.error is not None, timeout=30000)
    assert dlg.error is None
    text = dlg.preview_text.toPlainText()
    assert "coco: 2 objects" in text and "rider [person]" in text and "64x48" in text
    assert dlg.import_button.isEnabled()
    dlg.keyframes_box.setCurrentIndex(dlg.keyframes_box.findData("all"))
    dlg.import_button.click()
    qtbot.waitUntil(lambda: dlg.summary is not None or (dlg.error is not None), timeout=30000)
    assert dlg.summary.startswith("imported 2 objects on 6 frames")
    settle(qtbot, win)
    assert not dlg.isVisible() and "Imported 2 objects" in win.statusBar().currentMessage()
    objs = win.doc.state.objects
    assert {o: (v.name, v.category) for o, v in objs.items()} == {1: ("rider", "person"), 2: ("board", "")}
    s = win.session
    assert (s.masks.get(2, 1) == _mask(2, 1)).all() and not s.masks.get(3, 2).any()
    assert s.keyframes(2) == [0, 1, 2, 4, 5]
    # the object panel shows the classes; a new class typed there is set through an undoable command
    panel = win.objects_panel
    panel.select(2)
    assert [panel.category.itemText(i) for i in range(panel.category.count())] == ["person", "board"]
    panel.category.setEditText("surf board")
    panel.category.lineEdit().editingFinished.emit()
    settle(qtbot, win)
    assert win.session.objects[2].category == "surf board"
    win.undo.undo()
    settle(qtbot, win)
    assert win.session.objects[2].category == ""
    # the import itself is one undoable step
    assert win.undo.undoText() == "Import ann.json"
    win.undo.undo()
    settle(qtbot, win)
    assert not win.session.objects and not win.doc.state.objects
    win.undo.redo()
    settle(qtbot, win)
    assert {o: (v.name, v.category) for o, v in win.session.objects.items()} == \
        {1: ("rider", "person"), 2: ("board", "")}
    assert (win.session.masks.get(2, 1) == _mask(2, 1)).all() and not win.session.masks.get(3, 2).any()


def test_import_dialog_refuses_a_file_for_another_video(make_window, qtbot, coco_file, tmp_path):
    from sam2studio.gui.dialogs.import_dialog import ImportDialog

    other = tmp_path / "other"
    other.mkdir()
    for f in range(N):
        Image.fromarray(np.zeros((H * 2, W * 2, 3), np.uint8)).save(other / f"{f:05d}.png")
    win = make_window("classic")
    open_clip(qtbot, win, str(other))
    dlg = ImportDialog(win.ctl, str(tmp_path), win)
    qtbot.addWidget(dlg)
    dlg.set_source(coco_file)
    qtbot.waitUntil(lambda: dlg.error is not None or dlg.found is not None, timeout=30000)
    assert dlg.found is None and "64x48" in dlg.error and "128x96" in dlg.error
    assert "Cannot import" in dlg.preview_text.toPlainText()
    assert not dlg.import_button.isEnabled()
    assert not win.doc.state.objects


def test_import_dialog_gives_new_ids_when_the_project_has_the_files_ids(make_window, qtbot, clip_folder,
                                                                        coco_file, tmp_path):
    from sam2studio.gui.dialogs.import_dialog import ImportDialog

    win = make_window("classic")
    open_clip(qtbot, win, str(clip_folder))
    for _ in range(2):  # import the same file twice
        dlg = ImportDialog(win.ctl, str(tmp_path), win)
        qtbot.addWidget(dlg)
        dlg.set_source(coco_file)
        qtbot.waitUntil(lambda d=dlg: d.found is not None or d.error is not None, timeout=30000)
        dlg.import_button.click()
        qtbot.waitUntil(lambda d=dlg: d.summary is not None or d.error is not None, timeout=30000)
        settle(qtbot, win)
    assert dlg.new_ids.isChecked() and "already has objects 1, 2" in dlg.preview_text.toPlainText()
    assert "renumbered 1 -> 3, 2 -> 4" in dlg.summary
    assert {o: v.name for o, v in win.doc.state.objects.items()} == {1: "rider", 2: "board", 3: "rider",
                                                                      4: "board"}


def test_export_dialog_offers_the_davis_resolution_and_writes_the_layout(make_window, qtbot, clip_folder,
                                                                         coco_file, tmp_path):
    win = make_window("classic")
    open_clip(qtbot, win, str(clip_folder))
    done = []
    win.ctl.call(lambda ctx: ctx.session.import_annotations(coco_file), "import", kind="edit",
                 on_done=lambda job: done.append(job))
    qtbot.waitUntil(lambda: bool(done), timeout=30000)
    settle(qtbot, win)
    dlg = win.files.export_dialog()
    dlg.set_format("davis")
    assert set(dlg.options.fields) == {"resolution", "images"}
    dlg.options.set_value("resolution", "full")
    out = tmp_path / "davis"
    dlg.out_edit.setText(str(out))
    dlg.export_button.click()
    qtbot.waitUntil(lambda: dlg.result_path is not None or dlg.error is not None, timeout=30000)
    assert dlg.error is None
    ann = out / "Annotations" / "Full-Resolution" / "clip"
    assert sorted(p.name for p in ann.iterdir()) == [f"{f:05d}.png" for f in range(N)]
    assert len(list((out / "JPEGImages" / "Full-Resolution" / "clip").glob("*.jpg"))) == N
    dlg.set_format("youtube-vis")
    assert set(dlg.options.fields) == {"rle"}
    dlg.close()
