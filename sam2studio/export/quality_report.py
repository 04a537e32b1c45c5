"""The quality report export (``--format quality``, ``segment --quality-report``): the frames
whose masks are probably wrong, per object, as JSON::

    {"thresholds": {...}, "num_frames": N, "video": "clip.mp4", "appearance_checked": true,
     "objects": {"1": {"name": "dog", "flagged_frames": 3, "flags": [{"frame": 12, ...}]}}}

The measurements and thresholds are :mod:`sam2studio.core.quality`'s; frames with a prompt
(an object's keyframes) are trusted, never flagged.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..core.quality import QualityThresholds, assess
from ..errors import UserError
from .common import atomic_path


def thresholds_from(value) -> QualityThresholds:
    """``None``, a :class:`QualityThresholds` or a dict of threshold values."""
    if value is None:
        return QualityThresholds()
    if isinstance(value, QualityThresholds):
        return value
    try:
        return QualityThresholds.from_dict(dict(value))
    except (TypeError, ValueError) as exc:
        raise UserError(f"quality thresholds: {exc}") from None


def export_quality_report(project, out: str | Path, *, video=None, object_ids=None, frames: range | None = None,
                          thresholds=None, use_video: bool = True, progress=None, cancel=None,
                          **threshold_values) -> Path:
    """Assess ``project``'s masks and write the flags as JSON (atomically). ``video`` (a
    VideoSource) adds the appearance check unless ``use_video=False``. Thresholds come as
    ``thresholds`` (QualityThresholds or dict) and/or as keywords (``min_iou=0.7``).
    ``frames`` keeps the flags of those frames only (the measures need the whole run)."""
    th = thresholds_from(thresholds)
    if threshold_values:
        th = thresholds_from({**th.to_dict(), **threshold_values})
    use_video = bool(use_video) and video is not None
    objs = sorted(project.objects) if object_ids is None else [int(o) for o in object_ids]
    flags = assess(project.masks, project.num_frames, video=video if use_video else None, objects=objs,
                   thresholds=th, trusted={o: project.prompts.keyframes(o) for o in objs},
                   progress=progress, cancel=cancel)
    if frames is not None:
        flags = {o: [d for d in lst if d["frame"] in frames] for o, lst in flags.items()}
    name = getattr(video, "name", None) if video is not None else None
    if name is None and getattr(project, "video_path", None) is not None:
        name = project.video_path.name
    doc = {
        "thresholds": th.to_dict(),
        "num_frames": int(project.num_frames),
        "video": name,
        "appearance_checked": use_video,
        **({} if frames is None else {"frames": [frames.start, frames.stop]}),
        "objects": {str(o): {"name": project.objects[o].name if o in project.objects else "",
                             "flagged_frames": len(flags[o]), "flags": flags[o]} for o in objs},
    }
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
