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
