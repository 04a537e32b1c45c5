"""YouTube-VIS / OVIS export: one JSON file in the video instance segmentation layout.

Layout (the one the YouTube-VIS 2019/2021 and OVIS annotation files use)::

    {"info": {...}, "licenses": [],
     "videos": [{"id": 1, "name": "clip", "width": W, "height": H, "length": F,
                 "file_names": ["clip/00000.jpg", ...]}],
     "categories": [{"id": 1, "name": "person", "supercategory": "object"}, ...],
     "annotations": [{"id": 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                      "width": W, "height": H, "length": F,
                      "segmentations": [RLE or null per frame], "areas": [int or null],
                      "bboxes": [[x, y, w, h] or null], ...}]}

One annotation per object; the i-th entry of ``segmentations``/``areas``/``bboxes`` belongs to
the i-th of the video's ``file_names`` (frame ``frames[i]``) and is ``null`` where the object is
absent. Each RLE is COCO's *uncompressed* RLE (``counts`` a list of run lengths, column by
column, starting with background), as the YouTube-VIS and OVIS annotation files have it: the
YouTube-VIS API and TrackEval read it with ``pycocotools.mask.frPyObjects(rle, h, w)`` and
``pycocotools.mask.decode`` frame by frame. ``rle="compressed"`` writes COCO's compressed
strings instead (as result files do; ``decode`` reads them directly). Besides the standard keys, each
annotation carries ``track_id`` (the object id), ``name``, ``category`` (the object's own
class, ``""`` for none) and ``color`` and the video
``frame_indices`` (the frames of ``file_names``), which other tools ignore and the importer
uses to restore objects exactly.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..core.masks import MaskStore, rle_bbox
from ..core.objects import TrackedObject, class_table
from ..errors import UserError
from .common import (
    ProgressFn,
    atomic_path,
    check_cancel,
    report_progress,
    resolve_frames,
    select_objects,
)


def rle_json(rle: dict, compressed: bool = False) -> dict:
    """A COCO RLE as JSON: ``{"size": [h, w], "counts": str}`` (compressed) or with ``counts``
    the list of run lengths (uncompressed, column-major, starting with background)."""
    size = [int(v) for v in rle["size"]]
    counts = rle["counts"]
    if compressed:
        return {"size": size, "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
    flat = mask_utils.decode(rle).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs.insert(0, 0)
    return {"size": size, "counts": runs}


def export_youtube_vis(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                       out: str | Path, *, object_ids: Iterable[int] | None = None,
                       frames: range | None = None, progress: ProgressFn | None = None,
                       cancel: threading.Event | None = None,
                       categories: dict[int, str] | None = None, video_name: str = "video",
                       image_ext: str = ".jpg", indent: int | None = None,
                       rle: str = "uncompressed") -> Path:
    """Write the YouTube-VIS JSON ``out`` (see the module docstring); returns ``out``.

    ``video_name`` names the video and the folder of its ``file_names``
    (``{video_name}/{frame:05d}{image_ext}``). Classes as in COCO
    (:func:`~sam2studio.core.objects.class_table`). ``rle``: ``uncompressed`` (default, the
    datasets' own form) or ``compressed``.
    """
    if rle not in ("uncompressed", "compressed"):
        raise UserError(f"rle must be uncompressed or compressed, got {rle!r}")
    compressed = rle == "compressed"
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    W, H = masks.width, masks.height
    class_of, classes = class_table(objects, categories)
    video_name = str(video_name) or "video"
    anns = []
    per_obj = {o: ([], [], []) for o in ids}
    for done, f in enumerate(rng, 1):
        check_cancel(cancel)
        for o in ids:
            segs, areas, boxes = per_obj[o]
            e = masks.entry(f, o)
            if e is None or e.area <= 0:
                segs.append(None)
                areas.append(None)
                boxes.append(None)
            else:
                segs.append(rle_json(e.rle, compressed))
                areas.append(int(e.area))
                boxes.append([float(v) for v in rle_bbox(e.rle)])
        report_progress(progress, done, len(rng))
    for k, o in enumerate(ids, 1):
        segs, areas, boxes = per_obj[o]
        anns.append({"id": k, "video_id": 1, "category_id": class_of[o], "iscrowd": 0,
                     "width": W, "height": H, "length": 1,
                     "segmentations": segs, "areas": areas, "bboxes": boxes,
                     "track_id": o, "name": objects[o].name, "category": objects[o].category,
                     "color": [int(c) for c in objects[o].color]})
    data = {
        "info": {"description": "SAM2 Studio YouTube-VIS export", "version": "1.0"},
        "licenses": [],
        "videos": [{"id": 1, "name": video_name, "width": W, "height": H, "length": len(rng),
                    "file_names": [f"{video_name}/{f:05d}{image_ext}" for f in rng],
                    "frame_indices": list(rng)}],
        "categories": [{"id": c, "name": n, "supercategory": "object"} for c, n in classes.items()],
        "annotations": anns,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
    return out
