"""NumPy NPZ archives written by the ``npz`` export (bit-packed masks per object and frame).
The masks are read one frame at a time from the archive, never unpacked all at once."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import UserError
from .base import Annotations, VideoFacts

REQUIRED = ("masks", "object_ids", "frames", "width", "height")


def looks_like(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


def read_npz(path: Path, video: VideoFacts, **_options) -> Annotations:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in REQUIRED if k not in z.files]
            if missing:
                raise UserError(f"{path.name} is not a SAM2 Studio NPZ export (no {', '.join(missing)}).")
            small = {k: z[k] for k in z.files if k != "masks"}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read {path}: {exc}.") from exc
    W, H = int(small["width"]), int(small["height"])
    video.check_size(W, H, path.name)
    ids = [int(v) for v in small["object_ids"]]
    frames = [int(v) for v in small["frames"]]
    for f in frames:
        video.check_frame(f, f"{path.name} frame list")
    ann = Annotations("npz", path, W, H)
    names = small.get("names")
    cats = small.get("categories")
    colors = small.get("colors")
    for i, oid in enumerate(ids):
        o = ann.obj(oid)
        o.name = "" if names is None else str(names[i])
        o.category = "" if cats is None else str(cats[i])
        if colors is not None:
            o.color = tuple(int(c) for c in colors[i])
    packed_w = (W + 7) // 8
    with zipfile.ZipFile(path) as zf, zf.open("masks.npy") as fh:
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            raise UserError(f"{path.name}: unknown .npy version {version}.")
        shape, fortran, dtype = read_header(fh)
        if shape != (len(ids), len(frames), H, packed_w) or fortran or dtype != np.uint8:
            raise UserError(f"{path.name}: masks array {shape} does not match its "
                            f"{len(ids)} objects, {len(frames)} frames and {W}x{H} size.")
        n = H * packed_w
        for oid in ids:
            for f in frames:
                buf = fh.read(n)
                if len(buf) != n:
                    raise UserError(f"{path.name} is truncated.")
                packed = np.frombuffer(buf, np.uint8).reshape(H, packed_w)
                ann.put_mask(f, oid, np.unpackbits(packed, axis=-1, count=W).astype(bool))
    ann.frames = frames
    return ann
