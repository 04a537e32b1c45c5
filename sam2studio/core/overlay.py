"""Mask overlays: the one compositor behind the editor's canvas, the live view and the
edited-video export. Qt-free (numpy and OpenCV), safe on any thread.

An overlay is built in two steps:

1. :func:`overlay_layer` turns masks into a :class:`Layer`: straight-alpha colour over the
   masks' bounding box (plus room for edges and feathering). Each object contributes its
   colour at ``opacity`` inside its mask (softened by ``feather`` pixels when asked) and,
   with ``edge > 0``, an anti-aliased outline ``edge`` pixels wide along every boundary of
   the mask (holes included) at ``edge_opacity``; objects are laid over each other in id
   order (a later id on top, "over" compositing).
2. :func:`composite` blends a layer onto an RGB frame in place; the canvas instead hands
   :meth:`Layer.rgba` to Qt, which composites it over the frame pixmap.

:func:`paint_masks` does both onto an opaque frame, one object at a time (each object's
work stays in its own box), and :func:`draw_overlay` does that on a copy of a frame, with
optional name labels (:func:`draw_label`): "this frame with its masks on it".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from .objects import default_color

__all__ = ["Layer", "overlay_layer", "composite", "paint_masks", "draw_overlay", "draw_label", "label_scale",
           "feather_alpha", "mask_bbox"]

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1), exclusive ends

_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class Layer:
    """Straight-alpha colour over the box ``(x0, y0)`` .. ``(x0 + w, y0 + h)`` of a frame:
    ``rgb`` (h, w, 3) uint8 and ``alpha`` (h, w) float32 in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray
    origin: tuple[int, int]

    def rgba(self) -> np.ndarray:
        """The layer as straight RGBA uint8 (h, w, 4)."""
        a8 = np.rint(self.alpha * 255.0).astype(np.uint8)
        return np.dstack((self.rgb, a8))


def mask_bbox(mask: np.ndarray) -> Box | None:
    """``(x0, y0, x1, y1)`` of the True pixels of ``mask`` (exclusive ends); None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def feather_alpha(alpha: np.ndarray, radius: int) -> np.ndarray:
    """Gaussian-softened float32 alpha: sigma ``radius / 2``, kernel ``2 * radius + 1``, so
    the edge fades over about ``radius`` pixels on each side."""
    k = 2 * int(radius) + 1
    return cv2.GaussianBlur(alpha.astype(np.float32), (k, k), radius / 2.0,
                            borderType=cv2.BORDER_REPLICATE)


def _edge_coverage(crop: np.ndarray, width: int) -> np.ndarray:
    """Anti-aliased outline coverage (float32 0..1) of every boundary of the bool ``crop``."""
    m8 = np.ascontiguousarray(crop).view(np.uint8) if crop.dtype == bool else (crop > 0).astype(np.uint8)
    contours, _ = cv2.findContours(m8, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    cov = np.zeros(crop.shape, np.uint8)
    cv2.drawContours(cov, contours, -1, 255, int(width), cv2.LINE_AA)
    return cov.astype(np.float32) * np.float32(1.0 / 255.0)


def overlay_layer(masks: Mapping[int, np.ndarray | None], colors: Mapping[int, tuple] | None = None, *,
                  opacity: float = 0.5, edge: int = 0, edge_opacity: float = 1.0,
                  current: int | None = None, current_edge: int | None = None, feather_px: int = 0,
                  boxes: Mapping[int, Box | None] | None = None) -> Layer | None:
    """The layer of ``masks`` (``{obj: bool (H, W)}``); None when nothing is to be drawn.

    ``colors``: ``{obj: (r, g, b)}``; with a mapping, only its objects are drawn (leave hidden
    objects out of it); None colours every object with :func:`~sam2studio.core.objects.default_color`.
    ``opacity``: the fill (0 = outlines only). ``edge``: outline width in pixels (0 = none),
    ``current_edge`` the width for object ``current``. ``feather_px`` softens the fill's
    edge. ``boxes``: the masks' boxes when the caller knows them (saves a scan).
    """
    items = []
    for o, m in sorted(masks.items()):
        if m is None or (colors is not None and o not in colors):
            continue
        box = boxes.get(o) if boxes is not None else mask_bbox(m)
        if box is not None:
            items.append((o, m, box))
    if not items:
        return None
    opacity = min(max(float(opacity), 0.0), 1.0)
    edge_opacity = min(max(float(edge_opacity), 0.0), 1.0)
    widest = max(int(edge), int(current_edge or 0))
    r = max(0, int(feather_px))
    pad = max(r, widest // 2 + 2 if widest else 0)
    h, w = items[0][1].shape[:2]
    x0 = max(0, min(b[0] for _, _, b in items) - pad)
    y0 = max(0, min(b[1] for _, _, b in items) - pad)
    x1 = min(w, max(b[2] for _, _, b in items) + pad)
    y1 = min(h, max(b[3] for _, _, b in items) + pad)
    if len(items) == 1:  # one object: its colour everywhere, its alpha
        o, m, _ = items[0]
        a = _object_alpha(m[y0:y1, x0:x1], o, opacity, edge, edge_opacity, current, current_edge, r)
        return Layer(_solid(a.shape, _color(colors, o)), a, (x0, y0))
    rgb = np.zeros((y1 - y0, x1 - x0, 3), np.uint8)
    total = np.zeros((y1 - y0, x1 - x0), np.float32)
    for o, m, box in items:  # each object works only in its own box
        bx0, by0 = max(x0, box[0] - pad), max(y0, box[1] - pad)
        bx1, by1 = min(x1, box[2] + pad), min(y1, box[3] + pad)
        a = _object_alpha(m[by0:by1, bx0:bx1], o, opacity, edge, edge_opacity, current, current_edge, r)
        color = _color(colors, o)
        sub = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))
        under = total[sub]
        if not under.any():  # nothing below yet
            rgb[sub] = _solid(a.shape, color)
            total[sub] = a
            continue
        # "over": this object on top of what is there (straight colour)
        below = under * (np.float32(1.0) - a)
        new_total = a + below
        safe = np.where(new_total > 0, new_total, np.float32(1.0))
        mixed = (np.asarray(color, np.float32) * a[..., None] + rgb[sub] * below[..., None]) / safe[..., None]
        rgb[sub] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        total[sub] = new_total
    return Layer(rgb, total, (x0, y0))


def _color(colors: Mapping[int, tuple] | None, obj: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in (colors[obj] if colors is not None else default_color(obj))[:3])


def _solid(shape: tuple[int, int], color: tuple[int, int, int]) -> np.ndarray:
    """An (h, w, 3) uint8 image of one colour (cv2.merge of flat planes: fast)."""
    return cv2.merge([np.full(shape, v, np.uint8) for v in color])


def _object_alpha(crop: np.ndarray, obj: int, opacity: float, edge: int, edge_opacity: float,
                  current: int | None, current_edge: int | None, feather_px: int) -> np.ndarray:
    """One object's float32 alpha over ``crop``: its fill, and its outline on top."""
    if crop.dtype != bool:
        crop = crop > 0
    if opacity > 0:
        a = feather_alpha(crop, feather_px) if feather_px > 0 else crop.astype(np.float32)
        if opacity < 1.0:
            a *= np.float32(opacity)
    else:
        a = np.zeros(crop.shape, np.float32)
    width = current_edge if (obj == current and current_edge) else edge
    if width and edge_opacity > 0:
        a = np.maximum(a, _edge_coverage(crop, width) * np.float32(edge_opacity))
    return a


def composite(rgb: np.ndarray, layer: Layer | None) -> np.ndarray:
    """Blend ``layer`` onto the uint8 RGB frame ``rgb`` in place (and return it)."""
    if layer is None:
        return rgb
    x0, y0 = layer.origin
    h, w = layer.alpha.shape
    dst = rgb[y0:y0 + h, x0:x0 + w]
    a = layer.alpha
    dst[...] = cv2.blendLinear(np.ascontiguousarray(layer.rgb), np.ascontiguousarray(dst), a,
                               np.float32(1.0) - a)
    return rgb


def label_scale(height: int, width: int) -> tuple[int, float, int]:
    """``(edge width, font scale, font thickness)`` that read well on a frame of this size
    (2 px edges and a 0.6 font at 720p)."""
    scale = min(int(height), int(width)) / 720.0
    return max(1, round(2 * scale)), max(0.35, 0.6 * scale), max(1, round(1.5 * scale))


def draw_label(img: np.ndarray, text: str, color: tuple, box: Box, *, font_scale: float = 0.6,
               font_thickness: int = 1, gap: int = 2) -> None:
    """Write ``text`` (ASCII; other characters show as ``?``) on a box of ``color``, centred
    above ``box`` (``gap`` pixels above it), or just inside its top when there is no room."""
    H, W = img.shape[:2]
    color = tuple(int(c) for c in color[:3])
    text = text.encode("ascii", "replace").decode("ascii")
    (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, font_thickness)
    pad = max(2, th // 4)
    bw, bh = tw + 2 * pad, th + base + 2 * pad
    x0, y0, x1, _ = box
    x = int(round((x0 + x1) / 2 - bw / 2))
    x = min(max(x, 0), max(0, W - bw))
    y = y0 - bh - gap
    if y < 0:  # no room above the mask: put the label just inside its top
        y = min(y0 + gap, max(0, H - bh))
    cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), color, -1)
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(img, text, (x + pad, y + pad + th), _FONT, font_scale, ink, font_thickness, cv2.LINE_AA)


def paint_masks(rgb: np.ndarray, masks: Mapping[int, np.ndarray | None], colors: Mapping[int, tuple] | None = None,
                *, boxes: Mapping[int, Box | None] | None = None, **style) -> np.ndarray:
    """Composite every object's layer onto the opaque uint8 frame ``rgb`` in place, in id
    order: the same picture as compositing :func:`overlay_layer` of them all, with each
    object's work kept to its own box. ``style``: :func:`overlay_layer`'s keywords."""
    for o in sorted(masks):
        one = {o: masks[o]}
        composite(rgb, overlay_layer(one, colors, boxes=None if boxes is None else {o: boxes.get(o)}, **style))
    return rgb


def draw_overlay(rgb: np.ndarray, masks: Mapping[int, np.ndarray | None],
                 colors: Mapping[int, tuple] | None = None, opacity: float = 0.5, *,
                 edge: int = 0, names: Mapping[int, str] | None = None, feather_px: int = 0,
                 in_place: bool = False) -> np.ndarray:
    """``rgb`` with the masks drawn on it (a new array unless ``in_place``): each object's
    colour at ``opacity`` (colours default to the objects' default colours), outlines
    ``edge`` pixels wide when asked, and each named object's name above its mask."""
    out = rgb if in_place else rgb.copy()
    if colors is not None:
        colors = {o: colors.get(o) or default_color(o) for o in masks}
    paint_masks(out, masks, colors, opacity=opacity, edge=edge, feather_px=feather_px)
    if names:
        gap, font_scale, font_thickness = label_scale(*out.shape[:2])
        gap = max(gap, edge)
        for o, name in names.items():
            m = masks.get(o)
            box = None if m is None or not name else mask_bbox(m)
            if box is not None:
                color = (colors or {}).get(o) or default_color(o)
                draw_label(out, name, color, box, font_scale=font_scale,
                           font_thickness=font_thickness, gap=gap)
    return out
