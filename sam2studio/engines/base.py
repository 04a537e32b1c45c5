"""The Engine protocol shared by every segmentation engine.

An engine turns prompts on single frames into masks, and propagates those masks through a
:class:`~sam2studio.core.video.VideoSource` one frame at a time. Engines never hold results
for the application: every mask they produce is yielded to the caller, which keeps it in the
:class:`~sam2studio.core.masks.MaskStore`.

Conventions (the same as the CLI contract):

* object ids are positive integers, frame indices start at 0;
* coordinates are pixels of the original (display-oriented) frame, ``x`` to the right, ``y`` down;
* masks are ``bool`` arrays of shape ``(height, width)`` of the original frame;
* a point label is 1 for a positive click and 0 for a negative one.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import PromptError

if TYPE_CHECKING:
    from ..core.video import VideoSource

Direction = Literal["forward", "backward", "both"]
DIRECTIONS: tuple[str, ...] = ("forward", "backward", "both")


@dataclass
class ObjectMask:
    """One object's mask on one frame, with the engine's confidence in it (0..1)."""

    mask: np.ndarray
    score: float = 1.0

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


FrameResult = dict[int, ObjectMask]


class Engine(ABC):
    """Interactive video segmentation engine.

    Usage::

        engine.open(video)
        masks = engine.add_prompt(0, 1, points=[(120, 80)], labels=[1])   # at once
        for frame, result in engine.propagate(0, "both"):
            store.put_result(frame, result)

    A prompt added on a frame after propagation (a correction) replaces that object's prompt
    on that frame; propagating again from that frame re-runs it from there, while the caller
    keeps every other frame's and object's results.
    """

    #: short name used in the CLI, the status bar and project files
    name: str = "engine"
    #: the torch device (or "cpu") the engine computes on
    device: str = "cpu"

    def __init__(self) -> None:
        self._video: VideoSource | None = None

    # ---- video -------------------------------------------------------------------------
    @property
    def video(self) -> VideoSource:
        if self._video is None:
            raise RuntimeError("no video is open in this engine; call open() first")
        return self._video

    @property
    def is_open(self) -> bool:
        return self._video is not None

    def open(self, video: VideoSource) -> None:
        """Start a session on ``video``; forgets every earlier prompt."""
        self._video = video

    def close(self) -> None:
        """Free the session's resources."""
        self._video = None

    # ---- prompts -----------------------------------------------------------------------
    @abstractmethod
    def add_prompt(
        self,
        frame: int,
        obj: int,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | None = None,
    ) -> FrameResult:
        """Set ``obj``'s clicks and/or box on ``frame`` (replacing earlier ones there) and
        return that frame's masks at once: ``obj``'s, and others' where the engine changed them."""

    @abstractmethod
    def add_mask(self, frame: int, obj: int, mask: np.ndarray) -> FrameResult:
        """Set ``obj``'s mask on ``frame`` (from a PNG, a brush or an eraser stroke) and
        return that frame's masks at once (as :meth:`add_prompt`)."""

    def add_absent(self, frame: int, obj: int) -> FrameResult:
        """Mark ``obj`` absent on ``frame`` (it left the frame or is fully hidden) and return
        that frame's masks at once: ``obj``'s is empty, with score 0. Tracking on from here
        keeps it absent until it is found again or prompted. The default gives the engine an
        empty mask prompt."""
        validate_target(self.video, frame, obj)
        empty = np.zeros((self.video.height, self.video.width), bool)
        result = dict(self.add_mask(frame, obj, empty))
        result[int(obj)] = ObjectMask(empty, 0.0)
        return result

    def resume_point(self, obj: int, direction: str, keyframe: int, start: int) -> int:
        """Where a run of ``obj`` toward ``direction`` that should start from its prompt on
        ``keyframe`` can start instead and give the same masks: ``start`` when the engine still
        holds what tracking from ``keyframe`` up to ``start`` would give (e.g. an earlier run
        since the object's prompts last changed), else ``keyframe`` (the default)."""
        return keyframe

    def candidates(self, frame: int, obj: int) -> list[ObjectMask]:
        """The candidate masks of ``obj``'s prompt on ``frame`` when it is ambiguous (a single
        click: the object, a part of it, or it with what it holds), best first: index 0 is
        the engine's own choice. Empty when the engine has none for that prompt."""
        return []

    def candidate_kinds(self, frame: int, obj: int) -> list[str]:
        """How each of :meth:`candidates` was made, in the engine's own words (empty when the
        engine does not say)."""
        return []

    def choose_candidate(self, frame: int, obj: int, k: int) -> FrameResult:
        """Use candidate ``k`` of :meth:`candidates` as ``obj``'s mask on ``frame`` (tracking
        goes on from it) and return that frame's masks. The default gives the engine that
        mask as a mask prompt."""
        cands = self.candidates(frame, obj)
        if not 0 <= int(k) < len(cands):
            raise PromptError(f"object {obj} has {len(cands)} candidate masks on frame {frame}, "
                              f"not a candidate {k}")
        return self.add_mask(frame, obj, cands[int(k)].mask)

    @abstractmethod
    def propagate(
        self,
        start: int,
        direction: Direction = "forward",
        frame_range: tuple[int, int] | None = None,
        cancel: threading.Event | None = None,
        objects: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, FrameResult]]:
        """Propagate from ``start``, yielding one frame's results at a time.

        ``frame_range`` is an inclusive ``(first, last)`` bound (default: the whole video).
        ``"both"`` runs forward to ``last`` and then backward to ``first``; the start frame is
        yielded in each direction. Setting ``cancel`` stops the iteration before the next frame.
        ``objects`` limits the results to those objects (e.g. the one just corrected); the
        others' earlier results stay valid.
        """

    @abstractmethod
    def remove_object(self, obj: int) -> None:
        """Forget ``obj`` and all its prompts."""

    @abstractmethod
    def reset(self) -> None:
        """Forget every object and prompt; the video stays open."""

    @property
    @abstractmethod
    def objects(self) -> list[int]:
        """Ids of the objects that have prompts, ascending."""

    # ---- helpers shared by engines -----------------------------------------------------
    def check_prompt(
        self,
        frame: int,
        obj: int,
        points: Sequence[Sequence[float]] | np.ndarray | None = None,
        labels: Sequence[int] | np.ndarray | None = None,
        box: Sequence[float] | None = None,
        mask: np.ndarray | None = None,
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """Validate a prompt against the open video; returns float32 points, int32 labels
        and a float32 box (each None when absent). Raises :class:`PromptError`."""
        return validate_prompt(self.video, frame, obj, points, labels, box, mask)

    def iter_range(
        self, start: int, direction: Direction, frame_range: tuple[int, int] | None
    ) -> list[tuple[str, list[int]]]:
        """The frame orders to visit for a propagation: ``[(direction, frames), ...]``."""
        return propagation_plan(len(self.video), start, direction, frame_range)


def validate_target(video: VideoSource, frame: int, obj: int) -> None:
    """Check that ``obj`` is a valid object id and ``frame`` a frame of ``video``."""
    n = len(video)
    if not isinstance(obj, (int, np.integer)) or obj <= 0:
        raise PromptError(f"object id must be a positive integer, got {obj!r}")
    if not isinstance(frame, (int, np.integer)) or not 0 <= frame < n:
        raise PromptError(f"frame {frame} is out of range: the video has frames 0 to {n - 1}")


def validate_prompt(
    video: VideoSource,
    frame: int,
    obj: int,
    points=None,
    labels=None,
    box=None,
    mask=None,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Check a prompt against ``video`` and normalise it (see :meth:`Engine.check_prompt`)."""
    validate_target(video, frame, obj)
    w, h = video.width, video.height
    pts = lab = bx = None
    if points is not None and len(points) > 0:
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        lab = (
            np.ones(len(pts), dtype=np.int32)
            if labels is None
            else np.asarray(labels, dtype=np.int32).reshape(-1)
        )
        if len(lab) != len(pts):
            raise PromptError(f"{len(pts)} points but {len(lab)} labels")
        if not np.isin(lab, (0, 1)).all():
            raise PromptError("point labels must be 1 (positive) or 0 (negative)")
        for x, y in pts:
            if not (0 <= x < w and 0 <= y < h):
                raise PromptError(
                    f"click ({x:g}, {y:g}) is outside the frame ({w}x{h} pixels)"
                )
    if box is not None:
        bx = np.asarray(box, dtype=np.float32).reshape(-1)
        if bx.size != 4:
            raise PromptError("a box needs four numbers: x0, y0, x1, y1")
        x0, y0, x1, y1 = bx
        if not (x1 > x0 and y1 > y0):
            raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty: need x0 < x1 and y0 < y1")
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            raise PromptError(f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is outside the frame ({w}x{h} pixels)")
    if mask is not None:
        m = np.asarray(mask)
        if m.shape[:2] != (h, w):
            raise PromptError(
                f"mask is {m.shape[1]}x{m.shape[0]} pixels but the video is {w}x{h}"
            )
    if mask is None and pts is None and bx is None:
        raise PromptError("a prompt needs at least one click, a box or a mask")
    return pts, lab, bx


def propagation_plan(
    num_frames: int, start: int, direction: str, frame_range: tuple[int, int] | None
) -> list[tuple[str, list[int]]]:
    """Frame orders for a propagation from ``start`` (see :meth:`Engine.propagate`)."""
    if direction not in DIRECTIONS:
        raise PromptError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    lo, hi = (0, num_frames - 1) if frame_range is None else frame_range
    lo, hi = max(0, int(lo)), min(num_frames - 1, int(hi))
    if not lo <= start <= hi:
        raise PromptError(f"start frame {start} is outside the range {lo} to {hi}")
    plan: list[tuple[str, list[int]]] = []
    if direction in ("forward", "both"):
        plan.append(("forward", list(range(start, hi + 1))))
    if direction in ("backward", "both"):
        plan.append(("backward", list(range(start, lo - 1, -1))))
    return plan
