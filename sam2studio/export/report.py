"""Tracking report: per-object presence, positions, speeds and events as JSON.

The layout is published as a JSON Schema (draft 2020-12) in
``resources/schemas/tracking_report.schema.json`` (:func:`report_schema`); every written
report is validated against it. Definitions of centroid, bbox, speed, distance and events are
those of :mod:`sam2studio.core.tracks`.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable
from pathlib import Path

import jsonschema

from ..core.masks import MaskStore
from ..core.objects import TrackedObject
from ..core.tracks import compute_tracks
from .common import ProgressFn, atomic_path, select_objects

SCHEMA_VERSION = 1
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SCHEMA_PATH = RESOURCES / "schemas" / "tracking_report.schema.json"


@functools.lru_cache(maxsize=1)
def report_schema() -> dict:
    """The tracking report's JSON Schema (draft 2020-12)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_report(report: dict) -> None:
    """Raise :class:`jsonschema.ValidationError` (the most relevant error) when ``report``
    does not follow the schema."""
    err = jsonschema.exceptions.best_match(_validator().iter_errors(report))
    if err is not None:
        raise err


def _r(x: float, nd: int) -> float:
    return float(round(float(x), nd))


def build_report(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                 fps: float, *, video_name: str | None = None, width: int, height: int,
                 object_ids: Iterable[int] | None = None,
                 quality: dict[int, list[dict]] | None = None,
                 track_options: dict | None = None, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> dict:
    """The report as a dict (see the schema).

    ``quality`` maps an object id to its ``quality_flags`` (default: none);
    ``track_options`` are passed to :func:`~sam2studio.core.tracks.compute_tracks`
    (thresholds). Positions are rounded to 0.01 px, speeds to 0.001, times to 1 µs.
    """
    ids = select_objects(objects, object_ids)
    fps = float(fps)
    tracks = compute_tracks(masks, num_frames, fps, ids, progress=progress, cancel=cancel,
                            **(track_options or {}))
    out_objects = []
    for o in ids:
        t = tracks[o]
        frames = []
        for f in t.present_frames():
            f = int(f)
            frames.append({
                "frame": f,
                "time": _r(f / fps, 6),
                "centroid": [_r(v, 2) for v in t.centroid[f]],
                "bbox": [_r(v, 2) for v in t.bbox[f]],
                "area": int(t.area[f]),
                "speed_px_per_frame": _r(t.speed[f], 3),
                "speed_px_per_s": _r(t.speed_px_s[f], 3),
            })
        out_objects.append({
            "id": o,
            "name": objects[o].name,
            "color": [int(c) for c in objects[o].color],
            "segments": [{"first_frame": a, "last_frame": b, "start_time": _r(a / fps, 6),
                          "end_time": _r((b + 1) / fps, 6)} for a, b in t.segments],
            "frames": frames,
            "average_speed_px_per_frame": _r(t.average_speed, 3),
            "average_speed_px_per_s": _r(t.average_speed_px_s, 3),
            "total_distance_px": _r(t.total_distance, 2),
            "events": [dict(e) for e in t.events],
            "quality_flags": list((quality or {}).get(o, [])),
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": "SAM2 Studio",
        "video": {"name": video_name, "width": int(width), "height": int(height), "fps": fps,
                  "num_frames": int(num_frames), "duration": _r(num_frames / fps, 6)},
        "objects": out_objects,
    }


def export_report(masks: MaskStore, objects: dict[int, TrackedObject], num_frames: int,
                  fps: float, out: str | Path, *, video_name: str | None = None, width: int,
                  height: int, object_ids: Iterable[int] | None = None,
                  quality: dict[int, list[dict]] | None = None,
                  track_options: dict | None = None, progress: ProgressFn | None = None,
                  cancel: threading.Event | None = None, validate: bool = True) -> Path:
    """Build the report, validate it (unless ``validate=False``) and write it to ``out``
    as UTF-8 JSON, atomically."""
    out = Path(out)
    report = build_report(masks, objects, num_frames, fps, video_name=video_name, width=width,
                          height=height, object_ids=object_ids, quality=quality,
                          track_options=track_options, progress=progress, cancel=cancel)
    if validate:
        validate_report(report)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
    return out
