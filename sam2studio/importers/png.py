"""Per-object PNG masks (``frame_{frame:04d}_obj_{id}.png``, non-zero = object), as written by
``sam2studio segment`` and the ``png`` export, with ``objects.json`` for names and classes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from .base import Annotations, VideoFacts, read_objects_sidecar

NAME = re.compile(r"^frame_(\d+)_obj_(\d+)\.png$", re.IGNORECASE)


def looks_like(path: Path) -> bool:
    return path.is_dir() and any(NAME.match(p.name) for p in path.iterdir())


def read_png(path: Path, video: VideoFacts, **_options) -> Annotations:
    path = Path(path)
    files = []
    for p in sorted(path.iterdir()):
        m = NAME.match(p.name)
        if m:
            files.append((int(m.group(1)), int(m.group(2)), p))
    if not files:
        raise UserError(f"{path} holds no frame_NNNN_obj_ID.png files.")
    ann = Annotations("png", path, video.width, video.height)
    frames = set()
    for f, o, p in files:
        video.check_frame(f, p.name)
        try:
            with Image.open(p) as img:
                video.check_size(*img.size, what=p.name)
                arr = np.array(img.convert("L") if img.mode not in ("L", "1", "P", "I;16", "I") else img)
        except OSError as exc:
            raise UserError(f"cannot read {p}: {exc}.") from exc
        ann.put_mask(f, o, arr != 0)
        frames.add(f)
    ann.frames = sorted(frames)
    read_objects_sidecar(path / "objects.json", ann)
    return ann
