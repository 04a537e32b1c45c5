"""Importers: read annotations made elsewhere (or exported here) into a project.

``read_annotations(source, video, fmt="auto")`` reads a file or folder into
:class:`~sam2studio.importers.base.Annotations`, checked against the video's size and frame
count; :func:`~sam2studio.importers.base.apply_annotations` puts them into a project. The
session wraps both (:meth:`sam2studio.session.Session.import_annotations`). This package sits
with the exporters: it reads files and writes into a Project, below the session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from .base import (
    KEYFRAME_CHOICES,
    Annotations,
    ImportedObject,
    ImportResult,
    VideoFacts,
    apply_annotations,
)

__all__ = [
    "IMPORT_FORMATS",
    "KEYFRAME_CHOICES",
    "Annotations",
    "ImportResult",
    "ImportedObject",
    "VideoFacts",
    "apply_annotations",
    "detect_format",
    "import_format_names",
    "read_annotations",
]


@dataclass(frozen=True)
class ImportFormat:
    name: str
    label: str
    source: str  # what to choose: "folder" or a file suffix such as ".json"
    read: Callable[..., Annotations]


def _png(path, video, **o):
    from .png import read_png
    return read_png(path, video, **o)


def _palette(path, video, **o):
    from .palette import read_palette
    return read_palette(path, video, **o)


def _davis(path, video, **o):
    from .palette import read_davis
    return read_davis(path, video, **o)


def _coco(path, video, **o):
    from .coco import read_coco
    return read_coco(path, video, **o)


def _ytvis(path, video, **o):
    from .youtube_vis import read_youtube_vis
    return read_youtube_vis(path, video, **o)


def _cvat(path, video, **o):
    from .cvat_video import read_cvat_video
    return read_cvat_video(path, video, **o)


def _mots(path, video, **o):
    from .mots import read_mots
    return read_mots(path, video, **o)


def _npz(path, video, **o):
    from .npz import read_npz
    return read_npz(path, video, **o)


def _yolo(path, video, **o):
    from .yolo import read_yolo
    return read_yolo(path, video, **o)


IMPORT_FORMATS: dict[str, ImportFormat] = {f.name: f for f in [
    ImportFormat("png", "Per-object PNG masks (frame_NNNN_obj_ID.png)", "folder", _png),
    ImportFormat("palette", "Indexed palette PNGs (pixel value = object id)", "folder", _palette),
    ImportFormat("davis", "DAVIS dataset folder (Annotations/<resolution>/<video>/)", "folder", _davis),
    ImportFormat("coco", "COCO instances JSON (RLE or polygons)", ".json", _coco),
    ImportFormat("youtube-vis", "YouTube-VIS / OVIS JSON", ".json", _ytvis),
    ImportFormat("cvat-video", "CVAT for video 1.1 XML", ".xml", _cvat),
    ImportFormat("mots", "MOTS text (KITTI MOTS / MOTSChallenge)", ".txt", _mots),
    ImportFormat("npz", "SAM2 Studio NPZ", ".npz", _npz),
    ImportFormat("yolo", "YOLO segmentation labels (one object per class)", "folder", _yolo),
]}


def import_format_names() -> list[str]:
    return list(IMPORT_FORMATS)


def detect_format(source: str | Path) -> str:
    """The import format of ``source`` from its name and first bytes; UserError if unknown."""
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".npz":
            return "npz"
        if suffix == ".xml":
            from .cvat_video import looks_like
            if looks_like(path):
                return "cvat-video"
        if suffix == ".json":
            from . import coco, youtube_vis
            from .base import read_json
            data = read_json(path)
            if youtube_vis.looks_like(data):
                return "youtube-vis"
            if coco.looks_like(data):
                return "coco"
            raise UserError(f"{path.name} is neither a COCO nor a YouTube-VIS file "
                            f"(no images/videos and annotations lists).")
        if suffix == ".txt":
            from .mots import looks_like
            if looks_like(path):
                return "mots"
        raise UserError(f"cannot tell the format of {path.name}; choose one with --format "
                        f"({', '.join(IMPORT_FORMATS)}).")
    from . import mots, palette, png, yolo
    if palette.looks_like_davis(path):
        return "davis"
    if png.looks_like(path):
        return "png"
    if yolo.looks_like(path):
        return "yolo"
    if mots.looks_like(path) or (path / "instances_txt").is_dir():
        return "mots"
    if palette.looks_like(path):
        return "palette"
    raise UserError(f"cannot tell the format of the folder {path}; choose one with --format "
                    f"({', '.join(IMPORT_FORMATS)}).")


def read_annotations(source: str | Path, video: VideoFacts, fmt: str = "auto",
                     **options) -> Annotations:
    """Read ``source`` (a file or folder) in format ``fmt`` (``auto``: detected), checked
    against ``video``. ``options`` are the format's (``first_frame`` for MOTS, ``video_name``
    for YouTube-VIS, ``sequence``/``resolution`` for DAVIS)."""
    path = Path(source)
    if not path.exists():
        raise UserError(f"{path} does not exist.")
    name = detect_format(path) if fmt in (None, "", "auto") else fmt
    f = IMPORT_FORMATS.get(name)
    if f is None:
        raise UserError(f"unknown import format {name!r}; formats: auto, {', '.join(IMPORT_FORMATS)}")
    if f.source == "folder" and not path.is_dir() and name != "mots":
        raise UserError(f"the {name} format reads a folder; {path} is a file.")
    if f.source != "folder" and path.is_dir() and name != "mots":
        raise UserError(f"the {name} format reads a {f.source} file; {path} is a folder.")
    try:
        return f.read(path, video, **options)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # a file of the right kind with a broken structure: bad input, not a bug here
        what = f"{type(exc).__name__}: {exc}"
        raise UserError(f"{path.name} is not a readable {name} file ({what}).") from exc
