"""File → Open Camera: track objects live in a window (:class:`LiveWindow`).

The Qt-free :class:`~sam2studio.live.LiveTracker` runs on a worker QThread that owns it: the
worker steps it, runs the prompts the UI posts to it (clicks, remove, recording on/off), draws
the overlay and hands the newest frame to the UI through a one-frame slot, so the UI thread
never reads the camera or runs the engine, and a slow UI drops frames instead of queueing them.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QLabel, QMainWindow, QMessageBox, QPushButton, QSpinBox, QToolBar,
                               QToolButton, QWidget)

from ..core.objects import default_color
from ..core.prompts import FramePrompt
from ..errors import UserError
from ..live import FakeCamera, LiveFrame, LiveStats, LiveTracker, StreamEnded
from . import ui_thread_gc
from .canvas import Canvas, compose_overlay, rgba_to_qimage
from .dialogs.error_dialog import message_for, sentence, show_error
from .overlay_renderer import EMPTY, Overlay
from .resources import icon

_ORPHANS: list = []  # (thread, worker) that outlived their window (a camera stuck in read())


@dataclass
class Shown:
    """A frame ready for the UI: the tracker's frame, drawn off the UI thread."""

    frame: LiveFrame
    image: QImage
    overlay: Overlay


class LiveWorker(QObject):
    """Owns the camera and the tracker on its QThread; everything else talks to it by :meth:`post`."""

    frame_ready = Signal()  # a new frame is in the slot (sent only when the slot was empty)
    notice = Signal(str)  # a prompt that failed (the stream goes on)
    record_changed = Signal(object)  # the project recorded to now (Path | None)
    recording_saved = Signal(object)  # a recording stopped while tracking went on: its project (Path)

    def __init__(self, camera, engine: str, engine_options: dict, record: Path | None) -> None:
        super().__init__()
        self.camera, self.engine, self.engine_options, self.record = camera, engine, engine_options, record
        self.tracker: LiveTracker | None = None
        self.stats = LiveStats()
        self.ui_dropped = 0  #: frames replaced in the slot before the UI took them
        self.recorded: Path | None = None  #: the project written at the end
        self.error: str | None = None  #: why tracking stopped on its own (one sentence)
        self.ended: str | None = None  #: the stream ended (one sentence)
        self._stop = threading.Event()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._slot: Shown | None = None

    def post(self, job) -> None:
        """Run ``job(tracker)`` on the worker thread before its next frame."""
        self._jobs.put(job)

    def stop(self) -> None:
        """(any thread) End the loop; a step waiting for a stalled camera ends too."""
        self._stop.set()
        tracker = self.tracker
        if tracker is not None:
            tracker.interrupt()

    def take(self) -> Shown | None:
        with self._lock:
            shown, self._slot = self._slot, None
            return shown

    def _tracker(self, record) -> LiveTracker:
        return LiveTracker(self.camera, self.engine, record=record, **self.engine_options)

    def set_record(self, path: Path | None) -> None:
        """(worker thread) Start or stop recording, also while tracking; stopping writes the
        project (tracking goes on)."""
        if path != self.record:
            try:
                if self.record is not None:
                    saved = self.tracker.stop_recording()
                    self.record = None
                    if saved is not None:
                        self.recorded = saved
                        self.recording_saved.emit(saved)
                if path is not None:
                    self.record = self.tracker.start_recording(path)
            except UserError as exc:
                self.notice.emit(message_for(exc))
        self.record_changed.emit(self.record)

    @Slot()
    def run(self) -> None:
        last_stats = 0.0
        try:
            self.tracker = self._tracker(self.record)
            while not self._stop.is_set():
                while not self._jobs.empty():
                    job = self._jobs.get()
                    try:
                        job(self.tracker)
                    except UserError as exc:
                        self.notice.emit(message_for(exc))
                try:
                    lf = self.tracker.step(timeout=0.25)
                except TimeoutError:
                    continue
                now = time.monotonic()
                if lf.tracking and now - last_stats >= 0.25:
                    self.stats, last_stats = self.tracker.stats(), now
                colors = {o: t.color for o, t in self.tracker.objects.items()}
                res = compose_overlay(lf.masks, colors) if lf.masks else None
                shown = Shown(lf, _qimage(lf.rgb),
                              Overlay(rgba_to_qimage(res[0]), *res) if res is not None else EMPTY)
                with self._lock:
                    pending = self._slot is not None
                    self.ui_dropped += pending
                    self._slot = shown
                if not pending:
                    self.frame_ready.emit()
        except StreamEnded as exc:
            self.ended = sentence(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown as one sentence, logged in full
            self.error = message_for(exc, "tracking live")
        finally:
            try:
                if self.tracker is not None:
                    self.stats = self.tracker.stats()
                    self.recorded = self.tracker.close()
                elif hasattr(self.camera, "close"):
                    self.camera.close()
            except Exception as exc:  # noqa: BLE001
                self.error = self.error or message_for(exc, "saving the live recording")
            QThread.currentThread().quit()  # thread-safe; the UI loop may be blocked in wait()


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class LiveWindow(QMainWindow):
    """A live camera with click-to-track objects, fps and latency, optional recording."""

    project_recorded = Signal(Path)  # the user asked to open the recorded project
    stopped = Signal()  # the tracker stopped (Stop, close, end of stream or an error)

    def __init__(self, camera, engine: str = "classic", *, record: str | Path | None = None,
                 engine_options: dict | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        ui_thread_gc.hold()  # the camera's thread must never free Qt objects (ui_thread_gc)
        self._gc_held = True
        self.setWindowTitle(f"Live — {getattr(camera, 'name', 'camera')}")
        self.resize(1000, 680)
        self.engine_name = engine
        self.record_path = Path(record) if record is not None else None
        self.recorded_path: Path | None = None  #: the project written when tracking stopped
        self.frames_shown = 0
        self.last_frame: LiveFrame | None = None
        self.current_obj: int | None = None
        self._ids: list[int] = []
        self._new_next = True  # the next left click starts a new object
        self._finished = False

        self.canvas = Canvas(self)
        self.canvas.empty_text = "Waiting for the camera…"
        self.canvas.setToolTip("Left click: add the object / a positive click on it; right click: a "
                               "negative click; wheel: zoom")
        self.canvas.clicked.connect(self._clicked)
        self.setCentralWidget(self.canvas)

        bar = QToolBar("Live", self)
        bar.setMovable(False)
        self.addToolBar(bar)

        def button(name, text, tip, slot, kind=QPushButton):
            b = kind()
            b.setIcon(icon(name))
            b.setText(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        self.stop_button = button("cancel", "Stop", "Stop tracking and close the camera (saves the "
                                  "recording, if any)", self.stop)
        bar.addSeparator()
        self.object_box = QComboBox()
        self.object_box.setMinimumWidth(130)
        self.object_box.setToolTip("The object your clicks go to")
        self.object_box.activated.connect(self._object_chosen)
        bar.addWidget(self.object_box)
        self.add_button = button("add", "Add object", "Start a new object with the next left click",
                                 self.add_object)
        self.remove_button = button("trash", "Remove object", "Stop tracking the chosen object",
                                    self.remove_object)
        bar.addSeparator()
        self.record_box = button("save", "Record to project…", "Record the tracked frames and masks to a "
                                 "project: start and stop at any time, also while tracking",
                                 self._record_toggled, QToolButton)
        self.record_box.setCheckable(True)
        self.record_box.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._show_record(self.record_path)
        self.open_button = button("open", "Open recording", "Open the recorded project in the main window",
                                  self._open_recording)
        self.open_button.setObjectName("primary")
        self.open_action = bar.actions()[-1]
        self.open_action.setVisible(False)

        self.stats_label = QLabel("Starting the camera…")
        self.stats_label.setToolTip("Tracking speed, latency from capture to mask (median / 95th "
                                    "percentile) and frames dropped to stay live")
        self.statusBar().addWidget(self.stats_label, 1)
        self.engine_label = QLabel(f"{engine} engine")
        self.engine_label.setToolTip("The engine that tracks the objects")
        self.statusBar().addPermanentWidget(self.engine_label)
        self._update_controls()

        self.worker = LiveWorker(camera, engine, dict(engine_options or {}), self.record_path)
        self.live_thread = QThread()
        self.live_thread.setObjectName("sam2studio-live")
        self.worker.moveToThread(self.live_thread)
        self.live_thread.started.connect(self.worker.run)
        self.live_thread.finished.connect(self._on_finished)
        self.worker.frame_ready.connect(self._show_frame)
        self.worker.notice.connect(self._notice)
        self.worker.record_changed.connect(self._show_record)
        self.worker.recording_saved.connect(self._on_recording_saved)
        self.live_thread.start()

    # ---- state ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.live_thread.isRunning()

    def _update_controls(self) -> None:
        live = not self._finished
        self.object_box.setEnabled(live and bool(self._ids))
        self.add_button.setEnabled(live and bool(self._ids))
        self.remove_button.setEnabled(live and self.current_obj is not None)
        self.record_box.setEnabled(live)
        self.stop_button.setEnabled(live)

    def _notice(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _show_frame(self) -> None:
        shown = self.worker.take()
        if shown is None or self._finished:
            return
        self.canvas.set_image(shown.frame.seq, shown.image)
        self.canvas.set_overlay_image(shown.overlay)
        self.last_frame = shown.frame
        self.frames_shown += 1
        s = self.worker.stats
        if not shown.frame.tracking:
            text = "Preview: left-click an object to track it"
        else:
            text = (f"Tracking {len(self._ids)} object{'s' * (len(self._ids) != 1)} · {s.fps:.1f} fps · "
                    f"latency p50 {s.latency_p50_ms:.0f} ms, p95 {s.latency_p95_ms:.0f} ms · "
                    f"dropped {s.dropped} (camera), {self.worker.ui_dropped} (display)")
        if self._new_next and self._ids:
            text += " · the next left click starts a new object"
        self.stats_label.setText(text)

    # ---- prompts (posted to the worker thread) ---------------------------------------------
    def _clicked(self, x: float, y: float, positive: bool) -> None:
        if self._finished:
            return
        if self._new_next:
            if not positive:
                self.statusBar().showMessage("Left-click an object first; right clicks take parts away.", 4000)
                return
            obj = max(self._ids, default=0) + 1
            self._ids.append(obj)
            pix = QPixmap(12, 12)
            pix.fill(QColor(*default_color(obj)))
            self.object_box.addItem(pix, f"Object {obj}", obj)
            self._new_next = False
            self._choose(obj)
        obj = self.current_obj
        self.worker.post(lambda tr: tr.add_click(x, y, obj=obj, positive=positive))
        self.canvas.set_prompts([(obj, FramePrompt(points=[(x, y)], labels=[int(positive)]),
                                  default_color(obj), True)])
        QTimer.singleShot(700, self.canvas.clear_markers)

    def _choose(self, obj: int | None) -> None:
        self.current_obj = obj
        if obj is not None:
            self.object_box.setCurrentIndex(self.object_box.findData(obj))
        self._update_controls()

    def _object_chosen(self, index: int) -> None:
        self._new_next = False
        self._choose(self.object_box.itemData(index))

    def add_object(self) -> None:
        """The next left click starts a new object."""
        self._new_next = True
        self.statusBar().showMessage("Left-click the new object.", 4000)

    def remove_object(self) -> None:
        obj = self.current_obj
        if obj is None:
            return
        self.worker.post(lambda tr: tr.remove_object(obj))
        self._ids.remove(obj)
        self.object_box.removeItem(self.object_box.findData(obj))
        self._new_next = not self._ids
        self._choose(max(self._ids) if self._ids else None)

    def _record_toggled(self, on: bool) -> None:
        path = None
        if on:
            name, _ = QFileDialog.getSaveFileName(self, "Record to project", str(Path.cwd() / "live.s2s"),
                                                  "SAM2 Studio project (*.s2s)")
            if not name:
                return self._show_record(None)
            path = Path(name)
        self.set_record_path(path)

    def _on_recording_saved(self, path: Path) -> None:
        self.recorded_path = Path(path)
        self.open_action.setVisible(True)
        self.statusBar().showMessage(f"Saved the recording {self.recorded_path.name}; tracking goes on.", 8000)

    def set_record_path(self, path: str | Path | None) -> None:
        """Record to ``path`` from now on, or stop recording (None); also while tracking."""
        path = Path(path) if path is not None else None
        self._show_record(path)
        self.worker.post(lambda tr, w=self.worker: w.set_record(path))

    def _show_record(self, path: Path | None) -> None:
        self.record_path = path
        self.record_box.blockSignals(True)
        self.record_box.setChecked(path is not None)
        self.record_box.setText(f"Record to {path.name}" if path is not None else "Record to project…")
        self.record_box.blockSignals(False)

    # ---- stopping ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop tracking (the worker closes the camera and writes the recording)."""
        if self.running and not self.worker._stop.is_set():
            self.worker.stop()
            self.stop_button.setEnabled(False)
            self.stats_label.setText("Stopping…")

    def _on_finished(self) -> None:
        if self._finished:
            return
        self._finished = True
        w = self.worker
        self.recorded_path = w.recorded
        text = f"Stopped: {w.stats.line().strip()}" if w.stats.frames else "Stopped"
        if w.ended:
            text = f"{w.ended} {text}"
        if self.recorded_path is not None:
            text += f" · saved {self.recorded_path.name}"
            self.open_action.setVisible(True)
        self.stats_label.setText(sentence(text) if w.error is None else w.error)
        self._update_controls()
        if w.error is not None:
            show_error(self, w.error, "Live tracking")
        self.stopped.emit()

    def _open_recording(self) -> None:
        if self.recorded_path is not None:
            self.project_recorded.emit(self.recorded_path)
            self.close()

    def closeEvent(self, e) -> None:  # noqa: N802
        was_live = not self._finished
        self.stop()
        if not self.live_thread.wait(10_000):  # a camera stuck in read(): let the thread end later
            pair = (self.live_thread, self.worker)
            _ORPHANS.append(pair)
            self.live_thread.finished.connect(lambda: _ORPHANS.remove(pair))
        else:
            self._on_finished()
            if was_live and self.recorded_path is not None and self.isVisible():
                answer = QMessageBox.question(self, "Live recording",
                                              f"Open the recording {self.recorded_path.name} now?")
                if answer == QMessageBox.StandardButton.Yes:
                    self.project_recorded.emit(self.recorded_path)
        if self._gc_held:
            self._gc_held = False
            ui_thread_gc.release()
        super().closeEvent(e)


class CameraChoice(QDialog):
    """Which camera: an index, or a video file played as a camera."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open camera")
        self.file: Path | None = None
        form = QFormLayout(self)
        self.index_box = QSpinBox()
        self.index_box.setRange(0, 63)
        self.index_box.setToolTip("0 is the first camera of this computer")
        form.addRow("Camera number:", self.index_box)
        file_button = QPushButton(icon("open"), "Play a file as a camera…")
        file_button.setToolTip("Try live tracking on a video file, played at its real speed")
        file_button.clicked.connect(self._pick_file)
        form.addRow(file_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setToolTip("Open this camera")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setToolTip("Do not open a camera")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _pick_file(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Play a file as a camera", "",
                                              "Videos (*.mp4 *.mov *.mkv *.avi *.webm);;All files (*)")
        if name:
            self.file = Path(name)
            self.accept()

    def open_camera(self):
        """The chosen camera, opened (raises VideoError with one sentence when it cannot be)."""
        if self.file is not None:  # a file plays on from the start when it ends, as a camera would
            return FakeCamera(self.file, realtime=True, loop=True)
        from ..core.video import CameraVideo

        return CameraVideo(self.index_box.value())


def open_camera_dialog(parent: QWidget | None = None, engine: str = "classic",
                       engine_options: dict | None = None) -> LiveWindow | None:
    """Ask for a camera, open it and show a :class:`LiveWindow` on it (None: cancelled or failed)."""
    choice = CameraChoice(parent)
    if choice.exec() != QDialog.DialogCode.Accepted:
        return None
    try:
        camera = choice.open_camera()
    except Exception as exc:  # noqa: BLE001 - one sentence, never a traceback
        show_error(parent, message_for(exc, "opening the camera"), "Open camera")
        return None
    win = LiveWindow(camera, engine, engine_options=engine_options, parent=parent)
    win.setWindowFlag(Qt.WindowType.Window, True)
    win.show()
    return win
