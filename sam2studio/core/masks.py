"""MaskStore: every object's mask on every frame, kept RLE-compressed (pycocotools).

A 1280x720 binary mask is 900 KB raw and typically 1-5 KB as COCO RLE, so a long video's
masks fit in memory. A stored empty mask (the object is absent on that frame) is different
from no mask at all (that frame was never segmented for the object).

Stored masks carry a CRC32 (:func:`mask_checksum`) of their frame, object, area, score and
RLE bytes; a project file verifies it on every read, so damaged mask data is reported with
its frame and object (:class:`DamagedMask`) instead of being decoded into a wrong mask.
"""

from __future__ import annotations

import struct
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from pycocotools import mask as mask_utils

from ..errors import ProjectError


class DamagedMaskError(ProjectError):
    """A stored mask whose data cannot be decoded (damaged on disk)."""


@dataclass(frozen=True, order=True)
class DamagedMask:
    """A mask (or mask prompt) whose stored data failed its check. ``frame``/``obj`` are None
    when the damage hid which row it was."""

    frame: int | None
    obj: int | None
    what: str = "mask"  # "mask" or "prompt"

    def __str__(self) -> str:
        if self.frame is None or self.obj is None:
            return f"an unreadable {self.what} row: {self.what} data is damaged"
        return f"frame {self.frame}, object {self.obj}: {self.what} data is damaged"


def describe_damaged(damaged, limit: int = 3) -> str:
    """``"frame 32, object 2: mask data is damaged"``, or the first ``limit`` and a count."""
    items = sorted(damaged, key=lambda d: (d.frame is None, d.frame or 0, d.obj or 0, d.what))
    text = "; ".join(str(d) for d in items[:limit])
    if len(items) > limit:
        text += f" (and {len(items) - limit} more)"
    return text


def damaged_by_object(damaged, limit: int = 8) -> str:
    """``"object 1 on frames 12, 13, 27; object 2 on frame 5"`` (at most ``limit`` frames each)."""
    by_obj: dict = {}
    for d in damaged:
        if d.frame is not None and d.obj is not None:
            by_obj.setdefault(d.obj, set()).add(d.frame)
    parts = []
    for obj, frames in sorted(by_obj.items()):
        fs = sorted(frames)
        shown = ", ".join(str(f) for f in fs[:limit]) + (f" and {len(fs) - limit} more" if len(fs) > limit else "")
        parts.append(f"object {obj} on frame{'s' if len(fs) != 1 else ''} {shown}")
    return "; ".join(parts) or "rows whose frame and object cannot be read"


def mask_checksum(frame: int, obj: int, counts: bytes, area: int, score: float) -> int:
    """CRC32 of one stored mask row: its key, area, score and RLE bytes."""
    head = struct.pack("<qqqd", int(frame), int(obj), int(area), float(score))
    return zlib.crc32(bytes(counts), zlib.crc32(head))


def prompt_checksum(frame: int, obj: int, data: str, mask: bytes | None) -> int:
    """CRC32 of one stored prompt row."""
    head = struct.pack("<qq", int(frame), int(obj)) + data.encode("utf-8")
    return zlib.crc32(b"" if mask is None else bytes(mask), zlib.crc32(head))


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a 2-D mask (``counts`` as bytes)."""
    m = np.asfortranarray(np.asarray(mask, dtype=np.uint8))
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {m.shape}")
    return mask_utils.encode(m)


def decode_rle(rle: dict) -> np.ndarray:
    """Bool mask from a COCO RLE (``counts`` as bytes or str). Counts that do not describe a
    mask of ``size`` (damaged data) raise :class:`DamagedMaskError`."""
    try:
        return mask_utils.decode(rle).astype(bool)
    except (ValueError, TypeError) as exc:
        raise DamagedMaskError(f"mask data is damaged ({exc})") from None


def rle_runs(counts: bytes) -> list[int] | None:
    """The run lengths of a compressed COCO RLE string (pycocotools' format: 5 bits per char
    from 48, 0x20 = more, sign bit 0x10, runs after the second stored as differences), or None
    when the bytes do not parse."""
    runs: list[int] = []
    s = bytes(counts)
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                return None
            c = s[p] - 48
            if not 0 <= c < 64:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_is_valid(rle: dict) -> bool:
    """True when ``rle``'s runs are well formed and add up to exactly height x width pixels
    (pycocotools' decoder does not check this for every kind of damage)."""
    h, w = rle["size"]
    c = rle["counts"]
    if isinstance(c, list):
        runs = c
    else:
        runs = rle_runs(c.encode("ascii") if isinstance(c, str) else c)
    return runs is not None and all(r >= 0 for r in runs) and sum(runs) == int(h) * int(w)


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
        if e is None:
            return None
        try:
            return decode_rle(e.rle)
        except DamagedMaskError:
            raise DamagedMaskError(f"frame {frame}, object {obj}: mask data is damaged") from None

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
