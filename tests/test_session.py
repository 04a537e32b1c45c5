"""The Session API: prompts give masks at once, propagation stores them, corrections mark later
frames stale and re-runs clear them, saved projects reopen and keep working."""

from __future__ import annotations

import numpy as np
import pytest

from sam2studio.core.video import ArrayVideo
from sam2studio.engines.sam2_engine import Sam2Engine, build_predictor
from sam2studio.errors import PromptError, UserError
from sam2studio.session import Session


def clip(n=8, h=64, w=80):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def predictor():
    return build_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu", image_size=128, seed=0)


def new_session(predictor, n=8) -> Session:
    return Session.open(ArrayVideo(clip(n)), engine=Sam2Engine(predictor))


def test_a_click_returns_and_stores_the_mask_at_once(predictor):
    s = new_session(predictor)
    s.add_object("cup")
    mask = s.add_click(2, 1, 30, 20)
    assert mask.shape == (64, 80) and mask.dtype == bool
    assert np.array_equal(s.mask(2, 1), mask)
    assert s.keyframes(1) == [2]
    s.add_click(2, 1, 60, 50, positive=False)
    assert s.prompt(2, 1).points == [(30.0, 20.0), (60.0, 50.0)]
    assert s.prompt(2, 1).labels == [1, 0]
    assert s.masks.frames(1) == [2]  # nothing propagated yet


def test_propagation_stores_every_frame_and_a_correction_marks_later_frames_stale(predictor):
    s = new_session(predictor)
    s.add_click(0, 1, 30, 20)
    s.add_click(0, 2, 60, 40)
    frames = [f for f, _ in s.propagate(0, "forward")]
    assert frames == list(range(8))
    assert s.masks.frames(1) == list(range(8)) and s.masks.frames(2) == list(range(8))
    obj2_before = {f: s.mask(f, 2) for f in range(8)}

    s.set_mask(4, 1, np.pad(np.ones((10, 10), bool), ((20, 34), (30, 40))))  # a brush correction
    assert s.stale[1] == {5, 6, 7}
    assert not s.stale.get(2)
    done = [f for f, r in s.propagate(4, "forward", objects=[1])]
    assert done == [4, 5, 6, 7]
    assert s.stale[1] == set()
    assert all(np.array_equal(s.mask(f, 2), obj2_before[f]) for f in range(8))


def test_a_saved_session_reopens_and_can_propagate_again(predictor, tmp_path):
    s = new_session(predictor)
    s.add_object("player")
    s.add_click(1, 1, 30, 20)
    s.run(1, "both")
    path = s.save(tmp_path / "clip.s2s")
    video = s.video

    back = Session.load_project(path, engine=Sam2Engine(predictor), video=video)
    assert back.objects[1].name == "player"
    assert back.masks.frames(1) == list(range(8))
    assert np.array_equal(back.mask(5, 1), s.mask(5, 1))
    # the prompts were replayed into the fresh engine: propagating again gives the same masks
    again = {f: r[1].mask for f, r in back.propagate(1, "forward")}
    assert all(np.array_equal(again[f], s.mask(f, 1)) for f in range(1, 8))


def test_clearing_the_last_prompt_forgets_the_object_in_the_engine(predictor):
    s = new_session(predictor)
    s.add_click(0, 1, 30, 20)
    s.add_click(3, 2, 50, 30)
    s.clear_prompt(0, 1)
    assert s.keyframes(1) == []
    assert s.engine.objects == [2]


def test_bad_requests_raise_clear_errors(predictor):
    s = new_session(predictor)
    with pytest.raises(UserError, match="nothing to propagate"):
        list(s.propagate(0))
    with pytest.raises(PromptError, match="outside the frame"):
        s.add_click(0, 1, 500, 5)
    with pytest.raises(PromptError, match="positive"):
        s.add_click(0, -2, 5, 5)
    with pytest.raises(PromptError, match="mask is"):
        s.set_mask(0, 1, np.zeros((10, 10), bool))


def moving_square_clip(n=12, h=96, w=128):
    frames = []
    for i in range(n):
        f = np.full((h, w, 3), 40, np.uint8)
        f[30:60, 10 + 5 * i:40 + 5 * i] = (220, 60, 60)
        frames.append(f)
    return frames


def test_quality_tracks_report_and_export_through_the_session(tmp_path):
    import json

    from pycocotools import mask as mask_utils

    from sam2studio.export.report import validate_report

    s = Session.open(ArrayVideo(moving_square_clip(), fps=10.0), engine="classic")
    s.add_object("square")
    s.add_click(0, 1, 25, 45)
    s.run(0, "forward")
    assert s.score(5, 1) is not None

    # a broken frame is flagged, with its reasons; the clicked frame is trusted
    speck = np.zeros((96, 128), bool)
    speck[2:4, 2:4] = True
    s.masks.set(6, 1, speck, 0.1)
    flags = s.quality()
    assert s.project.quality_flags == flags  # kept, and saved with the project
    assert 6 in [d["frame"] for d in flags[1]]
    assert {"small_area", "low_confidence"} <= set(next(d for d in flags[1] if d["frame"] == 6)["reasons"])
    assert 0 not in [d["frame"] for d in flags[1]]

    tracks = s.tracks()
    t = tracks[1]
    assert t.present.all() and t.centroid.shape == (12, 2)
    assert t.speed[2] == pytest.approx(5.0, abs=1.0)  # the square moves 5 px a frame
    report = s.report(quality=True)
    validate_report(report)
    assert report["objects"][0]["name"] == "square"
    assert any(q["frame"] == 6 for q in report["objects"][0]["quality_flags"])

    out = s.export("coco", tmp_path / "c.json", frames=range(0, 5))
    coco = json.loads(out.read_text())
    assert len(coco["images"]) == 5
    ann = next(a for a in coco["annotations"] if a["image_id"] == coco["images"][3]["id"])
    rle = dict(ann["segmentation"])
    if isinstance(rle["counts"], str):
        rle["counts"] = rle["counts"].encode()
    assert np.array_equal(mask_utils.decode(rle).astype(bool), s.mask(3, 1))

    # smoothing: the exported mask of the speck frame is the object again; the store is unchanged
    s.export("png", tmp_path / "smooth", smooth=True)
    from PIL import Image

    png = np.asarray(Image.open(tmp_path / "smooth" / "frame_0006_obj_1.png")) > 0
    assert png[45, 10 + 5 * 6 + 15] and not png[2, 2]
    assert np.array_equal(s.mask(6, 1), speck)
    with pytest.raises(UserError):
        s.export("nonsense", tmp_path / "x")
    s.close()


def test_segment_adds_named_prompts_and_propagates_from_the_first_prompted_frame(predictor):
    from sam2studio.core.prompts import PromptSet

    prompts = PromptSet.parse(clicks=["1:3:30:20", "1:3:60:50:0"], boxes=["2:5:10:10:40:40"], names=["2:ball"])
    s = new_session(predictor)
    done = []
    start = s.segment(prompts, progress=lambda d, t: done.append((d, t)))
    # each object from its own prompt: 1 from frame 3 (3..7, 3..0), 2 from frame 5 (5..7, 5..0)
    assert start == 3 and done[-1] == (18, 18)
    assert s.objects[2].name == "ball" and s.objects[1].name != "ball"
    assert s.prompt(3, 1).points == [(30.0, 20.0), (60.0, 50.0)] and s.prompt(3, 1).labels == [1, 0]
    assert s.prompt(5, 2).box == (10.0, 10.0, 40.0, 40.0)
    assert all(s.masks.frames(o) == list(range(8)) for o in (1, 2))

    forward = new_session(predictor)
    assert forward.segment(PromptSet.parse(clicks=["1:3:30:20"]), start=4, direction="forward") == 4
    assert forward.masks.frames(1) == [3, 4, 5, 6, 7]


def test_prompts_are_checked_against_the_video_before_an_engine_is_built(monkeypatch):
    import sam2studio.session as session_module
    from sam2studio.core.prompts import PromptSet, PromptSpecError, parse_click

    built = []
    monkeypatch.setattr(session_module, "create_engine", lambda *a, **k: built.append(a))
    video = ArrayVideo(clip(4))
    with pytest.raises(PromptError, match="outside the frame"):
        Session.open(video, engine="classic", prompts=PromptSet.parse(clicks=["1:0:500:5"]))
    with pytest.raises(PromptError, match="--start 9 is out of range"):
        Session.open(ArrayVideo(clip(4)), engine="classic", prompts=PromptSet.parse(clicks=["1:0:5:5"]), start=9,
                     cli_flags=True)
    with pytest.raises(PromptError, match="mask file /no/such.png does not exist"):
        Session.check_prompts(video, PromptSet.parse(masks=["1:0:/no/such.png"]))
    with pytest.raises(PromptSpecError, match="must be OBJ:FRAME:X:Y"):
        parse_click("1:0:10")
    assert built == []


# ---- the core loop: every object from its own prompts, one object at a time, absences, candidates
def square_on_noise(n, h=64, w=80, step=1):
    """A red square moving right ``step`` px a frame over fixed noise (seeded)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        f = base.copy()
        f[20:40, 5 + step * i:25 + step * i] = (220, 60, 60)
        frames.append(f)
    return frames


@pytest.fixture(scope="module")
def predictor256():
    from conftest import random_predictor

    return random_predictor(256)


def test_an_object_prompted_before_the_start_is_tracked_from_its_prompt_like_a_run_from_frame_0(predictor):
    frames = square_on_noise(12)
    s = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor))
    s.add_object("ball")
    s.add_click(0, 1, 15, 30)
    summary = s.run(8, "forward")
    assert summary.line() == "ball: frames 0-11"
    assert summary.objects[1].runs == [("forward", 0, 11)] and summary.messages == []
    assert all(s.mask(f, 1) is not None for f in range(8, 12))

    ref = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor))
    ref.add_click(0, 1, 15, 30)
    ref.run(0, "forward")
    assert all(np.array_equal(s.mask(f, 1), ref.mask(f, 1)) for f in range(12))
    assert any(s.mask(f, 1).any() for f in range(8, 12))

    # after an unbroken run up to frame 7 the engine resumes at 8: same masks, less work
    part = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor))
    part.add_click(0, 1, 15, 30)
    part.run(0, "forward", frame_range=(0, 7))
    resumed = part.run(8, "forward")
    assert resumed.objects[1].runs == [("forward", 8, 11)] and resumed.line() == "object 1: frames 8-11"
    assert all(np.array_equal(part.mask(f, 1), ref.mask(f, 1)) for f in range(12))
    part.add_click(0, 1, 16, 31)  # a changed prompt: tracked from it again
    assert part.plan_run(8, "forward").groups == [("forward", 0, [1])]


def classic_square_session(n=40, step=2):
    s = Session.open(ArrayVideo(square_on_noise(n, h=72, w=128, step=step), fps=10.0), engine="classic")
    return s


def test_classic_engine_tracks_an_object_clicked_long_before_the_start_frame():
    s = classic_square_session(n=130, step=0)
    s.add_object("ball")
    s.add_click(0, 1, 15, 30)
    summary = s.run(100, "forward")
    assert summary.objects[1].first == 0 and summary.objects[1].last == 129
    for f in range(100, 130):
        m = s.mask(f, 1)
        assert m is not None and m[30, 15], f"frame {f}: the square is not in the mask"


def test_objects_without_a_prompt_on_the_requested_side_are_named_never_counted():
    s = classic_square_session()
    for name in ("ball", "rider", "late"):
        s.add_object(name)
    s.add_click(0, 1, 15, 30)
    s.add_click(10, 2, 40, 30)
    s.add_click(30, 3, 70, 30)
    summary = s.run(10, "forward")
    assert summary.line() == ("ball: frames 0-39, rider: frames 10-39; "
                              "late has no prompt on or before frame 10: nothing to track forward")
    assert [r.obj for r in summary.tracked] == [1, 2]
    assert s.masks.frames(3) == [30]  # only its prompt's mask
    back = s.run(10, "backward")
    assert "ball has no prompt on or after frame 10: nothing to track backward" in back.messages
    assert back.objects[2].first == 0 and back.objects[3].runs == [("backward", 30, 0)]
    assert s.last_run is back
    # both directions track every object from one of its prompts to both ends
    both = s.run(10, "both")
    assert both.messages == [] and all((r.first, r.last) == (0, 39) for r in both.tracked)
    assert both.to_dict()["objects"][2]["runs"] == [["forward", 30, 39], ["backward", 30, 0]]


def test_propagating_selected_objects_leaves_the_others_alone():
    s = classic_square_session()
    s.add_click(0, 1, 15, 30)
    s.add_click(0, 2, 100, 60)
    s.run(0, "forward", objects=[1])
    assert s.masks.frames(1) == list(range(40)) and s.masks.frames(2) == [0]
    summary = s.run(0, "forward", objects=[2])
    assert [r.obj for r in summary.tracked] == [2]


def test_a_locked_object_is_never_changed_by_propagation_brush_or_eraser():
    s = classic_square_session()
    s.add_object("ball")
    s.add_object("rider")
    s.add_click(0, 1, 15, 30)
    s.add_click(0, 2, 100, 60)
    s.run(0, "forward")
    before = {f: s.mask(f, 2) for f in range(40)}
    s.lock_object(2)
    s.set_mask(5, 1, np.zeros((72, 128), bool))  # another object's edit is fine
    summary = s.run(5, "forward")
    assert "rider is locked: left as it is" in summary.messages
    with pytest.raises(UserError, match="rider is locked"):
        s.set_mask(3, 2, np.ones((72, 128), bool))  # brush
    with pytest.raises(UserError, match="locked"):
        s.add_click(3, 2, 50, 30)
    with pytest.raises(UserError, match="locked"):
        s.set_absent(3, 2)
    s.run(0, "both", objects=[2])
    assert all(np.array_equal(s.mask(f, 2), before[f]) for f in range(40))
    s.lock_object(2, False)
    eraser = s.mask(3, 2) & False
    s.set_mask(3, 2, eraser)
    assert not s.mask(3, 2).any()


@pytest.mark.parametrize("engine", ["classic", "sam2"])
def test_absent_frames_stay_empty_and_the_object_comes_back_at_its_next_prompt(engine, predictor):
    frames = square_on_noise(14, h=64, w=80)
    s = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor) if engine == "sam2" else "classic")
    s.add_object("ball")
    s.add_click(0, 1, 15, 30)
    s.run(0, "forward")
    assert s.mask(4, 1).any()
    assert s.set_absent(3, 1, until=5) == [(3, 5)]  # "absent on frames 3-5"
    assert all(not s.mask(f, 1).any() and s.score(f, 1) == 0.0 for f in (3, 4, 5))
    assert s.stale[1] >= {6, 7}
    s.run(0, "forward")  # a later run does not fill them
    assert all(not s.mask(f, 1).any() for f in (3, 4, 5))
    assert s.mask(2, 1).any()

    s.set_absent(8, 1)  # "absent from here": up to the next prompt, or the end
    assert s.absent_ranges(1) == [(3, 5), (8, 13)]
    s.add_click(11, 1, 30, 30)  # it comes back at the next prompt
    assert s.absent_ranges(1) == [(3, 5), (8, 10)]
    s.run(0, "forward")
    assert all(not s.mask(f, 1).any() for f in (8, 9, 10))
    assert s.mask(11, 1).any()
    assert s.prompt(8, 1).kind == "absent"


def test_absence_marks_are_saved_and_replayed_and_old_projects_still_load(tmp_path, predictor):
    import sqlite3

    from sam2studio.core.prompts import FramePrompt

    s = classic_square_session(n=12)
    s.add_click(0, 1, 15, 30)
    s.set_absent(4, 1, until=6)
    path = s.save(tmp_path / "p.s2s")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()[0] == "3"
    back = Session.load_project(path, engine="classic", video=s.video)
    assert back.absent_ranges(1) == [(4, 6)]
    back.run(0, "forward")
    assert all(not back.mask(f, 1).any() for f in (4, 5, 6)) and back.mask(3, 1).any()

    s.clear_prompt(4, 1)  # no longer absent there: those frames need a run again
    assert {4, 5, 6} <= s.stale[1]
    s.save(path)  # without absence marks the file stays readable by format-2 versions
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()[0] == "2"
    # a prompt as older versions wrote it (no candidate, no absence keys) reads as before
    old = FramePrompt.from_json({"points": [[15.0, 30.0]], "labels": [1], "box": None})
    assert old.candidate == 0 and not old.absent and old.absent_until is None and old.kind == "points"


def test_a_single_click_offers_candidate_masks_and_the_choice_survives_reopening(predictor256, tmp_path):
    frames = square_on_noise(6)
    s = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor256))
    s.add_object("ball")
    default = s.add_click(1, 1, 15, 30)
    cands = s.candidates(1, 1)
    assert len(cands) == 3
    assert np.array_equal(cands[0].mask, default)  # index 0: SAM 2's own choice
    assert cands[0].score >= cands[1].score >= cands[2].score
    assert len({c.mask.tobytes() for c in cands}) == 3
    chosen = s.choose_candidate(1, 1, 2)
    assert np.array_equal(chosen, cands[2].mask) and np.array_equal(s.mask(1, 1), chosen)
    assert s.prompt(1, 1).candidate == 2
    s.run(1, "forward")
    path = s.save(tmp_path / "c.s2s")

    back = Session.load_project(path, engine=Sam2Engine(predictor256), video=s.video)
    assert back.prompt(1, 1).candidate == 2
    assert np.array_equal(back.candidates(1, 1)[2].mask, cands[2].mask)
    again = {f: r[1].mask for f, r in back.propagate(1, "forward")}
    assert all(np.array_equal(again[f], s.mask(f, 1)) for f in range(1, 6))

    # add_click(candidate=k) does the same in one call; a second click has no alternatives
    t = Session.open(ArrayVideo(frames), engine=Sam2Engine(predictor256))
    assert np.array_equal(t.add_click(1, 1, 15, 30, candidate=2), cands[2].mask)
    t.add_click(1, 1, 60, 50, positive=False)
    assert t.candidates(1, 1) == [] and t.prompt(1, 1).candidate == 0
    with pytest.raises(PromptError, match="no candidate 1"):
        t.choose_candidate(1, 1, 1)


def test_the_classic_engines_candidates_go_through_the_session_and_survive_reopening(tmp_path):
    s = classic_square_session(n=8)
    s.add_object("ball")
    first = s.add_click(0, 1, 15, 30)
    cands = s.candidates(0, 1)
    if len(cands) < 2:
        pytest.skip("the classic engine offers one mask for this click")
    assert np.array_equal(cands[0].mask, first)
    chosen = s.choose_candidate(0, 1, 1)
    assert np.array_equal(chosen, cands[1].mask) and s.prompt(0, 1).candidate == 1
    path = s.save(tmp_path / "c.s2s")
    back = Session.load_project(path, engine="classic", video=s.video)
    back.run(0, "forward")  # the replayed click uses candidate 1 again
    assert np.array_equal(back.mask(0, 1), cands[1].mask)
