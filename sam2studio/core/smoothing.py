"""Temporal consistency: smooth masks over neighbouring frames for views and exports, without
touching the stored masks.

A mask on frame ``t`` becomes a weighted vote of the object's masks on frames
``t - window//2 .. t + window//2`` with Gaussian weights ``exp(-(k - t)^2 / (2 sigma^2))``
(defaults: window 5, sigma 1.5), each neighbour first moved onto frame ``t`` by the object's
motion (*motion compensation*): the centroids of the neighbouring masks give a robust
constant-velocity estimate (median of the steps between them) and a neighbour ``k`` frames
away is shifted by ``-k`` steps (sub-pixel, bilinear). A pixel belongs to the smoothed mask
when its weighted vote reaches ``threshold`` (0.5) of the total weight of the neighbours that
have a stored mask (an empty mask votes "absent"; a frame never segmented does not vote).

What it does: ragged boundaries that change from frame to frame are averaged; a one-frame
dropout inside a presence is filled (four of five neighbours vote present); a one-frame
speck while the object is absent is removed; a real entrance or exit stays where it is (at
the first present frame, three of the five weights are present ones). It costs a slight lag
on fast shape changes.

Use :class:`SmoothedMaskStore` wherever a :class:`~sam2studio.core.masks.MaskStore` is read
(exporters, the tracking report, the GUI's overlay): it has the same read methods and
computes smoothed masks on demand (cached, compressed, invalidated when the store changes).
:func:`smoothed_project` wraps a project for :class:`~sam2studio.export.formats.ExportJob`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from .masks import MaskEntry, MaskReads, MaskStore, decode_rle, encode_rle, rle_area, rle_bbox

DEFAULT_WINDOW = 5
DEFAULT_SIGMA = 1.5


def _centroid(mask: np.ndarray, box) -> tuple[float, float]:
    x, y, w, h = box
    m = cv2.moments(np.ascontiguousarray(mask[y:y + h, x:x + w], dtype=np.uint8), binaryImage=True)
    if m["m00"] <= 0:
        return float("nan"), float("nan")
    return x + m["m10"] / m["m00"], y + m["m01"] / m["m00"]


class _Decoded:
    """Small LRU of decoded masks with their box and centroid, keyed by (frame, obj)."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._d: OrderedDict[tuple[int, int], tuple] = OrderedDict()

    def get(self, store: MaskStore, frame: int, obj: int):
        key = (frame, obj)
        hit = self._d.get(key)
        e = store.entry(frame, obj)
        if hit is not None and hit[0] is e:
            self._d.move_to_end(key)
            return hit
        if e is None:
            return None
        if e.area <= 0:
            item = (e, None, None, None)
        else:
            m = decode_rle(e.rle)
            box = tuple(int(round(v)) for v in rle_bbox(e.rle))
            item = (e, m, box, _centroid(m, box))
        self._d[key] = item
        self._d.move_to_end(key)
        while len(self._d) > self.capacity:
            self._d.popitem(last=False)
        return item

    def clear(self) -> None:
        self._d.clear()


def _smooth(store: MaskStore, frame: int, obj: int, window: int, sigma: float, threshold: float,
            num_frames: int | None, cache: _Decoded | None) -> np.ndarray | None:
    cache = cache if cache is not None else _Decoded()
    if store.entry(frame, obj) is None:
        return None
    half = max(0, int(window) // 2)
    H, W = store.height, store.width
    lo = max(0, frame - half)
    hi = frame + half if num_frames is None else min(num_frames - 1, frame + half)
    votes = []  # (offset, weight, item)
    total = 0.0
    for f in range(lo, hi + 1):
        item = cache.get(store, f, obj)
        if item is None:
            continue
        k = f - frame
        w = math.exp(-(k * k) / (2.0 * sigma * sigma)) if sigma > 0 else float(k == 0)
        total += w
        votes.append((k, w, item))
    present = [(k, w, it) for k, w, it in votes if it[1] is not None]
    if total <= 0 or sum(w for _, w, _ in present) < threshold * total:
        return np.zeros((H, W), bool)  # not even the whole vote could reach the threshold
    # motion: median step between consecutive present neighbours' centroids
    vx = vy = 0.0
    if len(present) >= 2:
        steps = []
        for (k1, _, a), (k2, _, b) in zip(present, present[1:]):
            dk = k2 - k1
            steps.append(((b[3][0] - a[3][0]) / dk, (b[3][1] - a[3][1]) / dk))
        s = np.asarray(steps)
        vx, vy = float(np.median(s[:, 0])), float(np.median(s[:, 1]))
    # the part of the frame the moved masks cover
    x0, y0, x1, y1 = W, H, 0, 0
    for k, _, it in present:
        bx, by, bw, bh = it[2]
        dx, dy = -k * vx, -k * vy
        x0 = min(x0, int(math.floor(bx + dx)) - 1)
        y0 = min(y0, int(math.floor(by + dy)) - 1)
        x1 = max(x1, int(math.ceil(bx + bw + dx)) + 1)
        y1 = max(y1, int(math.ceil(by + bh + dy)) + 1)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    out = np.zeros((H, W), bool)
    if x1 <= x0 or y1 <= y0:
        return out
    acc = np.zeros((y1 - y0, x1 - x0), np.float32)
    for k, w, it in present:
        m = it[1]
        if k == 0 or (abs(k * vx) < 1e-3 and abs(k * vy) < 1e-3):
            acc += w * m[y0:y1, x0:x1]
            continue
        # move the neighbour by (-k vx, -k vy): the output pixel (x, y) samples the
        # neighbour at (x + k vx, y + k vy); only the neighbour's box is read
        bx, by, bw, bh = it[2]
        sx0, sy0 = max(0, bx - 1), max(0, by - 1)
        src = np.ascontiguousarray(m[sy0:min(H, by + bh + 1), sx0:min(W, bx + bw + 1)], dtype=np.float32)
        mat = np.float32([[1, 0, x0 + k * vx - sx0], [0, 1, y0 + k * vy - sy0]])
        acc += w * cv2.warpAffine(src, mat, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out[y0:y1, x0:x1] = acc >= threshold * total - 1e-6
    return out


def smoothed_mask(masks: MaskStore, frame: int, obj: int, window: int = DEFAULT_WINDOW,
                  sigma: float = DEFAULT_SIGMA, *, threshold: float = 0.5,
                  num_frames: int | None = None) -> np.ndarray | None:
    """``obj``'s temporally smoothed bool mask on ``frame`` (see the module docstring); None
    when ``frame`` has no stored mask for ``obj``. The store is not changed."""
    _check(window, sigma, threshold)
    return _smooth(masks, int(frame), int(obj), window, sigma, threshold, num_frames, None)


def _check(window, sigma, threshold) -> None:
    if int(window) < 1:
        raise ValueError(f"the smoothing window must be at least 1 frame, got {window}")
    if sigma < 0:
        raise ValueError(f"sigma must not be negative, got {sigma}")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")


class SmoothedMaskStore(MaskReads):
    """A read-only, temporally smoothed view of a :class:`MaskStore`, with its read API.

    Smoothed masks are computed when first read and kept compressed; when the underlying
    store changes (``revision``), the cached frames within the window of a change are
    recomputed. ``entry()`` returns a :class:`MaskEntry` with the smoothed mask's RLE and area
    and the original score. Frames never segmented stay without an entry. Thread-safe for
    readers.
    """

    def __init__(self, masks: MaskStore, window: int = DEFAULT_WINDOW, sigma: float = DEFAULT_SIGMA, *,
                 threshold: float = 0.5, num_frames: int | None = None) -> None:
        _check(window, sigma, threshold)
        self.base = masks
        self.window = int(window)
        self.sigma = float(sigma)
        self.threshold = float(threshold)
        self.num_frames = num_frames
        self.height, self.width = masks.height, masks.width
        self._cache: dict[tuple[int, int], MaskEntry] = {}
        self._decoded = _Decoded(4 * self.window + 8)
        self._seen_revision = masks.revision
        self._lock = threading.RLock()

    # ---- cache -------------------------------------------------------------------------
    def _sync(self) -> None:
        rev = self.base.revision
        if rev == self._seen_revision:
            return
        changed, removed = self.base.changes_since(self._seen_revision)
        half = self.window // 2
        for f, o in [(f, o) for f, o, _ in changed] + list(removed):
            for g in range(f - half, f + half + 1):
                self._cache.pop((g, o), None)
        self._seen_revision = rev

    def entry(self, frame: int, obj: int) -> MaskEntry | None:
        frame, obj = int(frame), int(obj)
        with self._lock:
            self._sync()
            hit = self._cache.get((frame, obj))
            if hit is not None:
                return hit
            base = self.base.entry(frame, obj)
            if base is None:
                return None
            m = _smooth(self.base, frame, obj, self.window, self.sigma, self.threshold, self.num_frames,
                        self._decoded)
            rle = encode_rle(m)
            e = MaskEntry(rle=rle, area=rle_area(rle), score=base.score)
            self._cache[(frame, obj)] = e
            return e

    # ---- the MaskStore read API --------------------------------------------------------
    @property
    def revision(self) -> int:
        return self.base.revision

    def objects(self) -> list[int]:
        return self.base.objects()

    def has(self, frame: int, obj: int) -> bool:
        return self.base.has(frame, obj)

    def frame_masks(self, frame: int) -> dict[int, np.ndarray]:
        out = {}
        for o in self.objects():
            m = self.get(frame, o)
            if m is not None:
                out[o] = m
        return out

    def frames(self, obj: int) -> list[int]:
        return self.base.frames(obj)

    def present_frames(self, obj: int) -> list[int]:
        return [f for f in self.base.frames(obj) if self.area(f, obj) > 0]

    def segmented_frames(self) -> list[int]:
        return self.base.segmented_frames()

    def items(self) -> Iterator[tuple[int, int, MaskEntry]]:
        for f, o, _ in self.base.items():
            e = self.entry(f, o)
            if e is not None:
                yield f, o, e

    def __len__(self) -> int:
        return len(self.base)

    def nbytes(self) -> int:
        return sum(len(e.rle["counts"]) for _, _, e in self.items())


class SmoothedProject:
    """A project whose ``masks`` read through a :class:`SmoothedMaskStore`; every other
    attribute is the project's own. For :class:`~sam2studio.export.formats.ExportJob`."""

    def __init__(self, project, **smoothing) -> None:
        self._project = project
        smoothing.setdefault("num_frames", project.num_frames)
        self.masks = SmoothedMaskStore(project.masks, **smoothing)

    def __getattr__(self, name):
        return getattr(self._project, name)


def smoothed_project(project, window: int = DEFAULT_WINDOW, sigma: float = DEFAULT_SIGMA, **options) -> SmoothedProject:
    """``project`` with smoothed masks, for exporters: ``ExportJob(project=smoothed_project(p), ...)``."""
    return SmoothedProject(project, window=window, sigma=sigma, **options)


# ---- measures -------------------------------------------------------------------------------
def flicker(masks, obj: int, frames: Iterable[int]) -> float:
    """Mean ``1 - IoU`` of ``obj``'s masks on consecutive ``frames`` (pairs where both are
    empty count 0): how much the mask changes from frame to frame. Works on a MaskStore or a
    SmoothedMaskStore."""
    frames = list(frames)
    vals = []
    prev = None
    for f in frames:
        m = masks.get(f, obj)
        m = np.zeros((masks.height, masks.width), bool) if m is None else m
        if prev is not None:
            union = np.count_nonzero(m | prev)
            vals.append(0.0 if union == 0 else 1.0 - np.count_nonzero(m & prev) / union)
        prev = m
    return float(np.mean(vals)) if vals else 0.0


__all__ = ["DEFAULT_WINDOW", "DEFAULT_SIGMA", "smoothed_mask", "SmoothedMaskStore", "SmoothedProject",
           "smoothed_project", "flicker"]
