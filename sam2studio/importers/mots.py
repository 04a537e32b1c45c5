"""MOTS text (KITTI MOTS / MOTSChallenge): ``frame obj_id class_id height width rle`` per line.

* A ``.txt`` file, or a folder holding one (or ``<video>.txt``, also under ``instances_txt/``),
  with an optional ``objects.json`` beside it for names and classes.
* ``frame`` minus ``first_frame`` (``-o first_frame=1`` for MOTSChallenge's 1-based frames) is
  the video frame; a frame outside the video is an error, never a shift.
* Object id = ``obj_id % 1000`` (the instance, as ``obj_id = class_id * 1000 + instance``),
  unless two classes share an instance number: then the whole ``obj_id``. The ignore region
  (``obj_id`` 10000, class 10) is skipped.
* Every frame of the video is covered: an object without a line on a frame is absent there.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import Annotations, VideoFacts, read_objects_sidecar

KITTI_CLASSES = {1: "car", 2: "pedestrian"}
IGNORE_ID = 10000


def _is_mots_line(line: str) -> bool:
    parts = line.split()
    return len(parts) == 6 and all(p.lstrip("-").isdigit() for p in parts[:5])


def find_txt(path: Path, video: VideoFacts) -> Path | None:
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        return None
    for folder in (path, path / "instances_txt"):
        if not folder.is_dir():
            continue
        txts = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())
        named = [p for p in txts if p.stem == video.name]
        if named:
            return named[0]
        if len(txts) == 1:
            return txts[0]
        if len(txts) > 1:
            raise UserError(f"{folder} holds several .txt files ({', '.join(p.name for p in txts[:6])}); "
                            f"give the one to import.")
    return None


def looks_like(path: Path) -> bool:
    try:
        txt = path if path.is_file() else None
        if txt is None and path.is_dir():
            txts = [p for p in path.iterdir() if p.suffix == ".txt"]
            txt = txts[0] if len(txts) == 1 else None
        if txt is None or txt.suffix != ".txt":
            return False
        with open(txt, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
        return _is_mots_line(first)
    except OSError:
        return False


def read_mots(path: Path, video: VideoFacts, *, first_frame: int = 0, **_options) -> Annotations:
    path = Path(path)
    txt = find_txt(path, video)
    if txt is None:
        raise UserError(f"{path} holds no MOTS .txt file.")
    first_frame = int(first_frame)
    ann = Annotations("mots", txt, video.width, video.height)
    rows = []
    try:
        with open(txt, encoding="ascii") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                parts = line.split()
                if not _is_mots_line(line):
                    raise UserError(f"{txt.name} line {n} is not 'frame obj_id class_id height width rle'.")
                f, obj, cls, h, w = (int(p) for p in parts[:5])
                rows.append((n, f, obj, cls, h, w, parts[5]))
    except UnicodeDecodeError as exc:
        raise UserError(f"{txt.name} is not a MOTS text file ({exc}).") from exc
    except OSError as exc:
        raise UserError(f"cannot read {txt}: {exc.strerror or exc}.") from exc
    total = len(rows)
    rows = [r for r in rows if r[2] != IGNORE_ID]
    if len(rows) != total:
        ann.notes.append("ignore regions (obj_id 10000) skipped")
    inst = {}
    for r in rows:
        inst.setdefault(r[2] % 1000, set()).add(r[2])
    shared = any(len(v) > 1 for v in inst.values())
    if shared:
        ann.notes.append("instance numbers repeat across classes; object id = MOTS obj_id")
    classes: dict[int, int] = {}
    for n, f, obj, cls, h, w, counts in rows:
        video.check_size(w, h, f"{txt.name} line {n}")
        frame = f - first_frame
        if not 0 <= frame < video.num_frames:
            hint = " (MOTSChallenge counts frames from 1: -o first_frame=1)" if frame == video.num_frames else ""
            raise UserError(f"{txt.name} line {n} is frame {frame}, but the video has frames 0 to "
                            f"{video.num_frames - 1}{hint}.")
        oid = obj if shared else obj % 1000
        if oid <= 0:
            raise UserError(f"{txt.name} line {n}: obj_id {obj} has no instance number.")
        if classes.setdefault(oid, cls) != cls:
            raise UserError(f"{txt.name} line {n}: object {oid} changes class.")
        try:
            ann.put(frame, oid, {"size": [h, w], "counts": counts.encode("ascii")})
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"{txt.name} line {n}: the mask cannot be decoded ({exc}).") from exc
    if not read_objects_sidecar(txt.parent / "objects.json", ann):
        for oid, cls in classes.items():
            ann.obj(oid).category = KITTI_CLASSES.get(cls, f"class {cls}")
            ann.categories[cls] = ann.obj(oid).category
    ann.frames = list(range(video.num_frames))
    return ann

