"""Corrective clicks for the classic engine: a click on a frame where the object already has a
mask edits that mask locally (see :meth:`.classic.ClassicEngine.add_prompt`).

The current mask is the prior, and nothing far from the click changes.

* A positive click outside the mask adds *the part around the click*: the click's own
  candidates (:func:`.classic_click.click_candidates` for that click alone, without the
  person boxes a first click offers; the negative clicks still background) and GrabCut
  started from the mask and allowed to grow only near the click, each cut to its connected
  piece at the click and united with the mask. They are
  ranked by the part's own candidate score (its agreement with the click's other
  candidates), by how much of the click's neighbourhood it covers (a user clicks in the
  middle of a missed part), less penalties for a part much larger than the disc around the
  click that reaches the mask, or one that stretches the mask's extent far past the click.
  On a frame whose mask came from elsewhere (propagated, a mask prompt), the first positive
  click also offers, last, the click's own mask *instead of* that mask: a mask left behind
  when the object moved is replaced with one pick rather than erased click by click.
* A negative click inside the mask removes the part around it: the candidates of the
  negative click (with the positive clicks as *its* negatives), GrabCut started from the mask
  with the click as background, and the colour region grown from the click, each cut to the
  connected piece of the mask under the click. They are ranked by how much the rest stands
  out from its surroundings and how much of the click's neighbourhood goes, less penalties
  for removing much of the mask or much more than the disc around the click.
* A positive click inside a mask that covers most of the frame cuts it around the clicks
  (the whole mask offered as the alternative); any other click inside (positive) or outside
  (negative) the mask keeps it (the click still counts for later edits).

The best is the default, the next ones are offered as candidates. The same click does the
same thing whichever mask it edits: the default, or a candidate picked with Tab.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import classic_click
from .classic_click import Candidate
from .classic_util import _bbox, _component_at, _dilate, _disk, _erode, _fill_holes, _Frame, _objectness

#: a positive click's added part is expected within this many times the area of the disc
#: around the click that reaches the mask (a user clicks in the middle of a missed part),
#: and to make the bounding box of the mask no more than this many times longer (diagonal)
#: than that of the mask and the disc
GROW_LIMIT = 2.0
EXTENT_LIMIT = 1.3
#: a negative click's removed part is expected within this many times the area of the disc
#: around the click that reaches the mask's outline, and within this share of the mask
REMOVE_LIMIT = 2.0
REMOVE_SHARE = 0.3
#: how an added part is ranked: weights of the part's own candidate score (its agreement
#: with the click's other candidates), of how much of the click's neighbourhood it covers,
#: and of the penalties for growing past GROW_LIMIT and EXTENT_LIMIT (chosen on
#: benchmarks/classic_clicks.py, real and semi-real objects together)
ADD_WEIGHTS = (1.0, 2.0, 0.3, 2.0)
#: the same for a removed part: how much the rest stands out from its surroundings, the
#: part's cover of the click's neighbourhood, the penalties for removing more than
#: REMOVE_SHARE of the mask and past REMOVE_LIMIT
REMOVE_WEIGHTS = (0.5, 1.0, 2.0, 2.0)
MAX_CANDIDATES = 4


def _at(m: np.ndarray, p) -> bool:
    h, w = m.shape
    return bool(m[min(h - 1, max(0, int(p[1]))), min(w - 1, max(0, int(p[0])))])


def _keep_clicked(m: np.ndarray, prev: np.ndarray, pos) -> np.ndarray:
    """The components of ``m`` under a positive click, and those that hold a large part of
    ``prev`` (a mask of several pieces -- two people as one object -- keeps its pieces)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 2:
        return m
    keep = set()
    for p in pos:
        h, w = m.shape
        v = lab[min(h - 1, int(p[1])), min(w - 1, int(p[0]))]
        if v:
            keep.add(int(v))
    area = max(1, np.count_nonzero(prev))
    for i in range(1, n):
        if np.count_nonzero((lab == i) & prev) >= 0.15 * area:
            keep.add(i)
    if not keep:
        return m
    return np.isin(lab, list(keep))


def _prior_grabcut(fr: _Frame, prev: np.ndarray, pos, neg, zone: np.ndarray) -> np.ndarray:
    """GrabCut started from ``prev`` (probably foreground; its interior and the positive
    clicks sure foreground), allowed to change only inside ``zone`` (probably background
    there), sure background elsewhere; negative clicks sure background."""
    h, w = prev.shape
    sure_fg = _erode(prev, max(2, int(0.12 * np.sqrt(max(1, np.count_nonzero(prev))))))
    for x, y in pos:
        sure_fg |= _disk((h, w), x, y, 2)
    sure_bg = np.zeros((h, w), bool)
    for x, y in neg:
        sure_bg |= _disk((h, w), x, y, 3)
    return _grabcut(fr, prev, zone, sure_fg & ~sure_bg, sure_bg)


def _grabcut(fr: _Frame, prob_fg: np.ndarray, zone: np.ndarray, sure_fg: np.ndarray, sure_bg: np.ndarray) -> np.ndarray:
    """:func:`.classic_click.crop_grabcut` (``prob_fg`` probably foreground, the rest of
    ``zone`` probably background, ``sure_fg`` / ``sure_bg`` sure); ``prob_fg`` itself where
    GrabCut cannot run."""
    out = classic_click.crop_grabcut(fr, prob_fg, zone, sure_fg=sure_fg, sure_bg=sure_bg)
    return prob_fg.copy() if out is None else out


def _scale(prev: np.ndarray, p) -> float:
    """Pixels the clicks' scale allows: the larger of the mask's area and a disc whose radius
    is the click's distance from the mask."""
    h, w = prev.shape
    d = cv2.distanceTransform((~prev).astype(np.uint8), cv2.DIST_L2, 3)
    r = float(d[min(h - 1, int(p[1])), min(w - 1, int(p[0]))])
    return max(float(np.count_nonzero(prev)), np.pi * r * r, 200.0)


def add_part(fr: _Frame, prev: np.ndarray, pos, neg, click, others: np.ndarray) -> list[Candidate]:
    """Candidates for ``prev`` after a positive ``click`` outside it (``pos`` holds every
    positive click, ``click`` among them), the default first."""
    h, w = prev.shape
    forbid = others & ~_disk((h, w), click[0], click[1], 3)
    own = classic_click.click_candidates(fr, [click], neg, forbid, person=False)
    parts = [(c.mask, c.score, c.kind) for c in own]
    scale = _scale(prev, click)
    r = int(max(6, 0.5 * np.sqrt(scale)))
    zone = (_dilate(prev, max(3, r // 3)) | _disk((h, w), click[0], click[1], r)) & ~forbid
    g = _prior_grabcut(fr, prev, pos, neg, zone)
    parts.append((g & ~prev, 0.5, "grown from the mask"))
    dist = cv2.distanceTransform(np.pad(~prev, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    depth = max(3.0, float(dist[min(h - 1, int(click[1])), min(w - 1, int(click[0]))]))
    ref = _diag(prev | _disk((h, w), click[0], click[1], int(depth)))
    disc = _disc_area(prev, click, False)
    out = []
    for m, s, kind in parts:
        add = _component_at(m & ~prev & ~forbid, [click])
        if not add.any():
            continue
        u = prev | _fill_holes(prev | add)
        f = {"share": float(u.mean()), "part": s, "extent": _diag(u) / ref,
             "cover": _cover(add, click, prev, False), "grow_r": np.count_nonzero(add) / disc}
        score = (ADD_WEIGHTS[0] * s + ADD_WEIGHTS[1] * f["cover"] - ADD_WEIGHTS[2] * max(0.0, f["grow_r"] - GROW_LIMIT)
                 - ADD_WEIGHTS[3] * max(0.0, f["extent"] - EXTENT_LIMIT))
        out.append(Candidate(u, float(score), f"added: {kind}", f))
    out = _ranked(out)
    if len(pos) == 1 and own:
        # the first positive click on a frame whose mask came from elsewhere (propagated, a
        # mask prompt): that mask may have drifted onto something else, so the click's own
        # mask in its place is offered too, last
        alone = _fill_holes(_component_at(own[0].mask & ~forbid, [click]))
        if alone.any() and all(classic_click._iou(alone, c.mask) <= 0.95 for c in out):
            worst = min((c.score for c in out), default=0.0)
            out.append(Candidate(alone, worst - 1.0, f"replaced: {own[0].kind}", {"share": float(alone.mean())}))
    return out


def remove_part(fr: _Frame, prev: np.ndarray, pos, neg, click, others: np.ndarray) -> list[Candidate]:
    """Candidates for ``prev`` after a negative ``click`` inside it, the default first."""
    h, w = prev.shape
    keep = np.zeros((h, w), bool)
    for x, y in pos:
        keep |= _disk((h, w), x, y, 3)
    parts = [(c.mask, c.score, c.kind)
             for c in classic_click.click_candidates(fr, [click], list(pos), others, person=False)]
    area = max(1, np.count_nonzero(prev))
    zone = _dilate(prev, 3) & ~others
    g = _prior_grabcut(fr, prev, pos, neg, zone)
    parts.append((prev & ~g, 0.5, "cut by GrabCut"))
    region = classic_click.grow(fr, click[0], click[1], keep)
    parts.append((region, 0.3, "colour region"))
    out = []
    for m, s, kind in parts:
        cut = _component_at(m & prev & ~keep, [click])
        if not cut.any():
            continue
        rest = prev & ~cut
        if pos:
            rest = _keep_clicked(rest, rest, pos)
        if not rest.any():
            continue
        gone = 1.0 - np.count_nonzero(rest) / area
        f = {"share": float(rest.mean()), "removed": gone, "contrast": _objectness(fr, rest), "part": s,
             "cover": _cover(prev & ~rest, click, prev, True),
             "grow_r": np.count_nonzero(prev & ~rest) / _disc_area(prev, click, True)}
        score = (REMOVE_WEIGHTS[0] * f["contrast"] + REMOVE_WEIGHTS[1] * f["cover"]
                 - REMOVE_WEIGHTS[2] * max(0.0, gone - REMOVE_SHARE)
                 - REMOVE_WEIGHTS[3] * max(0.0, f["grow_r"] - REMOVE_LIMIT))
        out.append(Candidate(rest, float(score), f"removed: {kind}", f))
    return _ranked(out)


def _diag(m: np.ndarray) -> float:
    """Length of the diagonal of ``m``'s bounding box."""
    bb = _bbox(m)
    return 1.0 if bb is None else float(np.hypot(bb[2] - bb[0], bb[3] - bb[1]))


def _depth(prev: np.ndarray, click, inside: bool) -> float:
    """The click's distance from ``prev``'s outline (from inside it when ``inside``)."""
    h, w = prev.shape
    m = prev if inside else ~prev
    d = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return float(d[min(h - 1, int(click[1])), min(w - 1, int(click[0]))])


def _disc_area(prev: np.ndarray, click, inside: bool) -> float:
    return max(20.0, np.pi * _depth(prev, click, inside) ** 2)


def _cover(change: np.ndarray, click, prev: np.ndarray, inside: bool) -> float:
    """Share of a disc around the click (half its distance from the outline) that ``change`` covers."""
    r = max(2, int(0.5 * _depth(prev, click, inside)))
    d = _disk(change.shape, click[0], click[1], r)
    return float(np.count_nonzero(change & d)) / max(1, np.count_nonzero(d))


def _ranked(cands: list[Candidate]) -> list[Candidate]:
    """``cands`` best first, near-duplicates (IoU > 0.95) of a better one dropped."""
    cands.sort(key=lambda c: -c.score)
    kept: list[Candidate] = []
    for c in cands:
        if all(classic_click._iou(c.mask, k.mask) <= 0.95 for k in kept):
            kept.append(c)
    return kept[:MAX_CANDIDATES]


def refine(fr: _Frame, prev: np.ndarray, pos, neg, click, positive: bool, others: np.ndarray) -> list[Candidate]:
    """Candidates for the object's mask ``prev`` (internal resolution) after one more click
    (``click``, in ``pos`` or ``neg`` already), the default first; ``others`` are the other
    objects' pixels (never added). A click that needs no change gives ``prev`` alone."""
    prev = prev & ~others if positive else prev
    if positive and not _at(prev, click):
        cands = add_part(fr, prev, pos, neg, click, others)
    elif not positive and _at(prev, click):
        cands = remove_part(fr, prev, pos, neg, click, others)
    elif positive and prev.mean() > classic_click.MAX_DEFAULT_SHARE:
        # a click on a mask that covers most of the frame (a propagated mask that spilled
        # over the background) means the object is around the click: the part of the mask
        # around the clicks first, the whole mask as the alternative
        cut = classic_click.clip_to_clicks(prev, pos)
        cands = [Candidate(cut, 0.0, "clipped", {}), Candidate(prev.copy(), 0.0, "whole region", {})]
        if not cut.any():
            cands = []
    else:
        cands = []
    return cands or [Candidate(prev.copy(), 0.0, "unchanged", {})]
