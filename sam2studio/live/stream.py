"""The frames of a live stream as the engines see them: :class:`Captured` (one camera frame)
and :class:`StreamVideo`, a window of frames bound on demand (see :mod:`sam2studio.live`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.video import VideoSource
from ..errors import VideoError

KEEP_FRAMES = 8


@dataclass
class Captured:
    """One frame as it came from the camera."""

    seq: int  # how many frames the camera had delivered before it
    t: float  # the camera's timestamp, seconds
    rgb: np.ndarray
    arrival: float  # time.monotonic() when read() returned it


class StreamVideo(VideoSource):
    """A window of a live stream as a VideoSource of ``capacity`` frames.

    Frame 0 is given; frame ``i > 0`` is bound the first time it is asked for, to what
    ``supplier()`` returns then (the newest camera frame, waiting for one). Only frame 0 and
    the last ``keep`` frames are kept; asking for an older one raises IndexError.
    """

    kind = "stream"

    def __init__(self, first: Captured, supplier: Callable[[], Captured], capacity: int, fps: float,
                 keep: int = KEEP_FRAMES) -> None:
        h, w = first.rgb.shape[:2]
        super().__init__(None, w, h, fps, max(2, int(capacity)), cache_frames=1)
        self._supplier = supplier
        self._frames: OrderedDict[int, Captured] = OrderedDict({0: first})
        self._next = 1
        self._keep = max(2, int(keep))

    @property
    def bound(self) -> int:
        """How many frames have been bound so far."""
        return self._next

    def captured(self, index: int) -> Captured:
        with self._lock:
            cap = self._frames.get(int(index))
        if cap is None:
            raise IndexError(f"frame {index} of the live window is not kept")
        return cap

    def get_frame(self, index: int) -> np.ndarray:
        index = self._check_index(index)
        with self._lock:
            while index >= self._next:
                cap = self._supplier()
                if cap.rgb.shape[:2] != (self.height, self.width):
                    raise VideoError(f"the camera changed its frame size to {cap.rgb.shape[1]}x"
                                     f"{cap.rgb.shape[0]} (was {self.width}x{self.height})")
                self._frames[self._next] = cap
                self._next += 1
                while len(self._frames) > self._keep + 1:
                    oldest = next(k for k in self._frames if k != 0)
                    del self._frames[oldest]
            return self.captured(index).rgb

    def _read(self, index: int) -> np.ndarray:  # pragma: no cover - get_frame is overridden
        return self.get_frame(index)

