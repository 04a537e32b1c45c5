"""The open project's life cycle: open, save, save as, new, autosave, recover, switch engine.

:class:`Document` owns the inference controller and the autosaver and keeps the latest
:class:`~sam2studio.gui.controller.ViewState`; the main window asks it to do things and shows
what its signals report.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from ..core.project import PROJECT_SUFFIX
from . import autosave as autosave_mod
from .autosave import Autosaver
from .controller import InferenceController, ViewState, open_session, switch_engine
from .settings import Settings

log = logging.getLogger(__name__)


class Document(QObject):
    opened = Signal(object)  # Session
    engine_changed = Signal(object)  # Session (same project and video, new engine)
    closed = Signal()
    saved = Signal(str)
    status = Signal(str)
    error = Signal(str)

    def __init__(self, settings: Settings, engine: str | None = None, engine_options: dict | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.engine_override = engine
        self.engine_override_options = dict(engine_options or {})
        self.ctl = InferenceController()
        self.state = ViewState()
        self.ctl.state_changed.connect(self._on_state)
        self.autosaver = Autosaver(self.ctl, lambda: self.session is not None and self.state.dirty,
                                   settings.get("autosave/interval_s"), parent=self,
                                   revision=lambda: self.state.revision)
        self.source: str | None = None  # what was opened (video, folder or project file)
        self.loading = False

    # ---- facts ---------------------------------------------------------------------------------
    @property
    def session(self):
        return self.ctl.session

    @property
    def dirty(self) -> bool:
        return self.session is not None and self.state.dirty

    @property
    def read_only(self) -> bool:
        """The project was opened read-only (another process writes its file): Save asks for a new name."""
        return self.session is not None and self.state.read_only

    @property
    def project_path(self) -> Path | None:
        return None if self.state.path is None else Path(self.state.path)

    @property
    def display_name(self) -> str:
        if self.project_path is not None:
            return self.project_path.name
        s = self.session
        if s is not None and s.project.video_path is not None:
            return s.project.video_path.name
        if s is not None:
            return "untitled"
        return ""

    def engine_choice(self) -> tuple[str, dict]:
        if self.engine_override is not None:
            return self.engine_override, dict(self.engine_override_options)
        return self.settings.engine_options()

    @Slot(object)
    def _on_state(self, state: ViewState) -> None:
        self.state = state

    # ---- opening -------------------------------------------------------------------------------
    def open(self, source, on_opened=None, *, engine: str | None = None, read_only: bool = False, **options):
        """Open a video path, image folder, project file or VideoSource (on the controller thread);
        ``read_only`` opens a project without its write lock (another process writes it)."""
        name, opts = self.engine_choice()
        if engine is not None:
            name, opts = engine, options
        if hasattr(source, "name") and not isinstance(source, (str, Path)):
            label = source.name
        else:
            label = Path(str(source)).name
        self.loading = True
        self.status.emit(f"Opening {label}…")

        def done(job):
            self.loading = False
            if job.cancelled or job.result is None:
                self.status.emit("Opening cancelled.")
                return
            self.autosaver.clear()
            self.source = None if not isinstance(source, (str, Path)) else str(source)
            if isinstance(source, (str, Path)):
                p = Path(source)
                if p.suffix.lower() == PROJECT_SUFFIX or p.exists():
                    self.settings.add_recent(p)
            self.opened.emit(job.result)
            if on_opened is not None:
                on_opened(job.result)

        def failed(job):
            self.loading = False
            self.error.emit(job.error or "the file could not be opened")

        return self.ctl.call(open_session(source, name, read_only=read_only, **opts), f"opening {label}",
                             kind="load",
                             on_done=done, on_error=failed)

    def recover(self, entry: autosave_mod.AutosaveEntry, on_done=None):
        """Open an autosave left by a crash; it becomes unsaved work on its original file."""
        name, opts = self.engine_choice()

        def fn(ctx):
            from ..session import Session

            session = Session.load_project(entry.project_file, engine=name, **opts)
            p = session.project
            p.path = Path(entry.source) if entry.source else None
            p.touch()  # unsaved until the user saves
            ctx.set_session(session)
            return session

        def done(job):
            self.loading = False
            autosave_mod.discard(entry)
            self.source = entry.source
            self.opened.emit(job.result)
            self.status.emit(f"Recovered the unsaved work on {entry.name} (autosaved {entry.when}).")
            self.autosaver.save_now()
            if on_done is not None:
                on_done(job.result)

        def failed(job):
            self.loading = False
            self.error.emit(job.error or "the autosave could not be recovered")

        self.loading = True
        return self.ctl.call(fn, f"recovering {entry.name}", kind="load", on_done=done, on_error=failed)

    def close_project(self) -> None:
        """Forget the open project (after the user saved or discarded it)."""
        self.ctl.cancel()

        def fn(ctx):
            ctx.set_session(None)

        self.ctl.call(fn, "closing the project", kind="load")
        self.autosaver.clear()
        self.source = None
        self.state = ViewState()
        self.closed.emit()

    # ---- saving --------------------------------------------------------------------------------
    def save(self, path: str | Path | None = None, on_done=None):
        """Save (to ``path``, or the project's file); False when there is no file name yet."""
        if self.session is None:
            return None
        target = Path(path) if path is not None else self.project_path
        if target is None:
            return None
        if target.suffix.lower() != PROJECT_SUFFIX:
            target = target.with_suffix(PROJECT_SUFFIX)

        def fn(ctx):
            return str(ctx.session.save(target))

        def done(job):
            if job.error is None and job.result:
                self.autosaver.clear()
                self.settings.add_recent(job.result)
                self.saved.emit(job.result)
                self.status.emit(f"Saved {Path(job.result).name}.")
            if on_done is not None:
                on_done(job)

        def failed(job):
            self.error.emit(job.error or "the project could not be saved")
            if on_done is not None:
                on_done(job)

        return self.ctl.call(fn, f"saving {target.name}", kind="save", on_done=done, on_error=failed)

    def save_blocking(self, path: str | Path | None = None, timeout: float = 60.0) -> bool:
        """Save and wait (closing the window); True when it worked."""
        result = {}
        job = self.save(path, on_done=lambda j: result.setdefault("job", j))
        if job is None:
            return False
        self.ctl.wait_idle(timeout)
        return job.error is None and job.result is not None

    # ---- engine ----------------------------------------------------------------------------------
    def switch_engine(self, on_done=None):
        """Rebuild the engine of the open session from the current settings."""
        if self.session is None:
            return None
        name, opts = self.engine_choice()

        def done(job):
            s = job.result
            self.engine_changed.emit(s)
            self.status.emit(f"Now segmenting with the {s.engine_name} engine on {s.device}.")
            if on_done is not None:
                on_done(job)

        def failed(job):
            self.error.emit(job.error or "the engine could not be started")

        return self.ctl.call(switch_engine(name, **opts), "starting the engine", kind="load",
                             on_done=done, on_error=failed)

    # ---- shutdown --------------------------------------------------------------------------------
    def shutdown(self, keep_autosave: bool = False) -> None:
        self.autosaver.release(keep_files=keep_autosave)
        self.ctl.shutdown()
