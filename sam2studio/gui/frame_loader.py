"""Frame decoding for display, off the UI thread.

:class:`FrameLoader` runs a QThread that decodes the frame the UI asks for (always the latest
request: scrubbing never queues up stale work), then reads ahead around the playhead while
nothing new is asked, into a bounded LRU of QImages. The UI asks with :meth:`request` and gets
``frame_ready(index, QImage)``; :meth:`cached` answers at once for frames already decoded.

For a video file or image folder the loader opens its own decoder on the same path, so
display reads never make the engine's decoder seek back and forth.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QImage

from .cached_worker import SKIP, CachedWorker

log = logging.getLogger(__name__)


def to_qimage(frame: np.ndarray) -> QImage:
    """An RGB uint8 (H, W, 3) array as a QImage that owns its pixels."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w = frame.shape[:2]
    img = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    # RGB32 is what a QPixmap holds: converting here keeps that work off the UI thread
    return img.convertToFormat(QImage.Format.Format_RGB32)


def _display_copy(video):
    """A second decoder on the same file/folder, or the video itself."""
    if getattr(video, "kind", "") in ("file", "folder") and getattr(video, "path", None) is not None:
        try:
            from ..core.video import open_video

            copy = open_video(video.path)
            if len(copy) == len(video) and (copy.width, copy.height) == (video.width, video.height):
                return copy
            _close(copy)
        except Exception:
            log.debug("no second decoder for %s; sharing the engine's", video, exc_info=True)
    return video


def _close(video) -> None:
    try:
        video.close()
    except Exception:  # closing a display decoder is best effort
        log.debug("closing %s failed", video, exc_info=True)


class FrameLoader(CachedWorker):
    """Decodes frames for display on a worker thread (see the module docstring)."""

    frame_ready = Signal(int, QImage)
    frame_failed = Signal(int, str)
    _error = Signal(int, int, str)  # generation, index, message (from the worker thread)

    def __init__(self, capacity: int = 24, read_ahead: int = 16, read_behind: int = 4,
                 parent: QObject | None = None) -> None:
        self.read_ahead = int(read_ahead)
        self.read_behind = int(read_behind)
        self._want: int | None = None
        self._ahead: list[int] = []
        self._source = None
        self._video = None  # the worker thread's decoder of _video_src (generation _video_gen)
        self._video_src = None
        self._video_gen = -1
        super().__init__(max(4, int(capacity)), "sam2studio-frames", parent)
        self._error.connect(self._on_error)

    # ---- UI thread -----------------------------------------------------------------------
    def set_source(self, video) -> None:
        """Show frames of ``video`` from now on (None: nothing); drops the cache."""
        with self._cond:
            self._source = video
            self._new_generation()
            self._want = None
            self._ahead = []
            self._cond.notify_all()

    @property
    def source(self):
        return self._source

    def request(self, index: int) -> QImage | None:
        """Ask for frame ``index``; returns it at once when cached (no signal then)."""
        with self._cond:
            img = self._lookup(index)
            if img is not None:
                self._plan_ahead(index, len(self._source) if self._source is not None else 0)
                self._cond.notify_all()
                return img
            self._want = int(index)
            self._cond.notify_all()
        return None

    # ---- the worker thread ---------------------------------------------------------------
    def _has_work(self) -> bool:
        return self._want is not None or bool(self._ahead)

    def _take(self) -> tuple[int, bool] | None:
        if self._video_gen != self._gen:  # a new source: the old decoder goes
            self._drop_video()
            self._video_gen, self._video_src = self._gen, self._source
        if self._source is None:
            self._want, self._ahead = None, []
            return None
        if self._want is not None:
            index, self._want = self._want, None
            return index, True
        return self._ahead.pop(0), False

    def _produce(self, gen: int, index: int, wanted: bool):
        if self._video is None:
            self._video = _display_copy(self._video_src)
        try:
            return to_qimage(self._video.get_frame(index))
        except Exception as exc:  # noqa: BLE001 - a damaged frame: say so, keep going
            if wanted:
                log.warning("frame %d could not be decoded: %s", index, exc)
                self._error.emit(gen, index, str(exc))
            return SKIP

    def _stored(self, index: int, wanted: bool) -> None:
        self._plan_ahead(index, len(self._source))

    def _deliver(self, index: int, img: QImage) -> None:
        self.frame_ready.emit(index, img)

    def _drop_video(self) -> None:
        """Close the worker's decoder when it is a second one (worker thread)."""
        if self._video is not None and self._video is not self._video_src:
            _close(self._video)
        self._video = None

    def _thread_exit(self) -> None:
        self._drop_video()

    # ---- helpers -------------------------------------------------------------------------
    def _plan_ahead(self, index: int, n: int) -> None:
        """Read ahead of and a little behind ``index`` while nothing is asked (lock held)."""
        order = [index + k for k in range(1, self.read_ahead + 1)]
        order += [index - k for k in range(1, self.read_behind + 1)]
        self._ahead = [i for i in order if 0 <= i < n and i not in self._cache]

    @Slot(int, int, str)
    def _on_error(self, gen: int, index: int, message: str) -> None:
        if gen == self._gen:
            self.frame_failed.emit(index, message)
