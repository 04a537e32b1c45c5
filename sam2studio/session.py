"""Session: the one way into SAM2 Studio's core, shared by the GUI, the CLI and batch runs.

A session is a project (objects, prompts, masks) on an open video with an engine::

    from sam2studio import Session

    s = Session.open("clip.mp4")                 # classic engine unless SAM 2 is installed
    s.add_object("dog")
    s.add_click(0, 1, 420, 300)                  # the mask on frame 0 comes back at once
    for frame, masks in s.propagate(0, "both"):  # stored as they come
        ...
    s.save("clip.s2s")

Prompts are the source of truth: they are kept in the project, fed to the engine, and replayed
into a fresh engine when a saved project is opened again. Masks live in the project's
:class:`~sam2studio.core.masks.MaskStore`. A session is not thread-safe: one thread drives it
(the GUI's inference controller thread); other threads may read its masks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .core.edits import (FrameSnapshot, ObjectSnapshot, restore_frame, restore_object, snapshot_frame,
                         snapshot_object, stroked)
from .core.masks import encode_rle
from .core.objects import TrackedObject
from .core.project import PROJECT_SUFFIX, Project
from .core.prompts import FramePrompt, PromptSet, read_mask_prompt
from .core.runs import RunPlan, RunSummary, plan_run
from .core.video import VideoSource, open_video
from .engines import Engine, ObjectMask, create_engine
from .engines.base import validate_prompt, validate_target
from .errors import PromptError, UserError
from .session_outputs import SessionOutputs

log = logging.getLogger(__name__)


class Session(SessionOutputs):
    """A project on an open video with a segmentation engine (what it gives back, exports and
    imports: :class:`~sam2studio.session_outputs.SessionOutputs`)."""

    def __init__(self, project: Project, video: VideoSource, engine: Engine) -> None:
        self.project = project
        self.video = video
        self.engine = engine
        self._synced = False  # prompts of the project replayed into the engine
        self.last_run: RunSummary | None = None  # what the latest propagation did, per object
        if not engine.is_open:
            engine.open(video)
        if len(project.prompts) == 0:
            self._synced = True

    # ---- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, source, *, engine: str | Engine = "auto", prompts: PromptSet | None = None,
             start: int | None = None, cli_flags: bool = False, lock: bool = False, read_only: bool = False,
             **engine_options) -> Session:
        """Open a video file, image folder, image, project file (``.s2s``) or VideoSource.

        With ``prompts`` (and ``start``), they are checked against the video (see
        :meth:`check_prompts`) before the engine, the slow part, is built. ``lock`` and
        ``read_only`` are for project files (see :meth:`load_project`).
        """
        if isinstance(source, (str, Path)) and Path(source).suffix.lower() == PROJECT_SUFFIX:
            return cls.load_project(source, engine=engine, lock=lock, read_only=read_only, **engine_options)
        video = source if isinstance(source, VideoSource) else open_video(source)
        try:
            if prompts is not None:
                cls.check_prompts(video, prompts, start, cli_flags=cli_flags)
            eng = cls._engine(engine, engine_options)
        except BaseException:
            if video is not source:
                video.close()
            raise
        return cls(Project.for_video(video), video, eng)

    @classmethod
    def on_stream(cls, video: VideoSource, engine: Engine) -> Session:
        """A session on a window of a live stream (see :mod:`sam2studio.live`): ``engine`` is
        (re)opened on ``video`` whether or not it was open, forgetting earlier windows."""
        engine.open(video)
        return cls(Project.for_video(video), video, engine)

    @classmethod
    def load_project(cls, path, *, engine: str | Engine = "auto", video: VideoSource | None = None,
                     lock: bool = False, read_only: bool = False, **engine_options) -> Session:
        """Open a saved project with its video (found by :meth:`Project.locate_video`).

        ``lock=True`` takes the project's write lock now (an editor): another process writing it
        raises :class:`~sam2studio.core.lock.ProjectLockedError`. ``read_only=True`` opens it
        whoever writes it; it can then only be saved under another name. Damaged masks in the
        file are listed by ``session.project.damaged_masks()`` (see :meth:`rerun_damaged`)."""
        project = Project.load(path, lock=lock, read_only=read_only)
        try:
            if video is None:
                video = open_video(project.locate_video())
            problems = project.check_video(video)
            if any("content" not in p for p in problems):
                raise UserError(f"{video.name} does not fit the project {Path(path).name}: " + "; ".join(problems))
            for p in problems:
                log.warning("%s: %s", video.name, p)
            return cls(project, video, cls._engine(engine, engine_options))
        except BaseException:
            project.close()
            raise

    @staticmethod
    def _engine(engine, options) -> Engine:
        return engine if isinstance(engine, Engine) else create_engine(engine, **options)

    def switch_engine(self, engine: str | Engine = "auto", **engine_options) -> Session:
        """Segment with another engine from now on; the project and the video stay. The prompts
        are replayed into the new engine when it is next needed. Returns the session."""
        new = self._engine(engine, engine_options)
        if not new.is_open:
            new.open(self.video)
        old, self.engine = self.engine, new
        self._synced = len(self.project.prompts) == 0
        if old is not new:
            try:
                old.close()
            except Exception:  # pragma: no cover - the new engine works; the old one is let go
                log.exception("closing the previous engine failed")
        return self

    def close(self) -> None:
        self.engine.close()
        self.video.close()
        self.project.close()  # lets go of the project file's write lock

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- facts -------------------------------------------------------------------------
    @property
    def masks(self):
        return self.project.masks

    @property
    def objects(self) -> dict[int, TrackedObject]:
        return self.project.objects

    @property
    def stale(self) -> dict[int, set[int]]:
        return self.project.stale

    @property
    def num_frames(self) -> int:
        return len(self.video)

    @property
    def engine_name(self) -> str:
        return self.engine.name

    @property
    def device(self) -> str:
        return self.engine.device

    @property
    def is_random_weights(self) -> bool:
        return bool(getattr(self.engine, "is_random_weights", False))

    # ---- objects -----------------------------------------------------------------------
    def add_object(self, name: str | None = None, color=None, obj_id: int | None = None, *,
                   category: str | None = None) -> TrackedObject:
        """A new object (next free id unless ``obj_id``); ``category`` is its class ("person"),
        shared with other objects and used by the exports that have classes."""
        oid = self.project.next_object_id() if obj_id is None else int(obj_id)
        if oid <= 0:
            raise PromptError(f"object id must be a positive integer, got {oid}")
        obj = TrackedObject(oid, name or "", tuple(color) if color else (0, 0, 0), category=category or "")
        return self.project.add_object(obj)

    def _ensure_object(self, obj: int) -> TrackedObject:
        if not isinstance(obj, (int, np.integer)) or obj <= 0:
            raise PromptError(f"object id must be a positive integer, got {obj!r}")
        o = self.project.objects.get(int(obj))
        return o if o is not None else self.add_object(obj_id=int(obj))

    def remove_object(self, obj: int) -> None:
        self.engine.remove_object(int(obj))
        self.project.remove_object(int(obj))

    def rename_object(self, obj: int, name: str) -> None:
        self.project.objects[int(obj)].name = name
        self.project.touch()

    def set_object_category(self, obj: int, category: str | None) -> None:
        """Set ``obj``'s class (``""`` or None: none); a new class joins the project's list."""
        self.project.set_category(int(obj), category)

    @property
    def categories(self) -> list[str]:
        """The project's class names, in class-id order."""
        return self.project.class_names()

    def set_object_color(self, obj: int, rgb) -> None:
        self.project.objects[int(obj)].color = tuple(int(c) for c in rgb)
        self.project.touch()

    def lock_object(self, obj: int, locked: bool = True) -> None:
        """Lock (or unlock) ``obj``: a locked object's masks are never changed by propagation,
        prompts, brush or eraser until it is unlocked."""
        self.project.objects[int(obj)].locked = bool(locked)
        self.project.touch()

    def _check_unlocked(self, obj: int) -> None:
        o = self.project.objects.get(int(obj))
        if o is not None and o.locked:
            raise UserError(f"{o.name} is locked: unlock it to change its masks")

    # ---- prompts -----------------------------------------------------------------------
    def prompt(self, frame: int, obj: int) -> FramePrompt | None:
        return self.project.prompts.get(frame, obj)

    def keyframes(self, obj: int) -> list[int]:
        return self.project.prompts.keyframes(obj)

    def add_click(self, frame: int, obj: int, x: float, y: float, positive: bool = True,
                  candidate: int = 0) -> np.ndarray:
        """Add a click to ``obj``'s clicks on ``frame``; returns its new mask there at once.

        A single click is often ambiguous (the rider, the rider and bike, the helmet):
        ``candidate=k`` picks the engine's candidate mask ``k`` (see :meth:`candidates`)."""
        old = self.prompt(frame, obj)
        clicks = old is not None and old.mask_rle is None and not old.absent
        points = list(old.points) if clicks else []
        labels = list(old.labels) if clicks else []
        box = old.box if clicks else None
        chosen = []
        if clicks and old.points:  # the candidate picked after each earlier click, for a replay
            chosen = (list(old.chosen) + [0] * len(old.points))[:len(old.points) - 1] + [int(old.candidate)]
        mask = self._set_clicks(frame, obj, points + [(x, y)], labels + [int(bool(positive))], box,
                                chosen if any(chosen) else [])
        if candidate:
            mask = self.choose_candidate(frame, obj, candidate)
        return mask

    def set_points(self, frame: int, obj: int, points, labels, box=None) -> np.ndarray:
        """Set ``obj``'s clicks (and optionally box) on ``frame``; returns its mask there."""
        return self._set_clicks(frame, obj, points, labels, box, [])

    def _set_clicks(self, frame: int, obj: int, points, labels, box, chosen: list[int]) -> np.ndarray:
        """:meth:`set_points`, with the candidates picked after the earlier clicks (``chosen``)."""
        self._ensure_object(obj)
        prompt = FramePrompt(points=[tuple(map(float, p)) for p in points], labels=[int(v) for v in labels],
                             box=None if box is None else tuple(map(float, box)), chosen=list(chosen))
        return self._apply(frame, obj, prompt)

    def set_box(self, frame: int, obj: int, box) -> np.ndarray:
        """Set ``obj``'s box on ``frame`` (clicks there are kept); returns its mask there."""
        old = self.prompt(frame, obj)
        keep = old is not None and old.mask_rle is None and not old.absent
        return self.set_points(frame, obj, old.points if keep else [], old.labels if keep else [], box=box)

    def set_mask(self, frame: int, obj: int, mask: np.ndarray) -> np.ndarray:
        """Set ``obj``'s mask on ``frame`` (a PNG, brush or eraser result); returns the mask
        the engine made of it."""
        self._ensure_object(obj)
        mask = np.asarray(mask).astype(bool)
        if mask.shape != (self.video.height, self.video.width):
            raise PromptError(f"mask is {mask.shape[1]}x{mask.shape[0]} pixels but the video is "
                              f"{self.video.width}x{self.video.height}")
        return self._apply(frame, obj, FramePrompt.from_mask(mask))

    def add_mask_file(self, frame: int, obj: int, path: str | Path, *, resize: bool = False) -> np.ndarray:
        """Start or correct ``obj`` from a PNG (palette index ``obj``, else non-zero pixels).
        An empty mask, or one of another size, is refused; ``resize=True`` scales a mask whose
        size is an exact multiple of the video's (see :func:`~sam2studio.core.prompts.read_mask_prompt`)."""
        mask = read_mask_prompt(path, obj, self.video.width, self.video.height, resize=resize)
        return self.set_mask(frame, obj, mask)

    def clear_prompt(self, frame: int, obj: int) -> None:
        """Remove ``obj``'s prompt on ``frame``; the engine forgets it too."""
        self._check_unlocked(obj)
        before = self.absent_ranges(obj)
        if self.project.prompts.remove(frame, obj) is None:
            return
        freed = {f for a, b in before for f in range(a, b + 1)}
        freed -= {f for a, b in self.absent_ranges(obj) for f in range(a, b + 1)}
        if freed:  # no longer marked absent: those frames need a run again
            self.stale.setdefault(int(obj), set()).update(freed - set(self.keyframes(obj)))
        self.project.touch()
        self._rebuild_engine_object(obj)

    # ---- absence -----------------------------------------------------------------------
    def set_absent(self, frame: int, obj: int, until: int | None = None) -> list[tuple[int, int]]:
        """Mark ``obj`` absent: "absent from here" (``until=None``: from ``frame`` up to its
        next prompt, or the end) or "absent on frames ``frame``-``until``". Stored as a prompt
        on ``frame``; those frames get empty masks now and a later run does not fill them.
        Returns the object's absent ranges."""
        frame = int(frame)
        if until is not None and not frame <= int(until) < self.num_frames:
            raise PromptError(f"absent range {frame}-{until} is not within frames {frame} to {self.num_frames - 1}")
        self._apply(frame, obj, FramePrompt.absence(until))
        ranges = self.absent_ranges(obj)
        empty = self._empty_rle()
        for a, b in ranges:
            if a <= frame <= b:
                for f in range(a, b + 1):
                    self.masks.set_rle(f, obj, empty, 0.0, 0)
                    self.stale.get(int(obj), set()).discard(f)
                self._mark_stale_after(b, obj)
        return ranges

    def absent_ranges(self, obj: int) -> list[tuple[int, int]]:
        """``[(first, last), ...]`` (inclusive) where ``obj`` is marked absent."""
        return self.project.prompts.absent_ranges(obj, self.num_frames)

    def _empty_rle(self) -> dict:
        if getattr(self, "_empty", None) is None:
            self._empty = encode_rle(np.zeros((self.video.height, self.video.width), bool))
        return self._empty

    # ---- candidate masks ---------------------------------------------------------------
    def candidates(self, frame: int, obj: int) -> list[ObjectMask]:
        """The engine's candidate masks for ``obj``'s click on ``frame`` (an ambiguous single
        click: the object, a part, or more), best first; index 0 is the engine's own choice
        and :attr:`FramePrompt.candidate <sam2studio.core.prompts.FramePrompt.candidate>` the
        one in use. Empty when the prompt there has no alternatives."""
        self._sync_engine()
        p = self.prompt(frame, obj)
        if p is None or p.absent or p.mask_rle is not None:
            return []
        return self.engine.candidates(int(frame), int(obj))

    def candidate_notes(self, frame: int, obj: int) -> list[str]:
        """A short note for each of :meth:`candidates` (as many), for the user: "" for another
        reading of the click, a few words for one that is not: the click's own mask offered in
        place of a mask that was there before it (a propagated mask left behind by its object)."""
        n = len(self.candidates(frame, obj))
        kinds = self.engine.candidate_kinds(int(frame), int(obj)) if n else []
        if len(kinds) != n:
            return [""] * n
        return ["the click alone, in place of the mask that was here" if k.startswith("replaced") else ""
                for k in kinds]

    def choose_candidate(self, frame: int, obj: int, k: int) -> np.ndarray:
        """Use candidate mask ``k`` of :meth:`candidates` for ``obj`` on ``frame``; stored with
        the prompt (a reopened project replays it). Returns the mask."""
        self._check_unlocked(obj)
        p = self.prompt(frame, obj)
        n = len(self.candidates(frame, obj))
        if p is None or not 0 <= int(k) < n:
            raise PromptError(f"object {obj} has {n} candidate masks on frame {frame}: there is no candidate {k}")
        result = self.engine.choose_candidate(int(frame), int(obj), int(k))
        new = p.copy()
        new.candidate = int(k)
        return self._store(frame, obj, new, result)

    def _apply(self, frame: int, obj: int, prompt: FramePrompt) -> np.ndarray:
        self._check_unlocked(obj)
        self._sync_engine()
        return self._store(frame, obj, prompt, self._feed(frame, obj, prompt))

    def _store(self, frame: int, obj: int, prompt: FramePrompt, result) -> np.ndarray:
        self.project.prompts.set(frame, obj, prompt)
        om = result.get(int(obj))
        mask = om.mask if om is not None else np.zeros((self.video.height, self.video.width), bool)
        self.masks.set(frame, obj, mask, 1.0 if om is None else om.score)
        self._mark_stale_after(frame, obj)
        self.project.touch()
        return mask

    def _feed(self, frame: int, obj: int, prompt: FramePrompt):
        if prompt.absent:
            return self.engine.add_absent(frame, obj)
        if prompt.mask_rle is not None:
            return self.engine.add_mask(frame, obj, prompt.mask)
        if any(prompt.chosen) and len(prompt.chosen) < len(prompt.points):
            # a candidate was picked after an earlier click, and later clicks edited it: the
            # clicks again one by one, as they were made
            for i, k in enumerate(prompt.chosen):
                self.engine.add_prompt(frame, obj, points=prompt.points[:i + 1], labels=prompt.labels[:i + 1],
                                       box=prompt.box)
                if k and k < len(self.engine.candidates(frame, obj)):
                    self.engine.choose_candidate(frame, obj, k)
        result = self.engine.add_prompt(frame, obj, points=prompt.points or None,
                                        labels=prompt.labels or None, box=prompt.box)
        if prompt.candidate:
            n = len(self.engine.candidates(frame, obj))
            if prompt.candidate < n:
                result = self.engine.choose_candidate(frame, obj, prompt.candidate)
            else:
                log.warning("object %d, frame %d: the %s engine has %d candidate masks, not a candidate %d; "
                            "its own choice is used", obj, frame, self.engine.name, n, prompt.candidate)
        return result

    def _mark_stale_after(self, frame: int, obj: int) -> None:
        later = {f for f in self.masks.frames(obj) if f > frame} - set(self.keyframes(obj))
        stale = self.project.stale.setdefault(int(obj), set())
        stale.discard(int(frame))
        stale.update(later)

    def _sync_engine(self) -> None:
        """Replay the project's prompts into the engine (after opening a saved project)."""
        if self._synced:
            return
        for f, o, p in self.project.prompts.items():
            self._feed(f, o, p)
        self._synced = True

    def _rebuild_engine_object(self, obj: int) -> None:
        self.engine.remove_object(int(obj))
        for f in self.keyframes(obj):
            self._feed(f, obj, self.prompt(f, obj))

    # ---- edits and undo ----------------------------------------------------------------
    def apply_stroke(self, frame: int, obj: int, points, diameter: float, erase: bool = False) -> np.ndarray:
        """Paint (or with ``erase``, rub out) a round brush of ``diameter`` pixels along
        ``points`` [(x, y), ...] on ``obj``'s mask on ``frame``; the result becomes the
        object's mask prompt there. Returns the mask the engine made of it."""
        shape = (self.video.height, self.video.width)
        return self.set_mask(frame, obj, stroked(self.mask(frame, obj), shape, points, diameter, erase))

    def snapshot(self, obj: int, frame: int | None = None) -> FrameSnapshot | ObjectSnapshot:
        """What :meth:`restore` needs to undo an edit: ``obj``'s prompt, mask and stale frames on
        ``frame``, or with no frame the whole object (to bring it back after a delete)."""
        if frame is None:
            return snapshot_object(self, int(obj))
        return snapshot_frame(self, int(frame), int(obj))

    def restore(self, snap: FrameSnapshot | ObjectSnapshot) -> bool:
        """Put a :meth:`snapshot` back exactly (prompt fed to the engine again, mask entries and
        stale marks as they were). A frame snapshot of a deleted object does nothing (False)."""
        if isinstance(snap, ObjectSnapshot):
            return restore_object(self, snap)
        return restore_frame(self, snap)

    # ---- headless runs -----------------------------------------------------------------
    @staticmethod
    def check_prompts(video: VideoSource, prompts: PromptSet, start: int | None = None, *,
                      cli_flags: bool = False) -> None:
        """Check every prompt (and ``start``) against ``video``; raises a UserError with one
        sentence. ``cli_flags`` names the command-line flags in the messages (``--start``)."""
        from .errors import PromptError

        if not prompts:
            raise PromptError("give at least one --click, --box or --mask" if cli_flags
                              else "no prompt: give at least one click, box or mask")
        for c in prompts.clicks:
            validate_prompt(video, c.frame, c.obj, [(c.x, c.y)], [c.label])
        for b in prompts.boxes:
            validate_prompt(video, b.frame, b.obj, box=b.box)
        for m in prompts.masks:
            if not Path(m.path).is_file():
                raise PromptError(f"{'--mask file' if cli_flags else 'mask file'} {m.path} does not exist")
            validate_target(video, m.frame, m.obj)
            # empty masks and masks of another shape are refused now, not after the engine is built
            read_mask_prompt(m.path, m.obj, video.width, video.height, resize=prompts.mask_resize)
        if start is not None and not 0 <= start < len(video):
            raise PromptError(f"{'--start' if cli_flags else 'start'} {start} is out of range: the video has "
                              f"frames 0 to {len(video) - 1}")

    def segment(self, prompts: PromptSet, start: int | None = None, direction: str = "both",
                objects: Sequence[int] | None = None, progress=None, cancel: threading.Event | None = None) -> int:
        """A whole headless run: add ``prompts`` (objects with their names and classes, then mask files,
        then clicks and boxes per frame and object), and propagate from ``start`` (default:
        a frame from which every object can be tracked in ``direction``, see
        :meth:`default_start`) in ``direction``; ``objects`` limits the run to some objects.
        ``progress(done, total)`` follows the propagation. Returns the start frame;
        :attr:`last_run` says what was tracked per object (and what was not, and why).

        Write the results with :meth:`export` (``png``, ``quality``, ...) and :meth:`save`.
        """
        self.check_prompts(self.video, prompts, start)
        ids = prompts.object_ids()
        for o in ids:
            if o in self.objects:
                if prompts.names.get(o):
                    self.rename_object(o, prompts.names[o])
                if prompts.categories.get(o):
                    self.set_object_category(o, prompts.categories[o])
            else:
                self.add_object(prompts.names.get(o), obj_id=o, category=prompts.categories.get(o))
        for m in prompts.masks:
            self.add_mask_file(m.frame, m.obj, m.path, resize=prompts.mask_resize)
        for frame, obj, p in prompts.grouped():
            self.set_points(frame, obj, p.points, p.labels, box=p.box)
        if start is None:
            start = self.default_start(direction, objects if objects is not None else ids)
        self.run(start, direction, objects=objects, cancel=cancel, progress=progress)
        return int(start)

    # ---- propagation -------------------------------------------------------------------
    def plan_run(self, start: int = 0, direction: str = "both", frame_range: tuple[int, int] | None = None,
                 objects: Sequence[int] | None = None) -> RunPlan:
        """What a run from ``start`` will do: each object tracked from its own nearest prompt
        (see :mod:`sam2studio.core.runs`); ``plan.total`` frame steps, ``plan.summary`` names
        the objects that will not be tracked and why (no prompt on that side, locked)."""
        if not self.project.prompts.objects():
            raise UserError("there is nothing to propagate: click an object, draw a box or give a mask first")
        ids = self.project.prompts.objects() if objects is None else [int(o) for o in objects]
        return plan_run(self.num_frames, start, direction, frame_range, ids, self.keyframes, self.objects,
                        resume=self.engine.resume_point)

    def default_start(self, direction: str = "both", objects: Sequence[int] | None = None) -> int:
        """A start frame from which every object (with prompts) can be tracked in ``direction``:
        forward, the latest of the objects' first prompts; backward, the earliest of their
        last prompts; both ways, the first prompted frame."""
        ids = self.project.prompts.objects() if objects is None else [int(o) for o in objects]
        firsts = [self.keyframes(o)[0] for o in ids if self.keyframes(o)]
        lasts = [self.keyframes(o)[-1] for o in ids if self.keyframes(o)]
        if not firsts and objects is not None:
            return self.default_start(direction)  # none of them has a prompt: the run will say so
        if not firsts:
            raise UserError("there is nothing to propagate: click an object, draw a box or give a mask first")
        if direction == "forward":
            return max(firsts)
        if direction == "backward":
            return min(lasts)
        return min(firsts)

    def propagate(self, start: int = 0, direction: str = "both", frame_range: tuple[int, int] | None = None,
                  objects: Sequence[int] | None = None, cancel: threading.Event | None = None, *,
                  store: bool = True) -> Iterator[tuple[int, dict[int, ObjectMask]]]:
        """Propagate from ``start``; every frame's masks are stored as they come and yielded.

        Each object is tracked from its own prompts: forward from its nearest prompt at or
        before ``start`` through ``start`` to the end (backward likewise), so a frame may be
        yielded more than once (once per engine run). ``objects`` limits the run to some
        objects; the others' masks stay as they are, and locked objects are never changed.
        Frames where an object is marked absent stay empty. :attr:`last_run` says per object
        what was done and what was not (and why) as the run goes. ``store=False`` only yields
        the masks (a live stream, whose masks are shown once and then let go).
        """
        self._sync_engine()
        plan = self.plan_run(start, direction, frame_range, objects)
        summary = self.last_run = plan.summary
        absent = {o: self.absent_ranges(o) for _, _, objs in plan.groups for o in objs}
        empty = None
        for dirname, first, objs in plan.groups:
            keep = set(objs)
            gen = self.engine.propagate(first, dirname, plan.frame_range, cancel, objects=list(objs))
            try:
                for frame, result in gen:
                    out: dict[int, ObjectMask] = {}
                    for obj, om in result.items():
                        if obj not in keep:
                            continue
                        if any(a <= frame <= b for a, b in absent.get(obj, ())):
                            if empty is None:
                                empty = np.zeros((self.video.height, self.video.width), bool)
                            om = ObjectMask(empty, 0.0)
                        out[obj] = om
                        if store:
                            self.masks.set(frame, obj, om.mask, om.score)
                            st = self.project.stale.get(obj)
                            if st:
                                st.discard(frame)
                        summary.objects[obj].add(frame)
                    summary.done += 1
                    yield frame, out
            finally:
                gen.close()
            if cancel is not None and cancel.is_set():
                summary.cancelled = True
                return

    def rerun_damaged(self, cancel: threading.Event | None = None) -> Iterator[tuple[int, dict[int, ObjectMask]]]:
        """Make the masks found damaged in the project file again (see
        :meth:`Project.damaged_rerun_plan`): each damaged object propagates from its nearest
        keyframe over its damaged frames; yields ``(frame, masks)`` as :meth:`propagate` does."""
        for step in self.project.damaged_rerun_plan():
            if cancel is not None and cancel.is_set():
                return
            yield from self.propagate(step.start, step.direction, step.frame_range, objects=[step.obj],
                                      cancel=cancel)

    def run(self, start: int = 0, direction: str = "both", frame_range=None, objects=None, cancel=None,
            progress=None) -> RunSummary:
        """Propagate (see :meth:`propagate`) to the end; ``progress(done, total)``.

        Returns a :class:`~sam2studio.core.runs.RunSummary`: per object the frames tracked
        (``summary.line()``: "ball: frames 0-229, rider: 100-229") and, by name, the objects
        not tracked and why (``summary.messages``)."""
        total = None
        for _ in self.propagate(start, direction, frame_range, objects, cancel):
            if progress is not None:
                total = total or self.last_run.total
                progress(self.last_run.done, total)
        if cancel is not None and cancel.is_set() and self.last_run is not None:
            self.last_run.cancelled = self.last_run.done < self.last_run.total
        return self.last_run

    # ---- results -----------------------------------------------------------------------
    def mask(self, frame: int, obj: int) -> np.ndarray | None:
        return self.masks.get(frame, obj)

    def frame_masks(self, frame: int) -> dict[int, np.ndarray]:
        """Every object's mask on ``frame`` (objects without a stored mask are left out)."""
        return self.masks.frame_masks(frame)

    def score(self, frame: int, obj: int) -> float | None:
        """The engine's confidence for ``obj`` on ``frame`` (None where nothing is stored)."""
        return self.masks.score(frame, obj)

    # ---- saving ------------------------------------------------------------------------
    def _model_label(self) -> str | None:
        model = getattr(self.engine, "model_name", None)
        if model and self.is_random_weights:
            model += " (random weights)"
        return model

    def save(self, path: str | Path | None = None) -> Path:
        self.project.settings["engine"] = self.engine.name
        if self._model_label():
            self.project.settings["model"] = self._model_label()
        return self.project.save(path)

    def autosave(self, path: str | Path) -> None:
        self.project.save_copy(path)
