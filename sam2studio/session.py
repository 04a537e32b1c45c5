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
from .core.objects import TrackedObject
from .core.project import PROJECT_SUFFIX, Project
from .core.prompts import FramePrompt, PromptSet, read_mask_prompt
from .core.video import VideoSource, open_video
from .engines import Engine, ObjectMask, create_engine
from .engines.base import validate_prompt, validate_target
from .errors import PromptError, UserError

log = logging.getLogger(__name__)


class Session:
    """A project on an open video with a segmentation engine."""

    def __init__(self, project: Project, video: VideoSource, engine: Engine) -> None:
        self.project = project
        self.video = video
        self.engine = engine
        self._synced = False  # prompts of the project replayed into the engine
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

    # ---- prompts -----------------------------------------------------------------------
    def prompt(self, frame: int, obj: int) -> FramePrompt | None:
        return self.project.prompts.get(frame, obj)

    def keyframes(self, obj: int) -> list[int]:
        return self.project.prompts.keyframes(obj)

    def add_click(self, frame: int, obj: int, x: float, y: float, positive: bool = True) -> np.ndarray:
        """Add a click to ``obj``'s clicks on ``frame``; returns its new mask there at once."""
        old = self.prompt(frame, obj)
        points = [] if old is None or old.mask_rle is not None else list(old.points)
        labels = [] if old is None or old.mask_rle is not None else list(old.labels)
        box = None if old is None else old.box
        return self.set_points(frame, obj, points + [(float(x), float(y))], labels + [int(bool(positive))], box=box)

    def set_points(self, frame: int, obj: int, points, labels, box=None) -> np.ndarray:
        """Set ``obj``'s clicks (and optionally box) on ``frame``; returns its mask there."""
        self._ensure_object(obj)
        prompt = FramePrompt(points=[tuple(map(float, p)) for p in points], labels=[int(v) for v in labels],
                             box=None if box is None else tuple(map(float, box)))
        return self._apply(frame, obj, prompt)

    def set_box(self, frame: int, obj: int, box) -> np.ndarray:
        """Set ``obj``'s box on ``frame`` (clicks there are kept); returns its mask there."""
        old = self.prompt(frame, obj)
        keep = old is not None and old.mask_rle is None
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
        if self.project.prompts.remove(frame, obj) is None:
            return
        self.project.touch()
        self._rebuild_engine_object(obj)

    def _apply(self, frame: int, obj: int, prompt: FramePrompt) -> np.ndarray:
        self._sync_engine()
        result = self._feed(frame, obj, prompt)
        self.project.prompts.set(frame, obj, prompt)
        om = result.get(int(obj))
        mask = om.mask if om is not None else np.zeros((self.video.height, self.video.width), bool)
        self.masks.set(frame, obj, mask, 1.0 if om is None else om.score)
        self._mark_stale_after(frame, obj)
        self.project.touch()
        return mask

    def _feed(self, frame: int, obj: int, prompt: FramePrompt):
        if prompt.mask_rle is not None:
            return self.engine.add_mask(frame, obj, prompt.mask)
        return self.engine.add_prompt(frame, obj, points=prompt.points or None,
                                      labels=prompt.labels or None, box=prompt.box)

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
        the first prompted frame) in ``direction``; ``objects`` limits the run to some objects.
        ``progress(done, total)`` follows the propagation. Returns the start frame.

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
            start = min(f for o in ids for f in self.keyframes(o))
        self.run(start, direction, objects=objects, cancel=cancel, progress=progress)
        return int(start)

    # ---- propagation -------------------------------------------------------------------
    def propagate(self, start: int = 0, direction: str = "both", frame_range: tuple[int, int] | None = None,
                  objects: Sequence[int] | None = None, cancel: threading.Event | None = None, *,
                  store: bool = True) -> Iterator[tuple[int, dict[int, ObjectMask]]]:
        """Propagate from ``start``; every frame's masks are stored as they come and yielded.

        ``objects`` limits the run to some objects (e.g. the ones just corrected); the
        others' masks stay as they are. ``store=False`` only yields them (a live stream,
        whose masks are shown once and then let go).
        """
        self._sync_engine()
        if not self.project.prompts.objects():
            raise UserError("there is nothing to propagate: click an object, draw a box or give a mask first")
        kwargs = {} if objects is None else {"objects": [int(o) for o in objects]}
        for frame, result in self.engine.propagate(int(start), direction, frame_range, cancel, **kwargs):
            if not store:
                yield frame, result
                continue
            for obj, om in result.items():
                self.masks.set(frame, obj, om.mask, om.score)
                st = self.project.stale.get(obj)
                if st:
                    st.discard(frame)
            yield frame, result

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
            progress=None) -> int:
        """Propagate to the end; ``progress(done, total)``. Returns the number of frames done."""
        plan = self.engine.iter_range(int(start), direction, frame_range)
        total = sum(len(frames) for _, frames in plan)
        done = 0
        for _ in self.propagate(start, direction, frame_range, objects, cancel):
            done += 1
            if progress is not None:
                progress(done, total)
        return done

    # ---- results -----------------------------------------------------------------------
    def mask(self, frame: int, obj: int) -> np.ndarray | None:
        return self.masks.get(frame, obj)

    def frame_masks(self, frame: int) -> dict[int, np.ndarray]:
        """Every object's mask on ``frame`` (objects without a stored mask are left out)."""
        return self.masks.frame_masks(frame)

    def score(self, frame: int, obj: int) -> float | None:
        """The engine's confidence for ``obj`` on ``frame`` (None where nothing is stored)."""
        return self.masks.score(frame, obj)

    def quality(self, thresholds=None, *, use_video: bool = True, objects: Sequence[int] | None = None,
                progress=None, cancel=None) -> dict[int, list[dict]]:
        """Flag frames whose masks are probably wrong: ``{object: [flag, ...]}``.

        Each flag is a dict with ``frame``, ``reasons``, ``message`` and the measured values
        (see :mod:`sam2studio.core.quality`); ``thresholds`` is a
        :class:`~sam2studio.core.quality.QualityThresholds`. Keyframes are trusted.
        """
        from .core.quality import QualityThresholds, assess

        objs = sorted(self.objects) if objects is None else [int(o) for o in objects]
        return assess(self.masks, self.num_frames, video=self.video if use_video else None, objects=objs,
                      thresholds=thresholds or QualityThresholds(),
                      trusted={o: self.keyframes(o) for o in objs}, progress=progress, cancel=cancel)

    def tracks(self, objects: Sequence[int] | None = None, **options) -> dict:
        """Per-object tracks: ``{object: ObjectTrack}`` with centroids, boxes, areas, speeds
        and movement events (see :func:`sam2studio.core.tracks.compute_tracks`)."""
        from .core.tracks import compute_tracks

        return compute_tracks(self.masks, self.num_frames, self.video.fps, objects, **options)

    def report(self, *, quality: bool = False, objects: Sequence[int] | None = None) -> dict:
        """The tracking report as a dict (it follows ``resources/schemas/tracking_report.schema.json``);
        ``quality=True`` fills each object's ``quality_flags``."""
        from .core.quality import report_flags
        from .export.report import build_report

        flags = report_flags(self.quality(objects=objects)) if quality else None
        return build_report(self.masks, self.objects, self.num_frames, self.video.fps,
                            video_name=getattr(self.video, "name", None), width=self.video.width,
                            height=self.video.height, object_ids=objects, quality=flags)

    def export(self, fmt: str, out: str | Path, *, objects: Sequence[int] | None = None,
               frames: range | None = None, smooth: bool = False, progress=None, cancel=None,
               **options) -> Path:
        """Export with any format of ``sam2studio export`` (``png``, ``palette``, ``coco``, ``yolo``,
        ``npz``, ``report``, ``overlay``, ``cutout``, ``background``, ``grade``, ``blur``,
        ``pixelate``, ``motionblur``, ``cut``, ``project``); ``options`` are the format's
        options (as ``-o KEY=VALUE`` on the command line). ``smooth=True`` exports temporally
        smoothed masks (the stored ones stay as they are). Returns the path written."""
        from .export.formats import ExportJob, get_format

        f = get_format(fmt)
        if f.name == "report-html":  # the report says which engine and model made the masks
            options.setdefault("engine", self.engine_name)
            options.setdefault("model", self._model_label())
        project = self.project
        if smooth:
            from .core.smoothing import smoothed_project

            project = smoothed_project(project)
        job = ExportJob(project=project, out=Path(out), video=self.video if f.needs_video else None,
                        object_ids=None if objects is None else [int(o) for o in objects], frames=frames,
                        options=dict(options), progress=progress, cancel=cancel)
        return f.run(job)

    @staticmethod
    def export_project(path: str | Path, fmt: str, out: str | Path, *, video: str | Path | None = None,
                       objects: Sequence[int] | None = None, frames: str | range | None = None,
                       smooth: bool = False, skip_damaged: bool = False, progress=None, cancel=None,
                       **options) -> tuple[Path, int, int]:
        """Export a saved project without building an engine (as ``sam2studio export``): the
        video is opened only for the formats that read frames (``video`` when it has moved).
        ``frames`` is a range or ``"START:STOP"``. Returns ``(path written, objects, frames)``.

        A project with damaged masks (:meth:`Project.damaged_masks`) is refused naming them,
        unless ``skip_damaged`` (they are then exported as frames without a mask). The output
        place is checked (writable, plausible free space) before a frame is decoded."""
        from .core.masks import describe_damaged
        from .core.outputs import check_output, estimate_bytes
        from .core.smoothing import smoothed_project
        from .errors import ProjectError
        from .export.formats import ExportJob, get_format, parse_frames

        f = get_format(fmt)
        project = Project.load(path, read_only=True)
        damaged = project.damaged_masks()
        if damaged and not skip_damaged:
            raise ProjectError(f"{Path(path).name} has damaged mask data: {describe_damaged(damaged)}; "
                               "re-run those frames in the app, or export without them (--skip-damaged)")
        for d in damaged:
            log.warning("%s: %s (skipped)", Path(path).name, d)
        if isinstance(frames, str) or frames is None:
            frames = parse_frames(frames, project.num_frames)
        n = project.num_frames if frames is None else len(frames)
        n_obj = len(project.objects) if objects is None else len(list(objects))
        kind = "video" if f.needs_video else "masks" if f.output == "folder" else "project"
        check_output(out, label="output", directory=True if f.output == "folder" else None,
                     need_bytes=estimate_bytes(kind, project.width, project.height, n, n_obj))
        src = open_video(video if video else project.locate_video()) if f.needs_video else None
        try:
            if smooth:
                project = smoothed_project(project)
            ids = None if objects is None else [int(o) for o in objects]
            job = ExportJob(project=project, out=Path(out), video=src, object_ids=ids, frames=frames,
                            options=dict(options), progress=progress, cancel=cancel)
            written = f.run(job)
        finally:
            if src is not None:
                src.close()
        n_obj = len(project.objects) if ids is None else len(ids)
        return Path(written), n_obj, project.num_frames if frames is None else len(frames)

    # ---- import ------------------------------------------------------------------------
    def read_annotations(self, source: str | Path, fmt: str = "auto", **options):
        """Read annotations made elsewhere (see :mod:`sam2studio.importers`), checked against
        this session's video, without changing the project: for a preview. Returns an
        :class:`~sam2studio.importers.Annotations` to pass to :meth:`import_annotations`."""
        from .importers import VideoFacts, read_annotations

        name = self.video.path.stem if self.video.path is not None else ""
        facts = VideoFacts(self.video.width, self.video.height, len(self.video), name)
        return read_annotations(source, facts, fmt, **options)

    def import_annotations(self, source, fmt: str = "auto", *, keyframes: str = "auto",
                           new_ids: bool = False, **options):
        """Add the objects, names, classes and masks of ``source`` (a path, or what
        :meth:`read_annotations` returned) to the project. Frames the file covers where an
        object is absent get an empty mask; ``keyframes`` (``auto``, ``all``, ``first``,
        ``none``) says which imported masks become prompts, so a later propagation starts
        from them. Returns an :class:`~sam2studio.importers.ImportResult`."""
        from .importers import Annotations, apply_annotations

        ann = source if isinstance(source, Annotations) else self.read_annotations(source, fmt, **options)
        had_prompts = len(self.project.prompts) > 0
        result = apply_annotations(self.project, ann, keyframes=keyframes, new_ids=new_ids)
        if result.keyframes:
            if had_prompts and self._synced:  # the engine holds the old prompts: add the new ones
                for oid in result.objects.values():
                    for f in self.keyframes(oid):
                        self._feed(f, oid, self.prompt(f, oid))
            else:  # the engine learns every prompt before its next job
                self._synced = False
        return result

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
