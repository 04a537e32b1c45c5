"""MOTS export: the KITTI MOTS / MOTSChallenge text format.

A folder ``out`` with::

    <sequence>.txt   one line per object and frame where it is present:
                     "frame obj_id class_id img_height img_width rle"
    objects.json     names, classes and colours (the text format has none)

* ``obj_id = class_id * 1000 + object id`` (so object ids must stay below 1000), ``class_id``
  the object's class id (KITTI MOTS uses 1 = car, 2 = pedestrian and 10 = ignore region;
  give the project those class ids to match). Lines are ordered by frame, then ``obj_id``.
* ``rle`` is COCO's compressed RLE string (column-major, as ``pycocotools`` writes it) of the
  full frame.
* ``frame`` is the video frame index plus ``first_frame`` (0, KITTI MOTS; MOTSChallenge
  counts from 1).
* The format forbids overlapping masks: where masks overlap, the object with the higher id
  keeps the pixel (as in palette PNGs); ``overlaps="keep"`` writes them unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..core.masks import MaskStore, encode_rle
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

#: MOTS object ids are class_id * ID_FACTOR + instance.
ID_FACTOR = 1000


def _overlap(rles: list[dict]) -> bool:
    """Whether any two of the masks share a pixel (checked on the RLEs, nothing decoded)."""
    for i in range(len(rles)):
        for j in range(i + 1, len(rles)):
            if mask_utils.area(mask_utils.merge([rles[i], rles[j]], intersect=True)) > 0:
                return True
    return False


def export_mots(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                out: str | Path, *, object_ids: Iterable[int] | None = None,
                frames: range | None = None, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None,
                categories: dict[int, str] | None = None, sequence: str = "0000",
                first_frame: int = 0, overlaps: str = "resolve") -> Path:
    """Write the MOTS folder ``out`` (see the module docstring); returns ``out``."""
    from .mask_formats import write_objects_json

    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    if ids[-1] >= ID_FACTOR:
        raise UserError(f"object {ids[-1]} does not fit MOTS, whose object ids are "
                        f"class * {ID_FACTOR} + 1..{ID_FACTOR - 1}.")
    if overlaps not in ("resolve", "keep"):
        raise UserError(f"overlaps must be resolve or keep, got {overlaps!r}")
    first_frame = int(first_frame)
    if first_frame < 0:
        raise UserError("first_frame must be 0 or more")
    sequence = str(sequence).strip() or "0000"
    if "/" in sequence or "\\" in sequence:
        raise UserError(f"the sequence name {sequence!r} cannot hold a path separator")
    class_of, _ = class_table(objects, categories)
    H, W = masks.height, masks.width
    with atomic_path(out, directory=True) as tmp:
        with open(tmp / f"{sequence}.txt", "w", encoding="ascii", newline="\n") as fh:
            for done, f in enumerate(rng, 1):
                check_cancel(cancel)
                present = [o for o in ids if (e := masks.entry(f, o)) is not None and e.area > 0]
                rles = {o: masks.entry(f, o).rle for o in present}
                if overlaps == "resolve" and _overlap(list(rles.values())):
                    taken = np.zeros((H, W), bool)
                    rles.clear()
                    for o in reversed(present):  # higher ids first keep their pixels
                        m = mask_utils.decode(masks.entry(f, o).rle).astype(bool) & ~taken
                        taken |= m
                        if m.any():
                            rles[o] = encode_rle(m)
                for o in sorted(rles, key=lambda o: (class_of[o] * ID_FACTOR + o)):
                    counts = rles[o]["counts"]
                    counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
                    fh.write(f"{f + first_frame} {class_of[o] * ID_FACTOR + o} {class_of[o]} "
                             f"{H} {W} {counts}\n")
                report_progress(progress, done, len(rng))
        write_objects_json(masks, objects, ids, num_frames, tmp / "objects.json", rng, categories)
    return out
