"""Propagation ("Track"): run it for every object or the selected one (both ways, forward,
backward, the corrected objects from here, the frames whose masks were damaged in the project
file), limit it to a range, cancel it, and show the progress and outcome of the controller's
jobs: what was tracked per object, and by name the objects that were not (no prompt on that
side, locked)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from ..controller import propagate as propagate_job
from ..controller import rerun_damaged as rerun_damaged_job
from ..dialogs import error_dialog as err

if TYPE_CHECKING:
    from ..main_window import MainWindow

#: job kinds that show the progress bar and the cancel button
PROGRESS_KINDS = ("propagate", "load", "quality")


class PropagationController(QObject):
    """A QObject on the UI thread, so the controller's job signals arrive there (queued)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.range: tuple[int, int] | None = None
        self.following = False  # the playhead follows the running propagation
        self.last_message = ""  # what the last run said (the quality check's result joins it)
        self.job_message = ""  # the "…ing…" line of the running job
        self.joins_quality = ""  # a run's line that the quality check started after it joins
        self.rerun_box = None  # the offer to re-run damaged frames, while shown

    def handlers(self) -> dict[str, Callable]:
        return {
            "propagate": self.both,
            "propagate_fwd": self.forward,
            "propagate_back": self.backward,
            "track_selected": lambda: self.selected("both"),
            "track_selected_fwd": lambda: self.selected("forward"),
            "track_selected_back": lambda: self.selected("backward"),
            "rerun": self.from_here,
            "rerun_damaged": self.rerun_damaged,
            "cancel": self.cancel,
            "range_in": self.set_range_start,
            "range_out": self.set_range_end,
            "range_clear": self.clear_range,
        }

    @property
    def running(self) -> bool:
        job = self.w.ctl.running
        return job is not None and job.kind == "propagate"

    # ---- propagating ----
    def propagate(self, direction: str = "both", objects=None, start: int | None = None):
        w = self.w
        if w.session is None:
            return None
        if not any(w.doc.state.keyframes.get(o) for o in w.doc.state.objects):
            w.show_error("there is nothing to propagate yet: click on an object first")
            return None
        start = w.frame if start is None else int(start)
        w.playback.stop()
        if objects is None:
            what = "tracking every object"
        else:
            names = [w.editing.name(o) for o in objects]
            what = f"tracking {', '.join(names[:3])}{'…' if len(names) > 3 else ''}"
        what += {"both": " both ways", "forward": " forward", "backward": " backward"}[direction]
        return w.ctl.call(propagate_job(start, direction, self.range, objects), what, kind="propagate")

    def selected(self, direction: str = "both"):
        """Track the selected object alone (the others keep their masks)."""
        w = self.w
        if w.current_obj is None or w.current_obj not in w.doc.state.objects:
            w.status("Select an object in the object list first.", 5000)
            return None
        return self.track_object(w.current_obj, direction)

    def track_object(self, oid: int, direction: str = "both"):
        """Track object ``oid`` alone from its own prompts (the object panel's menu)."""
        w = self.w
        obj = w.doc.state.objects.get(oid)
        if obj is None:
            return None
        if not w.doc.state.keyframes.get(oid):
            w.status(f"{obj.name} has no prompt yet: click it on a frame first.", 8000)
            return None
        return self.propagate(direction, objects=[oid])

    def both(self):
        return self.propagate("both")

    def forward(self):
        return self.propagate("forward")

    def backward(self):
        return self.propagate("backward")

    def from_here(self):
        """Re-run the corrected objects forward from this frame (others keep their masks)."""
        w = self.w
        st = w.doc.state
        objs = sorted(o for o, frames in st.stale.items() if any(f > w.frame for f in frames))
        if not objs:
            objs = sorted(o for o, kf in st.keyframes.items() if w.frame in kf)
        if not objs and w.current_obj in st.objects:
            objs = [w.current_obj]
        if not objs:
            return None
        return self.propagate("forward", objects=objs)

    def rerun_damaged(self):
        """Make the masks that were damaged in the project file again (each object from its
        nearest prompt); they show red on the timeline until then."""
        w = self.w
        if w.session is None or not w.doc.state.damaged:
            return None
        if not w.session.project.damaged_rerun_plan():
            w.show_error("the damaged frames' objects have no prompt left to re-run them from: "
                         "click the object on one of those frames, then propagate")
            return None
        w.playback.stop()
        return w.ctl.call(rerun_damaged_job(), "re-running the damaged frames", kind="propagate")

    def offer_rerun_damaged(self, session) -> None:
        """After opening a project whose file had damaged masks: say which, offer to re-run them."""
        damaged = [d for d in session.project.damaged_masks() if d.what == "mask"]
        if not damaged:
            return
        from ...core.masks import damaged_by_object

        frames = sorted({d.frame for d in damaged if d.frame is not None})
        where = damaged_by_object(damaged)
        self.w.status(f"{len(damaged)} damaged mask{'s' if len(damaged) != 1 else ''} in the project file "
                      f"(red on the timeline): {where}", 15000)
        if self.w._clean_exit:  # closing
            return
        self.rerun_box = err.ask_rerun_damaged(self.w, self.w.doc.display_name, where, len(frames),
                                               self.rerun_damaged)

    def cancel(self) -> None:
        if self.w.ctl.cancel():
            self.w.status("Cancelling…", 3000)

    # ---- range ----
    def set_range_start(self) -> None:
        w = self.w
        hi = self.range[1] if self.range else w.num_frames - 1
        self._set_range(w.frame, max(hi, w.frame))

    def set_range_end(self) -> None:
        w = self.w
        lo = self.range[0] if self.range else 0
        self._set_range(min(lo, w.frame), w.frame)

    def _set_range(self, lo: int, hi: int) -> None:
        if self.w.session is None:
            return
        self.range = (lo, hi)
        self.w.timeline.set_range(lo, hi)
        self.w.status(f"Propagation range: frames {lo} to {hi}", 5000)

    def clear_range(self) -> None:
        self.range = None
        self.w.timeline.clear_range()

    # ---- the controller's jobs ----
    def connect(self, ctl) -> None:
        ctl.progress.connect(self._on_progress)
        ctl.started.connect(self._on_job_started)
        ctl.finished.connect(self._on_job_finished)
        ctl.failed.connect(self._on_job_failed)

    @Slot(int, int)
    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            bar = self.w.progress_bar
            bar.setRange(0, total)
            bar.setValue(done)
            bar.setFormat(f"{done} / {total}")

    def _show_progress(self, visible: bool) -> None:
        self.w.progress_bar.setVisible(visible)
        self.w.cancel_button.setVisible(visible)

    @Slot(object)
    def _on_job_started(self, job) -> None:
        w = self.w
        if job.kind in PROGRESS_KINDS:
            w.progress_bar.setRange(0, 0)
            w.progress_bar.setFormat(job.description)
            self._show_progress(True)
            if job.kind != "quality":  # the check's result joins the propagation's message
                self.job_message = job.description[:1].upper() + job.description[1:] + "…"
                w.status(self.job_message)
        if job.kind == "propagate":
            self.following = True
        w.update_enabled()

    @Slot(object)
    def _on_job_finished(self, job) -> None:
        w = self.w
        if job.kind == "propagate":
            summary = job.result
            if isinstance(summary, int):  # a re-run of damaged masks: several runs, counted in frames
                n = summary
                self.last_message = ("Stopped re-running the damaged frames." if job.cancelled else
                                     f"Re-ran {n} frame{'' if n == 1 else 's'} whose masks were damaged.")
            else:
                n = 0 if summary is None else summary.done
                self.last_message = self.describe(summary, job.cancelled)
            w.status(self.last_message, 12000)
            self.following = False
            w.refresh_overlay()
            if n and not job.cancelled and w.actions["auto_quality"].isChecked():
                self.joins_quality = self.last_message  # the check's result joins this line
                w.review.check_quality()
        elif job.kind == "quality" and not job.cancelled and isinstance(job.result, dict):
            names = {i: o.name for i, o in w.doc.state.objects.items()}
            lead = self.joins_quality + " " if self.joins_quality else ""
            self.joins_quality = ""
            w.status(lead + w.quality.summary(names), 10000)
        if not w.ctl.busy or job.kind in PROGRESS_KINDS:
            self._show_progress(False)
        if self.job_message and w.statusBar().currentMessage() == self.job_message:
            w.statusBar().clearMessage()  # "Opening clip.mp4…" goes when the opening is done
        w.update_enabled()

    @staticmethod
    def describe(summary, cancelled: bool = False) -> str:
        """The status line of a finished run: first, by name, what was not tracked and why (it
        must not be missed), then what was tracked per object ("Tracked ball: frames 0-229,
        rider: frames 100-229.")."""
        if summary is None:
            return "Cancelled." if cancelled else "Nothing was tracked."
        tracked = ", ".join(r.describe() for r in summary.tracked)
        if cancelled:
            text = f"Cancelled: tracked {tracked}." if tracked else "Cancelled before any frame."
        else:
            text = f"Tracked {tracked}." if tracked else "Nothing was tracked."
        skipped = " ".join(m[:1].upper() + m[1:] + "." for m in summary.messages)
        return f"{skipped} {text}" if skipped else text

    @Slot(object, str)
    def _on_job_failed(self, job, message: str) -> None:
        w = self.w
        self.following = False
        self._show_progress(False)
        if job.kind == "save" and job.description == "autosaving":
            w.status(f"Autosave failed: {message}", 8000)
            return
        if job.on_error is None or job.kind == "prompt":
            w.show_error(message)
        w.update_enabled()
