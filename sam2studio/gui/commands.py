"""Undoable edits: QUndoCommand wrappers around the session's snapshots.

Every command posts its work to the inference controller, so it runs in order with the other
jobs on the controller thread. A prompt command takes ``Session.snapshot`` of the object's
prompt, its stored mask on that frame and its stale frames before and after the edit: undo
``Session.restore`` s the "before" state, redo the "after" (see :mod:`sam2studio.core.edits`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from ..core.edits import FrameSnapshot, ObjectSnapshot
from .controller import ALL_FRAMES, InferenceController, JobContext


def _restore(ctx: JobContext, snap: FrameSnapshot | ObjectSnapshot | None) -> None:
    """Restore ``snap`` on the controller thread and say which masks changed."""
    if snap is None:
        return
    if ctx.session.restore(snap):
        if isinstance(snap, FrameSnapshot):
            ctx.changed(snap.frame, [snap.obj])
        else:
            ctx.changed(ALL_FRAMES, [snap.obj.id])



# ---- commands ----------------------------------------------------------------------------
class _Command(QUndoCommand):
    def __init__(self, ctl: InferenceController, text: str) -> None:
        super().__init__(text)
        self.ctl = ctl


class PromptCommand(_Command):
    """A click, box, stroke or cleared prompt on one frame for one object."""

    def __init__(self, ctl: InferenceController, text: str, frame: int, obj: int,
                 apply: Callable, on_done: Callable | None = None, on_restored: Callable | None = None) -> None:
        """``on_done(job)`` runs on the UI thread when the edit has run (or failed);
        ``on_restored(job)`` each time an undo or a later redo has restored a state."""
        super().__init__(ctl, text)
        self.frame, self.obj = int(frame), int(obj)
        self._apply = apply
        self._on_done = on_done
        self._on_restored = on_restored
        self.snaps = _Snapshots()
        self._ran = False

    def _after(self) -> FrameSnapshot | None:
        """(controller thread) The state a redo restores."""
        return self.snaps.after

    def redo(self) -> None:
        if self._ran:
            self.ctl.call(lambda ctx: _restore(ctx, self._after()), f"redoing {self.text().lower()}",
                          kind="prompt", on_done=self._on_restored)
            return
        self._ran = True

        def fn(ctx: JobContext):
            s = ctx.session
            self.snaps.before = s.snapshot(self.obj, self.frame)
            try:
                return self._apply(s)
            finally:
                self.snaps.after = s.snapshot(self.obj, self.frame)
                ctx.changed(self.frame, [self.obj])

        self.ctl.call(fn, self.text().lower(), kind="prompt", on_done=self._on_done,
                      on_error=self._on_done)

    def undo(self) -> None:
        self.ctl.call(lambda ctx: _restore(ctx, self.snaps.before), f"undoing {self.text().lower()}",
                      kind="prompt", on_done=self._on_restored)


class _Snapshots:
    """A prompt command's states before and after its edit (taken on the controller thread),
    kept apart from the command so that a command merged into another leaves them behind."""

    def __init__(self) -> None:
        self.before: FrameSnapshot | None = None
        self.after: FrameSnapshot | None = None


class CandidateCommand(PromptCommand):
    """A pick among a click's candidate masks (Tab, Shift+Tab, the wheel). A run of picks for
    the same click is one step of the history: undo goes back to the mask used before the run
    (not one candidate at a time through all of them), redo to the last pick of the run."""

    ID = 1

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last = self.snaps  # the snapshots of the run's last pick

    def id(self) -> int:  # Qt: commands of one id may merge
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802  (Qt's name)
        if not isinstance(other, CandidateCommand) or (other.frame, other.obj) != (self.frame, self.obj):
            return False
        self._last = other.snaps  # filled in when its job has run, before any later undo or redo
        self.setText(other.text())
        return True

    def _after(self) -> FrameSnapshot | None:
        return self._last.after


def click_command(ctl, frame: int, obj: int, x: float, y: float, positive: bool, name: str = "",
                  on_done=None, on_restored=None) -> PromptCommand:
    text = f"{'Positive' if positive else 'Negative'} click on {name or f'object {obj}'}"
    return PromptCommand(ctl, text, frame, obj, lambda s: s.add_click(frame, obj, x, y, positive), on_done=on_done,
                         on_restored=on_restored)


def candidate_command(ctl, frame: int, obj: int, k: int, count: int, name: str = "",
                      on_done=None, on_restored=None) -> CandidateCommand:
    """Use candidate mask ``k`` (of ``count``) of the click on ``frame``."""
    text = f"Mask {k + 1}/{count} for {name or f'object {obj}'}"
    return CandidateCommand(ctl, text, frame, obj, lambda s: s.choose_candidate(frame, obj, k), on_done=on_done,
                            on_restored=on_restored)


def box_command(ctl, frame: int, obj: int, box, name: str = "", on_done=None, on_restored=None) -> PromptCommand:
    box = tuple(float(v) for v in box)
    return PromptCommand(ctl, f"Box on {name or f'object {obj}'}", frame, obj, lambda s: s.set_box(frame, obj, box),
                         on_done=on_done, on_restored=on_restored)


def stroke_command(ctl, frame: int, obj: int, points, diameter: float, erase: bool, name: str = "",
                   on_done=None) -> PromptCommand:
    pts = [(float(x), float(y)) for x, y in points]
    text = f"{'Eraser' if erase else 'Brush'} stroke on {name or f'object {obj}'}"
    return PromptCommand(ctl, text, frame, obj, lambda s: s.apply_stroke(frame, obj, pts, diameter, erase),
                         on_done=on_done)


def clear_prompt_command(ctl, frame: int, obj: int, name: str = "") -> PromptCommand:
    return PromptCommand(ctl, f"Clear prompt of {name or f'object {obj}'}", frame, obj,
                         lambda s: s.clear_prompt(frame, obj))


class ObjectEditCommand(_Command):
    """An edit that may change many frames of one object (an absence mark): the whole object is
    snapshotted before and after it."""

    def __init__(self, ctl: InferenceController, text: str, obj: int, apply: Callable) -> None:
        super().__init__(ctl, text)
        self.obj = int(obj)
        self._apply = apply
        self.before: ObjectSnapshot | None = None
        self.after: ObjectSnapshot | None = None
        self._ran = False

    def redo(self) -> None:
        if self._ran:
            self.ctl.call(lambda ctx: _restore(ctx, self.after), f"redoing {self.text().lower()}", kind="edit")
            return
        self._ran = True

        def fn(ctx: JobContext):
            s = ctx.session
            self.before = s.snapshot(self.obj)
            try:
                return self._apply(s)
            finally:
                self.after = s.snapshot(self.obj)
                ctx.changed(ALL_FRAMES, [self.obj])

        self.ctl.call(fn, self.text().lower(), kind="prompt")

    def undo(self) -> None:
        self.ctl.call(lambda ctx: _restore(ctx, self.before), f"undoing {self.text().lower()}", kind="edit")


def absent_command(ctl, frame: int, obj: int, until: int | None, name: str = "") -> ObjectEditCommand:
    """"Absent from here" (``until`` None) or "absent on frames ``frame``-``until``"."""
    who = name or f"object {obj}"
    text = f"{who} absent from frame {frame}" if until is None else f"{who} absent on frames {frame}-{until}"
    return ObjectEditCommand(ctl, text, obj, lambda s: s.set_absent(frame, obj, until))


class AddObjectCommand(_Command):
    """Add an object (at any frame); ``on_added(obj_id)`` runs on the UI thread."""

    def __init__(self, ctl, name: str | None = None, color=None, obj_id: int | None = None,
                 on_added: Callable[[int], None] | None = None) -> None:
        super().__init__(ctl, "Add object")
        self.name, self.color, self.obj_id = name, color, obj_id
        self._on_added = on_added

    def redo(self) -> None:
        def fn(ctx: JobContext):
            o = ctx.session.add_object(self.name, self.color, obj_id=self.obj_id)
            self.obj_id, self.name, self.color = o.id, o.name, o.color
            return o.id

        def done(job) -> None:
            if job.result is not None:
                self.setText(f"Add {self.name}")
                if self._on_added is not None:
                    self._on_added(job.result)

        self.ctl.call(fn, "adding an object", kind="edit", light=True, on_done=done)

    def undo(self) -> None:
        oid = self.obj_id

        def fn(ctx: JobContext):
            if oid in ctx.session.objects:
                ctx.session.remove_object(oid)
                ctx.changed(ALL_FRAMES, [oid])

        self.ctl.call(fn, "removing the object", kind="edit")


class DeleteObjectCommand(_Command):
    def __init__(self, ctl, obj_id: int, name: str = "") -> None:
        super().__init__(ctl, f"Delete {name or f'object {obj_id}'}")
        self.obj_id = int(obj_id)
        self.snap: ObjectSnapshot | None = None

    def redo(self) -> None:
        def fn(ctx: JobContext):
            s = ctx.session
            if self.obj_id not in s.objects:
                return
            self.snap = s.snapshot(self.obj_id)
            s.remove_object(self.obj_id)
            ctx.changed(ALL_FRAMES, [self.obj_id])

        self.ctl.call(fn, "deleting the object", kind="edit")

    def undo(self) -> None:
        self.ctl.call(lambda ctx: _restore(ctx, self.snap), "restoring the object",
                      kind="edit")


class _ObjectFieldCommand(_Command):
    """Set one field of an object: ``setter(session, obj_id, value)`` on the controller thread;
    ``redraw`` when the masks look different afterwards (a colour)."""

    def __init__(self, ctl, text: str, obj_id: int, old, new, setter: Callable, redraw: bool = False) -> None:
        super().__init__(ctl, text)
        self.obj_id, self.old, self.new = int(obj_id), old, new
        self._setter, self._redraw = setter, redraw

    def _set(self, value) -> None:
        oid, setter, redraw = self.obj_id, self._setter, self._redraw

        def fn(ctx: JobContext):
            s = ctx.session
            if oid in s.objects:
                setter(s, oid, value)
                if redraw:
                    ctx.changed(ALL_FRAMES, [oid])

        self.ctl.call(fn, self.text().lower(), kind="edit", light=True)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class RenameObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old: str, new: str) -> None:
        super().__init__(ctl, f"Rename {old} to {new}", obj_id, old, new,
                         lambda s, oid, name: s.rename_object(oid, name))


class ColorObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old, new, name: str = "") -> None:
        super().__init__(ctl, f"Change the colour of {name or f'object {obj_id}'}", obj_id,
                         tuple(old), tuple(new), lambda s, oid, rgb: s.set_object_color(oid, rgb), redraw=True)


class CategoryObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old: str, new: str, name: str = "") -> None:
        what = f"the class of {name or f'object {obj_id}'}"
        super().__init__(ctl, f"Set {what} to {new}" if new else f"Clear {what}", obj_id, old, new,
                         lambda s, oid, category: s.set_object_category(oid, category))


class ImportAnnotationsCommand(_Command):
    """File → Import Annotations...: add the objects read from a file (``found``, an
    :class:`~sam2studio.importers.Annotations`). Undo removes them; redo brings them back as they
    were imported (masks, prompts, names, classes). ``on_done(job)`` / ``on_error(job)`` follow
    the first run; a failed import leaves nothing on the undo stack."""

    def __init__(self, ctl, found, keyframes: str = "auto", new_ids: bool = False,
                 on_done: Callable | None = None, on_error: Callable | None = None) -> None:
        super().__init__(ctl, f"Import {found.source.name}")
        self.found, self.keyframes, self.new_ids = found, keyframes, bool(new_ids)
        self._on_done, self._on_error = on_done, on_error
        self.snaps: list[ObjectSnapshot] | None = None

    def redo(self) -> None:
        if self.snaps is not None:  # again after an undo
            def again(ctx: JobContext):
                for snap in self.snaps:
                    _restore(ctx, snap)

            self.ctl.call(again, "redoing the import", kind="edit")
            return

        def fn(ctx: JobContext):
            s = ctx.session
            result = s.import_annotations(self.found, keyframes=self.keyframes, new_ids=self.new_ids)
            self.snaps = [s.snapshot(oid) for oid in result.objects.values()]
            for oid in result.objects.values():
                ctx.changed(ALL_FRAMES, [oid])
            return result

        def failed(job) -> None:
            self.setObsolete(True)  # the stack drops it
            if self._on_error is not None:
                self._on_error(job)

        self.ctl.call(fn, f"importing {self.found.source.name}", kind="edit", on_done=self._on_done,
                      on_error=failed)

    def undo(self) -> None:
        def fn(ctx: JobContext):
            for snap in self.snaps or []:
                oid = snap.obj.id
                if oid in ctx.session.objects:
                    ctx.session.remove_object(oid)
                    ctx.changed(ALL_FRAMES, [oid])

        self.ctl.call(fn, "undoing the import", kind="edit")
