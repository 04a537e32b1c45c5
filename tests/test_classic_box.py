"""A box drawn around an object, with the classic engine (no click with it): the GrabCut
variants of :mod:`sam2studio.engines.classic_box`, ranked by how well they fill the box."""

from __future__ import annotations

import numpy as np

from conftest import REAL_OBJECTS, annotated

from sam2studio.core.synthetic import iou
from sam2studio.core.video import ArrayVideo
from sam2studio.engines import classic_box
from sam2studio.engines.classic import ClassicEngine

def _bounding_box(m: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(m)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def test_a_box_around_each_real_object_gives_its_mask_and_the_other_variants_on_tab():
    # one GrabCut in the box (the engine before box candidates) gave a mean IoU of 0.44 on
    # these six boxes (judoka B 0.09 and C 0.20: the white suits go with the pale wall); the
    # variant that fills the box best 0.61 (benchmarks/classic_boxes.py: 0.44 -> 0.57 over
    # tight, loose and cut boxes on the full-size frames)
    ious = []
    for seq, frame, obj in REAL_OBJECTS.values():
        frames, gt = annotated(seq, frame, obj)
        eng = ClassicEngine()
        eng.open(ArrayVideo(frames))
        res = eng.add_prompt(int(frame), 1, box=_bounding_box(gt))
        ious.append(iou(res[1].mask, gt))
        cands = eng.candidates(int(frame), 1)
        kinds = eng.candidate_kinds(int(frame), 1)
        assert len(cands) == len(kinds) >= 2 and all(k.startswith("box") for k in kinds)
        assert np.array_equal(cands[0].mask, res[1].mask)  # the default is the first candidate
        eng.choose_candidate(int(frame), 1, 1)  # Tab: another variant becomes the mask
        assert np.array_equal(eng.candidates(int(frame), 1)[1].mask, cands[1].mask)
        eng.close()
    print(f"\nboxes on real annotated frames: {np.round(ious, 3)}, mean {np.mean(ious):.3f}")
    assert np.mean(ious) >= 0.55
    assert sum(v >= 0.7 for v in ious) >= 3


def test_a_click_in_a_box_keeps_the_boxs_variants_and_offers_the_one_grabcut_of_both_last():
    # a box around each real object and a positive click at its innermost point: before, one
    # GrabCut of box and click together was the mask, 0.34 on average here (judoka B 0.14, the
    # bicycle 0.01; on 01_dog.mp4 a click on the head of a dog boxed on pale paving left only
    # the head, 412 of the 16,000 pixels the box alone gave); the variants with the click as
    # sure foreground give 0.66, and that one GrabCut is still offered, last
    import cv2

    ious, first = [], []
    for seq, frame, obj in REAL_OBJECTS.values():
        frames, gt = annotated(seq, frame, obj)
        dist = cv2.distanceTransform(gt.astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(np.argmax(dist), dist.shape)
        eng = ClassicEngine()
        eng.open(ArrayVideo(frames))
        res = eng.add_prompt(int(frame), 1, points=[(float(x), float(y))], labels=[1], box=_bounding_box(gt))
        assert res[1].mask[y, x]  # the click is in the mask
        kinds = eng.candidate_kinds(int(frame), 1)
        assert kinds[0].startswith("box") and kinds[0] != classic_box.ONE_GRABCUT
        ious.append(iou(res[1].mask, gt))
        if kinds[-1] == classic_box.ONE_GRABCUT:  # unless a variant gave the same mask
            first.append(iou(eng.candidates(int(frame), 1)[-1].mask, gt))
        eng.close()
    print(f"\nbox and click: {np.round(ious, 3)}, mean {np.mean(ious):.3f}; one GrabCut {np.round(first, 3)}")
    assert np.mean(ious) >= 0.6 and len(first) >= 2  # (elsewhere a variant gave the same mask)


def test_a_negative_click_in_a_box_takes_the_part_around_it_out_of_the_mask():
    # the judo pair boxed, a positive click on the right judoka's jacket and a negative one on
    # the left one's: both wear white. Before, the one GrabCut of box and clicks lost
    # everything (the colour cut out around the negative click took the positive one's too);
    # the box's variants alone took no notice of it (the whole pair, 98% of the left judoka)
    frames, gt = annotated("judo", "00000", 1)
    pos, neg = (235, 85), (190, 90)
    h, w = gt.shape
    yy, xx = np.mgrid[0:h, 0:w]
    near_neg = ((xx - neg[0]) ** 2 + (yy - neg[1]) ** 2 < 15 ** 2) & gt
    near_pos = ((xx - pos[0]) ** 2 + (yy - pos[1]) ** 2 < 15 ** 2) & gt
    masks = []
    for points, labels in (([pos], [1]), ([pos, neg], [1, 0])):
        eng = ClassicEngine()
        eng.open(ArrayVideo(frames))
        masks.append(eng.add_prompt(0, 1, points=points, labels=labels, box=_bounding_box(gt))[1].mask)
        eng.close()
    before, after = masks
    assert after[pos[1], pos[0]] and not after[neg[1], neg[0]]
    assert np.count_nonzero(before & near_neg) > 0.8 * near_neg.sum()
    assert np.count_nonzero(after & near_neg) < 0.2 * near_neg.sum()  # the part around it went
    assert np.count_nonzero(after & near_pos) > 0.8 * near_pos.sum()  # and not the clicked one
    right = gt.copy()
    right[:, :205] = False  # the right judoka, roughly: the pair's mask right of their middle
    assert iou(after, right) > iou(before, right) + 0.05


def test_box_fit_is_one_for_a_mask_that_reaches_every_side_and_less_inside():
    m = np.zeros((50, 80), bool)
    m[10:40, 20:60] = True
    assert classic_box.box_fit(m, (20, 10, 60, 40)) == 1.0
    assert abs(classic_box.box_fit(m, (10, 5, 70, 45)) - (40 * 30) / (60 * 40)) < 1e-9
    assert classic_box.box_fit(np.zeros_like(m), (20, 10, 60, 40)) == 0.0


def test_a_box_filled_whole_ranks_after_an_object_inside_it(monkeypatch):
    # the ranking alone: one variant keeps the whole box (a box around a colour that fills it
    # gives that), the others an object inside it reaching fewer sides; the box is no object
    from sam2studio.engines.classic_util import _bins, _Frame

    rgb = np.zeros((100, 100, 3), np.uint8)
    fr = _Frame(rgb=rgb, gray=rgb[..., 0].copy(), bins=_bins(rgb))
    whole = np.zeros((100, 100), bool)
    whole[20:80, 20:80] = True
    inner = np.zeros((100, 100), bool)
    inner[25:80, 30:70] = True
    other = inner & ~np.eye(100, dtype=bool)  # like the inner one (IoU > 0.9): not offered twice

    def grabcut(f, box, image, ring, centre, band, pos=(), neg=(), exclude=None):
        if image is f.rgb and (ring, centre, band) == (0.3, False, 0.0):
            return whole.copy()  # the variant "box"
        return inner.copy() if image is f.rgb and ring == 0.15 else other.copy()

    monkeypatch.setattr(classic_box, "box_grabcut", grabcut)
    cands = classic_box.box_candidates(fr, (20, 20, 80, 80))
    assert [np.array_equal(m, inner) for m, _fit, _kind in cands] == [True, False]
    assert cands[1][2] == "box" and cands[1][1] == 1.0  # fits the box exactly, and still comes last


def test_specks_at_the_boxs_corners_rank_after_a_blob_that_covers_part_of_it(monkeypatch):
    # the ranking alone, as on a merle dog on pale paving: most variants keep only the red
    # ball in its mouth and the leash's handle, at opposite corners of the box (as one mask
    # they reach every side: the best fit), one keeps a blob of the body; the specks are no object
    from sam2studio.engines.classic_util import _bins, _Frame

    rgb = np.zeros((100, 100, 3), np.uint8)
    fr = _Frame(rgb=rgb, gray=rgb[..., 0].copy(), bins=_bins(rgb))
    specks = np.zeros((100, 100), bool)
    specks[20:24, 20:24] = True  # 16 + 16 px of a 60x60 box: under 1% of it
    specks[76:80, 76:80] = True
    blob = np.zeros((100, 100), bool)
    blob[35:75, 40:75] = True  # 39% of the box, reaching none of its sides

    def grabcut(f, box, image, ring, centre, band, pos=(), neg=(), exclude=None):
        return blob.copy() if ring == 0.15 else specks.copy()  # "box, close ring": the blob

    monkeypatch.setattr(classic_box, "box_grabcut", grabcut)
    cands = classic_box.box_candidates(fr, (20, 20, 80, 80))
    assert classic_box.box_fit(specks, (20, 20, 80, 80)) == 1.0 > classic_box.box_fit(blob, (20, 20, 80, 80))
    assert [kind for _m, _fit, kind in cands] == ["box, close ring", "box"]
    assert np.array_equal(cands[0][0], blob) and np.array_equal(cands[1][0], specks)  # Tab still offers them
