"""Presence-based cut: keep only the parts of a video where chosen objects are present.

:func:`plan_cut` turns the objects' presence (a stored, non-empty mask) into spans of frames
to keep; :func:`export_cut` renders those frames back to back into one video, optionally with
the effects of :mod:`~sam2studio.export.effects`, and writes a ``.spans.json`` sidecar.

Planning, in this order:

1. a frame is *present* when any (``mode="any"``) or all (``mode="all"``) of the chosen
   objects have a non-empty mask on it (a frame never segmented counts as absent);
2. consecutive present frames form spans; two spans separated by a gap of fewer than
   ``merge_gap`` frames (or shorter than ``merge_gap_s`` seconds) are merged, gap included;
3. spans shorter than ``min_span`` frames (or ``min_span_s`` seconds) are dropped.

Timing of the result: output frame timestamps are continuous (frame ``k`` at ``k / fps``),
same frame rate and time base as the source. Audio is cut sample-exactly rather than by
passing packets through: the source audio is decoded, the samples inside each kept span's
time (``[first / fps, (last + 1) / fps)`` from the span's first frame time) are kept, and the
result is re-encoded as AAC (Opus for ``.webm``). Each span's audio length is rounded to the
sample from the output timeline, so the total audio length equals the kept video length
(``kept_frames / fps``) to within one sample plus the encoder's final padding -- far inside one
audio frame (1024 samples). Passing AAC packets through would be off by up to one packet
*per span* and the error would add up over many spans.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ..core.masks import MaskStore
from ..core.tracks import presence_segments
from ..core.video import VideoSource
from ..errors import UserError
from .common import atomic_path, select_objects
from .effects import Effect
from .encode import Span, probe_source
from .render import check_spans, objects_dict, render

__all__ = ["plan_cut", "export_cut", "spans_json_path"]



def _frames_from(frames: int | None, seconds: float | None, fps: float, name: str,
                 default: int, *, ceil: bool) -> int:
    if frames is not None and seconds is not None:
        raise UserError(f"give {name} in frames or in seconds, not both.")
    if seconds is not None:
        if seconds < 0:
            raise UserError(f"{name} must not be negative, got {seconds} s.")
        x = seconds * fps
        return int(math.ceil(x - 1e-9)) if ceil else int(math.floor(x + 1e-9))
    if frames is None:
        return default
    if int(frames) < 0:
        raise UserError(f"{name} must not be negative, got {frames}.")
    return int(frames)


def plan_cut(masks: MaskStore, num_frames: int, fps: float, object_ids: Iterable[int] | None, *,
             merge_gap: int | None = None, merge_gap_s: float | None = None,
             min_span: int | None = None, min_span_s: float | None = None,
             mode: str = "any") -> list[Span]:
    """Spans ``[(first, last), ...]`` (inclusive, ascending) where the objects are present.

    ``object_ids``: the objects to follow (None: every object in ``masks``). A gap of fewer
    than ``merge_gap`` frames (default 0: nothing merged) -- or shorter than ``merge_gap_s``
    seconds -- between two spans is kept, joining them; then spans shorter than ``min_span``
    frames (default 1: all kept) -- or ``min_span_s`` seconds -- are dropped. ``mode``: "any"
    (at least one object present) or "all" (every object present).
    """
    num_frames = int(num_frames)
    fps = float(fps)
    if not fps > 0:
        raise UserError(f"the frame rate must be positive, got {fps}.")
    if mode not in ("any", "all"):
        raise UserError(f"cut mode must be 'any' or 'all', got {mode!r}.")
    ids = masks.objects() if object_ids is None else sorted({int(o) for o in object_ids})
    if not ids:
        raise UserError("choose at least one object to cut on.")
    # A gap of g frames lasts g / fps seconds: merged when g < merge_gap, i.e. g <= limit - 1.
    if merge_gap_s is not None:
        if merge_gap is not None:
            raise UserError("give merge_gap in frames or in seconds, not both.")
        if merge_gap_s < 0:
            raise UserError(f"merge_gap_s must not be negative, got {merge_gap_s} s.")
        max_gap = int(math.ceil(merge_gap_s * fps - 1e-9)) - 1  # g / fps < merge_gap_s
    else:
        max_gap = _frames_from(merge_gap, None, fps, "merge_gap", 0, ceil=False) - 1
    min_len = max(1, _frames_from(min_span, min_span_s, fps, "min_span", 1, ceil=True))

    present = np.ones(num_frames, bool) if mode == "all" else np.zeros(num_frames, bool)
    for o in ids:
        p = masks.presence(o, num_frames)
        present = (present & p) if mode == "all" else (present | p)

    merged: list[list[int]] = []
    for a, b in presence_segments(present):
        if merged and a - merged[-1][1] - 1 <= max_gap:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a + 1 >= min_len]


def spans_json_path(out: str | os.PathLike) -> Path:
    """Default sidecar of a cut: ``<out>.spans.json`` (``cut.mp4`` -> ``cut.mp4.spans.json``)."""
    out = Path(out)
    return out.with_name(out.name + ".spans.json")


def _spans_doc(video: VideoSource, spans: Sequence[Span], ids: list[int], mode: str | None,
               rate: float) -> dict:
    rows, k = [], 0
    for a, b in spans:
        n = b - a + 1
        rows.append({
            "first": a, "last": b, "frames": n,
            "start_s": round(float(video.timestamp(a)), 6),
            "end_s": round(float(video.timestamp(a)) + n / rate, 6),
            "out_first": k, "out_start_s": round(k / rate, 6),
        })
        k += n
    return {
        "source": video.name, "fps": float(video.fps), "num_frames": len(video),
        "objects": ids, "mode": mode, "spans": rows,
        "kept_frames": k, "kept_seconds": round(k / rate, 6),
    }


def export_cut(video: VideoSource, masks: MaskStore, objects, out: str | os.PathLike,
               spans: Sequence[Span] | None = None, *, object_ids: Iterable[int] | None = None,
               merge_gap: int | None = None, merge_gap_s: float | None = None,
               min_span: int | None = None, min_span_s: float | None = None, mode: str = "any",
               effects: Sequence[Effect] | None = None, spans_path: str | os.PathLike | None = None,
               codec: str | None = None, crf: int = 18, preset: str = "veryfast", feather: int = 0,
               progress: Callable[[int, int], None] | None = None,
               cancel: threading.Event | None = None) -> Path:
    """Write a video of only the kept frames of ``video`` to ``out`` and the spans sidecar.

    ``spans``: ``[(first, last), ...]`` inclusive, ascending, not overlapping; when None they
    are planned with :func:`plan_cut` from ``object_ids`` (default: every object) and the
    plan arguments. ``effects`` (default none) are applied as in
    :func:`~sam2studio.export.render.export_video`. The sidecar (default
    :func:`spans_json_path`) lists each span's ``first``/``last`` frame, ``frames``,
    ``start_s``/``end_s`` (source seconds, end exclusive) and where it starts in the output.
    Returns ``out``.
    """
    objs = objects_dict(objects)
    ids = select_objects(objs, object_ids)
    if spans is None:
        spans = plan_cut(masks, len(video), video.fps, ids, merge_gap=merge_gap,
                         merge_gap_s=merge_gap_s, min_span=min_span, min_span_s=min_span_s,
                         mode=mode)
        if not spans:
            names = ", ".join(objs[o].name for o in ids)
            raise UserError(f"{names} {'is' if len(ids) == 1 else 'are'} never present "
                            "(after the gap and length limits): there is nothing to keep.")
        used_mode: str | None = mode
    else:
        if any(x is not None for x in (merge_gap, merge_gap_s, min_span, min_span_s)):
            raise UserError("give either the spans or the planning limits, not both.")
        spans = check_spans(spans, len(video))
        used_mode = None
    out = Path(out)
    result = render(video, masks, objs, out, effects, spans, audio="cut", object_ids=ids,
                     codec=codec, crf=crf, preset=preset, feather=feather, progress=progress,
                     cancel=cancel)
    rate = float(probe_source(video).rate)
    doc = _spans_doc(video, spans, ids, used_mode, rate)
    sidecar = Path(spans_path) if spans_path is not None else spans_json_path(out)
    with atomic_path(sidecar) as tmp:
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return result
