"""The core loop in the app and the rough edges met on the way (issue 13): each fixed edge
has its test here."""

from __future__ import annotations

from pathlib import Path

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
    assert unsaved.is_dir() and unsaved != Path("../shared/data/videos").resolve()
