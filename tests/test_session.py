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
    assert start == 3 and done[-1] == (9, 9)  # 3..7 forward, then 3..0 backward
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
