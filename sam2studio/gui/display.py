"""What the canvas shows: a frame's image and its mask overlay, put up together.

The image comes from the frame loader thread and the overlay from the overlay renderer thread;
:class:`FrameDisplay` waits (at most ~0.1 s) for whichever comes second so a frame never
flashes without its masks, and redraws only the overlay when a mask of the shown frame
changes. Prompt markers are drawn at once (they are cheap).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QImage

from .canvas import Canvas
from .frame_loader import FrameLoader
from .overlay_renderer import Look, OverlayRenderer, signature

#: longest wait for an overlay before the image is shown without it (seconds)
OVERLAY_WAIT = 0.1


class FrameDisplay(QObject):
    frame_failed = Signal(int, str)

    def __init__(self, canvas: Canvas, objects: Callable[[], dict], current: Callable[[], int | None],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.canvas = canvas
        self._objects = objects
        self._current = current
        self.session = None
        self.frame = 0
        self.playing = False
        self.smooth = 0  # temporal smoothing window of the view (0: off)
        self.loader = FrameLoader(parent=self)
        self.overlays = OverlayRenderer(parent=self)
        self._pending_image: tuple[int, QImage] | None = None
        self._want: tuple = (-1, ())
        self._shown = None
        self._asked = 0.0
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(0)
        self._redraw.timeout.connect(self._do_refresh)
        self._fallback = QTimer(self)
        self._fallback.setSingleShot(True)
        self._fallback.setInterval(int(OVERLAY_WAIT * 1000) + 10)
        self._fallback.timeout.connect(lambda: self._try_show(force=True))
        self.loader.frame_ready.connect(self._on_frame_ready)
        self.loader.frame_failed.connect(self.frame_failed)
        self.overlays.rendered.connect(self._on_rendered)

    # ---- session -------------------------------------------------------------------------
    def set_session(self, session) -> None:
        self.session = session
        self.loader.set_source(None if session is None else session.video)
        self.overlays.set_store(None if session is None else session.masks)
        self._pending_image = None
        self._want, self._shown = (-1, ()), None
        self.canvas.set_image(0, None)

    def stop(self) -> None:
        self._redraw.stop()
        self._fallback.stop()
        self.loader.stop()
        self.overlays.stop()

    # ---- showing ---------------------------------------------------------------------------
    def show(self, frame: int) -> None:
        """Put frame ``frame`` on the canvas (image and overlay together)."""
        if self.session is None:
            return
        self.frame = int(frame)
        img = self.loader.request(self.frame)
        self._pending_image = (self.frame, img) if img is not None else None
        self._request_overlay()
        self._try_show()

    def refresh(self) -> None:
        """Redraw the overlay and markers of the shown frame (coalesced: once per event-loop pass)."""
        if not self._redraw.isActive():
            self._redraw.start()

    @property
    def busy(self) -> bool:
        """True until the canvas shows the current frame with its latest overlay."""
        if self.session is None:
            return False
        return (self._pending_image is not None or self.canvas.frame_index != self.frame
                or self._redraw.isActive() or (self._want[1] != () and self._shown != self._want))

    def _look(self) -> Look:
        return Look(self.canvas.opacity, self.canvas.outline, self._current(), self.smooth)

    def _request_overlay(self) -> None:
        s = self.session
        look, objs = self._look(), self._objects()
        sig = signature(s.masks, self.frame, objs, look)
        ahead = []
        if self.playing:  # render the next frames' overlays while this one is on screen
            n = len(s.video)
            ahead = [(f, signature(s.masks, f, objs, look)) for f in range(self.frame + 1, min(n, self.frame + 9))]
        self._want = (self.frame, sig)
        self._asked = time.monotonic()
        result = self.overlays.request(self.frame, sig, ahead)
        if result is not None and self._pending_image is None and self.canvas.frame_index == self.frame:
            self.canvas.set_overlay_image(result)
            self._shown = self._want
        elif result is None and not self._fallback.isActive():
            self._fallback.start()

    def _try_show(self, force: bool = False) -> None:
        pending = self._pending_image
        if pending is None or pending[0] != self.frame:
            return
        frame, sig = self._want
        overlay = self.overlays.result(frame, sig) if frame == self.frame else None
        if overlay is None and not force and time.monotonic() - self._asked < OVERLAY_WAIT:
            return  # the overlay is on its way: show both together
        self._pending_image = None
        self.canvas.set_image(self.frame, pending[1])
        self.canvas.set_overlay_image(overlay)
        self._shown = self._want if overlay is not None else None
        self.draw_markers()

    def _do_refresh(self) -> None:
        if self.session is None:
            return
        self._request_overlay()
        self.draw_markers()

    def draw_markers(self) -> None:
        s = self.session
        if s is None:
            return
        cur = self._current()
        prompts = [(o, s.prompt(self.frame, o), obj.color, o == cur)
                   for o, obj in self._objects().items() if obj.visible]
        self.canvas.set_prompts(prompts)

    # ---- worker results ------------------------------------------------------------------
    @Slot(int, QImage)
    def _on_frame_ready(self, index: int, img: QImage) -> None:
        if index == self.frame:
            self._pending_image = (index, img)
            self._try_show()

    @Slot(int, object)
    def _on_rendered(self, frame: int, sig) -> None:
        if (frame, sig) != self._want:
            return
        if self._pending_image is not None:
            self._try_show()
        elif self.canvas.frame_index == frame:
            self.canvas.set_overlay_image(self.overlays.result(frame, sig))
            self._shown = self._want
