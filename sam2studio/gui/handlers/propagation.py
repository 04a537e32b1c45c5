"""Propagation: run it (both ways, forward, backward, the corrected objects from here, the
frames whose masks were damaged in the project file), limit it to a range, cancel it, and show
the progress and outcome of the controller's jobs."""

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
        self.rerun_box = None  # the offer to re-run damaged frames, while shown

    def handlers(self) -> dict[str, Callable]:
        return {
            "propagate": self.both,
            "propagate_fwd": self.forward,
            "propagate_back": self.backward,
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
        return w.ctl.call(propagate_job(start, direction, self.range, objects),
                          "propagating" if objects is None else "re-running the corrected objects",
                          kind="propagate")

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
                w.status(job.description[:1].upper() + job.description[1:] + "…")
        if job.kind == "propagate":
            self.following = True
        w.update_enabled()

    @Slot(object)
    def _on_job_finished(self, job) -> None:
        w = self.w
        if job.kind == "propagate":
            n = job.result or 0
            if n and not job.params.get("masks") and not job.cancelled:
                w.status("The engine found nothing to carry from this frame: propagate from a keyframe, or click "
                         "the object here first.", 10000)
            else:
                lead = "Cancelled after " if job.cancelled else "Propagated "
                w.status(lead + f"{n} frame{'s' if n != 1 else ''}.", 8000)
            self.following = False
            w.refresh_overlay()
            if n and not job.cancelled and w.actions["auto_quality"].isChecked():
                w.review.check_quality()
        elif job.kind == "quality" and not job.cancelled and isinstance(job.result, dict):
            names = {i: o.name for i, o in w.doc.state.objects.items()}
            before = w.statusBar().currentMessage()
            lead = before + " " if before.startswith(("Propagated", "Cancelled")) else ""
            w.status(lead + w.quality.summary(names), 10000)
        if not w.ctl.busy or job.kind in PROGRESS_KINDS:
            self._show_progress(False)
        w.update_enabled()

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
