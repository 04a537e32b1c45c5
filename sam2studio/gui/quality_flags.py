"""Quality flags in the editor: run the check on the controller thread, keep the flags, navigate.

The check is :meth:`sam2studio.session.Session.quality` (engine score, motion-compensated IoU
with the previous frame, centroid drift, area, appearance), run as a controller job after
every propagation that finished and on demand (Track → Check Quality). The timeline draws the
flagged frames in each object's lane; N / Shift+N jump to the next / previous flagged frame of
the current object (of any object when it has none), and the status bar says why the frame
is flagged. The correction loop is then: jump to a flag, fix the mask (click, brush, eraser),
Propagate from Here, and the check runs again. The flags are kept in the project (saved with
it), so a reopened or recovered project shows them again without a new check.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ..core import quality as q


def assess_job(use_video: bool = True, thresholds=None):
    """Controller job function: every object's flags (a dict object -> list of flag dicts)."""

    def fn(ctx):
        return ctx.session.quality(thresholds, use_video=use_video, progress=ctx.progress, cancel=ctx.cancel)

    return fn


class QualityFlags(QObject):
    """The latest flags of the open session and the navigation over them."""

    changed = Signal()

    def __init__(self, controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctl = controller
        self.flags: dict[int, list[dict]] = {}
        self._by_frame: dict[tuple[int, int], dict] = {}
        self.job = None

    # ---- running -------------------------------------------------------------------------
    def check(self, use_video: bool = True, thresholds=None):
        """Queue a check of every object's masks; the flags are replaced when it finishes."""
        if self.ctl.session is None:
            return None
        self.job = self.ctl.call(assess_job(use_video, thresholds), "checking quality", kind="quality",
                                 on_done=self._done)
        return self.job

    def _done(self, job) -> None:
        if job.cancelled or not isinstance(job.result, dict):
            return
        self.set_flags(job.result)

    def set_flags(self, flags: dict[int, list[dict]]) -> None:
        self.flags = {int(o): list(lst) for o, lst in flags.items()}
        self._by_frame = {(int(d["frame"]), o): d for o, lst in self.flags.items() for d in lst}
        self.changed.emit()

    def clear(self) -> None:
        self.set_flags({})

    def forget(self, frame: int, obj: int) -> None:
        """Drop the flag of ``obj`` on ``frame`` (the user just corrected it there)."""
        d = self._by_frame.pop((int(frame), int(obj)), None)
        if d is not None:
            self.flags[int(obj)] = [x for x in self.flags.get(int(obj), []) if x is not d]
            self.changed.emit()
            frame, obj = int(frame), int(obj)

            def drop(ctx):  # the saved flags too
                kept = ctx.session.project.quality_flags
                if obj in kept:
                    kept[obj] = [x for x in kept[obj] if int(x.get("frame", -1)) != frame]

            self.ctl.call(drop, "forgetting a quality flag", light=True)

    # ---- reading -------------------------------------------------------------------------
    def frames(self, obj: int) -> list[int]:
        return q.flagged_frames(self.flags, obj) if obj in self.flags else []

    def at(self, frame: int, obj: int | None) -> list[tuple[int, dict]]:
        """``[(object, flag)]`` on ``frame`` (for ``obj`` only, unless None)."""
        objs = sorted(self.flags) if obj is None else [int(obj)]
        return [(o, self._by_frame[(int(frame), o)]) for o in objs if (int(frame), o) in self._by_frame]

    def _scope(self, obj: int | None) -> int | None:
        return obj if obj is not None and self.flags.get(obj) else None

    def next(self, frame: int, obj: int | None) -> int | None:
        """The next flagged frame of ``obj`` (of any object when ``obj`` has no flag)."""
        return q.next_flagged_frame(self.flags, self._scope(obj), frame)

    def previous(self, frame: int, obj: int | None) -> int | None:
        return q.previous_flagged_frame(self.flags, self._scope(obj), frame)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.flags.values())

    def summary(self, names: dict[int, str]) -> str:
        """One line for the status bar."""
        n = self.total
        if n == 0:
            return "Quality check: no frame flagged."
        per = ", ".join(f"{names.get(o, f'object {o}')}: {len(v)}" for o, v in sorted(self.flags.items()) if v)
        return f"Quality check: {n} flagged frame{'s' if n != 1 else ''} ({per}). N jumps to the next one."

    @staticmethod
    def describe(name: str, flag: dict) -> str:
        return f"Flagged ({name}, frame {flag['frame']}): {flag['message']}"
