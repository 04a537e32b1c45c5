"""The inference controller: one QObject on its own QThread that owns the Session.

Every call into the session (opening, prompts, strokes, propagation, object edits, saving) is a
:class:`Job` posted to the controller's queue and run in order on its thread; the UI thread only
reads the thread-safe mask and prompt stores and the :class:`ViewState` snapshots the controller
emits. Results stream back as signals:

* ``masks_ready(list[(frame, (obj, ...))])`` - masks that changed, batched at most ~30 times a second;
* ``progress(done, total)`` - of the running job;
* ``state_changed(ViewState)`` - objects, keyframes, stale frames and the unsaved flag;
* ``session_changed(session)`` - a session was opened (or None after closing);
* ``started(job)``, ``finished(job)``, ``failed(job, message)``.

``cancel()`` sets the running job's ``threading.Event`` straight from the UI thread, so a
propagation stops before its next frame. Light jobs (renames, colours, autosave) may run
between two frames of a propagation when nothing heavier is queued before them.
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..errors import Cancelled, UserError

log = logging.getLogger(__name__)

#: kinds of job that stop when other (not light) work is submitted: their results are advisory
#: (a quality check must not keep a click waiting; it runs again after the next propagation)
YIELDING_KINDS = ("quality",)

#: masks_ready / progress are emitted at most this often (seconds)
EMIT_INTERVAL = 1 / 30

#: during a job, the timeline lanes are recomputed at most this often (seconds)
LANES_INTERVAL = 0.1

#: ``ctx.changed(ALL_FRAMES, objs)``: every frame of these objects changed
ALL_FRAMES = -1

#: timeline lane state of a frame: never computed, computed with the object absent, present
NONE, ABSENT_STATE, PRESENT = 0, 1, 2


@dataclass
class ViewState:
    """What the UI shows of the session, copied on the controller thread."""

    objects: dict = field(default_factory=dict)  # id -> TrackedObject (copies)
    keyframes: dict = field(default_factory=dict)  # id -> [frame, ...]
    stale: dict = field(default_factory=dict)  # id -> frozenset(frames)
    dirty: bool = False
    path: object = None  # Path | None of the project file
    engine_name: str = ""
    device: str = ""
    random_weights: bool = False
    revision: tuple = ()  # changes whenever the project does (autosave skips unchanged states)
    lanes: dict = field(default_factory=dict)  # id -> uint8 per frame: NONE, ABSENT_STATE or PRESENT
    lanes_key: tuple = ()  # (project, masks revision, frames, objects) the lanes were computed for
    damaged: dict = field(default_factory=dict)  # id -> frozenset(frames) whose stored mask was damaged
    read_only: bool = False  # opened read-only (another process writes the file): save under a new name
    classes: tuple = ()  # the project's class names (the object panel's class box)


@dataclass(eq=False)
class Job:
    """One unit of work for the controller thread.

    ``fn(ctx)`` runs on the controller thread with a :class:`JobContext`; its return value lands
    in ``result``. ``on_done(job)`` / ``on_error(job)`` run afterwards on the UI thread.
    """

    fn: Callable[[JobContext], Any]
    description: str
    kind: str = "call"  # "load", "prompt", "propagate", "edit", "save", "call"
    light: bool = False
    on_done: Callable[[Job], None] | None = None
    on_error: Callable[[Job], None] | None = None
    id: int = field(default_factory=itertools.count(1).__next__)
    cancel: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: str | None = None
    cancelled: bool = False
    params: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Job({self.id}, {self.kind}, {self.description!r})"


class JobContext:
    """Given to a job's function: the session, the cancel event and the streaming helpers."""

    def __init__(self, controller: InferenceController, job: Job) -> None:
        self._c = controller
        self.job = job
        self.cancel = job.cancel

    @property
    def session(self):
        s = self._c._session
        if s is None:
            raise UserError("no video is open: open a video or a project first")
        return s

    def set_session(self, session) -> None:
        self._c._install(session)

    def changed(self, frame: int, objs: Sequence[int]) -> None:
        """Record that ``objs``' masks on ``frame`` changed (sent in the next batch)."""
        self._c._note(frame, objs)

    def progress(self, done: int, total: int) -> None:
        self._c._progress(done, total)

    def flush(self) -> None:
        self._c._flush(force=True)

    def between_frames(self) -> None:
        """Called by long jobs after each step: emits due batches and runs queued light jobs."""
        self._c._flush()
        self._c._run_light_jobs()

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()


class InferenceController(QObject):
    """Owns the Session on a QThread and runs :class:`Job` s one at a time."""

    masks_ready = Signal(object)  # list[(frame, tuple[obj, ...])]
    progress = Signal(int, int)
    state_changed = Signal(object)  # ViewState
    session_changed = Signal(object)  # Session | None
    started = Signal(object)  # Job
    finished = Signal(object)  # Job (also when cancelled)
    failed = Signal(object, str)  # Job, one-sentence message
    idle = Signal()
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._session = None
        self._state: ViewState | None = None  # the last one emitted (its lanes are reused while unchanged)
        self._lanes_at = 0.0  # when the timeline lanes were last computed
        self._lanes_interval = LANES_INTERVAL
        self._queue: deque[Job] = deque()
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._stopping = False
        self._pending: dict[int, set[int]] = {}
        self._last_emit = 0.0
        self._last_progress: tuple[int, int] | None = None
        self._progress_emitted = 0.0
        self._busy = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("sam2studio-inference")
        self._ui = _UiDispatcher()
        self.finished.connect(self._ui.on_finished)
        self.failed.connect(self._ui.on_failed)
        self.moveToThread(self._thread)
        self._wake.connect(self._drain)
        self._thread.start()

    # ---- UI-thread API (thread-safe) ---------------------------------------------------
    def submit(self, job: Job) -> Job:
        with self._lock:
            if self._stopping:
                return job
            cur = self._current
            if cur is not None and cur.kind in YIELDING_KINDS and job.kind not in YIELDING_KINDS and not job.light:
                cur.cancel.set()  # advisory work gives way to what the user just asked for
            self._queue.append(job)
        self._wake.emit()
        return job

    def call(self, fn: Callable[[JobContext], Any], description: str, *, kind: str = "call",
             light: bool = False, on_done=None, on_error=None, **params) -> Job:
        return self.submit(Job(fn, description, kind=kind, light=light, on_done=on_done,
                               on_error=on_error, params=params))

    def cancel(self, *, pending: bool = True) -> bool:
        """Stop the running job (and drop queued propagations); True when something stopped."""
        stopped = False
        with self._lock:
            job = self._current
            if job is not None and job.kind in ("propagate", "call", "quality"):  # opening and saving finish
                job.cancel.set()
                stopped = True
            if pending:
                keep = deque()
                for j in self._queue:
                    if j.kind == "propagate":
                        j.cancel.set()
                        stopped = True
                    keep.append(j)
                self._queue = keep
        return stopped

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._queue)

    @property
    def running(self) -> Job | None:
        return self._current

    @property
    def session(self):
        """The session (read-only use from the UI thread: masks, prompts, video size)."""
        return self._session

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the queue is empty (for tests and shutdown; never from a slot)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.busy:
                return True
            time.sleep(0.005)
        return False

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Cancel everything, stop the thread and close the session."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            for j in self._queue:
                j.cancel.set()
            self._queue.clear()
            if self._current is not None:
                self._current.cancel.set()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):  # pragma: no cover - a stuck engine call
            log.error("the inference thread did not stop in time")
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # pragma: no cover - best effort on exit
                log.exception("closing the session failed")

    @property
    def thread(self) -> QThread:
        return self._thread

    # ---- controller thread -------------------------------------------------------------
    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if self._stopping or not self._queue:
                    self._current = None
                    break
                job = self._queue.popleft()
                self._current = job
            self._run(job)
        if not self._stopping:
            self.idle.emit()

    def _run(self, job: Job) -> None:
        if job.cancel.is_set():
            job.cancelled = True
            self.finished.emit(job)
            return
        self.started.emit(job)
        self._last_progress = None
        ctx = JobContext(self, job)
        try:
            job.result = job.fn(ctx)
        except Cancelled:
            job.cancelled = True
        except UserError as exc:
            job.error = str(exc)
        except Exception as exc:  # a bug: log it, show one sentence
            log.exception("unexpected error while %s", job.description)
            job.error = unexpected_message(job.description, exc)
        if job.cancel.is_set():
            job.cancelled = True
        self._flush(force=True)
        self._emit_state()
        if job.error is not None:
            self.failed.emit(job, job.error)
        else:
            self.finished.emit(job)

    def _run_light_jobs(self) -> None:
        while True:
            with self._lock:
                if self._stopping or not self._queue or not self._queue[0].light:
                    return
                job = self._queue.popleft()
                outer, self._current = self._current, job
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._current = outer

    def _install(self, session, close_old: bool = True) -> None:
        old, self._session = self._session, session
        self._state = None  # nothing of the previous session's view is reused
        if close_old and old is not None and old is not session:
            try:
                old.close()
            except Exception:  # pragma: no cover
                log.exception("closing the previous session failed")
        self.session_changed.emit(session)

    def _note(self, frame: int, objs) -> None:
        self._pending.setdefault(int(frame), set()).update(int(o) for o in objs)

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_emit < EMIT_INTERVAL:
            return
        if self._pending:
            batch = [(f, tuple(sorted(o))) for f, o in self._pending.items()]
            self._pending = {}
            self.masks_ready.emit(batch)
            self._emit_state(lanes=force or now - self._lanes_at >= self._lanes_interval)
        if self._last_progress is not None:
            self.progress.emit(*self._last_progress)
            self._last_progress = None
        self._last_emit = now

    def _progress(self, done: int, total: int) -> None:
        self._last_progress = (int(done), int(total))

    def _emit_state(self, lanes: bool = True) -> None:
        """Emit the view state; with ``lanes=False`` (a batch in the middle of a job) the
        timeline lanes of the previous state are kept unless the video or the objects changed."""
        s = self._session
        if s is None:
            self.state_changed.emit(ViewState())
            return
        try:
            previous = self._state
            t0 = time.monotonic()
            self._state = view_state(s, previous, lanes)
            if previous is None or self._state.lanes is not previous.lanes:
                self._lanes_at = time.monotonic()
                # a long video's lanes cost time: then they are redone less often during a job
                self._lanes_interval = max(LANES_INTERVAL, 5 * (self._lanes_at - t0))
            self.state_changed.emit(self._state)
        except Exception:  # pragma: no cover - never let a snapshot kill the thread
            log.exception("reading the session state failed")


class _UiDispatcher(QObject):
    """Lives on the UI thread: runs each job's on_done / on_error there."""

    @Slot(object)
    def on_finished(self, job: Job) -> None:
        if job.on_done is not None:
            try:
                job.on_done(job)
            except Exception:
                log.exception("after %s", job.description)

    @Slot(object, str)
    def on_failed(self, job: Job, message: str) -> None:
        if job.on_error is not None:
            try:
                job.on_error(job)
            except Exception:
                log.exception("after the failure of %s", job.description)


def unexpected_message(what: str, exc: BaseException) -> str:
    """One sentence for an unexpected exception (the traceback goes to the log)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(detail) > 160:
        detail = detail[:157] + "..."
    return f"Something went wrong while {what} ({detail}); the details are in the log."


def lane_states(masks, obj: int, num_frames: int) -> np.ndarray:
    """Per frame: NONE = never computed, ABSENT_STATE = computed and absent, PRESENT."""
    st = np.zeros(num_frames, np.uint8)
    f = np.asarray([i for i in masks.frames(obj) if i < num_frames], dtype=np.int64)
    if f.size:
        st[f] = ABSENT_STATE
    p = np.asarray([i for i in masks.present_frames(obj) if i < num_frames], dtype=np.int64)
    if p.size:
        st[p] = PRESENT
    return st


def view_state(session, previous: ViewState | None = None, refresh_lanes: bool = True) -> ViewState:
    """Snapshot of what the UI shows, timeline lanes included; called on the controller thread.

    The lanes of ``previous`` are reused when the masks did not change, and with
    ``refresh_lanes=False`` also when they did (but not when the video or the objects did).
    """
    p = session.project
    n = len(session.video)
    key = (id(p), p.masks.revision, n, tuple(sorted(p.objects)))
    old = () if previous is None else previous.lanes_key
    if old and (old == key or (not refresh_lanes and (old[0], old[2], old[3]) == (key[0], key[2], key[3]))):
        lanes, key = previous.lanes, old
    else:
        lanes = {i: lane_states(p.masks, i, n) for i in p.objects}
    return ViewState(
        objects={i: copy.copy(o) for i, o in p.objects.items()},
        keyframes={i: session.keyframes(i) for i in p.objects},
        stale={i: frozenset(s) for i, s in p.stale.items() if s},
        dirty=p.dirty,
        path=p.path,
        engine_name=session.engine_name,
        device=str(session.device),
        random_weights=session.is_random_weights,
        revision=(id(p), getattr(p, "_edits", object()), p.masks.revision),
        lanes=lanes,
        lanes_key=key,
        damaged={i: frozenset(f) for i in p.objects if (f := p.damaged_frames(i))},
        read_only=p.read_only,
        classes=tuple(p.class_names()),
    )


# ---- jobs ----------------------------------------------------------------------------
def open_session(source, engine: str = "auto", *, read_only: bool = False, **options):
    """Job function: open a video, folder or project file as a new session. A project file is
    opened for writing (its lock held while it is open) unless ``read_only``."""
    from ..session import Session

    def fn(ctx: JobContext):
        session = Session.open(source, engine=engine, lock=not read_only, read_only=read_only, **options)
        ctx.set_session(session)
        return session

    return fn


def rerun_damaged():
    """Job function: make the masks found damaged in the project file again, streaming them."""

    def fn(ctx: JobContext):
        s = ctx.session
        plan = s.project.damaged_rerun_plan()
        total = sum(len(frames) for st in plan for _, frames in s.engine.iter_range(st.start, st.direction,
                                                                                    st.frame_range))
        ctx.progress(0, total)
        done = 0
        ctx.job.params["masks"] = 0
        gen = s.rerun_damaged(cancel=ctx.cancel)
        try:
            for frame, result in gen:
                done += 1
                if result:
                    ctx.job.params["masks"] += 1
                ctx.changed(frame, list(result))
                ctx.progress(done, total)
                ctx.between_frames()
                if ctx.cancel.is_set():
                    break
        finally:
            gen.close()
        return done

    return fn


def switch_engine(engine: str, **options):
    """Job function: keep the project and video, segment with a new engine (prompts replay lazily)."""

    def fn(ctx: JobContext):
        session = ctx.session.switch_engine(engine, **options)
        ctx.set_session(session)  # the same session: nothing is closed
        return session

    return fn


def propagate(start: int, direction: str = "both", frame_range=None, objects=None):
    """Job function: propagate and stream the masks as they come.

    ``objects`` limits the run to some objects (e.g. the corrected ones); the others keep
    their masks.
    """

    def fn(ctx: JobContext):
        s = ctx.session
        plan = s.engine.iter_range(int(start), direction, frame_range)
        total = sum(len(frames) for _, frames in plan)
        objs = None if objects is None else [int(o) for o in objects]
        ctx.progress(0, total)
        done = 0
        ctx.job.params["masks"] = 0  # frames that brought masks
        gen = s.propagate(int(start), direction, frame_range, objects=objs, cancel=ctx.cancel)
        try:
            for frame, result in gen:
                changed = list(result)
                done += 1
                if changed:
                    ctx.job.params["masks"] += 1
                ctx.changed(frame, changed)
                ctx.progress(done, total)
                ctx.between_frames()
                if ctx.cancel.is_set():
                    break
        finally:
            gen.close()
        return done

    return fn
