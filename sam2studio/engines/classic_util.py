"""Small mask, histogram and frame helpers shared by the classic engine's modules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# ---------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------
_LEVELS = 16  # colour quantisation per channel
_NBINS = _LEVELS ** 3
_SHIFT = 8 - int(np.log2(_LEVELS))


def _rle(mask: np.ndarray) -> dict:
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def _unrle(rle: dict) -> np.ndarray:
    return mask_utils.decode(rle).astype(bool)


def _bins(rgb: np.ndarray) -> np.ndarray:
    q = (rgb >> _SHIFT).astype(np.uint16)
    return (q[..., 0] << (2 * (8 - _SHIFT))) | (q[..., 1] << (8 - _SHIFT)) | q[..., 2]


def _hist(bins: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    b = bins.ravel() if mask is None else bins[mask]
    return np.bincount(b, minlength=_NBINS).astype(np.float32)


def _smooth_hist(h: np.ndarray) -> np.ndarray:
    """Spread each count over neighbouring colour bins (a 3-D [1 2 1] blur), normalised."""
    h3 = h.reshape(_LEVELS, _LEVELS, _LEVELS).astype(np.float32)
    for ax in range(3):
        p = np.pad(h3, [(1, 1) if a == ax else (0, 0) for a in range(3)], mode="edge")
        lo = np.take(p, range(_LEVELS), axis=ax)
        hi = np.take(p, range(2, _LEVELS + 2), axis=ax)
        h3 = 0.5 * h3 + 0.25 * (lo + hi)
    s = float(h3.sum())
    out = h3.ravel()
    return out / s if s > 0 else np.full(_NBINS, 1.0 / _NBINS, np.float32)


def _log_ratio(fg: np.ndarray, bg: np.ndarray, clip: float = 4.0) -> np.ndarray:
    eps = 1e-5
    lr = np.log((fg + eps) / (bg + eps))
    return np.clip(lr, -clip, clip).astype(np.float32)


def _colour_lut(bins: np.ndarray, inside: np.ndarray, outside: np.ndarray, clip: float = 4.0) -> np.ndarray:
    """Per colour bin, how much more likely it is in ``inside`` than in ``outside``: the
    log-ratio of their smoothed colour histograms (index it with ``bins``)."""
    return _log_ratio(_smooth_hist(_hist(bins, inside)), _smooth_hist(_hist(bins, outside)), clip)


def _disk(shape: tuple[int, int], x: float, y: float, r: int) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, (int(round(x)), int(round(y))), int(r), 1, -1)
    return m > 0


def _kernel(r: int) -> np.ndarray:
    r = max(1, int(r))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dilate(m: np.ndarray, r: int) -> np.ndarray:
    return cv2.dilate(m.astype(np.uint8), _kernel(r)) > 0


def _erode(m: np.ndarray, r: int) -> np.ndarray:
    return cv2.erode(m.astype(np.uint8), _kernel(r)) > 0


def _ring(m: np.ndarray, r_in: float, r_out: float) -> np.ndarray:
    """Pixels farther than ``r_in`` and at most ``r_out`` from ``m`` (a band around it)."""
    h, w = m.shape
    out = np.zeros((h, w), bool)
    bb = _bbox(m)
    if bb is None:
        return out
    r = int(np.ceil(r_out)) + 1
    x0, y0, x1, y1 = max(0, bb[0] - r), max(0, bb[1] - r), min(w, bb[2] + r), min(h, bb[3] + r)
    d = cv2.distanceTransform((~m[y0:y1, x0:x1]).astype(np.uint8), cv2.DIST_L2, 3)
    out[y0:y1, x0:x1] = (d > r_in) & (d <= r_out)
    return out


def _bbox(m: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of a mask, exclusive ends; None when empty."""
    ys = np.flatnonzero(m.any(axis=1))
    if len(ys) == 0:
        return None
    xs = np.flatnonzero(m.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _at_border(bb: tuple[int, int, int, int] | None, w: int, h: int) -> bool:
    """Whether a box ``bb`` (:func:`_bbox`; None: an empty mask) touches the border of a
    ``w`` x ``h`` frame."""
    return bb is not None and (bb[0] == 0 or bb[1] == 0 or bb[2] == w or bb[3] == h)


def _component_at(m: np.ndarray, points: Sequence[tuple[float, float]]) -> np.ndarray:
    """The connected components of ``m`` that contain any of ``points``."""
    n, lab = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
    keep = set()
    h, w = m.shape
    for x, y in points:
        xi, yi = min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))
        if lab[yi, xi] > 0:
            keep.add(int(lab[yi, xi]))
    if not keep:
        return np.zeros_like(m, dtype=bool)
    return np.isin(lab, list(keep))


def _fill_holes(m: np.ndarray, allowed: np.ndarray | None = None, max_hole: float = 0.05) -> np.ndarray:
    """Fill the holes of ``m`` (background regions not connected to the border), only where
    ``allowed`` and only those smaller than ``max_hole`` times the mask's area: the open
    spaces of a thin object (a wheel's inside, the gap between legs) stay open."""
    inv = np.pad(~m, 1, constant_values=True).astype(np.uint8)
    ff = inv.copy()
    cv2.floodFill(ff, None, (0, 0), 2)
    holes = (ff == 1)[1:-1, 1:-1]
    if allowed is not None:
        holes &= allowed
    if holes.any():
        n, lab, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
        big = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > max_hole * max(1, np.count_nonzero(m))]
        if big:
            holes &= ~np.isin(lab, big)
    return m | holes


def _camera_homography(fl: np.ndarray) -> np.ndarray | None:
    """The camera's motion between two frames: a homography fitted (RANSAC, 1 px) to the
    dense flow ``fl`` (``cur(x) ~ other(x + fl(x))``) sampled every 8 pixels; None when
    none fits."""
    h, w = fl.shape[:2]
    ys, xs = np.mgrid[4:h:8, 4:w:8]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    hm, _ = cv2.findHomography(src, src + fl[ys.ravel(), xs.ravel()], cv2.RANSAC, 1.0)
    return hm


def _paste(tmpl: np.ndarray, pos: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """Bool canvas of ``shape`` with ``tmpl`` drawn with its top-left corner at ``pos``."""
    out = np.zeros(shape, bool)
    h, w = shape
    th, tw = tmpl.shape
    x0, y0 = int(round(pos[0])), int(round(pos[1]))
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + tw), min(h, y0 + th)
    if fx1 > fx0 and fy1 > fy0:
        out[fy0:fy1, fx0:fx1] = tmpl[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return out


def _paste_soft(tmpl: np.ndarray, pos: tuple[float, float], shape: tuple[int, int]) -> np.ndarray:
    """Float canvas of ``shape`` with ``tmpl`` drawn at the sub-pixel top-left ``pos``."""
    out = np.zeros(shape, np.float32)
    h, w = shape
    th, tw = tmpl.shape
    x0, y0 = int(np.floor(pos[0])), int(np.floor(pos[1]))
    m = np.float32([[1, 0, pos[0] - x0], [0, 1, pos[1] - y0]])
    t = cv2.warpAffine(tmpl.astype(np.float32), m, (tw + 1, th + 1), flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + tw + 1), min(h, y0 + th + 1)
    if fx1 > fx0 and fy1 > fy0:
        out[fy0:fy1, fx0:fx1] = t[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return out


def _align(shape: np.ndarray, seen: np.ndarray, valid: np.ndarray, radius: int = 3) -> tuple[float, float]:
    """Sub-pixel shift ``(dx, dy)`` (at most ``radius``) that best fits the soft ``shape``
    canvas to the ``seen`` mask, comparing only ``valid`` pixels (not covered by others)."""
    bb = _bbox(shape > 0.02)
    if bb is None:
        return 0.0, 0.0
    h, w = shape.shape
    x0, y0, x1, y1 = bb
    tmpl = np.ascontiguousarray(shape[y0:y1, x0:x1])
    q = np.where(valid, np.where(seen, 1.0, -1.0), 0.0).astype(np.float32)
    r = int(radius)
    qp = np.zeros((y1 - y0 + 2 * r, x1 - x0 + 2 * r), np.float32)
    sx0, sy0, sx1, sy1 = max(0, x0 - r), max(0, y0 - r), min(w, x1 + r), min(h, y1 + r)
    qp[sy0 - (y0 - r):sy1 - (y0 - r), sx0 - (x0 - r):sx1 - (x0 - r)] = q[sy0:sy1, sx0:sx1]
    res = cv2.matchTemplate(qp, tmpl, cv2.TM_CCORR)
    iy, ix = np.unravel_index(int(np.argmax(res)), res.shape)
    # prefer no move when the fit is flat
    if res[iy, ix] <= res[r, r] + 1e-3 * max(1.0, abs(float(res[r, r]))):
        return 0.0, 0.0

    def sub(a, b, c):
        den = a - 2 * b + c
        return 0.0 if den >= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))

    dx = ix - r + (sub(res[iy, ix - 1], res[iy, ix], res[iy, ix + 1]) if 0 < ix < 2 * r else 0.0)
    dy = iy - r + (sub(res[iy - 1, ix], res[iy, ix], res[iy + 1, ix]) if 0 < iy < 2 * r else 0.0)
    return float(dx), float(dy)


def _objectness(fr, region: np.ndarray) -> float:
    """How much ``region`` stands out from a band around it: 1 - Bhattacharyya coefficient of
    their colour histograms (0: same colours, 1: no colour in common)."""
    a = np.count_nonzero(region)
    if a == 0:
        return 0.0
    ring = _ring(region, 2, max(6.0, 0.35 * np.sqrt(a)))
    if not ring.any():
        return 0.0
    p = _smooth_hist(_hist(fr.bins, region))
    q = _smooth_hist(_hist(fr.bins, ring))
    return 1.0 - float(np.sum(np.sqrt(p * q)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ---------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------
@dataclass
class _Frame:
    """One frame at the internal resolution."""

    rgb: np.ndarray
    gray: np.ndarray
    bins: np.ndarray
    _global: np.ndarray | None = None

    @property
    def global_hist(self) -> np.ndarray:
        if self._global is None:
            self._global = _hist(self.bins)
        return self._global


def _guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` (float32) steered by the grey image ``guide``
    (float32, 0..1): the guided filter (He, Sun and Tang 2010), a local linear model of
    ``src`` in ``guide`` over windows of radius ``r``, ``eps`` the smoothing of flat areas.
    Box filters only: its cost does not grow with ``r``."""
    k = (2 * r + 1, 2 * r + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, normalize=True, borderType=cv2.BORDER_REFLECT)

    mi, mp = box(guide), box(src)
    a = (box(guide * src) - mi * mp) / (box(guide * guide) - mi * mi + eps)
    b = mp - a * mi
    return box(a) * guide + box(b)
