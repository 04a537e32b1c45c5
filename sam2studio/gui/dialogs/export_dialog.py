"""The export dialog: every format of :mod:`sam2studio.export.formats`, with progress and cancel.

The export runs as a controller job (so it never races an edit), reading the project and,
for video formats, the session's video; progress comes back through a small bridge object.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from ...export import formats as export_formats
from ..controller import Job
from .export_options import ExportOptions
from .fields import PathField


def available_formats() -> list:
    """The export formats, in the order the export package lists them (one place for all)."""
    return [export_formats.get_format(n) for n in export_formats.format_names()]


def default_export_dir(project_path: str | Path | None = None) -> str:
    """Where a first export goes: the project's folder when it is saved, else the user's
    videos folder (never the source video's folder, often read-only or someone else's)."""
    if project_path:
        return str(Path(project_path).resolve().parent)
    from PySide6.QtCore import QStandardPaths

    movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    return movies if movies and Path(movies).is_dir() else str(Path.home())


def _without_extension(name: str) -> str:
    for f in export_formats.format_names():
        out = export_formats.get_format(f).output
        if out != "folder" and name.lower().endswith(out.lower()):
            return name[: -len(out)]
    return name


def export_stem(name: str) -> str:
    """The name an export path is made from: ``name`` without its extension and without a
    ``_<format>`` tail an earlier default added (``biker_png`` and ``biker_overlay.mp4`` give
    ``biker``), so switching formats never stacks them (``biker_png.mp4``)."""
    stem = _without_extension(Path(name).name)
    for f in export_formats.format_names():
        if stem.endswith(f"_{f}"):
            return stem[: -len(f) - 1]
    return stem


class _Bridge(QObject):
    progress = Signal(int, int)


class ExportDialog(QDialog):
    """Choose a format, output, objects and frames; export with progress and cancel."""

    exported = Signal(str)

    def __init__(self, controller, objects: list, num_frames: int, base_name: str = "export",
                 start_dir: str = "", default_format: str = "png", parent=None, *, smooth: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export")
        self.ctl = controller
        self.num_frames = int(num_frames)
        self.base_name = base_name
        self.start_dir = start_dir or default_export_dir()
        self.job = None
        self.result_path: str | None = None
        self.error: str | None = None
        self._bridge = _Bridge()
        self._bridge.progress.connect(self._on_progress)
        self.formats = available_formats()

        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.format_box = QComboBox()
        for f in self.formats:
            self.format_box.addItem(f.label, f.name)
            self.format_box.setItemData(self.format_box.count() - 1, f.description, Qt.ItemDataRole.ToolTipRole)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format_box)
        self.about = QLabel("")
        self.about.setObjectName("hint")
        self.about.setWordWrap(True)
        form.addRow("", self.about)
        out = PathField("Where to write the export (a folder or a file, by format)", "Browse…",
                        choose=self._browse)
        self.out_edit = out.edit
        form.addRow("Output", out)
        self.objects_list = QListWidget()
        self.objects_list.setMaximumHeight(120)
        self.objects_list.setToolTip("Objects to export")
        for o in objects:
            item = QListWidgetItem(f"{o.id}  {o.name}")
            item.setData(Qt.ItemDataRole.UserRole, o.id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.objects_list.addItem(item)
        form.addRow("Objects", self.objects_list)
        fr = QWidget()
        fl = QHBoxLayout(fr)
        fl.setContentsMargins(0, 0, 0, 0)
        self.all_frames = QCheckBox("All frames")
        self.all_frames.setChecked(True)
        fl.addWidget(self.all_frames)
        self.first_box = QSpinBox()
        self.first_box.setRange(0, max(0, self.num_frames - 1))
        self.last_box = QSpinBox()
        self.last_box.setRange(0, max(0, self.num_frames - 1))
        self.last_box.setValue(max(0, self.num_frames - 1))
        for w in (QLabel("from"), self.first_box, QLabel("to"), self.last_box):
            fl.addWidget(w)
        fl.addStretch(1)
        self.all_frames.toggled.connect(
            lambda on: (self.first_box.setEnabled(not on), self.last_box.setEnabled(not on)))
        self.all_frames.toggled.emit(True)
        form.addRow("Frames", fr)
        self.options = ExportOptions()
        form.addRow(self.options)
        self.smooth_box = QCheckBox("Smooth masks over time (less edge flicker; the project is not changed)")
        self.smooth_box.setToolTip("Export temporally smoothed masks: each mask is a motion-compensated vote of "
                                   "its neighbouring frames (window 5, sigma 1.5)")
        self.smooth_box.setChecked(bool(smooth))
        form.addRow("", self.smooth_box)
        lay.addLayout(form)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        row = QHBoxLayout()
        row.addStretch(1)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("primary")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        row.addWidget(self.export_button)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        row.addWidget(self.close_button)
        lay.addLayout(row)

        i = self.format_box.findData(default_format)
        self.format_box.setCurrentIndex(max(0, i))
        self._format_changed()
        self._set_busy(False)
        self.resize(620, 480)

    # ---- choices -------------------------------------------------------------------------------
    @property
    def format(self):
        return self.formats[self.format_box.currentIndex()]

    def set_format(self, name: str) -> None:
        self.format_box.setCurrentIndex(self.format_box.findData(name))

    def _default_out(self, fmt) -> str:
        stem = f"{self.base_name}_{fmt.name}"
        p = Path(self.start_dir) / (stem if fmt.output == "folder" else stem + fmt.output)
        return str(p)

    def _format_changed(self, *_):
        fmt = self.format
        self.options.set_format(fmt.name)
        self.about.setText(fmt.description + (" (renders the video frames)" if fmt.needs_video else ""))
        cur = self.out_edit.text().strip()
        if not cur:
            self.out_edit.setText(self._default_out(fmt))
            return
        p = Path(cur)
        stem = export_stem(p.name)
        if _without_extension(p.name) != stem:
            stem = f"{stem}_{fmt.name}"  # a default-style name (biker_png) follows the format
        self.out_edit.setText(str(p.parent / (stem if fmt.output == "folder" else stem + fmt.output)))

    def _browse(self) -> None:
        fmt = self.format
        if fmt.output == "folder":
            path = QFileDialog.getExistingDirectory(self, "Export into folder", self.start_dir)
            if path:
                path = str(Path(path) / Path(self._default_out(fmt)).name)
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to file", self._default_out(fmt),
                                                  f"{fmt.label} (*{fmt.output})")
        if path:
            self.out_edit.setText(path)

    def object_ids(self) -> list[int]:
        out = []
        for i in range(self.objects_list.count()):
            it = self.objects_list.item(i)
            if it.checkState() == Qt.CheckState.Checked:
                out.append(int(it.data(Qt.ItemDataRole.UserRole)))
        return out

    def frames(self) -> range | None:
        if self.all_frames.isChecked():
            return None
        a, b = self.first_box.value(), self.last_box.value()
        return range(min(a, b), max(a, b) + 1)

    # ---- running -------------------------------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.export_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.close_button.setEnabled(not busy)
        self.format_box.setEnabled(not busy)
        self.options.setEnabled(not busy)

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self) -> None:
        if self.job is not None:
            return
        out = self.out_edit.text().strip()
        if not out:
            self.status.setText("Choose where to write the export.")
            return
        ids = self.object_ids()
        if not ids:
            self.status.setText("Tick at least one object to export.")
            return
        fmt, frames, bridge = self.format, self.frames(), self._bridge
        options, smooth = self.options.values(), self.smooth_box.isChecked()
        cancel = threading.Event()

        def fn(ctx):
            return str(ctx.session.export(fmt.name, out, objects=ids, frames=frames, smooth=smooth,
                                          progress=lambda d, t: bridge.progress.emit(int(d), int(t)),
                                          cancel=cancel, **options))

        self.error = None
        self.result_path = None
        self.progress.setValue(0)
        self.status.setText(f"Exporting {fmt.label}…")
        self._set_busy(True)
        self.job = self.ctl.submit(Job(fn, f"exporting {fmt.label}", kind="call", on_done=self._on_done,
                                       on_error=self._on_error, cancel=cancel))

    def cancel(self) -> None:
        if self.job is not None:
            self.status.setText("Cancelling…")
            self.job.cancel.set()

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setValue(int(1000 * done / total))

    def _on_done(self, job) -> None:
        self.job = None
        self._set_busy(False)
        if job.cancelled:
            self.status.setText("Export cancelled; nothing was written.")
            self.progress.setValue(0)
            return
        self.result_path = job.result
        self.progress.setValue(1000)
        self.status.setText(f"Exported to {job.result}")
        self.exported.emit(job.result)

    def _on_error(self, job) -> None:
        self.job = None
        self._set_busy(False)
        self.error = job.error
        self.status.setText(job.error or "The export failed.")

    def reject(self) -> None:
        if self.job is not None:
            self.cancel()
            return
        super().reject()
