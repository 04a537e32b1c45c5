"""The live tracker: the newest camera frame is always the one processed (see
:mod:`sam2studio.live` for how engines track a stream of unknown length)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.cameras import StreamEnded
from ..core.objects import TrackedObject, default_color
from ..core.prompts import FramePrompt
from ..engines import Engine, ObjectMask, create_engine
from ..errors import UserError
from ..session import Session
from .recorder import Recorder
from .stream import Captured, StreamVideo

DEFAULT_WINDOW = {"classic": 100_000, "sam2": 600}


# ---- results and statistics ----------------------------------------------------------------
@dataclass
class LiveFrame:
    """What :meth:`LiveTracker.step` returns: a frame and its masks."""

    index: int  # tracked frames so far (0-based), or -1 for a preview frame
    seq: int  # the camera's frame number
    t: float  # the camera's timestamp, seconds
    rgb: np.ndarray
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    scores: dict[int, float] = field(default_factory=dict)
    latency: float | None = None  # seconds from capture to masks (None for a preview)
    dropped: int = 0  # frames dropped so far

    @property
    def tracking(self) -> bool:
        return self.index >= 0


@dataclass
class LiveStats:
    """Live tracking figures since tracking started (the first prompt)."""

    frames: int = 0  # frames tracked
    captured: int = 0  # frames the camera delivered
    dropped: int = 0  # delivered but never processed (overwritten by a newer one)
    source_skipped: int = 0  # frames the source itself skipped (FakeCamera read late)
    fps: float = 0.0  # frames tracked per second
    camera_fps: float = 0.0  # frames delivered per second
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    latency_mean_ms: float = 0.0
    latency_max_ms: float = 0.0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.fps:5.1f} fps (camera {self.camera_fps:.1f}), latency p50 {self.latency_p50_ms:.0f} ms "
                f"p95 {self.latency_p95_ms:.0f} ms, {self.frames} tracked, {self.dropped} dropped")

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}



# ---- the tracker ---------------------------------------------------------------------------
class LiveTracker:
    """Track objects on a live camera in real time (see the module docstring).

    Typical use (e.g. from a QThread)::

        tracker = LiveTracker(CameraVideo(0), engine="classic", record="live.s2s")
        frame = tracker.step()                     # a preview frame: nothing tracked yet
        tracker.add_click(320, 240)                # object 1 on the frame shown
        while running:
            frame = tracker.step()                 # newest frame, tracked: frame.masks
        print(tracker.stats().line())
        tracker.close()                            # stops, writes the recording

    ``engine`` is a name (``classic``, ``sam2``, ``auto``, with ``engine_options`` as for
    :func:`~sam2studio.engines.create_engine`) or an Engine (not opened: the tracker opens it
    on its windows). ``window`` overrides the window length (frames).
    """

    def __init__(self, camera, engine: str | Engine = "classic", *, record: str | Path | None = None,
                 window: int | None = None, jpeg_quality: int = 92, **engine_options) -> None:
        self.camera = camera
        self.engine = engine if isinstance(engine, Engine) else create_engine(engine, **engine_options)
        if hasattr(self.engine, "PREFETCH"):
            self.engine.PREFETCH = 0  # frames ahead do not exist yet (see the module docstring)
        self.window = int(window or DEFAULT_WINDOW.get(self.engine.name, 1000))
        if self.window < 2:
            raise UserError(f"the live window must be at least 2 frames, got {self.window}")
        self.fps = float(getattr(camera, "fps", 30.0) or 30.0)
        self._jpeg_quality = int(jpeg_quality)
        self._recorder = Recorder(record, jpeg_quality) if record is not None else None
        self._seed_recording = False  # the next recorded frame carries the objects' masks as prompts
        self.objects: dict[int, TrackedObject] = {}
        self._lock = threading.RLock()
        # capture thread and its one-frame slot
        self._cond = threading.Condition()
        self._slot: Captured | None = None
        self._seq = 0
        self._captured = 0
        self._dropped = 0
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # tracking state
        self.current: Captured | None = None  #: the frame shown last
        self.current_masks: dict[int, ObjectMask] = {}
        self._video: StreamVideo | None = None
        self._session: Session | None = None  # on the current window
        self._gen = None
        self._skip: int | None = None
        self._frame_prompts: dict[int, FramePrompt] = {}  # prompts on the current frame
        self._prompt_seq: int | None = None
        self._rec_seq: int | None = None  # camera seq of the last recorded frame
        self._rec_index = -1
        self._tracked = 0
        # statistics
        self._latencies: deque[float] = deque(maxlen=100_000)
        self._stats_t0: float | None = None
        self._first_done: float | None = None
        self._last_done: float | None = None
        self._captured0 = self._dropped0 = self._skipped0 = 0
        self._closed = False

    # ---- capture -------------------------------------------------------------------------
    def start(self) -> None:
        """Start reading the camera (done by the first :meth:`step` otherwise)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._capture_loop, name="sam2studio-capture", daemon=True)
            self._thread.start()

    def _capture_loop(self) -> None:
        try:
            while not self._stop.is_set():
                t, rgb = self.camera.read()
                cap_time = time.monotonic()
                with self._cond:
                    if self._slot is not None:
                        self._dropped += 1
                    self._slot = Captured(self._seq, float(t), np.asarray(rgb), cap_time)
                    self._seq += 1
                    self._captured += 1
                    self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - the end of a file, a camera that stops: told to step()
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _pull(self, timeout: float | None = None) -> Captured:
        """The newest camera frame (waiting for one); raises StreamEnded at the end."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None:
                if self._stop.is_set() and not self._ended:  # stop() while a camera stalls
                    raise StreamEnded("stopped")
                if self._ended:
                    err = self._error
                    if err is None or isinstance(err, StreamEnded):
                        raise StreamEnded(str(err) if err else "the camera stopped")
                    if isinstance(err, Exception):
                        raise err
                    raise StreamEnded("the camera stopped")
                wait = 0.5 if deadline is None else deadline - time.monotonic()
                if wait <= 0:
                    raise TimeoutError("no frame came from the camera in time")
                self._cond.wait(min(wait, 0.5))
            cap, self._slot = self._slot, None
            return cap

    # ---- stepping ------------------------------------------------------------------------
    @property
    def tracking(self) -> bool:
        """Whether objects are being tracked (a prompt was given)."""
        return self._gen is not None

    def step(self, timeout: float | None = None) -> LiveFrame:
        """Process the newest frame: track it (after a prompt), or else return it as a preview.

        Raises :class:`StreamEnded` when the camera has no more frames, TimeoutError when no
        frame came within ``timeout`` seconds.
        """
        with self._lock:
            self._check_open()
            self.start()
            if self._gen is None:
                cap = self._pull(timeout)
                self.current, self.current_masks = cap, {}
                with self._cond:
                    dropped = self._dropped
                return LiveFrame(-1, cap.seq, cap.t, cap.rgb, dropped=dropped)
            while True:
                try:
                    f, result = next(self._gen)
                except StopIteration:  # the window is used up: carry on in a new one
                    self._new_window({})
                    continue
                if self._skip is not None and f == self._skip:
                    self._skip = None
                    continue
                break
            done = time.monotonic()
            cap = self._video.captured(f)
            self.current, self.current_masks = cap, dict(result)
            latency = done - cap.arrival
            self._latencies.append(latency)
            if self._first_done is None:
                self._first_done = done
            self._last_done = done
            self._tracked += 1
            if self._recorder is not None:
                self._rec_index = self._recorder.add(cap, result)
                self._rec_seq = cap.seq
                if self._seed_recording:  # a recording started mid-stream: its first frame's masks
                    self._seed_recording = False
                    for o, om in result.items():
                        if om.mask.any():
                            self._recorder.prompts.append((self._rec_index, o, FramePrompt.from_mask(om.mask)))
            with self._cond:
                dropped = self._dropped - self._dropped0
            return LiveFrame(self._tracked - 1, cap.seq, cap.t, cap.rgb,
                             masks={o: om.mask for o, om in result.items()},
                             scores={o: float(om.score) for o, om in result.items()},
                             latency=latency, dropped=dropped)

    def run(self, duration: float | None = None, max_frames: int | None = None,
            on_frame: Callable[[LiveFrame], None] | None = None,
            stop: threading.Event | None = None) -> LiveStats:
        """:meth:`step` until ``duration`` seconds, ``max_frames`` tracked frames, ``stop`` or
        the end of the stream; ``on_frame(frame)`` after each. Returns :meth:`stats`."""
        t_end = None if duration is None else time.monotonic() + duration
        start = self._tracked
        while True:
            if stop is not None and stop.is_set():
                break
            if t_end is not None and time.monotonic() >= t_end:
                break
            if max_frames is not None and self._tracked - start >= max_frames:
                break
            try:
                lf = self.step(timeout=None if t_end is None else max(0.05, t_end - time.monotonic() + 1.0))
            except (StreamEnded, TimeoutError):
                break
            if on_frame is not None:
                on_frame(lf)
        return self.stats()

    def stats(self) -> LiveStats:
        """Figures since tracking started (the first prompt)."""
        with self._cond:
            captured = self._captured - self._captured0
            dropped = self._dropped - self._dropped0
        skipped = int(getattr(self.camera, "skipped", 0)) - self._skipped0
        lat = np.asarray(self._latencies, np.float64) * 1000.0
        s = LiveStats(frames=self._tracked, captured=captured, dropped=dropped, source_skipped=skipped)
        if self._stats_t0 is not None:
            s.seconds = time.monotonic() - self._stats_t0
            if s.seconds > 0:
                s.camera_fps = captured / s.seconds
        if self._first_done is not None and self._tracked > 1 and self._last_done > self._first_done:
            s.fps = (self._tracked - 1) / (self._last_done - self._first_done)
        if len(lat):
            s.latency_p50_ms = float(np.percentile(lat, 50))
            s.latency_p95_ms = float(np.percentile(lat, 95))
            s.latency_mean_ms = float(lat.mean())
            s.latency_max_ms = float(lat.max())
        return s

    # ---- prompts -------------------------------------------------------------------------
    def _object(self, obj: int | None, name: str | None) -> int:
        if obj is None:
            obj = max(self.objects, default=0) + 1
        obj = int(obj)
        if obj <= 0:
            raise UserError(f"object ids are positive integers, got {obj}")
        if obj not in self.objects:
            self.objects[obj] = TrackedObject(obj, name or "")
        elif name:
            self.objects[obj].name = name
        return obj

    def _prompt(self, obj: int | None, name: str | None, update) -> tuple[int, np.ndarray]:
        with self._lock:
            self._check_open()
            if self.current is None:
                self.step()
            obj = self._object(obj, name)
            if self._prompt_seq != self.current.seq:
                self._frame_prompts, self._prompt_seq = {}, self.current.seq
            old = self._frame_prompts.get(obj)
            self._frame_prompts[obj] = update(old if old is not None else FramePrompt())
            self._new_window(self._frame_prompts)
            om = self.current_masks.get(obj)
            return obj, (om.mask if om is not None else np.zeros(self.current.rgb.shape[:2], bool))

    def add_click(self, x: float, y: float, obj: int | None = None, positive: bool = True,
                  name: str | None = None) -> tuple[int, np.ndarray]:
        """A click on the frame shown last (:attr:`current`) for ``obj`` (default: a new
        object); clicks on the same frame add up. Returns ``(obj, its mask there)``."""
        def update(p: FramePrompt) -> FramePrompt:
            keep = p.mask_rle is None
            return FramePrompt(points=(list(p.points) if keep else []) + [(float(x), float(y))],
                               labels=(list(p.labels) if keep else []) + [int(bool(positive))],
                               box=p.box if keep else None)
        return self._prompt(obj, name, update)

    def add_box(self, box, obj: int | None = None, name: str | None = None) -> tuple[int, np.ndarray]:
        """A box ``(x0, y0, x1, y1)`` on the frame shown last for ``obj`` (default: a new one)."""
        def update(p: FramePrompt) -> FramePrompt:
            keep = p.mask_rle is None
            return FramePrompt(points=list(p.points) if keep else [], labels=list(p.labels) if keep else [],
                               box=tuple(float(v) for v in box))
        return self._prompt(obj, name, update)

    def add_mask(self, mask: np.ndarray, obj: int | None = None, name: str | None = None) -> tuple[int, np.ndarray]:
        """``obj``'s mask on the frame shown last (a brush result)."""
        return self._prompt(obj, name, lambda p: FramePrompt.from_mask(np.asarray(mask, bool)))

    def remove_object(self, obj: int) -> None:
        """Stop tracking ``obj`` (and drop it from the recording)."""
        with self._lock:
            obj = int(obj)
            self.objects.pop(obj, None)
            self._frame_prompts.pop(obj, None)
            self.current_masks.pop(obj, None)
            if self._recorder is not None:
                self._recorder.remove_object(obj)
            if self.objects and self.current is not None:
                self._new_window({o: p for o, p in self._frame_prompts.items()})
            elif not self.objects:
                self._gen = None
                if self._session is not None and obj in self._session.objects:
                    self._session.remove_object(obj)

    def _new_window(self, prompts: dict[int, FramePrompt]) -> None:
        """Start a window on :attr:`current`: every object seeded with its current mask, then
        ``prompts`` on top. Updates :attr:`current_masks` (and the recording)."""
        cap = self.current
        video = StreamVideo(cap, self._pull, self.window, self.fps)
        if self._gen is not None:
            self._gen.close()
            self._gen = None
        session = self._session = Session.on_stream(video, self.engine)
        self._video = video

        def seeded(o: int, mask: np.ndarray) -> ObjectMask:
            return ObjectMask(mask, float(session.score(0, o) or 0.0))

        masks: dict[int, ObjectMask] = {}
        for o in sorted(self.objects):
            om = self.current_masks.get(o)
            p = prompts.get(o)
            if p is not None and p.mask_rle is not None:
                masks[o] = seeded(o, session.set_mask(0, o, p.mask))
            elif om is not None and om.mask.any():
                # the current mask carries the object over; clicks there refine it
                masks[o] = seeded(o, session.set_mask(0, o, om.mask))
        for o, p in sorted(prompts.items()):
            if p.mask_rle is not None or o not in self.objects:
                continue
            masks[o] = seeded(o, session.set_points(0, o, p.points, p.labels, box=p.box))
        self.current_masks = masks
        if not masks:
            self._gen = None
            return
        if self._stats_t0 is None:  # tracking starts: count from here
            self._stats_t0 = time.monotonic()
            with self._cond:
                # a frame already waiting in the slot was captured before, but is tracked after
                waiting = 1 if self._slot is not None else 0
                self._captured0, self._dropped0 = self._captured - waiting, self._dropped
            self._skipped0 = int(getattr(self.camera, "skipped", 0))
        self._gen = session.propagate(0, "forward", store=False)
        self._skip = 0
        if self._recorder is not None:
            if self._rec_seq == cap.seq:
                self._recorder.set_masks(self._rec_index, masks)
            else:
                self._rec_index = self._recorder.add(cap, masks)
                self._rec_seq = cap.seq
            for o, p in prompts.items():
                self._recorder.prompts = [q for q in self._recorder.prompts if (q[0], q[1]) != (self._rec_index, o)]
                self._recorder.prompts.append((self._rec_index, o, p.copy()))

    # ---- recording ------------------------------------------------------------------------
    @property
    def recording(self) -> Path | None:
        """The project being recorded to, or None."""
        return None if self._recorder is None else self._recorder.path

    def start_recording(self, path: str | Path) -> Path:
        """Record from the next tracked frame on, also while tracking: the frames, the masks and,
        on the first recorded frame, each object's mask as a mask prompt (the project opens ready
        to correct and propagate). Returns the project path."""
        with self._lock:
            self._check_open()
            if self._recorder is not None:
                raise UserError(f"already recording to {self._recorder.path.name}")
            self._recorder = Recorder(path, self._jpeg_quality)
            self._seed_recording = self.tracking
            self._rec_seq, self._rec_index = None, -1
            return self._recorder.path

    def stop_recording(self) -> Path | None:
        """Stop recording (tracking goes on) and write the project; returns its path (None when
        nothing was recorded)."""
        with self._lock:
            rec, self._recorder = self._recorder, None
            self._seed_recording = False
            if rec is None:
                return None
            return rec.finish(self.objects, {"engine": self.engine.name, "live": self.stats().to_dict()})

    # ---- lifetime ------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this live tracker is closed")

    def interrupt(self) -> None:
        """From any thread, without waiting: stop reading the camera, so that a :meth:`step`
        waiting for a frame ends (StreamEnded) within half a second, even on a stalled camera."""
        self._stop.set()

    def stop(self) -> None:
        """Stop reading the camera (the tracker can still be closed and its recording written)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def close(self, close_camera: bool = True) -> Path | None:
        """Stop, write the recording (returns the project's path, if recording) and free
        the engine; closes the camera unless ``close_camera=False``."""
        if self._closed:
            return None
        self.stop()
        with self._lock:
            self._closed = True
            if self._gen is not None:
                self._gen.close()
                self._gen = None
            path = None
            try:
                if self._recorder is not None:
                    st = self.stats()
                    path = self._recorder.finish(self.objects, {"engine": self.engine.name, "live": st.to_dict()})
            finally:
                if self._session is not None:
                    self._session.close()  # the engine and the last window
                else:
                    self.engine.close()
                if close_camera and hasattr(self.camera, "close"):
                    self.camera.close()
        return path

    def __enter__(self) -> LiveTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def overlay(rgb: np.ndarray, masks: dict[int, np.ndarray], colors: dict[int, tuple] | None = None,
            alpha: float = 0.5) -> np.ndarray:
    """``rgb`` with each mask tinted in its object's colour (a new array)."""

    out = rgb.copy()
    for o, m in masks.items():
        if m is None or not m.any():
            continue
        c = np.asarray((colors or {}).get(o) or default_color(o), np.float32)
        px = out[m].astype(np.float32)
        out[m] = (px * (1 - alpha) + c * alpha).astype(np.uint8)
    return out
