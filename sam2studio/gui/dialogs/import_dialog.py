"""File → Import Annotations...: choose a file or folder, see what it holds (objects, classes,
frames and the size check against the open video), then add it to the project.

Reading and importing run as controller jobs (the UI thread never decodes): the preview is
:meth:`Session.read_annotations`, the import :meth:`Session.import_annotations` with the same
options as ``sam2studio import``, as one undoable step.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...importers import IMPORT_FORMATS, KEYFRAME_CHOICES

KEYFRAME_HELP = {
    "auto": "the file's own keyframes (CVAT), else each object's first frame",
    "first": "each object's first frame where it is present",
    "all": "every imported frame where the object is present",
    "none": "none (masks only; propagation needs a prompt)",
}


class ImportDialog(QDialog):
    """Pick a source, preview what it holds, import it into the open project."""

    imported = Signal(str)  # a one-line summary

    def __init__(self, controller, start_dir: str = "", parent=None, undo_stack=None) -> None:
        super().__init__(parent)
        self.setObjectName("importDialog")
        self.setWindowTitle("Import Annotations")
        self.setMinimumWidth(560)
        self.ctl = controller
        self.undo_stack = undo_stack  # the import is one undoable step when given
        self.start_dir = start_dir or str(Path.home())
        self.found = None  # the Annotations of the last good preview
        self.error: str | None = None
        self.summary: str | None = None
        self._preview_job = None
        self._busy = False

        lay = QVBoxLayout(self)
        form = QFormLayout()
        src = QWidget()
        sl = QHBoxLayout(src)
        sl.setContentsMargins(0, 0, 0, 0)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("a JSON, XML, TXT or NPZ file, or a folder of masks")
        self.source_edit.setToolTip("What to import: COCO or YouTube-VIS JSON, CVAT for video XML, MOTS text, "
                                    "NPZ, or a folder of PNG masks, palette PNGs, a DAVIS folder or YOLO labels")
        self.source_edit.editingFinished.connect(self.preview)
        sl.addWidget(self.source_edit, 1)
        file_button = QPushButton("File…")
        file_button.clicked.connect(self._choose_file)
        sl.addWidget(file_button)
        folder_button = QPushButton("Folder…")
        folder_button.clicked.connect(self._choose_folder)
        sl.addWidget(folder_button)
        form.addRow("Source", src)
        self.format_box = QComboBox()
        self.format_box.addItem("Detect automatically", "auto")
        for f in IMPORT_FORMATS.values():
            self.format_box.addItem(f.label, f.name)
        self.format_box.currentIndexChanged.connect(lambda _i: self.preview())
        form.addRow("Format", self.format_box)
        self.keyframes_box = QComboBox()
        for k in KEYFRAME_CHOICES:
            self.keyframes_box.addItem(KEYFRAME_HELP[k], k)
        self.keyframes_box.setToolTip("Which imported masks become prompts (keyframes), so propagating again "
                                      "from a corrected frame starts from them")
        form.addRow("Keyframes", self.keyframes_box)
        self.new_ids = QCheckBox("Give the imported objects new ids (when the project already uses theirs)")
        form.addRow("", self.new_ids)
        lay.addLayout(form)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        self.preview_text.setPlaceholderText("Choose a file or folder to see what it holds.")
        self.preview_text.setMinimumHeight(150)
        lay.addWidget(self.preview_text, 1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("primary")
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.run_import)
        row.addWidget(self.import_button)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        row.addWidget(close)
        lay.addLayout(row)

    # ---- choosing ------------------------------------------------------------------------------
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import annotations from a file", self.start_dir,
                                              "Annotations (*.json *.xml *.txt *.npz);;All files (*)")
        if path:
            self.set_source(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import annotations from a folder", self.start_dir)
        if path:
            self.set_source(path)

    def set_source(self, path: str | Path) -> None:
        self.source_edit.setText(str(path))
        self.preview()

    def set_format(self, name: str) -> None:
        self.format_box.setCurrentIndex(max(0, self.format_box.findData(name)))

    # ---- preview -------------------------------------------------------------------------------
    def preview(self) -> None:
        """Read the source on the controller thread and show what it holds (or why not)."""
        text = self.source_edit.text().strip()
        self.found = None
        self.import_button.setEnabled(False)
        if not text:
            self.preview_text.clear()
            return
        path, fmt = Path(text), self.format_box.currentData()
        self.preview_text.setPlainText(f"Reading {path.name}…")
        self.error = None

        def fn(ctx):
            found = ctx.session.read_annotations(path, fmt)
            return found, sorted(set(found.objects) & set(ctx.session.objects))

        self._preview_job = self.ctl.call(fn, f"reading {path.name}", on_done=self._previewed,
                                          on_error=self._preview_failed)

    def _previewed(self, job) -> None:
        if job is not self._preview_job:
            return  # an older preview
        self.found, taken = job.result
        text = self.found.describe()
        if taken:  # the project already has objects with these ids: renumber the imported ones
            self.new_ids.setChecked(True)
            listed = ", ".join(str(i) for i in taken)
            text += (f"\n\nThe project already has object{'s' if len(taken) > 1 else ''} {listed}: "
                     f"the imported objects get new ids.")
        self.preview_text.setPlainText(text)
        self.status.setText("")
        self.import_button.setEnabled(not self._busy)

    def _preview_failed(self, job) -> None:
        if job is not self._preview_job:
            return
        self.error = job.error
        self.preview_text.setPlainText(f"Cannot import this:\n{job.error}")
        self.import_button.setEnabled(False)

    # ---- import --------------------------------------------------------------------------------
    def run_import(self) -> None:
        if self.found is None or self._busy:
            return
        from ..commands import ImportAnnotationsCommand

        command = ImportAnnotationsCommand(self.ctl, self.found, self.keyframes_box.currentData(),
                                           self.new_ids.isChecked(), on_done=self._done, on_error=self._failed)
        self._busy = True
        self.import_button.setEnabled(False)
        self.status.setText("Importing…")
        if self.undo_stack is not None:
            self.undo_stack.push(command)  # runs it
        else:
            command.redo()

    def _done(self, job) -> None:
        self._busy = False
        self.summary = job.result.describe()
        self.status.setText(self.summary.capitalize())
        self.imported.emit(self.summary)
        self.accept()

    def _failed(self, job) -> None:
        self._busy = False
        self.error = job.error
        self.status.setText(f"Import failed: {job.error}")
        self.import_button.setEnabled(self.found is not None)
