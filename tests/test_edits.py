"""Undo and redo through the Session alone (no Qt): a snapshot taken before an edit puts the
prompt, the stored mask and the stale frames back exactly, in the engine too; brush and eraser
strokes paint and rub out the mask; an engine switch keeps the project."""

from __future__ import annotations

import numpy as np
import pytest

from sam2studio.core.edits import stroke_mask
from sam2studio.core.synthetic import crossing_clip
from sam2studio.session import Session

N = 8


@pytest.fixture(scope="module")
def clip():
    return crossing_clip(num_frames=N, width=320, height=180)


@pytest.fixture
def session(clip):
    s = Session.open(clip.video(), engine="classic")
    yield s
    s.close()


def tracked(session, clip) -> Session:
    """Object 1 clicked on frame 0 and propagated over the clip."""
    x, y = clip.clicks[1]
    session.add_click(0, 1, x, y)
    session.run(0, "forward")
    return session


def same_state(session, frame: int, obj: int, snap) -> bool:
    """The session shows exactly what ``snap`` recorded for ``obj`` on ``frame``."""
    now = session.snapshot(obj, frame)
    return now.prompt == snap.prompt and now.entry == snap.entry and now.stale == snap.stale


def test_undoing_a_correction_click_restores_prompt_mask_and_stale_frames_and_redo_reapplies_it(session, clip):
    s = tracked(session, clip)
    assert s.masks.frames(1) == list(range(N)) and not s.stale.get(1)
    before = s.snapshot(1, 3)
    assert before.prompt is None and before.entry is not None

    x, y = clip.clicks[1]
    s.add_click(3, 1, x + 3, y, positive=False)
    after = s.snapshot(1, 3)
    assert s.keyframes(1) == [0, 3] and s.stale[1] == {4, 5, 6, 7}

    assert s.restore(before)  # undo
    assert same_state(s, 3, 1, before)
    assert s.keyframes(1) == [0] and not s.stale.get(1)

    assert s.restore(after)  # redo
    assert same_state(s, 3, 1, after)
    assert s.keyframes(1) == [0, 3] and s.stale[1] == {4, 5, 6, 7}
    assert s.prompt(3, 1).labels == [0]

    s.run(3, "forward", objects=[1])  # the engine got the redone click back: it propagates from it
    assert not s.stale.get(1)


def test_brush_and_eraser_strokes_paint_and_rub_out_and_undo_in_reverse_order(session, clip):
    s = tracked(session, clip)
    frame, shape = 2, (clip.height, clip.width)
    path = [(20.0, 20.0), (60.0, 30.0), (100.0, 20.0)]
    painted = stroke_mask(shape, path, 12)
    assert painted.sum() > 100 and not (s.mask(frame, 1) & painted).any(), "the stroke is on background"

    s0 = s.snapshot(1, frame)
    brushed = s.apply_stroke(frame, 1, path, 12)
    s1 = s.snapshot(1, frame)
    assert brushed[painted].all(), "every pixel under the brush is in the mask"
    assert np.array_equal(s.mask(frame, 1), brushed) and s.keyframes(1) == [0, frame]
    assert s.stale[1] == set(range(frame + 1, N))

    s.apply_stroke(frame, 1, path[:2], 6, erase=True)
    rubbed = stroke_mask(shape, path[:2], 6)
    assert not s.mask(frame, 1)[rubbed].any(), "the eraser took its pixels away"
    assert s.mask(frame, 1)[painted & ~rubbed].all(), "and left the rest of the brush stroke"

    assert s.restore(s1)  # undo the eraser
    assert same_state(s, frame, 1, s1) and np.array_equal(s.mask(frame, 1), brushed)
    assert s.restore(s0)  # undo the brush
    assert same_state(s, frame, 1, s0) and s.keyframes(1) == [0] and not s.stale.get(1)
    assert not (s.mask(frame, 1) & painted).any()
    assert s.restore(s1)  # redo the brush
    assert np.array_equal(s.mask(frame, 1), brushed) and s.keyframes(1) == [0, frame]


def test_an_eraser_stroke_on_a_frame_without_a_mask_leaves_it_empty(session):
    mask = session.apply_stroke(1, 1, [(10, 10), (40, 40)], 20, erase=True)
    assert not mask.any() and session.prompt(1, 1) is not None


def test_an_object_snapshot_brings_a_deleted_object_back_with_its_prompts_masks_and_flags(session, clip):
    s = tracked(session, clip)
    s.add_click(4, 1, *clip.clicks[1])
    s.objects[1].locked = True
    masks = {f: s.mask(f, 1) for f in range(N)}
    snap = s.snapshot(1)
    s.remove_object(1)
    assert 1 not in s.objects and s.masks.frames(1) == []

    assert s.restore(snap)
    assert s.objects[1].locked and s.keyframes(1) == [0, 4]
    assert all(np.array_equal(s.mask(f, 1), masks[f]) for f in range(N))
    assert s.stale[1] == {5, 6, 7}
    s.lock_object(1, False)  # a locked object is never tracked
    s.run(0, "forward")  # the engine knows the object again
    assert not s.stale.get(1)


def test_a_frame_snapshot_of_a_deleted_object_restores_nothing(session, clip):
    s = tracked(session, clip)
    snap = s.snapshot(1, 0)
    s.remove_object(1)
    assert not s.restore(snap)
    assert 1 not in s.objects and s.prompt(0, 1) is None


def test_switching_the_engine_keeps_the_project_and_replays_its_prompts(session, clip):
    s = tracked(session, clip)
    old_engine, masks = s.engine, {f: s.mask(f, 1) for f in range(N)}
    assert s.switch_engine("classic") is s
    assert s.engine is not old_engine and s.engine.is_open
    assert s.keyframes(1) == [0] and all(np.array_equal(s.mask(f, 1), masks[f]) for f in range(N))
    s.add_click(5, 1, *clip.clicks[1])  # the new engine got frame 0's click replayed first
    assert s.run(5, "forward").done == N - 5
    assert not s.stale.get(1)


def test_an_object_snapshot_undoes_and_redoes_an_absence_mark(session, clip):
    s = tracked(session, clip)
    masks = {f: s.mask(f, 1) for f in range(N)}
    before = s.snapshot(1)
    s.set_absent(3, 1, until=5)
    after = s.snapshot(1)
    assert s.restore(before)  # undo: the mark and its empty frames go
    assert s.absent_ranges(1) == [] and s.keyframes(1) == [0]
    assert all(np.array_equal(s.mask(f, 1), masks[f]) for f in range(N))
    assert s.restore(after)  # redo
    assert s.absent_ranges(1) == [(3, 5)] and not s.mask(4, 1).any()
