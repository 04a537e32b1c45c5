"""The classic engine: GrabCut prompts and optical-flow propagation, on the CPU, no model.

It needs nothing but OpenCV and numpy, so it always works (no checkpoint, no GPU) and is
fast enough to be interactive. It is meant for clips where objects differ from their
surroundings in colour and move smoothly; SAM 2 is far better on real footage.

How it works (all at a reduced internal resolution, longest side ``max_side``; masks are
scaled back to the video's size):

* **Prompt frame** (:mod:`.classic_click`). A fresh click gets several *candidate* masks:
  a region of similar colour grown around it (an iterated colour-histogram likelihood,
  smoothed, keeping the connected part under the click) refined by :func:`cv2.grabCut`;
  GrabCut seeded by the region that moves with the click against the camera's motion;
  GrabCut in boxes of a few extents around the click, "hard" (outside is background) and
  "soft" (a band around the box is only probably background, so the mask may grow past a
  box smaller than the object); thin structures (colours unlike the box's surroundings,
  and thin dark or light lines, for a bicycle's tubes and wheels); the lines, and the region,
  that move with the click (:mod:`.classic_thin`: each pixel tested against the neighbouring
  frames warped by the click's motion and by the camera's, which keeps tubes two pixels wide
  that dense flow smooths away); and the consensus of the GrabCut candidates. They are
  ranked by how much each agrees with the others (mean IoU), with a bonus for the
  motion-seeded one; the default is the best (unless it is only a thick piece of the lines
  moving with the click: then those lines), and never covers more
  than 40% of the frame (larger candidates are only alternatives). A click on another
  object's mask avoids candidates that swallow that object whole, and the object it took
  pixels from falls back to a candidate of its own click that is left whole. A click on
  what rides a thin object (a rider on the bicycle whose mask is its moving lines) takes
  the body moving with it less that object, grown by colour into the legs the lines took,
  which the thin object gives up (:func:`.classic_thin.prefer_rider`); clicked before the
  thin object, it is clicked again once the thin object's mask is its lines.
  :meth:`ClassicEngine.candidates` lists
  them, :meth:`ClassicEngine.choose_candidate` picks another. A box starts as "probably
  foreground" inside; negative clicks are sure background and the region grown around one
  is cut out. Further clicks, and a click on a frame where the object already has a mask (a
  propagated one, a mask prompt), edit the mask in use, the default or a candidate picked
  (:mod:`.classic_refine`): a positive click adds the part around it, a negative one removes
  the part of the mask around it, and nothing far from the click changes. GrabCut's random
  start is seeded: the same click gives the same masks.
* **Propagation.** Dense DIS optical flow between consecutive frames (both ways) warps
  every object's previous mask onto the new frame; where the two flows disagree
  (disocclusions, motion boundaries) the warp is not trusted. Each object keeps an appearance
  model (colour histogram of the object against one of its local surroundings) and a motion
  model: an *amodal* template of its whole shape, its position and its velocity. On each
  frame every object scores every pixel (appearance log-likelihood ratio + agreement with the
  warped mask + agreement with the template moved by the object's motion, less a *motion
  penalty* where a pixel's flow is that of the object's surroundings rather than the
  object's own: the background a moving object uncovers must not stay in its mask as a
  trail; that evidence persists over the frames, moving with the object, so a part that keeps
  moving like the surroundings, such as a patch of background the click took, is dropped);
  **the objects compete**: each pixel goes to the best-scoring object, or to the
  background if none scores above zero. An object being covered therefore shrinks instead
  of stealing its occluder's pixels. Objects that look the same (identical cups shuffled)
  are told apart by motion: where two objects meet and move differently, a pixel moving like
  one is penalised for the other; an object's local background leaves out the other objects
  (a cup beside its twin must not learn its own colour as background); a mostly covered
  object moves rigidly at its own speed (the flow at its edge is its coverer's); and a
  measured step far from the object's speed is believed only when the object's whole shape
  looks clearly more like it there than where its speed puts it (a cup passing behind its
  twin would otherwise stop with the twin). An object too thin for its interior's flow to be read
  (tubes a pixel or two wide), or found again at the frame's border, gets its motion by
  matching its own pixels of the previous frame instead; one seen whole whose pixels are not
  found near where its speed puts it either (a ball kicked: blurred, the flow loses it) is
  matched within twice its size of there, never onto its twin, and its mask moved rigidly by
  that step, not by the flow. Parts a pixel or two wide are carried over
  by the warp rather than filtered away as speckles. A *thin object* (its template's mean
  width a few internal pixels: a bicycle) is always moved that way, as a whole (dense flow
  smooths its tubes into the ground around them); the gaps between its tubes are not closed
  by the speckle filter nor filled as small holes, its small pieces are kept where its warp
  or template support them, and its score leans on its template more than on the warp (a
  tube lost on one frame is not lost for good); its full-size mask is its prompt's,
  moved rigidly by how far it moved and placed to a full-size pixel on this frame's mask,
  where that lies within a pixel of it (its tubes are finer than the internal masks can carry;
  dropped once it no longer covers most of it: the object turned), and its prompt's
  full-size mask is itself decided at the video's resolution. The full-size mask is not a plain
  upscaling: in a band around the upscaled outline every full-size pixel is decided again
  by its colour (object against surroundings, next to the outline on that frame) and its
  distance from the outline, and objects never share a pixel. When an object's visible
  area falls under a few percent of its template area it is recorded as hidden (empty mask,
  score 0); its template keeps moving at the last velocity, and pixels that match its
  appearance near the predicted place grow it back when it re-emerges (the template is then
  re-aligned on what is seen), if what grows back looks on the whole like the object (not
  fingertips beside the cup the ball is under; the last small part of an object going out of
  sight is held to the same test). An object that left the frame, or stayed hidden for long, is
  searched for over the whole frame
  (a template-sized window whose colours match its model). An object still seen but far
  smaller than on its prompt, or far less like itself, clear of other objects, is searched
  for too, and moved to a window that matches much better (a mask left behind by a fast move
  must not stay on the background), unless it moves as its speed says, lies under another
  object, would jump farther than its size and speed allow, or looks about as much like itself
  where it is (partly covered, not left behind: the new place would be its twin).
  An *untracked* look-alike near an object, moving differently from it (the cup the user did
  not click, carried past this one), is followed as its *twin* and competes with it by motion
  as a tracked object would: pixels moving like the twin are penalised for the object, and
  the twin's pixels, or where it was last followed, are left out of the object's measured
  step, its template's alignment and learning, and of the places it may be relocated to.
  :meth:`ClassicEngine.add_absent` marks an object not
  visible on a frame; it stays empty from there until found again.
* **Anchors.** Every prompt is kept as a keyframe; a propagation starts from the prompt on
  the start frame, or else from the state this engine computed on that frame in an earlier
  run (a bounded cache of compressed masks and motion states, no frames). Reaching another
  keyframe during a propagation re-anchors that object on its prompt, so a correction on
  frame k followed by ``propagate(k, ...)`` recomputes everything from the corrected mask.

Results of a propagation contain every *tracked* object on every frame: an object is tracked
from the frame where the propagation found its anchor (its prompt, or a cached result on the
start frame) onwards, in the direction of travel; on a frame where it is hidden it is
reported with an empty mask and score 0. Objects without an anchor yet (for example one
whose first prompt is on a later frame of a forward propagation) are left out of the frame's
result. :meth:`ClassicEngine.add_prompt` and :meth:`ClassicEngine.add_mask` return every
object that has a prompt or a computed mask on that frame.

Scores (0..1) say how much the engine trusts a mask as the object's visible part:
``appearance x (0.5 + 0.5 x area_consistency)``, where ``appearance`` is the mean over the
mask's pixels of ``sigmoid(log p(colour | object) - log p(colour | surroundings))`` and
``area_consistency`` is ``min(a, a') / max(a, a')`` for the visible areas on this frame and
the previous one (0.5 when the object was hidden on the previous frame). 0 means the object
was not found on the frame (its mask is empty); a mask prompt scores 1 (0 when empty: the
object is marked absent there); a click or box prompt scores its appearance term.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import classic_click, classic_refine, classic_thin
from .base import Direction, Engine, FrameResult, ObjectMask
from .classic_util import (
    _align,
    _bbox,
    _bins,
    _dilate,
    _erode,
    _fill_holes,
    _Frame,
    _hist,
    _kernel,
    _log_ratio,
    _paste,
    _paste_soft,
    _ring,
    _rle,
    _sigmoid,
    _smooth_hist,
    _unrle,
)


def _fill_holes_seen(m: np.ndarray, allowed: np.ndarray, max_hole: float, prev: np.ndarray | None,
                     small: float = 0.05) -> np.ndarray:
    """Fill the holes of a propagated mask ``m`` (only where ``allowed``): those up to
    ``small`` of its area (speckles the scoring left), and those up to ``max_hole`` that the
    object mostly covered on the previous frame (``prev``: its warped mask); a larger hole
    that was open on the previous frame too is the open space of a thin object (a wheel's
    inside, the gap between a rider's legs), whatever its size against the mask."""
    filled = _fill_holes(m, allowed=allowed, max_hole=max_hole)
    holes = filled & ~m
    if not holes.any():
        return filled
    n, lab, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    area = max(1, np.count_nonzero(m))
    cover = np.bincount(lab.ravel(), weights=(prev if prev is not None else np.zeros(m.shape, np.float32)).ravel(),
                        minlength=n)
    keep_open = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > small * area
                 and cover[i] < 0.5 * stats[i, cv2.CC_STAT_AREA]]
    if keep_open:
        filled &= ~np.isin(lab, keep_open)
    return filled


def _same_rle(a: dict | None, b: dict | None) -> bool:
    """Whether two RLE masks (or Nones) are the same mask."""
    if a is None or b is None:
        return a is None and b is None
    return a is b or (list(a["size"]) == list(b["size"]) and a["counts"] == b["counts"])  # RLE is canonical


# ---------------------------------------------------------------------------------------
# state
# ---------------------------------------------------------------------------------------
@dataclass
class _Keyframe:
    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None
    mask: dict  # RLE of the full-size result mask
    small: dict  # RLE of the mask at the internal resolution
    hist: np.ndarray  # colour counts of the mask on that frame
    base: dict | None = None  # RLE (internal res.) of the propagated mask a click prompt edits
    score: float = 1.0


@dataclass
class _Snapshot:
    """Compressed tracking state of one object on one frame (for restarting from there)."""

    vis: dict  # RLE, internal resolution
    tmpl: dict | None  # RLE of the amodal template
    pos: tuple[float, float]
    vel: tuple[float, float]  # per +1 frame, internal pixels
    hidden: int
    ref_area: float
    score: float


@dataclass
class _Track:
    """Live tracking state of one object during a propagation."""

    vis: np.ndarray  # visible mask, internal res.
    tmpl: np.ndarray | None  # amodal template (float 0..1, cropped at ``pos``)
    pos: tuple[float, float]  # template top-left, internal pixels
    vel: tuple[float, float]  # displacement per step in the direction of travel
    vel_known: bool
    hidden: int
    ref_area: float
    fg: np.ndarray  # running foreground histogram (normalised)
    fg_anchor: np.ndarray
    bg: np.ndarray  # running local-background histogram (normalised)
    score: float = 1.0
    lut: np.ndarray | None = None
    realign: bool = False  # the template was moved by a re-detection: align it widely
    refound: bool = False  # re-detected, its speed not measured again yet
    anchor_area: float = 0.0  # visible area on the prompt (or restart) frame
    anchor_score: float = 0.0  # score there
    # how consistently each pixel around the object moved like its surroundings rather than
    # like the object on the frames so far (0..1, a running mean that moves with the object)
    stray: np.ndarray | None = None
    # an untracked object that looks like this one, near it and moving differently (a cup's
    # twin carried past it): its pixels on the current frame and its step per frame
    twin: tuple[np.ndarray, tuple[float, float]] | None = None
    # where a twin was last followed (it may have stopped there), and for how many more frames
    twin_left: tuple[np.ndarray, int] | None = None
    # a thin object (tubes a few pixels wide: a bicycle): moved rigidly, its own pixels matched
    thin: bool = False
    # a thin object's full-size mask on its prompt frame, and how far (internal pixels) the
    # object moved since: its tubes are a few full-size pixels wide, finer than the internal
    # resolution can carry from frame to frame (see ClassicEngine._carry_full)
    full: np.ndarray | None = None
    shift: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Object:
    id: int
    keyframes: dict[int, _Keyframe] = field(default_factory=dict)
    cache: OrderedDict[int, _Snapshot] = field(default_factory=OrderedDict)
    # candidate masks of the latest click prompt per frame: [(RLE internal res., score, kind)]
    candidates: dict[int, list[tuple[dict, float, str]]] = field(default_factory=dict)
    # the clicks made one after the other per frame and the mask after each (see
    # ClassicEngine._click_chain): an undone click or a replayed project reuses them
    chains: dict[int, dict] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------------------
class ClassicEngine(Engine):
    """GrabCut + optical flow engine with competing per-object appearance and motion models.

    ``max_side`` is the longest side of the internal resolution (smaller is faster, coarser;
    512 keeps a bicycle's tubes about two pixels wide at 854x480 and costs about 1.2x the
    CPU of 427); ``cache_frames`` bounds the per-object cache of compressed tracking states.
    """

    name = "classic"
    device = "cpu"

    # scoring weights (log-likelihood units)
    W_WARP = 2.0  # agreement with the flow-warped previous mask
    W_SHAPE = 1.5  # agreement with the amodal template moved by the velocity
    REFINE_SIGMA = 0.8  # internal px: width of the band re-decided at full size
    REFINE_PRIOR = 1.0  # weight of the distance from the upscaled outline there
    MATCH_RADIUS = 8  # internal px searched around the expected place by _match_shift
    W_MOTION = 3.0  # moving like the object rather than like its surroundings
    MOTION_MIN_SEP = 1.0  # object / surroundings flow difference (internal px) for the motion term
    LR_CLIP = 4.0
    HIDE_FRACTION = 0.03  # visible area / template area under which an object is hidden
    FG_RATE = 0.08  # appearance adaptation per frame
    BG_RATE = 0.3
    SHAPE_RATE = 0.25  # how fast the amodal template follows the visible mask
    REDETECT_AFTER = 15  # hidden frames after which the whole frame is searched
    REDETECT_SIMILARITY = 0.8  # colour-histogram similarity a re-detection needs
    MAX_HOLE = 0.5  # holes up to this share of the mask's area may be filled (a wheel's inside is larger)
    SMALL_HOLE = 0.05  # holes up to this share are always filled (speckles); larger ones only
    # where the object covered them on the previous frame
    GROW_LIMIT = 1.3  # visible area / the prompt's above which a mask is held to its template
    LOST_SCORE = 0.65  # score / the prompt's score under which a mask may have been left behind
    RELOCATE_MARGIN = 0.5  # how much better (mean log-ratio) a new place must be to move a shrunk object
    W_STRAY = 3.0  # moving like the surroundings on the earlier frames (persistent motion evidence)
    STRAY_RATE = 0.35  # how fast that evidence follows each frame's
    SHAPE_MIN_AREA = 0.75  # visible area / the template's from which the template learns the shape
    SHAPE_MIN_SCORE = 0.85  # score / the prompt's from which it does (not from a blurred, eroded mask)
    COAST_JUMP = 3.0  # internal px per frame by which a measured step must leave the speed to be doubted
    RELOCATE_REACH = 20.0  # frames of its speed (plus its size) within which a seen object may be moved
    COVERED_SHARE = 0.3  # share of its shape under another object from which an object is not searched for
    COAST_MARGIN = 0.25  # mean log-ratio by which the measured place must look better to be believed
    VANISH_SHARE = 0.3  # visible area / template area under which a mask must look like the object
    RETURN_APPEARANCE = 0.5  # mean appearance (sigmoid of the log-ratio) a hidden object needs to be seen again
    TWIN_MIN_SEP = 2.0  # internal px per frame by which an untracked look-alike must move differently
    TWIN_KEEP = 15  # frames during which the object is not looked for where its twin was last followed
    THIN_WIDTH = 6.0  # internal px: mean width up to which a tracked object is thin (a bicycle ~4.5, a person 15+)
    THIN_MIN_AREA = 150  # internal px: a smaller object is small, not thin
    THIN_MIN_PART = 3  # px: a thin object keeps the smaller pieces its warp or template support (a rim broken by light)
    # a thin object's scoring leans on its template (its prompt's shape, moved as a whole)
    # more than on the previous mask warped: a tube lost on one frame (its pixels mixed with
    # the background's, a dark handlebar over dark shade) is not lost for good
    W_WARP_THIN = 1.0
    W_SHAPE_THIN = 2.5
    REFINE_SIGMA_THIN = 1.2
    REFINE_PRIOR_THIN = 0.15
    CARRY_SEARCH = 2  # full-size pixels around its expected place searched for a thin object's prompt mask
    CARRY_MIN = 0.7  # share of a thin object's refined mask its prompt's moved mask must cover to be used
    THIN_HOLE = 0.005  # a thin object's holes up to this share of its area are always filled (not 5%: its gaps)

    def __init__(self, max_side: int = 512, cache_frames: int = 20000) -> None:
        super().__init__()
        self.max_side = int(max_side)
        self.cache_frames = int(cache_frames)
        self._objects: dict[int, _Object] = {}
        self._lock = threading.RLock()
        self._frames: OrderedDict[int, _Frame] = OrderedDict()
        self._full: dict[int, np.ndarray] = {}  # full-size RGB of the frames in ``_frames``
        self._dis = None
        self._small: tuple[int, int] = (0, 0)  # (w, h)
        self._grid: np.ndarray | None = None

    # ---- session -----------------------------------------------------------------------
    def open(self, video) -> None:
        with self._lock:
            super().open(video)
            self._objects.clear()
            self._frames.clear()
            self._full.clear()
            s = min(1.0, self.max_side / max(video.width, video.height))
            self._small = (max(8, int(round(video.width * s))), max(8, int(round(video.height * s))))
            w, h = self._small
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = np.stack([gx, gy], axis=-1)
            self._dis = self._make_flow()

    @staticmethod
    def _make_flow():
        # DIS between the FAST and MEDIUM presets: the finest scale is the internal
        # resolution's half (small objects keep their own motion), few iterations
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        dis.setFinestScale(1)
        dis.setPatchSize(8)
        dis.setPatchStride(4)
        dis.setGradientDescentIterations(12)
        dis.setVariationalRefinementIterations(0)
        return dis

    def close(self) -> None:
        with self._lock:
            self._objects.clear()
            self._frames.clear()
            self._full.clear()
            self._dis = None
            super().close()

    def reset(self) -> None:
        with self._lock:
            self._objects.clear()

    def remove_object(self, obj: int) -> None:
        with self._lock:
            self._objects.pop(int(obj), None)

    @property
    def objects(self) -> list[int]:
        with self._lock:
            return sorted(k for k, o in self._objects.items() if o.keyframes)

    def keyframes(self, obj: int) -> list[int]:
        """Frames on which ``obj`` has a prompt, ascending."""
        with self._lock:
            o = self._objects.get(int(obj))
            return sorted(o.keyframes) if o else []

    # ---- frames ------------------------------------------------------------------------
    def _frame(self, i: int) -> _Frame:
        fr = self._frames.get(i)
        if fr is not None:
            self._frames.move_to_end(i)
            return fr
        img = self.video.get_frame(i)
        self._full[i] = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        w, h = self._small
        if (img.shape[1], img.shape[0]) != (w, h):
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        fr = _Frame(rgb=img, gray=cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), bins=_bins(img))
        self._frames[i] = fr
        while len(self._frames) > 4:
            old, _ = self._frames.popitem(last=False)
            self._full.pop(old, None)
        return fr

    def _to_small(self, mask: np.ndarray) -> np.ndarray:
        w, h = self._small
        m = np.asarray(mask, bool)
        if m.shape == (h, w):
            return m.copy()
        cover = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
        small = cover >= 0.5
        if m.any() and not small.any():  # a thin or tiny mask: keep whatever it touches
            small = cover > 0
        return small

    def _to_full(self, small: np.ndarray) -> np.ndarray:
        W, H = self.video.width, self.video.height
        if small.shape == (H, W):
            return small.copy()
        out = np.zeros((H, W), bool)
        bb = _bbox(small)
        if bb is None:
            return out
        sx, sy = W / small.shape[1], H / small.shape[0]
        sh, sw = small.shape
        x0, y0, x1, y1 = max(0, bb[0] - 2), max(0, bb[1] - 2), min(sw, bb[2] + 2), min(sh, bb[3] + 2)
        X0, Y0 = int(np.floor(x0 * sx)), int(np.floor(y0 * sy))
        X1, Y1 = min(W, int(np.ceil(x1 * sx))), min(H, int(np.ceil(y1 * sy)))
        crop = small[y0:y1, x0:x1].astype(np.float32)
        # sample the crop at the centres of the full-size pixels (align pixel centres)
        xs = (np.arange(X0, X1, dtype=np.float32) + 0.5) / sx - 0.5 - x0
        ys = (np.arange(Y0, Y1, dtype=np.float32) + 0.5) / sy - 0.5 - y0
        mx, my = np.meshgrid(xs, ys)
        up = cv2.remap(crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[Y0:Y1, X0:X1] = up >= 0.5
        return out

    def _refine_full(self, f: int, small: np.ndarray, others: np.ndarray | None = None,
                     thin: bool = False) -> np.ndarray:
        """The full-size mask of a propagated ``small`` mask on frame ``f``, its outline
        decided again at the video's resolution: in a band around the upscaled outline
        (a few internal pixels wide) each full-size pixel is the object's where its colour
        (object against surroundings, both measured on this frame next to the outline) and
        its distance from the outline agree. Keeps thin parts (tubes, limbs) the internal
        resolution only blurs; a pixel whose internal pixel belongs to one of ``others``
        (the other objects' masks) is never added. Falls back to plain upscaling without
        the frame."""
        W, H = self.video.width, self.video.height
        img = self._full.get(f)
        if small.shape == (H, W) or img is None or not small.any():
            return self._to_full(small)
        sh, sw = small.shape
        sx, sy = W / sw, H / sh
        bb = _bbox(small)
        m = 3
        x0, y0, x1, y1 = max(0, bb[0] - m), max(0, bb[1] - m), min(sw, bb[2] + m), min(sh, bb[3] + m)
        sigma, weight = ((self.REFINE_SIGMA_THIN, self.REFINE_PRIOR_THIN) if thin
                         else (self.REFINE_SIGMA, self.REFINE_PRIOR))
        soft = cv2.GaussianBlur(small[y0:y1, x0:x1].astype(np.float32), (0, 0), sigma)
        X0, Y0 = int(np.floor(x0 * sx)), int(np.floor(y0 * sy))
        X1, Y1 = min(W, int(np.ceil(x1 * sx))), min(H, int(np.ceil(y1 * sy)))
        xs = (np.arange(X0, X1, dtype=np.float32) + 0.5) / sx - 0.5 - x0
        ys = (np.arange(Y0, Y1, dtype=np.float32) + 0.5) / sy - 0.5 - y0
        mx, my = np.meshgrid(xs, ys)
        p = cv2.remap(soft, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        hard = cv2.remap(small[y0:y1, x0:x1].astype(np.float32), mx, my, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE) >= 0.5
        out = np.zeros((H, W), bool)
        band = (p > 0.02) & (p < 0.98)
        inside, outside = hard, ~hard
        if np.count_nonzero(inside) < 20 or np.count_nonzero(outside) < 20 or not band.any():
            out[Y0:Y1, X0:X1] = hard
            return out
        bins = _bins(img[Y0:Y1, X0:X1])
        lut = _log_ratio(_smooth_hist(_hist(bins, inside)), _smooth_hist(_hist(bins, outside)), self.LR_CLIP)
        L = cv2.blur(lut[bins], (3, 3))
        pc = np.clip(p, 0.02, 0.98)
        prior = np.log(pc / (1.0 - pc))
        dec = np.where(band, weight * prior + L > 0, p >= 0.5)
        if others is not None:
            near = cv2.remap(others[y0:y1, x0:x1].astype(np.uint8), mx, my, cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_REPLICATE) > 0
            dec &= hard | ~near
        out[Y0:Y1, X0:X1] = dec
        return out

    def _prompt_full(self, f: int, small: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
        """The full-size mask of a prompt's ``small`` mask on frame ``f``: upscaled; for a
        thin object (:meth:`_is_thin`: tubes two or three internal pixels wide, whose outlines
        the internal resolution cannot draw) its outline decided again at the video's
        resolution as on propagated frames (:meth:`_refine_full`)."""
        if small.any() and self._is_thin(small):
            return self._refine_full(f, small, others, thin=True)
        return self._to_full(small)

    def _carry_full(self, t: _Track, m: np.ndarray) -> np.ndarray:
        """A thin object's full-size mask ``m`` (refined on this frame) made of its prompt's
        full-size mask moved by how far it moved since (``t.full``, ``t.shift``), where that
        lies within a pixel of ``m``: the tubes' outlines are the prompt's, not those the
        internal resolution blurs and this frame's colours re-decide. A rigid move; when the
        moved mask no longer covers :attr:`CARRY_MIN` of ``m`` (the object turned, came nearer,
        its prompt's mask is no longer its shape) ``m`` is kept and the prompt's mask dropped."""
        bb = _bbox(t.full)
        if bb is None or not m.any():
            return m
        H, W = m.shape
        sx, sy = W / self._small[0], H / self._small[1]
        dx, dy = t.shift[0] * sx, t.shift[1] * sy
        X0, Y0 = max(0, int(np.floor(bb[0] + dx)) - 1), max(0, int(np.floor(bb[1] + dy)) - 1)
        X1, Y1 = min(W, int(np.ceil(bb[2] + dx)) + 1), min(H, int(np.ceil(bb[3] + dy)) + 1)
        if X1 <= X0 or Y1 <= Y0:
            t.full = None
            return m
        src = t.full[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
        M = np.float32([[1, 0, bb[0] + dx - X0], [0, 1, bb[1] + dy - Y0]])
        moved = cv2.warpAffine(src, M, (X1 - X0, Y1 - Y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
        # the internal resolution places it to a pixel or so (two or three full-size ones,
        # as wide as a tube): the place within CARRY_SEARCH full-size pixels where it covers
        # this frame's mask best
        r = self.CARRY_SEARCH
        pad = np.zeros((Y1 - Y0 + 2 * r, X1 - X0 + 2 * r), bool)
        pad[r:r + Y1 - Y0, r:r + X1 - X0] = moved
        ref = np.zeros_like(pad)
        ry0, rx0 = Y0 - r, X0 - r
        cy0, cx0 = max(0, ry0), max(0, rx0)
        cy1, cx1 = min(H, Y1 + r), min(W, X1 + r)
        ref[cy0 - ry0:cy1 - ry0, cx0 - rx0:cx1 - rx0] = m[cy0:cy1, cx0:cx1]
        best, best_o = -1.0, (0, 0)
        n_ref, n_pad = np.count_nonzero(ref), np.count_nonzero(pad)
        # nearest offsets first: a tie stays nearest the expected place
        offsets = [(a, b) for a in range(-r, r + 1) for b in range(-r, r + 1)]
        for oy, ox in sorted(offsets, key=lambda v: v[0] ** 2 + v[1] ** 2):
            inter = np.count_nonzero(np.roll(pad, (oy, ox), axis=(0, 1)) & ref)
            score = inter / max(1, n_pad + n_ref - inter)
            if score > best + 1e-9:
                best, best_o = score, (oy, ox)
        moved_full = np.zeros_like(m)
        sh = np.roll(pad, best_o, axis=(0, 1))
        moved_full[cy0:cy1, cx0:cx1] = sh[cy0 - ry0:cy1 - ry0, cx0 - rx0:cx1 - rx0]
        t.shift = (t.shift[0] + best_o[1] / sx, t.shift[1] + best_o[0] / sy)
        moved = moved_full
        out = moved & _dilate(m, 1)
        if np.count_nonzero(out) < self.CARRY_MIN * np.count_nonzero(m):
            t.full = None
            return m
        return out

    # ---- prompts -----------------------------------------------------------------------
    def add_prompt(self, frame, obj, points=None, labels=None, box=None) -> FrameResult:
        """Segment ``obj`` on ``frame`` from clicks and/or a box (see the module docstring);
        replaces its earlier prompt there. A first click takes about 0.5 s of CPU at 854x480,
        a corrective click about as much."""
        pts, lab, bx = self.check_prompt(frame, obj, points, labels, box)
        with self._lock:
            frame, obj = int(frame), int(obj)
            o = self._objects.setdefault(obj, _Object(obj))
            fr = self._frame(frame)
            sx = self._small[0] / self.video.width
            sy = self._small[1] / self.video.height
            pos = [(x * sx, y * sy) for (x, y), lb in zip(pts, lab) if lb == 1] if pts is not None else []
            neg = [(x * sx, y * sy) for (x, y), lb in zip(pts, lab) if lb == 0] if pts is not None else []
            sbox = None if bx is None else (bx[0] * sx, bx[1] * sy, bx[2] * sx, bx[3] * sy)
            # a click on a frame that already has a mask (a mask prompt, a propagated mask)
            # edits that mask: it is the origin the clicks there start from
            old = o.keyframes.get(frame)
            base = None
            if old is not None:
                base = old.small if (old.points is None and old.box is None) else old.base
            elif frame in o.cache:
                base = o.cache[frame].vis
            others, claimed = self._other_masks_small(frame, obj, claim=pos)
            o.candidates.pop(frame, None)
            live = getattr(self.video, "kind", "") == "stream"
            if sbox is None and pts is not None and not live:
                # clicks one after the other: a fresh click offers candidates, each further
                # click edits the mask in use (the default, or a candidate picked with Tab)
                small, cands = self._click_chain(o, frame, fr, pos, neg, pts, lab, base, old, others, claimed)
                if cands:
                    o.candidates[frame] = cands
            else:
                small = classic_click.segment(fr, pos, neg, sbox, None if base is None else _unrle(base), others)
                if sbox is None and pos and small.mean() > classic_click.MAX_DEFAULT_SHARE:
                    # a click that edits a mask must not spill over most of the frame either:
                    # the part around the clicks first, the whole region as the alternative
                    cut = classic_click.clip_to_clicks(small, pos)
                    if cut.any() and cut.mean() <= classic_click.MAX_DEFAULT_SHARE:
                        o.candidates[frame] = [(_rle(cut), 0.0, "clipped"), (_rle(small), 0.0, "whole region")]
                        small = cut
            full = self._prompt_full(frame, small, others)
            score = self._prompt_score(fr, small)
            self._set_keyframe(o, frame, fr, full, small, pts, lab, bx, base, score)
            # a click on what rides a thin object may take back the parts of it that the thin
            # object's lines took (classic_thin.prefer_rider)
            riding = [k for k, m in self._thin_masks(frame, obj).items() if k not in claimed and (m & small).any()]
            self._give_up(frame, fr, claimed + riding, small)
            if sbox is None and pts is not None and not live:
                self._redo_riders(frame, obj)
            return self._frame_result(frame)

    def _redo_riders(self, frame: int, obj: int) -> None:
        """After a click that made ``obj`` a thin object on ``frame`` (its mask the lines
        moving with the click), the objects clicked there before it whose mask is still their
        single click's default are clicked again: one that rides ``obj`` then takes the body
        moving with it less ``obj`` (:func:`.classic_thin.prefer_rider`), as it would have
        had ``obj`` been clicked first; any other keeps its mask as it was."""
        thin = self._thin_masks(frame, -1).get(obj)
        if thin is None or (bb := _bbox(thin)) is None:
            return
        # a rider is on or next to its bicycle: within a quarter of the bicycle's size of its box
        mx, my = (bb[2] - bb[0]) // 4, (bb[3] - bb[1]) // 4
        near = np.zeros_like(thin)
        near[max(0, bb[1] - my):bb[3] + my, max(0, bb[0] - mx):bb[2] + mx] = True
        o = self._objects[obj]
        for k, ok in list(self._objects.items()):
            kf = ok.keyframes.get(frame)
            cands = ok.candidates.get(frame)
            if (k == obj or kf is None or kf.points is None or kf.box is not None or len(kf.points) != 1
                    or int(kf.labels[0]) != 1 or not cands or not _same_rle(cands[0][0], kf.small)
                    or cands[0][2] in (classic_thin.MOVING_LINES, classic_thin.MOVING_REGION)
                    or not (_unrle(kf.small) & near).any()):
                continue
            saved = [(x, f, dict(getattr(x, f))) for x in (ok, o) for f in ("keyframes", "candidates", "chains")]
            saved_kf = {id(x): copy.copy(x.keyframes.get(frame)) for x in (ok, o)}
            self.add_prompt(frame, k, points=kf.points, labels=kf.labels)
            if ok.candidates.get(frame, [(None, 0.0, "")])[0][2] != classic_thin.MOVING_REGION:
                for x, f, d in saved:
                    setattr(x, f, d)
                for x in (ok, o):
                    if saved_kf[id(x)] is not None:
                        x.keyframes[frame] = saved_kf[id(x)]
                    x.cache.pop(frame, None)

    def _click_chain(self, o, frame, fr, pos, neg, pts, lab, base, old, others, claimed):
        """``obj``'s mask on ``frame`` after its clicks there, one click after the other, and
        the candidates of the last click ``[(rle, score, kind), ...]``. The first positive
        click on a frame without a mask gets :func:`.classic_click.click_candidates`; every
        later click (and every click on a mask there: ``base``) edits the mask before it
        (:func:`.classic_refine.refine`). When the clicks extend the previous prompt there
        (``old``) by one, the mask in use (a candidate picked with Tab included) is edited.
        Otherwise the steps already made for the same first clicks (kept per object and
        frame: an undone click, a replayed project) are reused and the rest replayed."""
        h, w = fr.bins.shape
        pts_l = [tuple(p) for p in np.asarray(pts, float).reshape(-1, 2).tolist()]
        lab_l = [int(v) for v in np.asarray(lab).tolist()]
        sx, sy = self._small[0] / self.video.width, self._small[1] / self.video.height
        small_pts = [(x * sx, y * sy) for x, y in pts_l]
        sig = (id(self.video), hash(fr.rgb[::7, ::7].tobytes()))
        ch = o.chains.get(frame)
        others_rle = _rle(others)
        if (ch is None or ch["sig"] != sig or not _same_rle(ch["base"], base)
                or not _same_rle(ch["others"], others_rle)):
            ch = {"sig": sig, "base": base, "others": others_rle, "steps": []}
            o.chains[frame] = ch
        steps = ch["steps"]
        j = 0
        while j < min(len(steps), len(pts_l)) and (steps[j]["pts"], steps[j]["labs"]) == (pts_l[:j + 1], lab_l[:j + 1]):
            j += 1
        del steps[j:]
        if j == len(pts_l) and j > 0:  # these clicks were made before: their default again
            steps[-1]["mask"] = steps[-1]["cands"][0][0] if steps[-1]["cands"] else steps[-1]["default"]
            return _unrle(steps[-1]["mask"]), steps[-1]["cands"]
        state = None if base is None else _unrle(base)
        if j > 0:
            state = _unrle(steps[j - 1]["mask"])
        if (old is not None and old.points is not None and old.box is None and len(old.points) == len(pts_l) - 1
                and np.allclose(np.asarray(old.points, float).reshape(-1, 2), np.asarray(pts_l[:-1]).reshape(-1, 2))
                and [int(v) for v in old.labels] == lab_l[:-1] and _same_rle(old.base, base)):
            del steps[len(pts_l) - 1:]
            j, state = len(pts_l) - 1, _unrle(old.small)
        if state is not None and not state.any() and not any(lab_l[:j]):
            state = None
        cands: list[tuple[dict, float, str]] = []
        for i in range(j, len(pts_l)):
            p_i = [q for q, lb in zip(small_pts[:i + 1], lab_l[:i + 1]) if lb == 1]
            n_i = [q for q, lb in zip(small_pts[:i + 1], lab_l[:i + 1]) if lb == 0]
            if state is None and lab_l[i] != 1:
                cands = []
            elif state is None:
                # a fresh click: several candidates, the most likely first
                ev = self._motion_evidence(frame, p_i)
                got = classic_click.click_candidates(fr, p_i, n_i, others, self._moving(frame, p_i),
                                                     [self._small_mask(frame, k) for k in claimed], evidence=ev)
                got = classic_thin.prefer_thin(got)
                got = classic_thin.prefer_rider(got, ev, p_i, list(self._thin_masks(frame, o.id).values()), fr)
                if got:
                    state = got[0].mask
                    cands = [(_rle(c.mask), c.score, c.kind) for c in got]
                else:
                    state, cands = classic_click.segment(fr, p_i, n_i, None, None, others), []
            else:
                got = classic_refine.refine(fr, state, p_i, n_i, small_pts[i], lab_l[i] == 1, others)
                state = got[0].mask
                # an edit offers its alternatives (none when the click changed nothing)
                cands = [(_rle(c.mask), c.score, c.kind) for c in got] if len(got) > 1 else []
            now = _rle(state if state is not None else np.zeros((h, w), bool))
            steps.append({"pts": pts_l[:i + 1], "labs": lab_l[:i + 1], "cands": cands, "default": now, "mask": now})
        if state is None:
            state = np.zeros((h, w), bool)
        return state, cands

    def candidates(self, frame: int, obj: int) -> list[ObjectMask]:
        """The candidate masks offered for ``obj``'s latest click prompt on ``frame``, the
        engine's default first (the mask :meth:`add_prompt` returned); for a click that edited
        the mask there, the other parts it could add or remove. ``[]`` when there are none (no
        click there, a box, a mask, or an edit with no alternative). Scores rank the
        candidates (0..1)."""
        with self._lock:
            o = self._objects.get(int(obj))
            if o is None or int(frame) not in o.candidates:
                return []
            fr = self._frame(int(frame))
            others = self._other_masks_small(int(frame), int(obj))[0]
            out = []
            for rle, _score, _kind in o.candidates[int(frame)]:
                small = _unrle(rle)
                out.append(ObjectMask(self._prompt_full(int(frame), small, others), self._prompt_score(fr, small)))
            return out

    def candidate_kinds(self, frame: int, obj: int) -> list[str]:
        """How each of :meth:`candidates` was made (``"colour region"``, ``"box 0.11x2.2"``...)."""
        with self._lock:
            o = self._objects.get(int(obj))
            return [] if o is None else [k for _r, _s, k in o.candidates.get(int(frame), [])]

    def choose_candidate(self, frame: int, obj: int, k: int) -> FrameResult:
        """Make candidate ``k`` of :meth:`candidates` ``obj``'s mask on ``frame`` (further
        clicks there edit it) and return that frame's masks, as :meth:`add_mask` would."""
        from ..errors import PromptError

        with self._lock:
            frame, obj = int(frame), int(obj)
            o = self._objects.get(obj)
            cands = [] if o is None else o.candidates.get(frame, [])
            if not 0 <= int(k) < len(cands):
                raise PromptError(f"object {obj} has {len(cands)} candidate masks on frame {frame}, "
                                  f"not a candidate {k}")
            kf = o.keyframes[frame]
            fr = self._frame(frame)
            small = _unrle(cands[int(k)][0])
            full = self._prompt_full(frame, small, self._other_masks_small(frame, obj)[0])
            kf.mask, kf.small, kf.hist = _rle(full), _rle(small), _hist(fr.bins, small)
            kf.score = self._prompt_score(fr, small)
            ch = o.chains.get(frame)
            if ch and kf.points is not None and len(ch["steps"]) == len(kf.points):
                ch["steps"][-1]["mask"] = cands[int(k)][0]  # later clicks edit the mask picked
            o.cache.pop(frame, None)
            self._redo_riders(frame, obj)
            return self._frame_result(frame)

    def add_absent(self, frame: int, obj: int) -> FrameResult:
        """``obj`` is not visible on ``frame``: its mask there is empty, and propagation from
        there keeps it empty until its appearance model finds it again (or a new prompt)."""
        return self.add_mask(frame, obj, np.zeros((self.video.height, self.video.width), bool))

    def _moving(self, frame: int, pos) -> np.ndarray | None:
        """The region moving with the clicks between ``frame`` and a frame two steps away
        (:func:`.classic_click.comoving_region`); None for a single image or a still point."""
        n = len(self.video)
        for other in (frame + 2, frame - 2, frame + 1, frame - 1):
            if 0 <= other < n:
                break
        else:
            return None
        try:
            return classic_click.comoving_region(self._frame(frame), self._frame(other), self._dis, pos)
        except (cv2.error, IndexError):
            return None

    def _motion_evidence(self, frame: int, pos) -> np.ndarray | None:
        """Per pixel of ``frame``, how much better the clicks' motion explains it than the
        camera's (:func:`.classic_thin.motion_evidence`), against the frames before and after
        it (two after, or two before, at the ends of the video); None for a single image or
        a still point."""
        n = len(self.video)
        near = [g for g in (frame - 1, frame + 1) if 0 <= g < n]
        if len(near) == 1:
            near += [g for g in (frame - 2, frame + 2) if 0 <= g < n]
        if not near:
            return None
        try:
            fr = self._frame(frame)
            return classic_thin.motion_evidence(fr, [self._frame(g) for g in near], self._dis, pos)
        except (cv2.error, IndexError):
            return None

    def add_mask(self, frame, obj, mask) -> FrameResult:
        """Set ``obj``'s mask on ``frame`` as given (a colour mask counts any non-zero
        channel); an empty mask marks the object absent on that frame."""
        self.check_prompt(frame, obj, mask=mask)
        with self._lock:
            frame, obj = int(frame), int(obj)
            o = self._objects.setdefault(obj, _Object(obj))
            fr = self._frame(frame)
            full = np.asarray(mask)
            full = (full.any(axis=-1) if full.ndim == 3 else full).astype(bool)
            small = self._to_small(full)
            o.candidates.pop(frame, None)
            # a mask prompt is taken as given; an empty one marks the object absent there
            self._set_keyframe(o, frame, fr, full, small, None, None, None, None, 1.0 if full.any() else 0.0)
            return self._frame_result(frame)

    def _set_keyframe(self, o, frame, fr, full, small, pts, lab, bx, base, score) -> None:
        o.keyframes[frame] = _Keyframe(points=pts, labels=lab, box=bx, mask=_rle(full), small=_rle(small),
                                       hist=_hist(fr.bins, small), base=base, score=float(score))
        o.cache.pop(frame, None)

    def _other_masks_small(self, frame: int, obj: int, claim=()) -> tuple[np.ndarray, list[int]]:
        """Union of the other objects' masks on ``frame`` (internal resolution), and the ids
        of those under one of the points ``claim`` (left out of the union: a positive click
        on another object's mask claims that region for ``obj``)."""
        w, h = self._small
        acc = np.zeros((h, w), bool)
        claimed = []
        for k, o in self._objects.items():
            if k == obj:
                continue
            if frame in o.keyframes:
                m = _unrle(o.keyframes[frame].small)
            elif frame in o.cache:
                m = _unrle(o.cache[frame].vis)
            else:
                continue
            if any(m[min(h - 1, int(y)), min(w - 1, int(x))] for x, y in claim):
                claimed.append(k)
            else:
                acc |= m
        return acc, claimed

    def _thin_masks(self, frame: int, obj: int) -> dict[int, np.ndarray]:
        """Masks (internal resolution) of the objects other than ``obj`` whose click on
        ``frame`` made the lines moving with it their mask (thin objects: a bicycle), by id."""
        out = {}
        for k, o in self._objects.items():
            kf = o.keyframes.get(frame)
            if k == obj or kf is None or kf.points is None:
                continue
            if any(kind == classic_thin.MOVING_LINES and _same_rle(rle, kf.small)
                   for rle, _s, kind in o.candidates.get(frame, [])):
                out[k] = _unrle(kf.small)
        return out

    def _small_mask(self, frame: int, obj: int) -> np.ndarray:
        """``obj``'s mask on ``frame`` at the internal resolution (a prompt's or a computed one)."""
        o = self._objects[obj]
        if frame in o.keyframes:
            return _unrle(o.keyframes[frame].small)
        if frame in o.cache:
            return _unrle(o.cache[frame].vis)
        w, h = self._small
        return np.zeros((h, w), bool)

    def _give_up(self, frame: int, fr: _Frame, ids: list[int], taken: np.ndarray) -> None:
        """Remove ``taken`` (internal resolution) from the masks of objects ``ids`` on ``frame``.
        An object whose click there offered candidates and loses most of its mask (its
        default ran over the claiming object: a bicycle's mask over its rider) falls back to
        its most likely candidate that the claim leaves mostly whole and that is not much
        larger than the mask it lost."""
        for k in ids:
            o = self._objects[k]
            if frame in o.keyframes:
                kf = o.keyframes[frame]
                old = _unrle(kf.small)
                small = old & ~taken
                full = _unrle(kf.mask) & ~self._to_full(taken)
                cands = o.candidates.get(frame)
                if cands:
                    rest = [(_unrle(r) & ~taken, _unrle(r), s, kind) for r, s, kind in cands]
                    rest = [(m, m0, s, kind) for m, m0, s, kind in rest if m.any()]
                    if np.count_nonzero(small) < 0.5 * np.count_nonzero(old):
                        # mostly left whole by the claim, and no larger than twice the lost
                        # mask (a far larger region is the background around both objects)
                        whole = [i for i, (m, m0, _s, _k) in enumerate(rest)
                                 if np.count_nonzero(m) >= 0.7 * np.count_nonzero(m0)
                                 and np.count_nonzero(m) <= 2 * np.count_nonzero(old)]
                        if whole:
                            rest.insert(0, rest.pop(whole[0]))
                            small = rest[0][0]
                            full = self._prompt_full(frame, small, taken)
                            kf.score = self._prompt_score(fr, small)
                    o.candidates[frame] = [(_rle(m), s, kind) for m, _m0, s, kind in rest]
                kf.small, kf.mask, kf.hist = _rle(small), _rle(full), _hist(fr.bins, small)
            elif frame in o.cache:
                sn = o.cache[frame]
                sn.vis = _rle(_unrle(sn.vis) & ~taken)

    def _frame_result(self, frame: int) -> FrameResult:
        """Masks of every object on ``frame`` that has a prompt or a computed mask there."""
        out: FrameResult = {}
        for k in sorted(self._objects):
            o = self._objects[k]
            if frame in o.keyframes:
                kf = o.keyframes[frame]
                out[k] = ObjectMask(_unrle(kf.mask), kf.score)
            elif frame in o.cache:
                sn = o.cache[frame]
                out[k] = ObjectMask(self._to_full(_unrle(sn.vis)), sn.score)
        return out

    def _prompt_score(self, fr: _Frame, small: np.ndarray) -> float:
        if not small.any():
            return 0.0
        ring = _ring(small, 3, 12)
        if not ring.any():
            return 1.0
        lut = _log_ratio(_smooth_hist(_hist(fr.bins, small)), _smooth_hist(_hist(fr.bins, ring)))
        return float(np.clip(np.mean(_sigmoid(lut[fr.bins[small]])), 0.0, 1.0))

    # ---- single-frame segmentation -------------------------------------------------------
    # ---- propagation -------------------------------------------------------------------
    def propagate(
        self,
        start: int,
        direction: Direction = "forward",
        frame_range: tuple[int, int] | None = None,
        cancel: threading.Event | None = None,
        objects: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, FrameResult]]:
        """See :meth:`Engine.propagate`. With ``objects``, only those objects' results are
        yielded; every object is still tracked, since objects compete for pixels."""
        plan = self.iter_range(int(start), direction, frame_range)
        run = self._run(plan, cancel)
        if objects is None:
            return run
        keep = {int(o) for o in objects}
        return ((f, {o: m for o, m in res.items() if o in keep}) for f, res in run)

    def _run(self, plan, cancel) -> Iterator[tuple[int, FrameResult]]:
        for dname, frames in plan:
            sign = 1 if dname == "forward" else -1
            tracks: dict[int, _Track] = {}
            prev: _Frame | None = None
            for i, f in enumerate(frames):
                if cancel is not None and cancel.is_set():
                    return
                with self._lock:
                    cur = self._frame(f)
                    anchored: set[int] = set()
                    if i > 0 and tracks:
                        self._step(prev, cur, tracks)
                    for k, o in self._objects.items():
                        if f in o.keyframes:
                            tracks[k] = self._anchor(o, f, cur, sign, tracks.get(k), keyframe=True)
                            anchored.add(k)
                        elif i == 0 and f in o.cache:
                            tracks[k] = self._anchor(o, f, cur, sign, None, keyframe=False)
                    for k in [k for k in tracks if k not in self._objects]:
                        del tracks[k]  # removed while propagating
                    result: FrameResult = {}
                    kf_union = None
                    if anchored:
                        kf_union = np.zeros_like(cur.gray, dtype=bool)
                        for k in anchored:
                            kf_union |= tracks[k].vis
                    taken = None  # full-size pixels already given to an object on this frame
                    for k in sorted(tracks, key=lambda k: (k not in anchored, k)):
                        t = tracks[k]
                        o = self._objects[k]
                        if k in anchored:
                            kf = o.keyframes[f]
                            m = _unrle(kf.mask)
                            result[k] = ObjectMask(m, kf.score)
                        else:
                            if kf_union is not None and (t.vis & kf_union).any():
                                t.vis = t.vis & ~kf_union
                            others = None
                            for k2, t2 in tracks.items():
                                if k2 != k and k2 not in anchored and t2.vis.any():
                                    others = t2.vis.copy() if others is None else (others | t2.vis)
                            m = self._refine_full(f, t.vis, others, t.thin)
                            if t.full is not None:
                                m = self._carry_full(t, m)
                            if taken is not None:
                                m &= ~taken  # objects never share a pixel
                            result[k] = ObjectMask(m, t.score)
                            self._remember(o, f, t, sign)
                        taken = m.copy() if taken is None else (taken | m)
                    result = dict(sorted(result.items()))
                prev = cur
                yield f, result

    def _anchor(self, o: _Object, f: int, fr: _Frame, sign: int, old: _Track | None, keyframe: bool) -> _Track:
        """Tracking state of ``o`` on frame ``f`` from its prompt there (or the cache)."""
        fg_anchor = _smooth_hist(sum(kf.hist for kf in o.keyframes.values()))
        if keyframe:
            vis = _unrle(o.keyframes[f].small)
            sn = o.cache.get(f)
            if old is not None:
                vel, known = old.vel, old.vel_known
            elif sn is not None:
                vel, known = (sn.vel[0] * sign, sn.vel[1] * sign), True
            else:
                vel, known = (0.0, 0.0), False
            tmpl, pos, ref, hidden = None, (0.0, 0.0), 0.0, 0
            bb = _bbox(vis)
            if bb is not None:
                tmpl = vis[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
                pos = (float(bb[0]), float(bb[1]))
                ref = float(np.count_nonzero(vis))
                h, w = vis.shape
                if bb[0] == 0 or bb[1] == 0 or bb[2] == w or bb[3] == h:
                    # a prompt on an object partly out of the frame shows only part of it:
                    # keep the whole shape known from tracking (re-aligned on what is seen),
                    # or the object would come back in as the sliver it was here
                    whole = self._known_shape(o, f, old)
                    if whole is not None and whole[2] > 1.25 * ref:
                        canvas = _paste_soft(whole[0], whole[1], (h, w))
                        d = _align(canvas, vis, np.ones((h, w), bool), radius=max(3, min(whole[0].shape) // 4))
                        tmpl, pos, ref = whole[0], (whole[1][0] + d[0], whole[1][1] + d[1]), whole[2]
            else:
                # an empty mask prompt: the object is absent here; keep what is known of its
                # shape so that it can be found again later
                hidden = 1
                src = old
                if src is not None and src.tmpl is not None:
                    tmpl, pos, ref, hidden = src.tmpl, src.pos, src.ref_area, max(1, src.hidden)
                elif sn is not None and sn.tmpl is not None:
                    tmpl, pos, ref = _unrle(sn.tmpl).astype(np.float32), sn.pos, sn.ref_area
            score = o.keyframes[f].score
        else:
            sn = o.cache[f]
            vis = _unrle(sn.vis)
            tmpl = None if sn.tmpl is None else _unrle(sn.tmpl).astype(np.float32)
            pos, ref, hidden, score = sn.pos, sn.ref_area, sn.hidden, sn.score
            vel, known = (sn.vel[0] * sign, sn.vel[1] * sign), True
        fg = fg_anchor
        if keyframe and o.keyframes[f].hist.sum() > 0:
            fg = 0.5 * _smooth_hist(o.keyframes[f].hist) + 0.5 * fg_anchor
        bg = self._ring_hist(fr, vis if vis.any() else (None if tmpl is None else _paste(tmpl >= 0.5, pos, vis.shape)))
        thin = self._is_thin(tmpl)
        return _Track(vis=vis, tmpl=tmpl, pos=pos, vel=vel, vel_known=known, hidden=hidden, ref_area=ref,
                      fg=fg, fg_anchor=fg_anchor, bg=bg, score=score, anchor_area=ref,
                      anchor_score=self._prompt_score(fr, vis) if keyframe else score,
                      thin=thin, full=_unrle(o.keyframes[f].mask) if thin and keyframe and vis.any() else None)

    def _is_thin(self, tmpl: np.ndarray | None) -> bool:
        """Whether an object of amodal template ``tmpl`` is thin: its mean width (twice its
        area over its outline) at most :attr:`THIN_WIDTH` internal pixels, and not tiny."""
        if tmpl is None:
            return False
        m = tmpl >= 0.5
        a = np.count_nonzero(m)
        return a >= self.THIN_MIN_AREA and classic_thin._width(m) <= self.THIN_WIDTH

    def _redetect(self, fr: _Frame, t: _Track, exclude: np.ndarray, better_than: float | None = None
                  ) -> tuple[float, float] | None:
        """Where the hidden object ``t`` reappears on ``fr``: the template-sized window with the
        highest mean colour log-likelihood ratio (object model against the whole frame),
        accepted when its colour histogram is similar enough to the object's (Bhattacharyya
        coefficient). Returns the template's new top-left corner, or None. With
        ``better_than`` (a lost object that is still partly seen), the window must also score
        that much more than the template's current place and lie clear of it."""
        tm = t.tmpl >= 0.5
        bb = _bbox(tm)
        if bb is None:
            return None
        tm = tm[bb[1]:bb[3], bb[0]:bb[2]]
        th, tw = tm.shape
        h, w = fr.bins.shape
        lut = _log_ratio(t.fg_anchor, _smooth_hist(fr.global_hist), self.LR_CLIP)
        P = lut[fr.bins]
        P[exclude] = -self.LR_CLIP
        S = cv2.boxFilter(P, -1, (max(1, tw), max(1, th)), borderType=cv2.BORDER_CONSTANT)
        y, x = np.unravel_index(int(np.argmax(S)), S.shape)
        if S[y, x] <= 0.3:
            return None
        x0, y0 = x - tw // 2, y - th // 2
        if better_than is not None:
            cx = int(round(t.pos[0] + bb[0] + tw // 2))
            cy = int(round(t.pos[1] + bb[1] + th // 2))
            here = float(S[min(h - 1, max(0, cy)), min(w - 1, max(0, cx))])
            if S[y, x] < here + better_than or (abs(x - cx) < 0.5 * tw and abs(y - cy) < 0.5 * th):
                return None
        win = _paste(tm, (x0, y0), (h, w)) & ~exclude
        if np.count_nonzero(win) < 0.25 * tm.size:
            return None
        q = _smooth_hist(_hist(fr.bins, win))
        if float(np.sum(np.sqrt(q * t.fg_anchor))) < self.REDETECT_SIMILARITY:
            return None
        return float(x0 - bb[0]), float(y0 - bb[1])

    def _ring_hist(self, fr: _Frame, m: np.ndarray | None, exclude: np.ndarray | None = None) -> np.ndarray:
        """Colour histogram of a band around ``m`` (its local surroundings), leaving out
        ``exclude`` (the other tracked objects: an object next to one that looks the same, a
        cup beside its twin, must not learn its own colours as background)."""
        if m is None or not m.any():
            return _smooth_hist(fr.global_hist)
        r = max(6, int(0.35 * np.sqrt(np.count_nonzero(m))))
        ring = _ring(m, 2, r)
        if exclude is not None:
            ring &= ~exclude
        if np.count_nonzero(ring) < 20:
            return _smooth_hist(fr.global_hist)
        return _smooth_hist(_hist(fr.bins, ring))

    def _known_shape(self, o: _Object, f: int, old: _Track | None
                     ) -> tuple[np.ndarray, tuple[float, float], float] | None:
        """``(template, position, area)`` of ``o``'s amodal shape near frame ``f``: the running
        track's, or that of a cached state on a neighbouring frame; None when unknown."""
        if old is not None and old.tmpl is not None:
            return old.tmpl, old.pos, old.ref_area
        for g in (f - 1, f + 1, f):
            sn = o.cache.get(g)
            if sn is not None and sn.tmpl is not None:
                return _unrle(sn.tmpl).astype(np.float32), sn.pos, sn.ref_area
        return None

    def _match_shift(self, prev: _Frame, cur: _Frame, vis: np.ndarray, guess: tuple[float, float],
                     radius: int | None = None) -> tuple[float, float] | None:
        """The object's displacement from ``prev`` to ``cur``: where its pixels on ``prev``
        (``vis`` and a pixel around it, for the contrast of its outline) best match ``cur``
        (masked sum of squared differences, within ``radius`` of ``guess``, sub-pixel).
        None when the best match lies on the search window's limit."""
        h, w = vis.shape
        bb = _bbox(vis)
        if bb is None:
            return None
        pad = 2
        x0, y0, x1, y1 = max(0, bb[0] - pad), max(0, bb[1] - pad), min(w, bb[2] + pad), min(h, bb[3] + pad)
        m = _dilate(vis[y0:y1, x0:x1], 1).astype(np.float32)
        tmpl = prev.gray[y0:y1, x0:x1].astype(np.float32)
        gx, gy = int(round(guess[0])), int(round(guess[1]))
        r = int(radius or self.MATCH_RADIUS)
        # the search window, cut by the frame (an object at the border cannot move past it)
        sx0, sy0 = max(0, x0 + gx - r), max(0, y0 + gy - r)
        sx1, sy1 = min(w, x1 + gx + r), min(h, y1 + gy + r)
        if sx1 - sx0 < x1 - x0 + 2 or sy1 - sy0 < y1 - y0 + 2:
            return None
        area = cur.gray[sy0:sy1, sx0:sx1].astype(np.float32)
        res = cv2.matchTemplate(area, tmpl, cv2.TM_SQDIFF, mask=m)
        iy, ix = np.unravel_index(int(np.argmin(res)), res.shape)
        # a best match on the search limit (not the frame's edge) may lie farther: no answer
        if (ix == 0 and sx0 > 0) or (iy == 0 and sy0 > 0) or \
                (ix == res.shape[1] - 1 and sx1 < w) or (iy == res.shape[0] - 1 and sy1 < h):
            return None

        def sub(a, b, c):
            den = a - 2 * b + c
            return 0.0 if den <= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))

        dx = sx0 + ix - x0 + (sub(res[iy, ix - 1], res[iy, ix], res[iy, ix + 1]) if 0 < ix < res.shape[1] - 1 else 0.0)
        dy = sy0 + iy - y0 + (sub(res[iy - 1, ix], res[iy, ix], res[iy + 1, ix]) if 0 < iy < res.shape[0] - 1 else 0.0)
        return float(dx), float(dy)

    def _far_step(self, prev: _Frame, cur: _Frame, t: _Track, vb: tuple[int, int, int, int],
                  avoid: np.ndarray | None) -> tuple[float, float] | None:
        """The step of an object that moved far from where its speed puts it (the flow lost
        it: a ball kicked, blurred), which may take a small object farther than its own size in
        one frame: where its pixels of the previous frame match best (:meth:`_match_shift`)
        within twice its size (``vb``: its box) of where its speed puts it, at most a quarter
        of the frame. None when they match nowhere in that reach (the best match on the
        search's limit), or when the match puts its shape largely on ``avoid`` (its twin, or
        where one was last followed: a look-alike matches as well)."""
        h, w = t.vis.shape
        size = max(vb[2] - vb[0], vb[3] - vb[1])
        r = int(min(2 * size, max(h, w) // 4))
        if r <= self.MATCH_RADIUS:
            return None
        found = self._match_shift(prev, cur, t.vis, t.vel, r)
        if found is None or avoid is None or t.tmpl is None:
            return found
        m = _paste(t.tmpl >= 0.5, (t.pos[0] + found[0], t.pos[1] + found[1]), (h, w))
        if np.count_nonzero(m & avoid) > self.COVERED_SHARE * max(1, np.count_nonzero(m)):
            return None
        return found

    def _motion_term(self, score: np.ndarray, flow: np.ndarray, rel: np.ndarray, W: np.ndarray,
                     step: tuple[float, float], others: list[np.ndarray | None]) -> np.ndarray | None:
        """Subtract from ``score`` (in place) where a pixel near the object moves like its
        surroundings rather than like the object: where the object's own motion (``step``)
        differs from the background's around it (camera motion), a pixel whose flow is the
        background's is unlikely to be the object (the trail of uncovered background a
        warped mask drags along). Only a penalty: flow bleeds a few pixels past an object's
        outline, so moving like the object is no evidence of being it. Weighted by the flow's
        reliability. Returns the penalty's strength per pixel (0..1, the whole frame), or None
        where motion said nothing."""
        h, w = score.shape
        m = W > 0.5
        bb = _bbox(m)
        if bb is None:
            return None
        a = float(np.count_nonzero(m))
        r = max(4, int(0.3 * np.sqrt(a)))
        x0, y0 = max(0, bb[0] - 2 * r), max(0, bb[1] - 2 * r)
        x1, y1 = min(w, bb[2] + 2 * r), min(h, bb[3] + 2 * r)
        mc = m[y0:y1, x0:x1]
        ring = _ring(mc, 3, r) & (rel[y0:y1, x0:x1] > 0.5)
        for o in others:
            if o is not None:
                ring &= ~(o[y0:y1, x0:x1] > 0.5)
        if np.count_nonzero(ring) < 20:
            return None
        fc = flow[y0:y1, x0:x1]
        fb = np.median(fc[ring], axis=0)
        fo = np.float32([-step[0], -step[1]])
        sep2 = float(((fo - fb) ** 2).sum())
        if sep2 < self.MOTION_MIN_SEP ** 2:
            return None  # the object moves with its surroundings: motion says nothing
        # |f - fb|^2 - |f - fo|^2 = 2 f.(fo - fb) + |fb|^2 - |fo|^2 (linear in the flow)
        a = 2.0 * (fo - fb)
        c = float((fb ** 2).sum() - (fo ** 2).sum())
        diff = cv2.addWeighted(fc[..., 0], float(a[0]), fc[..., 1], float(a[1]), c)
        mt = np.clip(diff / sep2, -1.0, 0.0)  # flow bleeds past edges: only a penalty
        conf = min(1.0, np.sqrt(sep2) / (2.0 * self.MOTION_MIN_SEP))
        pen = np.zeros((h, w), np.float32)
        pen[y0:y1, x0:x1] = (-conf) * mt * rel[y0:y1, x0:x1]
        score[y0:y1, x0:x1] -= self.W_MOTION * pen[y0:y1, x0:x1]
        return pen

    @staticmethod
    def _window_evidence(L: np.ndarray, tmpl: np.ndarray, pos: tuple[float, float]) -> float:
        """Mean appearance log-ratio ``L`` over the template's pixels placed at ``pos``
        (pixels outside the frame count as -1: an object does not go there unseen)."""
        h, w = L.shape
        tm = tmpl >= 0.5
        n = np.count_nonzero(tm)
        if n == 0:
            return -1.0
        m = _paste(tm, pos, (h, w))
        inside = np.count_nonzero(m)
        return (float(L[m].sum()) - (n - inside)) / n

    def _motion_competition(self, scores: np.ndarray, ids: list[int], steps: dict[int, tuple[float, float]],
                            flow: np.ndarray, rel: np.ndarray, warped: dict[int, np.ndarray | None],
                            shapes: dict[int, np.ndarray | None]) -> None:
        """Where two objects meet and move differently, a pixel whose flow is one's step
        rather than the other's is unlikely to be the other's (``scores``, planes 1.. in the
        order of ``ids``, lowered in place). Two objects that look the same (identical cups
        passing each other) cannot be told apart by colour; which way a pixel moves can:
        without this the one passing behind keeps the pixels of the one passing in front and
        is dragged along with it. Only a penalty, weighted by the flow's reliability."""
        h, w = rel.shape
        boxes = {}
        for k in ids:
            m = None
            if warped[k] is not None:
                m = warped[k] > 0.5
            if shapes[k] is not None:
                m = (shapes[k] > 0.5) if m is None else (m | (shapes[k] > 0.5))
            boxes[k] = None if m is None else _bbox(m)
        for a_i, ka in enumerate(ids):
            for b_i in range(a_i + 1, len(ids)):
                kb = ids[b_i]
                ba, bb = boxes[ka], boxes[kb]
                if ba is None or bb is None:
                    continue
                pad = 4
                if ba[0] > bb[2] + pad or bb[0] > ba[2] + pad or ba[1] > bb[3] + pad or bb[1] > ba[3] + pad:
                    continue  # apart: nothing to tell
                sa = np.float32([-steps[ka][0], -steps[ka][1]])  # flow of a pixel of a (cur -> prev)
                sb = np.float32([-steps[kb][0], -steps[kb][1]])
                sep2 = float(((sa - sb) ** 2).sum())
                if sep2 < (2.0 * self.MOTION_MIN_SEP) ** 2:
                    continue  # they move alike: motion says nothing
                x0, y0 = max(0, min(ba[0], bb[0]) - pad), max(0, min(ba[1], bb[1]) - pad)
                x1, y1 = min(w, max(ba[2], bb[2]) + pad), min(h, max(ba[3], bb[3]) + pad)
                fc = flow[y0:y1, x0:x1]
                # |f - sa|^2 - |f - sb|^2 = 2 f.(sb - sa) + |sa|^2 - |sb|^2, in units of sep2:
                # -1 where the pixel moves exactly like a, +1 exactly like b
                g = 2.0 * (sb - sa)
                c = float((sa ** 2).sum() - (sb ** 2).sum())
                d = cv2.addWeighted(fc[..., 0], float(g[0]), fc[..., 1], float(g[1]), c) / sep2
                conf = min(1.0, np.sqrt(sep2) / (4.0 * self.MOTION_MIN_SEP)) * rel[y0:y1, x0:x1]
                ia, ib = 1 + a_i, 1 + b_i
                scores[ia, y0:y1, x0:x1] -= self.W_MOTION * conf * np.clip(d, 0.0, 1.0)
                scores[ib, y0:y1, x0:x1] -= self.W_MOTION * conf * np.clip(-d, 0.0, 1.0)

    def _twin_window(self, t: _Track, h: int, w: int) -> tuple[int, int, int, int]:
        """The part of the frame where a twin of ``t`` matters: its template's box, grown by
        its size."""
        th, tw = t.tmpl.shape
        g = max(th, tw)
        x0, y0 = int(t.pos[0] + t.vel[0]) - g, int(t.pos[1] + t.vel[1]) - g
        return max(0, x0), max(0, y0), min(w, x0 + tw + 2 * g), min(h, y0 + th + 2 * g)

    def _find_twin(self, t: _Track, L: np.ndarray, flow: np.ndarray, rel: np.ndarray, W: np.ndarray,
                   step: tuple[float, float], others: list[np.ndarray | None]) -> np.ndarray | None:
        """An untracked object near ``t`` that looks like it and moves differently (the cup
        the user did not click, carried past this one): pixels next to the object, outside its
        warped mask and every other object's, that look clearly like the object, in one piece
        at least a fifth of its size, moving together at a step clearly not the object's.
        Records it in ``t.twin`` and returns its pixels, or None."""
        h, w = L.shape
        x0, y0, x1, y1 = self._twin_window(t, h, w)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        cand = (L[y0:y1, x0:x1] > 1.0) & (rel[y0:y1, x0:x1] > 0.5) & ~_dilate(W[y0:y1, x0:x1] > 0.5, 2)
        for o in others:
            if o is not None:
                cand &= ~(o[y0:y1, x0:x1] > 0.5)
        min_area = 0.2 * t.ref_area
        if np.count_nonzero(cand) < min_area:
            return None
        disp = -flow[y0:y1, x0:x1]
        sep = self.TWIN_MIN_SEP
        moving = ((disp[..., 0] - step[0]) ** 2 + (disp[..., 1] - step[1]) ** 2) > sep * sep
        cand &= moving
        n, lab, st, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
        if n < 2:
            return None
        c = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
        if not min_area <= st[c, cv2.CC_STAT_AREA] <= 1.5 * t.ref_area:
            return None  # (larger than the object: the background of its colour)
        comp = lab == c
        d = disp[comp]
        s = np.median(d, axis=0)
        if np.hypot(s[0] - step[0], s[1] - step[1]) < sep:
            return None
        # one moving with the object's surroundings must be a whole look-alike (a cup standing
        # still that this one passes), not a patch of the background of its colour (which the
        # motion term already keeps out)
        # (the surroundings: the rest of the twin's search window, whose motion is mostly the
        # camera's; a ring around the object moves along with what carries it, a hand)
        ring = ~_dilate(W[y0:y1, x0:x1] > 0.5, 5) & ~comp & (rel[y0:y1, x0:x1] > 0.5)
        for o in others:
            if o is not None:
                ring &= ~(o[y0:y1, x0:x1] > 0.5)
        if np.count_nonzero(ring) >= 20:
            fb = np.median(disp[ring][::4], axis=0)
            if np.hypot(s[0] - fb[0], s[1] - fb[1]) < sep and st[c, cv2.CC_STAT_AREA] < 0.5 * t.ref_area:
                return None
        # moving together (a rigid thing carried), not scattered flow
        if np.mean(np.hypot(d[:, 0] - s[0], d[:, 1] - s[1]) < 0.5 * sep) < 0.5:
            return None
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = comp
        t.twin = (m, (float(s[0]), float(s[1])))
        t.twin_left = None
        return m

    def _follow_twin(self, t: _Track, L: np.ndarray, flow: np.ndarray, rel: np.ndarray) -> np.ndarray | None:
        """Move ``t``'s twin onto the current frame, by the median motion of its pixels: those
        near where its step puts it that look like the object and move more like the twin
        than like the object. Dropped when it leaves the object's surroundings, is no longer
        seen moving or moves like the object (motion cannot tell them apart then); its last
        place is kept in ``t.twin_left`` for ``TWIN_KEEP`` frames (where the object is not
        looked for: a twin that stopped there). Returns its pixels, or None."""
        h, w = L.shape
        m, s = t.twin
        t.twin = None
        t.twin_left = (m, self.TWIN_KEEP)
        own = t.vel if t.vel_known else (0.0, 0.0)
        sa, sb = np.float32(own), np.float32(s)
        sep2 = float(((sa - sb) ** 2).sum())
        if sep2 < self.TWIN_MIN_SEP ** 2:
            return None  # moving alike: motion cannot tell them apart
        sm = np.float32([[1, 0, s[0]], [0, 1, s[1]]])
        pred = cv2.warpAffine(m.astype(np.uint8), sm, (w, h), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        t.twin_left = (pred, self.TWIN_KEEP)
        x0, y0, x1, y1 = self._twin_window(t, h, w)
        near = np.zeros((h, w), bool)
        near[y0:y1, x0:x1] = True
        pb = _bbox(pred & near)
        if pb is None:
            return None  # gone from the object's surroundings
        pad = 4
        bx0, by0, bx1, by1 = max(0, pb[0] - pad), max(0, pb[1] - pad), min(w, pb[2] + pad), min(h, pb[3] + pad)
        region = _dilate(pred[by0:by1, bx0:bx1], 3) & (L[by0:by1, bx0:bx1] > 0) & (rel[by0:by1, bx0:bx1] > 0.3)
        disp = -flow[by0:by1, bx0:bx1]
        # > 0: moves more like the twin than like the object
        g = 2.0 * (sb - sa)
        c = float((sa ** 2).sum() - (sb ** 2).sum())
        px = region & ((disp[..., 0] * g[0] + disp[..., 1] * g[1] + c) > 0)
        if np.count_nonzero(px) < 0.1 * t.ref_area:
            return None  # no longer seen moving
        d = disp[px]
        s2 = (float(np.median(d[:, 0])), float(np.median(d[:, 1])))
        sm = np.float32([[1, 0, s2[0]], [0, 1, s2[1]]])
        new = cv2.warpAffine(m.astype(np.uint8), sm, (w, h), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        grown = new.copy()
        grown[by0:by1, bx0:bx1] |= px
        if np.count_nonzero(grown) <= 1.2 * t.ref_area:  # (not growing into the object)
            new = grown
        t.twin = (new, s2)
        t.twin_left = None
        return new

    def _twin_term(self, score: np.ndarray, flow: np.ndarray, rel: np.ndarray, twin: np.ndarray,
                   step: tuple[float, float], twin_step: tuple[float, float]) -> None:
        """Lower ``score`` (in place) around the twin where a pixel moves like the twin rather
        than like the object (as :meth:`_motion_competition` does between tracked objects;
        twice as much, since the twin has no score of its own to win its pixels with: between
        two tracked objects the two sides' penalties add up)."""
        h, w = score.shape
        bb = _bbox(twin)
        if bb is None:
            return
        sa, sb = np.float32([-step[0], -step[1]]), np.float32([-twin_step[0], -twin_step[1]])
        sep2 = float(((sa - sb) ** 2).sum())
        if sep2 < self.TWIN_MIN_SEP ** 2:
            return
        pad = 6
        x0, y0, x1, y1 = max(0, bb[0] - pad), max(0, bb[1] - pad), min(w, bb[2] + pad), min(h, bb[3] + pad)
        fc = flow[y0:y1, x0:x1]
        g = 2.0 * (sb - sa)
        c = float((sa ** 2).sum() - (sb ** 2).sum())
        d = cv2.addWeighted(fc[..., 0], float(g[0]), fc[..., 1], float(g[1]), c) / sep2
        conf = min(1.0, np.sqrt(sep2) / (4.0 * self.MOTION_MIN_SEP)) * rel[y0:y1, x0:x1]
        score[y0:y1, x0:x1] -= 2.0 * self.W_MOTION * conf * np.clip(d, 0.0, 1.0)

    def _remember(self, o: _Object, f: int, t: _Track, sign: int) -> None:
        o.cache[f] = _Snapshot(vis=_rle(t.vis), tmpl=None if t.tmpl is None else _rle(t.tmpl >= 0.5), pos=t.pos,
                               vel=(t.vel[0] * sign, t.vel[1] * sign), hidden=t.hidden, ref_area=t.ref_area,
                               score=t.score)
        o.cache.move_to_end(f)
        while len(o.cache) > self.cache_frames:
            o.cache.popitem(last=False)

    def _step(self, prev: _Frame, cur: _Frame, tracks: dict[int, _Track]) -> None:
        """Move every track from ``prev`` to ``cur`` (the heart of the engine)."""
        h, w = cur.gray.shape
        flow = self._dis.calc(cur.gray, prev.gray, None)  # cur(x) ~ prev(x + flow(x))
        maps = self._grid + flow
        # forward-backward consistency: where the two flows disagree (disocclusions, motion
        # boundaries) the warped masks are not trusted and appearance decides
        fwd = self._dis.calc(prev.gray, cur.gray, None)
        back = cv2.remap(fwd, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        bf = back + flow
        err = cv2.magnitude(bf[..., 0], bf[..., 1])
        mag = cv2.magnitude(flow[..., 0], flow[..., 1])
        rel = np.exp(-((err / (0.75 + 0.1 * mag)) ** 2)).astype(np.float32)
        rel = cv2.GaussianBlur(rel, (0, 0), 1.0)
        ids = sorted(tracks)
        warped: dict[int, np.ndarray] = {}
        for k in ids:
            t = tracks[k]
            if t.vis.any():
                warped[k] = cv2.remap(t.vis.astype(np.float32), maps, None, cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            else:
                warped[k] = None
        scores = np.zeros((len(ids) + 1, h, w), np.float32)  # 0: background
        shapes: dict[int, np.ndarray | None] = {}
        raw_shapes: dict[int, np.ndarray] = {}
        steps: dict[int, tuple[float, float]] = {}
        twins: dict[int, np.ndarray | None] = {}
        for j, k in enumerate(ids, start=1):
            t = tracks[k]
            W = warped[k]
            t.lut = _log_ratio(t.fg, t.bg, self.LR_CLIP)
            L = t.lut[cur.bins]
            # motion: median displacement of the pixels the warp keeps for this object (only
            # from its interior, away from other objects, where the flow is consistent, and
            # only while most of it is visible: the motion model must not learn the
            # occluder's motion). Hidden objects coast at their last velocity.
            step = t.vel
            measured = False
            far = False  # the step found far from the speed, by matching (the flow lost the object)
            twin = self._follow_twin(t, L, flow, rel) if t.twin is not None else None
            # (a twin, or where one was last followed, is no place to look for the object)
            avoid = None if twin is None else twin.copy()
            if t.twin_left is not None:
                avoid = t.twin_left[0].copy() if avoid is None else (avoid | t.twin_left[0])
                t.twin_left = (t.twin_left[0], t.twin_left[1] - 1) if t.twin_left[1] > 1 else None
            if W is not None and t.thin and t.hidden == 0:
                # tubes a few pixels wide: the flow there is smoothed into the background's;
                # match the object's own pixels and move it as a whole
                found = self._match_shift(prev, cur, t.vis, t.vel)
                if found is not None:
                    step, measured = found, True
            if not measured and W is not None and np.count_nonzero(t.vis) >= 0.4 * t.ref_area:
                core = _erode(W > 0.5, 3) & (rel > 0.5)
                if twin is not None:
                    core &= ~_dilate(twin, 3)
                for k2 in ids:
                    if k2 != k and warped[k2] is not None:
                        core &= ~_dilate(warped[k2] > 0.5, 5)
                n = np.count_nonzero(core)
                vb = _bbox(t.vis)
                at_edge = vb is not None and (vb[0] == 0 or vb[1] == 0 or vb[2] == w or vb[3] == h)
                if t.refound and not t.vel_known and at_edge:
                    # just found again at the frame's border, speed unknown: the flow has
                    # little to go on there; match the object's pixels, searching widely
                    found = self._match_shift(prev, cur, t.vis, t.vel, 2 * self.MATCH_RADIUS)
                    if found is not None:
                        step, measured = found, True
                if not measured and n >= max(12, 0.15 * t.ref_area):
                    d = flow[core]
                    if n > 4000:
                        d = d[:: n // 4000]
                    step = (-float(np.median(d[:, 0])), -float(np.median(d[:, 1])))
                    measured = True
                elif not measured:
                    # too thin (or too covered) for an interior the flow can be read in: match
                    # the object's own pixels of the previous frame on this one instead
                    found = self._match_shift(prev, cur, t.vis, t.vel)
                    if (found is None and vb is not None and t.tmpl is not None
                            and np.count_nonzero(t.vis) >= self.SHAPE_MIN_AREA * t.ref_area):
                        # not near where its speed puts it: a sudden fast move (a ball kicked,
                        # blurred: the flow loses it), which may take a small object farther
                        # than its own size in one frame; search as far as twice its size.
                        # Only for an object seen whole (one partly covered loses its flow to
                        # its coverer), and not onto its twin (which would match as well)
                        found = self._far_step(prev, cur, t, vb, avoid)
                        far = found is not None
                    if found is not None:
                        step, measured = found, True
            if t.tmpl is not None and t.hidden > 0:
                tmpl_area = float(np.count_nonzero(t.tmpl >= 0.5)) or 1.0
                inside = float(np.count_nonzero(_paste(t.tmpl >= 0.5, t.pos, (h, w)))) / tmpl_area
                if inside < 0.2:
                    # gone off-screen: wait at the border; how it will come back is unknown
                    step = (0.0, 0.0)
                    t.vel, t.vel_known = (0.0, 0.0), False
                if inside < 0.5 or t.hidden > self.REDETECT_AFTER:
                    # the motion model has lost it: look for it over the whole frame
                    exclude = np.zeros((h, w), bool) if avoid is None else avoid
                    for k2 in ids:
                        if k2 != k and warped[k2] is not None:
                            exclude |= warped[k2] > 0.5
                    found = self._redetect(cur, t, exclude)
                    if found is not None:
                        t.pos, step = found, (0.0, 0.0)
                        t.vel, t.vel_known = (0.0, 0.0), False
                        t.hidden = 1
                        t.realign = t.refound = True
                        t.full = None
            elif t.tmpl is not None and (np.count_nonzero(t.vis) < 0.6 * max(t.ref_area, 0.8 * t.anchor_area)
                                         or t.score < self.LOST_SCORE * t.anchor_score):
                # seen, but much smaller than it should be or much less like itself, clear of
                # other objects: the mask may have been left behind (a fast move) and hold
                # on to the background; look for a far
                # better place over the whole frame, and move there
                tm = t.tmpl >= 0.5
                inside = float(np.count_nonzero(_paste(tm, t.pos, (h, w)))) / (float(np.count_nonzero(tm)) or 1.0)
                exclude = np.zeros((h, w), bool) if avoid is None else avoid
                for k2 in ids:
                    if k2 != k and warped[k2] is not None:
                        exclude |= warped[k2] > 0.5
                # (an object half out of the frame is smaller as it should be; unless it
                # also looks much less like itself: then what is left at the border is not it)
                lost = t.score < self.LOST_SCORE * t.anchor_score
                # (and one that moves as its speed says, its motion measured on this frame, is
                # not left behind: partly covered, by a hand, a twin passing in front)
                steady = t.vel_known and np.hypot(step[0] - t.vel[0], step[1] - t.vel[1]) <= max(
                    self.COAST_JUMP, 0.4 * np.hypot(*t.vel)) and np.hypot(*t.vel) >= self.COAST_JUMP
                # (nor one whose shape lies largely under another object's mask: covered by
                # it, as a cup its twin passes in front of)
                moved = _paste(tm, (t.pos[0] + step[0], t.pos[1] + step[1]), (h, w))
                under = np.count_nonzero(moved & exclude) > self.COVERED_SHARE * max(1, np.count_nonzero(moved))
                if ((inside >= 0.5 or lost) and not steady and not under
                        and not (_dilate(t.vis, 4) & exclude).any()):
                    # compared with where the motion measured on this frame puts it
                    here = t.pos
                    t.pos = (here[0] + step[0], here[1] + step[1])
                    found = self._redetect(cur, t, exclude, better_than=self.RELOCATE_MARGIN)
                    t.pos = here
                    reach = max(tm.shape) + self.RELOCATE_REACH * np.hypot(*t.vel)
                    if (found is not None
                            and np.hypot(found[0] - here[0] - step[0], found[1] - here[1] - step[1]) > reach):
                        # a slow object does not go far unseen: what looks like it farther
                        # away is another object (its twin across the table); it is covered
                        # where it is (a hand over it)
                        found = None
                    if (found is not None
                            and self._window_evidence(L, t.tmpl, (here[0] + step[0], here[1] + step[1]))
                            > self._window_evidence(L, t.tmpl, found) - self.RELOCATE_MARGIN):
                        # its shape where it is looks about as much like it as at the new
                        # place: partly covered (a hand over it, blurred), not left behind on
                        # the background; the new place is likelier another object that looks
                        # the same
                        found = None
                    if found is not None:
                        t.pos, step = found, (0.0, 0.0)
                        t.vel, t.vel_known = (0.0, 0.0), False
                        t.hidden = 1
                        t.realign = t.refound = True
                        t.full = None
                        warped[k] = W = None
            coasting = False
            if (measured and W is not None and t.vel_known and t.hidden == 0 and t.tmpl is not None
                    and np.hypot(step[0] - t.vel[0], step[1] - t.vel[1])
                    > max(self.COAST_JUMP, 0.4 * np.hypot(*t.vel))):
                # a fast object whose pixels seem to have stopped (or turned) at once: either it
                # did, or it went behind something that looks like it (a cup passing behind its
                # twin) and the flow measured the twin. Its whole shape, where its speed puts it,
                # decides: kept when it looks at least as much like the object there as where
                # the flow puts it (a real stop leaves that place on the background)
                e_pred = self._window_evidence(L, t.tmpl, (t.pos[0] + t.vel[0], t.pos[1] + t.vel[1]))
                e_meas = self._window_evidence(L, t.tmpl, (t.pos[0] + step[0], t.pos[1] + step[1]))
                if e_pred >= e_meas - self.COAST_MARGIN:
                    step, measured, coasting = t.vel, False, True
            steps[k] = step
            if W is not None and (not measured or t.thin or far) and t.hidden == 0 and t.tmpl is not None:
                # mostly covered: what is left of it lies at the edge of whatever covers it,
                # where the flow is the coverer's; moved by the flow it would be dragged along
                # with it (a cup passing in front of its twin, a hand over it). It moves as a
                # whole at its own speed instead; so does a thin object (the flow smooths its
                # tubes into the background around them)
                sm = np.float32([[1, 0, step[0]], [0, 1, step[1]]])
                warped[k] = W = cv2.warpAffine(t.vis.astype(np.float32), sm, (w, h), flags=cv2.INTER_LINEAR,
                                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if t.tmpl is not None:
                t.pos = (t.pos[0] + step[0], t.pos[1] + step[1])
                A = _paste_soft(t.tmpl, t.pos, (h, w))
                raw_shapes[k] = A
                sig = 0.8 + min(4.0, 0.4 * t.hidden)
                if t.hidden > 0:  # the longer it is hidden, the less sure where it is
                    A = cv2.dilate(A, _kernel(int(min(6, 1 + 0.5 * t.hidden))))
                A = cv2.GaussianBlur(A, (0, 0), sig)
            else:
                A = None
            shapes[k] = A
            # where the flow is not trusted, the warped mask gives way to the shape prediction
            Wb = cv2.GaussianBlur(W, (0, 0), 1.0) if W is not None else np.zeros((h, w), np.float32)
            Af = A if A is not None else np.zeros((h, w), np.float32)
            Wt = rel * Wb + (1.0 - rel) * Af
            ww, ws = (self.W_WARP_THIN, self.W_SHAPE_THIN) if t.thin else (self.W_WARP, self.W_SHAPE)
            prior = ww * (2.0 * Wt - 1.0) + ws * (2.0 * Af - 1.0)
            scores[j] = L + prior
            if twin is None and t.twin is None and W is not None and t.tmpl is not None and t.hidden == 0:
                twin = self._find_twin(t, L, flow, rel, W, step, [warped[k2] for k2 in ids if k2 != k])
            if twin is not None:
                self._twin_term(scores[j], flow, rel, twin, step, t.twin[1])
            twins[k] = twin
            pen = None
            if (measured or coasting) and warped[k] is not None:
                pen = self._motion_term(scores[j], flow, rel, W, step, [warped[k2] for k2 in ids if k2 != k])
            # a part that moved like the surroundings on the earlier frames too is the
            # background it was mistaken with (a patch the click took, a trail), not a part
            # of the object that briefly lost its flow: the evidence builds up over frames,
            # moving with the object
            hist = None
            if t.stray is not None and t.hidden == 0:
                sm = np.float32([[1, 0, step[0]], [0, 1, step[1]]])
                hist = cv2.warpAffine(t.stray, sm, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                scores[j] -= self.W_STRAY * hist
            if pen is not None:
                t.stray = self.STRAY_RATE * pen + ((1.0 - self.STRAY_RATE) * hist if hist is not None else 0.0)
            else:
                t.stray = None if hist is None else (1.0 - self.STRAY_RATE) * hist
        self._motion_competition(scores, ids, steps, flow, rel, warped, shapes)
        # the best-scoring object per pixel (0: background); one pass per object over
        # contiguous planes (an argmax across the planes is several times slower)
        label = np.zeros((h, w), np.int32)
        best = scores[0].copy()
        for j in range(1, len(ids) + 1):
            better = scores[j] > best
            label[better] = j
            np.maximum(best, scores[j], out=best)
        owned = label > 0
        new_vis: dict[int, np.ndarray] = {}
        for j, k in enumerate(ids, start=1):
            t = tracks[k]
            R = label == j
            if R.any():
                # a median filter drops speckles; parts the warped mask carries over (thin
                # tubes, limbs a couple of pixels wide) are not speckles and stay
                Rm = cv2.medianBlur(R.astype(np.uint8), 5) > 0
                if t.thin:
                    # a thin object's gaps (between tubes, a wheel's spokes) are not
                    # speckles either: the filter only removes
                    Rm &= R
                if warped[k] is not None:
                    Rm |= R & (warped[k] > 0.5)
                R = Rm & ((label == j) | ~owned)
                # keep the parts that the warp or the template support
                support = np.zeros((h, w), bool)
                if warped[k] is not None:
                    support |= warped[k] > 0.5
                if shapes[k] is not None:
                    support |= shapes[k] > 0.5
                rb = _bbox(R)
                if rb is not None:
                    bx0, by0, bx1, by1 = rb  # components found in the mask's box only (faster)
                    Rc, Sc = R[by0:by1, bx0:bx1], support[by0:by1, bx0:bx1]
                    n, lab, stats, _ = cv2.connectedComponentsWithStats(Rc.astype(np.uint8), connectivity=8)
                    keep = []
                    min_area = self.THIN_MIN_PART if t.thin else max(8, 0.01 * t.ref_area)
                    for c in range(1, n):
                        if stats[c, cv2.CC_STAT_AREA] < min_area:
                            continue
                        x0, y0 = stats[c, cv2.CC_STAT_LEFT], stats[c, cv2.CC_STAT_TOP]
                        x1, y1 = x0 + stats[c, cv2.CC_STAT_WIDTH], y0 + stats[c, cv2.CC_STAT_HEIGHT]
                        if (Sc[y0:y1, x0:x1] & (lab[y0:y1, x0:x1] == c)).any():
                            keep.append(c)
                    R = np.zeros((h, w), bool)
                    if keep:
                        R[by0:by1, bx0:bx1] = np.isin(lab, keep)
                if R.any():
                    R = _fill_holes_seen(R, ~owned | (label == j), self.MAX_HOLE, warped[k],
                                         self.THIN_HOLE if t.thin else self.SMALL_HOLE)
            new_vis[k] = R
        for k in ids:
            t = tracks[k]
            R = new_vis[k]
            a = float(np.count_nonzero(R))
            leaky = False
            if (t.anchor_area > 0 and a > self.GROW_LIMIT * t.anchor_area and k in raw_shapes
                    and t.hidden == 0):
                # much larger than on its prompt: a leak into similar colours (or a trail
                # left on what it uncovers) is likelier than the object growing that fast;
                # keep what lies near its template
                near_shape = _dilate(raw_shapes[k] > 0.5, max(1, int(0.05 * np.sqrt(t.anchor_area))))
                leaky = True  # the shape and appearance models do not learn from this frame
                if np.count_nonzero(R & near_shape) >= 0.5 * t.anchor_area:
                    R = R & near_shape
                    a = float(np.count_nonzero(R))
            prev_a = float(np.count_nonzero(t.vis))
            if t.ref_area > 0 and a < self.HIDE_FRACTION * t.ref_area:
                R = np.zeros((h, w), bool)
                a = 0.0
            elif (a > 0 and (t.refound or t.hidden > 0 or a < self.VANISH_SHARE * t.ref_area)
                  and np.mean(_sigmoid(t.lut[cur.bins[R]])) < self.RETURN_APPEARANCE):
                # hidden (or just found again), and what grows back where it is expected
                # looks on the whole more like its surroundings than like it: something else
                # (fingertips beside the cup the ball is under), not the object coming back;
                # the same for the last small part of an object going out of sight (the rim
                # of the cup put over the ball)
                R = np.zeros((h, w), bool)
                a = 0.0
            if a == 0:
                t.full = None
                t.vis = R
                t.hidden += 1
                t.score = 0.0
                continue
            t.hidden = 0
            # appearance agreement and area consistency
            app = float(np.mean(_sigmoid(t.lut[cur.bins[R]])))
            cons = min(a, prev_a) / max(a, prev_a) if prev_a > 0 else 0.5
            t.score = float(np.clip(app * (0.5 + 0.5 * cons), 0.0, 1.0))
            # unobstructed: not touching another object or the frame border -> new template
            others = np.zeros((h, w), bool) if twins[k] is None else twins[k].copy()
            for k2 in ids:
                if k2 != k:
                    others |= new_vis[k2]
            # re-align the amodal template on what is visible of the object (only where
            # no other object covers it): corrects the coasting position after occlusion
            d = (0.0, 0.0)
            over_twin = twins[k] is not None and k in raw_shapes and bool(
                (twins[k] & _dilate(raw_shapes[k] > 0.5, 2)).any())
            if k in raw_shapes and a >= 0.1 * t.ref_area:
                # (by a pixel only while a look-alike passes over it: what is seen of it then
                # may be the twin's)
                rad = 1 if over_twin else 3
                if t.realign:
                    rad = max(3, min(t.tmpl.shape) // 2)
                    t.realign = False
                d = _align(raw_shapes[k], R, ~others, radius=rad)
                if d != (0.0, 0.0):
                    t.pos = (t.pos[0] + d[0], t.pos[1] + d[1])
                    raw_shapes[k] = _paste_soft(t.tmpl, t.pos, (h, w))
            if t.full is not None:
                t.shift = (t.shift[0] + steps[k][0] + d[0], t.shift[1] + steps[k][1] + d[1])
            # velocity: flow step + alignment (not while a twin passes over it), learnt only
            # while (almost) all of the object is seen on both frames
            if a >= 0.6 * t.ref_area and prev_a >= 0.6 * t.ref_area:
                mv = steps[k] if over_twin else (steps[k][0] + d[0], steps[k][1] + d[1])
                if t.vel_known:
                    t.vel = (0.5 * mv[0] + 0.5 * t.vel[0], 0.5 * mv[1] + 0.5 * t.vel[1])
                else:
                    t.vel, t.vel_known = mv, True
                t.refound = False
            near = _dilate(R, 2)
            bb = _bbox(R)
            at_border = bb[0] == 0 or bb[1] == 0 or bb[2] == w or bb[3] == h
            free = not (near & others).any() and not at_border and not leaky
            if free and (t.tmpl is None or (a >= self.SHAPE_MIN_AREA * t.ref_area
                                            and t.score >= self.SHAPE_MIN_SCORE * t.anchor_score)):
                # the shape follows what is seen, slowly (a leak on one frame must not
                # become the object's shape)
                M = R.astype(np.float32)
                if k in raw_shapes:
                    M = (1.0 - self.SHAPE_RATE) * raw_shapes[k] + self.SHAPE_RATE * M
                mb = _bbox(M > 0.02)
                t.tmpl = M[mb[1]:mb[3], mb[0]:mb[2]].copy()
                t.pos = (float(mb[0]), float(mb[1]))
                t.ref_area = float(np.count_nonzero(M >= 0.5))
                # appearance adapts slowly, anchored on the prompts
                fh = _smooth_hist(_hist(cur.bins, R))
                t.fg = (1 - self.FG_RATE) * t.fg + self.FG_RATE * (0.5 * fh + 0.5 * t.fg_anchor)
            elif t.tmpl is None:
                t.tmpl = R[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
                t.pos = (float(bb[0]), float(bb[1]))
                t.ref_area = a
            around = (R | (shapes[k] > 0.5)) if shapes[k] is not None else R
            t.bg = (1 - self.BG_RATE) * t.bg + self.BG_RATE * self._ring_hist(cur, around, others)
            t.vis = R
