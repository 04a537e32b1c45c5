"""Single-frame segmentation for the classic engine: a mask from clicks, a box or a base mask.

See :mod:`sam2studio.engines.classic` for how it fits in the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import classic_thin
from .classic_util import (
    _bbox,
    _camera_homography,
    _colour_lut,
    _component_at,
    _dilate,
    _disk,
    _erode,
    _fill_holes,
    _Frame,
    _hist,
    _log_ratio,
    _objectness,
    _ring,
    _smooth_hist,
)

#: box extents tried around a click: (half-width, aspect = height / width), the half-width as
#: a fraction of the frame's longest side
BOX_EXTENTS: tuple[tuple[float, float], ...] = ((0.045, 2.2), (0.075, 2.2), (0.11, 1.0), (0.11, 2.2))
#: half-width of the box a click's mask is cut to when every candidate ran into the background
CLIP_EXTENT = 0.17
#: extents of the "soft" boxes: GrabCut may grow past these (a band around the box is only
#: probably background), so a box smaller than the object still finds all of it
SOFT_EXTENTS: tuple[tuple[float, float], ...] = ((0.045, 2.2), (0.075, 2.2), (0.11, 1.0))
#: extents of the thin-structure candidates (colours inside the box unlike those around it,
#: without GrabCut's smoothing: the tubes and wheels of a bicycle)
THIN_EXTENTS: tuple[tuple[float, float], ...] = ((0.045, 2.2), (0.11, 1.0))
#: extents of the thin-line candidates (:func:`ridge_region`) and the share of a box's
#: pixels taken as lines
RIDGE_EXTENTS: tuple[tuple[float, float], ...] = ((0.11, 1.0),)
RIDGE_SHARE = 0.3
RIDGE_MIN = 8.0  # grey levels: fainter lines are texture or noise
#: extents of the boxes where GrabCut starts from the thin lines connected to the click
#: (:func:`lines_grabcut`: the lines probably foreground, the rest of the box probably
#: background), on crops no longer than :data:`LINES_SIDE`; offered, like the fine boxes,
#: and the default only in place of a default that holds it (:func:`trim_default`)
LINES_GC_EXTENTS: tuple[tuple[float, float], ...] = ((0.11, 1.0), (0.11, 2.2))
LINES_SIDE = 200
LINES_GC = "grabcut on lines"
#: extents of the line-started GrabCuts that are also run from :data:`LINES_STARTS` - 1 more
#: random starts (seeds after :data:`GRABCUT_SEED`); the cut of lowest GrabCut energy among
#: them is offered when it is lower than the first start's (:func:`lines_grabcut`); offered only
LINES_RESTART_EXTENTS: tuple[tuple[float, float], ...] = ((0.11, 1.0),)
LINES_STARTS = 2
LINES_RESTART = "lowest energy of other starts"
#: a pixel chosen by at least this share of the GrabCut candidates is in a consensus candidate
CONSENSUS_VOTES: tuple[float, ...] = (0.3, 0.5)
#: a click's default mask never covers more of the frame than this (larger candidates are
#: still offered, after it)
MAX_DEFAULT_SHARE = 0.4
_GC_SIDE = 150  # GrabCut runs on crops no longer than this (pixels)
#: extents of the "fine" boxes: GrabCut again in the same hard boxes on crops up to
#: :data:`FINE_SIDE` pixels (arms, legs and a person's two-coloured clothes survive there
#: where the coarse crop rounds them off); offered as alternatives only, never the default
#: and not counted in the agreement (see :func:`click_candidates`)
FINE_EXTENTS: tuple[tuple[float, float], ...] = BOX_EXTENTS[:2]
FINE_SIDE = 300
#: extents of the fine boxes that may extend the default (see :func:`extend_default`): the
#: small hard boxes and one between them; those not in :data:`FINE_EXTENTS` are not offered
EXTEND_EXTENTS: tuple[tuple[float, float], ...] = ((0.045, 2.2), (0.06, 2.2), (0.075, 2.2))
#: a fine box's mask extends the default (the default becomes their union) when it holds at
#: least this share of the default, is at least :data:`EXTEND_RATIO` times its size and
#: covers no more than :data:`EXTEND_TOUCH` of any side of its box
EXTEND_HOLD = 0.7
EXTEND_RATIO = 1.1
EXTEND_TOUCH = 0.1
#: GrabCut from the lines (:data:`LINES_GC`) takes the default's place (see
#: :func:`trim_default`) when at least :data:`TRIM_HOLD` of it lies in the default and its
#: size is between the two shares :data:`TRIM_SIZE` of the default's
TRIM_HOLD = 0.9
TRIM_SIZE = (0.3, 0.95)
#: extents of the "person" boxes: upright boxes (height three times the width) placed with
#: the clicks at :data:`PERSON_UP` of their height from the top, where a click on a standing
#: or kneeling person's torso lies, GrabCut run on :func:`chroma_image`; offered as
#: alternatives only, like the fine boxes (see :func:`click_candidates`)
PERSON_EXTENTS: tuple[tuple[float, float], ...] = ((0.04, 3.0), (0.05, 3.0), (0.0625, 3.0), (0.078, 3.0))
PERSON_UP = 0.3
#: the person boxes (those of :data:`PERSON_EXTENTS` also listed here: the two middle sizes)
#: where GrabCut also starts from the thin lines joining the clicks (:func:`lines_grabcut`,
#: on crops no longer than :data:`LINES_SIDE`); offered only, listed after every other kind
#: (see :func:`click_candidates`)
PERSON_LINES_EXTENTS: tuple[tuple[float, float], ...] = ((0.05, 3.0), (0.0625, 3.0))
PERSON_LINES = "person box from the lines"
#: the first :data:`RESHAPE_COUNT` candidates of a fresh click (the default and Tab's first
#: pick) are cut again by GrabCut started from their own shapes (:func:`shape_grabcut`: a
#: ring of :data:`RESHAPE_RING` of the mask's size around it probably background, its inside
#: :data:`RESHAPE_CORE` of that size in sure foreground) and offered last, unless another
#: candidate is the same mask (IoU over :data:`RESHAPE_SAME`); on crops no longer than
#: :data:`RESHAPE_SIDE`, :data:`RESHAPE_ITERS` GrabCut iterations (3 gave the same masks)
RESHAPE_COUNT = 2
RESHAPE_RING = 0.3
RESHAPE_CORE = 0.1
RESHAPE_SAME = 0.98
RESHAPE_SIDE = LINES_SIDE
RESHAPE_ITERS = 2
RESHAPED = "re-cut from its shape:"
#: weights of lightness and of the two chroma axes of CIELAB in :func:`chroma_image`
CHROMA_L = 0.5
CHROMA_AB = 2.0
_SOFT_ITERS = 3  # GrabCut iterations in a soft box (and in a hard one)
GRABCUT_SEED = 12345
MOVING = "moving with the click"
PERSON = "person box"
MOVING_LINES = classic_thin.MOVING_LINES
#: candidates covering less of the frame than this, or fewer pixels than
#: :data:`MIN_PIXELS` (three times the disc GrabCut is told is the click), are the click's
#: disc, not an object
MIN_SHARE = 0.0015
MIN_PIXELS = 40
SWALLOW_PENALTY = 1.0


def snap_clicks(points, shape: tuple[int, int]) -> list[tuple[float, float]]:
    """``points`` moved to the centres of their pixels, inside a frame of ``shape``: the
    engine takes every click at the centre of the video pixel it falls in.

    Why: every candidate of a click hangs on its exact position in a different way -- its
    disc and the component kept at it on the engine pixel it rounds to, each box's corners
    on where ``x +- half-width`` rounds, GrabCut's sure-foreground disc on where it
    truncates in the reduced crop -- so clicks a fraction of a pixel apart got different
    boxes, GrabCut started from different crops and another default won (the judo pair of
    the half-size test frames clicked at (223, 88): both judokas, IoU 0.81; at (222.8,
    87.9): one of them, 0.33). From the pixel's centre, every click in the same pixel gives
    the same candidates. (Snapping to the engine's own, coarser pixel instead was steadier
    still but moved the clicks of whole video pixels too, and with them, by chance, the
    benchmarks' figures: benchmarks/README.md, steady12.)"""
    h, w = shape
    return [(float(min(w - 1, max(0, int(round(x))))), float(min(h - 1, max(0, int(round(y)))))) for x, y in points]


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


def negative_cut(fr: _Frame, pos, neg, region: np.ndarray | None = None, split: bool = False) -> np.ndarray:
    """What the negative clicks ``neg`` cut out of ``region`` (the object's probable extent):
    the region of similar colour grown around each; when that would take (nearly) all of
    ``region`` -- the negative click sits in the same colours as the positive ones ``pos`` --
    or always with ``split`` (then ``region`` is not needed), only the part nearer to a
    negative click than to any positive one."""
    h, w = fr.bins.shape
    neg_cut = np.zeros((h, w), bool)
    if not neg:
        return neg_cut
    keep_pos = np.zeros((h, w), bool)
    for x, y in pos:
        keep_pos |= _disk((h, w), x, y, 3)
    for x, y in neg:
        neg_cut |= grow(fr, x, y, keep_pos)
    if pos and (split or (region is not None
                          and np.count_nonzero(region & neg_cut) > 0.8 * max(1, np.count_nonzero(region)))):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        dn = np.min([(xx - x) ** 2 + (yy - y) ** 2 for x, y in neg], axis=0)
        dp = np.min([(xx - x) ** 2 + (yy - y) ** 2 for x, y in pos], axis=0)
        neg_cut &= dn < dp
    return neg_cut


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
    neg_cut = negative_cut(fr, pos, neg, region)
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
    """GrabCut around ``region`` (probably foreground) within ``allowed`` (probably
    background elsewhere); clicks are sure foreground / background (:func:`crop_grabcut`)."""
    out = crop_grabcut(fr, region, allowed, pos=pos, neg=neg)
    return region if out is None else out


def crop_grabcut(fr: _Frame, prob_fg: np.ndarray, zone: np.ndarray, pos=(), neg=(),
                 sure_fg: np.ndarray | None = None, sure_bg: np.ndarray | None = None) -> np.ndarray | None:
    """GrabCut on a crop around ``prob_fg | zone``: ``prob_fg`` probably foreground, the rest
    of ``zone`` probably background, everything else sure background; ``sure_fg`` /
    ``sure_bg`` (masks) and the clicks ``pos`` / ``neg`` (small discs) override. Large crops
    run at a reduced size (longest side :data:`_GC_SIDE` x 1.4) and are scaled back. None
    when there is too little of either side for GrabCut to run."""
    h, w = prob_fg.shape
    bb = _bbox(zone | prob_fg)
    if bb is None:
        return None
    m = max(6, int(0.15 * max(bb[2] - bb[0], bb[3] - bb[1])))
    x0, y0, x1, y1 = max(0, bb[0] - m), max(0, bb[1] - m), min(w, bb[2] + m), min(h, bb[3] + m)
    s = min(1.0, 1.4 * _GC_SIDE / max(x1 - x0, y1 - y0))
    cw, ch = max(4, int(round((x1 - x0) * s))), max(4, int(round((y1 - y0) * s)))

    def small(a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a[y0:y1, x0:x1])
        if s == 1.0:
            return a
        return cv2.resize(a.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST) > 0

    gm = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    gm[small(zone)] = cv2.GC_PR_BGD
    gm[small(prob_fg)] = cv2.GC_PR_FGD
    if sure_fg is not None:
        gm[small(sure_fg)] = cv2.GC_FGD
    for x, y in pos:
        cv2.circle(gm, (int((x - x0) * s), int((y - y0) * s)), 2, int(cv2.GC_FGD), -1)
    if sure_bg is not None:
        gm[small(sure_bg)] = cv2.GC_BGD
    for x, y in neg:
        cv2.circle(gm, (int((x - x0) * s), int((y - y0) * s)), 2, int(cv2.GC_BGD), -1)
    fgc = np.count_nonzero((gm == cv2.GC_FGD) | (gm == cv2.GC_PR_FGD))
    if fgc < 10 or gm.size - fgc < 10:
        return None
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    img = np.ascontiguousarray(fr.rgb[y0:y1, x0:x1])
    if s != 1.0:
        img = cv2.resize(img, (cw, ch), interpolation=cv2.INTER_AREA)
    fg = seeded_grabcut(img, gm, bgd, fgd, 4)
    if fg is None:
        return None
    if s != 1.0:
        fg = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((h, w), bool)
    out[y0:y1, x0:x1] = fg >= 0.5
    return out


def seeded_grabcut(img: np.ndarray, gm: np.ndarray, bgd: np.ndarray, fgd: np.ndarray,
                   iters: int) -> np.ndarray | None:
    """``iters`` iterations of GrabCut on ``img`` from the labels ``gm`` (changed in place;
    ``bgd`` / ``fgd`` receive the colour models) with OpenCV's random generator seeded by
    :data:`GRABCUT_SEED` (its k-means start is random: the same prompt, the same mask); the
    foreground as float32 0/1, or None when GrabCut refuses the labels."""
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(img, gm, None, bgd, fgd, iters, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return None
    return ((gm == cv2.GC_FGD) | (gm == cv2.GC_PR_FGD)).astype(np.float32)


# ---------------------------------------------------------------------------------------
# several candidates for a click
# ---------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One candidate mask for a click (internal resolution) and why it was kept."""

    mask: np.ndarray
    score: float
    kind: str
    features: dict = field(default_factory=dict)


def comoving_region(cur: _Frame, other: _Frame, flow, pos) -> np.ndarray | None:
    """The region that moves with the clicked point between ``cur`` and ``other`` (a frame or
    two away), beyond the camera's motion: dense flow minus a homography fitted to it
    (RANSAC), pixels whose relative motion is close to the clicks', connected to them. None
    when the clicked point does not move against the background (the cue says nothing)."""
    h, w = cur.gray.shape
    if not pos:
        return None
    fl = flow.calc(cur.gray, other.gray, None)
    hm = _camera_homography(fl)
    if hm is None:
        return None
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], -1)
    rel = fl - (cv2.perspectiveTransform(grid.reshape(-1, 1, 2), hm).reshape(h, w, 2) - grid)
    rel = cv2.GaussianBlur(rel, (0, 0), 1.5)
    v = np.median([rel[min(h - 1, int(y)), min(w - 1, int(x))] for x, y in pos], axis=0)
    speed = float(np.linalg.norm(v))
    if speed < 1.0:
        return None
    region = (np.linalg.norm(rel - v, axis=-1) < max(0.8, 0.35 * speed)) & (np.linalg.norm(rel, axis=-1) > 0.5 * speed)
    region = _component_at(region, pos)
    return region if region.any() else None


def chroma_image(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` in CIELAB with the lightness halved and the chroma doubled (:data:`CHROMA_L`,
    :data:`CHROMA_AB`), as a 3-channel 8-bit image for GrabCut: the folds and shadows of
    one cloth change its lightness far more than its chroma, so a white suit in shade stays
    nearer the lit suit than the pale wall or the grey-green mat next to it."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= CHROMA_L
    lab[..., 1:] = (lab[..., 1:] - 128.0) * CHROMA_AB + 128.0
    return np.clip(lab, 0, 255).astype(np.uint8)


def _pixel_box(box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``box`` (x0, y0, x1, y1) rounded to whole pixels and cut to a frame of ``shape``."""
    h, w = shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def _box_grabcut(fr: _Frame, pos, neg, forbid: np.ndarray, box, band: float = 0.0,
                 side: int | None = None, image: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """GrabCut inside ``box`` (probably foreground) with the positive clicks as sure
    foreground; returns the connected part at the clicks and how much of the box's inner
    sides it covers (0: well inside the box, 1: a whole side). With ``band`` > 0 a band of
    that many box sides around the box is only *probably* background, so the mask may grow
    past a box smaller than the object (the touch figure is then 0). The crop runs at a
    reduced size, its longest side ``side`` (default :data:`_GC_SIDE`) pixels at most.
    ``image``: the frame GrabCut sees (default ``fr.rgb``; e.g. :func:`chroma_image`)."""
    h, w = fr.bins.shape
    x0, y0, x1, y1 = _pixel_box(box, (h, w))
    out = np.zeros((h, w), bool)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return out, 0.0
    mb = int(band * max(x1 - x0, y1 - y0))
    m = mb + max(6, int(0.3 * max(x1 - x0, y1 - y0)))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    s = min(1.0, (side or _GC_SIDE) / max(cx1 - cx0, cy1 - cy0))
    cw, ch = max(4, int(round((cx1 - cx0) * s))), max(4, int(round((cy1 - cy0) * s)))
    src = fr.rgb if image is None else image
    img = cv2.resize(np.ascontiguousarray(src[cy0:cy1, cx0:cx1]), (cw, ch), interpolation=cv2.INTER_AREA)
    gm = np.full((ch, cw), cv2.GC_BGD, np.uint8)

    def span(a0: int, a1: int, o: int) -> tuple[int, int]:
        return int((a0 - o) * s), int(np.ceil((a1 - o) * s))

    if mb > 0:
        (py0, py1) = span(max(0, y0 - mb), min(h, y1 + mb), cy0)
        (px0, px1) = span(max(0, x0 - mb), min(w, x1 + mb), cx0)
        gm[py0:py1, px0:px1] = cv2.GC_PR_BGD
    (by0, by1), (bx0, bx1) = span(y0, y1, cy0), span(x0, x1, cx0)
    gm[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    fb = cv2.resize(forbid[cy0:cy1, cx0:cx1].astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST) > 0
    gm[fb] = cv2.GC_BGD
    for x, y in neg:
        cv2.circle(gm, (int((x - cx0) * s), int((y - cy0) * s)), 2, int(cv2.GC_BGD), -1)
    for x, y in pos:
        cv2.circle(gm, (int((x - cx0) * s), int((y - cy0) * s)), 2, int(cv2.GC_FGD), -1)
    if np.count_nonzero(gm == cv2.GC_BGD) < 10:
        return out, 0.0
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    fg = seeded_grabcut(img, gm, bgd, fgd, _SOFT_ITERS if mb else 3)
    if fg is None:
        return out, 0.0
    fg = cv2.resize(fg, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR) >= 0.5
    out[cy0:cy1, cx0:cx1] = fg
    out &= ~forbid
    out = _component_at(out, pos)
    sides = []
    if mb == 0:
        if x0 > 0:
            sides.append(out[y0:y1, x0].mean())
        if x1 < w:
            sides.append(out[y0:y1, x1 - 1].mean())
        if y0 > 0:
            sides.append(out[y0, x0:x1].mean())
        if y1 < h:
            sides.append(out[y1 - 1, x0:x1].mean())
    return _fill_holes(out), float(max(sides) if sides else 0.0)


def thin_region(fr: _Frame, pos, forbid: np.ndarray, box) -> np.ndarray:
    """Pixels inside ``box`` whose colours are much more common inside it than in a band
    around it, connected to the clicks, with no smoothing beyond closing one-pixel gaps: a
    thin object (a bicycle's tubes and wheels) that GrabCut's smoothness term rounds off
    into a blob or drops."""
    h, w = fr.bins.shape
    x0, y0, x1, y1 = _pixel_box(box, (h, w))
    inside = np.zeros((h, w), bool)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return inside
    inside[y0:y1, x0:x1] = True
    around = _dilate(inside, max(4, int(0.25 * max(x1 - x0, y1 - y0)))) & ~inside
    lut = _colour_lut(fr.bins, inside, around)
    cand = (lut[fr.bins] > 0.5) & inside & ~forbid
    cand = (cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0) & ~forbid
    for x, y in pos:
        cand |= _disk((h, w), x, y, 2)
    return _component_at(cand, pos)


def ridge_region(fr: _Frame, pos, forbid: np.ndarray, box) -> np.ndarray:
    """Thin lines darker or lighter than their surroundings (morphological black-hat and
    top-hat of the grey image, the strongest :data:`RIDGE_SHARE` of the box and at least
    :data:`RIDGE_MIN` grey levels), closed over
    one-pixel gaps and connected to the clicks: the tubes, spokes and tyres of a bicycle,
    whose colours say little (dark metal on shadowed grass) but whose lines stand out."""
    h, w = fr.bins.shape
    x0, y0, x1, y1 = _pixel_box(box, (h, w))
    out = np.zeros((h, w), bool)
    if x1 - x0 < 5 or y1 - y0 < 5:
        return out
    g = fr.gray[y0:y1, x0:x1].astype(np.float32)
    ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    r = np.maximum(cv2.morphologyEx(g, cv2.MORPH_BLACKHAT, ker), cv2.morphologyEx(g, cv2.MORPH_TOPHAT, ker))
    cand = (r > max(RIDGE_MIN, float(np.quantile(r, 1.0 - RIDGE_SHARE)))).astype(np.uint8)
    out[y0:y1, x0:x1] = cv2.morphologyEx(cand, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    out &= ~forbid
    for x, y in pos:
        out |= _disk((h, w), x, y, 2)
    return _component_at(out, pos)


def _edge_ratio(grad: np.ndarray, m: np.ndarray) -> float:
    """Mean gradient on the mask's outline over the mean around it (> 1: the outline follows
    image edges)."""
    if not m.any():
        return 0.0
    line = m & ~_erode(m, 1)
    around = _dilate(m, 6) & ~_erode(m, 6)
    if not line.any() or not around.any():  # a mask over the whole frame has no outline
        return 0.0
    return float(grad[line].mean() / (grad[around].mean() + 1e-3))


def _features(fr: _Frame, grad: np.ndarray, m: np.ndarray) -> dict:
    h, w = m.shape
    return {"share": float(np.count_nonzero(m)) / (h * w), "pixels": float(np.count_nonzero(m)),
            "contrast": _objectness(fr, m), "edge": _edge_ratio(grad, m)}


def candidate_score(f: dict, touch: float = 0.0) -> float:
    """How likely a candidate is the object: how much it agrees with the other candidates
    (its mean IoU with them: an outline that GrabCut finds from several extents and seeds,
    and that the colour region and the motion agree with, is more likely the object's than
    one found once), a bonus when it was seeded by the region moving with the click; a
    candidate that runs out of its box, covers more than :data:`MAX_DEFAULT_SHARE` of the
    frame, is no more than the click's disc or would swallow another object's whole mask
    scores less. (Chosen on the benchmark's real,
    semi-real and test clicks together; see benchmarks/README.md.)"""
    s = 1.0 * f.get("agree", 0.0) + 0.3 * f.get("moving", 0.0)
    s -= 1.0 * max(0.0, touch - 0.25)
    if f.get("swallows", 0.0) > 0.8:
        s -= SWALLOW_PENALTY
    if f["share"] > MAX_DEFAULT_SHARE:
        s -= 2.0
    if f["share"] < MIN_SHARE or f.get("pixels", MIN_PIXELS) < MIN_PIXELS:
        s -= 2.0
    return float(s)


def _boxes(pos, shape: tuple[int, int], extents,
           up: float = 0.4) -> list[tuple[tuple[float, float, float, float], str]]:
    """Boxes around the clicks, one per ``(half-width, aspect)`` extent (a fraction of the
    frame's longest side), ``up`` of their height above the clicks (default 0.4: reaching a
    little further below the clicks than above them)."""
    h, w = shape
    xs, ys, L = [p[0] for p in pos], [p[1] for p in pos], max(h, w)
    out = []
    for r, asp in extents:
        hw, hh = r * L, r * L * asp
        out.append(((min(xs) - hw, min(ys) - 2 * up * hh, max(xs) + hw, max(ys) + 2 * (1 - up) * hh),
                    f"{r:g}x{asp:g}"))
    return out


def click_candidates(fr: _Frame, pos, neg, others: np.ndarray, moving: np.ndarray | None = None,
                     claimed: Sequence[np.ndarray] = (), evidence: np.ndarray | None = None,
                     person: bool = True) -> list[Candidate]:
    """Candidate masks for positive clicks ``pos`` (and negative ``neg``) on a frame with no
    earlier mask for the object: the colour region grown from the clicks and refined by
    GrabCut (:func:`segment`); given the region ``moving`` with the clicks (see
    :func:`comoving_region`), GrabCut seeded by it; GrabCut in boxes of a few extents around
    the clicks, hard (:data:`BOX_EXTENTS`: outside is background) and soft
    (:data:`SOFT_EXTENTS`: the mask may grow past the box); thin structures in boxes
    (:func:`thin_region`, :data:`THIN_EXTENTS`); and the consensus of the GrabCut candidates
    (pixels that at least :data:`CONSENSUS_VOTES` of them chose). Near-duplicates are dropped;
    they are ranked by :func:`candidate_score`, the best first (the default). GrabCut again
    in the smaller hard boxes on a finer crop (:data:`FINE_EXTENTS`, :data:`FINE_SIDE`) adds
    alternatives that are offered, ranked among the others, but are never the default and
    do not count in the others' agreement (a finer crop keeps a person's legs or arms that
    the coarse one drops, but its outline is no steadier: as voters and possible defaults
    they lowered the semi-real first clicks' default from 0.74 to 0.72), and so do GrabCut
    started from the thin lines joining the clicks (:func:`lines_grabcut`,
    :data:`LINES_GC_EXTENTS`) and GrabCut in upright "person" boxes on the chroma-weighted
    frame (:func:`person_boxes`), and GrabCut from the lines in those person boxes
    (:data:`PERSON_LINES_EXTENTS`: the object's lines give GrabCut's colour models a start
    that does not hang on its random one, a white suit beside a pale wall kept whole with
    every seed where the person box alone keeps the jacket with one), and the GrabCut from the
    lines in :data:`LINES_RESTART_EXTENTS` run from other random starts, offered when its cut
    has a lower GrabCut energy than the first start's (:func:`grabcut_energy`: GrabCut only
    finds a local minimum of it, and which one hangs on its random start); these four are
    listed after every other kind, in that order, and skipped with ``person=False`` (a
    corrective click's parts, see :mod:`.classic_refine`). One fine box may extend the
    default, though, when it holds it and what it adds belongs with it
    (:func:`extend_default`: the default becomes their union, the default alone is offered
    next), and GrabCut from the lines (its first start) may take the default's place when it
    lies in it and what it leaves out is background (:func:`trim_default`: beside the
    frame's edge, or not moving with the clicks; the default it replaced is offered last,
    the others in their order). Last, with ``person``, the default and Tab's first pick cut
    again by GrabCut started from their own shapes (:func:`reshaped`), offered after all
    the others. The default never covers more than
    :data:`MAX_DEFAULT_SHARE` of the frame when any candidate does not; when none does, it
    is the best one cut to a box around the clicks. ``claimed`` are
    the masks of other objects under the clicks (the click takes their pixels): a candidate
    that would swallow nearly all of one of them ranks lower (a click on a rider is not meant
    to take the whole bicycle it rides, when the bicycle's mask ran over the rider).
    ``evidence``: how much better the click's motion than the camera's explains each pixel
    (:func:`.classic_thin.motion_evidence`); with it, the thin lines that move
    with the click are a candidate too (:func:`.classic_thin.moving_lines`).
    """
    h, w = fr.bins.shape
    grad = cv2.magnitude(cv2.Sobel(fr.gray, cv2.CV_32F, 1, 0), cv2.Sobel(fr.gray, cv2.CV_32F, 0, 1))
    forbid = others.copy()
    for x, y in pos:
        forbid &= ~_disk((h, w), x, y, 3)
    # the GrabCuts in boxes (most of a click's time) are independent of each other and of
    # the rest: they run at once on OpenCV's threads while this thread grows the colour region
    hard = _boxes(pos, (h, w), BOX_EXTENTS) if pos else []
    soft = _boxes(pos, (h, w), SOFT_EXTENTS) if pos else []
    extents = sorted(set(FINE_EXTENTS) | set(EXTEND_EXTENTS))  # the smallest box first
    fine_boxes = []
    for (box, name), ext in zip(_boxes(pos, (h, w), extents) if pos else [], extents):
        x0, y0, x1, y1 = _pixel_box(box, (h, w))
        if 1.6 * max(x1 - x0, y1 - y0) > _GC_SIDE:  # (box + margins) else the coarse crop was not reduced
            fine_boxes.append((box, name, ext))
    offered = bool(pos) and person  # the line-seeded and person boxes: not for a corrective click's parts
    chroma = chroma_image(fr.rgb) if offered else None
    lines_boxes = _boxes(pos, (h, w), LINES_GC_EXTENTS) if offered else []
    # the line-started GrabCuts run again from other random starts (their first start's energy
    # is worked out to compare)
    restart = [ext in LINES_RESTART_EXTENTS and LINES_STARTS > 1 for ext in LINES_GC_EXTENTS] if offered else []
    more_starts = tuple(GRABCUT_SEED + i for i in range(1, LINES_STARTS))
    restarts = [(box, name) for (box, name), r in zip(lines_boxes, restart) if r]
    people = person_boxes(fr, pos, forbid) if offered else []
    people_lines = (_boxes(pos, (h, w), [e for e in PERSON_EXTENTS if e in PERSON_LINES_EXTENTS], up=PERSON_UP)
                    if offered else [])
    calls = ([(_box_grabcut, (fr, pos, neg, forbid, box), {}) for box, _ in hard]
             + [(_box_grabcut, (fr, pos, neg, forbid, box), {"band": 0.5}) for box, _ in soft]
             + [(_box_grabcut, (fr, pos, neg, forbid, box), {"side": FINE_SIDE}) for box, _, _ in fine_boxes]
             + [(_lines_grabcut_in, (fr, chroma, pos, neg, forbid, box), {"starts": (GRABCUT_SEED,) if r else None})
                for (box, _), r in zip(lines_boxes, restart)]
             + [(_box_grabcut, (fr, pos, neg, forbid, box), {"image": chroma}) for box, _ in people]
             + [(_lines_grabcut_in, (fr, chroma, pos, neg, forbid, box), {}) for box, _ in people_lines]
             + [(_lines_grabcut_in, (fr, chroma, pos, neg, forbid, box), {"starts": more_starts})
                for box, _ in restarts])
    with _Parallel(calls) as boxed:
        raw: list[tuple[np.ndarray, str, float]] = [(segment(fr, pos, neg, None, None, others), "colour region",
                                                     0.0)]
        if moving is not None and moving.any() and pos:
            seed = moving & ~forbid
            allowed = _dilate(seed, max(4, int(0.25 * np.sqrt(max(1, np.count_nonzero(seed)))))) & ~forbid
            m = grabcut(fr, seed, allowed, pos, neg, False) & ~forbid
            raw.append((_fill_holes(_component_at(m, pos)), MOVING, 0.0))
        done = iter(boxed.results())
    for (_box, name), (m, touch) in zip(hard, done):
        raw.append((m, f"box {name}", touch))
    for (_box, name), (m, _) in zip(soft, done):
        raw.append((m, f"soft box {name}", 0.0))
    raw = [r for r in raw if r[0].any()]
    sane = [m for m, _k, _t in raw
            if MIN_SHARE <= m.mean() <= MAX_DEFAULT_SHARE and np.count_nonzero(m) >= MIN_PIXELS]
    if len(sane) >= 3 and pos:
        vote = np.mean(sane, axis=0)
        for q in CONSENSUS_VOTES:
            m = _component_at(vote >= q, pos)
            if m.any():
                raw.append((_fill_holes(m), f"consensus {q:g}", 0.0))
    if pos:
        for box, name in _boxes(pos, (h, w), THIN_EXTENTS):
            raw.append((thin_region(fr, pos, forbid, box), f"thin {name}", 0.0))
        for box, name in _boxes(pos, (h, w), RIDGE_EXTENTS):
            raw.append((ridge_region(fr, pos, forbid, box), f"lines {name}", 0.0))
        if evidence is not None:
            # the lines of the widest box that move with the click
            raw.append((classic_thin.moving_lines(raw[-1][0], evidence, pos, forbid, fr.bins), MOVING_LINES, 0.0))
            raw.append((classic_thin.moving_region(evidence, pos, forbid), classic_thin.MOVING_REGION, 0.0))
    raw = [r for r in raw if r[0].any()]
    voters = len(raw)  # the candidates after these are offered only
    fine: list[tuple[np.ndarray, str, float]] = []
    for (_box, name, ext), (m, touch) in zip(fine_boxes, done):
        if np.count_nonzero(m) >= MIN_PIXELS and m.mean() >= MIN_SHARE:
            if ext in EXTEND_EXTENTS:
                fine.append((m, f"fine box {name}", touch))
            if ext in FINE_EXTENTS:
                raw.append((m, f"fine box {name}", touch))
    # last, GrabCut from the lines, the person boxes, GrabCut from the lines in the person boxes
    # and from another start: they never crowd out a candidate of the other kinds (nor one
    # another, in that order)
    first_energy = {}
    for (_box, name), (m, e) in zip(lines_boxes, done):
        first_energy[name] = e
        if np.count_nonzero(m) >= MIN_PIXELS and m.mean() >= MIN_SHARE:
            raw.append((m, f"{LINES_GC} {name}", 0.0))
    for (_box, name), (m, touch) in zip(people, done):
        if np.count_nonzero(m) >= MIN_PIXELS and m.mean() >= MIN_SHARE:
            raw.append((m, f"{PERSON} {name}", touch))
    for (_box, name), (m, _e) in zip(people_lines, done):
        if np.count_nonzero(m) >= MIN_PIXELS and m.mean() >= MIN_SHARE:
            raw.append((m, f"{PERSON_LINES} {name}", 0.0))
    # a line-started GrabCut from another random start that reached a lower energy than the first
    for (_box, name), (m, e) in zip(restarts, done):
        if e < first_energy[name] and np.count_nonzero(m) >= MIN_PIXELS and m.mean() >= MIN_SHARE:
            raw.append((m, f"{LINES_GC} {name}, {LINES_RESTART}", 0.0))
    cands: list[Candidate] = []
    for m, kind, touch in raw:
        f = {"share": float(np.count_nonzero(m)) / (h * w), "pixels": float(np.count_nonzero(m)),
             "touch": touch, "moving": float(kind == MOVING), "offered": float(len(cands) >= voters),
             "person": float(kind.startswith(PERSON)),
             "swallows": max([np.count_nonzero(m & c) / max(1, np.count_nonzero(c)) for c in claimed] + [0.0])}
        cands.append(Candidate(m, 0.0, kind, f))
    # agreement over every candidate made, before near-duplicates go: an outline that several
    # methods found counts for each of them
    iou = _pairwise_iou([c.mask for c in cands])
    ok = np.array([MIN_SHARE <= c.features["share"] <= MAX_DEFAULT_SHARE and c.features["pixels"] >= MIN_PIXELS
                   and c.features["swallows"] <= 0.8 and not c.features["offered"]
                   for c in cands])
    for i, c in enumerate(cands):
        sel = ok.copy()
        sel[i] = False
        c.features["agree"] = float(iou[i, sel].mean()) if sel.any() else 0.0
        c.score = candidate_score(c.features, c.features["touch"])
    # near-duplicates: the group keeps its best score and the mask of the one made first
    # (the consensus only smooths the others' outlines); an alternative made only to be
    # offered stays only when it is like none of the others (and lends them no score)
    order = sorted(range(len(cands)), key=lambda i: -cands[i].score)
    kept: list[int] = []
    for i in order:
        if i >= voters:
            continue
        dup = [k for k, j in enumerate(kept) if iou[i, j] > 0.9]
        if not dup:
            kept.append(i)
        elif i < kept[dup[0]]:
            cands[i].score = cands[kept[dup[0]]].score
            kept[dup[0]] = i
    for i in range(voters, len(cands)):
        if all(iou[i, j] <= 0.9 for j in kept):
            kept.append(i)
    cands = [cands[i] for i in kept]
    for c in cands:
        c.features.update(contrast=_objectness(fr, c.mask), edge=_edge_ratio(grad, c.mask))
    # GrabCut from the lines, the person boxes, GrabCut from the lines in them and from another
    # start come after the other kinds (the order Tab goes through): they are the fallback when
    # none of those is right, not a rival to the second-best of them
    cands.sort(key=lambda c: (_offered_rank(c.kind), -c.score))
    first = next((i for i, c in enumerate(cands) if not c.features["offered"]), 0)
    cands.insert(0, cands.pop(first))  # an alternative made only to be offered is never the default
    if cands and cands[0].features["share"] <= MAX_DEFAULT_SHARE:
        ext = extend_default(fr, cands[0], fine, pos, moving, evidence, claimed)
        if ext is not None:
            cands.insert(0, ext)
            cands = cands[:2] + [c for c in cands[2:] if _iou(c.mask, ext.mask) <= 0.9]
        cut = trim_default(fr, cands[0], cands[1:], moving, evidence)
        if cut is not None:  # the default it replaced goes last: the others keep their order (Tab)
            cands = [cut] + [c for c in cands[1:] if c.mask is not cut.mask] + cands[:1]
    if cands and cands[0].features["share"] > MAX_DEFAULT_SHARE:
        small = [i for i, c in enumerate(cands) if c.features["share"] <= MAX_DEFAULT_SHARE
                 and not c.features["offered"]]
        if small:
            cands.insert(0, cands.pop(small[0]))
        else:  # every candidate ran into the background: offer it cut to a box around the clicks
            m = clip_to_clicks(cands[0].mask, pos)
            if m.any():
                f = _features(fr, grad, m)
                cands.insert(0, Candidate(m, candidate_score(f), "clipped", f))
    # an alternative of a few pixels is no choice to offer (the lines moving with a click on a
    # person standing still: a sliver of a dozen pixels, shown as an empty mask)
    cands = cands[:1] + [c for c in cands[1:] if c.features["pixels"] >= MIN_PIXELS]
    if offered and RESHAPE_COUNT > 0:
        cands += reshaped(fr, chroma, cands, pos, neg, forbid)
    return cands


def reshaped(fr: _Frame, chroma: np.ndarray, cands: Sequence[Candidate], pos, neg,
             forbid: np.ndarray) -> list[Candidate]:
    """The first :data:`RESHAPE_COUNT` of ``cands`` cut again by :func:`shape_grabcut`, as
    candidates to offer after them all (kind :data:`RESHAPED` and the kind it came from),
    each unless it is one of ``cands`` or of those before it (IoU over :data:`RESHAPE_SAME`)
    or too small to offer."""
    h, w = fr.bins.shape
    tops = [c for c in cands[:RESHAPE_COUNT] if c.features["pixels"] >= MIN_PIXELS]
    with _Parallel([(shape_grabcut, (chroma, c.mask, pos, neg, forbid), {"side": RESHAPE_SIDE}) for c in tops]) as cut:
        masks = cut.results()
    out: list[Candidate] = []
    for c, m in zip(tops, masks):
        n = np.count_nonzero(m)
        if n < MIN_PIXELS or n < MIN_SHARE * h * w:
            continue
        if any(_iou(m, o.mask) > RESHAPE_SAME for o in list(cands) + out):
            continue
        f = dict(c.features, share=n / (h * w), pixels=float(n), offered=1.0)
        out.append(Candidate(m, c.score, f"{RESHAPED} {c.kind}", f))
    return out


def grabcut_energy(img: np.ndarray, gm: np.ndarray, free: np.ndarray, bgd: np.ndarray,
                   fgd: np.ndarray) -> float:
    """The energy OpenCV's GrabCut minimises for the labels ``gm`` (a GrabCut mask after the
    cut) of ``img`` with the colour models ``bgd`` / ``fgd`` it returned: minus the log of
    each ``free`` pixel's likelihood under its label's Gaussian mixture (the pixels fixed
    as sure foreground or background add the same to every cut) plus, for every pair of
    8-neighbours on different sides, 50 / distance x exp(-beta |colour difference|^2), beta
    from the mean squared difference of neighbours (as ``cv2.grabCut``)."""
    z = img.astype(np.float32)
    fg = (gm == cv2.GC_FGD) | (gm == cv2.GC_PR_FGD)
    nll = np.zeros(img.shape[:2], np.float32)
    for model, side in ((fgd, fg), (bgd, ~fg)):
        sel = side & free
        if not sel.any():
            continue
        x = z[sel].astype(np.float64)
        coefs, means, covs = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:65].reshape(5, 3, 3)
        p = np.zeros(len(x))
        for k in range(5):
            if coefs[k] <= 0:
                continue
            d = x - means[k]
            inv = np.linalg.inv(covs[k])
            p += coefs[k] / np.sqrt(max(np.linalg.det(covs[k]), 1e-12)) * np.exp(-0.5 * np.sum((d @ inv) * d, axis=1))
        nll[sel] = -np.log(np.maximum(p, 1e-300))
    h, w = fg.shape
    diffs, cuts = [], []
    for dy, dx, dist in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, np.sqrt(2.0)), (1, -1, np.sqrt(2.0))):
        x0, x1 = max(0, -dx), w - max(0, dx)
        a, b = z[0:h - dy, x0:x1], z[dy:h, x0 + dx:x1 + dx]
        diffs.append(np.sum((a - b) ** 2, axis=-1))
        cuts.append((fg[0:h - dy, x0:x1] != fg[dy:h, x0 + dx:x1 + dx], dist))
    beta = 1.0 / (2.0 * float(np.mean(np.concatenate([d.ravel() for d in diffs]))) + 1e-9)
    smooth = sum(float(np.sum(50.0 / dist * np.exp(-beta * d[c]))) for d, (c, dist) in zip(diffs, cuts))
    return float(np.sum(nll, dtype=np.float64)) + smooth


def _offered_rank(kind: str) -> int:
    """Where a candidate of ``kind`` is listed (the order Tab goes through): the other kinds
    first, then GrabCut from the lines, the person boxes, GrabCut from the lines in the person
    boxes and line-started GrabCut from other random starts."""
    if kind.endswith(LINES_RESTART):
        return 4
    if kind.startswith(PERSON_LINES):
        return 3
    if kind.startswith(PERSON):
        return 2
    return int(kind.startswith(LINES_GC))


def lines_grabcut(image: np.ndarray, pos, neg, forbid: np.ndarray, lines: np.ndarray, box,
                  side: int | None = None, starts: tuple[int, ...] | None = None) -> tuple[np.ndarray, float]:
    """GrabCut in ``box`` on ``image`` (:func:`chroma_image`) that starts from ``lines`` (the
    thin lines connected to the clicks, :func:`ridge_region`) as probably foreground and the
    rest of the box as probably background (outside it: sure background); the part connected
    to the clicks, and the cut's :func:`grabcut_energy` (0 without ``starts``, inf when
    GrabCut could not run). The crop runs at a reduced size, its longest side ``side`` (default
    :data:`LINES_SIDE`) pixels at most. ``starts``: the seeds of GrabCut's random start to run
    from (default: :data:`GRABCUT_SEED` alone); the cut of lowest energy is returned.

    Why: the other boxes start with the whole box as probably foreground, so a flat stretch
    of floor, mat or wall inside the box that its margin does not show (a coloured mat in a
    corner, the strip beside a person at the frame's edge) stays foreground. An object's
    folds, seams and outline are lines that join the click; the flat background is not: the
    colour models start from the object's own lines against the rest of the box, and GrabCut
    fills the object between them (a kneeling judoka at the frame's edge, a rider's arms and
    legs)."""
    h, w = forbid.shape
    x0, y0, x1, y1 = _pixel_box(box, (h, w))
    out = np.zeros((h, w), bool)
    if x1 - x0 < 5 or y1 - y0 < 5 or not lines.any():
        return out, np.inf
    m = max(6, int(0.3 * max(x1 - x0, y1 - y0)))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    s = min(1.0, (side or LINES_SIDE) / max(cx1 - cx0, cy1 - cy0))
    cw, ch = max(4, int(round((cx1 - cx0) * s))), max(4, int(round((cy1 - cy0) * s)))

    def small(a: np.ndarray, thr: float = 0.5) -> np.ndarray:
        return cv2.resize(a[cy0:cy1, cx0:cx1].astype(np.float32), (cw, ch), interpolation=cv2.INTER_AREA) >= thr

    inside = np.zeros((h, w), bool)
    inside[y0:y1, x0:x1] = True
    gm = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    gm[small(inside)] = cv2.GC_PR_BGD
    gm[small(lines, 0.25) & (gm == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD  # a thin line survives the reduction
    gm[small(forbid)] = cv2.GC_BGD
    for x, y in neg:
        cv2.circle(gm, (int((x - cx0) * s), int((y - cy0) * s)), 2, int(cv2.GC_BGD), -1)
    for x, y in pos:
        cv2.circle(gm, (int((x - cx0) * s), int((y - cy0) * s)), 2, int(cv2.GC_FGD), -1)
    if np.count_nonzero(gm == cv2.GC_PR_FGD) < 10 or np.count_nonzero(gm == cv2.GC_PR_BGD) < 10:
        return out, np.inf
    img = cv2.resize(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]), (cw, ch), interpolation=cv2.INTER_AREA)
    free = (gm == cv2.GC_PR_FGD) | (gm == cv2.GC_PR_BGD)
    best, energy = None, np.inf
    for seed in (GRABCUT_SEED,) if starts is None else starts:
        g = gm.copy()
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(seed)
        try:
            cv2.grabCut(img, g, None, bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            continue
        e = grabcut_energy(img, g, free, bgd, fgd) if starts is not None else 0.0
        if best is None or e < energy:
            best, energy = g, e
    if best is None:
        return out, np.inf
    fg = ((best == cv2.GC_FGD) | (best == cv2.GC_PR_FGD)).astype(np.float32)
    out[cy0:cy1, cx0:cx1] = cv2.resize(fg, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR) >= 0.5
    return _component_at(out & ~forbid, pos), energy



def _lines_grabcut_in(fr: _Frame, image: np.ndarray, pos, neg, forbid: np.ndarray, box,
                      starts: tuple[int, ...] | None = None) -> tuple[np.ndarray, float]:
    """:func:`lines_grabcut` in ``box`` from the lines :func:`ridge_region` finds there."""
    return lines_grabcut(image, pos, neg, forbid, ridge_region(fr, pos, forbid, box), box, starts=starts)


def shape_grabcut(image: np.ndarray, mask: np.ndarray, pos, neg, forbid: np.ndarray,
                  side: int | None = None) -> np.ndarray:
    """GrabCut on ``image`` (:func:`chroma_image`) started from a candidate's own shape
    ``mask``: its inside (eroded by :data:`RESHAPE_CORE` of its size, the square root of its
    area) and the clicks sure foreground, the rest of it probably foreground, a ring of
    :data:`RESHAPE_RING` of its size around it probably background, beyond that sure
    background; the part connected to the clicks, holes filled. The crop runs at a reduced
    size, its longest side ``side`` (default :data:`LINES_SIDE`) pixels at most.

    Why: a box's GrabCut learns its colour models from the box, whose corners are
    background and whose sure-background margin may cut the object (a judoka's trouser leg
    outside a narrow box, a soft box's growth stopped at its band); started from a mask that
    already holds most of the object and little else, the models are the object's and its
    near surroundings', and the cut may take back what the box left out or drop what it
    kept, within a ring around the mask."""
    h, w = mask.shape
    out = np.zeros((h, w), bool)
    area = np.count_nonzero(mask)
    if area < MIN_PIXELS:
        return out
    size = np.sqrt(area)
    zone = _dilate(mask, max(3, int(RESHAPE_RING * size)))
    bb = _bbox(zone)
    x0, y0, x1, y1 = max(0, bb[0] - 6), max(0, bb[1] - 6), min(w, bb[2] + 6), min(h, bb[3] + 6)
    s = min(1.0, (side or LINES_SIDE) / max(x1 - x0, y1 - y0))
    cw, ch = max(4, int(round((x1 - x0) * s))), max(4, int(round((y1 - y0) * s)))

    def small(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a[y0:y1, x0:x1].astype(np.float32), (cw, ch), interpolation=cv2.INTER_AREA) >= 0.5

    gm = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    gm[small(zone)] = cv2.GC_PR_BGD
    gm[small(mask)] = cv2.GC_PR_FGD
    gm[small(_erode(mask, max(1, int(RESHAPE_CORE * size))))] = cv2.GC_FGD
    gm[small(forbid)] = cv2.GC_BGD
    for x, y in neg:
        cv2.circle(gm, (int((x - x0) * s), int((y - y0) * s)), 2, int(cv2.GC_BGD), -1)
    for x, y in pos:
        cv2.circle(gm, (int((x - x0) * s), int((y - y0) * s)), 2, int(cv2.GC_FGD), -1)
    if np.count_nonzero(gm == cv2.GC_PR_BGD) < 10:
        return out
    img = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), (cw, ch), interpolation=cv2.INTER_AREA)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    fg = seeded_grabcut(img, gm, bgd, fgd, RESHAPE_ITERS)
    if fg is None:
        return out
    out[y0:y1, x0:x1] = cv2.resize(fg, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= 0.5
    return _fill_holes(_component_at(out & ~forbid, pos))


def person_boxes(fr: _Frame, pos, forbid: np.ndarray) -> list[tuple[tuple[float, float, float, float], str]]:
    """Upright boxes around the clicks (:data:`PERSON_EXTENTS`, the clicks at
    :data:`PERSON_UP` of the height from the top), ``[(box, name), ...]``, where
    :func:`click_candidates` runs GrabCut on :func:`chroma_image` and keeps the masks that
    are more than the click's disc.

    Why: a person clicked on the torso (standing, kneeling, on a bicycle) reaches about
    twice as far below the click as above it and is about three times as tall as wide; the
    other boxes are centred lower and wider, so in a busy scene they take a neighbour or the
    wall beside a narrow person, or, with the person's own legs in their sure-background
    margin, drop the legs (a white suit's trousers, a rider's shorts). The chroma-weighted
    image keeps a white suit's shaded folds with its lit parts and apart from a pale wall or
    a grey-green mat. These masks are offered, never the default and not counted in the
    other candidates' agreement: which of the scales fits is not known, and one that does
    not fit is as plausible to the agreement as the rest; :func:`click_candidates` lists
    them after the other kinds."""
    return _boxes(pos, forbid.shape, PERSON_EXTENTS, up=PERSON_UP)


class _Parallel:
    """Calls ``[(function, args, kwargs), ...]`` run at once on up to ``cv2.getNumThreads()``
    threads (OpenCV's own share of the machine: one thread where it was set to one, as in a
    batch worker), started on entering; :meth:`results` waits for them, in order. GrabCut
    releases the GIL, and each call seeds OpenCV's random generator of its own thread
    (:data:`GRABCUT_SEED`), so the masks are those of running them one after another."""

    def __init__(self, calls: list[tuple[Callable, tuple, dict]]) -> None:
        self.calls = calls
        self.pool: ThreadPoolExecutor | None = None
        self.futures: list = []

    def __enter__(self) -> _Parallel:
        threads = min(len(self.calls), max(1, cv2.getNumThreads()))
        if threads > 1:
            self.pool = ThreadPoolExecutor(threads, thread_name_prefix="click-grabcut")
            self.futures = [self.pool.submit(fn, *a, **k) for fn, a, k in self.calls]
        return self

    def results(self) -> list:
        if self.pool is None:
            return [fn(*a, **k) for fn, a, k in self.calls]
        return [f.result() for f in self.futures]

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def extend_default(fr: _Frame, default: Candidate, fine, pos, moving: np.ndarray | None,
                   evidence: np.ndarray | None, claimed: Sequence[np.ndarray] = ()) -> Candidate | None:
    """The default mask joined with the mask of the smallest fine box (``fine``: ``(mask,
    kind, touch)``, the smallest box first) that holds most of it (:data:`EXTEND_HOLD`), is
    clearly larger (:data:`EXTEND_RATIO`) and stays inside its box (:data:`EXTEND_TOUCH`; the
    smallest such box has the most local background model), when what it adds
    belongs with the default: when the frame has a motion cue (``moving``, the region moving
    with the clicks, or else ``evidence``, see :func:`click_candidates`), at least half the
    added pixels move with the clicks; on a still frame, the union stands out from its
    surroundings at least as much as the default alone (:func:`._objectness`). None when no
    fine box qualifies. Pixels of the ``claimed`` masks (the objects under the clicks, see
    :func:`click_candidates`) are never added.

    Why: the coarse crops (:data:`_GC_SIDE`) round off a person's legs, arms or a second
    colour of clothes, so most candidates, and so the default, are often a part (a jacket, a
    shirt); GrabCut in the same small box on the finer crop keeps those parts, and when its
    mask holds the default and grows out of it without running out of its box, the addition
    is the rest of the object rather than background -- unless it moves differently from the
    clicks (a person standing in front of a larger still object) or makes the region blend
    into its surroundings (the part alone was the more distinct object)."""
    d = default.mask
    nd = np.count_nonzero(d)
    if nd == 0:
        return None
    taken = np.zeros_like(d)
    for c in claimed:
        taken |= c
    for m, kind, touch in fine:
        m = m & ~taken  # the rest of the clicked object, not more of the object the click is on
        if (touch > EXTEND_TOUCH or np.count_nonzero(m) < EXTEND_RATIO * nd or m.mean() > MAX_DEFAULT_SHARE
                or np.count_nonzero(m & d) < EXTEND_HOLD * nd):
            continue
        u = (_fill_holes(_component_at(d | m, pos)) & ~taken) | d
        add = u & ~d
        if moving is not None and moving.any():
            ok = np.count_nonzero(add & moving) >= 0.5 * np.count_nonzero(add)
        elif evidence is not None:
            ok = np.count_nonzero(add & (evidence > 0)) >= 0.5 * np.count_nonzero(add)
        else:
            ok = _objectness(fr, u) >= _objectness(fr, d)
        if ok:
            f = dict(default.features, share=float(u.mean()), pixels=float(np.count_nonzero(u)), extends=1.0)
            return Candidate(u, default.score, f"{default.kind} + {kind}", f)
    return None


def _on_frame_edge(m: np.ndarray) -> int:
    """How many of the frame's outermost pixels ``m`` covers."""
    return int(np.count_nonzero(m[0]) + np.count_nonzero(m[-1]) + np.count_nonzero(m[1:-1, 0])
               + np.count_nonzero(m[1:-1, -1]))


def trim_default(fr: _Frame, default: Candidate, others: Sequence[Candidate], moving: np.ndarray | None,
                 evidence: np.ndarray | None) -> Candidate | None:
    """The largest mask of GrabCut started from the lines joining the clicks (its first start:
    :func:`lines_grabcut`, among ``others``) that lies in the default (:data:`TRIM_HOLD`),
    is smaller but not much smaller (:data:`TRIM_SIZE`), and leaves out of it only what is
    not the object: where a motion cue (``moving``, the region moving with the clicks, or
    else ``evidence``, see :func:`click_candidates`) moves with at least half of the lines'
    mask, less than half the pixels it leaves out move with the clicks; otherwise (a still
    frame, or a cue that says little about the object) the default reaches the frame's
    edge further than the lines' mask does and the lines' mask stands out from its
    surroundings at least as much as the default (:func:`._objectness`). As the default,
    with the default's score; None when none qualifies.

    Why: every other box starts with the whole box as probably foreground and learns the
    background's colours from a margin around the box; a box cut by the frame's edge has
    no margin there, so the stretch of mat, floor or wall between the object and the edge
    stays in its mask, and since most boxes around the click share that failure they agree
    on it and it becomes the default (a judoka kneeling at the frame's left edge with a
    corner of red mat beside him: default IoU 0.55, the mask from his lines 0.76). GrabCut
    from the lines learns the object's colours from its own folds and outline against
    the rest of the box and drops the flat background. It is trusted only where the
    default's extra is background by an independent cue: it does not move with the object
    while the object does, or, without that, it lies towards the frame's edge that no
    margin showed; a part of the object that stands out more than the whole (a white shirt
    above dark shorts) is no reason, nor is a motion cue that covers only a piece of the
    object (the mirror of :func:`extend_default`)."""
    d = default.mask
    nd = np.count_nonzero(d)
    cue = moving if moving is not None and moving.any() else None if evidence is None else evidence > 0
    best, best_n = None, 0
    for c in others:
        if not c.kind.startswith(LINES_GC) or c.kind.endswith(LINES_RESTART):
            continue
        nc = np.count_nonzero(c.mask)
        if (not TRIM_SIZE[0] * nd <= nc <= TRIM_SIZE[1] * nd or nc <= best_n
                or np.count_nonzero(c.mask & d) < TRIM_HOLD * nc):
            continue
        out = d & ~c.mask
        if cue is not None and np.count_nonzero(c.mask & cue) >= 0.5 * nc:
            ok = np.count_nonzero(out & cue) < 0.5 * np.count_nonzero(out)
        else:
            ok = (_on_frame_edge(c.mask) < _on_frame_edge(d)
                  and _objectness(fr, c.mask) >= _objectness(fr, d))
        if ok:
            best, best_n = c, nc
    if best is None:
        return None
    return Candidate(best.mask, default.score, best.kind, dict(best.features, trims=1.0))


def clip_to_clicks(mask: np.ndarray, pos) -> np.ndarray:
    """``mask`` cut to a box around the positive clicks (half-width :data:`CLIP_EXTENT`),
    keeping the part connected to them: what a click that ran into the background meant."""
    h, w = mask.shape
    if not pos:
        return np.zeros((h, w), bool)
    xs, ys, r = [p[0] for p in pos], [p[1] for p in pos], CLIP_EXTENT * max(h, w)
    clip = np.zeros((h, w), bool)
    clip[max(0, int(min(ys) - r)):int(max(ys) + r) + 1, max(0, int(min(xs) - r)):int(max(xs) + r) + 1] = True
    return _component_at(mask & clip, pos)


def _pairwise_iou(masks: list[np.ndarray]) -> np.ndarray:
    """IoU of every pair of ``masks`` (one matrix product)."""
    if not masks:
        return np.zeros((0, 0))
    flat = np.stack([m.ravel() for m in masks]).astype(np.float32)
    inter = flat @ flat.T
    area = np.diag(inter)
    union = area[:, None] + area[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.count_nonzero(a | b)
    return 1.0 if u == 0 else float(np.count_nonzero(a & b)) / u

