"""Propagation plans and their per-object summaries.

A run from frame ``S`` tracks every object from its own prompts: forward, an object whose
nearest prompt (keyframe) at or before ``S`` is ``K`` is tracked from ``K`` through ``S`` to
the end of the range; backward likewise from its nearest prompt at or after ``S``. In both
directions (``"both"``) an object is tracked from one of its prompts (the nearest at or before
``S``, else the first after it) to both ends. An object with no prompt on the requested side,
or locked, is not tracked, and the plan says so by name; it is never counted as done.

Where the engine still holds what tracking from ``K`` up to ``S`` would give (an earlier
unbroken run since the object's prompts changed), the run starts at ``S`` instead: same masks,
less work (``resume``).

Objects that start from the same frame in the same direction run together (one engine run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import PromptError
from .objects import TrackedObject

DIRECTIONS = ("forward", "backward", "both")


@dataclass
class ObjectRun:
    """What a run does (planned) and did for one object."""

    obj: int
    name: str
    #: planned engine runs: ``(direction, from_frame, to_frame)``; ``from_frame`` is a keyframe
    runs: list[tuple[str, int, int]] = field(default_factory=list)
    #: why some or all of it is not tracked, one sentence each, naming the object
    skipped: list[str] = field(default_factory=list)
    first: int | None = None  # lowest frame that got a mask in this run
    last: int | None = None  # highest
    frames: int = 0  # masks stored (a frame visited in both directions counts twice)

    @property
    def tracked(self) -> bool:
        return self.frames > 0

    def add(self, frame: int) -> None:
        self.frames += 1
        self.first = frame if self.first is None else min(self.first, frame)
        self.last = frame if self.last is None else max(self.last, frame)

    def describe(self) -> str:
        """``"ball: frames 0-229"`` (or the reason it was not tracked)."""
        if not self.tracked:
            return self.skipped[0] if self.skipped else f"{self.name}: not tracked"
        return f"{self.name}: frames {self.first}-{self.last}"

    def to_dict(self) -> dict:
        return {"object": self.obj, "name": self.name, "first": self.first, "last": self.last,
                "frames": self.frames, "runs": [list(r) for r in self.runs], "skipped": list(self.skipped)}


@dataclass
class RunSummary:
    """The result of :meth:`Session.run <sam2studio.session.Session.run>` (and
    ``Session.last_run`` while and after :meth:`Session.propagate` runs)."""

    start: int
    direction: str
    objects: dict[int, ObjectRun]
    total: int = 0  # frame steps planned (all engine runs together)
    done: int = 0  # frame steps done
    cancelled: bool = False

    @property
    def tracked(self) -> list[ObjectRun]:
        return [r for r in self.objects.values() if r.tracked]

    @property
    def messages(self) -> list[str]:
        """Why objects (or one side of them) were not tracked, one sentence each."""
        return [m for r in self.objects.values() for m in r.skipped]

    def line(self) -> str:
        """One line for a status bar or a CLI: ``"ball: frames 0-229, rider: 100-229"`` then
        what was not tracked and why."""
        done = ", ".join(r.describe() for r in self.tracked)
        parts = [done or "no object was tracked"]
        if self.cancelled:
            parts[0] += f" (stopped after {self.done} of {self.total} frame steps)"
        parts += self.messages
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"start": self.start, "direction": self.direction, "total": self.total, "done": self.done,
                "cancelled": self.cancelled, "objects": [r.to_dict() for r in self.objects.values()]}

    def __str__(self) -> str:
        return self.line()


@dataclass
class RunPlan:
    """Engine runs in order, ``[(direction, from_frame, [objects])]``, and the summary to fill."""

    frame_range: tuple[int, int]
    groups: list[tuple[str, int, list[int]]]
    summary: RunSummary

    @property
    def total(self) -> int:
        return self.summary.total


def plan_run(num_frames: int, start: int, direction: str, frame_range: tuple[int, int] | None,
             objects: Iterable[int], keyframes: Callable[[int], list[int]],
             info: dict[int, TrackedObject],
             resume: Callable[[int, str, int, int], int] | None = None) -> RunPlan:
    """Plan a run from ``start`` for ``objects`` (see the module docstring). ``keyframes(obj)``
    gives an object's prompt frames, ``info`` its name and lock, ``resume(obj, direction,
    keyframe, start)`` the frame a run from ``keyframe`` can start at instead (see
    :meth:`Engine.resume_point <sam2studio.engines.base.Engine.resume_point>`). Raises
    :class:`~sam2studio.errors.PromptError` for a bad direction or start frame."""
    if direction not in DIRECTIONS:
        raise PromptError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    lo, hi = (0, num_frames - 1) if frame_range is None else frame_range
    lo, hi = max(0, int(lo)), min(num_frames - 1, int(hi))
    start = int(start)
    if not lo <= start <= hi:
        raise PromptError(f"start frame {start} is outside the range {lo} to {hi}")
    where = "" if (lo, hi) == (0, num_frames - 1) else f" in frames {lo}-{hi}"
    runs: dict[int, ObjectRun] = {}
    groups: dict[tuple[str, int], list[int]] = {}
    for o in objects:
        o = int(o)
        obj = info.get(o)
        r = runs[o] = ObjectRun(o, obj.name if obj is not None else f"object {o}")
        if obj is not None and obj.locked:
            r.skipped.append(f"{r.name} is locked: left as it is")
            continue
        kfs = [k for k in keyframes(o) if lo <= k <= hi]
        if not kfs:
            r.skipped.append(f"{r.name} has no prompt{where}: nothing to track")
            continue
        before = [k for k in kfs if k <= start]
        after = [k for k in kfs if k >= start]
        todo: list[tuple[str, int]] = []
        if direction == "both":
            pivot = before[-1] if before else after[0]
            todo = [("forward", pivot), ("backward", pivot)]
        elif direction == "forward":
            if before:
                todo = [("forward", before[-1])]
            else:
                r.skipped.append(f"{r.name} has no prompt on or before frame {start}: nothing to track forward")
        else:
            if after:
                todo = [("backward", after[0])]
            else:
                r.skipped.append(f"{r.name} has no prompt on or after frame {start}: nothing to track backward")
        for d, k in todo:
            if resume is not None and (d == "forward") == (k <= start) and k != start:
                k = int(resume(o, d, k, start))
            r.runs.append((d, k, hi if d == "forward" else lo))
            groups.setdefault((d, k), []).append(o)
    order = sorted(groups, key=lambda g: (g[0] != "forward", g[1] if g[0] == "forward" else -g[1]))
    summary = RunSummary(start, direction, runs)
    summary.total = sum(abs((hi if d == "forward" else lo) - k) + 1 for d, k in order)
    return RunPlan((lo, hi), [(d, k, groups[(d, k)]) for d, k in order], summary)
