"""The classic engine's state: prompts (keyframes), the compressed tracking state kept per
object and frame, and the live state of an object during a propagation (see
:mod:`.classic`)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Keyframe:
    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None
    mask: dict  # RLE of the full-size result mask
    small: dict  # RLE of the mask at the internal resolution
    hist: np.ndarray  # colour counts of the mask on that frame
    base: dict | None = None  # RLE (internal res.) of the propagated mask a click prompt edits
    score: float = 1.0


@dataclass
class _Snapshot:
    """Compressed tracking state of one object on one frame (for restarting from there)."""

    vis: dict  # RLE, internal resolution
    tmpl: dict | None  # RLE of the amodal template
    pos: tuple[float, float]
    vel: tuple[float, float]  # per +1 frame, internal pixels
    hidden: int
    ref_area: float
    score: float


@dataclass
class _Track:
    """Live tracking state of one object during a propagation."""

    vis: np.ndarray  # visible mask, internal res.
    tmpl: np.ndarray | None  # amodal template (float 0..1, cropped at ``pos``)
    pos: tuple[float, float]  # template top-left, internal pixels
    vel: tuple[float, float]  # displacement per step in the direction of travel
    vel_known: bool
    hidden: int
    ref_area: float
    fg: np.ndarray  # running foreground histogram (normalised)
    fg_anchor: np.ndarray
    bg: np.ndarray  # running local-background histogram (normalised)
    score: float = 1.0
    lut: np.ndarray | None = None
    realign: bool = False  # the template was moved by a re-detection: align it widely
    refound: bool = False  # re-detected, its speed not measured again yet
    seen: int = 0  # frames in a row it has been seen (a mask) up to the current one
    anchor_area: float = 0.0  # visible area on the prompt (or restart) frame
    anchor_score: float = 0.0  # score there
    # how consistently each pixel around the object moved like its surroundings rather than
    # like the object on the frames so far (0..1, a running mean that moves with the object)
    stray: np.ndarray | None = None
    # an untracked object that looks like this one, near it and moving differently (a cup's
    # twin carried past it): its pixels on the current frame and its step per frame
    twin: tuple[np.ndarray, tuple[float, float]] | None = None
    # where a twin was last followed (it may have stopped there), and for how many more frames
    twin_left: tuple[np.ndarray, int] | None = None
    # a thin object (tubes a few pixels wide: a bicycle): moved rigidly, its own pixels matched
    thin: bool = False
    # a thin object's full-size mask on its prompt frame, and how far (internal pixels) the
    # object moved since: its tubes are a few full-size pixels wide, finer than the internal
    # resolution can carry from frame to frame (see ClassicEngine._carry_full)
    full: np.ndarray | None = None
    shift: tuple[float, float] = (0.0, 0.0)

    def found_at(self, pos: tuple[float, float]) -> None:
        """Re-detected with its template at ``pos``: its speed unknown until measured again,
        its template aligned widely on the next frame, its prompt's full-size mask dropped."""
        self.pos = pos
        self.vel, self.vel_known = (0.0, 0.0), False
        self.hidden = 1
        self.realign = self.refound = True
        self.full = None


@dataclass
class _Object:
    id: int
    keyframes: dict[int, _Keyframe] = field(default_factory=dict)
    cache: OrderedDict[int, _Snapshot] = field(default_factory=OrderedDict)
    # candidate masks of the latest click prompt per frame: [(RLE internal res., score, kind)]
    candidates: dict[int, list[tuple[dict, float, str]]] = field(default_factory=dict)
    # the clicks made one after the other per frame and the mask after each (see
    # ClassicEngine._click_chain): an undone click or a replayed project reuses them
    chains: dict[int, dict] = field(default_factory=dict)
