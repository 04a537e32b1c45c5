"""Output timing of an edited-video export: every frame keeps its source timestamp.

A variable-frame-rate source (a phone that drops its rate in low light, a screen recording)
has frames at irregular times. Numbering output frames ``k / rate`` would re-time them to a
constant rate, so frame 5 would be shown at 0.31 s instead of 0.452 s, audio would drift and
cuts would land where the user did not see them. :func:`output_timeline` places each exported
frame at its source time instead (from the source's pts and time base where the video has
them, else ``index / fps``), relative to the first exported frame; kept spans of a cut follow
one another, each lasting from its first frame to the end of its last frame (the next source
frame's time).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = ["Timeline", "output_timeline"]


@dataclass
class Timeline:
    """Where exported frames and spans sit on the output's clock."""

    time_base: Fraction
    pts: list[int]  # per exported frame, in time_base ticks, strictly increasing
    pieces: list[tuple[float, float, float]]  # per span: (source start s, output start s, output end s)

    def seconds(self, k: int) -> float:
        """Output time of exported frame ``k`` in seconds."""
        return float(self.pts[k] * self.time_base)

    @property
    def duration(self) -> float:
        return self.pieces[-1][2] if self.pieces else 0.0


def _source_ticks(video, time_base: Fraction) -> tuple[np.ndarray, int]:
    """Every source frame's time in ``time_base`` ticks from the first frame, and the typical
    frame duration in ticks (for the last frame, which has no next frame to end it)."""
    n = len(video)
    pts = getattr(video, "pts", None)
    vtb = getattr(video, "time_base", None)
    if pts is not None and vtb is not None and len(pts) == n and n:
        p = np.asarray(pts, dtype=np.int64)
        rel = p - p[0]
        if Fraction(vtb) == time_base:
            ticks = rel
        else:
            scale = Fraction(vtb) / time_base
            ticks = np.array([int(round(int(v) * scale)) for v in rel], dtype=np.int64)
    else:
        fps = float(getattr(video, "fps", 0) or 0) or 30.0
        ticks = np.array([int(round(Fraction(i) / Fraction(fps).limit_denominator(1_000_000) / time_base))
                          for i in range(n)], dtype=np.int64)
    diffs = np.diff(ticks)
    diffs = diffs[diffs > 0]
    typical = int(np.median(diffs)) if diffs.size else 0
    if typical <= 0:
        fps = float(getattr(video, "fps", 0) or 0) or 30.0
        typical = max(1, int(round(1 / fps / float(time_base))))
    return ticks, typical


def output_timeline(video, spans, time_base: Fraction, video_start: float = 0.0) -> Timeline:
    """The output pts of every frame of ``spans`` (inclusive ``(first, last)`` source frame
    pairs, in order) and each span's place on the output clock. ``video_start`` is the source
    time of frame 0 in the file's own timeline (for cutting audio)."""
    time_base = Fraction(time_base)
    src, typical = _source_ticks(video, time_base)
    n = len(src)
    out_pts: list[int] = []
    pieces: list[tuple[float, float, float]] = []
    base = 0
    for a, b in spans:
        for i in range(a, b + 1):
            t = base + int(src[i] - src[a])
            if out_pts and t <= out_pts[-1]:  # a time base too coarse for two frames: keep order
                t = out_pts[-1] + 1
            out_pts.append(t)
        end_of_last = int(src[b + 1]) if b + 1 < n else int(src[b]) + typical
        length = max(end_of_last - int(src[a]), out_pts[-1] - base + 1)
        pieces.append((video_start + float(src[a] * time_base), float(base * time_base),
                       float((base + length) * time_base)))
        base += length
    return Timeline(time_base, out_pts, pieces)
