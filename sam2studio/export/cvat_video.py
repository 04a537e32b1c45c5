"""CVAT for video 1.1 export: one XML file, one ``<track>`` of ``<mask>`` shapes per object.

Layout (CVAT's "CVAT for video 1.1" annotation file, interpolation mode)::

    <annotations>
      <version>1.1</version>
      <meta><task>... <size>F</size> <mode>interpolation</mode>
        <start_frame>S</start_frame> <stop_frame>E</stop_frame>
        <labels><label><name>person</name><color>#rrggbb</color><type>mask</type>
          <attributes><attribute><name>object</name>...text...</attribute></attributes>
        </label>...</labels>
        <original_size><width>W</width><height>H</height></original_size>
      </task></meta>
      <track id="0" label="person" source="manual">
        <mask frame="0" keyframe="1" outside="0" occluded="0" rle="3, 5, 2, ..."
              left="10" top="20" width="8" height="4" z_order="0">
          <attribute name="object">rider 2</attribute>
        </mask>
        <mask frame="7" keyframe="1" outside="1" .../>  (absent from here on)
      </track>
    </annotations>

* Track ``id`` = object id - 1 (CVAT numbers tracks from 0); ``label`` = the object's class.
* ``frame`` counts the exported frames from 0 (the task's frame numbers); ``start_frame`` and
  ``stop_frame`` give the video frames of the first and last, ``frame_filter`` ``step=K`` the
  step.
* Mask ``rle``: CVAT's run lengths over the mask's bounding box (``left``, ``top``, ``width``,
  ``height``; pixels inclusive), read row by row, alternating runs of 0 and 1 and starting with
  a (possibly zero) run of 0.
* Each track has a shape on every frame from the object's first appearance in the range:
  ``outside="1"`` where it is absent (with the last mask's data, as CVAT writes it);
  ``keyframe="1"`` on the user's prompt frames, the track's first shape and where the object
  leaves or comes back.
* The object's name travels in a text attribute ``object`` (declared on each label).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from pycocotools import mask as mask_utils

from ..core.masks import MaskStore, rle_bbox
from ..core.objects import TrackedObject, class_table
from .common import (
    ProgressFn,
    atomic_path,
    check_cancel,
    report_progress,
    resolve_frames,
    select_objects,
)

#: The label attribute that carries each object's name.
NAME_ATTRIBUTE = "object"


def mask_to_cvat_rle(mask: np.ndarray) -> tuple[list[int], int, int, int, int]:
    """``(runs, left, top, width, height)`` of a non-empty 2-D mask in CVAT's mask encoding."""
    m = np.asarray(mask, dtype=bool)
    ys = np.flatnonzero(m.any(axis=1))
    xs = np.flatnonzero(m.any(axis=0))
    if len(ys) == 0:
        raise ValueError("an empty mask has no CVAT encoding")
    top, bottom, left, right = int(ys[0]), int(ys[-1]), int(xs[0]), int(xs[-1])
    flat = m[top:bottom + 1, left:right + 1].ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return runs, left, top, right - left + 1, bottom - top + 1


def cvat_rle_to_mask(runs: list[int], left: int, top: int, width: int, height: int,
                     frame_width: int, frame_height: int) -> np.ndarray:
    """The full-frame bool mask of a CVAT mask shape (see :func:`mask_to_cvat_rle`).

    Raises ValueError when the runs do not fill the box or the box leaves the frame."""
    if width <= 0 or height <= 0:
        raise ValueError(f"mask box {width}x{height} is empty")
    if left < 0 or top < 0 or left + width > frame_width or top + height > frame_height:
        raise ValueError(f"mask box {left},{top} {width}x{height} leaves the "
                         f"{frame_width}x{frame_height} frame")
    runs_arr = np.asarray(runs, dtype=np.int64)
    if (runs_arr < 0).any() or int(runs_arr.sum()) != width * height:
        raise ValueError(f"mask runs add up to {int(runs_arr.sum())} pixels, its box has "
                         f"{width * height}")
    values = (np.arange(len(runs_arr)) % 2).astype(bool)
    crop = np.repeat(values, runs_arr).reshape(height, width)
    out = np.zeros((frame_height, frame_width), bool)
    out[top:top + height, left:left + width] = crop
    return out


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def _shape(frame: int, keyframe: bool, outside: bool, enc, name: str) -> str:
    runs, left, top, width, height = enc
    rle = ", ".join(str(r) for r in runs)
    return (f'    <mask frame="{frame}" keyframe="{int(keyframe)}" outside="{int(outside)}" '
            f'occluded="0" rle="{rle}" left="{left}" top="{top}" width="{width}" '
            f'height="{height}" z_order="0">\n'
            f'      <attribute name="{NAME_ATTRIBUTE}">{escape(name)}</attribute>\n'
            f'    </mask>\n')


def export_cvat_video(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                      out: str | Path, *, object_ids: Iterable[int] | None = None,
                      frames: range | None = None, progress: ProgressFn | None = None,
                      cancel: threading.Event | None = None,
                      categories: dict[int, str] | None = None,
                      keyframes: dict[int, list[int]] | None = None,
                      task_name: str = "video") -> Path:
    """Write a CVAT for video 1.1 XML file ``out`` (see the module docstring).

    ``keyframes`` maps object ids to their prompt frames (marked ``keyframe="1"``). Memory
    stays bounded: one object's shapes are written at a time.
    """
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    W, H = masks.width, masks.height
    class_of, classes = class_table(objects, categories)
    colour_of = {}
    for o in sorted(objects):
        colour_of.setdefault(class_of[o], objects[o].color)
    keyframes = {int(k): set(v) for k, v in (keyframes or {}).items()}
    step = rng.step
    head = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>",
            "  <meta>", "    <task>", "      <id>0</id>", f"      <name>{escape(str(task_name))}</name>",
            f"      <size>{len(rng)}</size>", "      <mode>interpolation</mode>",
            "      <overlap>0</overlap>", "      <bugtracker></bugtracker>",
            "      <flipped>False</flipped>", f"      <start_frame>{rng[0]}</start_frame>",
            f"      <stop_frame>{rng[-1]}</stop_frame>",
            f"      <frame_filter>{f'step={step}' if step > 1 else ''}</frame_filter>",
            "      <labels>"]
    for cid, name in classes.items():
        colour = colour_of.get(cid, (128, 128, 128))
        head += ["        <label>", f"          <name>{escape(name)}</name>",
                 f"          <color>{_hex(colour)}</color>", "          <type>mask</type>",
                 "          <attributes>", "            <attribute>",
                 f"              <name>{NAME_ATTRIBUTE}</name>",
                 "              <mutable>False</mutable>",
                 "              <input_type>text</input_type>",
                 "              <default_value></default_value>", "              <values></values>",
                 "            </attribute>", "          </attributes>", "        </label>"]
    head += ["      </labels>", "      <original_size>", f"        <width>{W}</width>",
             f"        <height>{H}</height>", "      </original_size>", "    </task>", "  </meta>"]
    total = len(ids) * len(rng)
    done = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(head) + "\n")
        for o in ids:
            name = objects[o].name
            fh.write(f'  <track id="{o - 1}" label={quoteattr(classes[class_of[o]])} '
                     f'source="manual">\n')
            last = None  # the last written mask encoding
            was_present = False
            started = False
            for k, f in enumerate(rng):
                check_cancel(cancel)
                e = masks.entry(f, o)
                present = e is not None and e.area > 0
                if present:
                    x, y, w, h = (round(v) for v in rle_bbox(e.rle))
                    crop = mask_utils.decode(e.rle)[y:y + h, x:x + w]
                    runs, left, top, cw, ch = mask_to_cvat_rle(crop)
                    last = (runs, left + x, top + y, cw, ch)
                    key = (not started) or (not was_present) or f in keyframes.get(o, ())
                    fh.write(_shape(k, key, False, last, name))
                    started = True
                elif started:
                    fh.write(_shape(k, was_present, True, last, name))
                was_present = present
                done += 1
                report_progress(progress, done, total)
            if not started:  # never present in the range: one outside shape keeps the object
                fh.write(_shape(0, True, True, ([1], 0, 0, 1, 1), name))
            fh.write("  </track>\n")
        fh.write("</annotations>\n")
    return out
