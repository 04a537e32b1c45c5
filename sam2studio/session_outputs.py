"""What a :class:`~sam2studio.session.Session` gives back: quality flags, tracks, the tracking
report, exports (also of a saved project without an engine), and imports of annotations made
elsewhere. A mixin of Session, kept apart so that session.py holds the interactive loop (objects,
prompts, edits, propagation) and this file the ways in and out of it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from .core.project import Project
from .core.video import open_video

log = logging.getLogger("sam2studio.session")


class SessionOutputs:
    """Results, exports and imports of a session (mixed into :class:`~sam2studio.session.Session`)."""

    def quality(self, thresholds=None, *, use_video: bool = True, objects: Sequence[int] | None = None,
                progress=None, cancel=None) -> dict[int, list[dict]]:
        """Flag frames whose masks are probably wrong: ``{object: [flag, ...]}``.

        Each flag is a dict with ``frame``, ``reasons``, ``message`` and the measured values
        (see :mod:`sam2studio.core.quality`); ``thresholds`` is a
        :class:`~sam2studio.core.quality.QualityThresholds`. Keyframes are trusted. The flags
        are kept in ``project.quality_flags`` and saved with the project.
        """
        from .core.quality import QualityThresholds, assess

        objs = sorted(self.objects) if objects is None else [int(o) for o in objects]
        flags = assess(self.masks, self.num_frames, video=self.video if use_video else None, objects=objs,
                       thresholds=thresholds or QualityThresholds(),
                       trusted={o: self.keyframes(o) for o in objs}, progress=progress, cancel=cancel)
        self.project.quality_flags.update({o: list(v) for o, v in flags.items()})  # saved with the project
        self.project.touch()
        return flags

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
