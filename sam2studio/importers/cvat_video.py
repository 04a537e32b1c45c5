"""CVAT for video 1.1 XML: ``<track>`` elements of ``<mask>`` (or ``<polygon>``) shapes.

* Frames: a shape's ``frame`` is a task frame; video frame = ``start_frame`` + step x frame
  (``frame_filter`` ``step=K``). The task's frames (``size``) are the covered frames and must
  fit the video; ``original_size`` must be the video's size.
* A track's state on a frame is its last shape at or before it (CVAT keeps a shape until the
  next keyframe); ``outside="1"`` means absent, and so does any frame before the first shape.
* Object id = track id + 1; name from the ``object`` text attribute (SAM2 Studio) when present;
  class = the track's label. Shapes with ``keyframe="1"`` (and not outside) are the file's
  keyframes (``--keyframes auto`` makes them prompts).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np

from ..core.masks import encode_rle
from ..errors import UserError
from ..export.cvat_video import NAME_ATTRIBUTE, cvat_rle_to_mask
from .base import Annotations, VideoFacts


def looks_like(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".xml"):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b"<annotations" in head


def _int(el, key: str, where: str, default=None) -> int:
    v = el.get(key) if hasattr(el, "get") else None
    if v is None:
        if default is not None:
            return default
        raise UserError(f"{where}: missing {key}.")
    try:
        return int(float(v))
    except ValueError:
        raise UserError(f"{where}: {key}={v!r} is not a number.") from None


def _text(root, path: str) -> str | None:
    el = root.find(path)
    return None if el is None or el.text is None else el.text.strip()


def read_cvat_video(path: Path, video: VideoFacts, **_options) -> Annotations:
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise UserError(f"cannot read {path.name} as XML: {exc}.") from exc
    if root.tag != "annotations":
        raise UserError(f"{path.name} is not a CVAT annotation file (root <{root.tag}>).")
    if root.find("image") is not None and root.find("track") is None:
        raise UserError(f"{path.name} is CVAT for images; export the task as CVAT for video 1.1.")
    task = root.find("meta/task")
    if task is None:
        task = root.find("meta/job")
    if task is None:
        task = root.find("meta/project")  # a project export: one task's frames
    w = _text(root, "meta/task/original_size/width") or _text(root, "meta/job/original_size/width")
    h = _text(root, "meta/task/original_size/height") or _text(root, "meta/job/original_size/height")
    if w is not None and h is not None:
        video.check_size(int(w), int(h), f"{path.name} (original_size)")
    start = int(_text(task, "start_frame") or 0) if task is not None else 0
    step = 1
    flt = (_text(task, "frame_filter") or "") if task is not None else ""
    m = re.search(r"step\s*=\s*(\d+)", flt)
    if m:
        step = max(1, int(m.group(1)))
    size_text = _text(task, "size") if task is not None else None
    tracks = root.findall("track")
    last_shape = max((int(s.get("frame", 0)) for t in tracks for s in t), default=-1)
    size = int(size_text) if size_text else last_shape + 1
    if size <= 0:
        size = max(1, last_shape + 1)
    if start + step * (size - 1) >= video.num_frames or last_shape >= size:
        raise UserError(f"{path.name} covers frames {start} to {start + step * (max(size, last_shape + 1) - 1)} "
                        f"but the video has frames 0 to {video.num_frames - 1}.")
    ann = Annotations("cvat-video", path, video.width, video.height, keyframes={})
    labels = [(_text(lab, "name") or "") for lab in root.iter("label")]
    for cid, name in enumerate(dict.fromkeys(n for n in labels if n), 1):
        ann.categories[cid] = name
    skipped = set()
    for t in tracks:
        where = f"{path.name} track {t.get('id')}"
        oid = _int(t, "id", where) + 1
        o = ann.obj(oid)
        o.category = t.get("label", "")
        states = []
        for s in t:
            if s.tag not in ("mask", "polygon"):
                skipped.add(s.tag)
                continue
            f = _int(s, "frame", where)
            outside = s.get("outside", "0") == "1"
            for a in s.findall("attribute"):
                if a.get("name") == NAME_ATTRIBUTE and a.text and not o.name:
                    o.name = a.text
            mask = None
            if not outside:
                mask = _shape_mask(s, video, f"{where} frame {f}")
                if s.get("keyframe", "0") == "1":
                    ann.keyframes.setdefault(oid, []).append(start + step * f)
            states.append((f, mask))
        states.sort(key=lambda x: x[0])
        for k, (f, mask) in enumerate(states):
            end = states[k + 1][0] if k + 1 < len(states) else size
            if mask is None or not mask.any():
                continue
            rle = encode_rle(mask)  # once: a shape holds until the track's next shape
            for tf in range(f, end):
                ann.put(start + step * tf, oid, rle)
    if skipped:
        ann.notes.append(f"shapes other than masks and polygons skipped: {', '.join(sorted(skipped))}")
    ann.frames = [start + step * k for k in range(size)]
    return ann


def _shape_mask(s, video: VideoFacts, where: str) -> np.ndarray:
    if s.tag == "mask":
        try:
            runs = [int(float(v)) for v in s.get("rle", "").replace(" ", "").split(",") if v]
            return cvat_rle_to_mask(runs, _int(s, "left", where), _int(s, "top", where),
                                    _int(s, "width", where), _int(s, "height", where),
                                    video.width, video.height)
        except ValueError as exc:
            raise UserError(f"{where}: {exc}.") from exc
    pts = []
    for pair in s.get("points", "").split(";"):
        if pair.strip():
            x, y = pair.split(",")
            pts.append((float(x), float(y)))
    mask = np.zeros((video.height, video.width), np.uint8)
    if len(pts) >= 3:
        cv2.fillPoly(mask, [np.round(np.array(pts)).astype(np.int32)], 1)
    return mask.astype(bool)
