"""Motion tracks (core/tracks.py) and the tracking report (export/report.py)."""

from __future__ import annotations

import copy
import json
import threading

import cv2
import jsonschema
import numpy as np
import pytest

from sam2studio.core.masks import MaskStore
from sam2studio.core.objects import TrackedObject
from sam2studio.core.tracks import compute_tracks, presence_segments
from sam2studio.errors import Cancelled, UserError
from sam2studio.export.report import (build_report, export_report, report_schema,
                                      validate_report)

H, W = 120, 200
FPS = 25.0
R = 8  # disc radius


def disc(cx: int, cy: int, r: int = R) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (int(cx), int(cy)), r, 1, -1)
    return m


def events_of(track, kind):
    return [e for e in track.events if e["type"] == kind]


# ---- scenario: right 3 px/frame, stop, down until it leaves through the bottom ---------------
N1 = 90


def centre_1(f: int) -> tuple[int, int]:
    if f <= 30:
        return 20 + 3 * f, 30          # frames 0..30 move right (steps 1..30)
    if f <= 40:
        return 110, 30                 # frames 31..40 still
    return 110, 30 + 3 * (f - 40)      # frames 41.. move down


@pytest.fixture(scope="module")
def scene():
    ms = MaskStore(H, W)
    for f in range(N1):
        cx, cy = centre_1(f)
        ms.set(f, 1, disc(cx, cy))  # empty (stored) once the disc is below the frame
    # object 2: a closed L path fully inside the frame, 3 px/frame, turning without stopping
    for f in range(41):
        cx, cy = (30 + 3 * f, 40) if f <= 20 else (90, 40 + 3 * (f - 20))
        ms.set(f, 2, disc(cx, cy))
    # object 3: present 0..9, stored empty 10..14, never segmented 15..19, present 20..29,
    # stored empty from 30; it never moves
    for f in range(N1):
        if f < 10 or 20 <= f < 30:
            ms.set(f, 3, disc(160, 90, 5))
        elif not 15 <= f < 20:
            ms.set(f, 3, np.zeros((H, W), np.uint8))
    # object 4: comes in from the left edge at frame 5 (2 px/frame)
    for f in range(5, 40):
        ms.set(f, 4, disc(-4 + 2 * (f - 5), 100, 6))
    objects = {i: TrackedObject(i, f"obj{i}") for i in (1, 2, 3, 4)}
    return ms, objects, compute_tracks(ms, N1, FPS)


def test_presence_segments_are_inclusive_spans():
    assert presence_segments(np.array([], bool)) == []
    assert presence_segments(np.zeros(5, bool)) == []
    assert presence_segments(np.ones(4, bool)) == [(0, 3)]
    p = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], bool)
    assert presence_segments(p) == [(0, 1), (4, 4), (6, 8)]


def test_constant_speed_is_measured_in_px_per_frame_and_px_per_s(scene):
    _, _, tracks = scene
    t = tracks[1]
    moving = t.speed[1:31]
    assert np.allclose(moving, 3.0, rtol=0.02)
    assert np.allclose(t.speed_px_s[1:31], 3.0 * FPS, rtol=0.02)
    assert np.allclose(t.speed[32:41], 0.0, atol=1e-9)
    assert np.allclose(t.velocity[1:31], [3.0, 0.0], atol=0.06)
    assert np.allclose(t.velocity[42:55], [0.0, 3.0], atol=0.06)   # downwards = +y
    assert np.allclose(t.centroid[10], centre_1(10), atol=1e-6)
    x0, y0, x1, y1 = t.bbox[10]
    assert (x0, y0, x1, y1) == (50 - R, 30 - R, 50 + R + 1, 30 + R + 1)
    assert t.area[10] == int(disc(*centre_1(10)).sum())
    assert np.isnan(t.centroid[N1 - 1]).all() and np.isnan(t.speed[N1 - 1])


def test_total_distance_and_average_speed_on_a_closed_path(scene):
    _, _, tracks = scene
    t = tracks[2]
    assert t.segments == [(0, 40)]
    assert t.total_distance == pytest.approx(120.0, rel=0.02)          # 20 steps right + 20 down
    assert t.average_speed == pytest.approx(3.0, rel=0.02)
    assert t.average_speed_px_s == pytest.approx(3.0 * FPS, rel=0.02)
    # the stop-and-go object: 30 right steps + 10 still + down steps
    t1 = tracks[1]
    inside = [f for f in range(41, N1) if centre_1(f)[1] + R < H]   # fully inside the frame
    assert t1.total_distance >= 90 + 3 * len(inside) - 1e-6
    assert t1.total_distance <= 90 + 3 * len(inside) + 2 * R + 3


def test_stop_and_go_events_with_direction_change_and_leaving_through_the_edge(scene):
    _, _, tracks = scene
    t = tracks[1]
    kinds = [e["type"] for e in t.events]
    assert kinds[0] == "enter" and t.events[0]["frame"] == 0
    (stop,) = events_of(t, "stops_moving")
    (start,) = events_of(t, "starts_moving")
    assert abs(stop["frame"] - 31) <= 1
    assert abs(start["frame"] - 41) <= 1
    assert stop["time"] == pytest.approx(stop["frame"] / FPS)
    (turn,) = events_of(t, "direction_change")
    assert abs(turn["frame"] - 41) <= 1
    assert turn["from_heading_deg"] == pytest.approx(0.0, abs=5)
    assert turn["to_heading_deg"] == pytest.approx(90.0, abs=5)
    assert turn["turn_deg"] == pytest.approx(90.0, abs=5)
    # the disc's bbox reaches the bottom when cy + R + 1 > H - 2, and it is gone when cy - R >= H
    touch = next(f for f in range(41, N1) if centre_1(f)[1] + R + 1 > H - 2)
    gone = next(f for f in range(41, N1) if centre_1(f)[1] - R >= H)
    (lf,) = events_of(t, "leaves_frame")
    assert lf["frame"] == touch and lf["sides"] == ["bottom"]
    (lv,) = events_of(t, "leave")
    assert lv["frame"] == gone and lv["last_present_frame"] == gone - 1
    assert not events_of(t, "enters_frame") and not events_of(t, "re-emerge")
    assert [e["frame"] for e in t.events] == sorted(e["frame"] for e in t.events)


def test_turn_while_moving_is_a_direction_change_without_stopping(scene):
    _, _, tracks = scene
    t = tracks[2]
    (turn,) = events_of(t, "direction_change")
    assert abs(turn["frame"] - 21) <= 1
    assert turn["turn_deg"] == pytest.approx(90.0, abs=10)
    assert not events_of(t, "stops_moving") and not events_of(t, "starts_moving")
    # frames after 40 were never segmented: absent like an empty mask
    assert t.present[:41].all() and not t.present[41:].any()
    assert [(e["type"], e["frame"]) for e in events_of(t, "leave")] == [("leave", 41)]


def test_presence_gaps_give_leave_and_re_emerge_events_and_segments(scene):
    _, _, tracks = scene
    t = tracks[3]
    assert t.segments == [(0, 9), (20, 29)]
    got = [(e["type"], e["frame"]) for e in t.events]
    assert got == [("enter", 0), ("leave", 10), ("re-emerge", 20), ("leave", 30)]
    re = events_of(t, "re-emerge")[0]
    assert re["gap_frames"] == 10 and re["absent_since"] == 10
    assert t.speed[0] == 0 and t.total_distance == 0 and t.average_speed == 0


def test_object_coming_in_across_the_left_edge_enters_frame(scene):
    _, _, tracks = scene
    t = tracks[4]
    assert t.segments[0][0] == 5
    (ef,) = events_of(t, "enters_frame")
    assert ef["frame"] == 5 and ef["sides"] == ["left"]
    assert events_of(t, "enter")[0]["frame"] == 5
    assert np.allclose(t.speed[15:35], 2.0, rtol=0.02)


def test_frame_to_frame_jitter_is_not_motion():
    ms = MaskStore(H, W)
    for f in range(40):
        ms.set(f, 1, disc(100 + (f % 2), 60))  # flips between two positions
    t = compute_tracks(ms, 40, FPS)[1]
    assert t.speed[1:].max() == pytest.approx(1.0)
    assert [e["type"] for e in t.events] == ["enter"]


def test_compute_tracks_honours_cancel_and_reports_progress(scene):
    ms, _, _ = scene
    seen = []
    cancel = threading.Event()

    def progress(done, total):
        seen.append((done, total))
        if done == 5:
            cancel.set()

    with pytest.raises(Cancelled):
        compute_tracks(ms, N1, FPS, progress=progress, cancel=cancel)
    assert seen[-1] == (5, N1)


# ---- report ----------------------------------------------------------------------------------
def test_report_follows_schema_and_carries_tracks(scene, tmp_path):
    ms, objects, tracks = scene
    out = tmp_path / "report.json"
    quality = {3: [{"type": "low_score", "frame": 4, "message": "score below 0.5"}]}
    export_report(ms, objects, N1, FPS, out, video_name="clip.mp4", width=W, height=H,
                  quality=quality)
    rep = json.loads(out.read_text(encoding="utf-8"))
    validate_report(rep)
    assert rep["schema_version"] == 1
    assert rep["video"] == {"name": "clip.mp4", "width": W, "height": H, "fps": FPS,
                            "num_frames": N1, "duration": pytest.approx(N1 / FPS)}
    assert [o["id"] for o in rep["objects"]] == [1, 2, 3, 4]
    o1 = rep["objects"][0]
    t = tracks[1]
    assert len(o1["frames"]) == int(t.present.sum())
    fr = o1["frames"][10]
    assert fr["frame"] == 10 and fr["time"] == pytest.approx(10 / FPS)
    assert fr["centroid"] == [50.0, 30.0]
    assert fr["speed_px_per_frame"] == pytest.approx(3.0, rel=0.02)
    assert fr["speed_px_per_s"] == pytest.approx(75.0, rel=0.02)
    assert o1["total_distance_px"] == pytest.approx(t.total_distance, abs=0.01)
    assert [e["type"] for e in o1["events"]] == [e["type"] for e in t.events]
    o3 = rep["objects"][2]
    assert o3["segments"] == [
        {"first_frame": 0, "last_frame": 9, "start_time": 0.0, "end_time": pytest.approx(0.4)},
        {"first_frame": 20, "last_frame": 29, "start_time": pytest.approx(0.8),
         "end_time": pytest.approx(1.2)}]
    assert o3["quality_flags"] == quality[3]
    assert rep["objects"][1]["quality_flags"] == []
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_broken_reports_do_not_validate(scene):
    ms, objects, _ = scene
    rep = build_report(ms, objects, N1, FPS, width=W, height=H, object_ids=[1, 3])
    validate_report(rep)
    assert rep["video"]["name"] is None
    breakages = [
        lambda r: r.pop("video"),
        lambda r: r.__setitem__("schema_version", 99),
        lambda r: r["objects"][0].pop("events"),
        lambda r: r["objects"][0]["frames"][0].__setitem__("centroid", [1.0]),
        lambda r: r["objects"][0]["events"][0].__setitem__("type", "teleport"),
        lambda r: r["objects"][0]["frames"][0].__setitem__("area", -3),
        lambda r: r["objects"][1]["events"].append({"type": "re-emerge", "frame": 3,
                                                    "time": 0.1}),
        lambda r: r["objects"][0].__setitem__("colour", [1, 2, 3]),
    ]
    for brk in breakages:
        bad = copy.deepcopy(rep)
        brk(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate_report(bad)


def test_report_schema_is_valid_draft_2020_12():
    schema = report_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_report_unknown_object_is_user_error(scene, tmp_path):
    ms, objects, _ = scene
    with pytest.raises(UserError, match=r"object 9 does not exist; objects are 1, 2, 3, 4"):
        export_report(ms, objects, N1, FPS, tmp_path / "r.json", width=W, height=H,
                      object_ids=[9])
    assert not list(tmp_path.iterdir())
