"""COCO instance segmentation JSON (the ``coco`` export, pycocotools, CVAT's COCO 1.0, TAO and
CocoVid-style video files).

* Frames: an image's ``frame_index`` (SAM2 Studio), else ``frame_id`` (CocoVid), else the last
  number in its ``file_name``; every image is a covered frame (no annotation = nothing there).
* Objects: an annotation's ``track_id`` (or ``instance_id``, or ``attributes.track_id`` as CVAT
  writes it) is the object id (ids are shifted by one when the file counts them from 0);
  without track ids, each category is one object whose id is the category id.
* Names, colours and classes of objects from a ``tracks`` list where the file has one;
  otherwise the category name is the class.
* Segmentations: compressed or uncompressed RLE, or polygons; several annotations of one object
  on one frame are merged.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import Annotations, VideoFacts, decode_segmentation, frame_number, read_json


def looks_like(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("images"), list) \
        and isinstance(data.get("annotations"), list)


def _track_of(a: dict):
    for key in ("track_id", "instance_id"):
        if a.get(key) is not None:
            return a[key]
    attrs = a.get("attributes")
    if isinstance(attrs, dict) and attrs.get("track_id") is not None:
        return attrs["track_id"]
    return None


def read_coco(path: Path, video: VideoFacts, *, data: dict | None = None, **_options) -> Annotations:
    path = Path(path)
    data = read_json(path) if data is None else data
    if not looks_like(data):
        raise UserError(f"{path.name} is not a COCO file (no images and annotations lists).")
    ann = Annotations("coco", path, video.width, video.height)
    cats = {}
    for c in data.get("categories") or []:
        try:
            cats[int(c["id"])] = str(c.get("name") or f"class {c['id']}")
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path.name}: a category has no numeric id.") from None
    ann.categories = dict(cats)
    frame_of: dict[object, int] = {}
    used: dict[int, object] = {}
    for img in data["images"]:
        try:
            iid = img["id"]
        except (KeyError, TypeError):
            raise UserError(f"{path.name}: an image has no id.") from None
        f = img.get("frame_index", img.get("frame_id"))
        if f is None:
            f = frame_number(str(img.get("file_name", "")))
        if f is None:
            raise UserError(f"{path.name}: image {iid} has no frame_index, frame_id or frame "
                            f"number in its file name, so its frame is unknown.")
        f = video.check_frame(int(f), f"{path.name} image {iid} ({img.get('file_name', '')})")
        if f in used:
            raise UserError(f"{path.name}: images {used[f]} and {iid} are both frame {f}.")
        used[f] = iid
        if "width" in img and "height" in img:
            video.check_size(img["width"], img["height"], f"{path.name} image {iid}")
        frame_of[iid] = f
    anns = data["annotations"]
    tracks = [_track_of(a) for a in anns]
    by_track = all(t is not None for t in tracks) and bool(anns)
    if by_track:
        try:
            tracks = [int(t) for t in tracks]
        except (TypeError, ValueError):
            raise UserError(f"{path.name}: track ids must be whole numbers.") from None
        shift = 1 if min(tracks) == 0 else 0
        if shift:
            ann.notes.append("track ids count from 0; object id = track id + 1")
    elif any(t is not None for t in tracks):
        raise UserError(f"{path.name}: some annotations have a track id and some do not.")
    else:
        ann.notes.append("no track ids: one object per category, object id = category id")
    class_of_obj: dict[int, int] = {}
    for a, t in zip(anns, tracks):
        try:
            iid, cid = a["image_id"], int(a["category_id"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path.name}: annotation {a.get('id')} has no image_id or category_id.") from None
        if iid not in frame_of:
            raise UserError(f"{path.name}: annotation {a.get('id')} refers to image {iid}, which is not listed.")
        if cid not in cats:
            raise UserError(f"{path.name}: annotation {a.get('id')} has category {cid}, which is not listed.")
        oid = t + shift if by_track else cid
        if class_of_obj.setdefault(oid, cid) != cid:
            raise UserError(f"{path.name}: object {oid} has two categories "
                            f"({cats[class_of_obj[oid]]} and {cats[cid]}).")
        f = frame_of[iid]
        rle = decode_segmentation(a.get("segmentation"), video.height, video.width,
                                  f"{path.name} annotation {a.get('id')}")
        ann.obj(oid)
        if rle is not None:
            ann.put(f, oid, rle, a.get("score"))
    for oid, cid in class_of_obj.items():
        o = ann.obj(oid)
        o.category = cats[cid]
        o.name = "" if by_track else cats[cid]
    for t in data.get("tracks") or []:  # SAM2 Studio / TAO track list
        if not isinstance(t, dict) or "id" not in t:
            continue
        oid = int(t["id"]) + (shift if by_track else 0)
        o = ann.obj(oid)
        if t.get("name"):
            o.name = str(t["name"])
        if isinstance(t.get("category"), str):  # SAM2 Studio: the object's own class
            o.category = t["category"]
        elif t.get("category_id") is not None and int(t["category_id"]) in cats:
            o.category = cats[int(t["category_id"])]
        color = t.get("color")
        if isinstance(color, list) and len(color) == 3:
            o.color = tuple(int(c) for c in color)
    ann.frames = sorted(frame_of.values())
    return ann
