"""Candidate masks for a box drawn around an object (the classic engine), alone or with clicks.

One GrabCut inside a box fails on real footage more often than not: on the annotated frames of
judo and bike, a box around each object gave a mean IoU of 0.44 (tight), and a box around a
merle dog on pale paving kept only the ball in its mouth. Which variant works differs from
object to object: a wide ring of background around the box, or a narrow one; the frame's own
colours, or chroma weighted over lightness (:func:`.classic_click.chroma_image`: a white suit
beside a pale wall); the whole box probably the object, or only an ellipse at its centre; the
box's edge a hard limit, or a band past it where the object may go on (a box drawn a little
too small). So a box gets them all (:data:`VARIANTS`, run at once on OpenCV's threads) and the
candidates are ranked by how well they fill the box the user drew: a box is drawn around an
object, so the object reaches (nearly) every side of it (:func:`box_fit`); a mask that fills
nearly all the box is the box, not an object in it, and one that covers hardly any of it is a
few specks; both rank after the others. The rest are offered with Tab like a click's
candidates. Clicks with a box are sure foreground / background in every variant (a box with
a click in the object's middle: one GrabCut of both gave 0.49 on the annotated objects, the
variants' default 0.64; benchmarks/classic_boxes.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .classic_click import _GC_SIDE, _iou, _Parallel, chroma_image, negative_cut, seeded_grabcut
from .classic_util import _bbox, _fill_holes, _Frame

#: (kind, background ring as a share of the box's longest side, chroma, centre ellipse only,
#: band past the box that is only probably background): the GrabCuts a box gets
VARIANTS: tuple[tuple[str, float, bool, bool, float], ...] = (
    ("box", 0.3, False, False, 0.0),
    ("box, close ring", 0.15, False, False, 0.0),
    ("box, chroma", 0.3, True, False, 0.0),
    ("box, centre", 0.3, False, True, 0.0),
    ("box, centre, chroma", 0.3, True, True, 0.0),
    ("box, may grow", 0.3, False, False, 0.15),
    ("box, may grow, chroma", 0.3, True, False, 0.15),
)
#: a candidate covering more than this share of its box is the box, not an object in it
FULL_BOX = 0.92
#: a candidate covering less than this share of its box is a few specks in it (the ball in a
#: dog's mouth and the leash's handle at the box's far corner fit the box's sides well as one
#: mask, with 1.4% of it), not the object the box was drawn around: it ranks after the others
#: (the annotated objects of benchmarks/classic_boxes.py, the thin bicycle included, cover
#: 15-65% of their tight boxes)
MIN_FILL = 0.05
#: a connected part of a candidate smaller than this share of its largest part is dropped
MIN_PART = 0.1
#: candidates this alike (IoU) are one
SAME = 0.9
#: the kind of the one GrabCut of a box and its clicks together (offered after the variants)
ONE_GRABCUT = "box and clicks, one GrabCut"
#: GrabCut iterations per variant: one cut from the box's colour models gave better masks on
#: average than three (benchmarks/classic_boxes.py, 54 boxes: default 0.571 -> 0.578, best
#: 0.611 -> 0.631; per object both ways) at about half the CPU per box
BOX_ITERS = 1


def box_grabcut(fr: _Frame, box: Sequence[float], image: np.ndarray, ring: float, centre: bool,
                band: float, pos: Sequence = (), neg: Sequence = (),
                exclude: np.ndarray | None = None) -> np.ndarray:
    """GrabCut for a box (and the clicks in it): inside ``box`` probably the object (with ``centre``,
    only an ellipse of 80% of its width and height, the rest of the box probably background),
    a ``band`` x the box's longest side around it probably background, then a ring of
    ``ring`` x that side sure background; on a crop no longer than :data:`_GC_SIDE` pixels.
    Other objects' pixels are not kept out: a box says where the object is (as
    :func:`.classic_click.segment` lets a box take them). Clicks with the box (``pos``,
    ``neg``: internal pixels) are sure foreground / background; ``exclude`` (what the
    negative clicks cut out) is taken out of the result (as sure background, a white suit
    next to the one clicked away would teach GrabCut that white is background). The parts of
    the result at least :data:`MIN_PART` of its largest, and those under a positive click,
    holes filled."""
    h, w = fr.bins.shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    out = np.zeros((h, w), bool)
    side = max(x1 - x0, y1 - y0)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return out
    mb = int(band * side)
    m = mb + max(6, int(ring * side))
    cx0, cy0, cx1, cy1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    s = min(1.0, _GC_SIDE / max(cx1 - cx0, cy1 - cy0))
    cw, ch = max(4, int(round((cx1 - cx0) * s))), max(4, int(round((cy1 - cy0) * s)))
    img = cv2.resize(np.ascontiguousarray(image[cy0:cy1, cx0:cx1]), (cw, ch), interpolation=cv2.INTER_AREA)

    def span(a0: int, a1: int, o: int) -> tuple[int, int]:
        return int((a0 - o) * s), int(np.ceil((a1 - o) * s))

    gm = np.full((ch, cw), cv2.GC_BGD, np.uint8)
    if mb > 0:
        (py0, py1) = span(max(0, y0 - mb), min(h, y1 + mb), cy0)
        (px0, px1) = span(max(0, x0 - mb), min(w, x1 + mb), cx0)
        gm[py0:py1, px0:px1] = cv2.GC_PR_BGD
    (by0, by1), (bx0, bx1) = span(y0, y1, cy0), span(x0, x1, cx0)
    if centre:
        gm[by0:by1, bx0:bx1] = cv2.GC_PR_BGD
        axes = (max(1, int(0.4 * (bx1 - bx0))), max(1, int(0.4 * (by1 - by0))))
        cv2.ellipse(gm, ((bx0 + bx1) // 2, (by0 + by1) // 2), axes, 0, 0, 360, int(cv2.GC_PR_FGD), -1)
    else:
        gm[by0:by1, bx0:bx1] = cv2.GC_PR_FGD
    fg0 = np.count_nonzero(gm == cv2.GC_PR_FGD)
    if fg0 < 10 or gm.size - fg0 < 10:
        return out
    for (x, y), label in [(p, cv2.GC_FGD) for p in pos] + [(p, cv2.GC_BGD) for p in neg]:
        cv2.circle(gm, (int((x - cx0) * s), int((y - cy0) * s)), 2, int(label), -1)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    fg = seeded_grabcut(img, gm, bgd, fgd, BOX_ITERS)
    if fg is None:
        return out
    out[cy0:cy1, cx0:cx1] = cv2.resize(fg, (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR) >= 0.5
    if exclude is not None:
        out &= ~exclude
    n, lab, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
    if n > 2:
        big = stats[1:, cv2.CC_STAT_AREA].max()
        clicked = {int(lab[min(h - 1, int(y)), min(w - 1, int(x))]) for x, y in pos}
        out = np.isin(lab, [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= MIN_PART * big or i in clicked])
    return _fill_holes(out)


def box_fit(mask: np.ndarray, box: Sequence[float]) -> float:
    """How well ``mask`` fills ``box``: the IoU of its bounding box with ``box`` (1: it
    reaches every side and no further); 0 for an empty mask."""
    bb = _bbox(mask)
    if bb is None:
        return 0.0
    bx0, by0, bx1, by1 = (float(v) for v in box)
    iw = max(0.0, min(bb[2], bx1) - max(bb[0], bx0))
    ih = max(0.0, min(bb[3], by1) - max(bb[1], by0))
    inter = iw * ih
    union = (bb[2] - bb[0]) * (bb[3] - bb[1]) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


def rank(fit: float, cover: float) -> tuple[bool, float]:
    """Sort key of a box's candidate (smaller first) from its :func:`box_fit` and the share
    ``cover`` of the box it covers: an object in the box before the box itself or specks in it
    (:data:`FULL_BOX`, :data:`MIN_FILL`), then the better fit first."""
    return (not MIN_FILL <= cover <= FULL_BOX, -fit)


def box_candidates(fr: _Frame, box: Sequence[float], pos: Sequence = (),
                   neg: Sequence = ()) -> list[tuple[np.ndarray, float, str]]:
    """Candidate masks ``(mask, fit, kind)`` for a box on ``fr`` (internal resolution), with
    clicks ``pos`` / ``neg`` in it or none, the best first: the :data:`VARIANTS` ranked by
    :func:`box_fit`, those that cover more than :data:`FULL_BOX` or less than :data:`MIN_FILL`
    of the box after the rest (:func:`rank`); near-duplicates (IoU > :data:`SAME`) and empty
    ones dropped. Negative clicks cut out the region of their colour around them, on their side
    of the positive clicks (:func:`.classic_click.negative_cut`), from every variant."""
    chroma = chroma_image(fr.rgb)
    # the region of a negative click's colour, on its side of the positive ones, goes
    exclude = negative_cut(fr, pos, neg, split=True) if neg else None
    calls = [(box_grabcut, (fr, box, chroma if c else fr.rgb, ring, centre, band),
              {"pos": pos, "neg": neg, "exclude": exclude}) for _kind, ring, c, centre, band in VARIANTS]
    with _Parallel(calls) as run:
        masks = run.results()
    x0, y0, x1, y1 = (float(v) for v in box)
    area = max(1.0, (x1 - x0) * (y1 - y0))
    found = []
    for (kind, *_), m in zip(VARIANTS, masks):
        if m.any():
            inside = np.count_nonzero(m[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))])
            fit = box_fit(m, box)
            found.append((m, fit, kind, rank(fit, inside / area)))
    found.sort(key=lambda c: c[3])  # stable: equal ranks keep the order of VARIANTS
    kept: list[tuple[np.ndarray, float, str]] = []
    for m, fit, kind, _rank in found:
        if all(_iou(m, k[0]) <= SAME for k in kept):
            kept.append((m, fit, kind))
    return kept

