"""Semi-real clips: real cut-out objects pasted, moving, onto real footage.

A *cut-out* is an annotated object lifted from a real frame with its own pixels (its RGB and
its mask as alpha). :func:`composite_clip` pastes cut-outs onto the frames of a real video
(resized, keeping the video's own camera motion, lighting and noise), each along a
:class:`~sam2studio.core.synthetic.Trajectory` of its centre, nearer ones (larger ``z``) over
farther ones. The ground truth is exact by construction: an object's mask on a frame is
where its resampled alpha is at least 0.5 and no nearer object's is, cut by the frame's
border, so occlusion, leaving the frame and entering it are all known to the pixel.

Ready-made recipes (any size; positions and speeds are fractions of the frame):

* :func:`crossing` -- two objects cross, the front one hides the other completely for a few
  frames (also the "two similar objects" clip when both cut-outs look alike);
* :func:`exit_return` -- an object walks out of the frame, stays out, and comes back;
* :func:`entering` -- an object enters at the frame's left edge after the clip has started;
* :func:`riding` -- two objects moving together as one (a bicycle and its rider: a thin object
  next to a solid one);
* :func:`jumping` -- an object hops up and down on the spot, about its own height every ten
  frames (with ``blur``, smeared by its motion as a camera's shutter smears it);
* :func:`behind_return` -- an object walks behind another, stays hidden, comes out on the
  other side and hops there, fast (a child coming out from behind another on a bed).

Only numpy and OpenCV are used; frames come from any :class:`~sam2studio.core.video.VideoSource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath

import cv2
import numpy as np

from .synthetic import SyntheticClip, Trajectory, Waypoints, interior_point
from .video import VideoSource


@dataclass
class Cutout:
    """An object's pixels (``rgb``, ``(h, w, 3)`` uint8) and coverage (``alpha``, ``(h, w)``
    float32 in 0..1), cropped to its box."""

    name: str
    rgb: np.ndarray
    alpha: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.alpha.shape
        return w, h

    @classmethod
    def from_annotation(cls, frame: np.ndarray, mask: np.ndarray, name: str = "object") -> Cutout:
        """Lift the pixels of ``mask`` (bool, the frame's size or narrower by a column or two:
        it is padded) out of ``frame`` (RGB)."""
        m = np.asarray(mask, bool)
        h, w = frame.shape[:2]
        if m.shape != (h, w):
            pad = np.zeros((h, w), bool)
            pad[:min(h, m.shape[0]), :min(w, m.shape[1])] = m[:h, :w]
            m = pad
        ys, xs = np.nonzero(m)
        if len(xs) == 0:
            raise ValueError(f"cut-out {name!r}: the mask is empty")
        x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
        return cls(name, np.ascontiguousarray(frame[y0:y1, x0:x1, :3]),
                   m[y0:y1, x0:x1].astype(np.float32))

    @classmethod
    def load(cls, path: str | FsPath) -> Cutout:
        """Read an RGBA PNG written by :meth:`save`."""
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None or img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f"{path}: not an RGBA PNG")
        rgb = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
        return cls(FsPath(path).stem, np.ascontiguousarray(rgb), img[..., 3].astype(np.float32) / 255.0)

    def save(self, path: str | FsPath) -> None:
        bgr = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2BGR)
        a = np.clip(np.round(self.alpha * 255), 0, 255).astype(np.uint8)
        if not cv2.imwrite(str(path), np.dstack([bgr, a])):
            raise OSError(f"could not write {path}")

    def scaled(self, factor: float) -> Cutout:
        w, h = self.size
        nw, nh = max(1, int(round(w * factor))), max(1, int(round(h * factor)))
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        return Cutout(self.name, cv2.resize(self.rgb, (nw, nh), interpolation=interp),
                      np.clip(cv2.resize(self.alpha, (nw, nh), interpolation=interp), 0, 1))

    def flipped(self) -> Cutout:
        """Mirrored left-right (the same object walking the other way)."""
        return Cutout(self.name, np.ascontiguousarray(self.rgb[:, ::-1]), np.ascontiguousarray(self.alpha[:, ::-1]))


@dataclass
class Actor:
    """One pasted object: its id, cut-out, trajectory (of the cut-out's centre, frame pixels)
    and depth ``z`` (larger is nearer)."""

    obj_id: int
    cutout: Cutout
    trajectory: Trajectory
    z: int = 0


def background_frames(video: VideoSource, num_frames: int, width: int, height: int,
                      start: int = 0, step: int = 1) -> list[np.ndarray]:
    """``num_frames`` frames of ``video`` from ``start`` every ``step``, resized to
    ``width`` x ``height`` (area resampling); the clip bounces back and forth (a ping-pong)
    when it is too short."""
    n = len(video)
    if n == 0:
        raise ValueError("the background video has no frames")
    out = []
    for t in range(num_frames):
        i = start + t * step
        period = max(1, 2 * (n - 1))
        i = i % period if n > 1 else 0
        if i >= n:
            i = period - i
        img = video.get_frame(int(i))[..., :3]
        if (img.shape[1], img.shape[0]) != (width, height):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        out.append(np.ascontiguousarray(img, dtype=np.uint8))
    return out


def _render(background: np.ndarray, actors: Sequence[Actor], t: float) -> tuple[np.ndarray, np.ndarray]:
    """``background`` (float32) with every actor pasted at its position at time ``t`` (a
    frame index, or between two for motion blur), and the owner of every pixel (0: none)."""
    height, width = background.shape[:2]
    img = background.astype(np.float32)
    owner = np.zeros((height, width), np.int32)
    for a in sorted(actors, key=lambda a: a.z):
        x, y = a.trajectory(t)
        w, h = a.cutout.size
        fx, fy = x - w / 2.0, y - h / 2.0
        x0, y0 = int(np.floor(fx)), int(np.floor(fy))
        fx0, fy0 = max(0, x0), max(0, y0)
        fx1, fy1 = min(width, x0 + w + 1), min(height, y0 + h + 1)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        shift = np.float32([[1, 0, fx - x0], [0, 1, fy - y0]])
        tex = cv2.warpAffine(a.cutout.rgb, shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        alpha = cv2.warpAffine(a.cutout.alpha, shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        al = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        tx = tex[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
        region = img[fy0:fy1, fx0:fx1]
        region += al[..., None] * (tx - region)
        owner[fy0:fy1, fx0:fx1][al >= 0.5] = a.obj_id
    return img, owner


def render_frame(background: np.ndarray, actors: Sequence[Actor], t: int, blur: int = 1,
                 shutter: float = 0.5) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``background`` with every actor pasted at its position on frame ``t``; returns the
    frame and each actor's visible mask.

    With ``blur`` > 1 the frame is the mean of ``blur`` renderings at times spread evenly over
    ``shutter`` of a frame interval centred on ``t`` (motion blur, as a camera's open shutter
    smears a fast object), and an actor's mask is where it owns at least half of them."""
    if blur <= 1:
        img, owner = _render(background, actors, t)
        frame = np.clip(np.round(img), 0, 255).astype(np.uint8)
        return frame, {a.obj_id: owner == a.obj_id for a in actors}
    acc = np.zeros(background.shape[:2] + (3,), np.float32)
    share = {a.obj_id: np.zeros(background.shape[:2], np.float32) for a in actors}
    for i in range(blur):
        img, owner = _render(background, actors, t + shutter * (i / (blur - 1) - 0.5))
        acc += img[..., :3]
        for k in share:
            share[k] += owner == k
    frame = np.clip(np.round(acc / blur), 0, 255).astype(np.uint8)
    return frame, {k: v >= 0.5 * blur for k, v in share.items()}


def composite_clip(background: Sequence[np.ndarray], actors: Sequence[Actor], fps: float = 30.0,
                   blur: int = 1) -> SyntheticClip:
    """Render ``actors`` over the ``background`` frames (one clip frame per background frame;
    ``blur``: sub-frame renderings averaged per frame for motion blur, see :func:`render_frame`).

    The returned clip's ``clicks`` hold, for each object, the point deepest inside it on its
    :func:`first_clear_frame` (use :func:`first_clear_frame` for the frame)."""
    frames: list[np.ndarray] = []
    gt: dict[int, list[np.ndarray]] = {a.obj_id: [] for a in actors}
    for t, bg in enumerate(background):
        img, masks = render_frame(bg, actors, t, blur=blur)
        frames.append(img)
        for k, m in masks.items():
            gt[k].append(m)
    clip = SyntheticClip(frames=frames, gt=gt, clicks={}, fps=fps)
    for k in gt:
        f = first_clear_frame(clip, k)
        if f is not None:
            clip.clicks[k] = interior_point(gt[k][f])
    return clip


def first_clear_frame(clip: SyntheticClip, obj: int, fraction: float = 0.9) -> int | None:
    """The first frame on which at least ``fraction`` of ``obj``'s largest visible area is seen
    (where a user would click it first); None if it is never seen."""
    vis = clip.visible_fraction(obj)
    idx = np.flatnonzero(vis >= fraction)
    return int(idx[0]) if len(idx) else None


# ---------------------------------------------------------------------------------------
# recipes
# ---------------------------------------------------------------------------------------
def _size(background: Sequence[np.ndarray]) -> tuple[int, int, int]:
    h, w = background[0].shape[:2]
    return w, h, len(background)


def crossing(background: Sequence[np.ndarray], front: Cutout, back: Cutout, y: float = 0.62) -> list[Actor]:
    """``front`` (object 1) walks left to right in front of ``back`` (object 2), which walks
    right to left; their centres meet at 55% of the clip and ``back`` is completely hidden
    for a few frames around it (when it is narrower than ``front``). ``y`` is the height of
    the objects' feet line as a fraction of the frame's height."""
    w, h, n = _size(background)
    meet = 0.55 * (n - 1)
    span = 0.3 * w
    fy = y * h - front.size[1] / 2.0
    by = y * h - 0.02 * h - back.size[1] / 2.0
    return [
        Actor(1, front, Waypoints([(0, 0.5 * w - span, fy), (meet, 0.5 * w, fy + 0.01 * h),
                                   (n - 1, 0.5 * w + span * (n - 1 - meet) / meet, fy)]), z=2),
        Actor(2, back, Waypoints([(0, 0.5 * w + span, by), (meet, 0.5 * w, by),
                                  (n - 1, 0.5 * w - span * (n - 1 - meet) / meet, by - 0.01 * h)]), z=1),
    ]


def exit_return(background: Sequence[np.ndarray], obj: Cutout, out_frames: int | None = None) -> list[Actor]:
    """Object 1 walks right, leaves the frame completely, stays out ``out_frames`` frames
    (default: a fifth of the clip) and walks back in."""
    w, h, n = _size(background)
    out_frames = max(2, n // 5) if out_frames is None else int(out_frames)
    ow = obj.size[0]
    gone = w + ow / 2.0 + 2.0  # centre where the object is fully out
    walk = max(2, (n - out_frames) // 2 - 2)
    t_out = walk
    t_back = t_out + out_frames
    y = 0.55 * h
    keys = [(0, 0.45 * w, y), (t_out, gone, y + 0.02 * h), (t_back, gone, y + 0.02 * h),
            (n - 1, gone - (0.55 * w + ow) * (n - 1 - t_back) / walk, y)]
    return [Actor(1, obj, Waypoints(keys), z=1)]


def entering(background: Sequence[np.ndarray], obj: Cutout, start: int | None = None,
             speed: float | None = None) -> list[Actor]:
    """Object 1 is out of the frame until ``start`` (default: a sixth of the clip), then
    enters at the left edge and walks right at ``speed`` pixels per frame (default: crossing
    half the frame in the rest of the clip)."""
    w, h, n = _size(background)
    start = max(1, n // 6) if start is None else int(start)
    ow = obj.size[0]
    speed = 0.5 * w / max(1, n - 1 - start) if speed is None else float(speed)
    x_out = -ow / 2.0 - 1.0
    y = 0.58 * h
    return [Actor(1, obj, Waypoints([(0, x_out, y), (start, x_out, y),
                                     (n - 1, x_out + speed * (n - 1 - start), y - 0.01 * h)]), z=1)]


class Hopping(Trajectory):
    """Hops in place: every ``period`` frames the centre stands ``contact`` of the period on
    ``(x, y)`` (on the ground: still), then flies up ``height`` pixels and falls back (a
    parabola: fastest at take-off and landing, still at the top), while it sways ``sway``
    pixels left and right over ``sway_period`` frames; ``phase`` (0..1) is where in a hop frame
    0 falls (the flight's top is at ``contact + (1 - contact) / 2``). Defined between frames too
    (motion blur)."""

    def __init__(self, x: float, y: float, height: float, period: float, contact: float = 0.0,
                 sway: float = 0.0, sway_period: float = 60.0, phase: float = 0.5) -> None:
        self.x, self.y, self.height, self.period, self.contact = x, y, height, period, contact
        self.sway, self.sway_period, self.phase = sway, sway_period, phase

    def position(self, t: float) -> tuple[float, float]:
        s = (t / self.period + self.phase) % 1.0
        s = max(0.0, s - self.contact) / (1.0 - self.contact)  # 0 on the ground, then 0..1 in flight
        return (self.x + self.sway * np.sin(2 * np.pi * t / self.sway_period),
                self.y - self.height * 4.0 * s * (1.0 - s))


def jumping(background: Sequence[np.ndarray], obj: Cutout, period: float = 10.0, height: float | None = None,
            x: float = 0.5, floor: float = 0.95, contact: float = 0.3) -> list[Actor]:
    """Object 1 jumps up and down on the spot (a child on a bed): a hop of ``height`` pixels
    (default: its own height) every ``period`` frames, ``contact`` of which it stands still
    with its feet on the line at ``floor`` (a fraction of the frame's height), swaying a little
    sideways; frame 0 is at the top of a hop (where it is still: the frame a user clicks).
    It lands fast and stops at once, and takes off again at once. Render it with ``blur``
    (:func:`composite_clip`): at take-off and landing it moves ``4 * height / ((1 - contact) *
    period)`` pixels a frame."""
    w, h, n = _size(background)
    oh = obj.size[1]
    height = float(oh if height is None else height)
    return [Actor(1, obj, Hopping(x * w, floor * h - oh / 2.0, height, period, contact=contact,
                                  sway=0.05 * w, sway_period=max(2.0, float(n)),
                                  phase=contact + (1.0 - contact) / 2.0), z=1)]


class _Then(Trajectory):
    """``first`` until frame ``at``, then ``then`` (its own time starting at 0 on ``at``)."""

    def __init__(self, first: Trajectory, at: float, then: Trajectory) -> None:
        self.first, self.at, self.then = first, float(at), then

    def position(self, t: float) -> tuple[float, float]:
        return self.first.position(t) if t < self.at else self.then.position(t - self.at)


def behind_return(background: Sequence[np.ndarray], front: Cutout, back: Cutout, hidden: int | None = None,
                  period: float = 10.0, height: float | None = None, contact: float = 0.3,
                  floor: float = 0.9) -> list[Actor]:
    """``back`` (object 2) walks from the left behind ``front`` (object 1, standing in the
    middle and swaying a little), stops there completely hidden for ``hidden`` frames
    (default: a fifth of the clip; ``back`` must be narrower and shorter than ``front``),
    comes out on its right in 3 frames (fast) and hops on the spot there to the end:
    ``height`` pixels (default half its height) every ``period`` frames, ``contact`` of them
    standing (as :func:`jumping`; render it with ``blur``). A child stopping behind another
    on a bed and jumping out. Frame 0 shows both apart (where a user clicks both); it walks
    in at about 1.2 times its width over a quarter of the clip. The feet lines are at
    ``floor`` of the frame's height, ``back``'s a little higher (farther)."""
    w, h, n = _size(background)
    fw, fh = front.size
    bw, bh = back.size
    hidden = max(2, n // 5) if hidden is None else int(hidden)
    height = 0.5 * bh if height is None else float(height)
    fy = floor * h - fh / 2.0
    by = floor * h - 0.02 * h - bh / 2.0
    t_in = max(2, n // 4)  # behind it from here
    t_out = t_in + hidden
    out_x = 0.5 * w + 0.5 * (fw + bw) + 0.02 * w
    walk = Waypoints([(0, 0.5 * w - 0.5 * (fw + bw) - 0.15 * w, by), (t_in, 0.5 * w, by), (t_out, 0.5 * w, by),
                      (t_out + 3, out_x, by)])
    hop = Hopping(out_x, by, height, period, contact=contact, phase=0.0)
    return [Actor(1, front, Waypoints([(0, 0.5 * w, fy), (n - 1, 0.5 * w + 0.02 * w, fy)]), z=2),
            Actor(2, back, _Then(walk, t_out + 3, hop), z=1)]


def riding(background: Sequence[np.ndarray], thin: Cutout, rider: Cutout,
           rider_offset: tuple[float, float]) -> list[Actor]:
    """``thin`` (object 1, e.g. a bicycle) and ``rider`` (object 2, placed at ``rider_offset``
    from the bicycle's centre, pixels) move together across the frame, left to right with a
    gentle bounce; the rider is in front."""
    w, h, n = _size(background)
    x0, x1 = 0.2 * w, 0.8 * w
    y = 0.6 * h

    def centre(t: int) -> tuple[float, float]:
        s = t / max(1, n - 1)
        return x0 + (x1 - x0) * s, y + 0.02 * h * np.sin(2 * np.pi * s * 1.5)

    class _Offset(Trajectory):
        def __init__(self, dx: float, dy: float) -> None:
            self.dx, self.dy = dx, dy

        def position(self, t: int) -> tuple[float, float]:
            cx, cy = centre(t)
            return cx + self.dx, cy + self.dy

    return [Actor(1, thin, _Offset(0.0, 0.0), z=1), Actor(2, rider, _Offset(*rider_offset), z=2)]




# ---------------------------------------------------------------------------------------
# measuring an engine on a clip
# ---------------------------------------------------------------------------------------
@dataclass
class TrackScore:
    """How well one object was tracked over a clip.

    ``j``: mean IoU over every frame (a frame where both the prediction and the ground truth
    are empty counts 1); ``absent``: frames where the object is not visible; ``absent_empty``:
    of those, how many the engine left empty; ``refind``: for each return after an absence
    (and for the first appearance of an object that enters after its click frame's
    neighbours), frames from its return until the mask overlaps it with IoU >= 0.5 (None when
    never within the clip); ``seen``: frames where it shows at least a quarter of its largest
    visible area (clearly in sight); ``seen_empty``: of those, how many the engine left empty;
    ``blinks``: runs of frames left empty while it was in sight (its mask off and on again:
    each run's frames lie between two frames with a mask, all of them with the object in view)."""

    obj: int
    j: float
    absent: int
    absent_empty: int
    refind: list[int | None]
    seen: int = 0
    seen_empty: int = 0
    blinks: int = 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    from .synthetic import iou as _iou

    return _iou(a, b)


def score_tracking(clip: SyntheticClip, results: dict[int, dict], obj: int, min_visible: int = 1) -> TrackScore:
    """Score ``obj``'s masks in ``results`` ({frame: {obj: ObjectMask or bool array}})."""
    n = len(clip)
    gt = clip.gt[obj]
    ious, absent, absent_empty = [], 0, 0
    pred_any = []
    for f in range(n):
        r = results.get(f, {}).get(obj)
        m = None if r is None else (r.mask if hasattr(r, "mask") else r)
        m = np.zeros_like(gt[f]) if m is None else np.asarray(m, bool)
        g = gt[f]
        ious.append(iou(m, g))
        pred_any.append(bool(m.any()))
        if np.count_nonzero(g) < min_visible:
            absent += 1
            absent_empty += int(not m.any())
    refind: list[int | None] = []
    vis = [np.count_nonzero(g) >= min_visible for g in gt]
    for f in range(1, n):
        if vis[f] and not vis[f - 1]:
            # count from the first frame it is half in view again
            full = max(np.count_nonzero(g) for g in gt)
            t0 = next((t for t in range(f, n) if np.count_nonzero(gt[t]) >= 0.5 * full), None)
            if t0 is None:
                continue
            hit = next((t - t0 for t in range(t0, n) if ious[t] >= 0.5), None)
            refind.append(hit)
    areas = [np.count_nonzero(g) for g in gt]
    clear = [a >= max(min_visible, 0.25 * max(areas)) for a in areas]
    seen_empty = sum(1 for f in range(n) if clear[f] and not pred_any[f])
    blinks, f = 0, 1
    while f < n:
        if vis[f] and not pred_any[f] and vis[f - 1] and pred_any[f - 1]:
            e = f
            while e < n and vis[e] and not pred_any[e]:
                e += 1
            if e < n and vis[e] and pred_any[e] and any(clear[f:e]):
                blinks += 1
            f = e
        f += 1
    return TrackScore(obj, float(np.mean(ious)), absent, absent_empty, refind, sum(clear), seen_empty, blinks)


def click_and_track(engine, clip: SyntheticClip, timing: dict | None = None, from_mask: bool = False
                    ) -> dict[int, dict]:
    """The benchmark's user: one positive click per object, at the point deepest inside it on
    its :func:`first_clear_frame`, then a propagation both ways from each click frame (for
    the objects clicked there). With ``from_mask`` the object's exact mask on that frame is
    given instead of the click (measures the tracking alone, whatever the first mask's
    quality). ``engine`` must be open on ``clip.video()``. Returns
    ``{frame: {obj: ObjectMask}}``; ``timing``, when given, receives the propagation's wall
    and CPU seconds (``"wall"``, ``"cpu"``) and its object-frames (``"object_frames"``)."""
    import time

    by_frame: dict[int, list[int]] = {}
    for k in sorted(clip.gt):
        f = first_clear_frame(clip, k)
        if f is not None:
            by_frame.setdefault(f, []).append(k)
    for f, objs in sorted(by_frame.items()):
        for k in objs:
            if from_mask:
                engine.add_mask(f, k, clip.gt[k][f])
            else:
                engine.add_prompt(f, k, points=[interior_point(clip.gt[k][f])], labels=[1])
    results: dict[int, dict] = {f: {} for f in range(len(clip))}
    w0, c0, n = time.perf_counter(), time.process_time(), 0
    for f, objs in sorted(by_frame.items()):
        for g, res in engine.propagate(f, "both", objects=objs):
            if g != f:  # the start frame is yielded in both directions
                n += len(objs)
            results[g].update({k: v for k, v in res.items() if k in objs})
    if timing is not None:
        timing.update(wall=time.perf_counter() - w0, cpu=time.process_time() - c0, object_frames=n)
    return results


__all__ = [
    "Actor",
    "Cutout",
    "TrackScore",
    "background_frames",
    "behind_return",
    "click_and_track",
    "composite_clip",
    "crossing",
    "entering",
    "exit_return",
    "first_clear_frame",
    "render_frame",
    "riding",
    "score_tracking",
]
