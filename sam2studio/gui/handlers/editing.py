"""Editing: objects (add, select, rename, set the class, recolour, show, lock, delete), the edits
made on the canvas (clicks, boxes, brush and eraser strokes, clearing a prompt), absence marks
("absent from here", "absent on frames A-B"), the candidate masks of a single click (Tab or the
wheel cycles them), the tools and the brush size. Every edit is an undoable command run on the
controller thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import commands as cmd
from ..actions import TOOLS
from ..canvas import Tool
from ..controller import ALL_FRAMES

if TYPE_CHECKING:
    from ..main_window import MainWindow

#: brush and eraser diameters in frame pixels
BRUSH_MIN, BRUSH_MAX = 2, 200


class EditingController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.next_id = 1
        self.pending_add: set[int] = set()  # ids of objects added but not confirmed by the controller
        self.candidates: tuple[int, int, int, int] | None = None  # (frame, obj, shown, count) of the last click
        self.absent_dialog = None  # the "absent on frames" input, while open
        self.confirm_box = None  # the delete confirmation, while open

    def handlers(self) -> dict[str, Callable]:
        out: dict[str, Callable] = {
            "add_object": self.add_object,
            "delete_object": self.delete_current_object,
            "clear_prompt": self.clear_prompt,
            "brush_bigger": self.brush_bigger,
            "brush_smaller": self.brush_smaller,
            "absent_here": self.absent_here,
            "absent_range": self.absent_range,
        }
        for name, tool in TOOLS.items():
            out[name] = lambda t=tool: self.use_tool(t)
        return out

    def connect(self) -> None:
        w = self.w
        c = w.canvas
        c.clicked.connect(self.on_canvas_click)
        c.box_drawn.connect(self.on_canvas_box)
        c.stroke_drawn.connect(self.on_canvas_stroke)
        p = w.objects_panel
        p.current_changed.connect(self.set_current_object)
        p.add_requested.connect(self.add_object)
        p.rename_requested.connect(self.rename_object)
        p.color_requested.connect(self.recolor_object)
        p.category_requested.connect(self.set_object_category)
        p.visibility_toggled.connect(self.set_object_visible)
        p.lock_toggled.connect(self.set_object_locked)
        p.delete_requested.connect(self.delete_object)
        p.track_requested.connect(lambda oid, d: w.propagation.track_object(oid, d))
        p.absent_requested.connect(lambda oid, kind: self.absent_here(oid) if kind == "here"
                                   else self.absent_range(obj=oid))
        c.candidate_step.connect(self.step_candidate)
        w.brush_slider.valueChanged.connect(self.set_brush_size)
        for i in range(1, 10):  # number keys select objects
            act = w.addAction(f"Select object {i}")
            act.setShortcut(str(i))
            act.triggered.connect(lambda _c=False, k=i: self.select_object_index(k - 1))

    # ---- objects ----
    def _objects(self) -> dict:
        return self.w.doc.state.objects

    def name(self, oid: int) -> str:
        obj = self._objects().get(oid)
        return obj.name if obj is not None else f"object {oid}"

    def reset(self, ids) -> None:
        """A project was opened (``ids``: its objects) or closed (no ids)."""
        ids = list(ids)
        self.next_id = max(ids, default=0) + 1
        self.pending_add.clear()

    def on_state(self, state) -> None:
        """The controller's view of the objects arrived: confirmed additions, next free id."""
        self.pending_add -= set(state.objects)
        if state.objects:
            self.next_id = max(self.next_id, max(state.objects) + 1)

    def _reserve_id(self) -> int:
        oid = max(self.next_id, max(self._objects(), default=0) + 1)
        self.next_id = oid + 1
        return oid

    def add_object(self) -> int | None:
        w = self.w
        if w.session is None:
            return None
        oid = self._reserve_id()
        self.pending_add.add(oid)
        w.undo.push(cmd.AddObjectCommand(w.ctl, obj_id=oid))
        self.set_current_object(oid)
        return oid

    def set_current_object(self, oid: int | None) -> None:
        w = self.w
        w.current_obj = oid
        w.objects_panel.set_current(oid)
        obj = self._objects().get(oid)
        if obj is not None:
            w.canvas.set_object_color(obj.color)
            w.status(f"Editing {obj.name}", 3000)
        w.refresh_overlay()
        w.timeline_timer.start()
        w.remember_view()

    def select_object_index(self, i: int) -> None:
        ids = sorted(self._objects())
        if 0 <= i < len(ids):
            self.set_current_object(ids[i])

    def rename_object(self, oid: int, name: str) -> None:
        obj = self._objects().get(oid)
        if obj is not None and name and name != obj.name:
            self.w.undo.push(cmd.RenameObjectCommand(self.w.ctl, oid, obj.name, name))

    def set_object_category(self, oid: int, category: str) -> None:
        obj = self._objects().get(oid)
        if obj is not None and category != obj.category:
            self.w.undo.push(cmd.CategoryObjectCommand(self.w.ctl, oid, obj.category, category, obj.name))

    def recolor_object(self, oid: int, rgb: tuple) -> None:
        obj = self._objects().get(oid)
        if obj is not None and tuple(rgb) != tuple(obj.color):
            self.w.undo.push(cmd.ColorObjectCommand(self.w.ctl, oid, obj.color, rgb, obj.name))

    def _set_flag(self, oid: int, field: str, value: bool) -> None:
        def fn(ctx):
            o = ctx.session.objects.get(oid)
            if o is not None and getattr(o, field) != value:
                setattr(o, field, value)
                ctx.session.project.touch()
                ctx.changed(ALL_FRAMES, [oid])

        obj = self._objects().get(oid)
        if obj is not None:
            setattr(obj, field, value)  # show it at once; the controller confirms
            self.w.refresh_overlay()
        self.w.ctl.call(fn, f"changing object {oid}", kind="edit", light=True)

    def set_object_visible(self, oid: int, visible: bool) -> None:
        self._set_flag(oid, "visible", visible)

    def set_object_locked(self, oid: int, locked: bool) -> None:
        self._set_flag(oid, "locked", locked)

    def delete_object(self, oid: int) -> None:
        obj = self._objects().get(oid)
        if obj is not None:
            self.w.undo.push(cmd.DeleteObjectCommand(self.w.ctl, oid, obj.name))
            if self.w.current_obj == oid:
                others = [i for i in sorted(self._objects()) if i != oid]
                self.set_current_object(others[0] if others else None)

    def delete_current_object(self) -> None:
        """Del: asks first (undo brings the object back too)."""
        from ..object_panel import confirm_delete

        oid = self.w.current_obj
        if oid is not None and oid in self._objects():
            self.confirm_box = confirm_delete(self.w, self.name(oid), lambda: self.delete_object(oid))

    # ---- edits on the canvas ----
    def edit_target(self, create: bool = True) -> int | None:
        """The object an edit goes to (made when there is none); None when it may not be edited."""
        w = self.w
        if w.session is None or w.doc.loading:
            return None
        obj = self._objects().get(w.current_obj)
        if obj is None:
            if not create:
                return None
            if w.current_obj in self.pending_add:
                return w.current_obj  # just added, not confirmed yet
            return self.add_object()
        if obj.locked:
            w.status(f"{obj.name} is locked: unlock it in the object list to edit it.", 5000)
            return None
        if not obj.visible:
            w.status(f"{obj.name} is hidden: show it to edit it.", 5000)
            return None
        if w.propagation.running:
            w.status("The edit runs when the propagation ends (Esc cancels it).", 5000)
        return obj.id

    def on_canvas_click(self, x: float, y: float, positive: bool) -> None:
        w = self.w
        oid = self.edit_target()
        if oid is not None:
            self.clear_candidates()
            frame = w.frame
            offer = lambda _j: self._offer_candidates(frame, oid)  # noqa: E731
            w.undo.push(cmd.click_command(w.ctl, frame, oid, x, y, positive, self.name(oid),
                                          on_done=offer, on_restored=offer))
            w.quality.forget(frame, oid)
            if positive:
                self._hint_if_spilled(frame, oid)

    def _hint_if_spilled(self, frame: int, oid: int) -> None:
        """After a click: if the classic engine's region ran into the background (the mask, or
        one of the candidates it kept back, is large and touches two or more frame edges), say
        how to fix it."""

        def spilled(m) -> bool:
            if m is None or m.mean() < 0.12:
                return False
            return sum(bool(e.any()) for e in (m[0], m[-1], m[:, 0], m[:, -1])) >= 2

        def fn(ctx):
            s = ctx.session
            if s.engine_name != "classic":
                return None
            if spilled(s.mask(frame, oid)):
                return "mask"
            others = s.candidates(frame, oid)
            return "candidates" if any(spilled(c.mask) for c in others) else None

        def done(job):
            # the hint goes as soon as this mask changes (a box, a click) or the frame does
            if job.result == "mask":
                self.w.status("The mask ran into the background: right-click there, or draw a box around "
                              "the object (M).", 15000, scope=(frame, oid))
            elif job.result == "candidates":
                self.w.status("The click's region ran into the background, so a smaller mask is shown: Tab "
                              "shows the others; add clicks or draw a box around the object (M).", 15000,
                              scope=(frame, oid))

        self.w.ctl.call(fn, "checking the new mask", light=True, on_done=done)

    def on_canvas_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        w = self.w
        oid = self.edit_target()
        if oid is not None:
            self.clear_candidates()
            frame = w.frame
            offer = lambda _j: self._offer_candidates(frame, oid)  # noqa: E731  (a box alone offers masks too)
            w.undo.push(cmd.box_command(w.ctl, frame, oid, (x0, y0, x1, y1), self.name(oid), on_done=offer,
                                        on_restored=offer))
            w.quality.forget(w.frame, oid)

    def on_canvas_stroke(self, points, diameter: float, erase: bool) -> None:
        w = self.w
        oid = self.edit_target(create=not erase)
        if oid is None:
            w.canvas.clear_previews()
            return
        self.clear_candidates()
        w.undo.push(cmd.stroke_command(w.ctl, w.frame, oid, points, diameter, erase, self.name(oid),
                                       on_done=lambda _j: w.canvas.clear_previews()))
        w.quality.forget(w.frame, oid)

    def clear_prompt(self) -> None:
        w = self.w
        oid = self.edit_target(create=False)
        if oid is not None and w.session.prompt(w.frame, oid) is not None:
            w.undo.push(cmd.clear_prompt_command(w.ctl, w.frame, oid, self.name(oid)))

    # ---- candidate masks of a single click ----
    def _offer_candidates(self, frame: int, oid: int) -> None:
        """After a click: when the engine offers several masks for it, show "1/3" on the canvas."""

        def fn(ctx):
            s = ctx.session
            p = s.prompt(frame, oid)
            notes = s.candidate_notes(frame, oid)  # one per candidate
            return len(notes), (0 if p is None else p.candidate), notes

        def done(job):
            if job.result is None or self.w.frame != frame or self.w.current_obj != oid:
                return
            n, k, notes = job.result
            self.candidates = (frame, oid, k, n) if n > 1 else None
            self.w.canvas.set_candidates(k if n > 1 else None, n, notes)

        self.w.ctl.call(fn, "reading the candidate masks", light=True, on_done=done)

    def clear_candidates(self) -> None:
        self.candidates = None
        self.w.canvas.set_candidates(None)

    def step_candidate(self, step: int) -> None:
        """Tab / Shift+Tab / the wheel: show the click's next (previous) candidate mask."""
        w = self.w
        if self.candidates is None:
            return
        frame, oid, k, n = self.candidates
        if frame != w.frame or oid != w.current_obj:
            self.clear_candidates()
            return
        k = (k + step) % n
        self.candidates = (frame, oid, k, n)
        w.canvas.set_candidates(k, n)
        # a run of picks is one undo step; after an undo or redo the badge shows the mask in use
        w.undo.push(cmd.candidate_command(w.ctl, frame, oid, k, n, self.name(oid),
                                          on_restored=lambda _j: self._offer_candidates(frame, oid)))

    # ---- absence marks ----
    def _absent_target(self, oid: int | None) -> int | None:
        w = self.w
        oid = w.current_obj if oid is None else oid
        obj = self._objects().get(oid)
        if w.session is None or obj is None:
            w.status("Select an object in the object list first.", 5000)
            return None
        if obj.locked:
            w.status(f"{obj.name} is locked: unlock it in the object list to edit it.", 5000)
            return None
        return oid

    def absent_here(self, oid: int | None = None) -> None:
        """The object left the frame (or is hidden): empty from this frame to its next prompt."""
        w = self.w
        oid = self._absent_target(oid)
        if oid is not None:
            self.clear_candidates()
            w.undo.push(cmd.absent_command(w.ctl, w.frame, oid, None, self.name(oid)))
            w.status(f"{self.name(oid)} is absent from frame {w.frame} up to its next prompt.", 8000)

    def absent_range(self, frames: tuple[int, int] | None = None, obj: int | None = None) -> None:
        """Absent on frames A-B: the given frames, else the propagation range (I / Shift+I),
        else frames typed into a small dialog."""
        w = self.w
        oid = self._absent_target(obj)
        if oid is None:
            return
        frames = frames or w.propagation.range
        if frames is None:
            self._ask_absent_frames(oid)
            return
        a, b = sorted(int(f) for f in frames)
        self.clear_candidates()
        w.undo.push(cmd.absent_command(w.ctl, a, oid, b, self.name(oid)))
        w.status(f"{self.name(oid)} is absent on frames {a}-{b}.", 8000)

    def _ask_absent_frames(self, oid: int) -> None:
        from PySide6.QtWidgets import QInputDialog

        w = self.w
        dlg = QInputDialog(w)
        dlg.setObjectName("absentFrames")
        dlg.setWindowTitle("Absent on frames")
        dlg.setLabelText(f"Frames where {self.name(oid)} is not there (first-last):")
        dlg.setTextValue(f"{w.frame}-{min(w.num_frames - 1, w.frame + 10)}")

        def accepted(text: str) -> None:
            parts = text.replace(" ", "").replace("–", "-").split("-")
            try:
                a, b = (int(parts[0]), int(parts[-1]))
            except (ValueError, IndexError):
                w.status(f"{text!r} is not a frame range such as 120-180.", 8000)
                return
            if not (0 <= min(a, b) and max(a, b) < w.num_frames):
                w.status(f"Frames {text} are outside the video (0-{w.num_frames - 1}).", 8000)
                return
            self.absent_range((a, b), oid)

        dlg.textValueSelected.connect(accepted)
        self.absent_dialog = dlg
        dlg.open()

    # ---- tools ----
    def use_tool(self, tool: Tool) -> None:
        if tool not in (Tool.POSITIVE, Tool.NEGATIVE):
            self.clear_candidates()
        self.w.canvas.set_tool(tool)
        name = next(n for n, t in TOOLS.items() if t == tool)
        self.w.actions[name].setChecked(True)

    def set_brush_size(self, size: int) -> None:
        w = self.w
        size = int(min(max(size, BRUSH_MIN), BRUSH_MAX))
        w.canvas.set_brush_size(size)
        w.brush_label.setText(f"{size} px")
        if w.brush_slider.value() != size:
            w.brush_slider.setValue(size)
        w.settings.set("tools/brush_size", size)

    def brush_bigger(self) -> None:
        self.set_brush_size(int(round(self.w.canvas.brush_size * 1.25)) + 1)

    def brush_smaller(self) -> None:
        self.set_brush_size(int(round(self.w.canvas.brush_size / 1.25)))
