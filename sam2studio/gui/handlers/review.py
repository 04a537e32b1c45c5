"""Quality review: run the check, set its thresholds, jump between flagged frames, and write the
HTML tracking and quality report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QStandardPaths, QUrl
from PySide6.QtGui import QDesktopServices

if TYPE_CHECKING:
    from ..main_window import MainWindow


log = logging.getLogger(__name__)


def report_path(project_path: Path | None, display_name: str) -> Path:
    """Where Track → Report writes: beside the saved project, else in the user's documents."""
    if project_path is not None:
        return project_path.with_name(project_path.stem + "_report.html")
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
    return Path(docs) / "SAM2 Studio reports" / (Path(display_name or "video").stem + "_report.html")


class ReviewController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.thresholds_dialog_widget = None
        self.report_job = None
        self.last_report: Path | None = None
        self.open_url: Callable[[QUrl], bool] = QDesktopServices.openUrl  # replaced in tests

    def handlers(self) -> dict[str, Callable]:
        return {
            "check_quality": self.check_quality,
            "next_flag": self.next_flagged,
            "prev_flag": self.prev_flagged,
            "quality_thresholds": self.thresholds_dialog,
            "auto_quality": self.set_auto_quality,
            "report": self.write_report,
        }

    def write_report(self):
        """Write the HTML report on the controller thread, then open it in the browser."""
        from ..dialogs.quality_thresholds import load_thresholds

        w = self.w
        if w.session is None or self.report_job is not None:
            return None
        if not w.session.objects:
            w.status("Nothing to report yet: click an object and track it first.", 6000)
            return None
        out = report_path(w.doc.project_path, w.doc.display_name)
        options = load_thresholds(w.settings).to_dict()

        def fn(ctx):
            out.parent.mkdir(parents=True, exist_ok=True)
            return ctx.session.export("report-html", out, cancel=ctx.cancel, **options)

        w.status("Writing the tracking and quality report… (Esc stops it)")
        self.report_job = w.ctl.call(fn, "writing the report", on_done=self._report_done,
                                     on_error=self._report_failed)
        return self.report_job

    def _report_done(self, job) -> None:
        self.report_job = None
        if job.cancelled:
            self.w.status("Report cancelled; nothing was written.", 5000)
            return
        self.last_report = Path(job.result)
        opened = self.open_url(QUrl.fromLocalFile(str(self.last_report)))
        how = "opened in your browser" if opened else "no browser could be started: open it yourself"
        self.w.status(f"Report written to {self.last_report} ({how}).", 20000)
        log.info("report written to %s", self.last_report)

    def _report_failed(self, job) -> None:
        self.report_job = None
        self.w.show_error(job.error or "The report could not be written.")

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
