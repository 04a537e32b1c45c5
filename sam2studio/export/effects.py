"""The seven effects of the edited-video export, and their base class :class:`Effect`.

Each effect takes the object ids it applies to (``objects=None``: the export's selected
objects). They compose in one pass, in this documented order, whatever order the list has:

1. **pixel effects** -- :class:`Grade`, :class:`MotionBlur`, :class:`Pixelate`, :class:`Blur`:
   change the source pixels inside the objects' masks (or outside, ``invert=True``);
2. **compositing** -- :class:`Background` (everything outside the objects becomes a colour,
   an image or another video) and :class:`CutOut` (everything outside becomes transparent);
3. **overlay** -- :class:`Overlay`: translucent colour, outlines and name labels drawn on top.

Within a stage, effects run in the order they were given. To add an effect: subclass
:class:`Effect`, pick its ``stage``, do per-export work in ``prepare`` and change the
:class:`~sam2studio.export.frames.Frame` in ``apply`` (through ``FrameContext.region`` and
:func:`~sam2studio.export.frames.blend_into`), then register it in
:mod:`sam2studio.export.video_formats`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from ..core.overlay import draw_label, feather_alpha, label_scale, paint_masks
from ..core.video import VideoSource
from ..errors import UserError
from .frames import ExportContext, Frame, FrameContext, Region, blend_into

__all__ = ["Effect", "Overlay", "CutOut", "Background", "Grade", "MotionBlur", "Pixelate", "Blur",
           "PIXEL", "COMPOSITE", "OVERLAY"]

# Effect stages (the documented composition order).
PIXEL, COMPOSITE, OVERLAY = 10, 20, 30


class Effect(ABC):
    """Base class: ``prepare`` once before the pass, ``apply`` on every frame, ``close`` after.

    ``objects``: the ids the effect applies to; None = the export's selected objects.
    """

    stage: ClassVar[int] = PIXEL

    def __init__(self, objects: Iterable[int] | None = None) -> None:
        self.objects = None if objects is None else tuple(int(o) for o in objects)
        self.ids: list[int] = []

    def prepare(self, ctx: ExportContext) -> None:
        self.ids = ctx.resolve(self.objects)

    @abstractmethod
    def apply(self, frame: Frame, f: FrameContext) -> None:
        """Change ``frame`` (its pixels, or its alpha) in place."""

    def close(self) -> None:  # noqa: B027 - a hook; only effects that hold resources need it
        """Release what ``prepare`` opened (called once after the pass, also on failure)."""

    @property
    def needs_alpha(self) -> bool:
        """True when the effect makes the output transparent (needs a format with alpha)."""
        return False

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "ids"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


class Overlay(Effect):
    """Each object's colour blended over its mask (``opacity``), its outline and its name
    drawn near the top of the mask (ASCII; other characters show as ``?``): the
    compositor of :mod:`sam2studio.core.overlay`, as the editor draws it."""

    stage = OVERLAY

    def __init__(self, opacity: float = 0.5, outline: bool = True, labels: bool = True,
                 objects: Iterable[int] | None = None, *, thickness: int | None = None) -> None:
        super().__init__(objects)
        if not 0.0 <= opacity <= 1.0:
            raise UserError(f"overlay opacity must be between 0 and 1, got {opacity}.")
        self.opacity = float(opacity)
        self.outline = bool(outline)
        self.labels = bool(labels)
        self.thickness = thickness

    def prepare(self, ctx: ExportContext) -> None:
        super().prepare(ctx)
        thick, self._font_scale, self._font_thick = label_scale(ctx.height, ctx.width)
        self._thick = self.thickness or thick

    def apply(self, frame: Frame, f: FrameContext) -> None:
        masks, boxes, colors = {}, {}, {}
        for oid in self.ids:
            box = f.bbox(oid)
            if box is not None:
                masks[oid], boxes[oid] = f.mask(oid), box
                colors[oid] = tuple(int(c) for c in f.ctx.objects[oid].color)
        if not masks:
            return
        paint_masks(frame.rgb, masks, colors, boxes=boxes, opacity=self.opacity,
                    edge=self._thick if self.outline else 0, feather_px=f.ctx.feather)
        if self.labels:
            for oid, box in boxes.items():
                name = f.ctx.objects[oid].name
                if name:
                    draw_label(frame.rgb, name, colors[oid], box, font_scale=self._font_scale,
                               font_thickness=self._font_thick, gap=self._thick)


class CutOut(Effect):
    """Keep only the objects' pixels: everything else becomes fully transparent (needs an
    output with alpha: ``.mov`` ProRes 4444, ``.webm`` VP9, or a PNG folder)."""

    stage = COMPOSITE

    @property
    def needs_alpha(self) -> bool:
        return True

    def apply(self, frame: Frame, f: FrameContext) -> None:
        a = f.region(self.ids).full(f.height, f.width)
        frame.alpha = a if frame.alpha is None else frame.alpha * a


def _parse_color(color) -> tuple[int, int, int]:
    if isinstance(color, str):
        s = color.strip().lstrip("#")
        if len(s) == 6:
            try:
                return tuple(int(s[i:i + 2], 16) for i in (0, 2, 4))
            except ValueError:
                pass
        raise UserError(f"colour {color!r} is not of the form #rrggbb.")
    try:
        c = tuple(int(v) for v in color)
    except (TypeError, ValueError):
        raise UserError(f"colour {color!r} is not an (r, g, b) triple.") from None
    if len(c) != 3 or not all(0 <= v <= 255 for v in c):
        raise UserError(f"colour {color!r} must be three values from 0 to 255.")
    return c


def _cover(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``img`` to cover ``width`` x ``height`` (keeping its aspect) and centre-crop."""
    h, w = img.shape[:2]
    s = max(width / w, height / h)
    nw, nh = max(width, int(math.ceil(w * s - 1e-6))), max(height, int(math.ceil(h * s - 1e-6)))
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x, y = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(img[y:y + height, x:x + width])


class _BackgroundVideo:
    """Frames of another video, in order, looped when it is shorter, scaled to cover."""

    def __init__(self, src, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._own = False
        if isinstance(src, VideoSource):
            self.video = src
        else:
            from ..core.video import open_video

            try:
                self.video = open_video(Path(src))
            except UserError as e:
                raise UserError(f"the background video {src} cannot be read: {e}.") from e
            except Exception as e:  # any decoder failure is the file's fault
                raise UserError(f"the background video {src} cannot be read: {e}.") from e
            self._own = True
        if len(self.video) == 0:
            raise UserError(f"the background video {self.video.name} has no frames.")
        self._name = str(src) if not isinstance(src, VideoSource) else self.video.name
        self._it: Iterator | None = None

    def next_frame(self) -> np.ndarray:
        for _ in range(2):
            if self._it is None:
                self._it = self.video.iter_frames()
            try:
                _, img = next(self._it)
                return _cover(np.asarray(img)[..., :3], self.width, self.height)
            except StopIteration:
                self._it = None  # loop
            except UserError as e:
                raise UserError(f"the background video {self._name} cannot be read: {e}.") from e
        raise UserError(f"the background video {self._name} has no frames that can be read.")

    def close(self) -> None:
        self._it = None
        if self._own:
            self.video.close()


class Background(Effect):
    """Replace everything outside the objects' masks with a solid ``color`` (RGB triple or
    ``"#rrggbb"``), an ``image`` (path or RGB array; scaled to cover, centre-cropped) or
    another ``video`` (path or VideoSource; frame k of the export shows its frame k, looped
    when it is shorter, trimmed when longer, scaled to cover). Default: black."""

    stage = COMPOSITE

    def __init__(self, color=None, image=None, video=None, objects: Iterable[int] | None = None) -> None:
        super().__init__(objects)
        if sum(x is not None for x in (color, image, video)) > 1:
            raise UserError("choose one background: a colour, an image or a video.")
        self.color = None if color is None else _parse_color(color)
        self.image = image
        self.video = video
        self._still: np.ndarray | None = None
        self._bgvideo: _BackgroundVideo | None = None

    def prepare(self, ctx: ExportContext) -> None:
        super().prepare(ctx)
        W, H = ctx.width, ctx.height
        self._still, self._bgvideo = None, None
        if self.video is not None:
            self._bgvideo = _BackgroundVideo(self.video, W, H)
        elif self.image is not None:
            if isinstance(self.image, np.ndarray):
                img = self.image
                if img.ndim == 2:
                    img = np.repeat(img[..., None], 3, axis=2)
                img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
            else:
                path = Path(self.image)
                data = None
                try:
                    data = np.fromfile(path, np.uint8)
                except OSError:
                    pass
                bgr = None if data is None or data.size == 0 else cv2.imdecode(data, cv2.IMREAD_COLOR)
                if bgr is None:
                    raise UserError(f"the background image {path} cannot be read.")
                img = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            self._still = _cover(img, W, H)
        else:
            self._still = np.empty((H, W, 3), np.uint8)
            self._still[...] = self.color if self.color is not None else (0, 0, 0)

    def apply(self, frame: Frame, f: FrameContext) -> None:
        bg = self._bgvideo.next_frame() if self._bgvideo is not None else self._still.copy()
        reg = f.region(self.ids)
        if not reg.empty:
            blend_into(bg, reg, reg.crop(frame.rgb))
        frame.rgb = bg

    def close(self) -> None:
        if self._bgvideo is not None:
            self._bgvideo.close()
            self._bgvideo = None


class Grade(Effect):
    """Colour grade inside the objects' masks (``invert=True``: outside them, the
    background): ``saturation`` (0 = grey, 1 = unchanged), then ``contrast`` around mid-grey
    128 (1 = unchanged), then ``brightness`` added as a fraction of full scale (-1..1)."""

    def __init__(self, saturation: float = 1.0, brightness: float = 0.0, contrast: float = 1.0,
                 invert: bool = False, objects: Iterable[int] | None = None) -> None:
        super().__init__(objects)
        if saturation < 0 or contrast < 0:
            raise UserError("saturation and contrast must not be negative.")
        if not -1.0 <= brightness <= 1.0:
            raise UserError(f"brightness must be between -1 and 1, got {brightness}.")
        self.saturation = float(saturation)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.invert = bool(invert)
        v = np.arange(256, dtype=np.float32)
        lut = (v - 128.0) * self.contrast + 128.0 + 255.0 * self.brightness
        self._lut = np.clip(np.rint(lut), 0, 255).astype(np.uint8)
        self._identity_lut = self.contrast == 1.0 and self.brightness == 0.0

    def apply(self, frame: Frame, f: FrameContext) -> None:
        reg = f.region(self.ids, invert=self.invert)
        if reg.empty:
            return
        src = reg.crop(frame.rgb)
        out = src
        if self.saturation != 1.0:
            grey = cv2.cvtColor(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            out = cv2.addWeighted(src, self.saturation, grey, 1.0 - self.saturation, 0.0)
        if not self._identity_lut:
            out = cv2.LUT(out, self._lut)
        if out is not src:
            blend_into(frame.rgb, reg, out)


def _line_kernel(length: float, angle: float) -> np.ndarray:
    """Normalised anti-aliased line of ``length`` px at ``angle`` (radians, image axes)."""
    size = max(3, int(math.ceil(length)) | 1)
    canvas = np.zeros((size, size), np.uint8)
    c = (size - 1) / 2.0
    half = max(0.0, (length - 1.0) / 2.0)
    dx, dy = math.cos(angle) * half, math.sin(angle) * half
    p1 = (int(round((c - dx) * 16)), int(round((c - dy) * 16)))
    p2 = (int(round((c + dx) * 16)), int(round((c + dy) * 16)))
    cv2.line(canvas, p1, p2, 255, 1, cv2.LINE_AA, shift=4)
    k = canvas.astype(np.float32)
    return k / k.sum()


class MotionBlur(Effect):
    """Blur each object along its own direction of motion on that frame (velocity from
    :func:`~sam2studio.core.tracks.compute_tracks`): a line kernel ``strength * speed`` px long
    (speed in px/frame, capped at ``max_length``) rotated to the motion direction, applied by
    ``cv2.filter2D`` inside the object's mask dilated by the smear (the trail fades out)."""

    def __init__(self, strength: float = 1.0, objects: Iterable[int] | None = None, *,
                 max_length: int = 151) -> None:
        super().__init__(objects)
        if strength < 0:
            raise UserError(f"motion blur strength must not be negative, got {strength}.")
        self.strength = float(strength)
        self.max_length = int(max_length)

    def prepare(self, ctx: ExportContext) -> None:
        super().prepare(ctx)
        self._velocity = {o: t.velocity for o, t in ctx.tracks(self.ids).items()}

    def apply(self, frame: Frame, f: FrameContext) -> None:
        H, W = f.height, f.width
        for oid in self.ids:
            box = f.bbox(oid)
            vel = self._velocity[oid]
            if box is None or f.index >= len(vel):
                continue
            vx, vy = (float(v) for v in vel[f.index])
            if not (math.isfinite(vx) and math.isfinite(vy)):
                continue
            length = min(self.strength * math.hypot(vx, vy), float(self.max_length))
            if length < 1.5:
                continue
            k = _line_kernel(length, math.atan2(vy, vx))
            pad = k.shape[0] // 2 + 1 + f.ctx.feather
            x0, y0, x1, y1 = box
            x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(W, x1 + pad), min(H, y1 + pad)
            src = frame.rgb[y0:y1, x0:x1]
            blurred = cv2.filter2D(src, -1, k, borderType=cv2.BORDER_REFLECT)
            m = f.mask(oid)[y0:y1, x0:x1].astype(np.float32)
            smear = cv2.filter2D(m, -1, k, borderType=cv2.BORDER_CONSTANT)
            alpha = np.maximum(m, np.minimum(1.0, 2.0 * smear))
            if f.ctx.feather > 0:
                alpha = feather_alpha(alpha, f.ctx.feather)
            blend_into(frame.rgb, Region((x0, y0, x1, y1), alpha), blurred)


class Pixelate(Effect):
    """Privacy mosaic: ``block`` x ``block`` px cells (on a grid fixed to the frame, so it
    does not shimmer as the object moves) inside the objects' masks (``invert``: outside)."""

    def __init__(self, block: int = 16, objects: Iterable[int] | None = None, *,
                 invert: bool = False) -> None:
        super().__init__(objects)
        if int(block) < 2:
            raise UserError(f"pixelate block must be at least 2 px, got {block}.")
        self.block = int(block)
        self.invert = bool(invert)

    def apply(self, frame: Frame, f: FrameContext) -> None:
        reg = f.region(self.ids, invert=self.invert)
        if reg.empty:
            return
        b = self.block
        x0, y0, x1, y1 = reg.box
        gx0, gy0 = (x0 // b) * b, (y0 // b) * b
        gx1, gy1 = min(f.width, -(-x1 // b) * b), min(f.height, -(-y1 // b) * b)
        src = frame.rgb[gy0:gy1, gx0:gx1]
        h, w = src.shape[:2]
        small = cv2.resize(src, (-(-w // b), -(-h // b)), interpolation=cv2.INTER_AREA)
        big = np.repeat(np.repeat(small, b, axis=0), b, axis=1)[:h, :w]
        blend_into(frame.rgb, reg, big[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0])


class Blur(Effect):
    """Privacy blur: Gaussian of standard deviation ``sigma`` px inside the objects' masks
    (``invert``: outside, e.g. a blurred background)."""

    def __init__(self, sigma: float = 15.0, objects: Iterable[int] | None = None, *,
                 invert: bool = False) -> None:
        super().__init__(objects)
        if sigma <= 0:
            raise UserError(f"blur sigma must be positive, got {sigma}.")
        self.sigma = float(sigma)
        self.invert = bool(invert)

    def apply(self, frame: Frame, f: FrameContext) -> None:
        reg = f.region(self.ids, invert=self.invert)
        if reg.empty:
            return
        pad = int(math.ceil(3 * self.sigma))
        x0, y0, x1, y1 = reg.box
        px0, py0 = max(0, x0 - pad), max(0, y0 - pad)
        px1, py1 = min(f.width, x1 + pad), min(f.height, y1 + pad)
        src = frame.rgb[py0:py1, px0:px1]
        s = self.sigma
        if s > 6:  # blur a smaller copy: same look, a fraction of the work
            f_ = s / 3.0
            h, w = src.shape[:2]
            sw, sh = max(1, int(round(w / f_))), max(1, int(round(h / f_)))
            small = cv2.resize(src, (sw, sh), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), s * sw / w, borderType=cv2.BORDER_REFLECT)
            blurred = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            blurred = cv2.GaussianBlur(src, (0, 0), s, borderType=cv2.BORDER_REFLECT)
        blend_into(frame.rgb, reg, blurred[y0 - py0:y1 - py0, x0 - px0:x1 - px0])
