"""The main window: builds the widgets, menus and actions and wires their signals.

The work lives elsewhere: the session on the controller thread (:mod:`.controller`), frame
decoding and overlays on worker threads (:mod:`.display`), edits as undoable commands
(:mod:`.commands`), the project life cycle in :mod:`.document`. Handlers here stay short.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer, Slot
from PySide6.QtGui import QActionGroup, QUndoStack
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QSlider, QSplitter, QToolBar,
                               QToolButton, QVBoxLayout, QWidget)

from .. import __version__
from ..core.video import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS
from . import commands as cmd
from .actions import build_actions
from .autosave import find_orphans
from .canvas import Canvas, Tool
from .controller import propagate as propagate_job
from .dialogs import errors as err
from .dialogs.recovery import RecoveryDialog
from .document import Document
from .display import FrameDisplay
from .object_panel import ObjectPanel
from .quality import QualityFlags
from .resources import app_icon, icon
from .settings import Settings
from .timeline import Timeline, lane_states

log = logging.getLogger(__name__)

BANNER_TEXT = ("Using the built-in classic engine (no download). For SAM 2 quality, open "
               "Models → Download SAM 2.1 tiny, 150 MB.")
EMPTY_TEXT = "Open a video or a project\n(File → Open, or drop it here)"
VIDEO_FILTER = "Videos ({});;All files (*)".format(" ".join(f"*{e}" for e in sorted(VIDEO_EXTENSIONS)))


class Banner(QFrame):
    """A dismissible notice over the canvas."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.setObjectName("banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        info = QLabel()
        info.setPixmap(icon("info").pixmap(18, 18))
        lay.addWidget(info)
        self.label = QLabel(BANNER_TEXT)
        self.label.setWordWrap(True)
        lay.addWidget(self.label, 1)
        self.download = QPushButton("Download SAM 2.1 tiny")
        self.download.setToolTip("Open the model manager and download the recommended checkpoint (150 MB)")
        self.download.clicked.connect(window.download_tiny)
        lay.addWidget(self.download)
        self.close_button = QToolButton()
        self.close_button.setIcon(icon("close"))
        self.close_button.setToolTip("Hide this notice")
        self.close_button.clicked.connect(window.dismiss_banner)
        lay.addWidget(self.close_button)


class MainWindow(QMainWindow):
    """SAM2 Studio's editor window."""

    def __init__(self, *, engine: str | None = None, engine_options: dict | None = None,
                 check_recovery: bool = True, settings: Settings | None = None) -> None:
        super().__init__()
        self.setWindowIcon(app_icon())
        self.settings = settings or Settings()
        self.doc = Document(self.settings, engine, engine_options, parent=self)
        self.ctl = self.doc.ctl
        self.quality = QualityFlags(self.ctl, self)
        self.undo = QUndoStack(self)
        self.frame = 0
        self.current_obj: int | None = None
        self.range: tuple[int, int] | None = None
        self.errors: list[str] = []
        self._next_id = 1
        self._pending_add: set[int] = set()
        self._closing = False
        self._clean_exit = False
        self._following = False
        self.live_windows: list = []

        self._build_widgets()
        self.actions = build_actions(self)
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._wire()
        self._restore_settings()
        self._update_enabled()
        self._update_title()
        if check_recovery:
            QTimer.singleShot(0, self.check_recovery)

    # ==== construction ============================================================================
    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        self.display = FrameDisplay(self.canvas, lambda: self.doc.state.objects, lambda: self.current_obj,
                                    parent=self)
        self.timeline = Timeline()
        self.objects_panel = ObjectPanel()
        self.banner = Banner(self)
        self.banner.hide()
        center = QWidget()
        v = QVBoxLayout(center)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        v.addWidget(self.banner)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.timeline)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setSizes([640, 190])
        v.addWidget(self.splitter, 1)
        self.setCentralWidget(center)
        dock = QDockWidget("Objects", self)
        dock.setObjectName("objectsDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setWidget(self.objects_panel)
        dock.setMinimumWidth(250)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.setAcceptDrops(True)
        self.resize(1400, 900)

    def _build_menus_and_toolbar(self) -> None:
        a = self.actions
        self.tool_group = QActionGroup(self)
        for name in ("tool_positive", "tool_negative", "tool_box", "tool_brush", "tool_eraser"):
            self.tool_group.addAction(a[name])
        a["tool_positive"].setChecked(True)
        self.undo_action = self.undo.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(["Ctrl+Z"])
        self.undo_action.setIcon(icon("undo"))
        self.undo_action.setToolTip("Undo (Ctrl+Z)")
        self.redo_action = self.undo.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts(["Ctrl+Shift+Z", "Ctrl+Y"])
        self.redo_action.setIcon(icon("redo"))
        self.redo_action.setToolTip("Redo (Ctrl+Shift+Z)")
        for act in (self.undo_action, self.redo_action):
            self.addAction(act)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        for n in ("new", "open_video", "open_folder", "open_camera", "open_project"):
            m.addAction(a[n])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        for n in ("save", "save_as", "export"):
            m.addAction(a[n])
        m.addSeparator()
        m.addAction(a["quit"])
        m = mb.addMenu("&Edit")
        m.addAction(self.undo_action)
        m.addAction(self.redo_action)
        m.addSeparator()
        for n in ("add_object", "delete_object", "clear_prompt"):
            m.addAction(a[n])
        m = mb.addMenu("&Tools")
        for n in ("tool_positive", "tool_negative", "tool_box", "tool_brush", "tool_eraser"):
            m.addAction(a[n])
        m.addSeparator()
        m.addAction(a["brush_bigger"])
        m.addAction(a["brush_smaller"])
        m = mb.addMenu("&View")
        for n in ("zoom_fit", "zoom_100", "zoom_in", "zoom_out"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("outline", "smooth", "opacity_up", "opacity_down", "follow"):
            m.addAction(a[n])
        m = mb.addMenu("T&rack")
        for n in ("propagate", "propagate_fwd", "propagate_back", "rerun", "cancel"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("range_in", "range_out", "range_clear"):
            m.addAction(a[n])
        m.addSeparator()
        for n in ("check_quality", "next_flag", "prev_flag", "quality_thresholds", "auto_quality"):
            m.addAction(a[n])
        m = mb.addMenu("&Playback")
        for n in ("play", "prev_frame", "next_frame", "prev_key", "next_key", "first_frame", "last_frame"):
            m.addAction(a[n])
        m = mb.addMenu("&Models")
        m.addAction(a["models"])
        m.addAction(a["download_tiny"])
        m = mb.addMenu("&Help")
        m.addAction(a["shortcuts"])
        m.addAction(a["about"])

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setIconSize(QSize(22, 22))
        tb.setMovable(False)
        for n in ("open_video", "save"):
            tb.addAction(a[n])
        tb.addAction(self.undo_action)
        tb.addAction(self.redo_action)
        tb.addSeparator()
        for n in ("tool_positive", "tool_negative", "tool_box", "tool_brush", "tool_eraser"):
            tb.addAction(a[n])
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(2, 200)
        self.brush_slider.setFixedWidth(110)
        self.brush_slider.setToolTip("Brush and eraser size in frame pixels ([ and ])")
        self.brush_label = QLabel("24 px")
        self.brush_label.setMinimumWidth(44)
        tb.addWidget(self.brush_slider)
        tb.addWidget(self.brush_label)
        tb.addSeparator()
        tb.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setToolTip("Mask opacity (Shift+O / Alt+O)")
        tb.addWidget(self.opacity_slider)
        tb.addAction(a["outline"])
        tb.addSeparator()
        for n in ("propagate_back", "propagate", "propagate_fwd", "rerun", "cancel"):
            tb.addAction(a[n])
        tb.addSeparator()
        for n in ("zoom_fit", "zoom_100", "export", "models"):
            tb.addAction(a[n])
        for b in tb.findChildren(QToolButton):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addToolBar(tb)
        self.toolbar = tb

        self.timeline.add_transport_actions([a["first_frame"], a["prev_key"], a["prev_frame"], a["play"],
                                             a["next_frame"], a["next_key"], a["last_frame"]])
        # number keys select objects
        for i in range(1, 10):
            act = self.addAction(f"Select object {i}")
            act.setShortcut(str(i))
            act.triggered.connect(lambda _c=False, k=i: self.select_object_index(k - 1))

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.pos_label = QLabel("")
        self.frame_label = QLabel("No video")
        self.time_label = QLabel("")
        self.engine_label = QLabel("")
        self.engine_label.setToolTip("The segmentation engine and the device it runs on")
        self.progress_bar = QProgressBar()
        self.progress_bar.setFixedWidth(180)
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.hide()
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.actions["cancel"])
        self.cancel_button.hide()
        for w in (self.pos_label, self.frame_label, self.time_label, self.engine_label, self.progress_bar,
                  self.cancel_button):
            sb.addPermanentWidget(w)

    def _wire(self) -> None:
        c = self.canvas
        c.clicked.connect(self.on_canvas_click)
        c.box_drawn.connect(self.on_canvas_box)
        c.stroke_drawn.connect(self.on_canvas_stroke)
        c.play_toggle_requested.connect(self.toggle_play)
        c.hovered.connect(self._on_hover)
        self.timeline.frame_requested.connect(self.on_user_seek)
        p = self.objects_panel
        p.current_changed.connect(self.set_current_object)
        p.add_requested.connect(self.add_object)
        p.rename_requested.connect(self.rename_object)
        p.color_requested.connect(self.recolor_object)
        p.visibility_toggled.connect(self.set_object_visible)
        p.lock_toggled.connect(self.set_object_locked)
        p.delete_requested.connect(self.delete_object)
        self.display.frame_failed.connect(self._on_frame_failed)
        ctl = self.ctl
        ctl.masks_ready.connect(self._on_masks)
        ctl.state_changed.connect(self._on_state)
        ctl.progress.connect(self._on_progress)
        ctl.started.connect(self._on_job_started)
        ctl.finished.connect(self._on_job_finished)
        ctl.failed.connect(self._on_job_failed)
        self.doc.opened.connect(self._on_opened)
        self.doc.closed.connect(self._on_closed)
        self.doc.engine_changed.connect(self._on_engine_changed)
        self.doc.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.doc.error.connect(self.show_error)
        self.doc.saved.connect(lambda _p: self._update_title())
        self.quality.changed.connect(self._on_quality)
        self.brush_slider.valueChanged.connect(self.set_brush_size)
        self.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100))
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        self.timeline_timer = QTimer(self)
        self.timeline_timer.setSingleShot(True)
        self.timeline_timer.setInterval(33)
        self.timeline_timer.timeout.connect(self.refresh_timeline)

    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.get("window/geometry")
        if not geo.isEmpty():
            self.restoreGeometry(geo)
        st = s.get("window/state")
        if not st.isEmpty():
            self.restoreState(st)
        self.brush_slider.setValue(int(s.get("tools/brush_size")))
        self.set_brush_size(int(s.get("tools/brush_size")))
        self.opacity_slider.setValue(int(round(100 * s.get("view/opacity"))))
        self.canvas.opacity = float(s.get("view/opacity"))
        self.actions["outline"].setChecked(bool(s.get("view/outline")))
        self.actions["follow"].setChecked(bool(s.get("view/follow_propagation")))
        self.actions["auto_quality"].setChecked(bool(s.get("quality/auto")))
        self.actions["smooth"].setChecked(bool(s.get("view/smoothing")))

    # ==== opening and closing ======================================================================
    @property
    def session(self):
        return self.ctl.session

    def open_path(self, source, *, engine: str | None = None, ask: bool = True, **options):
        """Open a video file, image folder, project (.s2s) or VideoSource in this window."""
        if ask and not self.maybe_save():
            return None
        self.stop_playback()
        self.ctl.cancel()  # a running propagation belongs to the project being closed
        opts = {} if engine is None else {"engine": engine, **options}
        if isinstance(source, (str, Path)):
            self.settings.set("dirs/open", str(Path(source).resolve().parent))
        return self.doc.open(source, **opts)

    def open_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", self.settings.get("dirs/open"), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images", self.settings.get("dirs/open"))
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a project", self.settings.get("dirs/open"),
                                              "SAM2 Studio projects (*.s2s);;All files (*)")
        if path:
            self.open_path(path)

    def open_camera(self):
        """File → Open Camera: a live tracking window; a recording can be opened here after."""
        from .live_window import open_camera_dialog

        engine, options = self.doc.engine_choice()
        win = open_camera_dialog(self, engine=engine, engine_options=options)
        if win is not None:
            self.live_windows.append(win)
            win.project_recorded.connect(lambda p: self.open_path(p))
            win.destroyed.connect(lambda *_a, w=win: self.live_windows.remove(w) if w in self.live_windows else None)
        return win

    def new_project(self) -> None:
        if not self.maybe_save():
            return
        self.stop_playback()
        self.undo.clear()
        self.doc.close_project()

    def _fill_recent(self) -> None:
        m = self.recent_menu
        m.clear()
        files = self.settings.recent_files()
        for f in files:
            act = m.addAction(Path(f).name)
            act.setToolTip(f)
            act.setStatusTip(f)
            act.triggered.connect(lambda _c=False, p=f: self._open_recent(p))
        if not files:
            m.addAction("(none)").setEnabled(False)
        else:
            m.addSeparator()
            m.addAction("Clear the list").triggered.connect(self.settings.clear_recent)

    def _open_recent(self, path: str) -> None:
        if not Path(path).exists():
            self.settings.remove_recent(path)
            self.show_error(f"{path} is no longer there; it was removed from the recent files")
            return
        self.open_path(path)

    def _on_opened(self, session) -> None:
        self.undo.clear()  # the history belongs to the project that was open before
        self.quality.clear()
        v = session.video
        self.display.set_session(session)
        self.canvas.empty_text = "Loading…"
        self.timeline.set_video(len(v), v.fps)
        self.range = None
        self.frame = -1
        ids = list(session.project.objects)
        self._next_id = max(ids, default=0) + 1
        self.current_obj = min(ids) if ids else None
        self._objects_key = None
        self._on_state(self.doc.state)
        self.refresh_timeline()
        self.set_frame(0)
        self._update_engine_label(session)
        self._update_banner(session)
        self._update_enabled()
        self._update_title()

    def _on_frame_failed(self, index: int, message: str) -> None:
        self.statusBar().showMessage(f"Frame {index} could not be decoded: {message}", 5000)

    def _on_engine_changed(self, session) -> None:
        self._update_engine_label(session)
        self._update_banner(session)

    def _on_closed(self) -> None:
        self.display.set_session(None)
        self.canvas.empty_text = EMPTY_TEXT
        self.timeline.set_video(0, 30.0)
        self.objects_panel.set_objects([], None)
        self.current_obj = None
        self.quality.clear()
        self.frame = 0
        self.frame_label.setText("No video")
        self.time_label.setText("")
        self.engine_label.setText("")
        self.banner.hide()
        self._update_enabled()
        self._update_title()

    # ==== saving ===================================================================================
    def save(self) -> bool:
        if self.session is None:
            return False
        if self.doc.project_path is None:
            return self.save_as_dialog()
        self.doc.save(on_done=self._after_save)
        return True

    def _after_save(self, job) -> None:
        if job.error is None:
            self.undo.setClean()
        self._update_title()

    def save_as_dialog(self) -> bool:
        if self.session is None:
            return False
        start = self.settings.get("dirs/save") or self.settings.get("dirs/open")
        name = Path(self.doc.display_name or "untitled").stem + ".s2s"
        path, _ = QFileDialog.getSaveFileName(self, "Save the project", str(Path(start or ".") / name),
                                              "SAM2 Studio projects (*.s2s)")
        if not path:
            return False
        self.save_project(path)
        return True

    def save_project(self, path) -> None:
        """Save to ``path`` (tests call this instead of the file dialog)."""
        self.settings.set("dirs/save", str(Path(path).resolve().parent))
        self.doc.save(path, on_done=self._after_save)

    def maybe_save(self) -> bool:
        """Ask about unsaved changes; False when the user cancels."""
        if not self.doc.dirty:
            return True
        answer = err.ask_save_changes(self, self.doc.display_name or "the project")
        if answer == "cancel":
            return False
        if answer == "discard":
            return True
        if self.doc.project_path is None:
            start = self.settings.get("dirs/save") or self.settings.get("dirs/open")
            path, _ = QFileDialog.getSaveFileName(self, "Save the project",
                                                  str(Path(start or ".") / (Path(self.doc.display_name).stem + ".s2s")),
                                                  "SAM2 Studio projects (*.s2s)")
            if not path:
                return False
            return self.doc.save_blocking(path)
        self.ctl.cancel()
        return self.doc.save_blocking()

    def closeEvent(self, e) -> None:  # noqa: N802
        if not self._closing:
            if not self.maybe_save():
                e.ignore()
                return
        self.shutdown()
        e.accept()

    def shutdown(self, *, keep_autosave: bool = False) -> None:
        """Stop the threads and timers (a clean exit deletes the autosave)."""
        if self._clean_exit:
            return
        self._clean_exit = True
        self.stop_playback()
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.sync()
        self.timeline_timer.stop()
        for w in list(self.live_windows):  # children: Qt would delete them without a close
            w.close()
        self.doc.shutdown(keep_autosave=keep_autosave)
        self.display.stop()

    def check_recovery(self):
        """Offer the autosaves of windows that did not close cleanly (a window-modal dialog)."""
        entries = find_orphans()
        if not entries:
            return None
        dlg = RecoveryDialog(entries, self)
        self.recovery_dialog = dlg
        dlg.finished.connect(lambda _r: self._recovery_answered(dlg))
        dlg.open()
        return dlg

    def _recovery_answered(self, dlg: RecoveryDialog) -> None:
        self.recovery_dialog = None
        if dlg.choice == "recover" and dlg.entry is not None:
            self.doc.recover(dlg.entry)
        elif dlg.choice == "discard" and dlg.entry is not None:
            from .autosave import discard

            discard(dlg.entry)
        dlg.deleteLater()

    # ==== frames =====================================================================================
    @property
    def num_frames(self) -> int:
        s = self.session
        return 0 if s is None else len(s.video)

    def set_frame(self, index: int) -> None:
        """Go to frame ``index`` (the display puts its image and overlay up together)."""
        n = self.num_frames
        if n == 0:
            return
        index = int(min(max(index, 0), n - 1))
        self.frame = index
        self.timeline.set_frame(index)
        fps = self.session.video.fps or 30.0
        self.frame_label.setText(f"Frame {index} / {n - 1}")
        self.time_label.setText(f"{index / fps:0.2f} s")
        self.display.playing = self.play_timer.isActive()
        self.display.show(index)
        if not self.display.playing:
            self._show_flag_reason()

    def on_user_seek(self, index: int) -> None:
        self._following = False
        self.set_frame(index)

    @property
    def loader(self):
        return self.display.loader

    @property
    def display_busy(self) -> bool:
        """True while the canvas does not yet show the current frame with its latest overlay."""
        return self.display.busy

    def refresh_overlay(self) -> None:
        """Redraw masks and prompt markers of the current frame (coalesced)."""
        self.display.refresh()

    def refresh_timeline(self) -> None:
        s = self.session
        if s is None:
            return
        st = self.doc.state
        objs = [st.objects[i] for i in sorted(st.objects)]
        n = len(s.video)
        states = {o.id: lane_states(s.masks, o.id, n) for o in objs}
        flagged = {o.id: [f for f in self.quality.frames(o.id) if f not in set(st.keyframes.get(o.id, ()))]
                   for o in objs}
        self.timeline.set_lanes(objs, self.current_obj, states, st.keyframes, st.stale, flagged=flagged)

    # ---- playback ----
    def toggle_play(self) -> None:
        if self.play_timer.isActive():
            self.stop_playback()
        elif self.session is not None:
            if self.frame >= self.num_frames - 1:
                self.set_frame(0)
            fps = self.session.video.fps or 30.0
            self.play_timer.start(max(5, int(1000 / fps)))
            self.actions["play"].setIcon(icon("pause"))

    def stop_playback(self) -> None:
        if self.play_timer.isActive():
            self.play_timer.stop()
        self.actions["play"].setIcon(icon("play"))

    def _play_tick(self) -> None:
        if self.frame >= self.num_frames - 1:
            self.stop_playback()
            return
        self.set_frame(self.frame + 1)

    def next_frame(self) -> None:
        self.on_user_seek(self.frame + 1)

    def prev_frame(self) -> None:
        self.on_user_seek(self.frame - 1)

    def first_frame(self) -> None:
        self.on_user_seek(0)

    def last_frame(self) -> None:
        self.on_user_seek(self.num_frames - 1)

    def _keyframes(self) -> list[int]:
        kf = self.doc.state.keyframes
        if self.current_obj in kf and kf[self.current_obj]:
            return kf[self.current_obj]
        return sorted({f for frames in kf.values() for f in frames})

    def next_keyframe(self) -> None:
        later = [f for f in self._keyframes() if f > self.frame]
        if later:
            self.on_user_seek(later[0])

    def prev_keyframe(self) -> None:
        earlier = [f for f in self._keyframes() if f < self.frame]
        if earlier:
            self.on_user_seek(earlier[-1])

    # ---- quality flags ----
    def check_quality(self):
        from .dialogs.quality_thresholds import load_thresholds

        return self.quality.check(thresholds=load_thresholds(self.settings)) if self.session is not None else None

    def quality_thresholds_dialog(self):
        from .dialogs.quality_thresholds import QualityThresholdsDialog

        dlg = QualityThresholdsDialog(self.settings, self)
        dlg.accepted.connect(lambda: self.check_quality() if self.quality.flags else None)
        self.thresholds_dialog = dlg
        dlg.open()
        return dlg

    def next_flagged(self) -> None:
        self._jump_flag(self.quality.next(self.frame, self.current_obj))

    def prev_flagged(self) -> None:
        self._jump_flag(self.quality.previous(self.frame, self.current_obj))

    def _jump_flag(self, frame: int | None) -> None:
        if frame is not None:
            self.on_user_seek(frame)
        elif not self.quality.flags:
            self.statusBar().showMessage("No quality check yet: Track → Check Quality (Ctrl+K).", 5000)
        else:
            self.statusBar().showMessage("No more flagged frames that way.", 4000)

    def set_auto_quality(self, on: bool) -> None:
        self.settings.set("quality/auto", bool(on))

    def _show_flag_reason(self) -> None:
        found = self.quality.at(self.frame, self.current_obj) or self.quality.at(self.frame, None)
        if found:
            o, flag = found[0]
            self.statusBar().showMessage(self.quality.describe(self._name(o), flag), 10000)

    def _on_quality(self) -> None:
        if not self.timeline_timer.isActive():
            self.timeline_timer.start()

    # ==== controller signals ==========================================================================
    @Slot(object)
    def _on_state(self, state) -> None:
        objs = [state.objects[i] for i in sorted(state.objects)]
        self._pending_add -= set(state.objects)
        if self.current_obj not in state.objects and self.current_obj not in self._pending_add:
            self.current_obj = objs[0].id if objs else None
        if objs:
            self._next_id = max(self._next_id, max(state.objects) + 1)
        key = tuple((o.id, o.name, o.color, o.visible, o.locked) for o in objs)
        if key != getattr(self, "_objects_key", None) or self.objects_panel.current != self.current_obj:
            self._objects_key = key
            self.objects_panel.set_objects(objs, self.current_obj)
            self.refresh_overlay()
        cur = state.objects.get(self.current_obj)
        if cur is not None:
            self.canvas.set_object_color(cur.color)
        if not self.timeline_timer.isActive():
            self.timeline_timer.start()
        self._update_title()

    @Slot(object)
    def _on_masks(self, batch) -> None:
        frames = [f for f, _ in batch]
        if self._following and self.actions["follow"].isChecked() and frames:
            target = frames[-1]
            if target != self.frame:
                self.set_frame(target)
        if self.frame in frames or cmd.ALL_FRAMES in frames:
            self.refresh_overlay()
        if not self.timeline_timer.isActive():
            self.timeline_timer.start()

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{done} / {total}")

    @Slot(object)
    def _on_job_started(self, job) -> None:
        if job.kind in ("propagate", "load", "quality"):
            self.progress_bar.setRange(0, 0)
            self.progress_bar.setFormat(job.description)
            self.progress_bar.show()
            self.cancel_button.show()
            if job.kind != "quality":  # the check's result joins the propagation's message
                self.statusBar().showMessage(job.description[:1].upper() + job.description[1:] + "…")
        if job.kind == "propagate":
            self._following = True
        self._update_enabled()

    @Slot(object)
    def _on_job_finished(self, job) -> None:
        if job.kind == "propagate":
            n = job.result or 0
            if n and not job.params.get("masks") and not job.cancelled:
                self.statusBar().showMessage("The engine found nothing to carry from this frame: propagate from a "
                                             "keyframe, or click the object here first.", 10000)
            else:
                self.statusBar().showMessage(("Cancelled after " if job.cancelled else "Propagated ")
                                             + f"{n} frame{'s' if n != 1 else ''}.", 8000)
            self._following = False
            self.refresh_overlay()
            if n and not job.cancelled and self.actions["auto_quality"].isChecked():
                self.check_quality()
        elif job.kind == "quality" and not job.cancelled and isinstance(job.result, dict):
            names = {i: o.name for i, o in self._objects().items()}
            before = self.statusBar().currentMessage()
            lead = before + " " if before.startswith(("Propagated", "Cancelled")) else ""
            self.statusBar().showMessage(lead + self.quality.summary(names), 10000)
        if not self.ctl.busy or job.kind in ("propagate", "load", "quality"):
            self.progress_bar.hide()
            self.cancel_button.hide()
        self._update_enabled()

    @Slot(object, str)
    def _on_job_failed(self, job, message: str) -> None:
        self._following = False
        self.progress_bar.hide()
        self.cancel_button.hide()
        if job.kind == "save" and job.description == "autosaving":
            self.statusBar().showMessage(f"Autosave failed: {message}", 8000)
            return
        if job.on_error is None or job.kind == "prompt":
            self.show_error(message)
        self._update_enabled()

    def show_error(self, message: str) -> None:
        text = err.sentence(message)
        self.errors.append(text)
        log.info("shown to the user: %s", text)
        if not self._clean_exit:
            err.show_error(self, text)

    # ==== objects ======================================================================================
    def _objects(self) -> dict:
        return self.doc.state.objects

    def _reserve_id(self) -> int:
        oid = max(self._next_id, max(self._objects(), default=0) + 1)
        self._next_id = oid + 1
        return oid

    def add_object(self) -> int | None:
        if self.session is None:
            return None
        oid = self._reserve_id()
        self._pending_add.add(oid)
        self.undo.push(cmd.AddObjectCommand(self.ctl, obj_id=oid))
        self.set_current_object(oid)
        return oid

    def set_current_object(self, oid: int | None) -> None:
        self.current_obj = oid
        self.objects_panel.set_current(oid)
        obj = self._objects().get(oid)
        if obj is not None:
            self.canvas.set_object_color(obj.color)
            self.statusBar().showMessage(f"Editing {obj.name}", 3000)
        self.refresh_overlay()
        self.timeline_timer.start()

    def select_object_index(self, i: int) -> None:
        ids = sorted(self._objects())
        if 0 <= i < len(ids):
            self.set_current_object(ids[i])

    def rename_object(self, oid: int, name: str) -> None:
        obj = self._objects().get(oid)
        if obj is not None and name and name != obj.name:
            self.undo.push(cmd.RenameObjectCommand(self.ctl, oid, obj.name, name))

    def recolor_object(self, oid: int, rgb: tuple) -> None:
        obj = self._objects().get(oid)
        if obj is not None and tuple(rgb) != tuple(obj.color):
            self.undo.push(cmd.ColorObjectCommand(self.ctl, oid, obj.color, rgb, obj.name))

    def _set_flag(self, oid: int, field: str, value: bool) -> None:
        def fn(ctx):
            o = ctx.session.objects.get(oid)
            if o is not None and getattr(o, field) != value:
                setattr(o, field, value)
                ctx.session.project.touch()
                ctx.changed(cmd.ALL_FRAMES, [oid])

        obj = self._objects().get(oid)
        if obj is not None:
            setattr(obj, field, value)  # show it at once; the controller confirms
            self.refresh_overlay()
        self.ctl.call(fn, f"changing object {oid}", kind="edit", light=True)

    def set_object_visible(self, oid: int, visible: bool) -> None:
        self._set_flag(oid, "visible", visible)

    def set_object_locked(self, oid: int, locked: bool) -> None:
        self._set_flag(oid, "locked", locked)

    def delete_object(self, oid: int) -> None:
        obj = self._objects().get(oid)
        if obj is not None:
            self.undo.push(cmd.DeleteObjectCommand(self.ctl, oid, obj.name))
            if self.current_obj == oid:
                others = [i for i in sorted(self._objects()) if i != oid]
                self.set_current_object(others[0] if others else None)

    def delete_current_object(self) -> None:
        if self.current_obj is not None:
            self.delete_object(self.current_obj)

    # ==== edits on the canvas ==========================================================================
    def _edit_target(self, create: bool = True) -> int | None:
        """The object an edit goes to (made when there is none); None when it may not be edited."""
        if self.session is None or self.doc.loading:
            return None
        obj = self._objects().get(self.current_obj)
        if obj is None:
            if not create:
                return None
            if self.current_obj in self._pending_add:
                return self.current_obj  # just added, not confirmed yet
            return self.add_object()
        if obj.locked:
            self.statusBar().showMessage(f"{obj.name} is locked: unlock it in the object list to edit it.", 5000)
            return None
        if not obj.visible:
            self.statusBar().showMessage(f"{obj.name} is hidden: show it to edit it.", 5000)
            return None
        if self.ctl.running is not None and self.ctl.running.kind == "propagate":
            self.statusBar().showMessage("The edit runs when the propagation ends (Esc cancels it).", 5000)
        return obj.id

    def _name(self, oid: int) -> str:
        obj = self._objects().get(oid)
        return obj.name if obj is not None else f"object {oid}"

    def on_canvas_click(self, x: float, y: float, positive: bool) -> None:
        oid = self._edit_target()
        if oid is not None:
            self.undo.push(cmd.click_command(self.ctl, self.frame, oid, x, y, positive, self._name(oid)))
            self.quality.forget(self.frame, oid)
            if positive:
                self._hint_if_spilled(self.frame, oid)

    def _hint_if_spilled(self, frame: int, oid: int) -> None:
        """After a click: if the classic engine's mask ran into the background (a large mask
        touching two or more frame edges), say how to fix it."""

        def fn(ctx):
            s = ctx.session
            m = s.mask(frame, oid) if s.engine_name == "classic" else None
            if m is None or m.mean() < 0.12:
                return False
            edges = sum(bool(e.any()) for e in (m[0], m[-1], m[:, 0], m[:, -1]))
            return edges >= 2

        def done(job):
            if job.result:
                self.statusBar().showMessage(
                    "The classic engine's mask ran into the background: right-click there to remove it, or draw "
                    "a box around the object (M). SAM 2 (Models → Download) does far better.", 15000)

        self.ctl.call(fn, "checking the new mask", light=True, on_done=done)

    def on_canvas_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        oid = self._edit_target()
        if oid is not None:
            self.undo.push(cmd.box_command(self.ctl, self.frame, oid, (x0, y0, x1, y1), self._name(oid)))
            self.quality.forget(self.frame, oid)

    def on_canvas_stroke(self, points, diameter: float, erase: bool) -> None:
        oid = self._edit_target(create=not erase)
        if oid is None:
            self.canvas.clear_previews()
            return
        self.undo.push(cmd.stroke_command(self.ctl, self.frame, oid, points, diameter, erase, self._name(oid),
                                          on_done=lambda _j: self.canvas.clear_previews()))
        self.quality.forget(self.frame, oid)

    def clear_prompt(self) -> None:
        oid = self._edit_target(create=False)
        if oid is not None and self.session.prompt(self.frame, oid) is not None:
            self.undo.push(cmd.clear_prompt_command(self.ctl, self.frame, oid, self._name(oid)))

    # ---- tools ----
    def _use(self, tool: Tool) -> None:
        self.canvas.set_tool(tool)
        name = {Tool.POSITIVE: "tool_positive", Tool.NEGATIVE: "tool_negative", Tool.BOX: "tool_box",
                Tool.BRUSH: "tool_brush", Tool.ERASER: "tool_eraser"}[tool]
        self.actions[name].setChecked(True)

    def use_positive(self) -> None:
        self._use(Tool.POSITIVE)

    def use_negative(self) -> None:
        self._use(Tool.NEGATIVE)

    def use_box(self) -> None:
        self._use(Tool.BOX)

    def use_brush(self) -> None:
        self._use(Tool.BRUSH)

    def use_eraser(self) -> None:
        self._use(Tool.ERASER)

    def set_brush_size(self, size: int) -> None:
        size = int(min(max(size, 2), 200))
        self.canvas.set_brush_size(size)
        self.brush_label.setText(f"{size} px")
        if self.brush_slider.value() != size:
            self.brush_slider.setValue(size)
        self.settings.set("tools/brush_size", size)

    def brush_bigger(self) -> None:
        self.set_brush_size(int(round(self.canvas.brush_size * 1.25)) + 1)

    def brush_smaller(self) -> None:
        self.set_brush_size(int(round(self.canvas.brush_size / 1.25)))

    # ---- view ----
    def zoom_fit(self) -> None:
        self.canvas.fit()

    def zoom_100(self) -> None:
        self.canvas.zoom_100()

    def zoom_in(self) -> None:
        self.canvas.zoom_by(1.25)

    def zoom_out(self) -> None:
        self.canvas.zoom_by(0.8)

    def set_outline(self, on: bool) -> None:
        self.canvas.outline = bool(on)
        self.settings.set("view/outline", bool(on))
        self.refresh_overlay()

    def set_opacity(self, value: float) -> None:
        value = float(min(max(value, 0.0), 1.0))
        self.canvas.opacity = value
        self.settings.set("view/opacity", value)
        if self.opacity_slider.value() != int(round(value * 100)):
            self.opacity_slider.setValue(int(round(value * 100)))
        self.refresh_overlay()

    def opacity_up(self) -> None:
        self.set_opacity(self.canvas.opacity + 0.1)

    def opacity_down(self) -> None:
        self.set_opacity(self.canvas.opacity - 0.1)

    def set_smoothing(self, on: bool) -> None:
        from ..core.smoothing import DEFAULT_WINDOW

        self.settings.set("view/smoothing", bool(on))
        self.display.smooth = DEFAULT_WINDOW if on else 0
        self.refresh_overlay()

    def set_follow(self, on: bool) -> None:
        self.settings.set("view/follow_propagation", bool(on))

    # ==== propagation ==================================================================================
    def propagate(self, direction: str = "both", objects=None, start: int | None = None):
        if self.session is None:
            return None
        if not any(self.doc.state.keyframes.get(o) for o in self._objects()):
            self.show_error("there is nothing to propagate yet: click on an object first")
            return None
        start = self.frame if start is None else int(start)
        self.stop_playback()
        return self.ctl.call(propagate_job(start, direction, self.range, objects),
                             "propagating" if objects is None else "re-running the corrected objects",
                             kind="propagate")

    def propagate_both(self):
        return self.propagate("both")

    def propagate_forward(self):
        return self.propagate("forward")

    def propagate_backward(self):
        return self.propagate("backward")

    def propagate_from_here(self):
        """Re-run the corrected objects forward from this frame (others keep their masks)."""
        st = self.doc.state
        objs = sorted(o for o, frames in st.stale.items() if any(f > self.frame for f in frames))
        if not objs:
            objs = sorted(o for o, kf in st.keyframes.items() if self.frame in kf)
        if not objs and self.current_obj in st.objects:
            objs = [self.current_obj]
        if not objs:
            return None
        return self.propagate("forward", objects=objs)

    def cancel_job(self) -> None:
        if self.ctl.cancel():
            self.statusBar().showMessage("Cancelling…", 3000)

    def set_range_start(self) -> None:
        hi = self.range[1] if self.range else self.num_frames - 1
        self._set_range(self.frame, max(hi, self.frame))

    def set_range_end(self) -> None:
        lo = self.range[0] if self.range else 0
        self._set_range(min(lo, self.frame), self.frame)

    def _set_range(self, lo: int, hi: int) -> None:
        if self.session is None:
            return
        self.range = (lo, hi)
        self.timeline.set_range(lo, hi)
        self.statusBar().showMessage(f"Propagation range: frames {lo} to {hi}", 5000)

    def clear_range(self) -> None:
        self.range = None
        self.timeline.clear_range()

    # ==== dialogs ======================================================================================
    def export_dialog(self):
        if self.session is None:
            return None
        from .dialogs.export_dialog import ExportDialog

        objs = [self._objects()[i] for i in sorted(self._objects())]
        start = self.settings.get("dirs/export") or self.settings.get("dirs/save") or self.settings.get("dirs/open")
        dlg = ExportDialog(self.ctl, objs, self.num_frames, Path(self.doc.display_name or "export").stem, start,
                           self.settings.get("export/format"), self,
                           smooth=self.actions["smooth"].isChecked())
        dlg.exported.connect(lambda p: (self.settings.set("dirs/export", str(Path(p).resolve().parent)),
                                        self.settings.set("export/format", dlg.format.name),
                                        self.statusBar().showMessage(f"Exported {p}", 8000)))
        self.export_dialog_widget = dlg
        dlg.open()
        return dlg

    def model_manager(self, start_download: str | None = None):
        from .dialogs.model_manager import ModelManagerDialog

        dlg = ModelManagerDialog(self, self.settings)
        dlg.applied.connect(self._on_models_applied)
        dlg.download_finished.connect(self._on_download_finished)
        self.model_dialog = dlg
        dlg.open()
        if start_download:
            dlg.select_model(start_download)
            dlg.start_download(start_download)
        return dlg

    def download_tiny(self):
        from ..engines import models

        return self.model_manager(start_download=None if models.is_installed(models.DEFAULT_MODEL)
                                  else models.DEFAULT_MODEL)

    def _on_models_applied(self) -> None:
        if self.session is not None and self.doc.engine_override is None:
            self.doc.switch_engine()

    def _on_download_finished(self, name: str, outcome: str) -> None:
        s = self.session
        if outcome == "ok" and s is not None and s.engine_name == "classic" \
                and self.settings.get("engine/name") == "auto" and self.doc.engine_override is None:
            self.doc.switch_engine()

    def show_shortcuts(self):
        from .dialogs.shortcuts import ShortcutsDialog

        menus = [a.menu() for a in self.menuBar().actions() if a.menu() is not None]
        dlg = ShortcutsDialog(menus, self)
        self.shortcuts_dialog = dlg
        dlg.open()
        return dlg

    def show_about(self) -> None:
        QMessageBox.about(self, "About SAM2 Studio",
                          f"<b>SAM2 Studio {__version__}</b><br>Interactive video object segmentation on top of "
                          "Meta's SAM 2: click, propagate, correct, export.")

    def dismiss_banner(self) -> None:
        self.banner.hide()
        self.settings.set("ui/banner_dismissed", True)

    # ==== status =======================================================================================
    def _update_engine_label(self, session) -> None:
        name = session.engine_name
        if name == "classic":
            text = "Engine: classic (built in) · cpu"
            self.statusBar().showMessage("Using the built-in classic engine (no download). "
                                         "For SAM 2 quality: Models → Download SAM 2.1 tiny.", 15000)
        else:
            model = getattr(session.engine, "model_name", "SAM 2")
            text = f"Engine: {model} · {session.device}"
            if session.is_random_weights:
                text += " · RANDOM WEIGHTS (testing only)"
        self.engine_label.setText(text)

    def _update_banner(self, session) -> None:
        show = session.engine_name == "classic" and not self.settings.get("ui/banner_dismissed")
        self.banner.setVisible(show)

    def _on_hover(self, x: int, y: int) -> None:
        self.pos_label.setText("" if x < 0 else f"x {x}  y {y}")

    def _update_title(self) -> None:
        name = self.doc.display_name
        dirty = self.doc.dirty
        self.setWindowTitle(f"{name}[*] — SAM2 Studio" if name else "SAM2 Studio")
        self.setWindowModified(dirty and bool(name))

    def _update_enabled(self) -> None:
        has = self.session is not None
        busy = self.ctl.running is not None and self.ctl.running.kind == "propagate"
        for n in ("save", "save_as", "export", "add_object", "delete_object", "clear_prompt", "propagate",
                  "propagate_fwd", "propagate_back", "rerun", "play", "next_frame", "prev_frame", "next_key",
                  "prev_key", "first_frame", "last_frame", "range_in", "range_out", "range_clear",
                  "check_quality", "next_flag", "prev_flag"):
            self.actions[n].setEnabled(has)
        for n in ("propagate", "propagate_fwd", "propagate_back", "rerun"):
            self.actions[n].setEnabled(has and not busy)
        self.actions["cancel"].setEnabled(self.ctl.running is not None)
        self.objects_panel.add_button.setEnabled(has)

    # ==== drag and drop =================================================================================
    @staticmethod
    def _dropped_path(mime) -> str | None:
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

    def dragEnterEvent(self, e) -> None:  # noqa: N802
        if self._dropped_path(e.mimeData()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dropEvent(self, e) -> None:  # noqa: N802
        path = self._dropped_path(e.mimeData())
        if path:
            e.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.open_path(path))


def overlay_pixel(window: MainWindow, x: int, y: int) -> np.ndarray | None:
    """RGBA of the canvas overlay at frame pixel (x, y), or None when nothing is drawn (tests)."""
    rgba = window.canvas.overlay_rgba
    return None if rgba is None else rgba[int(y), int(x)]
