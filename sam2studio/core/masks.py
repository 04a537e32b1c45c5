"""MaskStore: every object's mask on every frame, kept RLE-compressed (pycocotools).

A 1280x720 binary mask is 900 KB raw and typically 1-5 KB as COCO RLE, so a long video's
masks fit in memory. A stored empty mask (the object is absent on that frame) is different
from no mask at all (that frame was never segmented for the object).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a 2-D mask (``counts`` as bytes)."""
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {m.shape}")
    return mask_utils.encode(m)


def decode_rle(rle: dict) -> np.ndarray:
    """Bool mask from a COCO RLE (``counts`` as bytes or str)."""
    return mask_utils.decode(rle).astype(bool)


def rle_area(rle: dict) -> int:
    return int(mask_utils.area(rle))


def rle_bbox(rle: dict) -> tuple[float, float, float, float]:
    """``(x, y, w, h)`` of the mask; zeros for an empty mask."""
    return tuple(float(v) for v in mask_utils.toBbox(rle))


@dataclass
class MaskEntry:
    rle: dict
    area: int
    score: float


class MaskReads(ABC):
    """The read API shared by mask stores, in terms of ``entry()``, ``height`` and ``width``."""

    height: int
    width: int

    @abstractmethod
    def entry(self, frame: int, obj: int) -> MaskEntry | None:
        """The stored entry of ``obj`` on ``frame``, or None."""

    def get(self, frame: int, obj: int) -> np.ndarray | None:
        """The bool mask, or None when this frame was never segmented for ``obj``."""
        e = self.entry(frame, obj)
        return None if e is None else decode_rle(e.rle)

    def get_or_empty(self, frame: int, obj: int) -> np.ndarray:
        m = self.get(frame, obj)
        return np.zeros((self.height, self.width), bool) if m is None else m

    def score(self, frame: int, obj: int) -> float | None:
        e = self.entry(frame, obj)
        return None if e is None else e.score

    def area(self, frame: int, obj: int) -> int:
        e = self.entry(frame, obj)
        return 0 if e is None else e.area

    @abstractmethod
    def present_frames(self, obj: int) -> list[int]:
        """Frames where ``obj``'s mask is not empty, ascending."""

    def presence(self, obj: int, num_frames: int) -> np.ndarray:
        """Bool array over ``num_frames``: True where the object is present."""
        out = np.zeros(num_frames, bool)
        for f in self.present_frames(obj):
            if f < num_frames:
                out[f] = True
        return out


class MaskStore(MaskReads):
    """Per frame per object masks, compressed. Thread-safe for one writer and readers."""

    def __init__(self, height: int, width: int) -> None:
        self.height = int(height)
        self.width = int(width)
        self._data: dict[int, dict[int, MaskEntry]] = {}  # obj -> frame -> entry
        self._lock = threading.RLock()
        self._revision = 0
        self._modified: dict[tuple[int, int], int] = {}  # (frame, obj) -> revision of last change

    # ---- writing -----------------------------------------------------------------------
    def set(self, frame: int, obj: int, mask: np.ndarray, score: float = 1.0) -> MaskEntry:
        mask = np.asarray(mask)
        if mask.shape != (self.height, self.width):
            raise ValueError(
                f"mask shape {mask.shape} does not match the video ({self.height}, {self.width})"
            )
        rle = encode_rle(mask)
        return self.set_rle(frame, obj, rle, score)

    def set_rle(self, frame: int, obj: int, rle: dict, score: float = 1.0, area: int | None = None) -> MaskEntry:
        entry = MaskEntry(rle=rle, area=rle_area(rle) if area is None else int(area), score=float(score))
        with self._lock:
            self._data.setdefault(int(obj), {})[int(frame)] = entry
            self._touch(frame, obj)
        return entry

    def _touch(self, frame: int, obj: int) -> None:
        self._revision += 1
        self._modified[(int(frame), int(obj))] = self._revision

    def put_result(self, frame: int, result) -> None:
        """Store an engine's :data:`~sam2studio.engines.base.FrameResult` for ``frame``."""
        for obj, om in result.items():
            self.set(frame, obj, om.mask, om.score)

    def remove(self, frame: int, obj: int) -> None:
        with self._lock:
            if self._data.get(int(obj), {}).pop(int(frame), None) is not None:
                self._touch(frame, obj)

    def remove_object(self, obj: int) -> None:
        with self._lock:
            for f in self._data.pop(int(obj), {}):
                self._touch(f, obj)

    def clear_range(self, start: int, stop: int, objects: Iterable[int] | None = None) -> int:
        """Drop masks of frames ``start..stop`` inclusive (for ``objects``, default all);
        returns how many were dropped."""
        dropped = 0
        with self._lock:
            objs = list(self._data) if objects is None else [int(o) for o in objects]
            for o in objs:
                frames = self._data.get(o, {})
                for f in [f for f in frames if start <= f <= stop]:
                    del frames[f]
                    self._touch(f, o)
                    dropped += 1
        return dropped

    def clear(self) -> None:
        with self._lock:
            for o, frames in self._data.items():
                for f in frames:
                    self._touch(f, o)
            self._data.clear()

    def changes_since(self, revision: int) -> tuple[list[tuple[int, int, MaskEntry]], list[tuple[int, int]]]:
        """What changed after ``revision``: ``(set entries, removed (frame, obj) keys)``, for
        writers that save only what changed (autosave)."""
        with self._lock:
            changed, removed = [], []
            for (f, o), rev in self._modified.items():
                if rev <= revision:
                    continue
                e = self._data.get(o, {}).get(f)
                if e is None:
                    removed.append((f, o))
                else:
                    changed.append((f, o, e))
            return changed, removed

    # ---- reading -----------------------------------------------------------------------
    @property
    def revision(self) -> int:
        """Increases on every change (for views that cache)."""
        return self._revision

    def objects(self) -> list[int]:
        with self._lock:
            return sorted(self._data)

    def has(self, frame: int, obj: int) -> bool:
        with self._lock:
            return int(frame) in self._data.get(int(obj), {})

    def entry(self, frame: int, obj: int) -> MaskEntry | None:
        with self._lock:
            return self._data.get(int(obj), {}).get(int(frame))

    def frame_masks(self, frame: int) -> dict[int, np.ndarray]:
        """Every object's mask on ``frame`` (objects with no entry there are left out)."""
        with self._lock:
            entries = {o: fr[frame] for o, fr in self._data.items() if frame in fr}
        return {o: decode_rle(e.rle) for o, e in sorted(entries.items())}

    def frames(self, obj: int) -> list[int]:
        """Frames with a stored mask (empty or not) for ``obj``, ascending."""
        with self._lock:
            return sorted(self._data.get(int(obj), {}))

    def present_frames(self, obj: int) -> list[int]:
        """Frames where ``obj``'s mask is not empty, ascending."""
        with self._lock:
            return sorted(f for f, e in self._data.get(int(obj), {}).items() if e.area > 0)

    def segmented_frames(self) -> list[int]:
        """Frames with a stored mask for at least one object."""
        with self._lock:
            return sorted({f for fr in self._data.values() for f in fr})

    def items(self) -> Iterator[tuple[int, int, MaskEntry]]:
        """``(frame, obj, entry)`` for every stored mask, by object then frame."""
        with self._lock:
            snapshot = [(f, o, e) for o, fr in sorted(self._data.items()) for f, e in sorted(fr.items())]
        yield from snapshot

    def __len__(self) -> int:
        with self._lock:
            return sum(len(fr) for fr in self._data.values())

    def nbytes(self) -> int:
        """Approximate compressed size in bytes."""
        with self._lock:
            return sum(len(e.rle["counts"]) for fr in self._data.values() for e in fr.values())
