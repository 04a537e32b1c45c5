"""VideoSource: frames of a video file, an image folder, a single image or a camera.

Every source gives frame-accurate random access by index (``get_frame``), sequential
streaming (``iter_frames``), ``fps``, per-frame ``timestamp`` and the display size. Frames are
RGB ``uint8`` arrays of shape ``(height, width, 3)``, already turned to the display rotation.
Nothing decodes the whole video up front; a small bounded LRU cache keeps recent frames.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import VideoError

DEFAULT_CACHE_FRAMES = 32


class VideoSource(ABC):
    """Base class: subclasses implement ``_read(index)`` and set the attributes below."""

    #: "file", "folder", "image", "camera" or "array"
    kind: str = "array"

    def __init__(self, path: str | Path | None, width: int, height: int, fps: float,
                 num_frames: int, cache_frames: int = DEFAULT_CACHE_FRAMES) -> None:
        self.path = None if path is None else Path(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = float(fps)
        self._num_frames = int(num_frames)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = max(1, int(cache_frames))
        self._lock = threading.RLock()

    # ---- size and time -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._num_frames

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames as displayed."""
        return self.width, self.height

    def timestamp(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the first frame."""
        self._check_index(index)
        return index / self.fps if self.fps > 0 else 0.0

    @property
    def duration(self) -> float:
        if self._num_frames == 0:
            return 0.0
        last = self.timestamp(self._num_frames - 1)
        return last + (1.0 / self.fps if self.fps > 0 else 0.0)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<memory>"

    # ---- frames ------------------------------------------------------------------------
    def get_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB uint8 ``(height, width, 3)``; frame-accurate."""
        index = self._check_index(index)
        with self._lock:
            frame = self._cache.get(index)
            if frame is not None:
                self._cache.move_to_end(index)
                return frame
            frame = self._read(index)
            self._remember(index, frame)
            return frame

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get_frame(index)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for ``start <= index < stop`` in order, decoding as it goes."""
        stop = self._num_frames if stop is None else min(stop, self._num_frames)
        for i in range(start, stop):
            yield i, self.get_frame(i)

    def _remember(self, index: int, frame: np.ndarray) -> None:
        frame.setflags(write=False)
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def _check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an integer, got {type(index).__name__}")
        index = int(index)
        if not 0 <= index < self._num_frames:
            raise IndexError(f"frame {index} is out of range: the video has frames 0 to {self._num_frames - 1}")
        return index

    @abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (already range-checked); called with the lock held."""

    # ---- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {self.width}x{self.height}, "
                f"{self._num_frames} frames, {self.fps:g} fps)")


class ArrayVideo(VideoSource):
    """Frames held in memory (a list or array of RGB uint8 frames). For tests and small clips."""

    kind = "array"

    def __init__(self, frames, fps: float = 30.0, path: str | Path | None = None) -> None:
        frames = list(frames)
        if not frames:
            raise VideoError("the clip has no frames")
        h, w = frames[0].shape[:2]
        super().__init__(path, w, h, fps, len(frames), cache_frames=1)
        self._frames = frames

    def _read(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(self._frames[index], dtype=np.uint8)
