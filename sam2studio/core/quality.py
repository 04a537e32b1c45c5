"""Quality assessment: per frame and object, flag masks that are probably wrong.

What is measured, on every frame where an object's mask is not empty (an empty mask means the
object is absent there: that is recorded, not flagged):

* ``score``: the engine's own confidence, stored with the mask (SAM 2: the probability from its
  object score; the classic engine: its appearance/area-consistency confidence). Flagged under
  ``min_confidence`` (reason ``low_confidence``).
* ``iou_prev``: temporal consistency, the IoU between this mask and the previous frame's mask
  *after motion compensation*: the previous mask is shifted (whole pixels) by the
  displacement of the centroid between the two frames, or of a corner of the bounding box
  (right for an object cut by the frame border or an occluder, whose visible centroid lags
  while its far edge moves with it), or by the step of the frames before (constant
  velocity), whichever fits best; pixels that come in across the frame border (not in the
  frame before the move) or from behind another object (covered by it on the previous frame),
  and pixels covered by another object on this frame (an occluder), do not count. An object
  that moves, leaves or enters the frame keeps an IoU near 1; only a change of shape or
  extent lowers it. Only between consecutive present frames.
  Flagged under ``min_iou`` (reason ``inconsistent``). A one-frame glitch on frame ``f`` is
  flagged on ``f`` and on ``f + 1`` (the mask changes going in and coming out).
* ``drift_px``: the centroid's jump against the motion predicted from the previous frames
  (constant velocity: ``c[f-1] + (c[f-1] - c[f-2])``, or ``c[f-1]`` when only one previous
  frame is present). Flagged over ``max_drift`` pixels (reason ``drift``).
* ``area`` and ``area_change``: the mask's pixels and its relative change from the previous
  present frame (``area / previous_area - 1``). A non-empty mask under ``min_area`` pixels is
  flagged (``small_area``: a speck, rarely the object); a change beyond a factor of
  ``1 + max_area_change`` either way (doubling or halving by default) is flagged
  (``area_change``).
* ``appearance``: when the video's frames are given, the colours of the object's pixels (a
  chromaticity + brightness histogram of the mask, see :func:`colour_histogram`) against a
  running model of the object's colours (updated by ``appearance_rate`` per frame), as a
  Bhattacharyya coefficient (1 = same colours, 0 = none in common). Under
  ``min_appearance`` the object suddenly looks different: a possible identity swap (reason
  ``appearance_change``). The model is then re-based on the new colours, so a lasting change
  is flagged once, where it starts.
* ``slip_px``: when the video's frames are given, how far the image under the mask has
  moved *relative to the mask* lately. Each frame, the move of the pixels under the previous
  mask (phase correlation against the same place on this frame) is compared with the mask's
  own move (the closest of the moves of its centroid, of each corner of its bounding box and
  of the previous step, as for ``iou_prev``); the differences add up over consecutive frames
  with a decay of ``SLIP_DECAY`` a frame. Only a picture that moved further than the mask
  counts (a mask moving over a picture that reads as still is an object in front of a still,
  strongly textured background, such as striped wallpaper, that the measure locked on to), and
  one frame adds at most ``SLIP_STEP_CAP`` of ``max_slip`` (one misreading flags nothing).
  A mask that follows its object slips by about 0 px, also when the camera follows the object
  and the background streams past; a mask left on a region that does not move with the
  object (it stays put on the hillside while the camera pans) slips by the background's move,
  frame after frame. Not measured where the image
  under the mask has too little texture to tell. Flagged over ``max_slip`` pixels (reason
  ``not_following``).

A flag is a dict: ``type`` (the first reason, for the tracking report's ``quality_flags``),
``frame``, ``reasons`` (list), ``message`` (one line), the measured values above (None where
not measurable, e.g. ``iou_prev`` on the first frame of a presence segment) and ``severity``
(how far past the thresholds: the number of reasons plus each one's normalised excess, for
picking the worst frame).

Frames are streamed one at a time; at most the current and the previous mask of each object
are decoded at once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from ..errors import Cancelled
from .masks import MaskStore, decode_rle, rle_bbox

REASONS = ("low_confidence", "inconsistent", "drift", "small_area", "area_change", "appearance_change",
           "not_following")

_CHROMA_BINS = 12
_LUM_BINS = 4


@dataclass
class QualityThresholds:
    """When a frame is flagged (see the module docstring for each measure)."""

    min_confidence: float = 0.7
    min_iou: float = 0.8
    max_drift: float = 50.0  # pixels
    min_area: int = 100  # pixels; an empty mask is absence, not a flag
    max_area_change: float = 1.0  # relative: 1.0 flags doubling or halving
    min_appearance: float = 0.6  # Bhattacharyya coefficient against the running colour model
    appearance_rate: float = 0.1  # how fast the colour model follows the object
    max_slip: float = 8.0  # pixels the image under the mask may have moved relative to the mask

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"quality threshold {f.name} must be a non-negative number, got {v!r}")
        if not 0 < self.appearance_rate <= 1:
            raise ValueError(f"appearance_rate must be in (0, 1], got {self.appearance_rate}")

    @classmethod
    def from_dict(cls, d: dict | None) -> QualityThresholds:
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown quality threshold {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- measures -------------------------------------------------------------------------------
def _centroid(mask: np.ndarray, bbox) -> tuple[float, float]:
    x, y, w, h = bbox
    crop = np.ascontiguousarray(mask[y:y + h, x:x + w], dtype=np.uint8)
    m = cv2.moments(crop, binaryImage=True)
    if m["m00"] <= 0:
        return float("nan"), float("nan")
    return x + m["m10"] / m["m00"], y + m["m01"] / m["m00"]


def shifted_iou(a: np.ndarray, b: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> float:
    """IoU of mask ``a`` with mask ``b`` moved by ``(dx, dy)`` pixels (rounded to whole
    pixels; what moves out of the frame is lost). 1.0 when both are empty."""
    dx, dy = int(round(dx)), int(round(dy))
    h, w = a.shape
    inter = 0
    moved = 0
    if abs(dx) < w and abs(dy) < h:
        bs = b[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        as_ = a[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
        inter = int(np.count_nonzero(as_ & bs))
        moved = int(np.count_nonzero(bs))
    union = int(np.count_nonzero(a)) + moved - inter
    return 1.0 if union == 0 else inter / union


def colour_histogram(rgb: np.ndarray, mask: np.ndarray, bbox=None) -> np.ndarray | None:
    """Appearance descriptor of ``rgb``'s pixels under ``mask`` (eroded by one pixel when that
    leaves enough of it, so background at the border does not count); None for an empty mask.
    ``bbox`` ``(x, y, w, h)`` of the mask, when known, saves work.

    A normalised vector: 80 % a 12x12 chromaticity histogram (``r = R / (R+G+B)``,
    ``g = G / (R+G+B)``, lightly blurred: shading and shadows barely move it, a change of hue
    does) and 20 % a 4-bin brightness histogram. Its Bhattacharyya coefficient with another
    one is ``0.8 * chroma + 0.2 * brightness`` similarity."""
    if bbox is not None:
        x, y, w, h = bbox
        H, W = mask.shape
        x0, y0, x1, y1 = max(0, x - 1), max(0, y - 1), min(W, x + w + 1), min(H, y + h + 1)
        mask, rgb = mask[y0:y1, x0:x1], rgb[y0:y1, x0:x1]
    m = mask
    n = int(np.count_nonzero(m))
    if n > 400:
        er = cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if np.count_nonzero(er) >= 0.5 * n:
            m = er
    px = rgb[m].astype(np.float32)
    if len(px) == 0:
        return None
    total = px.sum(axis=1)
    lum = np.bincount(np.minimum((total / (3.0 * 256.0 / _LUM_BINS)).astype(np.int64), _LUM_BINS - 1),
                      minlength=_LUM_BINS).astype(np.float64)
    lit = total >= 30.0  # chromaticity of near-black pixels is noise
    chroma = np.zeros((_CHROMA_BINS, _CHROMA_BINS), np.float32)
    if lit.any():
        r = np.minimum((px[lit, 0] / total[lit] * _CHROMA_BINS).astype(np.int64), _CHROMA_BINS - 1)
        g = np.minimum((px[lit, 1] / total[lit] * _CHROMA_BINS).astype(np.int64), _CHROMA_BINS - 1)
        chroma = np.bincount(r * _CHROMA_BINS + g, minlength=_CHROMA_BINS ** 2).astype(np.float32)
        chroma = cv2.GaussianBlur(chroma.reshape(_CHROMA_BINS, _CHROMA_BINS), (3, 3), 0.7)
    c_sum = float(chroma.sum())
    c = chroma.ravel() / c_sum if c_sum > 0 else np.full(_CHROMA_BINS ** 2, 1.0 / _CHROMA_BINS ** 2)
    return np.concatenate([0.8 * c, 0.2 * lum / max(float(lum.sum()), 1.0)])


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """Bhattacharyya coefficient of two normalised histograms (1 = identical)."""
    return float(np.sum(np.sqrt(p * q)))


@dataclass
class _ObjState:
    mask: np.ndarray | None = None  # previous frame's mask (only while present)
    frame: int = -10
    area: int = 0
    c1: tuple[float, float] | None = None  # centroid on the previous present frame
    c2: tuple[float, float] | None = None  # and the one before (consecutive frames only)
    model: np.ndarray | None = None  # running colour histogram
    bbox: tuple[int, int, int, int] | None = None  # previous mask's (x, y, w, h)
    cover: np.ndarray | None = None  # objects per pixel on the previous frame (None: one object)
    slip: tuple[float, float] = (0.0, 0.0)  # image-under-the-mask move relative to it, decayed sum


def _crop_iou(a: np.ndarray, a_box, b: np.ndarray, b_box, dx: int, dy: int,
              cover: np.ndarray | None = None, prev_cover: np.ndarray | None = None) -> float:
    """IoU of ``a`` with ``b`` moved by whole pixels ``(dx, dy)``, counting only what can be
    compared: not what comes in across the frame border (outside the frame before the move),
    nor the pixels of other objects on ``a``'s frame (occluders: where ``cover``, the number
    of objects on each pixel, exceeds ``a``), nor those of ``a`` that other objects covered
    on ``b``'s frame before the move (``prev_cover`` exceeds ``b``). Computed on the bounding
    boxes only."""
    h, w = a.shape
    vx0, vy0, vx1, vy1 = max(0, dx), max(0, dy), min(w, w + dx), min(h, h + dy)
    ax, ay, aw, ah = a_box
    ax0, ay0, ax1, ay1 = max(ax, vx0), max(ay, vy0), min(ax + aw, vx1), min(ay + ah, vy1)
    a_valid = 0
    if ax1 > ax0 and ay1 > ay0:
        ac = a[ay0:ay1, ax0:ax1]
        if cover is not None:
            ac = ac & ~(cover[ay0:ay1, ax0:ax1] > ac)
        if prev_cover is not None:  # hidden by another object before the move: not seen then
            sl = (slice(ay0 - dy, ay1 - dy), slice(ax0 - dx, ax1 - dx))
            ac = ac & ~(prev_cover[sl] > b[sl])
        a_valid = int(np.count_nonzero(ac))
    x, y, bw, bh = b_box
    X0, Y0 = max(0, x + dx), max(0, y + dy)
    X1, Y1 = min(w, x + bw + dx), min(h, y + bh + dy)
    if X1 <= X0 or Y1 <= Y0:
        inter = moved = 0
    else:
        bc = b[Y0 - dy:Y1 - dy, X0 - dx:X1 - dx]
        if cover is not None:
            bc = bc & ~(cover[Y0:Y1, X0:X1] > a[Y0:Y1, X0:X1])
        inter = int(np.count_nonzero(a[Y0:Y1, X0:X1] & bc))
        moved = int(np.count_nonzero(bc))
    union = a_valid + moved - inter
    return 1.0 if union == 0 else inter / union


def _compensated_iou(mask: np.ndarray, bbox, st: _ObjState, c, cover=None) -> float:
    """Best IoU of ``mask`` with the previous mask over a few motion hypotheses: the move of
    the centroid, of each corner of the bounding box, and the previous step."""
    cands = _mask_moves(bbox, c, st)
    best = 0.0
    for dx, dy in {(int(round(a)), int(round(b))) for a, b in cands}:
        best = max(best, _crop_iou(mask, bbox, st.mask, st.bbox, dx, dy, cover, st.cover))
        if best >= 0.999:
            break
    return best


#: phase-correlation peak under which the image under a mask is too plain to measure its move
_MIN_SLIP_RESPONSE = 0.15
#: how much of the slip so far counts on the next frame
SLIP_DECAY = 0.85
SLIP_STEP_CAP = 0.5  # of max_slip: the most one frame adds to slip_px


def _content_move(prev_gray: np.ndarray, gray: np.ndarray, prev_mask: np.ndarray,
                  prev_bbox) -> tuple[float, float] | None:
    """How far the image under ``prev_mask`` moved from ``prev_gray`` to ``gray``, ``(dx, dy)``
    in pixels; None where the image there is too plain to tell."""
    x, y, w, h = prev_bbox
    if w < 8 or h < 8:
        return None
    H, W = gray.shape
    m = int(max(4, 0.25 * max(w, h)))
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(W, x + w + m), min(H, y + h + m)
    a = prev_gray[y0:y1, x0:x1].astype(np.float32)
    b = gray[y0:y1, x0:x1].astype(np.float32)
    # weight the pixels under the mask (softened at its edge) inside a Hann window
    weight = cv2.GaussianBlur(prev_mask[y0:y1, x0:x1].astype(np.float32), (0, 0), 2.0)
    weight *= cv2.createHanningWindow((x1 - x0, y1 - y0), cv2.CV_32F)
    if float(weight.sum()) <= 1.0:
        return None
    a -= float((a * weight).sum() / weight.sum())
    b -= float((b * weight).sum() / weight.sum())
    (dx, dy), response = cv2.phaseCorrelate(a, b, weight)
    if not math.isfinite(response) or response < _MIN_SLIP_RESPONSE:
        return None
    return float(dx), float(dy)


def _mask_moves(bbox, c, st: _ObjState) -> set[tuple[float, float]]:
    """Plausible moves of a mask since the previous frame: its centroid's, each corner of its
    bounding box's (right for an object cut by the frame border or an occluder) and the
    previous step."""
    x, y, w, h = bbox
    px, py, pw, ph = st.bbox
    moves = {
        (c[0] - st.c1[0], c[1] - st.c1[1]),
        (x - px, y - py), (x + w - px - pw, y + h - py - ph),
        (x - px, y + h - py - ph), (x + w - px - pw, y - py),
    }
    if st.c2 is not None:
        moves.add((st.c1[0] - st.c2[0], st.c1[1] - st.c2[1]))
    return moves


def _r(v, nd=3):
    return None if v is None else float(round(float(v), nd))


def iter_measurements(masks: MaskStore, num_frames: int, *, video=None, objects: Iterable[int] | None = None,
                      progress: Callable[[int, int], None] | None = None,
                      cancel: threading.Event | None = None,
                      thresholds: QualityThresholds | None = None) -> Iterator[tuple[int, int, dict]]:
    """``(frame, obj, measures)`` for every non-empty stored mask, in frame order.

    ``measures`` holds ``score``, ``area``, ``area_change``, ``iou_prev``, ``iou_next``
    (filled one frame later: the IoU with the *next* frame's motion-compensated mask is known
    only then, so each record is yielded when its next frame has been read), ``drift_px``,
    ``centroid`` and ``appearance`` (None without ``video``). ``thresholds`` only matters for
    the appearance model (its rate, and re-basing on a change).
    """
    th = thresholds or QualityThresholds()
    n = int(num_frames)
    ids = masks.objects() if objects is None else sorted({int(o) for o in objects})
    states = {o: _ObjState() for o in ids}
    pending: dict[int, tuple[int, dict]] = {}  # obj -> (previous frame, its record), awaiting iou_next
    grays: dict[int, np.ndarray] = {}  # grey frames of f - 1 and f (for slip_px)
    for f in range(n):
        if cancel is not None and cancel.is_set():
            raise Cancelled("quality check cancelled")
        rgb = None
        grays.pop(f - 2, None)
        decoded: dict[int, tuple] = {}
        for o in ids:
            e = masks.entry(f, o)
            if e is not None and e.area > 0:
                decoded[o] = (e, decode_rle(e.rle), tuple(int(round(v)) for v in rle_bbox(e.rle)))
        count = None  # how many objects cover each pixel (for the occluders of each one)
        if len(decoded) > 1:
            count = np.zeros((masks.height, masks.width), np.uint8)
            for _, m2, _ in decoded.values():
                count += m2.view(np.uint8)
        for o in ids:
            st = states[o]
            prev = pending.pop(o, None)
            if o not in decoded:
                if prev is not None:
                    yield prev[0], o, prev[1]
                st.mask, st.c1, st.c2, st.area, st.cover, st.slip = None, None, None, 0, None, (0.0, 0.0)
                continue
            e, mask, bbox = decoded[o]
            c = _centroid(mask, bbox)
            rec = {"score": _r(e.score), "area": int(e.area), "centroid": [_r(c[0], 2), _r(c[1], 2)],
                   "area_change": None, "iou_prev": None, "iou_next": None, "drift_px": None,
                   "appearance": None, "slip_px": None}
            consecutive = st.mask is not None and st.frame == f - 1
            if consecutive:
                rec["iou_prev"] = _r(_compensated_iou(mask, bbox, st, c, count))
                rec["area_change"] = _r(e.area / st.area - 1.0) if st.area > 0 else None
                pred = (2 * st.c1[0] - st.c2[0], 2 * st.c1[1] - st.c2[1]) if st.c2 is not None else st.c1
                rec["drift_px"] = _r(math.hypot(c[0] - pred[0], c[1] - pred[1]), 2)
            if prev is not None:
                if consecutive:
                    prev[1]["iou_next"] = rec["iou_prev"]
                yield prev[0], o, prev[1]
            if video is not None and e.area >= max(1, th.min_area):
                if rgb is None:
                    rgb = np.asarray(video.get_frame(f))
                    grays[f] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                if consecutive and f - 1 in grays and st.area >= max(1, th.min_area):
                    seen = _content_move(grays[f - 1], grays[f], st.mask, st.bbox)
                    if seen is not None:
                        mx, my = min(_mask_moves(bbox, c, st),
                                     key=lambda m: math.hypot(seen[0] - m[0], seen[1] - m[1]))
                        # only a picture that moved further than its mask counts: a mask moving
                        # over a picture that looks still is an object moving in front of a
                        # still, strongly textured background the measure locked on to
                        dx, dy = ((seen[0] - mx, seen[1] - my) if math.hypot(*seen) > math.hypot(mx, my)
                                  else (0.0, 0.0))
                        # one frame adds at most half the threshold: a mask left behind slips
                        # frame after frame, a single misreading (motion blur) flags nothing
                        cap, step = SLIP_STEP_CAP * th.max_slip, math.hypot(dx, dy)
                        if 0 < cap < step:  # (max_slip 0 flags any slip: nothing to cap)
                            dx, dy = dx * cap / step, dy * cap / step
                        st.slip = (SLIP_DECAY * st.slip[0] + dx, SLIP_DECAY * st.slip[1] + dy)
                        rec["slip_px"] = _r(math.hypot(*st.slip), 2)
                hist = colour_histogram(rgb, mask, bbox)
                if hist is not None:
                    if st.model is None:
                        st.model = hist
                    else:
                        sim = bhattacharyya(hist, st.model)
                        rec["appearance"] = _r(sim)
                        if sim < th.min_appearance:
                            st.model = hist  # re-base: a lasting change is flagged once
                        else:
                            st.model = (1 - th.appearance_rate) * st.model + th.appearance_rate * hist
            st.c2 = st.c1 if consecutive else None
            st.c1 = c
            st.mask, st.frame, st.area, st.bbox, st.cover = mask, f, int(e.area), bbox, count
            pending[o] = (f, rec)
        if progress is not None:
            progress(f + 1, n)
    for o in sorted(pending):
        yield pending[o][0], o, pending[o][1]


# ---- flags ----------------------------------------------------------------------------------
def check(measures: dict, thresholds: QualityThresholds | None = None) -> tuple[list[str], float, list[str]]:
    """``(reasons, severity, messages)`` for one frame's ``measures`` (see :func:`iter_measurements`)."""
    th = thresholds or QualityThresholds()
    reasons: list[str] = []
    msgs: list[str] = []
    excess = 0.0

    def add(reason: str, amount: float, msg: str) -> None:
        nonlocal excess
        reasons.append(reason)
        msgs.append(msg)
        excess += float(np.clip(amount, 0.0, 1.0))

    s, iou, drift = measures.get("score"), measures.get("iou_prev"), measures.get("drift_px")
    area, change, app = measures.get("area", 0), measures.get("area_change"), measures.get("appearance")
    if s is not None and s < th.min_confidence:
        add("low_confidence", (th.min_confidence - s) / max(th.min_confidence, 1e-9),
            f"confidence {s:.2f} < {th.min_confidence:g}")
    if iou is not None and iou < th.min_iou:
        add("inconsistent", (th.min_iou - iou) / max(th.min_iou, 1e-9),
            f"IoU with the previous frame {iou:.2f} < {th.min_iou:g}")
    if drift is not None and drift > th.max_drift:
        add("drift", (drift - th.max_drift) / max(th.max_drift, 1e-9),
            f"centroid {drift:.0f} px off the predicted motion (> {th.max_drift:g})")
    if 0 < area < th.min_area:
        add("small_area", (th.min_area - area) / max(th.min_area, 1e-9), f"area {area} px < {th.min_area:g}")
    if change is not None:
        ratio = 1.0 + change
        limit = 1.0 + th.max_area_change
        if ratio > limit or ratio < 1.0 / limit:
            add("area_change", abs(math.log(max(ratio, 1e-9))) / math.log(limit) - 1.0 if limit > 1 else 1.0,
                f"area changed by {change * 100:+.0f}%")
    slip = measures.get("slip_px")
    if slip is not None and slip > th.max_slip:
        add("not_following", (slip - th.max_slip) / max(th.max_slip, 1e-9),
            f"the image under the mask moved {slip:.0f} px while the mask did not follow: "
            "probably left on the background")
    if app is not None and app < th.min_appearance:
        add("appearance_change", (th.min_appearance - app) / max(th.min_appearance, 1e-9),
            f"colours differ from the object's ({app:.2f} < {th.min_appearance:g}): possible identity swap")
    return reasons, len(reasons) + excess, msgs


def measure(masks: MaskStore, num_frames: int, *, video=None, objects: Iterable[int] | None = None,
            thresholds: QualityThresholds | None = None, progress=None, cancel=None) -> dict[int, list[dict]]:
    """Every present frame's measures per object (``frame`` included), for plots and tables."""
    ids = masks.objects() if objects is None else sorted({int(o) for o in objects})
    out: dict[int, list[dict]] = {o: [] for o in ids}
    for f, o, rec in iter_measurements(masks, num_frames, video=video, objects=ids, progress=progress,
                                       cancel=cancel, thresholds=thresholds):
        out[o].append({"frame": f, **rec})
    for o in out:
        out[o].sort(key=lambda r: r["frame"])
    return out


def assess(masks: MaskStore, num_frames: int, *, video=None, objects: Iterable[int] | None = None,
           thresholds: QualityThresholds | None = None, trusted: dict[int, Iterable[int]] | None = None,
           progress: Callable[[int, int], None] | None = None,
           cancel: threading.Event | None = None) -> dict[int, list[dict]]:
    """Flagged frames per object, ascending (every object of ``objects`` gets a list).

    ``video`` (a VideoSource) enables the appearance check. ``trusted`` maps an object to
    frames never flagged: the frames where the user gave a prompt (a click, box or mask there
    is what the user wants), e.g. ``{o: session.keyframes(o) for o in session.objects}``.
    ``progress(done, total)`` is called per frame and setting ``cancel`` raises
    :class:`~sam2studio.errors.Cancelled`.
    """
    th = thresholds or QualityThresholds()
    ids = masks.objects() if objects is None else sorted({int(o) for o in objects})
    flags: dict[int, list[dict]] = {o: [] for o in ids}
    skip = {(int(f), int(o)) for o, frames in (trusted or {}).items() for f in frames}
    for f, o, rec in iter_measurements(masks, num_frames, video=video, objects=ids, progress=progress,
                                       cancel=cancel, thresholds=th):
        if (f, o) in skip:
            continue
        reasons, severity, msgs = check(rec, th)
        if reasons:
            flags[o].append({"type": reasons[0], "frame": int(f), "reasons": reasons, "message": "; ".join(msgs),
                             **rec, "severity": _r(severity)})
    for o in flags:
        flags[o].sort(key=lambda d: d["frame"])
    return flags


def flagged_frames(flags: dict[int, list[dict]], obj: int | None = None) -> list[int]:
    """Ascending frames flagged for ``obj`` (None: for any object)."""
    objs = list(flags) if obj is None else [int(obj)]
    return sorted({int(d["frame"]) for o in objs for d in flags.get(o, [])})


def next_flagged_frame(flags: dict[int, list[dict]], obj: int | None, frame: int) -> int | None:
    """The first flagged frame after ``frame`` for ``obj`` (None: any object), or None."""
    for f in flagged_frames(flags, obj):
        if f > frame:
            return f
    return None


def previous_flagged_frame(flags: dict[int, list[dict]], obj: int | None, frame: int) -> int | None:
    """The last flagged frame before ``frame`` for ``obj`` (None: any object), or None."""
    prev = None
    for f in flagged_frames(flags, obj):
        if f >= frame:
            break
        prev = f
    return prev


def worst_flag(flags: dict[int, list[dict]], obj: int | None = None) -> tuple[int, dict] | None:
    """``(obj, flag)`` of the most severe flag (earliest on a tie), or None when nothing is flagged."""
    best = None
    for o in (list(flags) if obj is None else [int(obj)]):
        for d in flags.get(o, []):
            key = (-d["severity"], d["frame"], o)
            if best is None or key < best[0]:
                best = (key, o, d)
    return None if best is None else (best[1], best[2])


def report_flags(flags: dict[int, list[dict]]) -> dict[int, list[dict]]:
    """Flags in the form the tracking report's ``quality_flags`` takes (``build_report(...,
    quality=report_flags(flags))``): the same dicts, JSON-ready."""
    return {int(o): [dict(d) for d in lst] for o, lst in flags.items()}


__all__ = [
    "QualityThresholds", "REASONS", "assess", "measure", "iter_measurements", "check", "shifted_iou",
    "colour_histogram", "bhattacharyya", "flagged_frames", "next_flagged_frame", "previous_flagged_frame",
    "worst_flag", "report_flags",
]
