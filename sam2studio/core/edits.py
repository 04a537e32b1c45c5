"""Snapshots of a session's edits (for undo and redo) and the brush and eraser geometry.

A frame snapshot holds one object's prompt on one frame, its stored mask entry there and its
stale frames; restoring it feeds the prompt (or its absence) back to the engine and puts the
mask entry and the stale marks back exactly. An object snapshot holds a whole object (fields,
every prompt, every mask entry, stale frames), so a deleted object can come back.

These functions work on any :class:`~sam2studio.session.Session` (duck-typed: this module sits
below the session layer); use them through ``Session.snapshot``, ``Session.restore`` and
``Session.apply_stroke``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class FrameSnapshot:
    """One object's prompt, mask entry and stale frames around one frame."""

    frame: int
    obj: int
    prompt: object | None  # FramePrompt copy
    entry: object | None  # MaskEntry
    stale: set[int]


@dataclass
class ObjectSnapshot:
    """Everything about one object: fields, prompts, mask entries and stale frames."""

    obj: object  # TrackedObject copy
    prompts: list = field(default_factory=list)  # [(frame, FramePrompt)]
    entries: list = field(default_factory=list)  # [(frame, MaskEntry)]
    stale: set = field(default_factory=set)


# ---- snapshots ---------------------------------------------------------------------------
def snapshot_frame(session, frame: int, obj: int) -> FrameSnapshot:
    p = session.prompt(frame, obj)
    return FrameSnapshot(int(frame), int(obj), None if p is None else p.copy(), session.masks.entry(frame, obj),
                         set(session.stale.get(obj, ())))


def snapshot_object(session, obj: int) -> ObjectSnapshot:
    o = session.objects[int(obj)]
    return ObjectSnapshot(
        copy.copy(o),
        [(f, session.prompt(f, obj).copy()) for f in session.keyframes(obj)],
        [(f, session.masks.entry(f, obj)) for f in session.masks.frames(obj)],
        set(session.stale.get(obj, ())),
    )


def restore_frame(session, snap: FrameSnapshot) -> bool:
    """Put ``snap`` back; False (nothing done) when its object no longer exists."""
    if snap.obj not in session.objects:
        return False
    _feed_prompt(session, snap.frame, snap.obj, snap.prompt)
    _put_entry(session.masks, snap.frame, snap.obj, snap.entry)
    _put_stale(session, snap.obj, snap.stale)
    session.project.touch()
    return True


def restore_object(session, snap: ObjectSnapshot) -> bool:
    """Bring the object of ``snap`` back (made again when it was deleted) exactly as it was."""
    o = snap.obj
    if o.id not in session.objects:
        session.add_object(o.name, o.color, obj_id=o.id, category=getattr(o, "category", ""))
    live = session.objects[o.id]
    live.visible, live.locked = o.visible, o.locked
    for f, p in snap.prompts:
        _feed_prompt(session, f, o.id, p)
    session.masks.remove_object(o.id)
    for f, e in snap.entries:
        _put_entry(session.masks, f, o.id, e)
    _put_stale(session, o.id, snap.stale)
    session.project.touch()
    return True


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


def stroked(base: np.ndarray | None, shape: tuple[int, int], points, diameter: float, erase: bool) -> np.ndarray:
    """``base`` (or an empty mask) with a brush stroke added, or an eraser stroke taken away."""
    cur = np.zeros(shape, bool) if base is None else base.astype(bool)
    s = stroke_mask(shape, points, diameter)
    return cur & ~s if erase else cur | s
