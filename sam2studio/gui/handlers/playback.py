"""Playback: play and pause, step, first and last frame, keyframe navigation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from ..resources import icon

if TYPE_CHECKING:
    from ..main_window import MainWindow


class PlaybackController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.timer = QTimer(window)
        self.timer.timeout.connect(self._tick)

    def handlers(self) -> dict[str, Callable]:
        return {
            "play": self.toggle_play,
            "next_frame": self.next_frame,
            "prev_frame": self.prev_frame,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "next_key": self.next_keyframe,
            "prev_key": self.prev_keyframe,
        }

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        w = self.w
        if self.timer.isActive():
            self.stop()
        elif w.session is not None:
            if w.frame >= w.num_frames - 1:
                w.set_frame(0)
            fps = w.session.video.fps or 30.0
            self.timer.start(max(5, int(1000 / fps)))
            w.actions["play"].setIcon(icon("pause"))

    def stop(self) -> None:
        if self.timer.isActive():
            self.timer.stop()
        self.w.actions["play"].setIcon(icon("play"))

    def _tick(self) -> None:
        w = self.w
        if w.frame >= w.num_frames - 1:
            self.stop()
            return
        w.set_frame(w.frame + 1)

    def seek(self, index: int) -> None:
        """The user moved the playhead: the view stops following a propagation."""
        self.w.propagation.following = False
        self.w.set_frame(index)

    def next_frame(self) -> None:
        self.seek(self.w.frame + 1)

    def prev_frame(self) -> None:
        self.seek(self.w.frame - 1)

    def first_frame(self) -> None:
        self.seek(0)

    def last_frame(self) -> None:
        self.seek(self.w.num_frames - 1)

    def _keyframes(self) -> list[int]:
        kf = self.w.doc.state.keyframes
        cur = self.w.current_obj
        if cur in kf and kf[cur]:
            return kf[cur]
        return sorted({f for frames in kf.values() for f in frames})

    def next_keyframe(self) -> None:
        later = [f for f in self._keyframes() if f > self.w.frame]
        if later:
            self.seek(later[0])

    def prev_keyframe(self) -> None:
        earlier = [f for f in self._keyframes() if f < self.w.frame]
        if earlier:
            self.seek(earlier[-1])
