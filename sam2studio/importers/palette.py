"""Indexed palette PNGs (one per frame, pixel value = object id; the ``palette`` export and
DAVIS/YouTube-VOS annotations) and the DAVIS dataset layout around them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from .base import Annotations, VideoFacts, frame_number, read_objects_sidecar

#: DAVIS resolution folders, most exact first
DAVIS_RESOLUTIONS = ("Full-Resolution", "480p", "1080p")


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and p.is_file())


def looks_like(path: Path) -> bool:
    if not path.is_dir():
        return False
    pngs = _pngs(path)
    if not pngs:
        return False
    try:
        with Image.open(pngs[0]) as img:
            return img.mode in ("P", "L")
    except OSError:
        return False


def read_palette(path: Path, video: VideoFacts, *, sidecar: Path | None = None,
                 fmt: str = "palette", **_options) -> Annotations:
    path = Path(path)
    pngs = _pngs(path) if path.is_dir() else []
    if not pngs:
        raise UserError(f"{path} holds no PNG files.")
    ann = Annotations(fmt, path, video.width, video.height)
    seen: dict[int, Path] = {}
    for p in pngs:
        f = frame_number(p.name)
        if f is None:
            raise UserError(f"{p.name} has no frame number in its name (expected e.g. 00012.png).")
        if f in seen:
            raise UserError(f"{seen[f].name} and {p.name} are both frame {f}.")
        seen[f] = p
        video.check_frame(f, p.name)
        try:
            with Image.open(p) as img:
                if img.mode not in ("P", "L"):
                    raise UserError(f"{p.name} is not a palette or 8-bit label PNG (mode {img.mode}).")
                video.check_size(*img.size, what=p.name)
                label = np.array(img)
        except OSError as exc:
            raise UserError(f"cannot read {p}: {exc}.") from exc
        for v in np.unique(label):
            if v != 0:
                ann.put_mask(f, int(v), label == v)
    ann.frames = sorted(seen)
    read_objects_sidecar(sidecar if sidecar is not None else path / "objects.json", ann)
    return ann


# ---- DAVIS -------------------------------------------------------------------------------
def looks_like_davis(path: Path) -> bool:
    return path.is_dir() and (path / "Annotations").is_dir()


def read_davis(path: Path, video: VideoFacts, *, sequence: str | None = None,
               resolution: str | None = None, **_options) -> Annotations:
    """``path/Annotations/<resolution>/<sequence>/*.png``; the resolution whose frames have the
    video's size and the sequence named like the video (or the only one) unless given."""
    root = Path(path)
    ann_root = root / "Annotations"
    if not ann_root.is_dir():
        raise UserError(f"{root} is not a DAVIS folder (no Annotations/ in it).")
    res_dirs = [d for d in sorted(ann_root.iterdir()) if d.is_dir()]
    if resolution:
        res_name = {"full": "Full-Resolution"}.get(resolution, resolution)
        res_dirs = [d for d in res_dirs if d.name == res_name]
        if not res_dirs:
            raise UserError(f"{ann_root} has no {res_name}/ folder.")
    sizes = {}
    for d in res_dirs:
        seq = _pick_sequence(d, sequence, video)
        pngs = _pngs(seq)
        if pngs:
            with Image.open(pngs[0]) as img:
                sizes[d.name] = (seq, img.size)
    if not sizes:
        raise UserError(f"{ann_root} holds no annotation PNGs.")
    fitting = [n for n in DAVIS_RESOLUTIONS if n in sizes and sizes[n][1] == (video.width, video.height)]
    fitting += [n for n in sizes if n not in fitting and sizes[n][1] == (video.width, video.height)]
    if not fitting:
        found = ", ".join(f"{n} {w}x{h}" for n, (_, (w, h)) in sizes.items())
        raise UserError(f"no DAVIS annotations of the video's size {video.width}x{video.height} in "
                        f"{ann_root} (found {found}); annotations are never resized.")
    seq_dir = sizes[fitting[0]][0]
    ann = read_palette(seq_dir, video, sidecar=root / "objects.json", fmt="davis")
    ann.source = root
    return ann


def _pick_sequence(res_dir: Path, sequence: str | None, video: VideoFacts) -> Path:
    seqs = [d for d in sorted(res_dir.iterdir()) if d.is_dir()]
    names = [d.name for d in seqs]
    if sequence:
        if sequence not in names:
            raise UserError(f"{res_dir} has no sequence {sequence!r} (it has {', '.join(names) or 'none'}).")
        return res_dir / sequence
    if len(seqs) == 1:
        return seqs[0]
    if video.name in names:
        return res_dir / video.name
    raise UserError(f"{res_dir} holds several sequences ({', '.join(names)}); choose one with "
                    f"-o sequence=NAME.")
