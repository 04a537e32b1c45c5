"""Undoable edits (QUndoCommand) and the session snapshots they restore.

Every command posts its work to the inference controller, so it runs in order with the other
jobs on the controller thread. A prompt command snapshots the object's prompt, its stored mask
on that frame and its stale frames before and after the edit: undo restores the "before" state
(prompt fed back to the engine, mask entry and stale marks put back exactly), redo the "after".
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PySide6.QtGui import QUndoCommand

from .controller import InferenceController, JobContext

ALL_FRAMES = -1  # ctx.changed(ALL_FRAMES, objs): every frame of these objects changed


# ---- snapshots (run on the controller thread) ------------------------------------------
@dataclass
class FrameSnapshot:
    frame: int
    obj: int
    prompt: object | None  # FramePrompt copy
    entry: object | None  # MaskEntry
    stale: set[int]


def snapshot_frame(session, frame: int, obj: int) -> FrameSnapshot:
    p = session.prompt(frame, obj)
    return FrameSnapshot(frame, obj, None if p is None else p.copy(), session.masks.entry(frame, obj),
                         set(session.stale.get(obj, ())))


def _feed_prompt(session, frame: int, obj: int, prompt) -> None:
    """Make ``prompt`` (or no prompt) ``obj``'s prompt on ``frame``, engine included."""
    if prompt is None or (prompt.mask_rle is None and not prompt.points and prompt.box is None):
        if session.prompt(frame, obj) is not None:
            session.clear_prompt(frame, obj)
    elif prompt.mask_rle is not None:
        session.set_mask(frame, obj, prompt.mask)
    else:
        session.set_points(frame, obj, prompt.points, prompt.labels, box=prompt.box)


def _put_entry(masks, frame: int, obj: int, entry) -> None:
    if entry is None:
        masks.remove(frame, obj)
    else:
        masks.set_rle(frame, obj, entry.rle, entry.score, entry.area)


def _put_stale(session, obj: int, frames: set[int]) -> None:
    if frames:
        session.stale[obj] = set(frames)
    else:
        session.stale.pop(obj, None)


def restore_frame(ctx: JobContext, snap: FrameSnapshot | None) -> None:
    if snap is None:
        return
    s = ctx.session
    if snap.obj not in s.objects:
        return
    _feed_prompt(s, snap.frame, snap.obj, snap.prompt)
    _put_entry(s.masks, snap.frame, snap.obj, snap.entry)
    _put_stale(s, snap.obj, snap.stale)
    s.project.touch()
    ctx.changed(snap.frame, [snap.obj])


@dataclass
class ObjectSnapshot:
    obj: object  # TrackedObject copy
    prompts: list = field(default_factory=list)  # [(frame, FramePrompt)]
    entries: list = field(default_factory=list)  # [(frame, MaskEntry)]
    stale: set = field(default_factory=set)


def snapshot_object(session, obj_id: int) -> ObjectSnapshot:
    o = session.objects[obj_id]
    return ObjectSnapshot(
        copy.copy(o),
        [(f, session.prompt(f, obj_id).copy()) for f in session.keyframes(obj_id)],
        [(f, session.masks.entry(f, obj_id)) for f in session.masks.frames(obj_id)],
        set(session.stale.get(obj_id, ())),
    )


def restore_object(ctx: JobContext, snap: ObjectSnapshot) -> None:
    s = ctx.session
    o = snap.obj
    if o.id not in s.objects:
        s.add_object(o.name, o.color, obj_id=o.id)
    live = s.objects[o.id]
    live.visible, live.locked = o.visible, o.locked
    for f, p in snap.prompts:
        _feed_prompt(s, f, o.id, p)
    s.masks.remove_object(o.id)
    for f, e in snap.entries:
        _put_entry(s.masks, f, o.id, e)
    _put_stale(s, o.id, snap.stale)
    s.project.touch()
    ctx.changed(ALL_FRAMES, [o.id])


# ---- brush and eraser --------------------------------------------------------------------
def stroke_mask(shape: tuple[int, int], points, diameter: float) -> np.ndarray:
    """The pixels a round brush of ``diameter`` covers along ``points`` (bool, ``shape``)."""
    h, w = shape
    out = np.zeros((h, w), np.uint8)
    pts = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int32)
    r = max(1, int(round(diameter / 2)))
    if len(pts) == 0:
        return out.astype(bool)
    for x, y in pts:
        cv2.circle(out, (int(x), int(y)), r, 1, thickness=-1, lineType=cv2.LINE_8)
    if len(pts) > 1:
        cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, 1, thickness=2 * r, lineType=cv2.LINE_8)
    return out.astype(bool)


def apply_stroke(base: np.ndarray | None, shape: tuple[int, int], points, diameter: float,
                 erase: bool) -> np.ndarray:
    cur = np.zeros(shape, bool) if base is None else base.astype(bool)
    s = stroke_mask(shape, points, diameter)
    return cur & ~s if erase else cur | s


# ---- commands ----------------------------------------------------------------------------
class _Command(QUndoCommand):
    def __init__(self, ctl: InferenceController, text: str) -> None:
        super().__init__(text)
        self.ctl = ctl


class PromptCommand(_Command):
    """A click, box, stroke or cleared prompt on one frame for one object."""

    def __init__(self, ctl: InferenceController, text: str, frame: int, obj: int,
                 apply: Callable, on_done: Callable | None = None) -> None:
        super().__init__(ctl, text)
        self.frame, self.obj = int(frame), int(obj)
        self._apply = apply
        self._on_done = on_done
        self.before: FrameSnapshot | None = None
        self.after: FrameSnapshot | None = None
        self._ran = False

    def redo(self) -> None:
        if self._ran:
            self.ctl.call(lambda ctx: restore_frame(ctx, self.after), f"redoing {self.text().lower()}",
                          kind="prompt")
            return
        self._ran = True

        def fn(ctx: JobContext):
            s = ctx.session
            self.before = snapshot_frame(s, self.frame, self.obj)
            try:
                return self._apply(s)
            finally:
                self.after = snapshot_frame(s, self.frame, self.obj)
                ctx.changed(self.frame, [self.obj])

        self.ctl.call(fn, self.text().lower(), kind="prompt", on_done=self._on_done,
                      on_error=self._on_done)

    def undo(self) -> None:
        self.ctl.call(lambda ctx: restore_frame(ctx, self.before), f"undoing {self.text().lower()}",
                      kind="prompt")


def click_command(ctl, frame: int, obj: int, x: float, y: float, positive: bool, name: str = "") -> PromptCommand:
    text = f"{'Positive' if positive else 'Negative'} click on {name or f'object {obj}'}"
    return PromptCommand(ctl, text, frame, obj, lambda s: s.add_click(frame, obj, x, y, positive))


def box_command(ctl, frame: int, obj: int, box, name: str = "") -> PromptCommand:
    box = tuple(float(v) for v in box)
    return PromptCommand(ctl, f"Box on {name or f'object {obj}'}", frame, obj, lambda s: s.set_box(frame, obj, box))


def stroke_command(ctl, frame: int, obj: int, points, diameter: float, erase: bool, name: str = "",
                   on_done=None) -> PromptCommand:
    pts = [(float(x), float(y)) for x, y in points]

    def apply(s):
        shape = (s.video.height, s.video.width)
        return s.set_mask(frame, obj, apply_stroke(s.mask(frame, obj), shape, pts, diameter, erase))

    text = f"{'Eraser' if erase else 'Brush'} stroke on {name or f'object {obj}'}"
    return PromptCommand(ctl, text, frame, obj, apply, on_done=on_done)


def clear_prompt_command(ctl, frame: int, obj: int, name: str = "") -> PromptCommand:
    return PromptCommand(ctl, f"Clear prompt of {name or f'object {obj}'}", frame, obj,
                         lambda s: s.clear_prompt(frame, obj))


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
            self.snap = snapshot_object(s, self.obj_id)
            s.remove_object(self.obj_id)
            ctx.changed(ALL_FRAMES, [self.obj_id])

        self.ctl.call(fn, "deleting the object", kind="edit")

    def undo(self) -> None:
        self.ctl.call(lambda ctx: self.snap and restore_object(ctx, self.snap), "restoring the object",
                      kind="edit")


class _ObjectFieldCommand(_Command):
    def __init__(self, ctl, text: str, obj_id: int, old, new, setter: str) -> None:
        super().__init__(ctl, text)
        self.obj_id, self.old, self.new, self.setter = int(obj_id), old, new, setter

    def _set(self, value) -> None:
        oid, setter = self.obj_id, self.setter

        def fn(ctx: JobContext):
            s = ctx.session
            if oid in s.objects:
                getattr(s, setter)(oid, value)
                if setter == "set_object_color":
                    ctx.changed(ALL_FRAMES, [oid])

        self.ctl.call(fn, self.text().lower(), kind="edit", light=True)

    def redo(self) -> None:
        self._set(self.new)

    def undo(self) -> None:
        self._set(self.old)


class RenameObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old: str, new: str) -> None:
        super().__init__(ctl, f"Rename {old} to {new}", obj_id, old, new, "rename_object")


class ColorObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old, new, name: str = "") -> None:
        super().__init__(ctl, f"Change the colour of {name or f'object {obj_id}'}", obj_id,
                         tuple(old), tuple(new), "set_object_color")


class CategoryObjectCommand(_ObjectFieldCommand):
    def __init__(self, ctl, obj_id: int, old: str, new: str, name: str = "") -> None:
        what = f"the class of {name or f'object {obj_id}'}"
        super().__init__(ctl, f"Set {what} to {new}" if new else f"Clear {what}", obj_id, old, new,
                         "set_object_category")
