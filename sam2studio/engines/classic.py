"""The classic engine: GrabCut prompts and optical-flow propagation, on the CPU, no model.

It needs nothing but OpenCV and numpy, so it always works (no checkpoint, no GPU) and is
fast enough to be interactive. It is meant for clips where objects differ from their
surroundings in colour and move smoothly; SAM 2 is far better on real footage.

Where the code is: this module holds the engine (prompts, corrective click chains,
candidates, propagation runs, full-size outlines); a first click's candidates are in
:mod:`.classic_click` (thin objects and riders in :mod:`.classic_thin`, corrective clicks in
:mod:`.classic_refine`); the per-frame tracking step in :mod:`.classic_tracker`, its
look-alike search in :mod:`.classic_twin`; keyframes, snapshots and tracks in
:mod:`.classic_state`.

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
  moving with the click: then those lines; or it holds GrabCut started from the lines
  joining the click and adds to it only background, beside the frame's edge or not moving
  with the click: then that, :func:`.classic_click.trim_default`), and never covers more
  than 40% of the frame (larger candidates are only alternatives). A click on another
  object's mask avoids candidates that swallow that object whole, and the object it took
  pixels from falls back to a candidate of its own click that is left whole. A click on
  what rides a thin object (a rider on the bicycle whose mask is its moving lines) takes
  the body moving with it less that object, grown by colour into the legs the lines took,
  which the thin object gives up (:func:`.classic_thin.prefer_rider`); clicked before the
  thin object, it is clicked again once the thin object's mask is its lines.
  :meth:`ClassicEngine.candidates` lists them, :meth:`ClassicEngine.choose_candidate` picks
  another. A box gets GrabCut's variants ranked by how well each fills the box
  (:mod:`.classic_box`), offered the same way. Clicks with it are sure foreground /
  background in each variant (a negative click also takes the region of its colour around
  it, on its side of the positive clicks, out of each); one GrabCut of box and clicks
  together, the box "probably foreground", is offered last (a box with a click in the
  middle of each annotated object: 0.49 from that one GrabCut, 0.64 from the variants'
  default). Negative clicks are sure background and the region grown around one is cut out.
  Further clicks, and a click on a frame where the object already has a mask (a propagated
  one, a mask prompt), edit the mask in use, the default or a candidate picked
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
  sight is held to the same test): against its surroundings, or against the whole frame where
  its surroundings hold its own colours (a child beside another). An object seen on the last
  few frames in a row, away from the frame's border, is only dropped by that test on strong
  evidence (a mask blinking off and on while the object is in sight is worse than one that
  stays). A seen object too small for the flow, clear of the other objects, is moved by where
  its own pixels match, not by a speed measured many frames before. An object that left the
  frame, or stayed hidden for long, is searched for over the whole frame (a template-sized
  window whose colours match its model). An object still seen but far
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

import cv2
import numpy as np

from . import classic_box, classic_click, classic_refine, classic_thin
from .base import Direction, Engine, FrameResult, ObjectMask
from .classic_state import _Keyframe, _Object, _Track
from .classic_tracker import Tracker
from .classic_util import (
    _bbox,
    _bins,
    _colour_lut,
    _Frame,
    _guided_filter,
    _hist,
    _ring,
    _rle,
    _sigmoid,
    _unrle,
)


def _same_rle(a: dict | None, b: dict | None) -> bool:
    """Whether two RLE masks (or Nones) are the same mask."""
    if a is None or b is None:
        return a is None and b is None
    return a is b or (list(a["size"]) == list(b["size"]) and a["counts"] == b["counts"])  # RLE is canonical


# ---------------------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------------------
class ClassicEngine(Tracker, Engine):
    """GrabCut + optical flow engine with competing per-object appearance and motion models.

    ``max_side`` is the longest side of the internal resolution (smaller is faster, coarser;
    512 keeps a bicycle's tubes about two pixels wide at 854x480 and costs about 1.2x the
    CPU of 427); ``cache_frames`` bounds the per-object cache of compressed tracking states.
    """

    name = "classic"
    device = "cpu"

    REFINE_SIGMA = 0.8  # internal px: width of the band re-decided at full size
    REFINE_PRIOR = 1.0  # weight of the distance from the upscaled outline there
    REFINE_SIGMA_THIN = 1.2
    REFINE_PRIOR_THIN = 0.15
    #: a prompt's mask is upscaled guided by the full-size frame (:meth:`_to_full`): the
    #: filter's radius in internal pixels and its smoothing of flat areas (grey levels 0..1)
    GUIDED_RADIUS = 1.0
    GUIDED_EPS = 1e-3

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

    def _to_full(self, small: np.ndarray, guide: np.ndarray | None = None,
                 keep_out: np.ndarray | None = None) -> np.ndarray:
        """``small`` upscaled to the video's size; with ``guide`` (the full-size RGB frame)
        its outline follows the frame's edges (:func:`.classic_util._guided_filter` of the
        upscaled mask, :data:`GUIDED_RADIUS` internal pixels), never adding a pixel whose
        internal pixel is one of ``keep_out``."""
        W, H = self.video.width, self.video.height
        if small.shape == (H, W):
            return small.copy()
        out = np.zeros((H, W), bool)
        bb = _bbox(small)
        if bb is None:
            return out
        sx, sy = W / small.shape[1], H / small.shape[0]
        sh, sw = small.shape
        m = 2 if guide is None else 2 + int(np.ceil(2 * self.GUIDED_RADIUS))
        x0, y0, x1, y1 = max(0, bb[0] - m), max(0, bb[1] - m), min(sw, bb[2] + m), min(sh, bb[3] + m)
        X0, Y0 = int(np.floor(x0 * sx)), int(np.floor(y0 * sy))
        X1, Y1 = min(W, int(np.ceil(x1 * sx))), min(H, int(np.ceil(y1 * sy)))
        crop = small[y0:y1, x0:x1].astype(np.float32)
        # sample the crop at the centres of the full-size pixels (align pixel centres)
        xs = (np.arange(X0, X1, dtype=np.float32) + 0.5) / sx - 0.5 - x0
        ys = (np.arange(Y0, Y1, dtype=np.float32) + 0.5) / sy - 0.5 - y0
        mx, my = np.meshgrid(xs, ys)
        up = cv2.remap(crop, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if guide is not None:
            # the upscaled mask's soft outline steered by the full-size frame's edges
            gray = cv2.cvtColor(np.ascontiguousarray(guide[Y0:Y1, X0:X1]), cv2.COLOR_RGB2GRAY)
            r = max(1, int(round(self.GUIDED_RADIUS * max(sx, sy))))
            plain = up >= 0.5
            guided = _guided_filter(gray.astype(np.float32) / 255.0, up, r, self.GUIDED_EPS) >= 0.5
            # parts narrower than the filter's window (a tube, a wrist) stay as upscaled: the
            # filter would average them away
            ker = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            guided |= plain & (cv2.morphologyEx(plain.astype(np.uint8), cv2.MORPH_OPEN, ker) == 0)
            if keep_out is not None:  # never onto another object's pixels
                near = cv2.remap(keep_out[y0:y1, x0:x1].astype(np.uint8), mx, my, cv2.INTER_NEAREST,
                                 borderMode=cv2.BORDER_REPLICATE) > 0
                guided &= plain | ~near
            out[Y0:Y1, X0:X1] = guided
            return out
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
        lut = _colour_lut(bins, inside, outside, self.LR_CLIP)
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
        return self._to_full(small, self._full.get(f) if self.GUIDED_RADIUS > 0 else None, others)

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
            elif sbox is not None and not live and (boxed := classic_box.box_candidates(fr, sbox, pos, neg)):
                # a box: GrabCut's variants (its clicks sure foreground / background), the one
                # that fills the box best first; with clicks, one GrabCut of them all last
                if pos or neg:
                    one = classic_click.segment(fr, pos, neg, sbox, None if base is None else _unrle(base), others)
                    if one.any() and all(classic_click._iou(one, m) <= classic_box.SAME for m, _f, _k in boxed):
                        boxed.append((one, classic_box.box_fit(one, sbox), classic_box.ONE_GRABCUT))
                small = boxed[0][0]
                if len(boxed) > 1:
                    o.candidates[frame] = [(_rle(m), fit, kind) for m, fit, kind in boxed]
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
        # every click is taken at the centre of the video pixel it lands in: a fraction of a
        # pixel does not change its masks (classic_click.snap_clicks), and a corrective click
        # offering the click's own mask gives what the same click gives on a fresh frame
        snapped = classic_click.snap_clicks(pts_l, (self.video.height, self.video.width))
        small_pts = [(x * sx, y * sy) for x, y in snapped]
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
        lut = _colour_lut(fr.bins, small, ring)
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
