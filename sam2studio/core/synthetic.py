"""Synthetic video clips with exact per-frame ground truth, for tests, benchmarks and examples.

A clip is described by a small :class:`Scene`: a textured background seen through a camera
that may pan, and a list of :class:`Sprite` objects, each with a shape, its own texture, a
trajectory and a depth (``z``, larger is nearer the camera). :meth:`Scene.render` draws every
frame and the *visible* mask of every sprite (what is left of it after nearer sprites and the
frame border cut it), so occlusion, leaving the frame and coming back are all exact.

Ready-made clips:

* :func:`crossing_clip` -- two textured shapes cross over a panning background; the front
  one hides the other completely for several frames (the standard tracking check);
* :func:`exit_reenter_clip` -- an object leaves the frame and comes back;
* :func:`appearance_change_clip` -- an object's texture changes half-way;
* :func:`constant_speed_clip` -- an object moving at a known speed in pixels per frame.

Everything is deterministic for a given ``seed``. Only numpy and OpenCV are used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .video import VideoSource

RGB = tuple[int, int, int]

# ---- palettes: a dominant family per object plus shared colours, so no single colour
# separates an object from the rest of the scene.
WARM: tuple[RGB, ...] = ((205, 60, 45), (232, 140, 50), (185, 45, 95), (240, 205, 90))
COOL: tuple[RGB, ...] = ((45, 85, 205), (45, 170, 195), (70, 150, 95), (125, 95, 205))
EARTH: tuple[RGB, ...] = (
    (112, 122, 100), (152, 140, 118), (92, 100, 132), (160, 112, 82),
    (72, 92, 72), (132, 150, 160), (180, 170, 150), (60, 62, 70),
)


# ---------------------------------------------------------------------------------------
# textures and shapes
# ---------------------------------------------------------------------------------------
def make_texture(
    height: int,
    width: int,
    palette: Sequence[RGB],
    rng: np.random.Generator,
    weights: Sequence[float] | None = None,
    patch: float = 9.0,
    grain: float = 14.0,
) -> np.ndarray:
    """A random patchy texture (RGB uint8 ``(height, width, 3)``).

    Each pixel takes the palette colour whose smooth random field is largest there, so the
    texture is made of irregular patches of ``patch`` pixels or so; ``weights`` (one per
    colour, default equal) bias how much of the area each colour covers. A fine luminance
    grain of amplitude ``grain`` and a soft shading are added so optical flow has something
    to hold on to everywhere.
    """
    k = len(palette)
    w = np.ones(k) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    fields = np.empty((k, height, width), np.float32)
    for i in range(k):
        f = rng.standard_normal((height, width)).astype(np.float32)
        f = cv2.GaussianBlur(f, (0, 0), patch)
        f /= f.std() + 1e-6
        fields[i] = f
    # a bias per colour so that the share of area follows ``weights`` roughly
    bias = np.log(w * k + 1e-6).astype(np.float32)[:, None, None] * 1.2
    idx = np.argmax(fields + bias, axis=0)
    pal = np.asarray(palette, np.float32)
    img = pal[idx]
    g = rng.standard_normal((height, width)).astype(np.float32)
    g = cv2.GaussianBlur(g, (0, 0), 1.2)
    g *= grain / (g.std() + 1e-6)
    shade = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), patch * 4)
    shade *= 10.0 / (shade.std() + 1e-6)
    img += (g + shade)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_mask(shape: str | np.ndarray, width: int, height: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """A bool mask ``(height, width)`` for ``"ellipse"``, ``"rect"``, ``"rounded"`` or ``"blob"``
    (a random smooth star-shaped outline, drawn from ``rng``); an array is used as given."""
    if isinstance(shape, np.ndarray):
        m = np.asarray(shape, bool)
        if m.shape != (height, width):
            m = cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        return m
    m = np.zeros((height, width), np.uint8)
    if shape == "ellipse":
        yy, xx = np.mgrid[0:height, 0:width]
        u = (xx + 0.5 - width / 2.0) / (width / 2.0)
        v = (yy + 0.5 - height / 2.0) / (height / 2.0)
        m[u * u + v * v <= 1.0] = 1
    elif shape == "rect":
        m[:] = 1
    elif shape == "rounded":
        r = max(1, min(width, height) // 5)
        cv2.rectangle(m, (r, 0), (width - 1 - r, height - 1), 1, -1)
        cv2.rectangle(m, (0, r), (width - 1, height - 1 - r), 1, -1)
        for cx, cy in ((r, r), (width - 1 - r, r), (r, height - 1 - r), (width - 1 - r, height - 1 - r)):
            cv2.circle(m, (cx, cy), r, 1, -1)
    elif shape == "blob":
        rng = rng if rng is not None else np.random.default_rng(0)
        n = 180
        t = np.linspace(0, 2 * np.pi, n, endpoint=False)
        r = np.ones(n)
        for k in range(2, 6):
            r += rng.uniform(0.04, 0.12) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
        r /= r.max()
        pts = np.stack([(width - 1) / 2 * (1 + r * np.cos(t)), (height - 1) / 2 * (1 + r * np.sin(t))], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    else:
        raise ValueError(f"unknown shape {shape!r}: use ellipse, rect, rounded, blob or a mask array")
    return m > 0


# ---------------------------------------------------------------------------------------
# trajectories: frame index -> (x, y) position in frame pixels (a sprite's centre, or the
# top-left corner of the camera's view into the background)
# ---------------------------------------------------------------------------------------
class Trajectory(ABC):
    @abstractmethod
    def position(self, t: int) -> tuple[float, float]:
        """Where the thing is on frame ``t``."""

    def __call__(self, t: int) -> tuple[float, float]:
        return self.position(t)


@dataclass
class Linear(Trajectory):
    """Constant velocity: ``start + t * velocity`` (pixels, pixels per frame)."""

    start: tuple[float, float]
    velocity: tuple[float, float] = (0.0, 0.0)

    def position(self, t: int) -> tuple[float, float]:
        return (self.start[0] + t * self.velocity[0], self.start[1] + t * self.velocity[1])


@dataclass
class Waypoints(Trajectory):
    """Piecewise linear through ``[(frame, x, y), ...]``; constant before the first and after
    the last key."""

    keys: Sequence[tuple[float, float, float]]

    def position(self, t: int) -> tuple[float, float]:
        k = np.asarray(sorted(self.keys), np.float64)
        return (float(np.interp(t, k[:, 0], k[:, 1])), float(np.interp(t, k[:, 0], k[:, 2])))


@dataclass
class Path(Trajectory):
    """Any function of the frame index."""

    fn: Callable[[int], tuple[float, float]]

    def position(self, t: int) -> tuple[float, float]:
        x, y = self.fn(t)
        return float(x), float(y)


# ---------------------------------------------------------------------------------------
# scene
# ---------------------------------------------------------------------------------------
@dataclass
class Sprite:
    """One object of a scene.

    ``texture`` covers the sprite's ``size`` (it moves with the sprite); ``changes`` is a list
    of ``(frame, texture)``: from that frame on, that texture is used (appearance change).
    ``trajectory`` gives the sprite's centre in frame pixels; it may leave the frame.
    """

    obj_id: int
    mask: np.ndarray
    texture: np.ndarray
    trajectory: Trajectory
    z: int = 0
    changes: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.mask.shape
        return w, h

    def texture_at(self, t: int) -> np.ndarray:
        tex = self.texture
        for f, other in sorted(self.changes, key=lambda c: c[0]):
            if t >= f:
                tex = other
        return tex


@dataclass
class SyntheticClip:
    """A rendered clip: ``frames`` (RGB uint8), ``gt`` ({obj: [bool mask per frame]}),
    ``clicks`` ({obj: (x, y)} a point well inside each object visible on frame 0) and ``fps``."""

    frames: list[np.ndarray]
    gt: dict[int, list[np.ndarray]]
    clicks: dict[int, tuple[int, int]]
    fps: float = 30.0
    scene: Scene | None = None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def width(self) -> int:
        return self.frames[0].shape[1]

    @property
    def height(self) -> int:
        return self.frames[0].shape[0]

    def video(self):
        """The clip as an in-memory :class:`~sam2studio.core.video.ArrayVideo`."""
        from .video import ArrayVideo

        return ArrayVideo(self.frames, fps=self.fps)

    def click(self, obj: int, frame: int = 0) -> tuple[int, int] | None:
        """The point deepest inside ``obj``'s visible mask on ``frame`` (None if not visible)."""
        return interior_point(self.gt[obj][frame])

    def box(self, obj: int, frame: int = 0) -> tuple[int, int, int, int] | None:
        """``obj``'s ground-truth box ``(x0, y0, x1, y1)`` on ``frame`` (x1, y1 exclusive)."""
        ys, xs = np.nonzero(self.gt[obj][frame])
        if len(xs) == 0:
            return None
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def visible_fraction(self, obj: int) -> np.ndarray:
        """Per frame: visible area over the largest visible area of ``obj`` in the clip."""
        areas = np.array([m.sum() for m in self.gt[obj]], np.float64)
        return areas / max(1.0, areas.max())


@dataclass
class Scene:
    """Background + camera + sprites; :meth:`render` turns it into a :class:`SyntheticClip`.

    ``background`` must be large enough for every camera position: the view of frame ``t``
    is ``background[y:y + height, x:x + width]`` with ``(x, y) = camera(t)`` (sub-pixel
    positions are resampled bilinearly). ``noise`` is the std of per-frame Gaussian sensor
    noise and ``blur`` the sigma of a slight lens blur (ground truth stays exact).
    """

    width: int
    height: int
    num_frames: int
    background: np.ndarray
    camera: Trajectory = field(default_factory=lambda: Linear((0.0, 0.0)))
    sprites: list[Sprite] = field(default_factory=list)
    fps: float = 30.0
    noise: float = 3.0
    blur: float = 0.6
    seed: int = 0

    def _noise_bank(self) -> list[np.ndarray]:
        """A few fields of sensor noise (int16), shifted at random for each frame: much
        cheaper than drawing fresh noise for every pixel of every frame."""
        key = (self.width, self.height, float(self.noise), self.seed)
        cached = getattr(self, "_bank", None)
        if cached is None or cached[0] != key:
            rng = np.random.default_rng((self.seed, 15485863))
            bank = [np.round(rng.standard_normal((self.height, self.width, 3)) * self.noise).astype(np.int16)
                    for _ in range(4)]
            self._bank = (key, bank)
        return self._bank[1]

    def render_frame(self, t: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """Frame ``t`` (RGB uint8) and every sprite's visible mask on it (deterministic)."""
        cx, cy = self.camera(t)
        m = np.float32([[1, 0, -cx], [0, 1, -cy]])
        img = cv2.warpAffine(self.background, m, (self.width, self.height),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        owner = np.zeros((self.height, self.width), np.int32)  # 0 = background
        img = img.astype(np.float32)
        for s in sorted(self.sprites, key=lambda s: s.z):
            x, y = s.trajectory(t)
            w, h = s.size
            # sub-pixel placement: integer corner + a fractional shift done by resampling,
            # so motion is smooth and edges are anti-aliased (ground truth: alpha >= 0.5)
            fx, fy = x - w / 2.0, y - h / 2.0
            x0, y0 = int(np.floor(fx)), int(np.floor(fy))
            shift = np.float32([[1, 0, fx - x0], [0, 1, fy - y0]])
            tex = cv2.warpAffine(s.texture_at(t), shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            alpha = cv2.warpAffine(s.mask.astype(np.float32), shift, (w + 1, h + 1), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            fx0, fy0 = max(0, x0), max(0, y0)
            fx1, fy1 = min(self.width, x0 + w + 1), min(self.height, y0 + h + 1)
            if fx1 <= fx0 or fy1 <= fy0:
                continue
            a = alpha[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
            tx = tex[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
            region = img[fy0:fy1, fx0:fx1]
            region += a[..., None] * (tx - region)
            owner[fy0:fy1, fx0:fx1][a >= 0.5] = s.obj_id
        img = np.clip(img, 0, 255).astype(np.uint8)
        if self.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), self.blur)
        if self.noise > 0:
            bank = self._noise_bank()
            rng = np.random.default_rng((self.seed, 104729, t))
            n = bank[int(rng.integers(len(bank)))]
            n = np.roll(n, (int(rng.integers(self.height)), int(rng.integers(self.width))), axis=(0, 1))
            img = np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)
        masks = {s.obj_id: owner == s.obj_id for s in self.sprites}
        return img, masks

    def render(self) -> SyntheticClip:
        frames: list[np.ndarray] = []
        gt: dict[int, list[np.ndarray]] = {s.obj_id: [] for s in self.sprites}
        for t in range(self.num_frames):
            img, masks = self.render_frame(t)
            frames.append(img)
            for k, m in masks.items():
                gt[k].append(m)
        clicks = {}
        for k in sorted(gt):
            p = interior_point(gt[k][0])
            if p is not None:
                clicks[k] = p
        return SyntheticClip(frames=frames, gt=gt, clicks=clicks, fps=self.fps, scene=self)


def interior_point(mask: np.ndarray) -> tuple[int, int] | None:
    """``(x, y)`` of the pixel farthest from the mask's border (None for an empty mask)."""
    m = np.asarray(mask, np.uint8)
    if not m.any():
        return None
    d = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks; 1.0 when both are empty."""
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(a & b)) / union


def background_texture(width: int, height: int, rng: np.random.Generator,
                       palette: Sequence[RGB] = EARTH + WARM[:1] + COOL[:1],
                       weights: Sequence[float] | None = None) -> np.ndarray:
    """A background canvas: earthy patches plus a little of the objects' colours."""
    if weights is None:
        weights = [1.0] * (len(palette) - 2) + [0.35, 0.35]
    big = make_texture(height, width, palette, rng, weights=weights, patch=14.0, grain=12.0)
    return big


def _pan(start: tuple[float, float], vx: float, amp: float, period: float) -> Path:
    sx, sy = start
    return Path(lambda t: (sx + vx * t, sy + amp * (1.0 - np.cos(2 * np.pi * t / period))))


# ---------------------------------------------------------------------------------------
# ready-made clips
# ---------------------------------------------------------------------------------------
def crossing_clip(num_frames: int = 90, width: int = 854, height: int = 480, seed: int = 0) -> SyntheticClip:
    """Two textured objects crossing over a panning textured background.

    Object 1 is an ellipse (mostly warm colours, some cool and earthy patches), nearer the
    camera; object 2 is a smaller rectangle (mostly cool colours, some warm and earthy
    patches) moving the other way behind it. Around the middle of a 90-frame clip the
    ellipse hides the rectangle completely for several frames, then the rectangle comes out
    on the other side. The camera pans right by 2.5 px/frame with a slight vertical sway.
    Sizes and speeds scale with ``width``/``height`` and ``num_frames``.
    """
    rng = np.random.default_rng(seed)
    sx, sy = width / 854.0, height / 480.0
    speed = 5.0 * sx * 90.0 / max(num_frames, 2)
    pan_v = 2.5 * sx
    bg = background_texture(int(width + pan_v * num_frames + 60), int(height + 60), rng)
    ew, eh = int(round(220 * sx)), int(round(160 * sy))
    rw, rh = int(round(110 * sx)), int(round(80 * sy))
    # object 1: the ellipse, in front
    tex1 = make_texture(eh, ew, WARM + COOL[1:2] + EARTH[1:2], rng, weights=[1, 1, 1, 1, 0.45, 0.35], patch=7.0)
    tex2 = make_texture(rh, rw, COOL + WARM[1:2] + EARTH[5:6], rng, weights=[1, 1, 1, 1, 0.45, 0.35], patch=6.0)
    meet = 0.61 * num_frames  # the centres cross here
    x1_0 = width / 2.0 - speed * meet + 0.0 * sx
    x2_0 = width / 2.0 + speed * meet
    sprites = [
        Sprite(1, shape_mask("ellipse", ew, eh), tex1,
               Linear((x1_0, 250 * sy), (speed, 0.25 * sy)), z=2),
        Sprite(2, shape_mask("rect", rw, rh), tex2,
               Linear((x2_0, 236 * sy), (-speed, 0.3 * sy)), z=1),
    ]
    scene = Scene(width, height, num_frames, bg, camera=_pan((20.0, 20.0), pan_v, 12.0 * sy, num_frames * 1.3),
                  sprites=sprites, fps=30.0, seed=seed)
    return scene.render()


def exit_reenter_clip(num_frames: int = 90, width: int = 854, height: int = 480, seed: int = 1) -> SyntheticClip:
    """Object 1 (a blob) moves right, leaves the frame completely, turns round off-screen
    and comes back; the camera is still."""
    rng = np.random.default_rng(seed)
    bg = background_texture(width + 40, height + 40, rng)
    bw, bh = int(round(140 * width / 854)), int(round(120 * height / 480))
    tex = make_texture(bh, bw, WARM + EARTH[2:3], rng, weights=[1, 1, 1, 1, 0.4])
    n = num_frames
    keys = [(0, 0.55 * width, 0.5 * height), (0.4 * n, width + bw, 0.5 * height),
            (0.55 * n, width + bw, 0.55 * height), (0.95 * n, 0.6 * width, 0.55 * height)]
    s = Sprite(1, shape_mask("blob", bw, bh, rng), tex, Waypoints(keys), z=1)
    return Scene(width, height, num_frames, bg, camera=Linear((20.0, 20.0)), sprites=[s], seed=seed).render()


def appearance_change_clip(num_frames: int = 90, width: int = 854, height: int = 480, seed: int = 2,
                           change_at: int | None = None) -> SyntheticClip:
    """Object 1 (a rounded rectangle) drifts across a panning background; from frame
    ``change_at`` (default: half-way) its texture is replaced by a differently coloured one."""
    rng = np.random.default_rng(seed)
    pan_v = 1.5
    bg = background_texture(int(width + pan_v * num_frames + 60), height + 60, rng)
    w, h = int(round(160 * width / 854)), int(round(120 * height / 480))
    tex_a = make_texture(h, w, WARM, rng)
    tex_b = make_texture(h, w, COOL[:2] + WARM[3:4], rng, weights=[1, 1, 0.6])
    change_at = num_frames // 2 if change_at is None else change_at
    s = Sprite(1, shape_mask("rounded", w, h), tex_a,
               Linear((0.25 * width, 0.5 * height), (0.5 * width / num_frames, 0.1)), z=1,
               changes=[(change_at, tex_b)])
    return Scene(width, height, num_frames, bg, camera=Linear((20.0, 20.0), (pan_v, 0.0)),
                 sprites=[s], seed=seed).render()


def constant_speed_clip(speed: float = 4.0, num_frames: int = 60, width: int = 854, height: int = 480,
                        seed: int = 3, angle_deg: float = 0.0) -> SyntheticClip:
    """Object 1 (an ellipse) moving at exactly ``speed`` px/frame in direction ``angle_deg``
    (0 = right, 90 = down) over a still background; its centre on frame ``t`` is
    ``(x0 + t*vx, y0 + t*vy)`` with ``(x0, y0)`` chosen so that it stays in the frame if it can."""
    rng = np.random.default_rng(seed)
    bg = background_texture(width + 40, height + 40, rng)
    w, h = int(round(120 * width / 854)), int(round(90 * height / 480))
    tex = make_texture(h, w, WARM[:2] + COOL[:1], rng, weights=[1, 1, 0.5])
    a = np.deg2rad(angle_deg)
    vx, vy = speed * np.cos(a), speed * np.sin(a)
    x0 = width / 2.0 - vx * (num_frames - 1) / 2.0
    y0 = height / 2.0 - vy * (num_frames - 1) / 2.0
    s = Sprite(1, shape_mask("ellipse", w, h), tex, Linear((x0, y0), (vx, vy)), z=1)
    return Scene(width, height, num_frames, bg, camera=Linear((20.0, 20.0)), sprites=[s], seed=seed).render()


__all__ = [
    "Scene", "Sprite", "SyntheticClip", "Trajectory", "Linear", "Waypoints", "Path",
    "make_texture", "shape_mask", "background_texture", "interior_point", "iou",
    "crossing_clip", "exit_reenter_clip", "appearance_change_clip", "constant_speed_clip",
    "WARM", "COOL", "EARTH",
]


# ---------------------------------------------------------------------------------------
# long clips rendered on demand
# ---------------------------------------------------------------------------------------
class SceneVideo(VideoSource):
    """A :class:`Scene` as a VideoSource whose frames are rendered when asked for, so a clip
    of any length takes no memory (long-video tests and benchmarks)."""

    kind = "array"

    def __init__(self, scene: Scene, cache_frames: int = 4) -> None:
        super().__init__(None, scene.width, scene.height, scene.fps, scene.num_frames, cache_frames=cache_frames)
        self.scene = scene

    def _read(self, index: int) -> np.ndarray:
        return self.scene.render_frame(index)[0]

    def ground_truth(self, index: int) -> dict[int, np.ndarray]:
        return self.scene.render_frame(index)[1]


def long_scene(num_frames: int, width: int = 320, height: int = 240, seed: int = 0) -> Scene:
    """Two textured objects circling over a gently swaying background, for ever: every frame
    looks alike in cost, whatever the clip's length. Object 1 starts at the frame's left third,
    object 2 at its right third (see :func:`interior_point` of frame 0's masks for clicks)."""
    rng = np.random.default_rng(seed)
    bg = background_texture(width + 80, height + 80, rng)
    w1, h1 = width // 4, height // 4
    w2, h2 = width // 5, height // 5
    tex1 = make_texture(h1, w1, WARM + COOL[1:2], rng, patch=6.0)
    tex2 = make_texture(h2, w2, COOL + WARM[1:2], rng, patch=5.0)
    cx, cy, r = width / 2.0, height / 2.0, min(width, height) / 4.0
    period = 120.0

    def orbit(phase: float):
        return Path(lambda t: (cx + r * np.cos(2 * np.pi * t / period + phase),
                               cy + 0.6 * r * np.sin(2 * np.pi * t / period + phase)))

    sprites = [Sprite(1, shape_mask("ellipse", w1, h1), tex1, orbit(np.pi), z=2),
               Sprite(2, shape_mask("rect", w2, h2), tex2, orbit(0.0), z=1)]
    camera = Path(lambda t: (40 + 20 * np.sin(2 * np.pi * t / 300.0), 40 + 10 * np.cos(2 * np.pi * t / 200.0)))
    return Scene(width, height, num_frames, bg, camera=camera, sprites=sprites, fps=30.0, seed=seed)
