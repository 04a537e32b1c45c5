"""Mask exporters: per-object PNGs, palette PNGs, COCO JSON, YOLO polygons, NPZ.

Every exporter has the signature ``(masks, objects, num_frames, out, *, object_ids=None,
frames=None, progress=None, cancel=None, **options)``, streams frame by frame (masks are
decoded one at a time; with ``workers`` > 1 a few frames are encoded in parallel threads, at
most ``2 * workers`` in flight), calls ``progress(done, total)`` after each step, stops with
:class:`~sam2studio.errors.Cancelled` when ``cancel`` is set, and writes through
:func:`~sam2studio.export.common.atomic_path`: nothing appears under ``out`` unless the whole
export succeeded. ``object_ids`` defaults to every object of ``objects``; ``frames`` (a
``range``) defaults to every frame. Frames without a stored mask for an object count as empty.
Each returns ``out``.
"""

from __future__ import annotations

import io
import json
import os
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from ..core.masks import MaskStore, rle_bbox
from ..core.objects import TrackedObject, class_table
from ..errors import UserError
from .common import (ProgressFn, atomic_path, check_cancel, report_progress, resolve_frames,
                     select_objects)

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "export_png", "write_object_pngs", "write_objects_json", "objects_json", "object_png_name",
    "export_palette", "read_palette_png", "export_coco", "export_yolo", "mask_to_polygons",
    "export_npz", "load_npz_masks",
]


def _decode(masks: MaskStore, frame: int, obj: int) -> np.ndarray | None:
    """C-ordered uint8 0/1 mask, or None when there is no non-empty mask (nothing decoded).

    pycocotools decodes to a column-major array; only the mask's bbox is copied into a
    zeroed row-major one, which is much cheaper than converting the whole frame."""
    e = masks.entry(frame, obj)
    if e is None or e.area <= 0:
        return None
    x, y, w, h = (int(round(v)) for v in rle_bbox(e.rle))
    out = np.zeros((masks.height, masks.width), np.uint8)
    out[y:y + h, x:x + w] = mask_utils.decode(e.rle)[y:y + h, x:x + w]
    return out


def _default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1)))


def _ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None) -> Iterator[R]:
    """``map(fn, items)`` on a few threads, results in order, at most ``2 * workers`` items in
    flight (memory stays bounded). Closing the iterator early drops the pending items.
    PNG/zlib encoding and OpenCV release the GIL, so frames are encoded in parallel."""
    workers = _default_workers() if workers is None else max(1, int(workers))
    if workers == 1:
        yield from map(fn, items)
        return
    it = iter(items)
    with ThreadPoolExecutor(workers, thread_name_prefix="export") as ex:
        pending = deque(ex.submit(fn, x) for x in islice(it, 2 * workers))
        try:
            while pending:
                result = pending.popleft().result()
                for x in islice(it, 1):
                    pending.append(ex.submit(fn, x))
                yield result
        finally:
            for fut in pending:
                fut.cancel()


def _write_frames(write_frame: Callable[[T], object], items: Iterable[T], total: int, workers: int | None,
                  progress: ProgressFn | None, cancel: threading.Event | None) -> None:
    """Run ``write_frame`` over ``items`` (see :func:`_ordered_map`), reporting progress and
    stopping with :class:`~sam2studio.errors.Cancelled` when ``cancel`` is set."""
    with closing(_ordered_map(write_frame, items, workers)) as results:
        for done, _ in enumerate(results, 1):
            check_cancel(cancel)
            report_progress(progress, done, total)
    check_cancel(cancel)


# ---- per-object PNGs ---------------------------------------------------------------------
def object_png_name(frame: int, obj: int) -> str:
    """The contract file name of one object's mask on one frame."""
    return f"frame_{frame:04d}_obj_{obj}.png"


def _encode_png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - cv2 always encodes uint8 2-D images
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_object_pngs(masks: MaskStore, out_dir: str | Path, object_ids: Sequence[int],
                      frames: Iterable[int], *, progress: ProgressFn | None = None,
                      cancel: threading.Event | None = None, workers: int | None = None) -> int:
    """Write ``frame_{:04d}_obj_{id}.png`` for every frame and object into ``out_dir``.

    Single-channel 8-bit PNGs at the original frame size, 0 = background, 255 = object; a
    frame with no stored or an empty mask still gets its all-zero file. Writes straight into
    ``out_dir`` (which must exist): the caller handles atomicity. ``progress`` counts frames.
    ``workers`` threads encode frames in parallel (default: up to 4). Returns the file count.
    """
    out_dir = Path(out_dir)
    frames = list(frames)
    ids = [int(o) for o in object_ids]
    zero_png = _encode_png(np.zeros((masks.height, masks.width), np.uint8))

    def write_frame(f: int) -> None:
        if cancel is not None and cancel.is_set():
            return
        for o in ids:
            m = _decode(masks, f, o)
            data = zero_png if m is None else _encode_png(m * np.uint8(255))
            (out_dir / object_png_name(f, o)).write_bytes(data)

    _write_frames(write_frame, frames, len(frames), workers, progress, cancel)
    return len(frames) * len(ids)


def objects_json(masks: MaskStore, objects: dict[int, TrackedObject], object_ids: Sequence[int],
                 num_frames: int, frames: Iterable[int] | None = None,
                 categories: dict[int, str] | None = None) -> dict:
    """The ``objects.json`` content; ``frames_present`` lists the frames (among ``frames``,
    default all) where the object's mask is not empty; ``categories`` the classes (id, name)
    and each object's ``class_id``."""
    keep = None if frames is None else set(frames)
    class_of, classes = class_table(objects, categories)
    out = []
    for o in object_ids:
        ob = objects[o]
        present = [f for f in masks.present_frames(o)
                   if f < num_frames and (keep is None or f in keep)]
        out.append({"id": int(o), "name": ob.name, "category": ob.category,
                    "class_id": class_of[int(o)], "color": [int(c) for c in ob.color],
                    "frames_present": present})
    return {"objects": out, "categories": [{"id": c, "name": n} for c, n in classes.items()],
            "num_frames": int(num_frames), "width": masks.width, "height": masks.height}


def write_objects_json(masks: MaskStore, objects: dict[int, TrackedObject],
                       object_ids: Sequence[int], num_frames: int, path: str | Path,
                       frames: Iterable[int] | None = None,
                       categories: dict[int, str] | None = None) -> Path:
    """Write :func:`objects_json` to ``path`` (atomically)."""
    path = Path(path)
    data = objects_json(masks, objects, object_ids, num_frames, frames, categories)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def export_png(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
               out: str | Path, *, object_ids: Iterable[int] | None = None,
               frames: range | None = None, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None, workers: int | None = None,
               categories: dict[int, str] | None = None) -> Path:
    """A folder ``out`` with per-object PNGs (:func:`write_object_pngs`) and ``objects.json``."""
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    with atomic_path(out, directory=True) as tmp:
        write_object_pngs(masks, tmp, ids, rng, progress=progress, cancel=cancel,
                          workers=workers)
        check_cancel(cancel)
        write_objects_json(masks, objects, ids, num_frames, tmp / "objects.json", rng, categories)
    return out


# ---- palette PNGs ------------------------------------------------------------------------
def export_palette(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                   out: str | Path, *, object_ids: Iterable[int] | None = None,
                   frames: range | None = None, progress: ProgressFn | None = None,
                   cancel: threading.Event | None = None, compress_level: int = 6,
                   workers: int | None = None, categories: dict[int, str] | None = None) -> Path:
    """A folder ``out`` with one indexed PNG per frame, ``{frame:05d}.png`` (DAVIS style),
    and ``objects.json`` (names, classes and colours, which a PNG cannot hold).

    Pixel value = object id (0 = background); the palette maps each id to the object's colour
    and 0 to black. Where masks overlap, the higher id wins. Ids above 255 do not fit a
    palette PNG (:class:`UserError`). Every frame of the range gets a file.
    """
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    if ids[-1] > 255:
        raise UserError(
            f"object {ids[-1]} does not fit a palette PNG, which holds ids 1 to 255.")
    palette = [0] * (256 * 3)
    for o in ids:
        palette[3 * o:3 * o + 3] = [int(c) for c in objects[o].color]

    def write_frame(args: tuple[Path, int]) -> None:
        folder, f = args
        if cancel is not None and cancel.is_set():
            return
        label = np.zeros((masks.height, masks.width), np.uint8)
        for o in ids:  # ascending, so a higher id overwrites a lower one
            m = _decode(masks, f, o)
            if m is not None:
                label[m != 0] = o
        img = Image.fromarray(label)  # mode "L"; putpalette makes it "P", values kept
        img.putpalette(palette)
        img.save(folder / f"{f:05d}.png", format="PNG", compress_level=compress_level)

    with atomic_path(out, directory=True) as tmp:
        _write_frames(write_frame, ((tmp, f) for f in rng), len(rng), workers, progress, cancel)
        write_objects_json(masks, objects, ids, num_frames, tmp / "objects.json", rng, categories)
    return out


def read_palette_png(path: str | Path) -> dict[int, np.ndarray]:
    """``{object id: bool mask}`` of an indexed (or 8-bit grey) label PNG; 0 is background."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise UserError(f"{path} is not a palette or 8-bit label PNG (mode {img.mode}).")
            label = np.array(img)
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc}.") from exc
    return {int(v): label == v for v in np.unique(label) if v != 0}


# ---- COCO --------------------------------------------------------------------------------
def export_coco(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                out: str | Path, *, object_ids: Iterable[int] | None = None,
                frames: range | None = None, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, indent: int | None = None,
                categories: dict[int, str] | None = None) -> Path:
    """One COCO instance-segmentation JSON file ``out``.

    * ``images``: one per frame, ``id = frame + 1`` (COCO tools treat id 0 as "none"),
      ``frame_index = frame``, ``file_name = "{frame:05d}.jpg"``, ``width``, ``height``.
    * ``categories``: the classes (:func:`~sam2studio.core.objects.class_table`: the project's
      ``categories``, id -> name, and one class per object without a category, named after it).
    * ``tracks``: one per object (TAO style): ``id`` = object id, ``category_id``, ``name``,
      ``category`` (the object's own class, ``""`` when it has none), ``color``.
    * ``annotations``: one per non-empty mask, ids from 1; ``segmentation`` is the COCO RLE
      (``counts`` as str), ``area``, ``bbox`` ``[x, y, w, h]``, ``iscrowd`` 0, ``image_id``,
      ``category_id`` = the object's class id, ``track_id`` = object id, ``score`` (the
      engine's confidence).

    The file is written incrementally, so memory does not grow with the video.
    """
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    dumps = (lambda d: json.dumps(d, ensure_ascii=False)) if indent is None else \
        (lambda d: json.dumps(d, ensure_ascii=False, indent=indent))
    W, H = masks.width, masks.height
    class_of, classes = class_table(objects, categories)
    header = {
        "info": {"description": "SAM2 Studio mask export", "num_frames": int(num_frames),
                 "width": W, "height": H},
        "licenses": [],
        "categories": [{"id": c, "name": n, "supercategory": "object"}
                       for c, n in classes.items()],
        "tracks": [{"id": o, "category_id": class_of[o], "name": objects[o].name,
                    "category": objects[o].category,
                    "color": [int(c) for c in objects[o].color]} for o in ids],
    }
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(dumps(header)[:-1])  # leave the object open
        fh.write(', "images": [')
        fh.write(", ".join(
            dumps({"id": f + 1, "frame_index": f, "file_name": f"{f:05d}.jpg",
                   "width": W, "height": H}) for f in rng))
        fh.write('], "annotations": [')
        ann_id = 0
        for done, f in enumerate(rng, 1):
            check_cancel(cancel)
            for o in ids:
                e = masks.entry(f, o)
                if e is None or e.area <= 0:
                    continue
                counts = e.rle["counts"]
                ann_id += 1
                ann = {
                    "id": ann_id, "image_id": f + 1, "category_id": class_of[o], "track_id": o,
                    "segmentation": {"size": [int(v) for v in e.rle["size"]],
                                     "counts": counts.decode("ascii")
                                     if isinstance(counts, bytes) else counts},
                    "area": int(e.area), "bbox": [float(v) for v in rle_bbox(e.rle)],
                    "iscrowd": 0, "score": float(e.score),
                }
                fh.write((", " if ann_id > 1 else "") + dumps(ann))
            report_progress(progress, done, len(rng))
        fh.write("]}\n")
    return out


# ---- YOLO --------------------------------------------------------------------------------
def _bridge(outer: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Splice ``hole`` into ``outer`` through a zero-width cut between their nearest points."""
    d = ((outer[:, None, :] - hole[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return np.concatenate([outer[:i + 1], hole[j:], hole[:j + 1], outer[i:]])


def _polygons(mask: np.ndarray, epsilon: float) -> list[np.ndarray]:
    contours, hier = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if hier is None:
        return []
    hier = hier[0]

    def simplify(c: np.ndarray) -> np.ndarray:
        if epsilon > 0:
            s = cv2.approxPolyDP(c, epsilon, True)
            if len(s) >= 3:
                c = s
        return c.reshape(-1, 2).astype(np.float64)

    polys = []
    for k, c in enumerate(contours):
        if hier[k][3] != -1:  # a hole; spliced into its parent below
            continue
        poly = simplify(c)
        child = hier[k][2]
        while child != -1:
            hole = simplify(contours[child])
            if len(hole) >= 3:
                poly = _bridge(poly, hole)
            child = hier[child][0]
        if len(poly) < 3:  # a one-pixel or one-line part: use its pixel bbox corners
            x, y, w, h = cv2.boundingRect(c)
            poly = np.array([[x, y], [x + w - 1, y], [x + w - 1, y + h - 1], [x, y + h - 1]],
                            np.float64)
        polys.append(poly)
    return polys


def _raster(polys: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    if polys:
        cv2.fillPoly(img, [np.round(p).astype(np.int32) for p in polys], 1)
    return img


def mask_to_polygons(mask: np.ndarray, *, epsilon: float = 1.0,
                     min_iou: float = 0.97) -> list[np.ndarray]:
    """Polygons ``[(K, 2) float array of x, y pixel coordinates], ...`` of a binary mask.

    One polygon per connected part (``cv2.findContours``, 8-connected), simplified with
    ``cv2.approxPolyDP(epsilon)``; ``epsilon`` is halved until the polygons rasterised with
    ``cv2.fillPoly`` reach ``min_iou`` with the mask (down to no simplification). Holes
    cannot be a separate polygon in YOLO's one-polygon-per-line format, so each hole is
    spliced into its part's outer polygon through a zero-width cut from the hole to the
    nearest outer vertex: the result is one polygon whose even-odd fill (what ``fillPoly``
    and polygon rasterisers do) leaves the hole empty. Coordinates are pixel centres.
    """
    m = np.ascontiguousarray(np.asarray(mask, dtype=bool), dtype=np.uint8)
    if not m.any():
        return []
    x, y, w, h = cv2.boundingRect(m)
    crop = np.zeros((h + 2, w + 2), np.uint8)  # a 1-pixel margin keeps contours off the edge
    crop[1:-1, 1:-1] = m[y:y + h, x:x + w]
    eps = float(epsilon)
    while True:
        polys = _polygons(crop, eps)
        if eps <= 0:
            break
        r = _raster(polys, crop.shape)
        inter = np.count_nonzero(r & crop)
        union = np.count_nonzero(r | crop)
        if union and inter / union >= min_iou:
            break
        eps = eps / 2 if eps > 0.1 else 0.0
    offset = np.array([x - 1, y - 1], np.float64)
    return [p + offset for p in polys]


def export_yolo(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                out: str | Path, *, object_ids: Iterable[int] | None = None,
                frames: range | None = None, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, epsilon: float = 1.0,
                min_iou: float = 0.97, workers: int | None = None,
                categories: dict[int, str] | None = None) -> Path:
    """A folder ``out`` of YOLO segmentation labels.

    * ``{frame:05d}.txt`` per frame (empty when nothing is present): one line per connected
      part of each mask, ``class x1 y1 x2 y2 ...`` normalised by width/height to 0..1 (see
      :func:`mask_to_polygons` for parts and holes). A mask in two parts gives two lines.
    * ``class`` = position of the object's class among the classes, by class id (see
      :func:`~sam2studio.core.objects.class_table`; a project without categories has one
      class per object, named after it).
    * ``classes.txt``: one class name per line in class order; ``data.yaml``: ``nc`` and
      a ``names`` map (class -> name, with the objects of each class in a comment) ready to
      paste into a dataset config.
    """
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    W, H = masks.width, masks.height
    scale = np.array([W, H], np.float64)
    class_of, classes = class_table(objects, categories)
    index_of = {cid: k for k, cid in enumerate(classes)}

    def write_frame(args: tuple[Path, int]) -> None:
        folder, f = args
        if cancel is not None and cancel.is_set():
            return
        lines = []
        for o in ids:
            cls = index_of[class_of[o]]
            m = _decode(masks, f, o)
            if m is None:
                continue
            for poly in mask_to_polygons(m, epsilon=epsilon, min_iou=min_iou):
                xy = np.clip(poly / scale, 0.0, 1.0).ravel()
                lines.append(f"{cls} " + " ".join(f"{v:.6f}" for v in xy))
        (folder / f"{f:05d}.txt").write_text("".join(s + "\n" for s in lines), encoding="utf-8")

    with atomic_path(out, directory=True) as tmp:
        _write_frames(write_frame, ((tmp, f) for f in rng), len(rng), workers, progress, cancel)
        names = list(classes.values())
        (tmp / "classes.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
        yaml = ["# SAM2 Studio YOLO export: class index -> class name (objects of that class)",
                f"nc: {len(names)}", "names:"]
        for cid, name in classes.items():
            members = [str(o) for o in ids if class_of[o] == cid]
            note = f"  # object {', '.join(members)}" if members else ""
            yaml.append(f"  {index_of[cid]}: {json.dumps(name, ensure_ascii=False)}{note}")
        (tmp / "data.yaml").write_text("\n".join(yaml) + "\n", encoding="utf-8")
    return out


# ---- NPZ ---------------------------------------------------------------------------------
def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def export_npz(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
               out: str | Path, *, object_ids: Iterable[int] | None = None,
               frames: range | None = None, progress: ProgressFn | None = None,
               cancel: threading.Event | None = None, workers: int | None = None) -> Path:
    """A compressed NPZ archive ``out`` (readable with ``np.load``), per-object bit-packed.

    Arrays (``O`` objects, ``F`` frames):

    * ``masks``: uint8 ``(O, F, height, ceil(width / 8))``: each object's mask on each frame
      as ``np.packbits(mask, axis=-1)`` (big bit order); overlaps are kept.
      :func:`load_npz_masks` or ``np.unpackbits(masks, axis=-1, count=width).astype(bool)``
      gives ``(O, F, height, width)`` back.
    * ``object_ids`` int64 ``(O,)``, ``names`` str ``(O,)``, ``categories`` str ``(O,)``
      (the objects' classes, ``""`` for none), ``colors`` uint8 ``(O, 3)``,
      ``frames`` int64 ``(F,)`` (frame indices), ``present`` bool ``(O, F)`` (non-empty mask),
      ``width``, ``height`` (scalars).

    ``np.savez_compressed`` needs whole arrays in memory, so the archive is written the same
    way (a ZIP of deflated ``.npy`` members) but streamed: one frame's packed mask at a time.
    """
    out = Path(out)
    ids = select_objects(objects, object_ids)
    rng = resolve_frames(num_frames, frames)
    W, H = masks.width, masks.height
    packed_w = (W + 7) // 8
    present = np.zeros((len(ids), len(rng)), bool)
    for i, o in enumerate(ids):
        for j, f in enumerate(rng):
            e = masks.entry(f, o)
            present[i, j] = e is not None and e.area > 0
    small = {
        "object_ids": np.array(ids, np.int64),
        "names": np.array([objects[o].name for o in ids], dtype=str),
        "categories": np.array([objects[o].category for o in ids], dtype=str),
        "colors": np.array([objects[o].color for o in ids], np.uint8).reshape(len(ids), 3),
        "frames": np.array(list(rng), np.int64),
        "present": present,
        "width": np.array(W, np.int64),
        "height": np.array(H, np.int64),
    }
    total = len(ids) * len(rng)
    zero_row = np.zeros((H, packed_w), np.uint8).tobytes()

    def pack(of: tuple[int, int]) -> bytes:
        if cancel is not None and cancel.is_set():
            return b""
        m = _decode(masks, of[1], of[0])
        return zero_row if m is None else np.packbits(m, axis=-1).tobytes()

    with atomic_path(out) as tmp, \
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name, arr in small.items():
            zf.writestr(name + ".npy", _npy_bytes(arr))
        header = {"descr": np.dtype(np.uint8).str, "fortran_order": False,
                  "shape": (len(ids), len(rng), H, packed_w)}
        with zf.open("masks.npy", "w", force_zip64=True) as fh, \
                closing(_ordered_map(pack, ((o, f) for o in ids for f in rng), workers)) as res:
            np.lib.format.write_array_header_1_0(fh, header)
            for done, data in enumerate(res, 1):
                check_cancel(cancel)
                fh.write(data)
                report_progress(progress, done, total)
    return out


def load_npz_masks(path: str | Path) -> dict:
    """Read an :func:`export_npz` archive: ``{"masks": bool (O, F, H, W), "object_ids",
    "names", "colors", "frames", "present", "width", "height"}`` (masks unpacked)."""
    with np.load(Path(path), allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    width = int(d["width"])
    d["masks"] = np.unpackbits(d["masks"], axis=-1, count=width).astype(bool)
    d["width"], d["height"] = width, int(d["height"])
    return d
