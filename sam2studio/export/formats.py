"""The export formats, in one place: the CLI's ``export --format`` and the GUI's export dialog
both list and run them from here.

Each format runs on an :class:`ExportJob`: the project's masks and objects, the video (for the
formats that need frames), the output path and options, with ``progress(done, total)`` and a
``cancel`` event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .common import ProgressFn, frame_range


@dataclass
class ExportJob:
    """What an exporter needs. ``video`` may be None for formats that do not read frames."""

    project: object  # sam2studio.core.project.Project
    out: Path
    video: object | None = None  # sam2studio.core.video.VideoSource
    object_ids: list[int] | None = None
    frames: range | None = None
    options: dict = field(default_factory=dict)
    progress: ProgressFn | None = None
    cancel: threading.Event | None = None

    @property
    def num_frames(self) -> int:
        return self.project.num_frames

    def mask_args(self) -> tuple:
        return self.project.masks, self.project.objects, self.project.num_frames, self.out

    def class_kwargs(self) -> dict:
        """The project's class list, for the formats that write classes."""
        return {"categories": dict(getattr(self.project, "categories", {}) or {})}

    def keyframes(self) -> dict[int, list[int]]:
        """Each object's prompt frames (CVAT marks them as keyframes)."""
        prompts = getattr(self.project, "prompts", None)
        if prompts is None:
            return {}
        return {int(o): prompts.keyframes(o) for o in self.project.objects}

    def common_kwargs(self) -> dict:
        return {"object_ids": self.object_ids, "frames": self.frames, "progress": self.progress,
                "cancel": self.cancel}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str
    description: str
    output: str  # "folder", or the default file suffix such as ".json" / ".mp4"
    needs_video: bool
    run: Callable[[ExportJob], Path]


def _png(job: ExportJob) -> Path:
    from .mask_formats import export_png

    return export_png(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **job.options)


def _palette(job: ExportJob) -> Path:
    from .mask_formats import export_palette

    return export_palette(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **job.options)


def _coco(job: ExportJob) -> Path:
    from .mask_formats import export_coco

    return export_coco(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **job.options)


def _yolo(job: ExportJob) -> Path:
    from .mask_formats import export_yolo

    return export_yolo(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **job.options)


def _npz(job: ExportJob) -> Path:
    from .mask_formats import export_npz

    return export_npz(*job.mask_args(), **job.common_kwargs(), **job.options)


def _video_stem(job: ExportJob) -> str:
    path = getattr(job.project, "video_path", None)
    return "video" if path is None else (Path(path).stem or "video")


def _youtube_vis(job: ExportJob) -> Path:
    from .youtube_vis import export_youtube_vis

    opts = {"video_name": _video_stem(job), **job.options}
    return export_youtube_vis(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **opts)


def _cvat_video(job: ExportJob) -> Path:
    from .cvat_video import export_cvat_video

    opts = {"task_name": _video_stem(job), **job.options}
    return export_cvat_video(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(),
                             keyframes=job.keyframes(), **opts)


def _mots(job: ExportJob) -> Path:
    from .mots import export_mots

    return export_mots(*job.mask_args(), **job.common_kwargs(), **job.class_kwargs(), **job.options)


def _davis(job: ExportJob) -> Path:
    from .davis import export_davis

    opts = {"name": _video_stem(job), **job.options}
    return export_davis(*job.mask_args(), video=job.video, **job.common_kwargs(),
                        **job.class_kwargs(), **opts)


def _report(job: ExportJob) -> Path:
    from .report import export_report

    p = job.project
    name = None if p.video_path is None else p.video_path.name
    return export_report(p.masks, p.objects, p.num_frames, p.fps, job.out, video_name=name,
                         width=p.width, height=p.height, object_ids=job.object_ids,
                         progress=job.progress, cancel=job.cancel)


def _report_html(job: ExportJob) -> Path:
    from .report_html import export_report_html

    return export_report_html(job.project, job.video, job.out, object_ids=job.object_ids, options=job.options,
                              progress=job.progress, cancel=job.cancel)


def _quality(job: ExportJob) -> Path:
    from .quality_report import export_quality_report

    return export_quality_report(job.project, job.out, video=job.video, object_ids=job.object_ids,
                                 frames=job.frames, progress=job.progress, cancel=job.cancel, **job.options)


def _project(job: ExportJob) -> Path:
    return job.project.save_copy(job.out)


FORMATS: dict[str, ExportFormat] = {f.name: f for f in [
    ExportFormat("png", "Per-object PNG masks", "frame_NNNN_obj_ID.png (0/255) for every frame and object, plus objects.json", "folder", False, _png),
    ExportFormat("palette", "Indexed palette PNGs (DAVIS)", "one PNG per frame, pixel value = object id", "folder", False, _palette),
    ExportFormat("coco", "COCO instances (RLE)", "one COCO JSON with RLE masks, boxes and areas; track_id = object id", ".json", False, _coco),
    ExportFormat("yolo", "YOLO segmentation", "polygon .txt per frame and classes.txt", "folder", False, _yolo),
    ExportFormat("davis", "DAVIS dataset folder", "Annotations/480p/<video>/00000.png palette PNGs and JPEGImages/480p/<video>/ frames (-o resolution=full keeps the original size)", "folder", True, _davis),
    ExportFormat("youtube-vis", "YouTube-VIS / OVIS JSON", "one JSON: videos, categories, one annotation per object with an RLE (or null) per frame", ".json", False, _youtube_vis),
    ExportFormat("cvat-video", "CVAT for video 1.1 XML", "one track per object, a mask shape per frame, outside where absent, keyframes on prompt frames", ".xml", False, _cvat_video),
    ExportFormat("mots", "MOTS text (KITTI MOTS)", "frame obj_id class_id height width rle per line (obj_id = class * 1000 + object) and objects.json", "folder", False, _mots),
    ExportFormat("npz", "NumPy NPZ", "compressed bit-packed masks per object", ".npz", False, _npz),
    ExportFormat("report", "Tracking report (JSON)", "per-object presence, centroids, boxes, speed and movement events", ".json", False, _report),
    ExportFormat("report-html", "Tracking and quality report (HTML)", "one self-contained page: paths, speeds, events, presence lanes and the worst flagged frames", ".html", True, _report_html),
    ExportFormat("quality", "Quality report (JSON)", "per-object frames whose masks are probably wrong (low confidence, drift, flicker); options: the thresholds", ".json", True, _quality),
    ExportFormat("project", "Project copy (.s2s)", "a copy of the project file", ".s2s", False, _project),
]}


def register(fmt: ExportFormat) -> None:
    """Add a format (the video exporters register themselves here)."""
    FORMATS[fmt.name] = fmt


def get_format(name: str) -> ExportFormat:
    _load_video_formats()
    fmt = FORMATS.get(name)
    if fmt is None:
        raise UserError(f"unknown export format {name!r}; formats: {', '.join(format_names())}")
    return fmt


def format_names() -> list[str]:
    _load_video_formats()
    return list(FORMATS)


def _load_video_formats() -> None:
    try:
        from . import video_formats  # noqa: F401  (registers overlay, cutout, ...)
    except ImportError:  # pragma: no cover - the video exporters are optional here
        pass


def parse_frames(text: str | None, num_frames: int) -> range | None:
    """``"A:B"`` (B exclusive, either side may be empty) or ``"N"`` → a checked range."""
    if not text:
        return None
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            return frame_range(num_frames, int(a) if a else None, int(b) if b else None)
        n = int(text)
        return frame_range(num_frames, n, n + 1)
    except ValueError:
        raise UserError(f"--frames must look like START:STOP (e.g. 0:100), got {text!r}") from None


def parse_objects(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ids = [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise UserError(f"--objects must be object ids separated by commas (e.g. 1,3), got {text!r}") from None
    if any(i <= 0 for i in ids):
        raise UserError("object ids are positive integers")
    return ids


def coerce_option(value: str):
    """An option value given as text (``-o KEY=VALUE``, a manifest's options): integers and
    numbers as such, true/yes/on and false/no/off as booleans, anything else as text."""
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value
