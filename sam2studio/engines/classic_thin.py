"""Thin structures for the classic engine's click: a bicycle's tubes, wheels and crank.

A click on a thin object (tubes two or three pixels wide at the internal resolution, dark on
a dark textured ground) gets little from colour regions and GrabCut: the smoothness term
rounds the tubes off into a blob or drops them. Two cues still hold there:

* **lines**: the object's tubes and tyres are thin lines lighter or darker than what is
  around them (:func:`.classic_click.ridge_region`), and its colours are much more common in
  a box around the click than around that box (:func:`.classic_click.thin_region`);
* **motion**: a moving object's pixels are explained by its own motion and not by the
  camera's (:func:`motion_evidence`). The test is per pixel (how well each pixel of the
  clicked frame matches a neighbouring frame warped by either motion), not through dense
  flow, which smooths a tube two pixels wide into its background.

:func:`moving_lines` keeps the lines that move with the click; :func:`prefer_thin` and
:func:`prefer_rider` are the rules that make them (or, for what rides a thin object, the
region moving with the click less that object) a click's default.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .classic_util import (
    _camera_homography,
    _colour_lut,
    _component_at,
    _dilate,
    _disk,
    _erode,
    _fill_holes,
    _Frame,
    _ring,
)

#: pixels within this share of the frame's longest side of the click give the object's motion
MOTION_RADIUS = 0.06
#: relative motion (internal pixels) under which the click is taken not to move
MIN_SPEED = 1.0
#: half-width of the window around the clicks where the motion test is made (share of the
#: frame's longest side; a click's candidates lie within 0.11 of it)
WINDOW = 0.2
#: evidence (summed absolute RGB difference, 0..765) a pixel needs to count as moving with
#: the click: the background's motion must explain it this much worse than the object's
MOTION_EVIDENCE = 10.0
#: the kind of the candidate made by :func:`moving_lines`
MOVING_LINES = "lines moving with the click"
#: the kind of the candidate made by :func:`moving_region`
MOVING_REGION = "region moving with the click"
#: share of a thin object's mask that must lie in the region moving with a later click for
#: that click to be on what rides (or carries) the thin object
RIDES_WITH = 0.5
#: pixels around such a thin object that a click on what rides it does not take
RIDER_MARGIN = 2
#: GrabCut for what rides a thin object runs within this many pixels of the region moving
#: with the click, and may grow the region to at most this many times its size
RIDER_ZONE = 4
RIDER_GROWTH = 1.5
#: outer radius (pixels) of the ring around that region whose colours are its surroundings',
#: and the colour log-ratio (the region's against the ring's) under which a pixel of the region
#: is left to GrabCut rather than sure foreground
RIDER_RING = 12
RIDER_SURE = 1.0
#: a structure this much thinner than a click's default (mean widths) may be what it meant
THINNER = 0.75
#: the ring around the moving lines whose colours are their background's (pixels from the
#: lines; inner and outer radius)
LINE_RING = (2, 6)


def motion_evidence(cur: _Frame, others: Sequence[_Frame], flow, pos) -> np.ndarray | None:
    """How much better the clicked object's motion explains each pixel of ``cur`` than the
    camera's does, over the frames ``others`` (neighbours, ideally one on each side), in a
    window around the clicks ``pos`` (half-width :data:`WINDOW` of the frame's longest side;
    outside it the evidence is -255, "not moving with the click").

    Per neighbour: the camera's motion is a homography fitted (RANSAC) to dense flow; the
    object's is that plus one of the modes of the relative flow around the clicks (the one
    that explains most of the pixels closest to them, :func:`_motions`). Each pixel's evidence
    is ``|cur - neighbour warped by the camera| - |cur - neighbour warped by the object|``
    (RGB, lightly smoothed). A pixel where the object was on the neighbour but is not on
    ``cur`` (its ghost) also scores on that neighbour; ghosts lie on different sides for
    different neighbours, so the evidence is the *minimum* over them. None when the clicks do
    not move against the background on any neighbour."""
    h, w = cur.gray.shape
    if not pos or not others:
        return None
    L = max(h, w)
    half = int(WINDOW * L)
    x0 = max(0, int(min(p[0] for p in pos)) - half)
    y0 = max(0, int(min(p[1] for p in pos)) - half)
    x1 = min(w, int(max(p[0] for p in pos)) + half + 1)
    y1 = min(h, int(max(p[1] for p in pos)) + half + 1)
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    grid = np.stack([gx, gy], -1)
    wshape = (y1 - y0, x1 - x0)
    r = max(3, int(MOTION_RADIUS * L))
    near = np.zeros(wshape, bool)
    # where a motion is judged: close around the clicks (the clicked object's own pixels
    # should be most of what moves there)
    core = np.zeros(wshape, bool)
    for x, y in pos:
        near |= _disk(wshape, x - x0, y - y0, r)
        core |= _disk(wshape, x - x0, y - y0, max(2, r // 2))
    img = cur.rgb[y0:y1, x0:x1].astype(np.float32)
    ev = None
    for oth in others:
        fl = flow.calc(cur.gray, oth.gray, None)  # cur(x) ~ oth(x + fl(x))
        hm = _camera_homography(fl)
        if hm is None:
            continue
        cam = cv2.perspectiveTransform(grid.reshape(-1, 1, 2), hm).reshape(wshape + (2,))
        rel = (fl[y0:y1, x0:x1] - (cam - grid))[near]
        wb = cv2.remap(oth.rgb, cam, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        eb = cv2.blur(np.abs(img - wb.astype(np.float32)).sum(-1), (3, 3))
        best, best_score = None, 0.0
        for v in _motions(rel):
            wo = cv2.remap(oth.rgb, cam + v, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            e = eb - cv2.blur(np.abs(img - wo.astype(np.float32)).sum(-1), (3, 3))
            score = float(np.maximum(e[core], 0.0).sum())
            if score > best_score:
                best, best_score = e, score
        if best is not None:
            ev = best if ev is None else np.minimum(ev, best)
    if ev is None:
        return None
    out = np.full((h, w), -255.0, np.float32)
    out[y0:y1, x0:x1] = ev
    return out


def _motions(rel: np.ndarray, k: int = 4) -> list[np.ndarray]:
    """Candidate relative motions of the clicked object: the median of the moving vectors of
    ``rel`` (relative flow around the click) and the ``k`` strongest modes of their histogram
    (flow is smoothed across a thin object's outline, so the object's own motion may be a
    minority around it: the grass behind a bicycle, moving with parallax, may outnumber it)."""
    moving = rel[np.linalg.norm(rel, axis=1) > MIN_SPEED]
    if len(moving) < 10:
        return []
    out = [np.median(moving, axis=0).astype(np.float32)]
    R = 32
    q = np.clip(np.round(moving).astype(int) + R, 0, 2 * R)
    hist = np.zeros((2 * R + 1, 2 * R + 1), np.float32)
    np.add.at(hist, (q[:, 1], q[:, 0]), 1.0)
    hist = cv2.GaussianBlur(hist, (0, 0), 1.0)
    peaks = (hist == cv2.dilate(hist, np.ones((5, 5), np.uint8))) & (hist > 0.05 * hist.max())
    ys, xs = np.nonzero(peaks)
    for i in np.argsort(-hist[ys, xs])[:k]:
        v = np.float32([xs[i] - R, ys[i] - R])
        if np.linalg.norm(v) > MIN_SPEED and all(np.linalg.norm(v - u) > 1.0 for u in out):
            out.append(v)
    return out


def moving_lines(lines: np.ndarray, evidence: np.ndarray, pos, forbid: np.ndarray,
                 bins: np.ndarray | None = None) -> np.ndarray:
    """The thin lines of a box around the click (``lines``: the pixels of
    :func:`.classic_click.ridge_region`) that move with the click (``evidence`` above
    :data:`MOTION_EVIDENCE`, within two pixels: the test is blurred over 3x3 pixels, and a
    real bicycle's wheels turn and blur), connected to the clicks across gaps of up to two
    pixels (a tube's line breaks where it crosses a lighter patch): the grass's shadow lines
    do not move with a bicycle, its tubes do. Lines the motion cannot judge (along the motion)
    are kept where they are not contradicted. With ``bins`` (the frame's colour bins), the
    lines' pixels coloured like a ring around them (:data:`LINE_RING`) rather than like the
    lines are dropped (:func:`_colour_cut`)."""
    h, w = lines.shape
    # a line along the motion looks the same wherever it moves (the aperture problem): one
    # that the motion does not contradict is kept when it joins lines that move
    m = lines & (_dilate(evidence > MOTION_EVIDENCE, 2) | (evidence > -MOTION_EVIDENCE)) & ~forbid
    for x, y in pos:
        m |= _disk((h, w), x, y, 2)
    m = _component_at(_dilate(m, 1), pos) & m
    return m if bins is None else _colour_cut(m, bins, pos)


def _colour_cut(m: np.ndarray, bins: np.ndarray, pos) -> np.ndarray:
    """``m`` (thin lines) less its pixels whose colour is more common in a ring around it
    than in it, connected to the clicks across one-pixel gaps. The ridge filter marks a line
    and a pixel or two of its background on each side (grass blades next to a tube are
    ridges too) and the motion test, blurred over 3x3 pixels, passes them; their colours
    are the background's, which the ring holds and the lines mostly do not."""
    if not m.any():
        return m
    h, w = m.shape
    ring = _dilate(m, LINE_RING[1]) & ~_dilate(m, LINE_RING[0])
    if not ring.any():
        return m
    lut = _colour_lut(bins, m, ring)
    keep = m & (lut[bins] > 0.0)
    for x, y in pos:
        keep |= m & _disk((h, w), x, y, 2)
    return _component_at(_dilate(keep, 1), pos) & keep


def moving_region(evidence: np.ndarray, pos, forbid: np.ndarray) -> np.ndarray:
    """The region that moves with the clicks (``evidence`` above :data:`MOTION_EVIDENCE`),
    closed over one-pixel gaps and holes filled, connected to the clicks, less ``forbid``
    (the other objects' masks: a rider clicked after the bicycle it rides moves with it, and
    is what of the moving region the bicycle's mask left)."""
    h, w = evidence.shape
    m = evidence > MOTION_EVIDENCE
    m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    m &= ~forbid
    for x, y in pos:
        m |= _disk((h, w), x, y, 2)
    return _fill_holes(_component_at(m, pos), allowed=~forbid)


def prefer_thin(cands: list) -> list:
    """``cands`` (click candidates, the default first) with the lines moving with the click
    (:data:`MOVING_LINES`) made the default when the default is only a piece of them: nine
    tenths of the default lie on (or next to) those lines, which are at least twice as large
    and thinner (mean width at most :data:`THINNER` of the default's). A
    click on a bicycle's crank whose default is a blob around the crank and the foot on it
    (GrabCut rounds the tubes off, and the region moving with the click has a bonus) meant
    the bicycle, whose tubes move with it."""
    idx = next((i for i, c in enumerate(cands) if c.kind == MOVING_LINES), None)
    if idx is None or idx == 0:
        return cands
    lines, default = cands[idx].mask, cands[0].mask
    a_lines, a_default = np.count_nonzero(lines), np.count_nonzero(default)
    if a_default == 0 or a_lines < 2 * a_default:
        return cands
    if np.count_nonzero(default & _dilate(lines, 1)) < 0.9 * a_default:
        return cands
    if _width(lines) > THINNER * _width(default):
        return cands
    return [cands[idx]] + cands[:idx] + cands[idx + 1:]


def prefer_rider(cands: list, evidence: np.ndarray | None, pos, thin: Sequence[np.ndarray],
                 fr: _Frame | None = None) -> list:
    """``cands`` (click candidates, the default first) with the region moving with the click
    less the other objects' masks (:data:`MOVING_REGION`, :func:`moving_region`) made the
    default when the click is on what rides or carries a thin object already on the frame:
    ``thin`` are the masks of other objects whose default there was the lines moving with
    their click (:data:`MOVING_LINES`), and at least :data:`RIDES_WITH` of one of them lies
    in the region moving with this click (``evidence`` from
    :func:`motion_evidence`, no object subtracted): they move as one body. A rider clicked
    after the bicycle it rides is that body less the bicycle; GrabCut's candidates around
    the click see only the colours there (the rider's white shirt, which runs into a white
    wall behind him) and leave out the shorts, arms and legs that move with it. Unchanged
    when the candidate is empty or larger than a default may be.

    With the frame ``fr``, that region is the seed of a GrabCut within the moving body (the
    thin object's pixels included): the bicycle's lines took the rider's legs where they
    cross its tubes (legs are lines too, and move with it), and the rider's colours (skin,
    shorts) claim them back. GrabCut runs on the frame and on its chroma-weighted version
    (:func:`.classic_click.chroma_image`), and the rider is what either finds: a shin in the
    bicycle's shade differs from the lit skin above it in lightness more than in chroma,
    while a colour that differs only in lightness is told apart on the frame itself. The
    pixels that clearly move like the background (``evidence`` below ``-MOTION_EVIDENCE``)
    are sure background there: the grass seen between the
    rider's arm, body and the bicycle's tubes is enclosed, and GrabCut's smoothness (and the
    moving region's filled holes) would take it. The default may then overlap the thin objects' masks: the
    engine takes those pixels from them."""
    from .classic_click import MAX_DEFAULT_SHARE, MIN_PIXELS, chroma_image, crop_grabcut  # (it imports this module)

    idx = next((i for i, c in enumerate(cands) if c.kind == MOVING_REGION), None)
    if idx is None or evidence is None or not pos or not thin:
        return cands
    c = cands[idx]
    if c.features.get("offered") or c.features["share"] > MAX_DEFAULT_SHARE or c.features["pixels"] < MIN_PIXELS:
        return cands
    body = moving_region(evidence, pos, np.zeros(evidence.shape, bool))
    ridden = [t for t in thin if t.any() and np.count_nonzero(t & body) >= RIDES_WITH * np.count_nonzero(t)]
    if not ridden:
        return cands
    # the motion test passes a pixel or two of background beside a moving line (it is blurred
    # over 3x3 pixels): what of that fringe the thin object left is not the rider
    thin_px = np.logical_or.reduce(ridden)
    m = c.mask & ~_dilate(thin_px, RIDER_MARGIN)
    m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    m = _component_at(m, pos)
    if np.count_nonzero(m) < MIN_PIXELS:
        return cands
    if fr is not None:
        # what moves like the background is not the rider, though it looks like him or lies
        # between his arm and the bicycle (GrabCut's smoothness would close that gap); the
        # thin object's pixels stay open to him (its lines took his legs)
        still = (evidence < -MOTION_EVIDENCE) & ~m & ~thin_px
        zone = _dilate(body, RIDER_ZONE)
        # sure foreground: the moving region's inside, less what looks more like the body's
        # surroundings than like the region itself: the grass seen through the gap between
        # the rider's arm, body and the bicycle moves with him as far as the flow can tell
        # (its smoothing carries the body's motion over so small an enclosed patch), and
        # left sure, GrabCut could never give it up
        ring = _ring(body, LINE_RING[0], RIDER_RING)
        looks = _colour_lut(fr.bins, m, ring)[fr.bins]
        sure = _erode(m, 2) & (looks >= RIDER_SURE)
        grown = crop_grabcut(fr, m, zone, pos=pos, sure_fg=sure, sure_bg=still)
        chroma = crop_grabcut(_Frame(chroma_image(fr.rgb), fr.gray, fr.bins), m, zone, pos=pos,
                              sure_fg=sure, sure_bg=still)
        if grown is None or chroma is None:
            grown = chroma if grown is None else grown
        else:
            grown = grown | chroma
        if grown is not None:
            grown = _component_at(grown & _dilate(body, 1), pos)
            if MIN_PIXELS <= np.count_nonzero(grown) <= RIDER_GROWTH * np.count_nonzero(m):
                m = grown
    c = type(c)(m, c.score, c.kind, dict(c.features, pixels=float(np.count_nonzero(m)), share=float(m.mean())))
    return [c] + cands[:idx] + cands[idx + 1:]


def _width(m: np.ndarray) -> float:
    """Mean width of a mask in pixels (twice its area over its outline's pixels: about 3 for
    lines three pixels wide)."""
    return 2.0 * np.count_nonzero(m) / max(1, np.count_nonzero(m & ~_erode(m, 1)))
