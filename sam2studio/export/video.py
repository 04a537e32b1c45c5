"""Edited-video export: overlays, cut-outs with transparency, background replacement,
colour grading, motion blur and privacy effects, rendered in one streaming pass.

One pass over the frames: decode frame ``i`` (``video.iter_frames``) -> apply the effects with
that frame's masks -> encode -> mux, so memory stays flat however long the video is. A worker
thread decodes and renders up to :data:`PIPELINE_DEPTH` frames ahead while the calling thread
encodes (effects' ``apply`` runs in that worker; ``prepare``/``close``, ``progress`` and the
writing run in the calling thread). The
output keeps the source's frame rate, time base (where the container allows it) and frame
count; audio comes along (see *Audio* below). The file is written under a temporary name
beside ``out`` and renamed at the end (:func:`~sam2studio.export.common.atomic_path`); a
cancelled or failed export leaves nothing under ``out``.

Effects
-------
Each effect is a small object (:class:`Overlay`, :class:`CutOut`, :class:`Background`,
:class:`Grade`, :class:`MotionBlur`, :class:`Pixelate`, :class:`Blur`) taking the object ids
it applies to (``objects=None``: the export's selected objects). They compose in one pass,
in this documented order, whatever order the list has:

1. **pixel effects** -- :class:`Grade`, :class:`MotionBlur`, :class:`Pixelate`, :class:`Blur`:
   change the source pixels inside the objects' masks (or outside, ``invert=True``);
2. **compositing** -- :class:`Background` (everything outside the objects becomes a colour,
   an image or another video) and :class:`CutOut` (everything outside becomes transparent);
3. **overlay** -- :class:`Overlay`: translucent colour, outlines and name labels drawn on top.

Within a stage, effects run in the order they were given. ``feather`` (pixels) softens every
mask edge the effects use: the 0/1 mask is blurred with a Gaussian of standard deviation
``feather / 2`` (kernel ``2 * feather + 1``), so the edge fades over about ``feather`` pixels
on each side; ``feather=0`` keeps hard edges. Overlay outlines and labels always use the
hard mask.

Output formats (picked by the suffix of ``out``; ``codec`` overrides the encoder)
----------------------------------------------------------------------------------
* ``.mp4``, ``.m4v``, ``.mkv``, ``.mov``: H.264 (libx264, yuv420p, ``crf``, ``preset``);
* with :class:`CutOut` (transparency): ``.mov`` -> ProRes 4444 (prores_ks, yuva444p10le);
  ``.webm`` -> VP9 with alpha (libvpx-vp9, yuva420p); a path without a suffix -> a folder of
  RGBA PNG files ``000000.png, 000001.png, ...`` (output frame order); ``.mp4``/``.mkv`` cannot
  hold alpha (:class:`UserError`);
* ``.webm`` without alpha: VP9 yuv420p. A folder without alpha: RGB PNG files.

yuv420p needs an even width and height: an odd size is padded by one replicated row/column.

Audio
-----
Read from ``video.path`` with PyAV when it is a file with an audio stream (never into a PNG
folder). A full-length export passes every audio packet through unchanged (same codec, same
time base) when the container accepts that codec. A sub-range, a presence cut
(:mod:`~sam2studio.export.cut`) or a container that cannot hold the source codec re-encodes:
the audio is decoded, exactly the samples of the kept time spans are kept (silence where the
source has none) and encoded as AAC (Opus for ``.webm``), so the audio length equals the
kept video length to the sample, plus the encoder's own trailing padding (< one audio frame).
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import av
import cv2
import numpy as np

from ..core.masks import MaskStore, decode_rle, rle_bbox
from ..core.objects import TrackedObject
from ..core.video import VideoSource
from ..errors import UserError
from .common import atomic_path, check_cancel, report_progress, resolve_frames, select_objects
from .timing import output_timeline

log = logging.getLogger(__name__)

__all__ = [
    "Effect", "Overlay", "CutOut", "Background", "Grade", "MotionBlur", "Pixelate", "Blur",
    "Frame", "FrameContext", "Region", "export_video", "VIDEO_SUFFIXES",
]

Span = tuple[int, int]  # (first, last) source frames, inclusive

#: Suffixes written as a video container; a path without a suffix is a PNG folder.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".webm")

# Effect stages (the documented composition order).
PIXEL, COMPOSITE, OVERLAY = 10, 20, 30

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


# =========================================================================================
# Per-frame state handed to the effects
# =========================================================================================
@dataclass
class Frame:
    """The picture being built: ``rgb`` (H, W, 3) uint8, writable; ``alpha`` (H, W) float32
    in [0, 1] once a :class:`CutOut` made parts transparent (None = opaque)."""

    rgb: np.ndarray
    alpha: np.ndarray | None = None


@dataclass
class Region:
    """Where an effect applies: ``alpha`` covers the box ``(x0, y0, x1, y1)`` (exclusive ends)
    of the frame; bool for a hard edge, float32 in [0, 1] when feathered. ``alpha`` is None
    for an empty region."""

    box: tuple[int, int, int, int]
    alpha: np.ndarray | None

    @property
    def empty(self) -> bool:
        return self.alpha is None

    def crop(self, img: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return img[y0:y1, x0:x1]

    def full(self, height: int, width: int) -> np.ndarray:
        """The alpha as a float32 (height, width) array over the whole frame."""
        out = np.zeros((height, width), np.float32)
        if self.alpha is not None:
            self.crop(out)[...] = self.alpha
        return out


def _blend_into(img: np.ndarray, region: Region, new: np.ndarray, strength: float = 1.0) -> None:
    """``img[box] = new * w + img[box] * (1 - w)`` with ``w = region.alpha * strength``;
    ``new`` has the box's size."""
    if region.empty or strength <= 0:
        return
    dst = region.crop(img)
    a = region.alpha
    if a.dtype == bool and strength >= 1.0:
        np.copyto(dst, new, where=a[..., None])
        return
    w = a.astype(np.float32) if a.dtype == bool else a
    if strength < 1.0:
        w = w * np.float32(strength)
    dst[...] = cv2.blendLinear(np.ascontiguousarray(new), np.ascontiguousarray(dst), w,
                               np.float32(1.0) - w)


def _feather(alpha: np.ndarray, radius: int) -> np.ndarray:
    """Gaussian-softened float32 alpha (sigma = radius / 2, kernel 2 * radius + 1)."""
    k = 2 * int(radius) + 1
    return cv2.GaussianBlur(alpha.astype(np.float32), (k, k), radius / 2.0,
                            borderType=cv2.BORDER_REPLICATE)


class FrameContext:
    """Frame ``index`` of the source (output frame ``out_index``): its masks and regions,
    decoded lazily and cached for the effects of this frame."""

    def __init__(self, ctx: ExportContext, index: int, out_index: int) -> None:
        self.ctx = ctx
        self.index = int(index)
        self.out_index = int(out_index)
        self.height, self.width = ctx.height, ctx.width
        self._masks: dict[int, np.ndarray | None] = {}
        self._boxes: dict[int, tuple[int, int, int, int] | None] = {}
        self._regions: dict[tuple, Region] = {}

    @property
    def time(self) -> float:
        """Output time of this frame in seconds (its source time, see :mod:`.timing`)."""
        tl = self.ctx.timeline
        if tl is not None and self.out_index < len(tl.pts):
            return tl.seconds(self.out_index)
        return self.out_index / float(self.ctx.rate)

    def bbox(self, obj: int) -> tuple[int, int, int, int] | None:
        """``(x0, y0, x1, y1)`` of the object's mask on this frame, None when absent."""
        if obj not in self._boxes:
            e = self.ctx.masks.entry(self.index, obj)
            if e is None or e.area <= 0:
                self._boxes[obj] = None
            else:
                x, y, w, h = rle_bbox(e.rle)
                x0, y0 = int(math.floor(x)), int(math.floor(y))
                self._boxes[obj] = (x0, y0, min(self.width, int(math.ceil(x + w))),
                                    min(self.height, int(math.ceil(y + h))))
        return self._boxes[obj]

    def mask(self, obj: int) -> np.ndarray | None:
        """Bool (H, W) mask of ``obj``; None when absent (empty or never segmented)."""
        if obj not in self._masks:
            if self.bbox(obj) is None:
                self._masks[obj] = None
            else:
                self._masks[obj] = decode_rle(self.ctx.masks.entry(self.index, obj).rle)
        return self._masks[obj]

    def region(self, ids: Iterable[int], *, invert: bool = False, feather: int | None = None) -> Region:
        """The union of the objects' masks (feathered by the export's ``feather``), or with
        ``invert`` everything but it."""
        ids = tuple(sorted(set(int(o) for o in ids)))
        r = self.ctx.feather if feather is None else int(feather)
        key = (ids, invert, r)
        hit = self._regions.get(key)
        if hit is not None:
            return hit
        H, W = self.height, self.width
        boxes = [(o, self.bbox(o)) for o in ids]
        boxes = [(o, b) for o, b in boxes if b is not None]
        if not boxes:
            reg = Region((0, 0, W, H), np.ones((H, W), bool)) if invert else Region((0, 0, 0, 0), None)
        else:
            x0 = min(b[0] for _, b in boxes)
            y0 = min(b[1] for _, b in boxes)
            x1 = max(b[2] for _, b in boxes)
            y1 = max(b[3] for _, b in boxes)
            if r > 0:
                x0, y0, x1, y1 = max(0, x0 - r), max(0, y0 - r), min(W, x1 + r), min(H, y1 + r)
            hard = np.zeros((y1 - y0, x1 - x0), bool)
            for o, _ in boxes:
                hard |= self.mask(o)[y0:y1, x0:x1]
            alpha = _feather(hard, r) if r > 0 else hard
            reg = Region((x0, y0, x1, y1), alpha)
            if invert:
                if r > 0:
                    full = np.ones((H, W), np.float32)
                    reg.crop(full)[...] -= alpha
                else:
                    full = np.ones((H, W), bool)
                    reg.crop(full)[...] = ~hard
                reg = Region((0, 0, W, H), full)
        self._regions[key] = reg
        return reg


class ExportContext:
    """What the effects may look at while preparing: the video, masks, objects, selection."""

    def __init__(self, video: VideoSource, masks: MaskStore, objects: dict[int, TrackedObject],
                 selected: list[int], rate: Fraction, feather: int,
                 cancel: threading.Event | None = None) -> None:
        self.video = video
        self.masks = masks
        self.objects = objects
        self.selected = selected
        self.rate = rate
        self.timeline = None  # timing.Timeline of the export, set by the render pass
        self.feather = int(feather)
        self.cancel = cancel
        self.height, self.width = int(video.height), int(video.width)
        self._tracks: dict[int, object] = {}

    def resolve(self, ids: Iterable[int] | None) -> list[int]:
        """An effect's object ids: the selected ones for None, else checked against the objects."""
        return list(self.selected) if ids is None else select_objects(self.objects, ids)

    def tracks(self, ids: Iterable[int]) -> dict:
        """Motion tracks (:func:`~sam2studio.core.tracks.compute_tracks`) of ``ids``, cached."""
        from ..core.tracks import compute_tracks

        missing = sorted(set(int(o) for o in ids) - set(self._tracks))
        if missing:
            self._tracks.update(compute_tracks(self.masks, len(self.video), self.video.fps,
                                               objects=missing, cancel=self.cancel))
        return {o: self._tracks[o] for o in ids}


# =========================================================================================
# Effects
# =========================================================================================
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

    def close(self) -> None:
        pass

    @property
    def needs_alpha(self) -> bool:
        """True when the effect makes the output transparent (needs a format with alpha)."""
        return False

    def __repr__(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "ids"}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"


_FONT = cv2.FONT_HERSHEY_SIMPLEX


class Overlay(Effect):
    """Each object's colour blended over its mask (``opacity``), its outline and its name
    drawn near the top of the mask (ASCII; other characters show as ``?``)."""

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
        scale = min(ctx.height, ctx.width) / 720.0
        self._thick = self.thickness or max(1, round(2 * scale))
        self._font_scale = max(0.35, 0.6 * scale)
        self._font_thick = max(1, round(1.5 * scale))

    def apply(self, frame: Frame, f: FrameContext) -> None:
        img = frame.rgb
        for oid in self.ids:
            box = f.bbox(oid)
            if box is None:
                continue
            obj = f.ctx.objects[oid]
            color = tuple(int(c) for c in obj.color)
            if self.opacity > 0:
                reg = f.region((oid,))
                fill = np.empty(reg.alpha.shape + (3,), np.uint8)
                fill[...] = color
                _blend_into(img, reg, fill, self.opacity)
            if self.outline:
                x0, y0, x1, y1 = box
                crop = np.ascontiguousarray(f.mask(oid)[y0:y1, x0:x1]).view(np.uint8)
                contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                               offset=(x0, y0))
                cv2.drawContours(img, contours, -1, color, self._thick, cv2.LINE_AA)
            if self.labels and obj.name:
                self._label(img, obj.name, color, box)

    def _label(self, img: np.ndarray, text: str, color, box) -> None:
        H, W = img.shape[:2]
        text = text.encode("ascii", "replace").decode("ascii")
        (tw, th), base = cv2.getTextSize(text, _FONT, self._font_scale, self._font_thick)
        pad = max(2, th // 4)
        bw, bh = tw + 2 * pad, th + base + 2 * pad
        x0, y0, x1, _ = box
        x = int(round((x0 + x1) / 2 - bw / 2))
        x = min(max(x, 0), max(0, W - bw))
        y = y0 - bh - self._thick
        if y < 0:  # no room above the mask: put the label just inside its top
            y = min(y0 + self._thick, max(0, H - bh))
        cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), color, -1)
        luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
        cv2.putText(img, text, (x + pad, y + pad + th), _FONT, self._font_scale, ink,
                    self._font_thick, cv2.LINE_AA)


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
            except Exception as e:  # noqa: BLE001 - any decoder failure is the file's fault
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
            _blend_into(bg, reg, reg.crop(frame.rgb))
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
            _blend_into(frame.rgb, reg, out)


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
                alpha = _feather(alpha, f.ctx.feather)
            _blend_into(frame.rgb, Region((x0, y0, x1, y1), alpha), blurred)


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
        _blend_into(frame.rgb, reg, big[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0])


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
        _blend_into(frame.rgb, reg, blurred[y0 - py0:y1 - py0, x0 - px0:x1 - px0])


# =========================================================================================
# Output formats
# =========================================================================================
@dataclass
class _Format:
    kind: str  # "container" or "png"
    encoder: str | None = None
    pix_fmt: str | None = None
    options: dict = field(default_factory=dict)
    alpha: bool = False

    @property
    def even(self) -> bool:
        return bool(self.pix_fmt) and ("420" in self.pix_fmt or "422" in self.pix_fmt)


#: Pixel formats with an alpha plane, best first (full chroma before subsampled).
_ALPHA_PIX_FMTS = ("yuva444p10le", "yuva444p", "gbrap", "rgba", "bgra", "argb", "abgr",
                   "yuva422p", "yuva420p", "ya8")

_CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "prores": "prores_ks", "prores4444": "prores_ks",
    "vp9": "libvpx-vp9", "libvpx_vp9": "libvpx-vp9",
}


def _h264_encoder() -> str:
    for name in ("libx264", "libopenh264", "h264_nvenc", "mpeg4"):
        if name in av.codecs_available:
            return name
    raise UserError("no H.264 or MPEG-4 video encoder is available in this installation of PyAV.")


def _encoder_format(encoder: str, alpha: bool, crf: int, preset: str) -> _Format:
    if encoder not in av.codecs_available:
        raise UserError(f"the video encoder {encoder!r} is not available in this installation.")
    try:
        formats = [f.name for f in av.Codec(encoder, "w").video_formats or ()]
    except _AV_ERRORS:
        raise UserError(f"{encoder!r} is not a video encoder.") from None
    opts: dict[str, str] = {}
    if encoder == "libx264":
        if alpha:
            raise UserError("H.264 cannot store transparency: export the cut-out as .mov "
                            "(ProRes 4444), .webm (VP9) or a folder of PNG images.")
        pix, opts = "yuv420p", {"crf": str(int(crf)), "preset": preset}
    elif encoder == "prores_ks":
        pix = "yuva444p10le" if alpha else "yuv422p10le"
        opts = {"profile": "4444" if alpha else "hq", "vendor": "apl0"}
    elif encoder == "libvpx-vp9":
        pix = "yuva420p" if alpha else "yuv420p"
        # VP9's crf scale is 0..63; x264's 18 ("visually lossless") is about VP9's 30.
        opts = {"crf": str(min(63, int(crf) + 12)), "b": "0", "deadline": "realtime",
                "cpu-used": "8", "row-mt": "1"}
        if alpha:
            opts["auto-alt-ref"] = "0"
    else:
        if alpha:
            with_alpha = [f for f in _ALPHA_PIX_FMTS if f in formats]
            if not with_alpha:
                raise UserError(f"the video encoder {encoder!r} cannot store transparency.")
            pix = with_alpha[0]
        else:
            pref = [f for f in ("yuv420p", "yuv422p", "yuv444p", "rgb24", "bgr24", "gbrp") if f in formats]
            pix = pref[0] if pref else (formats[0] if formats else "yuv420p")
    if formats and pix not in formats:
        raise UserError(f"the video encoder {encoder!r} does not take {pix} pictures.")
    return _Format("container", encoder, pix, opts, alpha)


def _pick_format(out: Path, codec: str | None, alpha: bool, crf: int, preset: str) -> _Format:
    suffix = out.suffix.lower()
    enc = None if codec is None else _CODEC_ALIASES.get(codec.lower(), codec.lower())
    if suffix == "":
        if enc not in (None, "png"):
            raise UserError(f"{out} has no suffix, so it is written as a folder of PNG images; "
                            f"the codec {codec!r} does not apply.")
        return _Format("png", alpha=alpha)
    if suffix not in VIDEO_SUFFIXES:
        raise UserError(f"cannot write a video as {suffix!r}: use {', '.join(VIDEO_SUFFIXES)}, "
                        "or a name without a suffix for a folder of PNG images.")
    if enc is None:
        if alpha:
            if suffix == ".mov":
                enc = "prores_ks"
            elif suffix == ".webm":
                enc = "libvpx-vp9"
            else:
                raise UserError(f"a {suffix} file cannot hold transparency: export the cut-out as "
                                ".mov (ProRes 4444), .webm (VP9) or a folder of PNG images.")
        else:
            enc = "libvpx-vp9" if suffix == ".webm" else _h264_encoder()
    fmt = _encoder_format(enc, alpha, crf, preset)
    try:
        probe = av.open(os.devnull, "w", format=_MUXERS.get(suffix))
        supported = probe.supported_codecs
        probe.close()
    except _AV_ERRORS:  # pragma: no cover - depends on the FFmpeg build
        supported = None
    if supported is not None:
        name = av.Codec(enc, "w").name
        if name not in supported:
            raise UserError(f"a {suffix} file cannot hold {name} video; choose another codec or suffix.")
    return fmt


_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}


# =========================================================================================
# Source timing and audio
# =========================================================================================
@dataclass
class _SourceInfo:
    rate: Fraction
    time_base: Fraction
    video_start: float = 0.0  # seconds of the first video frame in the file's timeline
    audio_index: int | None = None
    audio_codec: str | None = None


def _probe_source(video: VideoSource) -> _SourceInfo:
    fps = float(video.fps) if video.fps and video.fps > 0 else 30.0
    rate = Fraction(fps).limit_denominator(1001)
    info = _SourceInfo(rate=rate, time_base=1 / rate)
    path = video.path
    if path is None or not Path(path).is_file():
        return info
    try:
        with av.open(str(path)) as c:
            vs = next((s for s in c.streams.video), None)
            if vs is not None:
                avg = vs.average_rate
                if avg and abs(float(avg) - fps) < 1e-3 * fps:
                    info.rate = Fraction(avg)
                if vs.time_base:
                    info.time_base = Fraction(vs.time_base)
                start = getattr(video, "pts", None)
                if start is not None and len(start):
                    info.video_start = float(int(start[0]) * Fraction(vs.time_base))
                elif vs.start_time is not None:
                    info.video_start = float(vs.start_time * vs.time_base)
            if c.streams.audio:
                a = c.streams.audio[0]
                info.audio_index = a.index
                info.audio_codec = a.codec_context.name
    except _AV_ERRORS as e:
        log.warning("cannot read the audio of %s (%s); exporting without audio", path, e)
        info.audio_index = None
    # A time base so coarse that frames would collide: use one tick per frame.
    if float(1 / info.rate / info.time_base) < 1:
        info.time_base = 1 / info.rate
    return info


class _PassthroughAudio:
    """Every audio packet of the source, unchanged, shifted to the output's time zero."""

    def __init__(self, oc, path: Path, index: int, shift_s: float) -> None:
        self.oc = oc
        self.ic = av.open(str(path))
        self.ist = self.ic.streams[index]
        self.ost = oc.add_stream_from_template(self.ist)
        self.tb = Fraction(self.ist.time_base)
        self.shift = int(round(shift_s / self.tb))
        self._packets = self.ic.demux(self.ist)
        self._pending = None

    def pump(self, until_s: float | None) -> None:
        while True:
            if self._pending is None:
                try:
                    p = next(self._packets)
                except StopIteration:
                    return
                except _AV_ERRORS as e:
                    log.warning("audio of %s stops early: %s", self.ic.name, e)
                    self._packets = iter(())
                    return
                if p.dts is None and p.pts is None:
                    continue
                self._pending = p
            p = self._pending
            t = ((p.pts if p.pts is not None else p.dts) - self.shift) * self.tb
            if until_s is not None and t > until_s:
                return
            if self.shift:
                if p.pts is not None:
                    p.pts -= self.shift
                if p.dts is not None:
                    p.dts -= self.shift
            p.stream = self.ost
            self.oc.mux(p)
            self._pending = None

    def finish(self) -> None:
        self.pump(None)

    def close(self) -> None:
        self.ic.close()


class _RecutAudio:
    """The source audio decoded, cut to ``pieces`` sample-exactly and re-encoded.

    ``pieces``: ``(source_start_s, out_start_s, out_end_s)``: the output's audio from
    ``out_start_s`` to ``out_end_s`` comes from the source from ``source_start_s`` (seconds in
    the file's timeline) on; pieces follow each other in output time. Boundaries are rounded
    to whole samples from the output times, so the total length is exact. Source audio that
    is missing becomes silence.
    """

    def __init__(self, oc, path: Path, index: int, codec: str,
                 pieces: Sequence[tuple[float, float, float]]) -> None:
        self.oc = oc
        self.ic = av.open(str(path))
        self.ist = self.ic.streams[index]
        cc = self.ist.codec_context
        src_rate = int(cc.sample_rate or 48000)
        rates = av.Codec(codec, "w").audio_rates
        sr = src_rate if not rates or src_rate in rates else (48000 if 48000 in rates else max(rates))
        self.sr = sr
        layout = cc.layout.name if cc.layout is not None and cc.channels else "stereo"
        if codec == "libopus" and cc.channels > 2:
            layout = "stereo"
        self.layout = layout
        self.channels = av.AudioLayout(layout).nb_channels
        self.ost = oc.add_stream(codec, rate=sr)
        self.ost.layout = layout
        self.ost.time_base = Fraction(1, sr)
        br = int(cc.bit_rate or 0)
        self.ost.bit_rate = min(max(br, 96_000), 320_000) if br else 192_000
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=sr)
        # (source sample start, out start, out length) in output samples
        self.pieces = [(int(round(src * sr)), int(round(a * sr)), int(round(b * sr)) - int(round(a * sr)))
                       for src, a, b in pieces]
        self.total = self.pieces[-1][1] + self.pieces[-1][2] if self.pieces else 0
        self.written = 0
        self._piece = 0
        self._chunks = self._decoded()
        self._chunk: tuple[int, np.ndarray] | None = None

    def _decoded(self) -> Iterator[tuple[int, np.ndarray]]:
        pos = None
        try:
            first = self.pieces[0][0] / self.sr if self.pieces else 0.0
            if first > 2.0:  # skip decoding what comes long before the first piece
                tb = Fraction(self.ist.time_base)
                self.ic.seek(int((first - 1.0) / tb), stream=self.ist, backward=True)
            for packet in self.ic.demux(self.ist):
                for fr in packet.decode():
                    if pos is None:
                        pos = int(round(float(fr.pts * fr.time_base) * self.sr)) if fr.pts is not None else 0
                    for r in self._resampler.resample(fr):
                        arr = r.to_ndarray().astype(np.float32, copy=False).reshape(self.channels, -1)
                        yield pos, arr
                        pos += arr.shape[1]
            for r in self._resampler.resample(None):
                arr = r.to_ndarray().astype(np.float32, copy=False).reshape(self.channels, -1)
                yield (pos or 0), arr
                pos = (pos or 0) + arr.shape[1]
        except _AV_ERRORS as e:
            log.warning("audio of %s stops early: %s", self.ic.name, e)

    def _emit(self, arr: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr, np.float32), format="fltp",
                                           layout=self.layout)
        frame.sample_rate = self.sr
        frame.pts = self.written
        frame.time_base = Fraction(1, self.sr)
        for p in self.ost.encode(frame):
            self.oc.mux(p)
        self.written += arr.shape[1]

    def _silence(self, n: int) -> None:
        while n > 0:
            m = min(n, 4096)
            self._emit(np.zeros((self.channels, m), np.float32))
            n -= m

    def pump(self, until_s: float | None) -> None:
        until = self.total if until_s is None else min(self.total, int(round(until_s * self.sr)))
        while self.written < until:
            while self._piece < len(self.pieces) and self.written >= sum(self.pieces[self._piece][1:]):
                self._piece += 1
            if self._piece >= len(self.pieces):
                return
            src0, out0, n = self.pieces[self._piece]
            if self.written < out0:  # cannot happen with contiguous pieces; be safe
                self._silence(out0 - self.written)
                continue
            need = out0 + n - self.written  # samples still owed to this piece
            s = src0 + (self.written - out0)  # source position wanted next
            if self._chunk is None:
                self._chunk = next(self._chunks, None)
                if self._chunk is None:  # the source audio ended: silence
                    self._silence(need)
                    continue
            p, arr = self._chunk
            end = p + arr.shape[1]
            if end <= s:
                self._chunk = None
                continue
            if p > s:  # a hole in the source audio
                self._silence(min(p - s, need))
                continue
            take = arr[:, s - p: s - p + need]
            self._emit(take)
            if s - p + take.shape[1] >= arr.shape[1]:
                self._chunk = None

    def finish(self) -> None:
        self.pump(None)
        for p in self.ost.encode(None):
            self.oc.mux(p)

    def close(self) -> None:
        self.ic.close()


def _audio_codec_for(oc) -> str | None:
    supported = getattr(oc, "supported_codecs", None)
    for enc, name in (("aac", "aac"), ("libopus", "opus"), ("libvorbis", "vorbis")):
        if enc in av.codecs_available and (supported is None or name in supported):
            return enc
    return None


# =========================================================================================
# Writers
# =========================================================================================
class _ContainerWriter:
    """Encodes frames at the output times of ``timeline`` (each frame's source time)."""

    def __init__(self, path: Path, fmt: _Format, width: int, height: int, rate: Fraction,
                 timeline, audio: Callable | None) -> None:
        time_base = timeline.time_base
        self.fmt = fmt
        self.path = path
        self.pad = (height % 2, width % 2) if fmt.even else (0, 0)
        self.oc = av.open(str(path), "w", format=_MUXERS.get(path.suffix.lower()))
        self.audio = None
        try:
            st = self.oc.add_stream(fmt.encoder, rate=rate)
            st.width, st.height = width + self.pad[1], height + self.pad[0]
            st.pix_fmt = fmt.pix_fmt
            st.time_base = time_base
            # the encoder's own clock too: left at 1/rate it would round every pts to a
            # constant-rate grid and re-time a variable-frame-rate video
            st.codec_context.time_base = time_base
            if fmt.options:
                st.options = dict(fmt.options)
            self.st = st
            self.rate = rate
            self.tb = time_base
            self.timeline = timeline
            self.k = 0
            if audio is not None:
                self.audio = audio(self.oc)
        except BaseException:
            self.abort()
            raise

    def write(self, frame: Frame) -> None:
        rgb = frame.rgb
        if self.fmt.alpha:
            a = np.ones(rgb.shape[:2], np.float32) if frame.alpha is None else frame.alpha
            a8 = np.rint(a * 255.0).astype(np.uint8)
            rgb = rgb.copy()
            rgb[a8 == 0] = 0
            arr, pf = cv2.merge((rgb[..., 0], rgb[..., 1], rgb[..., 2], a8)), "rgba"
        else:
            arr, pf = rgb, "rgb24"
        if any(self.pad):
            arr = cv2.copyMakeBorder(arr, 0, self.pad[0], 0, self.pad[1], cv2.BORDER_REPLICATE)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=pf)
        vf.pts = int(self.timeline.pts[self.k])
        vf.time_base = self.tb
        for p in self.st.encode(vf):
            self.oc.mux(p)
        self.k += 1
        if self.audio is not None:
            self.audio.pump(self.timeline.seconds(self.k - 1) + 0.25)

    def close(self) -> None:
        for p in self.st.encode(None):
            self.oc.mux(p)
        if self.audio is not None:
            self.audio.finish()
            self.audio.close()
            self.audio = None
        self.oc.close()

    def abort(self) -> None:
        try:
            if self.audio is not None:
                self.audio.close()
        except Exception:  # noqa: BLE001 - best effort while failing
            pass
        try:
            self.oc.close()
        except Exception:  # noqa: BLE001
            pass


class _PngWriter:
    def __init__(self, folder: Path, alpha: bool) -> None:
        self.folder = folder
        self.alpha = alpha
        self.k = 0

    def write(self, frame: Frame) -> None:
        rgb = frame.rgb
        if self.alpha:
            a = np.ones(rgb.shape[:2], np.float32) if frame.alpha is None else frame.alpha
            a8 = np.rint(a * 255.0).astype(np.uint8)
            img = cv2.merge((rgb[..., 2], rgb[..., 1], rgb[..., 0], a8))
            img[a8 == 0, :3] = 0
        else:
            img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        path = self.folder / f"{self.k:06d}.png"
        ok, data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise UserError(f"cannot encode frame {self.k} as PNG.")
        data.tofile(path)  # OSError (disk full...) becomes a UserError in atomic_path
        self.k += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


# =========================================================================================
# The pass
# =========================================================================================
def _objects_dict(objects) -> dict[int, TrackedObject]:
    if isinstance(objects, Mapping):
        return {int(k): v for k, v in objects.items()}
    return {int(o.id): o for o in objects}


def _check_spans(spans: Sequence[Span], num_frames: int) -> list[Span]:
    out: list[Span] = []
    for s in spans:
        a, b = int(s[0]), int(s[1])
        if not 0 <= a <= b < num_frames:
            raise UserError(f"span {a}..{b} is not inside the video (frames 0 to {num_frames - 1}).")
        if out and a <= out[-1][1]:
            raise UserError(f"span {a}..{b} overlaps or comes before span {out[-1][0]}..{out[-1][1]}; "
                            "spans must be in order and must not overlap.")
        out.append((a, b))
    if not out:
        raise UserError("there are no frames to export.")
    return out


def _render(video: VideoSource, masks: MaskStore, objects, out, effects: Sequence[Effect] | None,
            spans: Sequence[Span], *, audio: str, object_ids=None, codec: str | None = None,
            crf: int = 18, preset: str = "veryfast", feather: int = 0,
            progress=None, cancel: threading.Event | None = None) -> Path:
    """Render ``spans`` of ``video`` through ``effects`` into ``out``.

    ``audio``: "full" (pass the source audio through), "cut" (re-encode exactly the spans'
    time) or "none".
    """
    out = Path(out)
    objs = _objects_dict(objects)
    selected = select_objects(objs, object_ids)
    if (masks.height, masks.width) != (int(video.height), int(video.width)):
        raise UserError(f"the masks are {masks.width}x{masks.height} but the video is "
                        f"{video.width}x{video.height}.")
    if feather < 0:
        raise UserError(f"feather must not be negative, got {feather}.")
    effects = list(effects or [])
    for e in effects:
        if not isinstance(e, Effect):
            raise TypeError(f"not an effect: {e!r}")
    ordered = sorted(effects, key=lambda e: e.stage)  # stable: list order within a stage
    alpha = any(e.needs_alpha for e in ordered)
    fmt = _pick_format(out, codec, alpha, crf, preset)
    spans = _check_spans(spans, len(video))
    total = sum(b - a + 1 for a, b in spans)

    info = _probe_source(video)
    ctx = ExportContext(video, masks, objs, selected, info.rate, int(round(feather)), cancel)
    timeline = output_timeline(video, spans, info.time_base, info.video_start)
    ctx.timeline = timeline

    def rendered() -> Iterator[Frame]:
        """Decode and apply the effects, frame by frame (runs in the worker thread)."""
        k = 0
        for first, last in spans:
            for i, img in video.iter_frames(first, last + 1):
                check_cancel(cancel)
                frame = Frame(np.array(img, dtype=np.uint8, copy=True))
                fctx = FrameContext(ctx, i, k)
                for e in ordered:
                    e.apply(frame, fctx)
                yield frame
                k += 1

    try:
        for e in ordered:
            check_cancel(cancel)
            e.prepare(ctx)
        audio_factory = None
        if fmt.kind == "container" and audio != "none" and info.audio_index is not None:
            audio_factory = _audio_factory(video, info, timeline, audio, out.suffix.lower())
        check_cancel(cancel)
        with atomic_path(out, directory=fmt.kind == "png") as tmp:
            if fmt.kind == "png":
                writer = _PngWriter(tmp, fmt.alpha)
            else:
                writer = _ContainerWriter(tmp, fmt, ctx.width, ctx.height, info.rate,
                                          timeline, audio_factory)
            try:
                frames = _in_thread(rendered) if PIPELINE_DEPTH > 0 else rendered()
                try:
                    for k, frame in enumerate(frames, 1):
                        check_cancel(cancel)
                        writer.write(frame)
                        report_progress(progress, k, total)
                finally:
                    close = getattr(frames, "close", None)
                    if close is not None:
                        close()
                check_cancel(cancel)
                writer.close()
            except av.FFmpegError as e:
                writer.abort()
                if isinstance(e, OSError) and e.errno is not None:
                    raise  # disk full, permission... -> UserError in atomic_path
                raise UserError(f"encoding {out.name} failed: {e}") from e
            except BaseException:
                writer.abort()
                raise
    finally:
        for e in ordered:
            try:
                e.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real error
                log.exception("closing %r failed", e)
    return out


#: Frames decoded and rendered ahead by a worker thread while the main thread encodes
#: (0: everything in the calling thread). Bounded, so memory stays flat.
PIPELINE_DEPTH = 3

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _in_thread(make: Callable[[], Iterator], depth: int | None = None) -> Iterator:
    """Run the generator ``make()`` in a worker thread, ``depth`` items ahead; its exceptions
    (``Cancelled`` included) are raised here. Closing this generator stops the worker."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth or PIPELINE_DEPTH))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in make():
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Failed(e))

    worker = threading.Thread(target=work, name="sam2studio-export-render", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


def _audio_factory(video: VideoSource, info: _SourceInfo, timeline, mode: str,
                   suffix: str) -> Callable | None:
    path = Path(video.path)

    def make(oc):
        supported = getattr(oc, "supported_codecs", None)
        passthrough_ok = supported is None or info.audio_codec in supported
        try:
            if mode == "full" and passthrough_ok:
                return _PassthroughAudio(oc, path, info.audio_index, info.video_start)
            enc = _audio_codec_for(oc)
            if enc is None:
                log.warning("no audio encoder fits %s; exporting without audio", suffix)
                return None
            # the kept spans' source times, placed where their frames are (see .timing)
            return _RecutAudio(oc, path, info.audio_index, enc, list(timeline.pieces))
        except _AV_ERRORS as e:
            log.warning("cannot carry the audio of %s (%s); exporting without audio", path, e)
            return None

    return make


def export_video(video: VideoSource, masks: MaskStore, objects, out: str | os.PathLike,
                 effects: Sequence[Effect] | None = None, *, object_ids: Iterable[int] | None = None,
                 frames: range | None = None, codec: str | None = None, crf: int = 18,
                 preset: str = "veryfast", feather: int = 0,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None) -> Path:
    """Render ``video`` with ``effects`` applied into ``out`` and return ``out``.

    ``objects``: ``{id: TrackedObject}`` (or a list of them); ``object_ids``: the selected
    objects (default all), which every effect without its own ``objects`` applies to.
    ``frames``: a ``range`` of source frames (default all); a sub-range also cuts the audio
    to the same times (re-encoded, sample-exact); a range with a step > 1 has no audio.
    ``codec`` overrides the encoder picked from the suffix (e.g. ``"libx264"``,
    ``"prores_ks"``, ``"libvpx-vp9"``, ``"ffv1"``); ``crf``/``preset`` tune H.264 (``crf`` is
    mapped for VP9); ``feather`` softens mask edges (px). ``progress(done, total)`` is called
    per frame; setting ``cancel`` raises :class:`~sam2studio.errors.Cancelled` and leaves no
    file under ``out``. Bad input (unknown object, unreadable background, unwritable place,
    a format that cannot hold alpha) raises :class:`UserError`.
    """
    rng = resolve_frames(len(video), frames)
    if rng.step == 1:
        spans = [(rng.start, rng.stop - 1)]
        audio = "full" if len(rng) == len(video) else "cut"
    else:
        spans = [(i, i) for i in rng]
        audio = "none"
    return _render(video, masks, objects, out, effects, spans, audio=audio, object_ids=object_ids,
                   codec=codec, crf=crf, preset=preset, feather=feather, progress=progress,
                   cancel=cancel)
