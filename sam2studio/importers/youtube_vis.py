"""YouTube-VIS / OVIS JSON (``videos``, ``categories``, ``annotations`` with one
``segmentations`` entry per frame of the video, ``null`` where the object is absent).

* Video: the one named like the video (or the only one, or ``-o video_name=NAME``).
* Frames: the video's ``frame_indices`` (SAM2 Studio); else position ``i`` of ``file_names`` is
  frame ``i`` when ``length`` equals the video's frame count; else the numbers in
  ``file_names`` (a sub-range export) when they all fit the video; otherwise an error.
* Objects: an annotation's ``track_id`` is the object id where every annotation has one;
  otherwise objects are numbered 1, 2, ... in file order.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import Annotations, VideoFacts, decode_segmentation, frame_number, read_json


def looks_like(data: object) -> bool:
    return isinstance(data, dict) and isinstance(data.get("videos"), list) \
        and isinstance(data.get("annotations"), list) \
        and all("segmentations" in a for a in data["annotations"][:5] if isinstance(a, dict))


def _pick_video(data: dict, path: Path, video: VideoFacts, name: str | None) -> dict:
    vids = [v for v in data["videos"] if isinstance(v, dict)]
    if not vids:
        raise UserError(f"{path.name} lists no videos.")

    def vname(v):
        n = v.get("name")
        if n:
            return str(n)
        files = v.get("file_names") or []
        return Path(files[0]).parent.name if files else str(v.get("id"))

    if name:
        hits = [v for v in vids if vname(v) == name]
        if not hits:
            raise UserError(f"{path.name} has no video {name!r} (it has {', '.join(vname(v) for v in vids)}).")
        return hits[0]
    if len(vids) == 1:
        return vids[0]
    hits = [v for v in vids if vname(v) == video.name]
    if hits:
        return hits[0]
    raise UserError(f"{path.name} holds {len(vids)} videos ({', '.join(vname(v) for v in vids[:8])}"
                    f"{', ...' if len(vids) > 8 else ''}); choose one with -o video_name=NAME.")


def read_youtube_vis(path: Path, video: VideoFacts, *, data: dict | None = None,
                     video_name: str | None = None, **_options) -> Annotations:
    path = Path(path)
    data = read_json(path) if data is None else data
    if not looks_like(data):
        raise UserError(f"{path.name} is not a YouTube-VIS file (no videos and annotations with segmentations).")
    v = _pick_video(data, path, video, video_name)
    vid = v.get("id")
    files = [str(x) for x in v.get("file_names") or []]
    length = int(v.get("length", len(files)))
    if files and len(files) != length:
        raise UserError(f"{path.name}: video {vid} has length {length} but {len(files)} file names.")
    if "width" in v and "height" in v:
        video.check_size(v["width"], v["height"], f"{path.name} video {vid}")
    if isinstance(v.get("frame_indices"), list):
        frames = [int(x) for x in v["frame_indices"]]
        if len(frames) != length:
            raise UserError(f"{path.name}: video {vid} has length {length} but {len(frames)} frame indices.")
    elif length == video.num_frames:
        frames = list(range(length))
    else:
        nums = [frame_number(x) for x in files]
        if not files or any(n is None for n in nums) or len(set(nums)) != len(nums) \
                or max(nums) >= video.num_frames:
            raise UserError(f"{path.name}: video {vid} has {length} frames but the video has "
                            f"{video.num_frames}; import onto the frames it was made on.")
        frames = nums
        ann_note = f"{length} of the video's {video.num_frames} frames, placed by their file names"
    for f in frames:
        video.check_frame(f, f"{path.name} video {vid}")
    ann = Annotations("youtube-vis", path, video.width, video.height)
    if length != video.num_frames and "frame_indices" not in v:
        ann.notes.append(ann_note)
    cats = {}
    for c in data.get("categories") or []:
        try:
            cats[int(c["id"])] = str(c.get("name") or f"class {c['id']}")
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path.name}: a category has no numeric id.") from None
    ann.categories = dict(cats)
    anns = [a for a in data["annotations"] if isinstance(a, dict) and a.get("video_id") == vid]
    by_track = bool(anns) and all(a.get("track_id") is not None for a in anns)
    if anns and not by_track:
        ann.notes.append("no track ids: objects numbered 1, 2, ... in file order")
    for k, a in enumerate(anns, 1):
        oid = int(a["track_id"]) if by_track else k
        if oid in ann.objects:
            raise UserError(f"{path.name}: object {oid} appears twice.")
        o = ann.obj(oid)
        cid = a.get("category_id")
        if cid is not None:
            if int(cid) not in cats:
                raise UserError(f"{path.name}: annotation {a.get('id')} has category {cid}, which is not listed.")
            o.category = cats[int(cid)]
        o.name = str(a.get("name") or "")
        if isinstance(a.get("category"), str):  # SAM2 Studio: the object's own class
            o.category = a["category"]
        color = a.get("color")
        if isinstance(color, list) and len(color) == 3:
            o.color = tuple(int(c) for c in color)
        segs = a.get("segmentations") or []
        if len(segs) != length:
            raise UserError(f"{path.name}: annotation {a.get('id')} has {len(segs)} segmentations "
                            f"for a video of {length} frames.")
        for f, seg in zip(frames, segs):
            rle = decode_segmentation(seg, video.height, video.width,
                                      f"{path.name} annotation {a.get('id')} frame {f}")
            if rle is not None:
                ann.put(f, oid, rle)
    ann.frames = sorted(frames)
    return ann
