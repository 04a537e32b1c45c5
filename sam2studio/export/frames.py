"""What the effects of an edited-video export see: the picture being built (:class:`Frame`),
the export as a whole (:class:`ExportContext`) and one source frame's masks and regions
(:class:`FrameContext`, :class:`Region`), with :func:`blend_into` to write into a region.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from ..core.masks import MaskStore, decode_rle, rle_bbox
from ..core.objects import TrackedObject
from ..core.overlay import feather_alpha
from ..core.video import VideoSource
from .common import select_objects

__all__ = ["Frame", "Region", "FrameContext", "ExportContext", "blend_into"]


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


def blend_into(img: np.ndarray, region: Region, new: np.ndarray, strength: float = 1.0) -> None:
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
        """Output time of this frame in seconds."""
        tl = self.ctx.timeline
        if tl is not None and self.out_index < len(tl.pts):
            return tl.seconds(self.out_index)  # its source time (see .timing)
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
            alpha = feather_alpha(hard, r) if r > 0 else hard
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
