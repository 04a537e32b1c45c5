"""Quality review: run the check, set its thresholds, jump between flagged frames."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..main_window import MainWindow


class ReviewController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.thresholds_dialog_widget = None

    def handlers(self) -> dict[str, Callable]:
        return {
            "check_quality": self.check_quality,
            "next_flag": self.next_flagged,
            "prev_flag": self.prev_flagged,
            "quality_thresholds": self.thresholds_dialog,
            "auto_quality": self.set_auto_quality,
        }

    def check_quality(self):
        from ..dialogs.quality_thresholds import load_thresholds

        w = self.w
        return w.quality.check(thresholds=load_thresholds(w.settings)) if w.session is not None else None

    def thresholds_dialog(self):
        from ..dialogs.quality_thresholds import QualityThresholdsDialog

        w = self.w
        dlg = QualityThresholdsDialog(w.settings, w)
        dlg.accepted.connect(lambda: self.check_quality() if w.quality.flags else None)
        self.thresholds_dialog_widget = dlg
        dlg.open()
        return dlg

    def next_flagged(self) -> None:
        self._jump(self.w.quality.next(self.w.frame, self.w.current_obj))

    def prev_flagged(self) -> None:
        self._jump(self.w.quality.previous(self.w.frame, self.w.current_obj))

    def _jump(self, frame: int | None) -> None:
        w = self.w
        if frame is not None:
            w.playback.seek(frame)
        elif not w.quality.flags:
            w.status("No quality check yet: Track → Check Quality (Ctrl+K).", 5000)
        else:
            w.status("No more flagged frames that way.", 4000)

    def set_auto_quality(self, on: bool) -> None:
        self.w.settings.set("quality/auto", bool(on))

    def show_flag_reason(self) -> None:
        """Say in the status bar why the current frame was flagged (if it was)."""
        w = self.w
        found = w.quality.at(w.frame, w.current_obj) or w.quality.at(w.frame, None)
        if found:  # the message goes with the flag: when the frame changes or its mask is corrected
            o, flag = found[0]
            w.status(w.quality.describe(w.editing.name(o), flag), 10000, scope=(w.frame, o))

    def flagged_frames(self, objs, keyframes: dict) -> dict[int, list[int]]:
        """Each object's flagged frames, keyframes left out (they are trusted)."""
        return {o.id: [f for f in self.w.quality.frames(o.id) if f not in set(keyframes.get(o.id, ()))]
                for o in objs}
