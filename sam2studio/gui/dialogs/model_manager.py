"""Model manager: the SAM 2 catalogue, downloads (on a worker thread, with cancel), a local
checkpoint, the engine, device and image size."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QThread, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QSpinBox,
                               QFormLayout, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout)

from ...engines import models
from ...engines.sam2_memory import DEFAULT_BUDGET_MB
from ...errors import Cancelled, UserError
from ..settings import Settings
from .error_dialog import message_for, sentence
from .fields import PathField

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
IMAGE_SIZES = (0, 512, 768, 1024)
ENGINES = (("auto", "Auto: SAM 2 when a checkpoint is installed, else classic"),
           ("sam2", "SAM 2 (needs a checkpoint)"),
           ("classic", "Classic (built in, no download)"))


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def size_text(name: str) -> str:
    """A model's download size as every part of the app shows it ("156 MB")."""
    return f"{models.get_model(name).size_mb} MB"


def without_cli_advice(message: str) -> str:
    """``message`` without the command-line advice (clauses naming ``--flags``), for a dialog."""
    parts = [p for p in message.rstrip(".").split("; ") if "--" not in p]
    text = "; ".join(parts).strip()
    return text + "." if text else message


class DownloadThread(QThread):
    """Runs :func:`models.download` off the UI thread; ``cancel()`` stops it between chunks."""

    progressed = Signal(object, object)  # done bytes, total bytes or None
    succeeded = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(f"download-{name}")
        self.name = name
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            path = models.download(self.name, progress=lambda d, t: self.progressed.emit(d, t),
                                   cancel=self._cancel)
        except Cancelled:
            self.cancelled.emit()
        except UserError as exc:
            self.failed.emit(sentence(str(exc)))
        except Exception as exc:  # noqa: BLE001 - shown as one sentence, logged in full
            self.failed.emit(message_for(exc, f"downloading {self.name}"))
        else:
            self.succeeded.emit(str(path))


class ModelManagerDialog(QDialog):
    """Pick the engine and model; download checkpoints. ``applied`` fires on OK/Apply."""

    applied = Signal()
    download_finished = Signal(str, str)  # model name, "ok" | "cancelled" | message

    def __init__(self, parent=None, settings: Settings | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelManager")
        self.setWindowTitle("Models")
        self.settings = settings or Settings()
        self.thread: DownloadThread | None = None
        lay = QVBoxLayout(self)

        intro = QLabel("SAM 2 checkpoints are downloaded once into the cache "
                       f"(<code>{models.cache_dir()}</code>). Without one, SAM2 Studio uses its built-in "
                       "classic engine.")
        intro.setWordWrap(True)
        lay.addWidget(intro)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Model", "Size", "Installed", "About"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        h = self.table.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(240)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        lay.addWidget(self.table, 3)

        row = QHBoxLayout()
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.download_button.setToolTip("Download the selected checkpoint (resumes an interrupted download)")
        self.download_button.clicked.connect(self.start_download)
        row.addWidget(self.download_button)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setToolTip("Stop the download (what came so far is kept for a later resume)")
        self.cancel_button.clicked.connect(self.cancel_download)
        row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        row.addWidget(self.progress, 1)
        lay.addLayout(row)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)

        form = QFormLayout()
        self.engine_box = QComboBox()
        for key, text in ENGINES:
            self.engine_box.addItem(text, key)
        self.engine_box.setToolTip("Which engine segments the videos you open")
        form.addRow("Engine", self.engine_box)
        self.model_box = QComboBox()
        for name in models.model_names():
            self.model_box.addItem(name + ("  (default)" if name == models.DEFAULT_MODEL else ""), name)
        self.model_box.setToolTip("Which SAM 2 model to use")
        form.addRow("SAM 2 model", self.model_box)
        ck = PathField("A local checkpoint file to use instead of the cached download",
                       button_tip="Choose a local checkpoint file (.pt)", placeholder="the cached download",
                       choose=self._browse_checkpoint)
        self.checkpoint_edit = ck.edit
        form.addRow("Checkpoint file", ck)
        self.device_box = QComboBox()
        for d in DEVICES:
            self.device_box.addItem(d, d)
        self.device_box.setToolTip("auto picks CUDA, then Apple MPS, then the CPU")
        form.addRow("Device", self.device_box)
        self.size_box = QComboBox()
        for s in IMAGE_SIZES:
            self.size_box.addItem("the model's own (1024)" if s == 0 else f"{s} px (faster, coarser)", s)
        self.size_box.setToolTip("SAM 2 input size: smaller is faster and less precise")
        form.addRow("Image size", self.size_box)
        self.budget_box = QSpinBox()
        self.budget_box.setRange(0, 1024 * 1024)
        self.budget_box.setSingleStep(256)
        self.budget_box.setSuffix(" MB")
        self.budget_box.setSpecialValueText(f"default ({DEFAULT_BUDGET_MB} MB)")
        self.budget_box.setToolTip("RAM for SAM 2's per-video state (frame features and memories); what does not fit "
                                   "is kept compressed on disk, so any video length runs. Too small a budget is "
                                   "refused with the minimum it needs.")
        form.addRow("Memory budget", self.budget_box)
        lay.addLayout(form)

        # one way to keep the settings: "Use these settings" saves them and closes
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Use these settings")
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self.failure_box: QMessageBox | None = None

        self._load_settings()
        self.refresh()
        self.resize(900, 680)

    # ---- catalogue -----------------------------------------------------------------------------
    def refresh(self) -> None:
        rows = models.list_models()
        sel = self.selected_model()
        self.table.setRowCount(len(rows))
        for i, (info, installed, path) in enumerate(rows):
            name = QTableWidgetItem(info.name + ("  ★" if info.name == models.DEFAULT_MODEL else ""))
            name.setData(256, info.name)
            name.setToolTip(info.family)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, QTableWidgetItem(size_text(info.name)))
            inst = QTableWidgetItem("✓ installed" if installed else "—")
            inst.setToolTip(str(path) if path else "not downloaded")
            self.table.setItem(i, 2, inst)
            self.table.setItem(i, 3, QTableWidgetItem(info.description))
        self.select_model(sel or models.DEFAULT_MODEL)
        self._update_buttons()

    def selected_model(self) -> str | None:
        items = self.table.selectedItems()
        if not items:
            return None
        return self.table.item(items[0].row(), 0).data(256)

    def select_model(self, name: str) -> None:
        for i in range(self.table.rowCount()):
            if self.table.item(i, 0).data(256) == name:
                self.table.selectRow(i)
                return

    def installed(self, name: str) -> bool:
        return models.is_installed(name)

    def _update_buttons(self) -> None:
        busy = self.thread is not None
        name = self.selected_model()
        self.download_button.setEnabled(not busy and name is not None and not models.is_installed(name))
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress.setValue(0)
            self.progress.setFormat("")

    # ---- downloads ---------------------------------------------------------------------------
    @property
    def downloading(self) -> bool:
        return self.thread is not None

    def start_download(self, name: str | None = None) -> None:
        name = name or self.selected_model()
        if name is None or self.thread is not None:
            return
        info = models.get_model(name)
        self.status.setText(f"Downloading {info.name} ({size_text(info.name)})…")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        t = DownloadThread(name)
        # bound methods of this dialog: queued onto the UI thread
        t.progressed.connect(self._on_progress)
        t.succeeded.connect(self._on_succeeded)
        t.failed.connect(self._on_failed)
        t.cancelled.connect(self._on_cancelled)
        self.thread = t
        t.start()
        self._update_buttons()

    def cancel_download(self) -> None:
        if self.thread is not None:
            self.status.setText("Cancelling…")
            self.thread.cancel()

    @Slot(object, object)
    def _on_progress(self, done, total) -> None:
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / max(1, total)))
            self.progress.setFormat(f"{_mb(done)} of {_mb(total)}")
        else:
            self.progress.setRange(0, 0)
            self.progress.setFormat(_mb(done))

    @Slot(str)
    def _on_succeeded(self, path: str) -> None:
        name = self.thread.name if self.thread is not None else ""
        self._on_end(name, "ok", f"{name} is installed ({path}).")

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        name = self.thread.name if self.thread is not None else ""
        reason = without_cli_advice(message)
        self._on_end(name, message, f"The download of {name} failed: {reason}")
        self._show_failure(name, reason[:1].upper() + reason[1:])

    def _show_failure(self, name: str, reason: str) -> None:
        """A dialog that says what happened and offers the ways on: choose a checkpoint file
        already on this computer, try again, or close."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Download failed", f"{name} could not be downloaded.", parent=self)
        box.setObjectName("downloadFailed")
        box.setInformativeText(f"{reason}\n\nCheck the connection and try again, or use a checkpoint file "
                               "you already have (for example one copied from another computer).")
        choose = box.addButton("Choose a checkpoint file…", QMessageBox.ButtonRole.AcceptRole)
        retry = box.addButton("Try again", QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setDefaultButton(choose)

        def clicked(button) -> None:
            if button is choose:
                self._browse_checkpoint()
            elif button is retry:
                self.start_download(name)

        box.buttonClicked.connect(clicked)
        self.failure_box = box
        box.open()

    @Slot()
    def _on_cancelled(self) -> None:
        name = self.thread.name if self.thread is not None else ""
        self._on_end(name, "cancelled", "Download cancelled; it resumes where it stopped next time.")

    def _on_end(self, name: str, outcome: str, message: str) -> None:
        t, self.thread = self.thread, None
        if t is not None:
            t.wait(10000)
            t.deleteLater()
        self.progress.setRange(0, 1000)
        self.status.setText(message)
        self.refresh()
        if outcome == "ok":
            self.progress.setValue(1000)
        self.download_finished.emit(name, outcome)

    # ---- settings ------------------------------------------------------------------------------
    def _load_settings(self) -> None:
        s = self.settings
        for box, value in ((self.engine_box, s.get("engine/name")),
                           (self.model_box, s.get("engine/model") or models.DEFAULT_MODEL),
                           (self.device_box, s.get("engine/device")),
                           (self.size_box, s.get("engine/image_size"))):
            i = box.findData(value)
            if i >= 0:
                box.setCurrentIndex(i)
        self.checkpoint_edit.setText(s.get("engine/checkpoint"))
        self.budget_box.setValue(int(s.get("engine/memory_budget_mb")))

    def _browse_checkpoint(self) -> None:
        start = self.checkpoint_edit.text() or str(models.cache_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a SAM 2 checkpoint", start,
                                              "PyTorch checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.set_checkpoint(path)

    def set_checkpoint(self, path: str) -> None:
        self.checkpoint_edit.setText(path)
        if path:
            self.engine_box.setCurrentIndex(self.engine_box.findData("sam2"))

    def apply(self) -> bool:
        ck = self.checkpoint_edit.text().strip()
        if ck and not Path(ck).expanduser().is_file():
            self.status.setText(sentence(f"checkpoint file {ck} does not exist"))
            return False
        s = self.settings
        s.set("engine/name", self.engine_box.currentData())
        s.set("engine/model", self.model_box.currentData())
        s.set("engine/checkpoint", ck)
        s.set("engine/device", self.device_box.currentData())
        s.set("engine/image_size", int(self.size_box.currentData()))
        s.set("engine/memory_budget_mb", int(self.budget_box.value()))
        s.sync()
        self.status.setText("Saved. New videos open with these settings.")
        self.applied.emit()
        return True

    def _ok(self) -> None:
        if self.apply():
            self.accept()

    def done(self, result: int) -> None:  # closing while downloading: cancel and wait
        if self.thread is not None:
            self.thread.cancel()
            self.thread.wait(10000)
            self.thread = None
        super().done(result)
