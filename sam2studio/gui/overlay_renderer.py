"""Mask overlays rendered off the UI thread.

The UI describes what it wants drawn for a frame as a *signature*: the visible objects' mask
entries (immutable, so their identity says whether a mask changed), colours, opacity, outline
mode and the current object. :class:`OverlayRenderer` decodes and composes on its own thread
(latest request first, then the frames around the playhead), keeps a small LRU of results and
emits ``rendered(frame, signature)``; the UI takes the result from :meth:`result`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from ..core.masks import decode_rle
from ..core.smoothing import smoothed_mask
from .cached_worker import CachedWorker
from .canvas import compose_overlay, rgba_to_qimage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Look:
    """How masks are drawn (part of every signature)."""

    opacity: float = 0.5
    outline: bool = False
    current: int | None = None
    smooth: int = 0  # temporal smoothing window in frames (0: the stored masks as they are)


@dataclass
class Overlay:
    image: QImage | None  # premultiplied ARGB32, cropped; None: nothing to draw
    rgba: np.ndarray | None  # straight RGBA of the same crop
    offset: tuple[int, int] = (0, 0)


EMPTY = Overlay(None, None)


class _Ref:
    """Holds a mask entry; equal only to the same entry (entries are replaced, never changed)."""

    __slots__ = ("obj",)

    def __init__(self, obj) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Ref) and other.obj is self.obj


def signature(masks, frame: int, objects: dict, look: Look) -> tuple:
    """What the overlay of ``frame`` depends on: ((obj, entry id, rgb), ...) and the look.

    Only visible objects with a non-empty mask count; an empty signature needs no rendering.
    With smoothing on, the neighbouring frames' entries are part of it too (they vote).
    """
    parts = []
    half = look.smooth // 2
    for oid in sorted(objects):
        o = objects[oid]
        if not o.visible:
            continue
        e = masks.entry(frame, oid)
        if e is None:
            continue
        if half:
            near = tuple(masks.entry(g, oid) for g in range(frame - half, frame + half + 1))
            if any(n is not None and n.area > 0 for n in near):
                parts.append((oid, _Ref(e), tuple(o.color), tuple(_Ref(n) for n in near)))
        elif e.area > 0:
            parts.append((oid, _Ref(e), tuple(o.color)))
    return (tuple(parts), look) if parts else ()


def render(masks, frame: int, sig: tuple) -> Overlay:
    """Compose the overlay described by ``sig`` (on any thread)."""
    if not sig:
        return EMPTY
    parts, look = sig
    decoded, colors = {}, {}
    for oid, ref, rgb, *_near in parts:
        if look.smooth:
            m = smoothed_mask(masks, frame, oid, look.smooth)
            if m is None or not m.any():
                continue
            decoded[oid] = m
        else:
            decoded[oid] = decode_rle(ref.obj.rle)
        colors[oid] = rgb
    res = compose_overlay(decoded, colors, look.opacity, look.outline, look.current)
    if res is None:
        return EMPTY
    rgba, offset = res
    return Overlay(rgba_to_qimage(rgba), rgba, offset)


class OverlayRenderer(CachedWorker):
    """Renders overlays on a worker thread; see the module docstring."""

    rendered = Signal(int, object)  # frame, signature

    def __init__(self, capacity: int = 24, parent: QObject | None = None) -> None:
        self._queue: list[tuple[int, tuple]] = []
        self._masks = None
        super().__init__(capacity, "sam2studio-overlays", parent)

    def set_store(self, masks) -> None:
        with self._cond:
            self._masks = masks
            self._new_generation()
            self._queue.clear()

    def result(self, frame: int, sig: tuple) -> Overlay | None:
        """The rendered overlay, EMPTY for an empty signature, None when not rendered yet."""
        if not sig:
            return EMPTY
        with self._cond:
            return self._lookup((frame, sig))

    def request(self, frame: int, sig: tuple, ahead: list[tuple[int, tuple]] = ()) -> Overlay | None:
        """Ask for ``frame``'s overlay first, then ``ahead``'s; returns it at once when cached."""
        r = self.result(frame, sig)
        with self._cond:
            q = [] if r is not None or not sig else [(frame, sig)]
            q += [(f, s) for f, s in ahead if s and (f, s) not in self._cache]
            self._queue = q
            if q:
                self._cond.notify_all()
        return r

    # ---- the worker thread ---------------------------------------------------------------
    def _has_work(self) -> bool:
        return bool(self._queue)

    def _take(self) -> tuple[tuple, bool] | None:
        key = tuple(self._queue.pop(0))
        if key in self._cache or self._masks is None:
            return None
        return key, True

    def _produce(self, gen: int, key: tuple, deliver: bool) -> Overlay:
        frame, sig = key
        try:
            return render(self._masks, frame, sig)
        except Exception:  # never let one bad mask stop the thread
            log.exception("rendering the overlay of frame %d failed", frame)
            return EMPTY

    def _deliver(self, key: tuple, result: Overlay) -> None:
        self.rendered.emit(*key)
