"""Per-object motion tracks from a :class:`~sam2studio.core.masks.MaskStore`.

Conventions (all in pixels of the original frame, frames counted from 0):

* ``present[i]``: the object has a stored, non-empty mask on frame ``i``. A frame never
  segmented counts as absent, like an empty mask.
* ``centroid[i] = (x, y)``: mean pixel index of the mask (pixel centres are at integer
  coordinates); NaN when absent.
* ``bbox[i] = (x0, y0, x1, y1)``: ``x0, y0`` the first column/row of the mask, ``x1, y1``
  one past the last (so ``x1 - x0`` is the COCO width); NaN when absent.
* ``velocity[i]``: the backward difference ``centroid[i] - centroid[i-1]`` in px/frame, not
  smoothed, so the path length is exact. On the first frame of a presence segment the
  forward difference ``centroid[i+1] - centroid[i]`` stands in; a one-frame segment has zero
  velocity. NaN when absent. ``speed = |velocity|``, ``speed_px_s = speed * fps``.
* ``total_distance``: sum of the centroid steps between consecutive present frames. A jump
  across a gap (the object was absent) is not counted: its path is unknown.
* ``average_speed``: ``total_distance`` divided by the number of those steps (px/frame),
  ``average_speed_px_s = average_speed * fps``; 0 when there is no step.

Events (``events``: dicts sorted by frame, each with ``type``, ``frame``, ``time`` in seconds
= ``frame / fps``, and details):

* ``enter`` on the first present frame; ``re-emerge`` on the first frame of every later
  presence segment (``gap_frames``, ``absent_since``); ``leave`` on the first absent frame
  after a segment (``last_present_frame``), not at the end of the video.
* ``starts_moving`` / ``stops_moving`` (``speed_px_per_frame``): motion uses a lightly
  smoothed velocity, the central difference ``(centroid[i+1] - centroid[i-1]) / 2`` within the
  segment (one-sided at its ends), which cancels frame-to-frame mask jitter (a centroid that
  flips between two positions has zero motion speed), with hysteresis: the object starts moving
  when the motion speed is ``>= move_threshold`` for ``min_frames`` frames in a row and
  stops when it is ``< stop_threshold`` for ``min_frames`` frames in a row; the event frame is
  the first frame of that run. The state at the start of a segment is taken from its first
  frames (moving when the first ``min_frames`` are all fast enough) and emits no event.
* ``direction_change`` (``from_heading_deg``, ``to_heading_deg``, ``turn_deg``): while
  moving (motion speed ``>= move_threshold``), the heading differs from the reference
  heading by more than ``turn_threshold_deg`` for ``min_frames`` frames in a row; the
  reference is the heading when motion was first seen in the segment and is reset by every
  change, and it is kept across stops, so starting off in a new direction after a stop is a
  direction change too. Headings are degrees in image coordinates: 0 = right, 90 = down;
  ``turn_deg`` is in (-180, 180], positive = clockwise on screen.
* ``enters_frame`` / ``leaves_frame`` (``sides``: "left", "top", "right", "bottom"): the
  object comes in or goes out across the image border rather than appearing or vanishing
  inside the picture (occlusion). ``enters_frame``: a segment that starts after frame 0 with
  its bbox touching the border, at the segment's first frame. ``leaves_frame``: a segment
  that ends before the last frame with its bbox touching the border, at the first frame of
  the final run of border-touching frames (when the object starts crossing the edge). The
  bbox touches the border when it comes within ``border_px`` pixels of it
  (``x0 < border_px`` or ``x1 > width - border_px``, same for y).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..errors import Cancelled
from .masks import MaskStore, rle_bbox

#: Order of events that fall on the same frame.
_EVENT_ORDER = {
    "enter": 0, "re-emerge": 0, "enters_frame": 1, "starts_moving": 2, "direction_change": 3,
    "stops_moving": 4, "leaves_frame": 5, "leave": 6,
}
EVENT_TYPES = tuple(_EVENT_ORDER)


@dataclass
class ObjectTrack:
    """Motion of one object over every frame of the video (see the module docstring)."""

    id: int
    fps: float
    width: int
    height: int
    present: np.ndarray  # (N,) bool
    area: np.ndarray  # (N,) int64
    centroid: np.ndarray  # (N, 2) float64, NaN when absent
    bbox: np.ndarray  # (N, 4) float64 x0, y0, x1, y1, NaN when absent
    velocity: np.ndarray  # (N, 2) px/frame, NaN when absent
    speed: np.ndarray  # (N,) px/frame, NaN when absent
    speed_px_s: np.ndarray  # (N,) px/s, NaN when absent
    segments: list[tuple[int, int]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    total_distance: float = 0.0
    average_speed: float = 0.0
    average_speed_px_s: float = 0.0

    @property
    def num_frames(self) -> int:
        return int(self.present.shape[0])

    def time(self, frame: int) -> float:
        """Seconds from the first frame to ``frame``."""
        return frame / self.fps

    def present_frames(self) -> np.ndarray:
        return np.flatnonzero(self.present)


def presence_segments(present: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` inclusive spans of consecutive True values, ascending."""
    p = np.asarray(present, dtype=bool).ravel()
    if p.size == 0:
        return []
    edges = np.diff(np.concatenate(([False], p, [False])).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [(int(a), int(b)) for a, b in zip(starts, ends)]


def _motion_velocity(c: np.ndarray) -> np.ndarray:
    """Velocity for motion events over one segment's centroids: central difference
    ``(c[i+1] - c[i-1]) / 2``, one-sided at the ends, zero for one frame."""
    if len(c) < 2:
        return np.zeros_like(c)
    return np.gradient(c, axis=0)


def _wrap_deg(a: float) -> float:
    a = (a + 180.0) % 360.0 - 180.0
    return 180.0 if a == -180.0 else a


def _sides(b: np.ndarray, width: int, height: int, border_px: float) -> list[str]:
    x0, y0, x1, y1 = b
    out = []
    if x0 < border_px:
        out.append("left")
    if y0 < border_px:
        out.append("top")
    if x1 > width - border_px:
        out.append("right")
    if y1 > height - border_px:
        out.append("bottom")
    return out


def _round(x: float, nd: int = 3) -> float:
    return float(round(float(x), nd))


def compute_tracks(
    masks: MaskStore,
    num_frames: int,
    fps: float,
    objects: Iterable[int] | None = None,
    *,
    move_threshold: float = 1.0,
    stop_threshold: float = 0.5,
    min_frames: int = 3,
    turn_threshold_deg: float = 60.0,
    border_px: float = 2.0,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[int, ObjectTrack]:
    """Tracks of ``objects`` (default: every object in ``masks``) over ``num_frames`` frames.

    Streams through the store one frame at a time, decoding one mask at a time (the mask is
    cropped to its bbox for the centroid). Thresholds are in px/frame; see the module
    docstring for the definitions. ``progress(done, total)`` is called per frame and
    ``cancel`` (set) raises :class:`~sam2studio.errors.Cancelled`.
    """
    num_frames = int(num_frames)
    fps = float(fps)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if num_frames < 0:
        raise ValueError(f"num_frames must not be negative, got {num_frames}")
    if stop_threshold > move_threshold:
        raise ValueError("stop_threshold must not exceed move_threshold")
    min_frames = max(1, int(min_frames))
    ids = masks.objects() if objects is None else sorted({int(o) for o in objects})
    W, H = masks.width, masks.height

    n = num_frames
    area = {o: np.zeros(n, np.int64) for o in ids}
    cen = {o: np.full((n, 2), np.nan) for o in ids}
    box = {o: np.full((n, 4), np.nan) for o in ids}

    for f in range(n):
        if cancel is not None and cancel.is_set():
            raise Cancelled("track computation cancelled")
        for o in ids:
            e = masks.entry(f, o)
            if e is None or e.area <= 0:
                continue
            x, y, w, h = (int(round(v)) for v in rle_bbox(e.rle))
            crop = np.ascontiguousarray(mask_utils.decode(e.rle)[y:y + h, x:x + w])
            m = cv2.moments(crop, binaryImage=True)
            if m["m00"] <= 0:  # cannot happen for a non-empty mask; be safe
                continue
            area[o][f] = int(e.area)
            cen[o][f] = (x + m["m10"] / m["m00"], y + m["m01"] / m["m00"])
            box[o][f] = (x, y, x + w, y + h)
        if progress is not None:
            progress(f + 1, n)

    tracks = {}
    for o in ids:
        tracks[o] = _build_track(
            o, fps, W, H, area[o], cen[o], box[o], move_threshold=move_threshold,
            stop_threshold=stop_threshold, min_frames=min_frames,
            turn_threshold_deg=turn_threshold_deg, border_px=border_px)
    return tracks


def _build_track(oid, fps, W, H, area, cen, box, *, move_threshold, stop_threshold,
                 min_frames, turn_threshold_deg, border_px) -> ObjectTrack:
    n = len(area)
    present = area > 0
    segments = presence_segments(present)
    vel = np.full((n, 2), np.nan)
    total = 0.0
    steps = 0
    for a, b in segments:
        if b > a:
            d = np.diff(cen[a:b + 1], axis=0)
            vel[a + 1:b + 1] = d
            vel[a] = d[0]
            total += float(np.hypot(d[:, 0], d[:, 1]).sum())
            steps += b - a
        else:
            vel[a] = 0.0
    speed = np.hypot(vel[:, 0], vel[:, 1])
    avg = total / steps if steps else 0.0

    track = ObjectTrack(
        id=int(oid), fps=fps, width=W, height=H, present=present, area=area, centroid=cen,
        bbox=box, velocity=vel, speed=speed, speed_px_s=speed * fps, segments=segments,
        total_distance=total, average_speed=avg, average_speed_px_s=avg * fps)
    track.events = _events(track, move_threshold, stop_threshold, min_frames,
                           turn_threshold_deg, border_px)
    return track


def _events(t: ObjectTrack, move_th, stop_th, min_frames, turn_th, border_px) -> list[dict]:
    n = t.num_frames
    events: list[dict] = []

    def add(kind: str, frame: int, **details) -> None:
        events.append({"type": kind, "frame": int(frame), "time": _round(t.time(frame), 6),
                       **details})

    for k, (a, b) in enumerate(t.segments):
        # ---- presence ------------------------------------------------------------------
        if k == 0:
            add("enter", a)
        else:
            prev_b = t.segments[k - 1][1]
            add("re-emerge", a, gap_frames=a - prev_b - 1, absent_since=prev_b + 1)
        if b + 1 < n:
            add("leave", b + 1, last_present_frame=b)

        # ---- image border --------------------------------------------------------------
        if a > 0:
            sides = _sides(t.bbox[a], t.width, t.height, border_px)
            if sides:
                add("enters_frame", a, sides=sides)
        if b + 1 < n:
            sides = _sides(t.bbox[b], t.width, t.height, border_px)
            if sides:
                first = b
                while first > a and _sides(t.bbox[first - 1], t.width, t.height, border_px):
                    first -= 1
                add("leaves_frame", first, sides=sides, last_present_frame=b)

        # ---- motion --------------------------------------------------------------------
        v = _motion_velocity(t.centroid[a:b + 1])
        s = np.hypot(v[:, 0], v[:, 1])
        moving = np.zeros(len(s), bool)
        state = bool((s[:min_frames] >= move_th).all())
        run = run_start = 0
        for i in range(len(s)):
            moving[i] = state
            if i == 0:
                continue
            if (s[i] < stop_th) if state else (s[i] >= move_th):
                run += 1
                if run == 1:
                    run_start = i
                if run >= min_frames:
                    state = not state
                    moving[run_start:i + 1] = state
                    add("starts_moving" if state else "stops_moving", a + run_start,
                        speed_px_per_frame=_round(s[run_start]))
                    run = 0
            else:
                run = 0

        ref: float | None = None  # reference heading, degrees
        turn_run = turn_start = 0
        for i in range(len(s)):
            if not (moving[i] and s[i] >= move_th):
                turn_run = 0
                continue
            h = math.degrees(math.atan2(v[i, 1], v[i, 0]))
            if ref is None:
                ref = h
                continue
            if abs(_wrap_deg(h - ref)) > turn_th:
                turn_run += 1
                if turn_run == 1:
                    turn_start, h_start = i, h
                if turn_run >= min_frames:
                    add("direction_change", a + turn_start, from_heading_deg=_round(ref, 1),
                        to_heading_deg=_round(h_start, 1),
                        turn_deg=_round(_wrap_deg(h_start - ref), 1))
                    ref = h
                    turn_run = 0
            else:
                turn_run = 0

    events.sort(key=lambda e: (e["frame"], _EVENT_ORDER[e["type"]]))
    return events
