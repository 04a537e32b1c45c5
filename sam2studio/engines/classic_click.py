"""Single-frame segmentation for the classic engine: a mask from clicks, a box or a base mask.

See :mod:`sam2studio.engines.classic` for how it fits in the engine.
"""

from __future__ import annotations

import cv2
import numpy as np

from .classic_util import (
    _bbox,
    _component_at,
    _dilate,
    _disk,
    _fill_holes,
    _Frame,
    _hist,
    _log_ratio,
    _objectness,
    _ring,
    _smooth_hist,
)


def grow(fr: _Frame, x: float, y: float, forbid: np.ndarray | None = None) -> np.ndarray:
    """Region of similar colour around ``(x, y)`` (internal resolution).

    Two candidates are grown, one against the colours of the whole frame and one against
    a mix of those and the region's own surroundings; the one that stands out more from
    its surroundings (colour histograms of inside and a band around it) wins."""
    best, best_score = None, -1.0
    for local in (0.0, 0.5):
        region = grow_once(fr, x, y, forbid, local)
        score = _objectness(fr, region)
        if score > best_score:
            best, best_score = region, score
    return best

def grow_once(fr: _Frame, x: float, y: float, forbid: np.ndarray | None, local: float) -> np.ndarray:
    h, w = fr.bins.shape
    r0 = max(3, int(round(0.018 * max(h, w))))
    seed = _disk((h, w), x, y, r0)
    if forbid is not None:
        seed &= ~forbid
        if not seed.any():
            seed = _disk((h, w), x, y, 1)
    region = seed
    gh = fr.global_hist
    ksize = max(3, int(round(0.012 * max(h, w))) | 1)
    for _ in range(5):
        fh = _hist(fr.bins, region)
        bgh = _smooth_hist(np.maximum(gh - fh, 0))
        if local > 0:
            ring = _ring(region, 2, max(6.0, 0.5 * np.sqrt(np.count_nonzero(region))))
            bgh = (1 - local) * bgh + local * _smooth_hist(_hist(fr.bins, ring))
        lut = _log_ratio(_smooth_hist(fh), bgh)
        score = cv2.blur(lut[fr.bins], (ksize, ksize))
        cand = score > 0.0
        if forbid is not None:
            cand &= ~forbid
        cand |= seed
        new = _component_at(cand, [(x, y)])
        changed = np.count_nonzero(new ^ region)
        region = new
        if changed < 0.02 * max(1, np.count_nonzero(region)):
            break
    return region

def segment(fr: _Frame, pos, neg, box, base: np.ndarray | None, others: np.ndarray) -> np.ndarray:
    """One object's mask at the internal resolution from clicks, a box and/or a base mask."""
    h, w = fr.bins.shape
    # pixels of other objects on this frame are not available to a click (a box may
    # take them: it says explicitly where the object is)
    forbid = others.copy()
    for x, y in pos:
        forbid &= ~_disk((h, w), x, y, 3)
    pos_regions = [grow(fr, x, y, forbid) for x, y in pos] if box is None else []
    region = np.zeros((h, w), bool)
    if box is not None:
        x0, y0, x1, y1 = box
        region[int(np.floor(y0)):int(np.ceil(y1)), int(np.floor(x0)):int(np.ceil(x1))] = True
        allowed = region.copy()
    else:
        if base is not None and base.any():
            region = base.copy()
        for (x, y), g in zip(pos, pos_regions):
            xi, yi = min(w - 1, int(x)), min(h - 1, int(y))
            if not region[yi, xi]:
                region |= g
        area = max(1, np.count_nonzero(region))
        allowed = _dilate(region, max(4, int(0.25 * np.sqrt(area))))
    # the region of similar colour around a negative click is cut out; when that would
    # take (nearly) everything -- the negative click sits in the same colours as the
    # positive ones -- only the part nearer to the negative click than to any positive
    # click goes
    neg_cut = np.zeros((h, w), bool)
    if neg:
        keep_pos = np.zeros((h, w), bool)
        for x, y in pos:
            keep_pos |= _disk((h, w), x, y, 3)
        for x, y in neg:
            neg_cut |= grow(fr, x, y, keep_pos)
        if pos and np.count_nonzero(region & neg_cut) > 0.8 * max(1, np.count_nonzero(region)):
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            dn = np.min([(xx - x) ** 2 + (yy - y) ** 2 for x, y in neg], axis=0)
            dp = np.min([(xx - x) ** 2 + (yy - y) ** 2 for x, y in pos], axis=0)
            neg_cut &= dn < dp
        region &= ~neg_cut
    if not region.any():
        for x, y in pos:
            region |= _disk((h, w), x, y, 2)
        if not region.any():
            return region
    if box is None:
        region &= ~forbid
        allowed = allowed & ~forbid
    gc = grabcut(fr, region, allowed, pos, neg, rect=box is not None)
    gc &= ~neg_cut
    for x, y in neg:
        gc &= ~_disk((h, w), x, y, 2)
    if pos:
        keep = _component_at(gc, pos)
        # a positive click that GrabCut dropped keeps at least its grown region
        for (x, y), g in zip(pos, pos_regions or [None] * len(pos)):
            xi, yi = min(w - 1, int(x)), min(h - 1, int(y))
            if not keep[yi, xi]:
                keep |= (g & ~neg_cut) if g is not None else _disk((h, w), x, y, 2)
        gc = keep
    else:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(gc.astype(np.uint8), connectivity=8)
        if n > 1:
            big = stats[1:, cv2.CC_STAT_AREA].max()
            gc = np.isin(lab, [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 0.1 * big])
    return _fill_holes(gc)

def grabcut(fr: _Frame, region, allowed, pos, neg, rect: bool) -> np.ndarray:
    h, w = region.shape
    bb = _bbox(allowed | region)
    if bb is None:
        return region
    m = max(6, int(0.15 * max(bb[2] - bb[0], bb[3] - bb[1])))
    x0, y0, x1, y1 = max(0, bb[0] - m), max(0, bb[1] - m), min(w, bb[2] + m), min(h, bb[3] + m)
    gm = np.full((y1 - y0, x1 - x0), cv2.GC_BGD, np.uint8)
    al = allowed[y0:y1, x0:x1]
    gm[al] = cv2.GC_PR_BGD
    gm[region[y0:y1, x0:x1]] = cv2.GC_PR_FGD
    for x, y in pos:
        gm[_disk((y1 - y0, x1 - x0), x - x0, y - y0, 2)] = cv2.GC_FGD
    for x, y in neg:
        gm[_disk((y1 - y0, x1 - x0), x - x0, y - y0, 2)] = cv2.GC_BGD
    fgc = np.count_nonzero((gm == cv2.GC_FGD) | (gm == cv2.GC_PR_FGD))
    bgc = np.count_nonzero((gm == cv2.GC_BGD) | (gm == cv2.GC_PR_BGD))
    if fgc < 10 or bgc < 10:
        return region
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    img = np.ascontiguousarray(fr.rgb[y0:y1, x0:x1])
    try:
        cv2.grabCut(img, gm, None, bgd, fgd, 4, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return region
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = (gm == cv2.GC_FGD) | (gm == cv2.GC_PR_FGD)
    return out
