"""Corrective clicks with the classic engine on real annotated frames (tests/data, half size).

The clicks follow the standard interactive-segmentation protocol (benchmarks/classic_clicks.py
runs it at full size on more objects): the first at the point deepest inside the object, each
next one at the point deepest inside the largest error region, positive on a missed part and
negative on a false one. Before corrective clicks edited the mask in use, a second click on
the judo pair here fell from IoU 0.81 to 0.03 and clicks after a Tab pick lost up to 0.6.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import annotated

from sam2studio.core.synthetic import interior_point, iou
from sam2studio.core.video import ArrayVideo
from sam2studio.engines.classic import ClassicEngine

pytestmark = pytest.mark.xdist_group("classic_refine")

ROOT = Path(__file__).resolve().parents[1]
# (sequence, annotated frame, object id)
OBJECTS = {"judo pair": ("judo", "00000", 1), "rider": ("bike", "00000", 2)}
CLICKS = 4




def _next_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[int, int], int]:
    import cv2

    best = None
    for err, label in ((gt & ~pred, 1), (pred & ~gt, 0)):
        n, lab, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        for i in range(1, n):
            if best is None or stats[i, cv2.CC_STAT_AREA] > best[0]:
                best = (stats[i, cv2.CC_STAT_AREA], lab == i, label)
    return interior_point(best[1]), best[2]


def _run(frames, f: int, gt: np.ndarray, tab: bool) -> dict:
    """The protocol's clicks one by one (``tab``: the second candidate of the first click
    picked before the corrections): masks after each click and the clicks."""
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    pts, labs, masks = [], [], []
    for k in range(CLICKS):
        p, lb = (interior_point(gt), 1) if k == 0 else _next_click(masks[-1], gt)
        pts.append(p)
        labs.append(lb)
        res = eng.add_prompt(f, 1, points=pts, labels=labs)
        if k == 0 and tab:
            assert len(eng.candidates(f, 1)) > 1
            res = eng.choose_candidate(f, 1, 1)
        masks.append(res[1].mask)
    eng.close()
    return {"masks": masks, "points": pts, "labels": labs, "iou": [iou(m, gt) for m in masks]}


@pytest.fixture(scope="module")
def runs() -> dict:
    out = {}
    for name, (seq, frame, obj) in OBJECTS.items():
        frames, gt = annotated(seq, frame, obj)
        out[name] = {route: _run(frames, int(frame), gt, route == "tab") for route in ("default", "tab")}
        out[name]["frames"], out[name]["frame"] = frames, int(frame)
    return out


@pytest.mark.parametrize("route", ["default", "tab"])
def test_corrective_clicks_never_lose_much_and_end_better(runs, route):
    # the same whether the first click's default was kept or another candidate picked (Tab)
    gains, finals = [], []
    for name in OBJECTS:
        v = runs[name][route]["iou"]
        print(f"\n{name} ({route}): " + " ".join(f"{x:.3f}" for x in v))
        assert all(b >= a - 0.05 for a, b in zip(v, v[1:])), (name, v)
        assert v[-1] > v[0] + 0.03, (name, v)
        gains.append(v[-1] - v[0])
        finals.append(v[-1])
    # (the default route's mean gain is 0.19 since a fine box extends the rider's first mask,
    # 0.38 -> 0.48, the clicks ending where they did, 0.77; 0.24 before)
    assert np.mean(gains) >= 0.15
    assert np.mean(finals) >= 0.7


def test_a_positive_click_keeps_the_mask_and_a_negative_one_only_removes(runs):
    # a positive click outside the mask adds the part around it (the click in, nothing of the
    # mask lost); a negative click removes the part around it (the click out, nothing added)
    seen = set()
    for name in OBJECTS:
        for route in ("default", "tab"):
            r = runs[name][route]
            for k in range(1, CLICKS):
                before, after = r["masks"][k - 1], r["masks"][k]
                x, y = r["points"][k]
                if r["labels"][k] == 1:
                    assert after[y, x] and not (before & ~after).any()
                else:
                    assert not after[y, x] and not (after & ~before).any()
                seen.add(r["labels"][k])
    assert seen == {0, 1}


def test_clicks_after_a_tab_pick_edit_the_picked_mask(runs):
    # the first correction after picking another candidate starts from that candidate: all of
    # it is kept (positive click) or only the part around the click goes (negative click)
    for name in OBJECTS:
        r = runs[name]["tab"]
        picked, after = r["masks"][0], r["masks"][1]
        d = runs[name]["default"]["masks"][0]
        assert iou(picked, d) < 0.95  # a real pick, not the default again
        kept = np.count_nonzero(picked & after) / np.count_nonzero(picked)
        assert kept == 1.0 if r["labels"][1] == 1 else kept > 0.5


def test_undoing_a_click_gives_back_the_mask_before_it_and_a_replay_the_same_masks(runs):
    # the clicks given at once (a reopened project) give the masks they gave one by one, and
    # dropping the last click (undo) gives back the mask before it
    name = "judo pair"
    r = runs[name]["default"]
    frames, f = runs[name]["frames"], runs[name]["frame"]
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    res = eng.add_prompt(f, 1, points=r["points"], labels=r["labels"])
    assert np.array_equal(res[1].mask, r["masks"][-1])
    res = eng.add_prompt(f, 1, points=r["points"][:-1], labels=r["labels"][:-1])
    assert np.array_equal(res[1].mask, r["masks"][-2])
    res = eng.add_prompt(f, 1, points=r["points"], labels=r["labels"])
    assert np.array_equal(res[1].mask, r["masks"][-1])
    eng.close()


def test_a_reopened_project_replays_a_tab_pick_made_before_later_clicks(runs, tmp_path):
    # the candidate picked after the first click is stored with the prompt, so the reopened
    # project's engine holds the mask the later clicks edited: the next click gives the same
    # mask in the reopened project as it would have in the first session
    from sam2studio.session import Session

    r, f = runs["judo pair"]["tab"], runs["judo pair"]["frame"]
    nxt = dict(x=r["points"][2][0], y=r["points"][2][1], positive=bool(r["labels"][2]))
    with Session.open(ROOT / "tests" / "data" / "judo" / "frames", engine="classic") as s:
        s.add_click(f, 1, *r["points"][0])
        s.choose_candidate(f, 1, 1)
        (x, y), lb = r["points"][1], r["labels"][1]
        assert np.array_equal(s.add_click(f, 1, x, y, positive=bool(lb)), r["masks"][1])
        s.save(tmp_path / "p.s2s")
        expected = s.add_click(f, 1, **nxt)
    with Session.open(tmp_path / "p.s2s", engine="classic") as s:
        assert s.prompt(f, 1).chosen == [1]
        assert np.array_equal(s.add_click(f, 1, **nxt), expected)


def test_a_first_click_on_a_mask_left_behind_offers_the_clicked_object_in_its_place():
    # a propagated mask that stayed behind when the object moved away (seen on a child jumping
    # on tests/data/bedroom.mp4's full clip): a positive click on the object edits that mask by
    # default, and the click's own mask without the stale one is offered too, last
    frames, gt = annotated("judo", "00000", 1)
    stale = np.roll(gt, -110, axis=1) & ~gt  # the pair's outline beside it, on the mat and wall
    click = interior_point(gt)
    assert not stale[click[1], click[0]]
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    eng.add_mask(0, 1, stale)
    first = eng.add_prompt(0, 1, points=[click], labels=[1])[1].mask
    assert np.count_nonzero(first & stale) >= 0.95 * np.count_nonzero(stale)  # the default edits
    cands = eng.candidates(0, 1)
    assert eng.candidate_kinds(0, 1)[-1].startswith("replaced")
    alone = cands[-1].mask
    assert iou(alone, gt) >= 0.7 and np.count_nonzero(alone & stale) <= 0.02 * np.count_nonzero(stale)
    # picked with Tab, it is the mask the next click edits
    assert np.array_equal(eng.choose_candidate(0, 1, len(cands) - 1)[1].mask, alone)
    eng.close()
