"""Live tracking from a camera: :class:`LiveTracker` (Qt-free) and the ``live`` command.

A camera is any object with ``read() -> (seconds, rgb)`` that blocks for the next frame
(:class:`~sam2studio.core.video.CameraVideo`, or :class:`FakeCamera`, which plays a video file
at its real frame rate through the same interface). The tracker reads it on its own capture
thread into a one-frame slot, so **the newest frame is always the one processed**: a frame
the tracker had no time for is overwritten by the next one and counted as dropped. Latency is
measured from the moment a frame came out of ``read()`` to the moment its masks are ready.

How an engine tracks a stream of unknown length. Engines propagate over a
:class:`~sam2studio.core.video.VideoSource` of known length, so the tracker feeds them a
*window*: a :class:`StreamVideo` of ``window`` frames whose frames are bound on demand -- the
first time the engine asks for frame ``i``, it gets the newest camera frame (waiting for one
if needed). One ``propagate(0, "forward")`` over the window then tracks frame by frame as
frames arrive, through the engines' public methods only. Window frame 0 is the frame the
prompts were given on; when the user adds or corrects a prompt, or the window is used up, a
new window starts on the current frame, seeded with every object's current mask (a mask
prompt) plus the new clicks. Only a few recent frames are kept.

* The classic engine tracks frame to frame by nature; its window is long (100 000 frames) so
  it is only re-seeded by prompts.
* SAM 2 keeps a memory of past frames per object; a window bounds what a stream can
  accumulate (default 600 frames, 20 s at 30 fps). At a window change SAM 2's memory restarts
  from the carried mask (one conditioning frame): the price of bounded memory and of using
  the predictor's public API (``init_state`` / ``add_new_mask`` / ``propagate_in_video``)
  rather than re-implementing its per-frame loop with ``track_step``. The tracker sets the
  engine's frame prefetch off (``PREFETCH = 0``): frames ahead of the one being processed do
  not exist yet, and binding them early would make them stale.

Recording (``record=PATH``): the tracked frames (not the dropped ones) are written as JPEGs to
``PATH``'s stem + ``_frames/`` beside it, on a background thread, and their masks kept; on
:meth:`LiveTracker.close` a project (``.s2s``) is saved on that image folder, with the
objects, the prompts (on the recorded frame where they were given) and every mask, at the
tracking frame rate. It opens like any project (``Session.open(PATH)``), e.g. to re-run it
offline with SAM 2.

Threads: one thread drives the tracker (:meth:`step` / :meth:`run`, a QThread in the GUI);
prompts (:meth:`add_click`, :meth:`add_box`, :meth:`add_mask`, :meth:`remove_object`) may come
from any thread -- they take the tracker's lock, so they wait for the frame being processed
and apply to the frame shown last (:attr:`current`).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import queue
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core.objects import TrackedObject
from .core.prompts import FramePrompt
from .core.video import VideoSource
from .engines import Engine, ObjectMask, create_engine
from .errors import UserError, VideoError

log = logging.getLogger(__name__)

DEFAULT_WINDOW = {"classic": 100_000, "sam2": 600}
KEEP_FRAMES = 8


class StreamEnded(VideoError):
    """The camera (or the file played as one) has no more frames."""


# ---- cameras -------------------------------------------------------------------------------
class FakeCamera:
    """A video file (or folder, VideoSource, or synthetic clip) played through the camera
    interface: ``read() -> (seconds since the first read, rgb)``.

    With ``realtime=True`` frame ``i`` is delivered at ``i / (fps * speed)`` seconds after the
    first read: ``read()`` waits for the next frame when called early, and when called late it
    returns the frame due now, skipping the ones in between (:attr:`skipped`), as a camera
    does. With ``realtime=False`` every frame is returned in turn, as fast as read. At the end
    it raises :class:`StreamEnded`, or starts over with ``loop=True``.
    """

    kind = "camera"

    def __init__(self, source, realtime: bool = True, *, loop: bool = False, speed: float = 1.0,
                 fps: float | None = None) -> None:
        from .core.video import open_video

        if isinstance(source, VideoSource):
            self.video = source
        elif hasattr(source, "video") and callable(source.video):  # a SyntheticClip
            self.video = source.video()
        else:
            self.video = open_video(source)
        if len(self.video) == 0:
            raise VideoError(f"{self.video.name} has no frames")
        if not speed > 0:
            raise UserError(f"speed must be positive, got {speed}")
        self.fps = float(fps or self.video.fps or 30.0)
        self.width, self.height = self.video.width, self.video.height
        self.realtime = bool(realtime)
        self.loop = bool(loop)
        self.speed = float(speed)
        self.delivered = 0  #: frames returned by read()
        self.skipped = 0  #: frames passed over because read() was called late
        self._t0: float | None = None
        self._last = -1
        self._closed = False

    @property
    def name(self) -> str:
        return f"{self.video.name} (as a camera)"

    def read(self) -> tuple[float, np.ndarray]:
        if self._closed:
            raise VideoError(f"{self.name} is closed")
        now = time.monotonic()
        rate = self.fps * self.speed
        if self._t0 is None:
            self._t0, idx = now, 0
        elif self.realtime:
            idx = int((now - self._t0) * rate + 1e-9)
            if idx <= self._last:
                idx = self._last + 1
                time.sleep(max(0.0, self._t0 + idx / rate - time.monotonic()))
            else:
                self.skipped += idx - self._last - 1
        else:
            idx = self._last + 1
        n = len(self.video)
        if idx >= n and not self.loop:
            raise StreamEnded(f"{self.video.name} has ended")
        frame = self.video.get_frame(idx % n)
        self._last = idx
        self.delivered += 1
        return time.monotonic() - self._t0, frame

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.video.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Captured:
    """One frame as it came from the camera."""

    seq: int  # how many frames the camera had delivered before it
    t: float  # the camera's timestamp, seconds
    rgb: np.ndarray
    arrival: float  # time.monotonic() when read() returned it


class StreamVideo(VideoSource):
    """A window of a live stream as a VideoSource of ``capacity`` frames.

    Frame 0 is given; frame ``i > 0`` is bound the first time it is asked for, to what
    ``supplier()`` returns then (the newest camera frame, waiting for one). Only frame 0 and
    the last ``keep`` frames are kept; asking for an older one raises IndexError.
    """

    kind = "stream"

    def __init__(self, first: Captured, supplier: Callable[[], Captured], capacity: int, fps: float,
                 keep: int = KEEP_FRAMES) -> None:
        h, w = first.rgb.shape[:2]
        super().__init__(None, w, h, fps, max(2, int(capacity)), cache_frames=1)
        self._supplier = supplier
        self._frames: OrderedDict[int, Captured] = OrderedDict({0: first})
        self._next = 1
        self._keep = max(2, int(keep))

    @property
    def bound(self) -> int:
        """How many frames have been bound so far."""
        return self._next

    def captured(self, index: int) -> Captured:
        with self._lock:
            cap = self._frames.get(int(index))
        if cap is None:
            raise IndexError(f"frame {index} of the live window is not kept")
        return cap

    def get_frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            while index >= self._next:
                cap = self._supplier()
                if cap.rgb.shape[:2] != (self.height, self.width):
                    raise VideoError(f"the camera changed its frame size to {cap.rgb.shape[1]}x"
                                     f"{cap.rgb.shape[0]} (was {self.width}x{self.height})")
                self._frames[self._next] = cap
                self._next += 1
                while len(self._frames) > self._keep + 1:
                    oldest = next(k for k in self._frames if k != 0)
                    del self._frames[oldest]
            return self.captured(index).rgb

    def _read(self, index: int) -> np.ndarray:  # pragma: no cover - get_frame is overridden
        return self.get_frame(index)


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


# ---- recording -----------------------------------------------------------------------------
class _Recorder:
    """Tracked frames to a JPEG folder (background thread), masks and prompts kept for the
    project written by :meth:`finish`."""

    def __init__(self, path: str | Path, quality: int = 92) -> None:
        from .core.project import PROJECT_SUFFIX

        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(PROJECT_SUFFIX)
        if path.is_dir():
            raise UserError(f"--record {path} is a folder; give a project file name such as live.s2s")
        self.path = path
        self.frames_dir = path.parent / f"{path.stem}_frames"
        if self.frames_dir.exists() and (not self.frames_dir.is_dir() or any(self.frames_dir.iterdir())):
            raise UserError(f"{self.frames_dir} already exists and is not empty; choose another project name")
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot write {self.frames_dir}: {exc.strerror or exc}") from exc
        self.quality = int(quality)
        self.masks = None  # MaskStore, made on the first frame
        self.prompts: list[tuple[int, int, FramePrompt]] = []
        self.times: list[float] = []
        self._queue: queue.Queue = queue.Queue(maxsize=32)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="sam2studio-record", daemon=True)
        self._thread.start()

    def _write_loop(self) -> None:
        import cv2

        while True:
            item = self._queue.get()
            if item is None:
                return
            index, rgb = item
            if self._error is not None:
                continue
            try:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    raise OSError("JPEG encoding failed")
                (self.frames_dir / f"{index:06d}.jpg").write_bytes(buf.tobytes())
            except BaseException as exc:  # reported by finish()
                self._error = exc

    @property
    def count(self) -> int:
        return len(self.times)

    def add(self, cap: Captured, masks: dict[int, ObjectMask]) -> int:
        from .core.masks import MaskStore

        if self.masks is None:
            h, w = cap.rgb.shape[:2]
            self.masks = MaskStore(h, w)
        index = len(self.times)
        self.times.append(cap.t)
        self._queue.put((index, cap.rgb))
        self.set_masks(index, masks)
        return index

    def set_masks(self, index: int, masks: dict[int, ObjectMask]) -> None:
        for o, om in masks.items():
            self.masks.set(index, o, om.mask, om.score)

    def remove_object(self, obj: int) -> None:
        if self.masks is not None:
            self.masks.remove_object(obj)
        self.prompts = [p for p in self.prompts if p[1] != obj]

    def finish(self, objects: dict[int, TrackedObject], settings: dict) -> Path | None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise UserError(f"recording to {self.frames_dir} failed: {self._error}")
        if self.count == 0:
            log.warning("nothing was tracked, so nothing was recorded")
            try:
                self.frames_dir.rmdir()
            except OSError:
                pass
            return None
        from .core.project import Project
        from .core.video import open_video

        span = self.times[-1] - self.times[0]
        fps = (self.count - 1) / span if self.count > 1 and span > 0 else 30.0
        video = open_video(self.frames_dir, fps=fps)
        try:
            project = Project.for_video(video)
        finally:
            video.close()
        for o in sorted(objects):
            project.add_object(TrackedObject(o, objects[o].name, objects[o].color))
        for index, o, p in self.prompts:
            if o in objects:
                project.prompts.set(index, o, p)
        for f, o, e in self.masks.items():
            if o in objects:
                project.masks.set_rle(f, o, e.rle, e.score, e.area)
        project.settings.update(settings)
        return project.save(self.path)


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
        self._recorder = _Recorder(record, jpeg_quality) if record is not None else None
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
        except BaseException as exc:  # the end of a file, a camera that stops: told to step()
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
                self.engine.reset()

    def _new_window(self, prompts: dict[int, FramePrompt]) -> None:
        """Start a window on :attr:`current`: every object seeded with its current mask, then
        ``prompts`` on top. Updates :attr:`current_masks` (and the recording)."""
        cap = self.current
        video = StreamVideo(cap, self._pull, self.window, self.fps)
        if self._gen is not None:
            self._gen.close()
            self._gen = None
        self.engine.open(video)
        self._video = video
        masks: dict[int, ObjectMask] = {}
        for o in sorted(self.objects):
            om = self.current_masks.get(o)
            p = prompts.get(o)
            if p is not None and p.mask_rle is not None:
                masks[o] = self.engine.add_mask(0, o, p.mask).get(o, ObjectMask(p.mask, 1.0))
            elif om is not None and om.mask.any():
                # the current mask carries the object over; clicks there refine it
                masks[o] = self.engine.add_mask(0, o, om.mask).get(o, om)
        for o, p in sorted(prompts.items()):
            if p.mask_rle is not None or o not in self.objects:
                continue
            res = self.engine.add_prompt(0, o, points=p.points or None, labels=p.labels or None, box=p.box)
            if o in res:
                masks[o] = res[o]
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
        self._gen = self.engine.propagate(0, "forward")
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
                self.engine.close()
                if close_camera and hasattr(self.camera, "close"):
                    self.camera.close()
        return path

    def __enter__(self) -> LiveTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---- drawing -------------------------------------------------------------------------------
def overlay(rgb: np.ndarray, masks: dict[int, np.ndarray], colors: dict[int, tuple] | None = None,
            alpha: float = 0.5) -> np.ndarray:
    """``rgb`` with each mask tinted in its object's colour (a new array)."""
    from .core.objects import default_color

    out = rgb.copy()
    for o, m in masks.items():
        if m is None or not m.any():
            continue
        c = np.asarray((colors or {}).get(o) or default_color(o), np.float32)
        px = out[m].astype(np.float32)
        out[m] = (px * (1 - alpha) + c * alpha).astype(np.uint8)
    return out


class _Window:
    """An OpenCV window with mouse clicks, when OpenCV has a GUI and there is a display."""

    NAME = "SAM2 Studio live"

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.clicks: list[tuple[int, int, bool]] = []
        cv2.namedWindow(self.NAME, cv2.WINDOW_AUTOSIZE)
        cv2.setMouseCallback(self.NAME, self._mouse)

    @classmethod
    def open(cls) -> _Window | None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return None
        try:
            return cls()
        except Exception:  # cv2.error: opencv-python-headless has no highgui
            return None

    def _mouse(self, event, x, y, flags, param) -> None:
        if event == self.cv2.EVENT_LBUTTONDOWN:
            self.clicks.append((x, y, True))
        elif event == self.cv2.EVENT_RBUTTONDOWN:
            self.clicks.append((x, y, False))

    def show(self, rgb: np.ndarray, text: str) -> int:
        cv2 = self.cv2
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.putText(bgr, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.imshow(self.NAME, bgr)
        return cv2.waitKey(1) & 0xFF

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.NAME)
        except Exception:
            pass


# ---- command line --------------------------------------------------------------------------
HELP = """Track objects live from a camera (or a video file played as one), dropping frames to stay
live: the newest frame is always the one processed. Give the objects with --click/--box (on
the first frame, after --delay seconds). OpenCV's window, where you could click and watch,
needs a display and a full OpenCV build: with opencv-python-headless (the default install)
there is no window, so fps and latency are printed to stderr once a second, and --record
writes what was tracked (frames and masks) to a project you can open in the app. Stop with
Ctrl-C, --duration or --max-frames."""


def _parse_live_click(spec: str) -> tuple[int, float, float, int]:
    from .cli import CliError

    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise CliError(f"--click {spec!r} must be OBJ:X:Y[:LABEL]")
    try:
        obj, x, y = int(parts[0]), float(parts[1]), float(parts[2])
        label = int(parts[3]) if len(parts) == 4 else 1
    except ValueError:
        raise CliError(f"--click {spec!r} must be OBJ:X:Y[:LABEL] with numbers") from None
    if obj <= 0 or label not in (0, 1):
        raise CliError(f"--click {spec!r}: OBJ is a positive integer and LABEL 1 or 0")
    return obj, x, y, label


def _parse_live_box(spec: str) -> tuple[int, tuple[float, float, float, float]]:
    from .cli import CliError

    parts = spec.split(":")
    if len(parts) != 5:
        raise CliError(f"--box {spec!r} must be OBJ:X0:Y0:X1:Y1")
    try:
        obj, box = int(parts[0]), tuple(float(v) for v in parts[1:])
    except ValueError:
        raise CliError(f"--box {spec!r} must be OBJ:X0:Y0:X1:Y1 with numbers") from None
    if obj <= 0:
        raise CliError(f"--box {spec!r}: OBJ is a positive integer")
    return obj, box  # type: ignore[return-value]


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .cli import _add_engine_options

    p = subparsers.add_parser("live", help="track objects live from a camera (prints fps/latency, can record)",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=0, metavar="N", help="camera index (default 0)")
    src.add_argument("--file", type=Path, metavar="VIDEO",
                     help="play a video file as a camera, at its real frame rate (for trying it out)")
    p.add_argument("--loop", action="store_true", help="with --file: start over at the end")
    p.add_argument("--click", action="append", default=[], metavar="OBJ:X:Y[:LABEL]",
                   help="a click on the first frame; LABEL 1 = positive (default), 0 = negative; repeatable")
    p.add_argument("--box", action="append", default=[], metavar="OBJ:X0:Y0:X1:Y1", help="a box on the first frame")
    p.add_argument("--name", action="append", default=[], metavar="OBJ:NAME", help="label an object")
    p.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                   help="watch this long before giving the prompts (default 0)")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N tracked frames")
    p.add_argument("--record", type=Path, metavar="PROJECT",
                   help="save the tracked frames (PROJECT_frames/ beside it) and masks as a project")
    p.add_argument("--window", type=int, default=None, metavar="FRAMES",
                   help="frames per tracking window (default: classic 100000, sam2 600)")
    p.add_argument("--no-window", action="store_true", help="never open a window, even with a display")
    p.add_argument("--status-every", type=float, default=1.0, metavar="SECONDS",
                   help="how often to print fps and latency to stderr (default 1; 0: only at the end)")
    _add_engine_options(p)
    return p


def run(args) -> int:
    from .cli import CliError, _engine_options, parse_name

    clicks = [_parse_live_click(s) for s in args.click]
    boxes = [_parse_live_box(s) for s in args.box]
    names = dict(parse_name(s) for s in args.name)
    if args.weights and args.engine == "classic":
        raise CliError("--weights random is for the sam2 engine, not classic")
    if args.delay < 0 or (args.duration is not None and args.duration <= 0):
        raise CliError("--delay must not be negative and --duration must be positive")
    if args.record is not None and args.record.is_dir():
        raise UserError(f"--record {args.record} is a folder; give a project file name such as live.s2s")
    window = None if args.no_window else _Window.open()
    if window is None and not (clicks or boxes):
        raise CliError("give the objects to track with --click OBJ:X:Y or --box OBJ:X0:Y0:X1:Y1 "
                       "(there is no window to click in: no display, or opencv-python-headless)")
    if args.file is not None:
        if not args.file.exists():
            raise UserError(f"{args.file} does not exist")
        camera = FakeCamera(args.file, realtime=True, loop=args.loop)
    else:
        from .core.video import CameraVideo

        camera = CameraVideo(args.camera)
    tracker = None
    try:
        tracker = LiveTracker(camera, args.engine, record=args.record, window=args.window, **_engine_options(args))
        print(f"live: {getattr(camera, 'name', 'camera')}, {tracker.engine.name} engine"
              + (f", recording to {args.record}" if args.record else ""), file=sys.stderr)
        t_prompt = time.monotonic() + args.delay
        frame = tracker.step()
        while time.monotonic() < t_prompt:
            frame = tracker.step()
            if window is not None:
                window.show(frame.rgb, "preview")
        for o, x, y, label in clicks:
            tracker.add_click(x, y, obj=o, positive=bool(label), name=names.get(o))
        for o, box in boxes:
            tracker.add_box(box, obj=o, name=names.get(o))
        current_obj = max(tracker.objects, default=1)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else math.inf
        while True:
            if t_end is not None and time.monotonic() >= t_end:
                break
            if args.max_frames is not None and tracker.stats().frames >= args.max_frames:
                break
            try:
                frame = tracker.step(timeout=5.0)
            except StreamEnded:
                break
            if window is not None:
                key = window.show(overlay(frame.rgb, frame.masks), f"object {current_obj}  "
                                  "(left/right click: +/-, n: new object, q: quit)")
                for x, y, positive in window.clicks:
                    tracker.add_click(x, y, obj=current_obj, positive=positive, name=names.get(current_obj))
                window.clicks.clear()
                if key in (ord("q"), 27):
                    break
                if key == ord("n"):
                    current_obj = max(tracker.objects, default=0) + 1
            if time.monotonic() >= next_status:
                areas = ", ".join(f"{o}: {int(np.count_nonzero(m))} px" for o, m in sorted(frame.masks.items()))
                print(f"live: {tracker.stats().line()}; objects {areas or 'none'}", file=sys.stderr)
                next_status += args.status_every
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live session ends: the recording is still written
    finally:
        if window is not None:
            window.close()
        if tracker is not None:
            stats = tracker.stats()
            path = tracker.close()
            print(f"live: done: {stats.line()}", file=sys.stderr)
            if path is not None:
                print(path)
        else:
            camera.close()
    return 0


__all__ = ["FakeCamera", "StreamVideo", "StreamEnded", "Captured", "LiveTracker", "LiveFrame", "LiveStats",
           "overlay", "add_parser", "run"]
