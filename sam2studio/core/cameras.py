"""Cameras: streams of unknown length read with ``read() -> (seconds, rgb)``, which blocks for
the next frame. :class:`CameraVideo` is a real camera (OpenCV); :class:`FakeCamera` plays a
video file (or folder, VideoSource, synthetic clip) at its real frame rate through the same
interface, for trying live tracking out and for tests. Both end with :class:`StreamEnded`
(or another :class:`~sam2studio.errors.VideoError`)."""

from __future__ import annotations

import math
import threading
import time

import numpy as np

from ..errors import UserError, VideoError
from .video import VideoSource, open_video


class StreamEnded(VideoError):
    """The camera (or the file played as one) has no more frames."""



class CameraVideo:
    """A live camera through OpenCV: a stream of unknown length, not a :class:`VideoSource`.

    ``read()`` blocks for the next frame and returns ``(seconds since opening, RGB frame)``.
    """

    kind = "camera"

    def __init__(self, index: int = 0) -> None:
        import cv2

        self.index = int(index)
        self._cv2 = cv2
        self._lock = threading.Lock()
        cap = cv2.VideoCapture(self.index)
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            raise VideoError(f"camera {self.index} could not be opened")
        self._cap = cap
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._t0 = time.monotonic()

    @property
    def name(self) -> str:
        return f"camera {self.index}"

    def read(self) -> tuple[float, np.ndarray]:
        with self._lock:
            if self._cap is None:
                raise VideoError(f"camera {self.index} is closed")
            ok, bgr = self._cap.read()
            t = time.monotonic() - self._t0
        if not ok or bgr is None:
            raise VideoError(f"camera {self.index} stopped delivering frames")
        rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
        self.height, self.width = rgb.shape[:2]
        return t, rgb

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FakeCamera:
    """A video file (or folder, VideoSource, or synthetic clip) played through the camera
    interface: ``read() -> (seconds since the first read, rgb)``.

    With ``realtime=True`` frame ``i`` is delivered at ``i / (fps * speed)`` seconds after the
    first read: ``read()`` waits for the next frame when called early, and when called late it
    returns the frame due now, skipping the ones in between (:attr:`skipped`), as a camera
    does. With ``realtime=False`` every frame is returned in turn, as fast as read. At the end
    it raises :class:`StreamEnded`, or starts over with ``loop=True``.
    """

    kind = "camera"

    def __init__(self, source, realtime: bool = True, *, loop: bool = False, speed: float = 1.0,
                 fps: float | None = None) -> None:
        if isinstance(source, VideoSource):
            self.video = source
        elif hasattr(source, "video") and callable(source.video):  # a SyntheticClip
            self.video = source.video()
        else:
            self.video = open_video(source)
        if len(self.video) == 0:
            raise VideoError(f"{self.video.name} has no frames")
        if not speed > 0:
            raise UserError(f"speed must be positive, got {speed}")
        self.fps = float(fps or self.video.fps or 30.0)
        self.width, self.height = self.video.width, self.video.height
        self.realtime = bool(realtime)
        self.loop = bool(loop)
        self.speed = float(speed)
        self.delivered = 0  #: frames returned by read()
        self.skipped = 0  #: frames passed over because read() was called late
        self._t0: float | None = None
        self._last = -1
        self._closed = False

    @property
    def name(self) -> str:
        return f"{self.video.name} (as a camera)"

    def read(self) -> tuple[float, np.ndarray]:
        if self._closed:
            raise VideoError(f"{self.name} is closed")
        now = time.monotonic()
        rate = self.fps * self.speed
        if self._t0 is None:
            self._t0, idx = now, 0
        elif self.realtime:
            idx = int((now - self._t0) * rate + 1e-9)
            if idx <= self._last:
                idx = self._last + 1
                time.sleep(max(0.0, self._t0 + idx / rate - time.monotonic()))
            else:
                self.skipped += idx - self._last - 1
        else:
            idx = self._last + 1
        n = len(self.video)
        if idx >= n and not self.loop:
            raise StreamEnded(f"{self.video.name} has ended")
        frame = self.video.get_frame(idx % n)
        self._last = idx
        self.delivered += 1
        return time.monotonic() - self._t0, frame

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.video.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()



__all__ = ["CameraVideo", "FakeCamera", "StreamEnded"]
