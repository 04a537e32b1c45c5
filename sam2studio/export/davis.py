"""DAVIS export: palette annotations and frames in the DAVIS 2017 folder layout.

A folder ``out`` that a DAVIS evaluation toolkit opens as its dataset root::

    Annotations/480p/<video>/00000.png   indexed PNG per frame, pixel value = object id
    JPEGImages/480p/<video>/00000.jpg    the video frames
    ImageSets/2017/val.txt               the sequence name (one line)
    objects.json                         names, classes and colours of the objects

``480p`` frames are scaled to 480 pixels high (annotations with nearest-neighbour sampling, so
ids stay ids); ``resolution="full"`` keeps the original size under ``Full-Resolution/``
instead (exact masks; this is what round-trips bit for bit). Files are named by video frame
index (``{frame:05d}``). The annotation PNGs are the palette export's (same palette: each id
the object's colour).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from ..core.masks import MaskStore
from ..core.objects import TrackedObject
from ..errors import UserError
from .common import (
    ProgressFn,
    atomic_path,
    check_cancel,
    report_progress,
    resolve_frames,
    select_objects,
)

#: resolution option -> DAVIS folder name
RESOLUTIONS = {"480p": "480p", "full": "Full-Resolution"}
DAVIS_HEIGHT = 480


def davis_size(width: int, height: int, resolution: str) -> tuple[int, int]:
    """``(width, height)`` of the exported frames."""
    if resolution == "full" or height == DAVIS_HEIGHT:
        return width, height
    return max(1, round(width * DAVIS_HEIGHT / height)), DAVIS_HEIGHT


def export_davis(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                 out: str | Path, *, video=None, object_ids: Iterable[int] | None = None,
                 frames: range | None = None, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None,
                 categories: dict[int, str] | None = None, name: str = "video",
                 resolution: str = "480p", images: bool = True, jpeg_quality: int = 95) -> Path:
    """Write the DAVIS folder ``out`` (see the module docstring); returns ``out``.

    ``video`` (a :class:`~sam2studio.core.video.VideoSource`) gives the frames for
    ``JPEGImages``; ``images=False`` (or no video) writes annotations only.
    """
    from .mask_formats import write_objects_json

    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    if resolution not in RESOLUTIONS:
        raise UserError(f"resolution must be {' or '.join(RESOLUTIONS)}, got {resolution!r}")
    if ids[-1] > 255:
        raise UserError(f"object {ids[-1]} does not fit a DAVIS palette PNG, which holds ids 1 to 255.")
    name = str(name).strip() or "video"
    if "/" in name or "\\" in name:
        raise UserError(f"the sequence name {name!r} cannot hold a path separator")
    images = str(images).lower() not in ("0", "false", "no") and video is not None
    W, H = masks.width, masks.height
    size = davis_size(W, H, resolution)
    palette = [0] * (256 * 3)
    for o in ids:
        palette[3 * o:3 * o + 3] = [int(c) for c in objects[o].color]
    res = RESOLUTIONS[resolution]
    with atomic_path(out, directory=True) as tmp:
        ann_dir = tmp / "Annotations" / res / name
        img_dir = tmp / "JPEGImages" / res / name
        ann_dir.mkdir(parents=True)
        if images:
            img_dir.mkdir(parents=True)
        for done, f in enumerate(rng, 1):
            check_cancel(cancel)
            label = np.zeros((H, W), np.uint8)
            for o in ids:  # ascending: a higher id overwrites a lower one, as in palette PNGs
                e = masks.entry(f, o)
                if e is not None and e.area > 0:
                    label[mask_utils.decode(e.rle).astype(bool)] = o
            if size != (W, H):
                label = cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)
            img = Image.fromarray(label)
            img.putpalette(palette)
            img.save(ann_dir / f"{f:05d}.png", format="PNG")
            if images:
                frame = np.asarray(video.get_frame(f))
                if size != (W, H):
                    frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                Image.fromarray(frame).save(img_dir / f"{f:05d}.jpg", format="JPEG",
                                            quality=int(jpeg_quality))
            report_progress(progress, done, len(rng))
        sets = tmp / "ImageSets" / "2017"
        sets.mkdir(parents=True)
        (sets / "val.txt").write_text(name + "\n", encoding="utf-8")
        write_objects_json(masks, objects, ids, num_frames, tmp / "objects.json", rng, categories)
    return out
