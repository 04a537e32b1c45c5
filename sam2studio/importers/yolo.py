"""YOLO segmentation labels: ``{frame}.txt`` per frame with ``class x1 y1 x2 y2 ...`` lines
(coordinates 0..1), class names from ``classes.txt`` or ``data.yaml``.

YOLO has no instance ids, so each class becomes one object (id = class index + 1, named after
the class) whose mask on a frame is the union of that class's polygons there. The polygons
are filled as the ``yolo`` export traced them (pixel centres, even-odd), so an exported mask
comes back within the export's IoU (0.97 by default). Frames with a ``.txt`` file are covered.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from .base import Annotations, VideoFacts, frame_number

_YAML_NAME = re.compile(r"^\s+(\d+)\s*:\s*(.+?)\s*(#.*)?$")


def _label_files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix == ".txt" and p.name != "classes.txt"
                  and p.is_file())


def looks_like(path: Path) -> bool:
    if not path.is_dir():
        return False
    return (path / "classes.txt").is_file() or (path / "data.yaml").is_file()


def _class_names(path: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    if (path / "classes.txt").is_file():
        lines = (path / "classes.txt").read_text(encoding="utf-8").splitlines()
        names = {k: n.strip() for k, n in enumerate(lines) if n.strip()}
    elif (path / "data.yaml").is_file():
        import json

        for line in (path / "data.yaml").read_text(encoding="utf-8").splitlines():
            m = _YAML_NAME.match(line)
            if m:
                raw = m.group(2)
                try:
                    names[int(m.group(1))] = str(json.loads(raw)) if raw.startswith('"') else raw.strip("'")
                except ValueError:
                    names[int(m.group(1))] = raw
    return names


def read_yolo(path: Path, video: VideoFacts, **_options) -> Annotations:
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder of YOLO label files.")
    names = _class_names(path)
    ann = Annotations("yolo", path, video.width, video.height)
    ann.notes.append("YOLO has no instance ids: one object per class")
    scale = np.array([video.width, video.height], np.float64)
    frames = []
    for p in _label_files(path):
        f = frame_number(p.name)
        if f is None:
            raise UserError(f"{p.name} has no frame number in its name.")
        video.check_frame(f, p.name)
        frames.append(f)
        polys: dict[int, list[np.ndarray]] = {}
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                cls = int(parts[0])
                xy = np.array([float(v) for v in parts[1:]], np.float64)
            except ValueError:
                raise UserError(f"{p.name} line {n} is not 'class x1 y1 x2 y2 ...'.") from None
            if len(xy) < 6 or len(xy) % 2:
                raise UserError(f"{p.name} line {n}: a polygon needs at least 3 x, y pairs.")
            if (xy < -1e-6).any() or (xy > 1 + 1e-6).any():
                raise UserError(f"{p.name} line {n}: coordinates must be normalised to 0..1.")
            polys.setdefault(cls, []).append(np.round(xy.reshape(-1, 2) * scale).astype(np.int32))
        for cls, ps in polys.items():
            mask = np.zeros((video.height, video.width), np.uint8)
            cv2.fillPoly(mask, ps, 1)
            ann.put_mask(f, cls + 1, mask.astype(bool))
    if not frames:
        raise UserError(f"{path} holds no YOLO label files.")
    for cls, name in names.items():
        ann.obj(cls + 1).name = name
    ann.frames = sorted(frames)
    return ann
