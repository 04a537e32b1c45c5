"""The main window: builds the widgets, menus and toolbar from data and wires the signals.

The work lives elsewhere: the session on the controller thread (:mod:`.controller`), frame
decoding and overlays on worker threads (:mod:`.display`), edits as undoable commands
(:mod:`.commands`), the project life cycle in :mod:`.document`, the actions, menus and
toolbar as data in :mod:`.actions`, and their handlers on small sub-controllers in
:mod:`.handlers` (files, editing, playback, propagation, review, view, models). The window
holds what they share: the current frame and object, the widgets, and the redraws.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QProgressBar, QSlider, QSplitter, QToolButton,
                               QVBoxLayout, QWidget)

from . import ui_thread_gc
from .actions import (BRUSH_SIZE, NEEDS_SESSION, OPACITY, RECENT_MENU, REDO, STARTS_PROPAGATION, TRACK_BUTTON,
                      TRANSPORT, UNDO)
from .actions import build_actions, build_menus, build_toolbar, build_track_button
from .canvas import Canvas
from .controller import ALL_FRAMES
from .dialogs import error_dialog as err
from .display import FrameDisplay
from .document import Document
from .handlers.editing import BRUSH_MAX, BRUSH_MIN, EditingController
from .handlers.files import FilesController
from .handlers.models import Banner, ModelsController
from .handlers.playback import PlaybackController
from .handlers.propagation import PropagationController
from .handlers.review import ReviewController
from .handlers.view import ViewController
from .object_panel import ObjectPanel
from .quality_flags import QualityFlags
from .resources import app_icon, icon
from .settings import Settings
from .timeline import Timeline

log = logging.getLogger(__name__)

EMPTY_TEXT = "Open a video or a project\n(File → Open, or drop it here)"


class MainWindow(QMainWindow):
    """SAM2 Studio's editor window."""

    def __init__(self, *, engine: str | None = None, engine_options: dict | None = None,
                 check_recovery: bool = True, settings: Settings | None = None) -> None:
        super().__init__()
        ui_thread_gc.hold()  # the controller's threads must never free Qt objects (ui_thread_gc)
        self.setWindowIcon(app_icon())
        self.settings = settings or Settings()
        self.doc = Document(self.settings, engine, engine_options, parent=self)
        self.ctl = self.doc.ctl
        self.quality = QualityFlags(self.ctl, self)
        self.undo = QUndoStack(self)
        self.frame = 0
        self.current_obj: int | None = None
        self.errors: list[str] = []
        self._closing = False
        self._clean_exit = False
        self._objects_key = None

        self._build_widgets()
        self.files = FilesController(self)
        self.editing = EditingController(self)
        self.playback = PlaybackController(self)
        self.propagation = PropagationController(self)
        self.review = ReviewController(self)
        self.view = ViewController(self)
        self.models = ModelsController(self)
        parts = (self.files, self.editing, self.playback, self.propagation, self.review, self.view, self.models)
        self.actions = build_actions(self, {k: v for part in parts for k, v in part.handlers().items()})
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._wire()
        self._restore_settings()
        self.update_enabled()
        self.update_title()
        if check_recovery:
            QTimer.singleShot(0, self.files.check_recovery)

    # ==== construction ============================================================================
    def _build_widgets(self) -> None:
        self.canvas = Canvas()
        self.display = FrameDisplay(self.canvas, lambda: self.doc.state.objects, lambda: self.current_obj,
                                    parent=self)
        self.timeline = Timeline()
        self.objects_panel = ObjectPanel()
        self.banner = Banner()
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
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(BRUSH_MIN, BRUSH_MAX)
        self.brush_slider.setFixedWidth(110)
        self.brush_slider.setToolTip("Brush and eraser size in frame pixels ([ and ])")
        self.brush_label = QLabel("24 px")
        self.brush_label.setMinimumWidth(44)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setFixedWidth(100)
        self.opacity_slider.setToolTip("Mask opacity (Shift+O / Alt+O)")
        self.setAcceptDrops(True)
        self.resize(1400, 900)

    def _build_menus_and_toolbar(self) -> None:
        a = self.actions
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
        placed = {**a, UNDO: self.undo_action, REDO: self.redo_action}
        self.recent_menu = build_menus(self.menuBar(), placed)[RECENT_MENU]
        self.recent_menu.aboutToShow.connect(self.files.fill_recent)
        self.track_button = build_track_button(a, self)
        self.toolbar = build_toolbar(placed, {BRUSH_SIZE: [self.brush_slider, self.brush_label],
                                              OPACITY: [QLabel(" Opacity "), self.opacity_slider],
                                              TRACK_BUTTON: [self.track_button]})
        self.addToolBar(self.toolbar)
        self.timeline.add_transport_actions([a[n] for n in TRANSPORT])

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
        self._permanent = (self.pos_label, self.frame_label, self.time_label, self.engine_label, self.progress_bar,
                           self.cancel_button)
        self.pos_label.setMinimumWidth(self.pos_label.fontMetrics().horizontalAdvance("x 00000  y 00000"))
        for w in self._permanent:
            sb.addPermanentWidget(w)

    def _wire(self) -> None:
        self.canvas.play_toggle_requested.connect(self.playback.toggle_play)
        self.canvas.hovered.connect(lambda x, y: self.pos_label.setText("" if x < 0 else f"x {x}  y {y}"))
        self.timeline.frame_requested.connect(self.playback.seek)
        self.display.frame_failed.connect(
            lambda i, m: self.status(f"Frame {i} could not be decoded: {m}", 5000))
        self.ctl.masks_ready.connect(self._on_masks)
        self.ctl.state_changed.connect(self._on_state)
        self.ctl.finished.connect(self._on_job_finished)
        self.editing.connect()
        self.view.connect()
        self.models.connect()
        self.propagation.connect(self.ctl)
        self.doc.opened.connect(self._on_opened)
        self.doc.closed.connect(self._on_closed)
        self.doc.status.connect(lambda m: self.status(m, 8000))
        self.doc.error.connect(self.show_error)
        self.doc.saved.connect(lambda _p: self.update_title())
        self.quality.changed.connect(self._schedule_timeline)
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
        self.editing.set_brush_size(int(s.get("tools/brush_size")))
        self.opacity_slider.setValue(int(round(100 * s.get("view/opacity"))))
        self.canvas.opacity = float(s.get("view/opacity"))
        self.actions["outline"].setChecked(bool(s.get("view/outline")))
        self.actions["follow"].setChecked(bool(s.get("view/follow_propagation")))
        self.actions["auto_quality"].setChecked(bool(s.get("quality/auto")))
        self.actions["smooth"].setChecked(bool(s.get("view/smoothing")))

    # ==== shared state =============================================================================
    @property
    def session(self):
        return self.ctl.session

    @property
    def num_frames(self) -> int:
        s = self.session
        return 0 if s is None else len(s.video)

    @property
    def loader(self):
        return self.display.loader

    @property
    def display_busy(self) -> bool:
        """True while the canvas does not yet show the current frame with its latest overlay."""
        return self.display.busy

    def status(self, message: str, ms: int = 0, scope: tuple[int, int] | None = None) -> None:
        """Show ``message`` for ``ms`` milliseconds. A message about one object on one frame
        (``scope=(frame, obj)``: a hint, a quality flag) goes as soon as that frame is left or
        that mask changes. A message too long for the bar is shortened with "…" (the whole of
        it in the bar's tooltip) so it never runs under the readouts on the right."""
        self._status_scope = scope
        sb = self.statusBar()
        readouts = [w for w in getattr(self, "_permanent", ()) if w.isVisible()]
        room = sb.width() - sum(w.sizeHint().width() + 12 for w in readouts) - 24
        fm = sb.fontMetrics()
        shown = message if fm.horizontalAdvance(message) <= room else fm.elidedText(
            message, Qt.TextElideMode.ElideRight, max(80, room))
        sb.setToolTip(message if shown != message else "")
        sb.showMessage(shown, ms)

    def status_text(self) -> str:
        """The whole of the message shown in the status bar (also when it was shortened)."""
        sb = self.statusBar()
        shown = sb.currentMessage()
        return sb.toolTip() if shown and shown.endswith("…") and sb.toolTip() else shown

    def _end_scoped_status(self, frame: int | None = None, objs=None) -> None:
        """Clear a scoped message when its frame was left (``frame`` given) or its mask changed."""
        scope = getattr(self, "_status_scope", None)
        if scope is None:
            return
        if (frame is not None and frame != scope[0]) or (objs is not None and scope[1] in objs):
            self._status_scope = None
            self.statusBar().clearMessage()
            self.statusBar().setToolTip("")

    def show_error(self, message: str) -> None:
        text = err.sentence(message)
        self.errors.append(text)
        log.info("shown to the user: %s", text)
        if not self._clean_exit:
            err.show_error(self, text)

    # ==== opening and closing ======================================================================
    def _on_job_finished(self, job) -> None:
        if job.kind == "load" and job.error is None and not job.cancelled:
            ui_thread_gc.settle()  # collect once now, while the user waits, not mid-playback

    def _on_opened(self, session) -> None:
        self.undo.clear()  # the history belongs to the project that was open before
        self.quality.clear()
        v = session.video
        self.display.set_session(session)
        self.canvas.empty_text = "Loading…"
        self.timeline.set_video(len(v), v.fps)
        self.propagation.range = None
        self.frame = -1
        ids = list(session.project.objects)
        self.editing.reset(ids)
        # reopen (or recover) where the user was: the frame and the object, and the last flags
        view = session.project.settings.get("view") or {}
        obj = view.get("object")
        self.current_obj = obj if obj in ids else (min(ids) if ids else None)
        self.quality.set_flags(session.project.quality_flags)
        self._objects_key = None
        self._on_state(self.doc.state)
        self.refresh_timeline()
        frame = view.get("frame", 0)
        self.set_frame(int(frame) if isinstance(frame, int) and 0 <= frame < len(v) else 0)
        self.models.show_engine(session)
        self.update_enabled()
        self.update_title()
        self.propagation.offer_rerun_damaged(session)

    def _on_closed(self) -> None:
        self.display.set_session(None)
        self.canvas.empty_text = EMPTY_TEXT
        self.timeline.set_video(0, 30.0)
        self.objects_panel.set_objects([], None)
        self.current_obj = None
        self.editing.reset(())
        self.quality.clear()
        self.frame = 0
        self.frame_label.setText("No video")
        self.time_label.setText("")
        self.engine_label.setText("")
        self.banner.hide()
        self.update_enabled()
        self.update_title()

    def closeEvent(self, e) -> None:  # noqa: N802
        if not self._closing:
            if not self.files.maybe_save():
                e.ignore()
                return
        self.shutdown()
        e.accept()

    def shutdown(self, *, keep_autosave: bool = False) -> None:
        """Stop the threads and timers (a clean exit deletes the autosave)."""
        if self._clean_exit:
            return
        self._clean_exit = True
        self.playback.stop()
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.sync()
        self.timeline_timer.stop()
        for w in list(self.files.live_windows):  # children: Qt would delete them without a close
            w.close()
        self.doc.shutdown(keep_autosave=keep_autosave)
        self.display.stop()
        ui_thread_gc.release()

    def dragEnterEvent(self, e) -> None:  # noqa: N802
        if self.files.dropped_path(e.mimeData()):
            e.acceptProposedAction()
        else:
            e.ignore()

    def dropEvent(self, e) -> None:  # noqa: N802
        path = self.files.dropped_path(e.mimeData())
        if path:
            e.acceptProposedAction()
            QTimer.singleShot(0, lambda: self.files.open_path(path))

    # ==== frames and redraws =======================================================================
    def set_frame(self, index: int) -> None:
        """Go to frame ``index`` (the display puts its image and overlay up together)."""
        n = self.num_frames
        if n == 0:
            return
        index = int(min(max(index, 0), n - 1))
        if index != self.frame:
            self.editing.clear_candidates()
            self._end_scoped_status(frame=index)
        self.frame = index
        self.timeline.set_frame(index)
        fps = self.session.video.fps or 30.0
        self.frame_label.setText(f"Frame {index} / {n - 1}")
        self.time_label.setText(f"{index / fps:0.2f} s")
        self.display.playing = self.playback.playing
        self.display.show(index)
        self.remember_view()
        if not self.display.playing:
            self.review.show_flag_reason()

    def remember_view(self) -> None:
        """Keep the frame and object the user is on in the project (saved and autosaved with it,
        not an unsaved change): a reopened or recovered project opens there."""
        s = self.session
        if s is not None and not self.playback.playing:
            s.project.settings["view"] = {"frame": int(self.frame), "object": self.current_obj}

    def refresh_overlay(self) -> None:
        """Redraw masks and prompt markers of the current frame (coalesced)."""
        self.display.refresh()

    def refresh_timeline(self) -> None:
        """Redraw the lanes from the view state (their frame states come from the controller thread)."""
        if self.session is None:
            return
        st = self.doc.state
        objs = [st.objects[i] for i in sorted(st.objects)]
        self.timeline.set_lanes(objs, self.current_obj, st.lanes, st.keyframes, st.stale,
                                flagged=self.review.flagged_frames(objs, st.keyframes), damaged=st.damaged,
                                absent=st.absent)

    def _schedule_timeline(self) -> None:
        if not self.timeline_timer.isActive():
            self.timeline_timer.start()

    # ==== controller signals ========================================================================
    @Slot(object)
    def _on_state(self, state) -> None:
        objs = [state.objects[i] for i in sorted(state.objects)]
        self.editing.on_state(state)
        if self.current_obj not in state.objects and self.current_obj not in self.editing.pending_add:
            self.current_obj = objs[0].id if objs else None
        key = (tuple((o.id, o.name, o.category, o.color, o.visible, o.locked) for o in objs), state.classes)
        if key != self._objects_key or self.objects_panel.current != self.current_obj:
            self._objects_key = key
            self.objects_panel.set_objects(objs, self.current_obj, list(state.classes))
            self.refresh_overlay()
        cur = state.objects.get(self.current_obj)
        if cur is not None:
            self.canvas.set_object_color(cur.color)
        self._schedule_timeline()
        self.update_title()

    @Slot(object)
    def _on_masks(self, batch) -> None:
        frames = [f for f, _ in batch]
        if self.propagation.following and self.actions["follow"].isChecked() and frames:
            target = frames[-1]
            if target != self.frame:
                self.set_frame(target)
        if self.frame in frames or ALL_FRAMES in frames:
            self.refresh_overlay()
            changed = {o for f, objs in batch if f in (self.frame, ALL_FRAMES) for o in objs}
            self._end_scoped_status(objs=changed)
        self._schedule_timeline()

    # ==== status ==================================================================================
    def update_title(self) -> None:
        name = self.doc.display_name
        if name and self.doc.read_only:
            name += " (read-only)"
        self.setWindowTitle(f"{name}[*] — SAM2 Studio" if name else "SAM2 Studio")
        self.setWindowModified(self.doc.dirty and bool(name))

    def update_enabled(self) -> None:
        has = self.session is not None
        for n in NEEDS_SESSION:
            self.actions[n].setEnabled(has)
        for n in STARTS_PROPAGATION:
            self.actions[n].setEnabled(has and not self.propagation.running)
        self.actions["rerun_damaged"].setEnabled(has and not self.propagation.running and bool(self.doc.state.damaged))
        self.actions["cancel"].setEnabled(self.ctl.running is not None)
        self.objects_panel.add_button.setEnabled(has)
