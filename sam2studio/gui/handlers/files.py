"""Files: open (video, image folder, project, camera, recent, dropped), new, save, save as,
the question about unsaved changes, crash recovery and the export dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from ...core.project import PROJECT_SUFFIX
from ...core.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from ..autosave import find_orphans
from ..dialogs import error_dialog as err
from ..dialogs.recovery import RecoveryDialog

if TYPE_CHECKING:
    from ..main_window import MainWindow

VIDEO_FILTER = "Videos ({});;All files (*)".format(" ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS)))
PROJECT_FILTER = "SAM2 Studio projects (*.s2s)"


class FilesController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.live_windows: list = []
        self.recovery_dialog = None
        self.export_dialog_widget = None
        self.import_dialog_widget = None
        self.locked_box = None  # the offer to open a project another process writes, read-only

    def handlers(self) -> dict[str, Callable]:
        return {
            "new": self.new_project,
            "open_video": self.open_video_dialog,
            "open_folder": self.open_folder_dialog,
            "open_camera": self.open_camera,
            "open_project": self.open_project_dialog,
            "save": self.save,
            "save_as": self.save_as_dialog,
            "export": self.export_dialog,
            "import_annotations": self.import_dialog,
            "quit": self.w.close,
        }

    # ---- opening ----
    def open_path(self, source, *, engine: str | None = None, ask: bool = True, read_only: bool = False,
                  **options):
        """Open a video file, image folder, project (.s2s) or VideoSource in the window. A project
        another SAM2 Studio is writing is offered read-only (returns None; the offer opens it)."""
        w = self.w
        if ask and not self.maybe_save():
            return None
        if not read_only and isinstance(source, (str, Path)) and Path(source).suffix.lower() == PROJECT_SUFFIX:
            from ...core.project import Project

            holder = Project.lock_holder(source)
            if holder is not None:
                self.locked_box = err.ask_open_locked(
                    w, Path(source).name, holder.describe(),
                    lambda: self.open_path(source, engine=engine, ask=False, read_only=True, **options))
                return None
        w.playback.stop()
        w.ctl.cancel()  # a running propagation belongs to the project being closed
        opts = {} if engine is None else {"engine": engine, **options}
        if isinstance(source, (str, Path)):
            w.settings.set("dirs/open", str(Path(source).resolve().parent))
        return w.doc.open(source, read_only=read_only, **opts)

    def open_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open a video", self.w.settings.get("dirs/open"), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.w, "Open a folder of images", self.w.settings.get("dirs/open"))
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open a project", self.w.settings.get("dirs/open"),
                                              PROJECT_FILTER + ";;All files (*)")
        if path:
            self.open_path(path)

    def open_camera(self):
        """File → Open Camera: a live tracking window; a recording can be opened here after."""
        from ..live_window import open_camera_dialog

        engine, options = self.w.doc.engine_choice()
        win = open_camera_dialog(self.w, engine=engine, engine_options=options)
        if win is not None:
            self.live_windows.append(win)
            win.project_recorded.connect(lambda p: self.open_path(p))
            win.destroyed.connect(lambda *_a, lw=win: self.live_windows.remove(lw) if lw in self.live_windows else None)
        return win

    def new_project(self) -> None:
        if not self.maybe_save():
            return
        self.w.playback.stop()
        self.w.undo.clear()
        self.w.doc.close_project()

    def fill_recent(self) -> None:
        m = self.w.recent_menu
        m.clear()
        settings = self.w.settings
        files = settings.recent_files()
        for f in files:
            act = m.addAction(Path(f).name)
            act.setToolTip(f)
            act.setStatusTip(f)
            act.triggered.connect(lambda _c=False, p=f: self._open_recent(p))
        if not files:
            m.addAction("(none)").setEnabled(False)
        else:
            m.addSeparator()
            m.addAction("Clear the list").triggered.connect(settings.clear_recent)

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.w.settings.remove_recent(path)
            self.w.show_error(f"{path} is no longer there; it was removed from the recent files")
            return
        self.open_path(path)

    @staticmethod
    def dropped_path(mime) -> str | None:
        """The first local file or folder of a drag, if any."""
        if not mime.hasUrls():
            return None
        for url in mime.urls():
            if url.isLocalFile():
                p = Path(url.toLocalFile())
                if p.is_dir() or p.suffix.lower() in VIDEO_EXTENSIONS | IMAGE_EXTENSIONS | {".s2s"}:
                    return str(p)
                if p.is_file():
                    return str(p)
        return None

    # ---- saving ----
    def save(self) -> bool:
        w = self.w
        if w.session is None:
            return False
        if w.doc.project_path is None or w.doc.read_only:  # read-only: keep the changes under a new name
            return self.save_as_dialog()
        w.doc.save(on_done=self._after_save)
        return True

    def _after_save(self, job) -> None:
        if job.error is None:
            self.w.undo.setClean()
        self.w.update_title()

    def _ask_project_path(self) -> str:
        w = self.w
        start = w.settings.get("dirs/save") or w.settings.get("dirs/open")
        name = Path(w.doc.display_name or "untitled").stem + ".s2s"
        path, _ = QFileDialog.getSaveFileName(w, "Save the project", str(Path(start or ".") / name), PROJECT_FILTER)
        return path

    def save_as_dialog(self) -> bool:
        if self.w.session is None:
            return False
        path = self._ask_project_path()
        if not path:
            return False
        self.save_project(path)
        return True

    def save_project(self, path) -> None:
        """Save to ``path`` (tests call this instead of the file dialog)."""
        self.w.settings.set("dirs/save", str(Path(path).resolve().parent))
        self.w.doc.save(path, on_done=self._after_save)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancels."""
        w = self.w
        if not w.doc.dirty:
            return True
        answer = err.ask_save_changes(w, w.doc.display_name or "the project")
        if answer == "cancel":
            return False
        if answer == "discard":
            return True
        if w.doc.project_path is None or w.doc.read_only:
            path = self._ask_project_path()
            if not path:
                return False
            return w.doc.save_blocking(path)
        w.ctl.cancel()
        return w.doc.save_blocking()

    # ---- recovery ----
    def check_recovery(self):
        """Offer the autosaves of windows that did not close cleanly (a window-modal dialog)."""
        entries = find_orphans()
        if not entries:
            return None
        dlg = RecoveryDialog(entries, self.w)
        self.recovery_dialog = dlg
        dlg.finished.connect(lambda _r: self._recovery_answered(dlg))
        dlg.open()
        return dlg

    def _recovery_answered(self, dlg: RecoveryDialog) -> None:
        self.recovery_dialog = None
        if dlg.choice == "recover" and dlg.entry is not None:
            self.w.doc.recover(dlg.entry)
        elif dlg.choice == "discard" and dlg.entry is not None:
            from ..autosave import discard

            discard(dlg.entry)
        dlg.deleteLater()

    # ---- export ----
    def export_dialog(self):
        w = self.w
        if w.session is None:
            return None
        from ..dialogs.export_dialog import ExportDialog

        objects = w.doc.state.objects
        objs = [objects[i] for i in sorted(objects)]
        settings = w.settings
        start = settings.get("dirs/export") or settings.get("dirs/save") or settings.get("dirs/open")
        dlg = ExportDialog(w.ctl, objs, w.num_frames, Path(w.doc.display_name or "export").stem, start,
                           settings.get("export/format"), w, smooth=w.actions["smooth"].isChecked())
        dlg.exported.connect(lambda p: (settings.set("dirs/export", str(Path(p).resolve().parent)),
                                        settings.set("export/format", dlg.format.name),
                                        w.status(f"Exported {p}", 8000)))
        self.export_dialog_widget = dlg
        dlg.open()
        return dlg

    # ---- import ----
    def import_dialog(self):
        """File → Import Annotations...: preview a file or folder, then add it to the project."""
        w = self.w
        if w.session is None:
            return None
        from ..dialogs.import_dialog import ImportDialog

        settings = w.settings
        start = settings.get("dirs/import") or settings.get("dirs/open")
        dlg = ImportDialog(w.ctl, start, w, undo_stack=w.undo)

        def done(summary: str) -> None:
            source = dlg.source_edit.text().strip()
            if source:
                settings.set("dirs/import", str(Path(source).resolve().parent))
            w.status(summary[:1].upper() + summary[1:], 8000)

        dlg.imported.connect(done)
        self.import_dialog_widget = dlg
        dlg.open()
        return dlg
