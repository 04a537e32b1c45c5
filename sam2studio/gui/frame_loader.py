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
import threading
from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

log = logging.getLogger(__name__)


def to_qimage(frame: np.ndarray) -> QImage:
    """An RGB uint8 (H, W, 3) array as a QImage that owns its pixels."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    h, w = frame.shape[:2]
    img = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    # RGB32 is what a QPixmap holds: converting here keeps that work off the UI thread
    return img.convertToFormat(QImage.Format.Format_RGB32)


class _LoaderThread(QThread):
    loaded = Signal(int, int, QImage)  # generation, index, image
    error = Signal(int, int, str)

    def __init__(self, owner: FrameLoader) -> None:
        super().__init__()
        self.setObjectName("sam2studio-frames")
        self._o = owner

    def run(self) -> None:  # noqa: C901 - one small loop
        o = self._o
        video = None
        video_gen = -1
        while True:
            with o._cond:
                while not o._stop and o._want is None and not o._ahead:
                    o._cond.wait()
                if o._stop:
                    break
                gen = o._gen
                if gen != video_gen:
                    if video is not None and video is not o._source:
                        _close(video)
                    video, video_gen = None, gen
                src = o._source
                if o._want is not None:
                    index, wanted = o._want, True
                    o._want = None
                else:
                    index, wanted = o._ahead.pop(0), False
            if src is None:
                continue
            if video is None:
                video = _display_copy(src)
            img = o.cached(index)
            if img is None:
                try:
                    img = to_qimage(video.get_frame(index))
                except Exception as exc:  # a damaged frame: say so, keep going
                    if wanted:
                        log.warning("frame %d could not be decoded: %s", index, exc)
                        self.error.emit(gen, index, str(exc))
                    continue
                with o._cond:
                    if gen != o._gen:
                        continue
                    o._store(index, img)
            if wanted:
                self.loaded.emit(gen, index, img)
                with o._cond:
                    if gen == o._gen:
                        o._plan_ahead(index, len(src))
        if video is not None and video is not o._source:
            _close(video)


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
    except Exception:  # pragma: no cover
        pass


class FrameLoader(QObject):
    """Decodes frames for display on a worker thread (see the module docstring)."""

    frame_ready = Signal(int, QImage)
    frame_failed = Signal(int, str)

    def __init__(self, capacity: int = 24, read_ahead: int = 16, read_behind: int = 4,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.capacity = max(4, int(capacity))
        self.read_ahead = int(read_ahead)
        self.read_behind = int(read_behind)
        self._cond = threading.Condition()
        self._cache: OrderedDict[int, QImage] = OrderedDict()
        self._want: int | None = None
        self._ahead: list[int] = []
        self._source = None
        self._gen = 0
        self._stop = False
        self._thread = _LoaderThread(self)
        self._thread.loaded.connect(self._on_loaded)
        self._thread.error.connect(self._on_error)
        self._thread.start()

    # ---- UI thread -----------------------------------------------------------------------
    def set_source(self, video) -> None:
        """Show frames of ``video`` from now on (None: nothing); drops the cache."""
        with self._cond:
            self._source = video
            self._gen += 1
            self._cache.clear()
            self._want = None
            self._ahead = []
            self._cond.notify_all()

    @property
    def source(self):
        return self._source

    def request(self, index: int) -> QImage | None:
        """Ask for frame ``index``; returns it at once when cached (no signal then)."""
        with self._cond:
            img = self._cache.get(index)
            if img is not None:
                self._cache.move_to_end(index)
                self._plan_ahead(index, len(self._source) if self._source is not None else 0)
                self._cond.notify_all()
                return img
            self._want = int(index)
            self._cond.notify_all()
        return None

    def cached(self, index: int) -> QImage | None:
        with self._cond:
            return self._cache.get(index)

    def cache_size(self) -> int:
        with self._cond:
            return len(self._cache)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.wait(5000)

    @property
    def thread(self) -> QThread:
        return self._thread

    # ---- shared helpers (called with the lock held) -------------------------------------
    def _store(self, index: int, img: QImage) -> None:
        self._cache[index] = img
        self._cache.move_to_end(index)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def _plan_ahead(self, index: int, n: int) -> None:
        order = [index + k for k in range(1, self.read_ahead + 1)]
        order += [index - k for k in range(1, self.read_behind + 1)]
        self._ahead = [i for i in order if 0 <= i < n and i not in self._cache]

    # ---- slots (UI thread) ---------------------------------------------------------------
    @Slot(int, int, QImage)
    def _on_loaded(self, gen: int, index: int, img: QImage) -> None:
        if gen == self._gen:
            self.frame_ready.emit(index, img)

    @Slot(int, int, str)
    def _on_error(self, gen: int, index: int, message: str) -> None:
        if gen == self._gen:
            self.frame_failed.emit(index, message)
