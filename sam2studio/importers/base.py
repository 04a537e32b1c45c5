"""What every importer returns (:class:`Annotations`), the checks against the video, and how
annotations become objects, masks and prompts of a :class:`~sam2studio.core.project.Project`.

Readers never resize, shift or renumber frames silently: a size, frame count or frame index
that does not fit the video raises :class:`~sam2studio.errors.UserError` naming the file, what
it holds and what the video has.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from ..core.masks import encode_rle, rle_area
from ..core.objects import TrackedObject
from ..core.prompts import FramePrompt
from ..errors import UserError

#: ``--keyframes`` choices: which imported frames become prompts.
KEYFRAME_CHOICES = ("auto", "all", "first", "none")

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass
class VideoFacts:
    """What a reader checks a file against: the video's size and frame count."""

    width: int
    height: int
    num_frames: int
    name: str = ""  # the video's file or folder stem, to pick a sequence in multi-video files

    def check_size(self, width: int, height: int, what: str) -> None:
        if (int(width), int(height)) != (self.width, self.height):
            raise UserError(f"{what} is {int(width)}x{int(height)} pixels but the video is "
                            f"{self.width}x{self.height}; annotations are never resized: import "
                            f"them onto the video they were made on.")

    def check_frame(self, frame: int, what: str) -> int:
        frame = int(frame)
        if not 0 <= frame < self.num_frames:
            raise UserError(f"{what} is frame {frame}, but the video has frames 0 to "
                            f"{self.num_frames - 1}.")
        return frame


@dataclass
class ImportedObject:
    id: int
    name: str = ""
    category: str = ""
    color: tuple[int, int, int] | None = None


@dataclass
class Annotations:
    """Masks read from a file, checked against the video.

    ``frames`` are the video frames the file covers: on those, an object without an entry in
    ``masks`` is absent (it gets an empty mask); frames outside ``frames`` are left alone.
    ``masks[obj][frame]`` is a non-empty COCO RLE (``counts`` bytes) of the full frame.
    ``keyframes`` holds the file's own keyframe marks (CVAT) or None.
    """

    format: str
    source: Path
    width: int
    height: int
    objects: dict[int, ImportedObject] = field(default_factory=dict)
    masks: dict[int, dict[int, dict]] = field(default_factory=dict)
    frames: list[int] = field(default_factory=list)
    categories: dict[int, str] = field(default_factory=dict)
    scores: dict[tuple[int, int], float] = field(default_factory=dict)
    keyframes: dict[int, list[int]] | None = None
    notes: list[str] = field(default_factory=list)

    # ---- building ----------------------------------------------------------------------
    def obj(self, obj_id: int) -> ImportedObject:
        """The object ``obj_id``, created on first use."""
        obj_id = int(obj_id)
        if obj_id <= 0:
            raise UserError(f"{self.source.name}: object id {obj_id} is not a positive integer.")
        o = self.objects.get(obj_id)
        if o is None:
            o = self.objects[obj_id] = ImportedObject(obj_id)
        return o

    def put(self, frame: int, obj_id: int, rle: dict, score: float | None = None) -> None:
        """Add a mask (merged with one already there for the same object and frame)."""
        self.obj(obj_id)
        if tuple(int(v) for v in rle["size"]) != (self.height, self.width):
            h, w = (int(v) for v in rle["size"])
            raise UserError(f"{self.source.name}: a mask on frame {frame} is {w}x{h} pixels "
                            f"but the video is {self.width}x{self.height}.")
        if isinstance(rle.get("counts"), str):
            rle = {"size": list(rle["size"]), "counts": rle["counts"].encode("ascii")}
        per = self.masks.setdefault(int(obj_id), {})
        old = per.get(int(frame))
        if old is not None:
            rle = mask_utils.merge([old, rle], intersect=False)
        if rle_area(rle) > 0:
            per[int(frame)] = rle
        if score is not None:
            self.scores[(int(frame), int(obj_id))] = float(score)

    def put_mask(self, frame: int, obj_id: int, mask: np.ndarray, score: float | None = None) -> None:
        m = np.asarray(mask, dtype=bool)
        if m.any():
            self.put(frame, obj_id, encode_rle(m), score)
        else:
            self.obj(obj_id)

    # ---- facts -------------------------------------------------------------------------
    def present_frames(self, obj_id: int) -> list[int]:
        return sorted(self.masks.get(int(obj_id), {}))

    def summary(self) -> dict:
        """What was found, for a preview: counts, per-object frames, size and notes."""
        objs = []
        for oid in sorted(self.objects):
            o = self.objects[oid]
            present = self.present_frames(oid)
            objs.append({"id": oid, "name": o.name or f"object {oid}", "category": o.category,
                         "frames_present": len(present),
                         "first": present[0] if present else None,
                         "last": present[-1] if present else None})
        return {"format": self.format, "source": str(self.source), "width": self.width,
                "height": self.height, "frames": len(self.frames),
                "first_frame": self.frames[0] if self.frames else None,
                "last_frame": self.frames[-1] if self.frames else None,
                "objects": objs, "masks": sum(len(v) for v in self.masks.values()),
                "notes": list(self.notes)}

    def describe(self) -> str:
        """A few lines for a terminal or a preview box."""
        s = self.summary()
        span = "no frames" if not s["frames"] else \
            f"{s['frames']} frames ({s['first_frame']} to {s['last_frame']})"
        head = f"{s['format']}: {len(s['objects'])} objects, {span}, {s['width']}x{s['height']} (matches the video)"
        lines = [head]
        for o in s["objects"]:
            cat = f" [{o['category']}]" if o["category"] else ""
            where = "never present" if o["first"] is None else \
                f"present on {o['frames_present']} frames, {o['first']} to {o['last']}"
            lines.append(f"  {o['id']}: {o['name']}{cat}, {where}")
        lines += [f"  note: {n}" for n in s["notes"]]
        return "\n".join(lines)


# ---- helpers shared by readers ---------------------------------------------------------
def frame_number(name: str) -> int | None:
    """The last number in a file name's stem (``00012.png`` -> 12), or None."""
    m = _LAST_NUMBER.search(Path(name).stem)
    return None if m is None else int(m.group(1))


def read_json(path: Path) -> object:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not a JSON file ({exc}).") from exc


def read_objects_sidecar(path: Path, ann: Annotations) -> bool:
    """Names, classes and colours from an ``objects.json`` written by SAM2 Studio's folder
    exports, for the objects of ``ann``; False when there is no such file."""
    path = Path(path)
    if not path.is_file():
        return False
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        ann.notes.append(f"{path.name} has no object list; names were not read")
        return False
    for c in data.get("categories") or []:
        try:
            ann.categories[int(c["id"])] = str(c["name"])
        except (KeyError, TypeError, ValueError):
            continue
    for entry in data["objects"]:
        try:
            oid = int(entry["id"])
        except (KeyError, TypeError, ValueError):
            continue
        o = ann.obj(oid)
        o.name = str(entry.get("name") or "")
        o.category = str(entry.get("category") or "")
        color = entry.get("color")
        if isinstance(color, list) and len(color) == 3:
            o.color = tuple(int(c) for c in color)
    return True


def decode_segmentation(seg, height: int, width: int, where: str) -> dict | None:
    """A COCO segmentation (compressed or uncompressed RLE, or polygons) as a compressed RLE of
    a ``height`` x ``width`` frame; None for an empty one. Raises UserError for another size."""
    if seg is None:
        return None
    try:
        if isinstance(seg, dict):
            size = [int(v) for v in seg["size"]]
            if size != [height, width]:
                raise UserError(f"{where}: the mask is {size[1]}x{size[0]} pixels but the video "
                                f"is {width}x{height}.")
            counts = seg["counts"]
            if isinstance(counts, list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(seg, height, width)
            else:
                rle = {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str)
                       else bytes(counts)}
        elif isinstance(seg, list):  # polygons [[x, y, x, y, ...], ...]
            polys = [p for p in seg if isinstance(p, list) and len(p) >= 6]
            if not polys:
                return None
            rle = mask_utils.merge(mask_utils.frPyObjects(polys, height, width))
        else:
            raise UserError(f"{where}: unknown segmentation {type(seg).__name__}.")
        area = rle_area(rle)  # also validates the counts string
    except UserError:
        raise
    except Exception as exc:  # pycocotools raises bare exceptions on bad counts
        raise UserError(f"{where}: the mask cannot be decoded ({exc}).") from exc
    return rle if area > 0 else None


# ---- into a project ---------------------------------------------------------------------
@dataclass
class ImportResult:
    """What :func:`apply_annotations` added."""

    objects: dict[int, int]  # id in the file -> id in the project
    frames: int
    masks: int
    keyframes: int
    notes: list[str]

    def describe(self) -> str:
        moved = {a: b for a, b in self.objects.items() if a != b}
        text = (f"imported {len(self.objects)} objects on {self.frames} frames "
                f"({self.masks} masks, {self.keyframes} keyframes)")
        if moved:
            text += "; renumbered " + ", ".join(f"{a} -> {b}" for a, b in sorted(moved.items()))
        return text


def keyframes_of(ann: Annotations, obj_id: int, mode: str) -> list[int]:
    present = ann.present_frames(obj_id)
    if mode == "auto":
        if ann.keyframes is not None:
            return [f for f in sorted(ann.keyframes.get(obj_id, [])) if f in ann.masks.get(obj_id, {})]
        mode = "first"
    if mode == "all":
        return present
    if mode == "first":
        return present[:1]
    if mode == "none":
        return []
    raise UserError(f"--keyframes must be one of {', '.join(KEYFRAME_CHOICES)}, got {mode!r}")


def apply_annotations(project, ann: Annotations, *, keyframes: str = "auto",
                      new_ids: bool = False) -> ImportResult:
    """Add ``ann``'s objects (names, classes, colours), masks and absent frames to ``project``
    and make the ``keyframes`` frames mask prompts (``auto``: the file's own keyframes where it
    has them, else each object's first frame; ``all``: every frame where it is present;
    ``first``; ``none``).

    Object ids are kept; an id the project already uses is an error unless ``new_ids``, which
    gives every imported object the next free id. Classes join the project's class list with
    their ids from the file where those are free.
    """
    if keyframes not in KEYFRAME_CHOICES:
        raise UserError(f"--keyframes must be one of {', '.join(KEYFRAME_CHOICES)}, got {keyframes!r}")
    if (ann.width, ann.height) != (project.width, project.height):
        raise UserError(f"{ann.source.name} is {ann.width}x{ann.height} pixels but the project's "
                        f"video is {project.width}x{project.height}.")
    covered = sorted(set(ann.frames).union(*(set(v) for v in ann.masks.values())))
    bad = [f for f in covered if not 0 <= f < project.num_frames]
    if bad:
        raise UserError(f"{ann.source.name} has frame {bad[0]}, but the video has frames 0 to "
                        f"{project.num_frames - 1}.")
    taken = sorted(set(ann.objects) & set(project.objects))
    if taken and not new_ids:
        raise UserError(f"the project already has object {taken[0]}; import with new ids "
                        f"(--new-ids) or into a new project.")
    notes = list(ann.notes)
    # classes: keep the file's ids where they are free
    for cid, name in sorted(ann.categories.items()):
        name = " ".join(str(name).split())
        if not name or name in project.categories.values():
            continue
        if cid in project.categories or cid <= 0:
            new = project.add_category(name)
            notes.append(f"class {name!r} is class {new} in the project (id {cid} was taken)")
        else:
            project.add_category(name, cid)
    mapping: dict[int, int] = {}
    next_id = max(project.objects, default=0) + 1
    for oid in sorted(ann.objects):
        if new_ids:
            mapping[oid] = next_id
            next_id += 1
        else:
            mapping[oid] = oid
    empty = encode_rle(np.zeros((project.height, project.width), np.uint8))
    n_masks = n_keys = 0
    for oid in sorted(ann.objects):
        src = ann.objects[oid]
        pid = mapping[oid]
        color = src.color if src.color is not None else (0, 0, 0)
        project.add_object(TrackedObject(pid, src.name, tuple(color), category=src.category))
        per = ann.masks.get(oid, {})
        for f in covered:
            rle = per.get(f)
            if rle is None:
                project.masks.set_rle(f, pid, dict(empty), 1.0, 0)
            else:
                project.masks.set_rle(f, pid, rle, ann.scores.get((f, oid), 1.0))
                n_masks += 1
        for f in keyframes_of(ann, oid, keyframes):
            project.prompts.set(f, pid, FramePrompt(mask_rle=per[f]))
            n_keys += 1
    project.touch()
    return ImportResult(mapping, len(covered), n_masks, n_keys, notes)
