"""Temporal smoothing: less flicker at equal or better accuracy on a noisy clip with ground
truth, stored masks untouched, the MaskStore read API, and exporters reading it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from sam2studio.core.masks import MaskStore
from sam2studio.core.objects import TrackedObject
from sam2studio.core.smoothing import SmoothedMaskStore, flicker, smoothed_mask, smoothed_project
from sam2studio.core.synthetic import crossing_clip, exit_reenter_clip, iou


def noisy_masks(clip, seed: int = 0, drop: float = 0.08, speck: float = 0.1) -> MaskStore:
    """The clip's ground truth with ragged, changing boundaries (a band of +-3 px flipped by a
    smooth random field), some frames dropped (empty) and some with specks far away."""
    rng = np.random.default_rng(seed)
    st = MaskStore(clip.height, clip.width)
    k7 = np.ones((7, 7), np.uint8)
    for o, ms in clip.gt.items():
        for f, gt in enumerate(ms):
            m = gt.copy()
            if m.any():
                u8 = m.astype(np.uint8)
                band = (cv2.dilate(u8, k7) > 0) & ~(cv2.erode(u8, k7) > 0)
                field = cv2.GaussianBlur(rng.standard_normal(m.shape).astype(np.float32), (0, 0), 3.0)
                field /= field.std() + 1e-6
                m = np.where(band & (np.abs(field) > 1.0), field > 0, m)
                m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            r = rng.random()
            if r < drop:
                m[:] = False
            elif r < drop + speck:
                for _ in range(int(rng.integers(1, 4))):
                    c = (int(rng.integers(10, clip.width - 10)), int(rng.integers(10, clip.height - 10)))
                    u8 = m.astype(np.uint8)
                    cv2.circle(u8, c, int(rng.integers(3, 12)), 1, -1)
                    m = u8 > 0
            st.set(f, o, m, 0.9)
    return st


@pytest.fixture(scope="module")
def clip():
    return crossing_clip(num_frames=60, width=427, height=240)


def miou(store, clip, obj) -> float:
    return float(np.mean([iou(store.get_or_empty(f, obj), clip.gt[obj][f]) for f in range(len(clip))]))


def test_less_flicker_at_equal_or_better_accuracy(clip):
    raw = noisy_masks(clip)
    sm = SmoothedMaskStore(raw, num_frames=len(clip))
    gt = MaskStore(clip.height, clip.width)
    for o, ms in clip.gt.items():
        for f, m in enumerate(ms):
            gt.set(f, o, m)
    frames = range(len(clip))
    lines = []
    for o in clip.gt:
        fl_gt, fl_raw, fl_sm = flicker(gt, o, frames), flicker(raw, o, frames), flicker(sm, o, frames)
        acc_raw, acc_sm = miou(raw, clip, o), miou(sm, clip, o)
        lines.append(f"object {o}: flicker (mean 1-IoU of consecutive masks) ground truth {fl_gt:.3f}, "
                     f"noisy {fl_raw:.3f} -> smoothed {fl_sm:.3f}; mIoU vs ground truth {acc_raw:.3f} -> {acc_sm:.3f}")
        assert fl_sm < 0.8 * fl_raw, lines[-1]
        assert acc_sm >= acc_raw - 0.005, lines[-1]
    print("\n" + "\n".join(lines))
    # overall, the smoothed masks are close to the ground truth's own (motion) flicker
    assert np.mean([flicker(sm, o, frames) for o in clip.gt]) < 1.3 * np.mean([flicker(gt, o, frames) for o in clip.gt])


def test_stored_masks_are_not_changed(clip):
    raw = noisy_masks(clip, seed=1)
    before = [(f, o, bytes(e.rle["counts"]), e.score) for f, o, e in raw.items()]
    rev = raw.revision
    sm = SmoothedMaskStore(raw, num_frames=len(clip))
    for f in range(len(clip)):
        sm.get(f, 1)
    assert raw.revision == rev
    assert [(f, o, bytes(e.rle["counts"]), e.score) for f, o, e in raw.items()] == before


def test_dropouts_filled_specks_removed_entries_and_exits_kept():
    clip = exit_reenter_clip(num_frames=60, width=427, height=240)
    n = len(clip)
    st = MaskStore(clip.height, clip.width)
    for f, m in enumerate(clip.gt[1]):
        st.set(f, 1, m if m.sum() >= 20 else np.zeros_like(m), 1.0)
    present = np.array([st.area(f, 1) > 0 for f in range(n)])
    gone = np.flatnonzero(~present)
    assert len(gone) > 5
    inside = int(np.flatnonzero(present)[5])
    st.set(inside, 1, np.zeros_like(clip.gt[1][0]), 0.0)  # a one-frame dropout
    speck_frame = int(gone[len(gone) // 2])
    speck = np.zeros_like(clip.gt[1][0])
    speck[50:60, 50:60] = True
    st.set(speck_frame, 1, speck, 0.5)  # a one-frame speck while gone
    sm = SmoothedMaskStore(st, num_frames=n)
    assert sm.area(inside, 1) > 0.9 * clip.gt[1][inside].sum()
    assert iou(sm.get(inside, 1), clip.gt[1][inside]) > 0.9
    assert sm.area(speck_frame, 1) == 0
    smoothed_present = np.array([sm.area(f, 1) > 0 for f in range(n)])
    assert (smoothed_present == present).all(), "entering and leaving stay on the same frames"


def test_read_api_matches_a_mask_store(clip):
    raw = noisy_masks(clip, seed=2)
    raw.remove(7, 2)  # never segmented there
    sm = SmoothedMaskStore(raw, window=5, sigma=1.5, num_frames=len(clip))
    assert sm.objects() == raw.objects() and sm.frames(2) == raw.frames(2)
    assert (sm.height, sm.width) == (raw.height, raw.width) and len(sm) == len(raw)
    assert sm.entry(7, 2) is None and sm.get(7, 2) is None and not sm.has(7, 2)
    assert sm.get_or_empty(7, 2).shape == (clip.height, clip.width)
    e = sm.entry(10, 1)
    assert e.score == raw.score(10, 1) and e.area == int(sm.get(10, 1).sum()) == sm.area(10, 1)
    assert set(sm.frame_masks(10)) == {1, 2}
    assert sm.present_frames(1) == [f for f in sm.frames(1) if sm.area(f, 1) > 0]
    assert sm.presence(1, len(clip)).sum() == len(sm.present_frames(1))
    assert len(list(sm.items())) == len(raw)
    np.testing.assert_array_equal(sm.get(10, 1), smoothed_mask(raw, 10, 1, num_frames=len(clip)))
    # window 1: the masks as stored
    one = SmoothedMaskStore(raw, window=1)
    np.testing.assert_array_equal(one.get(10, 1), raw.get(10, 1))
    with pytest.raises(ValueError):
        SmoothedMaskStore(raw, window=0)


def test_follows_changes_of_the_store(clip):
    raw = noisy_masks(clip, seed=3)
    sm = SmoothedMaskStore(raw, num_frames=len(clip))
    before = sm.get(20, 1).copy()
    for f in range(18, 23):
        raw.set(f, 1, np.zeros_like(before), 0.0)
    assert sm.area(20, 1) == 0
    assert sm.area(30, 1) > 0
    assert not np.array_equal(sm.get(20, 1), before)


def test_exporters_take_the_smoothed_view(tmp_path, clip):
    from sam2studio.core.project import Project
    from sam2studio.export.formats import ExportJob, get_format
    from sam2studio.export.mask_formats import object_png_name
    from sam2studio.export.report import export_report

    p = Project(None, clip.width, clip.height, len(clip), clip.fps)
    for o in clip.gt:
        p.add_object(TrackedObject(o))
    raw = noisy_masks(clip, seed=4)
    for f, o, e in raw.items():
        p.masks.set_rle(f, o, e.rle, e.score, e.area)
    sp = smoothed_project(p)
    out = get_format("png").run(ExportJob(project=sp, out=tmp_path / "png", frames=range(0, 10)))
    sm = sp.masks
    assert sp.num_frames == p.num_frames and sp.objects is p.objects
    for f in range(10):
        for o in clip.gt:
            img = cv2.imread(str(out / object_png_name(f, o)), cv2.IMREAD_GRAYSCALE)
            np.testing.assert_array_equal(img > 0, sm.get_or_empty(f, o))
    rep = export_report(sm, p.objects, len(clip), clip.fps, tmp_path / "r.json", width=clip.width, height=clip.height)
    doc = json.loads(rep.read_text())
    assert [o["id"] for o in doc["objects"]] == [1, 2]
    assert len(doc["objects"][0]["frames"]) == len(sm.present_frames(1))
