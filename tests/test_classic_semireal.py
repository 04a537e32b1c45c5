"""The classic engine on semi-real clips: real cut-outs (tests/data/cutouts, MIT) pasted, moving,
onto real footage (frames of resources/sample/cups.mp4), 320x180, 40 frames, exact ground truth.

J is the mean IoU over every frame, an empty prediction on a frame where the object is not
visible counting 1. The thresholds sit below what the engine measures on these clips (see
benchmarks/README.md, classic engine on real footage): they catch regressions; the issue's
targets are measured, on the full-size clips, by benchmarks/classic_semireal.py.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from sam2studio.core import composite_clips as cc
from sam2studio.core.synthetic import Waypoints, interior_point, iou
from sam2studio.core.video import ArrayVideo, FileVideo
from sam2studio.engines import classic_click, classic_thin
from sam2studio.engines.classic import ClassicEngine, _unrle
from sam2studio.engines.classic_click import MAX_DEFAULT_SHARE
from sam2studio.engines.classic_util import _bins, _dilate, _Frame
from sam2studio.errors import PromptError

from conftest import REAL_OBJECTS, annotated

# its module fixtures are built once: its tests share one xdist worker
pytestmark = pytest.mark.xdist_group("classic_semireal")

ROOT = Path(__file__).resolve().parents[1]
CUTOUTS = ROOT / "tests" / "data" / "cutouts"
SAMPLE = ROOT / "resources" / "sample" / "cups.mp4"
W, H, N = 320, 180, 40


@pytest.fixture(scope="module")
def cut() -> dict[str, cc.Cutout]:
    return {p.stem: cc.Cutout.load(p) for p in sorted(CUTOUTS.glob("*.png"))}


@pytest.fixture(scope="module")
def background() -> list[np.ndarray]:
    with FileVideo(SAMPLE) as v:
        return cc.background_frames(v, N, W, H, start=30)


@pytest.fixture(scope="module")
def clips(cut, background) -> dict[str, cc.SyntheticClip]:
    bg = background
    return {
        "crossing": cc.composite_clip(bg, cc.crossing(bg, cut["judoka_b"], cut["judoka_a"].flipped(), y=0.8)),
        "exit": cc.composite_clip(bg, cc.exit_return(bg, cut["judoka_b"], out_frames=8)),
        "entering": cc.composite_clip(bg, cc.entering(bg, cut["judoka_a"], start=6)),
        "thin": cc.composite_clip(bg, cc.riding(bg, cut["bicycle"], cut["rider"], (8.0, -30.0))),
    }


@pytest.fixture(scope="module")
def tracked(clips) -> dict[str, dict]:
    """One click per object on its first clearly visible frame, propagated both ways."""
    out = {}
    for name, clip in clips.items():
        eng = ClassicEngine()
        eng.open(clip.video())
        out[name] = cc.click_and_track(eng, clip)
        eng.close()
    return out


@pytest.fixture(scope="module")
def tracked_from_mask(clips) -> dict[str, dict]:
    """Each object's exact mask on its first clearly visible frame, propagated both ways: the
    tracking alone, whatever the first click's quality."""
    out = {}
    for name, clip in clips.items():
        eng = ClassicEngine()
        eng.open(clip.video())
        out[name] = cc.click_and_track(eng, clip, from_mask=True)
        eng.close()
    return out


# ---- the generator ------------------------------------------------------------------------
def test_cutout_png_round_trip_keeps_pixels_and_alpha(cut, tmp_path):
    c = cut["judoka_b"]
    c.save(tmp_path / "c.png")
    back = cc.Cutout.load(tmp_path / "c.png")
    assert np.array_equal(back.rgb, c.rgb)
    assert np.abs(back.alpha - c.alpha).max() <= 1 / 255 + 1e-6


def test_cutout_from_annotation_crops_to_the_mask_and_pads_a_narrow_mask():
    frame = np.zeros((20, 30, 3), np.uint8)
    frame[5:9, 10:14] = (200, 10, 10)
    mask = np.zeros((20, 29), bool)  # one column narrower than the frame, as judo's 00005.png
    mask[5:9, 10:14] = True
    c = cc.Cutout.from_annotation(frame, mask)
    assert c.size == (4, 4)
    assert (c.rgb == (200, 10, 10)).all() and (c.alpha == 1).all()
    with pytest.raises(ValueError):
        cc.Cutout.from_annotation(frame, np.zeros((20, 30), bool))


def test_composite_ground_truth_is_exact_deterministic_and_disjoint(clips, cut, background):
    clip = clips["crossing"]
    again = cc.composite_clip(background, cc.crossing(background, cut["judoka_b"], cut["judoka_a"].flipped(), y=0.8))
    assert all(np.array_equal(a, b) for a, b in zip(clip.frames, again.frames))
    for f in range(len(clip)):
        assert not (clip.gt[1][f] & clip.gt[2][f]).any()
    # alone in the frame, an object's mask is its cut-out's alpha >= 0.5 (sub-pixel shifted)
    a = cut["judoka_b"].alpha
    assert abs(int(clip.gt[1][0].sum()) - int((a >= 0.5).sum())) <= 0.1 * (a >= 0.5).sum()
    # the front object hides the back one for part of the crossing
    vis2 = clip.visible_fraction(2)
    assert vis2.min() < 0.5 and vis2[0] == pytest.approx(1.0, abs=0.05)
    # pixels outside every mask are the background frame's
    f = 0
    outside = ~(clip.gt[1][f] | clip.gt[2][f])
    outside &= ~np.pad(~outside, 1)[2:, 1:-1] & ~np.pad(~outside, 1)[:-2, 1:-1]  # away from anti-aliased edges
    outside &= ~np.pad(~outside, 1)[1:-1, 2:] & ~np.pad(~outside, 1)[1:-1, :-2]
    assert np.array_equal(clip.frames[f][outside], background[f][outside])


def test_exit_and_entering_clips_have_absent_frames_where_expected(clips):
    vis = clips["exit"].visible_fraction(1)
    out = np.flatnonzero(vis == 0)
    assert len(out) >= 8 and vis[0] > 0.9 and vis[-1] > 0.9  # leaves, stays out, comes back
    assert np.all(np.diff(out) == 1)
    ent = clips["entering"].visible_fraction(1)
    assert (ent[:6] == 0).all() and ent[-1] > 0.9
    assert cc.first_clear_frame(clips["entering"], 1) > 6


def test_score_tracking_counts_absent_frames_and_refinding(clips):
    clip = clips["exit"]
    perfect = {f: {1: clip.gt[1][f]} for f in range(len(clip))}
    s = cc.score_tracking(clip, perfect, 1)
    assert s.j == 1.0 and s.absent == s.absent_empty >= 8 and s.refind == [0]
    stuck = {f: {1: clip.gt[1][0]} for f in range(len(clip))}  # never moves, never empty
    s = cc.score_tracking(clip, stuck, 1)
    assert s.absent_empty == 0 and s.j < 0.5


def test_score_tracking_counts_frames_left_empty_in_sight_and_blinks(clips):
    clip = clips["exit"]
    n = len(clip)
    vis = clip.visible_fraction(1)
    sight = [f for f in range(n) if vis[f] >= 0.9]
    blink = sight[len(sight) // 2:len(sight) // 2 + 2]  # two frames off in the middle of a run in sight
    res = {f: {1: clip.gt[1][f] if f not in blink else np.zeros_like(clip.gt[1][f])} for f in range(n)}
    s = cc.score_tracking(clip, res, 1)
    assert s.seen_empty == 2 and s.blinks == 1 and s.seen >= len(sight)
    # empty while it is out of the frame is no blink, nor empty from its return to the end
    gone = {f: {1: clip.gt[1][f] if vis[f] > 0 and f < n - 3 else np.zeros_like(clip.gt[1][f])} for f in range(n)}
    s = cc.score_tracking(clip, gone, 1)
    assert s.blinks == 0 and s.seen_empty == 3


def test_behind_return_clip_hides_the_back_object_then_shows_it_hopping():
    with FileVideo(SAMPLE) as v:
        bg = cc.background_frames(v, N, W, H, start=30)
    front = cc.Cutout.load(CUTOUTS / "judoka_b.png").scaled(1.5)
    back = cc.Cutout.load(CUTOUTS / "judoka_a.png").scaled(0.9)
    actors = cc.behind_return(bg, front, back, hidden=6)
    clip = cc.composite_clip(bg, actors)
    vis = clip.visible_fraction(2)
    out = np.flatnonzero(vis == 0)
    assert vis[0] > 0.9 and len(out) >= 5 and np.all(np.diff(out) == 1)  # apart, then hidden a while
    assert (vis[out[-1] + 6:] > 0.9).all()  # then out in the open to the end
    ys = [actors[1].trajectory(t)[1] for t in range(out[-1] + 6, N)]
    assert max(ys) - min(ys) > 0.4 * back.size[1]  # hopping


def test_a_mostly_covered_object_is_not_carried_off_by_a_speed_it_no_longer_has():
    # bedroom.mp4: the boy, re-found, was seen small (his template's third) and clear of the
    # girl; his step was not measured (too small for the flow) and his template coasted on at
    # the speed of a jump measured many frames before, out of the top of the frame: his mask
    # went with it. A judoka stands behind an untracked box that hides its lower two thirds;
    # its track knows its whole shape and a speed of 6 px a frame upwards: its own pixels now
    # say it stands still. Main: the template drifts 10 px up by frame 5 (IoU 0.47).
    from sam2studio.engines.classic_util import _bbox

    with FileVideo(SAMPLE) as v:
        bg = cc.background_frames(v, 20, W, H, start=30)
    with FileVideo(ROOT / "tests" / "data" / "dog.mp4") as v:
        tex = np.asarray(v.get_frame(0))[..., :3]
    box = np.zeros(tex.shape[:2], bool)
    box[20:80, 20:70] = True
    occluder = cc.Cutout.from_annotation(tex, box, name="box")
    obj = cc.Cutout.load(CUTOUTS / "judoka_b.png")
    judoka = cc.Actor(1, obj, Waypoints([(0, 200, 100)]), z=1)
    clip = cc.composite_clip(bg, [judoka, cc.Actor(2, occluder, Waypoints([(0, 200, 120.5)]), z=2)])
    whole_full = cc.composite_clip(bg[:1], [judoka]).gt[1][0]
    assert 0.25 < np.count_nonzero(clip.gt[1][0]) / np.count_nonzero(whole_full) < 0.4
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_mask(0, 1, clip.gt[1][0])
    anchor = eng._anchor

    def known_whole(o, f, fr, sign, old, keyframe):
        t = anchor(o, f, fr, sign, old, keyframe)
        whole = cv2.resize(whole_full.astype(np.uint8), eng._small, interpolation=cv2.INTER_NEAREST) > 0
        bb = _bbox(whole)
        t.tmpl = whole[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
        t.pos = (float(bb[0]), float(bb[1]))
        t.ref_area = t.anchor_area = float(np.count_nonzero(whole))
        t.vel, t.vel_known = (0.0, -6.0), True
        return t

    eng._anchor = known_whole
    res = dict(eng.propagate(0, "forward"))
    eng.close()
    ious = [iou(res[f][1].mask, clip.gt[1][f]) for f in range(len(clip))]
    assert min(ious) >= 0.7, [round(v, 2) for v in ious]
    cy = [np.nonzero(res[f][1].mask)[0].mean() for f in range(len(clip))]
    assert max(abs(c - cy[0]) for c in cy) <= 4.0, [round(c, 1) for c in cy]


# ---- clicks ------------------------------------------------------------------------------------
def test_click_offers_candidates_with_the_object_among_them(clips):
    defaults, bests = [], []
    for name in ("crossing", "exit", "entering"):
        clip = clips[name]
        for k in clip.gt:
            f = cc.first_clear_frame(clip, k)
            eng = ClassicEngine()
            eng.open(clip.video())
            res = eng.add_prompt(f, k, points=[clip.clicks[k]], labels=[1])
            cands = eng.candidates(f, k)
            assert len(cands) >= 2
            assert np.array_equal(cands[0].mask, res[k].mask)  # index 0 is the default
            assert len(eng.candidate_kinds(f, k)) == len(cands)
            defaults.append(iou(res[k].mask, clip.gt[k][f]))
            bests.append(max(iou(c.mask, clip.gt[k][f]) for c in cands))
    print(f"\nfirst click: default mean IoU {np.mean(defaults):.3f}, best candidate {np.mean(bests):.3f}")
    assert np.mean(bests) >= 0.8
    assert np.mean(defaults) >= 0.75


def test_first_click_on_real_annotated_frames_offers_the_object():
    # judo's four objects and bike's two, on their annotated frames (tests/data, half size),
    # one click at the point deepest inside each. The engine before the candidates of
    # soft boxes, thin lines and consensus (and ranking by agreement) gave default 0.315,
    # best 0.594 here; 0.434 / 0.624 before a fine box could extend the default (0.517 /
    # 0.620 with it; 0.562 / 0.616 on main 1710159, best 0.640 with the person boxes of the
    # click5 branch, 0.599 -> 0.607 over four GrabCut seeds; 0.700 with GrabCut started from
    # the lines joining the click, click6 branch; default 0.611 once that mask may replace a
    # default holding it, judoka C 0.54 -> 0.84, click7 branch); see benchmarks/README.md for
    # the full-size figures.
    defaults, bests = [], []
    for seq, frame, obj in REAL_OBJECTS.values():
        frames, gt = annotated(seq, frame, obj)
        eng = ClassicEngine()
        eng.open(ArrayVideo(frames))
        res = eng.add_prompt(int(frame), 1, points=[interior_point(gt)], labels=[1])
        defaults.append(iou(res[1].mask, gt))
        bests.append(max(iou(c.mask, gt) for c in eng.candidates(int(frame), 1)))
    print(f"\nreal first clicks: default {np.mean(defaults):.3f}, best {np.mean(bests):.3f}")
    assert np.mean(defaults) >= 0.58
    assert np.mean(bests) >= 0.67


def test_clicks_a_fraction_of_a_pixel_apart_give_the_same_default_mask():
    # the same intent, a hand's unsteadiness apart: clicks on one pixel of a real frame
    # (tests/data judo, 428x240: one video pixel is one engine pixel). Every candidate hung on
    # the click's exact position in its own way (its disc on the pixel it rounds to, each
    # box's corners on where x +- half-width rounds, GrabCut's sure disc on where it
    # truncates), so on main the pair clicked at (222.8, 87.9) got one judoka (IoU 0.33)
    # where (223, 88) got both (0.81), and judoka C 0.76 or 0.84 by a third of a pixel
    from PIL import Image

    folder = ROOT / "tests" / "data" / "judo"
    frames = [np.array(Image.open(p).convert("RGB")) for p in sorted((folder / "frames").glob("*.jpg"))]
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    for frame, obj, offsets in ((0, 1, ((0.0, 0.0), (-0.2, -0.1), (0.3, -0.3))), (13, 4, ((0.0, 0.0), (-0.3, 0.2)))):
        gt = np.array(Image.open(folder / "masks" / f"{frame:05d}.png")) == obj
        gt = np.pad(gt, ((0, 240 - gt.shape[0]), (0, 428 - gt.shape[1])))[:240, :428]
        x, y = interior_point(gt)
        defaults = []
        for dx, dy in offsets:
            eng.reset()
            defaults.append(eng.add_prompt(frame, 1, points=[(x + dx, y + dy)], labels=[1])[1].mask)
        assert all(np.array_equal(d, defaults[0]) for d in defaults[1:])
        assert iou(defaults[0], gt) >= 0.7


def _judo_full_size(frame: int, obj: int) -> tuple[ClassicEngine, int, np.ndarray]:
    """An engine open on judo's frames ``frame - 2 .. frame + 2`` of tests/data scaled up to
    856x480 (so the engine crops them as it does the full-size frames), the index of
    ``frame`` in that video and ``obj``'s annotation on ``frame`` at that size."""
    from PIL import Image

    folder = ROOT / "tests" / "data" / "judo"
    lo = max(0, frame - 2)
    paths = sorted((folder / "frames").glob("*.jpg"))[lo:frame + 3]
    frames = [cv2.resize(np.array(Image.open(p).convert("RGB")), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
              for p in paths]
    h, w = frames[0].shape[:2]
    gt = cv2.resize((np.array(Image.open(folder / "masks" / f"{frame:05d}.png")) == obj).astype(np.uint8), None,
                    fx=2, fy=2, interpolation=cv2.INTER_NEAREST) > 0
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    return eng, frame - lo, np.pad(gt, ((0, h - gt.shape[0]), (0, w - gt.shape[1])))[:h, :w]


def test_a_default_that_is_part_of_a_person_is_joined_with_the_fine_box_holding_it():
    # judoka A: on the coarse crops GrabCut keeps the jacket and drops the pale trousers, so
    # the default was the jacket alone (IoU 0.40); GrabCut in the small box on the finer crop
    # keeps the whole person, holds the jacket and stays inside its box, and on this still
    # frame the whole stands out from its surroundings more than the jacket does: the
    # default is their union, the jacket offered next
    eng, f, gt = _judo_full_size(5, 2)
    res = eng.add_prompt(f, 1, points=[interior_point(gt)], labels=[1])
    cands, kinds = eng.candidates(f, 1), eng.candidate_kinds(f, 1)
    assert "+ fine box" in kinds[0] and iou(res[1].mask, gt) >= 0.7
    part = cands[1].mask
    assert np.count_nonzero(part & cands[0].mask) >= 0.95 * np.count_nonzero(part)
    assert iou(part, gt) < 0.5  # the jacket alone, still offered


def _recut(kind: str) -> bool:
    """Whether a candidate is another one re-cut from its own shape (classic_click.reshaped):
    those come after every other kind."""
    return kind.startswith(classic_click.RESHAPED)


def _offered_kind(monkeypatch, frame: int, obj: int, prefix: str, extents: str, same_default: bool = True):
    """A judoka clicked once at full size, and the candidates of the kind named ``prefix``:
    checks that a corrective click does not make them and (unless not ``same_default``)
    that the default is the same without them (``classic_click.<extents>`` emptied).
    Returns the candidates, their kinds, the indices of that kind, the annotation and the
    engine clicked without them."""
    eng, f, gt = _judo_full_size(frame, obj)
    pt = interior_point(gt)
    res = eng.add_prompt(f, 1, points=[pt], labels=[1])
    cands, kinds = eng.candidates(f, 1), eng.candidate_kinds(f, 1)
    of_kind = [i for i, k in enumerate(kinds) if k.startswith(prefix)]
    missed = gt & ~res[1].mask
    assert missed.any()
    eng.add_prompt(f, 1, points=[pt, interior_point(missed)], labels=[1, 1])  # adds a missed part
    edits = eng.candidate_kinds(f, 1)
    assert edits and not any(k.startswith(prefix) for k in edits)
    monkeypatch.setattr(classic_click, extents, ())
    without, f, gt = _judo_full_size(frame, obj)
    res_without = without.add_prompt(f, 1, points=[pt], labels=[1])
    assert np.array_equal(res_without[1].mask, res[1].mask) or not same_default
    return cands, kinds, of_kind, gt, without, f


def test_person_boxes_offer_a_whole_standing_judoka_after_the_other_kinds(monkeypatch):
    # judoka A: GrabCut in an upright box with the click on its upper third, on the
    # chroma-weighted frame, keeps the jacket and the pale trousers (IoU 0.82 with each of
    # four GrabCut seeds); the person boxes are offered after every other kind (but the
    # re-cuts), leave the default and the other candidates as they were, and a corrective
    # click does not make them
    cands, kinds, person, gt, without, f = _offered_kind(monkeypatch, 5, 2, classic_click.PERSON, "PERSON_EXTENTS")
    assert person and min(person) > max(i for i, k in enumerate(kinds) if i not in person and not _recut(k))
    assert max(iou(cands[i].mask, gt) for i in person) >= 0.75
    assert without.candidate_kinds(f, 1) == [k for i, k in enumerate(kinds) if i not in person]


def test_grabcut_started_from_the_lines_is_the_default_for_a_kneeling_judoka_at_the_frames_edge(monkeypatch):
    # judoka C kneels at the left edge of the frame with a corner of red mat beside and below
    # him. The boxes around the click are cut by the frame's edge there, so no box's margin
    # shows that mat: every box kept it, they agree on it, and one of them was the default
    # (IoU 0.55; the best candidate 0.76 before GrabCut from the lines). GrabCut started from
    # the lines joining the click (his suit's folds and outline) against the rest of the box
    # drops the flat mat; on this still frame its mask lies in that default, reaches the
    # frame's edge less and stands out more, so it takes the default's place
    # (classic_click.trim_default; IoU 0.86); the box's mask it replaced is offered last,
    # the other candidates in their order. A corrective click does not make it.
    cands, kinds, lines, gt, without, f = _offered_kind(monkeypatch, 13, 4, classic_click.LINES_GC,
                                                        "LINES_GC_EXTENTS", same_default=False)
    assert lines and lines[0] == 0 and iou(cands[0].mask, gt) >= 0.8
    old = without.candidates(f, 1)
    assert iou(old[0].mask, gt) < 0.6 and max(iou(c.mask, gt) for c in old) < 0.8
    last = max(i for i, k in enumerate(kinds) if not _recut(k))
    assert iou(cands[last].mask, old[0].mask) > 0.99  # the default it replaced, offered last (but the re-cuts)
    assert ([k for k in kinds[1:last] if not k.startswith(classic_click.LINES_GC)]
            == [k for k in without.candidate_kinds(f, 1)[1:] if not _recut(k)])
    inside = np.count_nonzero(cands[0].mask & old[0].mask) / np.count_nonzero(cands[0].mask)
    assert inside >= classic_click.TRIM_HOLD


def test_the_lines_mask_replaces_the_default_only_when_what_it_leaves_out_is_background():
    # classic_click.trim_default on a real frame (judo, tests/data) with made masks: the
    # lines' mask is a judoka's annotation, the default that mask plus a band beside it
    from PIL import Image

    folder = ROOT / "tests" / "data" / "judo"

    def load(frame: str, obj: int) -> tuple[_Frame, np.ndarray]:
        img = np.array(Image.open(folder / "frames" / f"{frame}.jpg").convert("RGB"))
        h, w = img.shape[:2]
        m = np.array(Image.open(folder / "masks" / f"{frame}.png")) == obj
        m = np.pad(m, ((0, h - m.shape[0]), (0, w - m.shape[1])))[:h, :w]
        return _Frame(rgb=img, gray=cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), bins=_bins(img)), m

    def cand(m: np.ndarray, kind: str) -> classic_click.Candidate:
        return classic_click.Candidate(m, 0.5, kind, {"share": float(m.mean())})

    def trim(fr: _Frame, person: np.ndarray, extra: np.ndarray, moving=None, evidence=None):
        default = cand(person | extra, "box 0.075x2.2")
        lines = cand(person, classic_click.LINES_GC + " 0.11x1")
        return classic_click.trim_default(fr, default, [lines], moving, evidence)

    fr, kneeling = load("00013", 4)  # judoka C, at the frame's left edge
    h, w = kneeling.shape
    ys, xs = np.nonzero(kneeling)
    mat = np.zeros((h, w), bool)  # the floor below him, out to the frame's edge
    mat[ys.max():min(h, ys.max() + 25), 0:xs.max()] = True
    got = trim(fr, kneeling, mat)
    assert got is not None and np.array_equal(got.mask, kneeling) and got.score == 0.5
    # the same band moving with the click (a motion cue) is the object's: kept
    assert trim(fr, kneeling, mat, moving=kneeling | mat) is None
    assert trim(fr, kneeling, mat, moving=kneeling) is not None
    # away from the frame's edge, on a still frame, a part that stands out more than the
    # whole is no reason to drop the rest: judoka A and a band of the floor below him
    fr_a, standing = load("00005", 2)
    ys, xs = np.nonzero(standing)
    floor = np.zeros((h, w), bool)
    floor[ys.max():ys.max() + 25, xs.min():xs.max()] = True
    assert not floor[:, 0].any() and trim(fr_a, standing, floor) is None
    # nor is a motion cue that moves with only a piece of the object (a walking figure at
    # the test clips' size: the region moving with the click was its arm)
    piece = standing & (np.cumsum(standing, axis=0) <= 8)
    assert trim(fr_a, standing, floor, moving=piece) is None
    # only GrabCut from the lines takes the default's place
    default = cand(kneeling | mat, "box 0.075x2.2")
    assert classic_click.trim_default(fr, default, [cand(kneeling, "box 0.045x2.2")], None, None) is None


def test_grabcut_from_the_lines_in_person_boxes_offers_a_white_suit_beside_a_pale_wall(monkeypatch):
    # judoka B stands in a white suit against a pale wall, a seated man in white in front of
    # him: every box took the wall or the neighbour, and the person boxes kept him whole with
    # some GrabCut seeds and only his jacket with others (best candidate 0.48 with the
    # engine's seed, 0.56 with seed 1 on main 8a6ceea). Started from the lines joining the
    # click (his suit's folds and outline) in the same person boxes, GrabCut keeps him whole
    # with either seed (0.60 / 0.75): offered last, not the default (the same without them),
    # not made by a corrective click
    cands, kinds, lines, gt, without, f = _offered_kind(monkeypatch, 8, 3, classic_click.PERSON_LINES,
                                                        "PERSON_LINES_EXTENTS")
    assert lines and min(lines) > max(i for i, k in enumerate(kinds) if i not in lines and not _recut(k))
    assert max(iou(c.mask, gt) for c in cands) >= 0.58
    assert max(iou(c.mask, gt) for c in without.candidates(f, 1)) < 0.55
    monkeypatch.undo()
    monkeypatch.setattr(classic_click, "GRABCUT_SEED", 1)
    eng, f, gt = _judo_full_size(8, 3)
    eng.add_prompt(f, 1, points=[interior_point(gt)], labels=[1])
    assert max(iou(c.mask, gt) for c in eng.candidates(f, 1)) >= 0.7


def test_grabcut_from_the_lines_keeps_the_start_of_lowest_energy():
    # GrabCut's result hangs on its random start (k-means of the colour models): on judoka A's
    # frame, GrabCut from the lines in the tall 0.11x2.2 box keeps a part of him from start 4
    # (IoU 0.41) and nearly all of him from start 5 (0.74), at a lower GrabCut energy; run
    # from both starts it returns the cut of lowest energy, the better one
    eng, f, gt = _judo_full_size(5, 2)
    fr = eng._frame(f)
    h, w = fr.bins.shape
    small = cv2.resize(gt.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    sx, sy = w / gt.shape[1], h / gt.shape[0]
    x, y = interior_point(gt)
    pos, none = [(x * sx, y * sy)], np.zeros((h, w), bool)
    (box, _name), = classic_click._boxes(pos, (h, w), ((0.11, 2.2),))
    chroma = classic_click.chroma_image(fr.rgb)
    lines = classic_click.ridge_region(fr, pos, none, box)
    cuts = {seed: classic_click.lines_grabcut(chroma, pos, [], none, lines, box, starts=(seed,)) for seed in (4, 5)}
    both, energy = classic_click.lines_grabcut(chroma, pos, [], none, lines, box, starts=(4, 5))
    assert cuts[5][1] < cuts[4][1] and energy == cuts[5][1] and np.array_equal(both, cuts[5][0])
    assert iou(cuts[4][0], small) < 0.5 and iou(both, small) >= 0.7


def test_the_default_and_tabs_first_pick_are_offered_again_recut_from_their_own_shapes(monkeypatch):
    # the judo pair: the best candidate, GrabCut in a soft box, leaves out a trouser leg that
    # reaches past the box's band (IoU 0.77 with the engine's seed, 0.81 with seed 1 on main
    # 35635ec). GrabCut started from that mask itself (its colour models the pair's and their
    # near surroundings', not the box's corners) takes the leg back: offered last, the
    # default and every other candidate as without it, not made by a corrective click
    eng, f, gt = _judo_full_size(0, 1)
    pt = interior_point(gt)
    res = eng.add_prompt(f, 1, points=[pt], labels=[1])
    cands, kinds = eng.candidates(f, 1), eng.candidate_kinds(f, 1)
    recut = [i for i, k in enumerate(kinds) if k.startswith(classic_click.RESHAPED)]
    assert recut and min(recut) > max(i for i in range(len(kinds)) if i not in recut)
    best = max(range(len(cands)), key=lambda i: iou(cands[i].mask, gt))
    assert best in recut and iou(cands[best].mask, gt) >= 0.82
    assert kinds[best][len(classic_click.RESHAPED) + 1:] in kinds[:2]  # the default or Tab's first pick
    monkeypatch.setattr(classic_click, "RESHAPE_COUNT", 0)
    without, f, gt = _judo_full_size(0, 1)
    res_without = without.add_prompt(f, 1, points=[pt], labels=[1])
    assert np.array_equal(res_without[1].mask, res[1].mask)
    assert without.candidate_kinds(f, 1) == [k for i, k in enumerate(kinds) if i not in recut]
    assert max(iou(c.mask, gt) for c in without.candidates(f, 1)) < 0.8
    monkeypatch.undo()
    missed = gt & ~res[1].mask
    eng.add_prompt(f, 1, points=[pt, interior_point(missed)], labels=[1, 1])
    assert not any(k.startswith(classic_click.RESHAPED) for k in eng.candidate_kinds(f, 1))
    monkeypatch.setattr(classic_click, "GRABCUT_SEED", 1)
    eng, f, gt = _judo_full_size(0, 1)
    eng.add_prompt(f, 1, points=[pt], labels=[1])
    assert max(iou(c.mask, gt) for c in eng.candidates(f, 1)) >= 0.82


def test_a_prompts_mask_is_upscaled_along_the_frames_edges():
    # judo's four objects on the half-size frames of tests/data (428x240) with the internal
    # resolution at 256 px: the ratio of 854x480 to 512 px. A click's masks come from GrabCut
    # on crops of 150-200 pixels, a staircase of 3 video pixels; plainly upscaled they keep
    # it. Upscaled through a guided filter of the frame's grey levels (radius one internal
    # pixel), their outlines follow the frame's edges: every object's best candidate (of
    # those not thin: a thin mask's outline is decided at the video's size by _refine_full)
    # is at least as good and the mean better (0.698 -> 0.709 here; the same on main
    # 35635ec; on the full-size frames 0.747 -> 0.751, benchmarks/README.md, best14); the
    # annotation's own mask at the internal resolution comes back as well (0.963 -> 0.971)
    eng = ClassicEngine(max_side=256)
    eng.open(ArrayVideo(annotated("judo", "00000", 1)[0]))
    plain, guided, exact_plain, exact_guided = [], [], [], []
    for seq, frame, obj in REAL_OBJECTS.values():
        if seq != "judo":
            continue
        f = int(frame)
        gt = annotated(seq, frame, obj)[1]
        eng.reset()
        eng.add_prompt(f, 1, points=[interior_point(gt)], labels=[1])
        # (a thin mask's outline is decided at the video's size another way, _refine_full)
        smalls = [m for m in (_unrle(rle) for rle, _s, _k in eng._objects[1].candidates[f]) if not eng._is_thin(m)]
        plain.append(max(iou(eng._to_full(m), gt) for m in smalls))
        guided.append(max(iou(eng._prompt_full(f, m), gt) for m in smalls))
        w, h = eng._small
        small = cv2.resize(gt.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
        exact_plain.append(iou(eng._to_full(small), gt))
        exact_guided.append(iou(eng._prompt_full(f, small), gt))
    print(f"\nbest candidate plainly upscaled {np.mean(plain):.3f}, guided {np.mean(guided):.3f}; "
          f"the annotation {np.mean(exact_plain):.3f} / {np.mean(exact_guided):.3f}")
    assert all(g >= p - 0.005 for g, p in zip(guided, plain))
    assert np.mean(guided) >= np.mean(plain) + 0.008
    assert np.mean(exact_guided) >= np.mean(exact_plain) - 0.005


def _textured(h: int, w: int, seed: int, scales=(4, 16, 48), amp: float = 18.0) -> np.ndarray:
    """A grey-green background with blotches of the given sizes (pixels)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for s in scales:
        img += cv2.resize(rng.normal(0, amp, (max(1, h // s), max(1, w // s), 3)).astype(np.float32), (w, h))
    return np.clip(img + (110, 125, 95), 0, 255).astype(np.uint8)


def _wire_bicycle(h: int, w: int) -> np.ndarray:
    """Two wheels and a frame drawn with 2 px lines: 1 on the tyres, 2 on the tubes."""
    obj = np.zeros((h, w), np.uint8)
    for cx in (150, 260):
        cv2.ellipse(obj, (cx, 150), (42, 42), 0, 0, 360, 1, 2)
    for p, q in (((150, 150), (205, 150)), ((205, 150), (260, 150)), ((205, 150), (185, 100)),
                 ((185, 100), (240, 100)), ((240, 100), (260, 150)), ((150, 150), (185, 100))):
        cv2.line(obj, p, q, 2, 2)
    return obj


def test_thin_lines_candidate_follows_a_wire_frame_object():
    # a bicycle-like drawing (wheels and tubes, 2 px lines) on a background of large soft
    # blotches: the lines around the click are the candidate, the blotches are not
    h, w = 240, 427
    img = _textured(h, w, 3, scales=(32, 96), amp=20.0)
    obj = _wire_bicycle(h, w)
    img[obj == 1] = (60, 40, 40)
    img[obj == 2] = (40, 70, 50)
    gt = obj > 0
    fr = _Frame(rgb=img, gray=cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), bins=_bins(img))
    pos = [(205.0, 150.0)]
    none = np.zeros((h, w), bool)
    lines = classic_click.ridge_region(fr, pos, none, (95.0, 45.0, 315.0, 205.0))
    assert iou(lines, gt) >= 0.8
    # a click's candidates include it (in a box around the click: part of the wheels), and it
    # is nearer the object than any GrabCut in a box: GrabCut fills the wheels or cuts the
    # lines (GrabCut started from these lines, offered too, is the nearest here: 0.48
    # against 0.44)
    cands = classic_click.click_candidates(fr, pos, [], none)
    by_kind = {c.kind: iou(c.mask, gt) for c in cands}
    best = max(by_kind, key=by_kind.get)
    assert best.startswith(("lines", classic_click.LINES_GC)), by_kind
    # (a box's mask re-cut from its own shape, offered last, comes nearer than the box: 0.46)
    boxes = [v for k, v in by_kind.items() if not k.startswith(("lines", classic_click.LINES_GC)) and not _recut(k)]
    assert by_kind["lines 0.11x1"] > max(boxes), by_kind


def test_lines_moving_with_the_click_leave_the_grounds_still_lines():
    # the wire bicycle rides left over a ground with dark lines of its own (shadows, twigs)
    # while the camera pans right: the ground's lines that touch the bicycle's are thin lines
    # too, but only the bicycle's move with the click (a per-pixel motion test, which keeps
    # tubes two pixels wide that dense flow smooths away)
    h, w = 300, 640  # the test is made within a fifth of 640 px of the click
    rng = np.random.default_rng(7)
    ground = _textured(h, w + 40, 5, scales=(32, 96), amp=20.0)
    for _ in range(120):
        x, y = int(rng.integers(0, w + 40)), int(rng.integers(0, h))
        a = rng.uniform(0, np.pi)
        cv2.line(ground, (x, y), (int(x + 30 * np.cos(a)), int(y + 30 * np.sin(a))), (45, 55, 40), 2)
    obj = _wire_bicycle(h, w)
    frames, gts = [], []
    for t in range(3):
        img = np.ascontiguousarray(ground[:, 2 * t:2 * t + w])  # the camera pans 2 px a frame
        m = np.roll(obj, -4 * t, axis=1)  # the bicycle rides 4 px a frame the other way
        img[m == 1] = (60, 40, 40)
        img[m == 2] = (40, 70, 50)
        frames.append(_Frame(rgb=img, gray=cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), bins=_bins(img)))
        gts.append(m > 0)
    pos, none, gt = [(201.0, 150.0)], np.zeros((h, w), bool), gts[1]
    ev = classic_thin.motion_evidence(frames[1], [frames[0], frames[2]], ClassicEngine._make_flow(), pos)
    lines = classic_click.ridge_region(frames[1], pos, none, (95.0, 45.0, 315.0, 205.0))
    moving = classic_thin.moving_lines(lines, ev, pos, none)
    fp_lines, fp_moving = np.count_nonzero(lines & ~gt), np.count_nonzero(moving & ~gt)
    print(f"\nlines IoU {iou(lines, gt):.3f} ({fp_lines} px off the bicycle), "
          f"moving lines {iou(moving, gt):.3f} ({fp_moving})")
    assert fp_moving <= 0.4 * fp_lines
    assert np.count_nonzero(moving & gt) >= 0.7 * np.count_nonzero(lines & gt)
    assert iou(moving, gt) >= iou(lines, gt) + 0.08


def test_a_wheels_open_inside_stays_open_when_propagated():
    # a wheel (a ring 3 px wide) fixed to a solid block, riding over a textured ground: the
    # inside of the wheel is under a third of the mask's area, but it was open on the prompt and
    # stays open (a hole is filled only where the object covered it on the frame before)
    h, w = 180, 320
    ground = _textured(h, w + 60, 11, scales=(8, 32), amp=25.0)
    frames, gts = [], []
    for t in range(6):
        img = np.ascontiguousarray(ground[:, t:t + w])  # the camera pans 1 px a frame
        obj = np.zeros((h, w), np.uint8)
        cx = 120 + 3 * t
        cv2.circle(obj, (cx, 100), 26, 1, 3)
        cv2.rectangle(obj, (cx + 24, 40), (cx + 80, 150), 1, -1)
        img[obj > 0] = (70, 40, 45)
        frames.append(img)
        gts.append(obj > 0)
    inside = np.zeros((h, w), np.uint8)
    cv2.circle(inside, (120 + 3 * 5, 100), 20, 1, -1)
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    eng.add_mask(0, 1, gts[0])
    last = dict(eng.propagate(0, "forward"))[5][1].mask
    assert iou(last, gts[5]) >= 0.9
    assert np.count_nonzero(last & (inside > 0)) <= 0.1 * np.count_nonzero(inside)

def test_a_thin_object_tracked_from_its_mask_keeps_its_gaps_and_its_handlebar():
    # a bicycle drawn with lines 2 px wide (tyres, red tubes, a dark stem and handlebar) rides
    # right over a finely textured ground while the camera pans: the tracker moves it as a
    # whole, does not close the narrow gaps between its tubes and keeps the parts whose
    # colours are the ground's (dense flow smooths them into the ground; the speckle filter
    # and the hole filling closed the gaps, and the mask grew over the frames)
    h, w, n = 240, 427, 24
    ground = _textured(h, w + 2 * n, 5, scales=(4, 16, 48), amp=22.0)

    def bicycle(dx: int) -> np.ndarray:
        obj = np.zeros((h, w), np.uint8)
        for cx in (150, 260):
            cv2.ellipse(obj, (cx + dx, 150), (42, 42), 0, 0, 360, 1, 2)
        for p, q in (((150, 150), (205, 150)), ((205, 150), (260, 150)), ((205, 150), (185, 100)),
                     ((185, 100), (240, 100)), ((240, 100), (260, 150)), ((150, 150), (185, 100)),
                     ((240, 100), (236, 85)), ((226, 85), (248, 82))):
            cv2.line(obj, (p[0] + dx, p[1]), (q[0] + dx, q[1]), 2, 2)
        return obj

    frames, gts = [], []
    for t in range(n):
        img = np.ascontiguousarray(ground[:, 2 * t:2 * t + w])  # the camera pans 2 px a frame
        m = bicycle(-40 + 4 * t)  # the bicycle rides 4 px a frame the other way
        img[m == 1] = (50, 45, 45)
        img[m == 2] = (150, 40, 50)
        frames.append(img)
        gts.append(m > 0)
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    eng.add_mask(0, 1, gts[0])
    res = dict(eng.propagate(0, "forward"))
    ious = [iou(res[f][1].mask, gts[f]) for f in range(1, n)]
    print(f"\nthin drawn bicycle from its mask: mean IoU {np.mean(ious):.3f}, last frame {ious[-1]:.3f}")
    assert np.mean(ious) >= 0.93  # 0.875 before thin objects were moved as a whole
    assert ious[-1] >= 0.9  # 0.80 before


def _tubes(shape: tuple[int, int], segments) -> np.ndarray:
    """A wire-frame object (0/1): one line 2 px wide per ``(p, q)`` segment."""
    out = np.zeros(shape, np.uint8)
    for p, q in segments:
        cv2.line(out, p, q, 1, 2)
    return out


def test_a_default_that_is_a_piece_of_the_moving_lines_gives_way_to_them():
    # a click on a bicycle's crank: the default is the blob around the crank (GrabCut rounds
    # the tubes off), the lines moving with the click are the tubes through it; a solid
    # object's default is not a piece of its lines and stays first
    h, w = 120, 200
    tubes = _tubes((h, w), (((40, 80), (100, 80)), ((100, 80), (160, 40)), ((40, 80), (70, 30)), ((70, 30), (160, 40))))
    blob = np.zeros((h, w), np.uint8)
    cv2.circle(blob, (100, 80), 6, 1, -1)  # the crank, where the tubes meet
    tubes |= blob

    def cands(default):
        return [classic_click.Candidate(default > 0, 1.0, "moving with the click"),
                classic_click.Candidate(np.ones((h, w), bool), 0.5, "colour region"),
                classic_click.Candidate(tubes > 0, 0.3, classic_click.MOVING_LINES)]

    assert classic_thin.prefer_thin(cands(blob))[0].kind == classic_click.MOVING_LINES
    solid = np.zeros((h, w), np.uint8)
    cv2.rectangle(solid, (60, 30), (150, 90), 1, -1)  # the lines lie inside it, thinner, but
    assert classic_thin.prefer_thin(cands(solid))[0].kind == "moving with the click"  # it is no piece of them


def test_a_click_on_what_rides_a_thin_object_takes_the_body_moving_with_it_less_that_object():
    # a rider clicked after the bicycle it rides: GrabCut's default is the shirt around the
    # click; the region moving with the click less the bicycle (shirt, shorts, legs) is the
    # rider. Only when the thin object moves with the click: a bicycle elsewhere, or none,
    # leaves the default as it was
    h, w = 120, 200
    bike = _tubes((h, w), (((40, 100), (100, 100)), ((100, 100), (160, 60)), ((40, 100), (70, 60)),
                           ((70, 60), (160, 60))))
    body = np.zeros((h, w), np.uint8)
    cv2.rectangle(body, (80, 10), (120, 90), 1, -1)  # shirt, shorts and legs over the frame
    shirt = np.zeros((h, w), bool)
    shirt[10:45, 80:121] = True
    evidence = np.full((h, w), -20.0, np.float32)
    evidence[(bike > 0) | (body > 0)] = 40.0  # rider and bicycle move as one
    rest = (body > 0) & ~(bike > 0)
    def share(m):
        return {"share": float(m.mean()), "pixels": float(m.sum())}

    def cands():
        return [classic_click.Candidate(shirt, 1.0, "moving with the click", share(shirt)),
                classic_click.Candidate(np.ones((h, w), bool), 0.5, "colour region", share(np.ones((h, w), bool))),
                classic_click.Candidate(rest, 0.3, classic_thin.MOVING_REGION, share(rest))]

    pos = [(100.0, 25.0)]
    assert classic_thin.prefer_rider(cands(), evidence, pos, [bike > 0])[0].kind == classic_thin.MOVING_REGION
    assert classic_thin.prefer_rider(cands(), evidence, pos, [])[0].kind == "moving with the click"
    elsewhere = np.zeros((h, w), bool)
    elsewhere[5:8, 5:60] = True  # another thin object, not moving with the click
    assert classic_thin.prefer_rider(cands(), evidence, pos, [elsewhere])[0].kind == "moving with the click"


def test_a_riders_click_leaves_out_the_background_seen_between_his_arm_his_body_and_the_bicycle():
    # grass seen through the gap between the rider's arm, his body and the bicycle's top tube
    # moves with him as far as the flow can tell (it smooths the body's motion over so small an
    # enclosed patch); it was sure foreground for the rider's GrabCut, which could not give it
    # up. Its colours are the surroundings', not the rider's: GrabCut decides it now
    h, w = 120, 200
    img = _textured(h, w, 3)
    rider = np.zeros((h, w), bool)
    rider[10:45, 80:121] = True  # shirt
    rider[18:28, 121:150] = True  # arm
    rider[28:58, 142:150] = True  # forearm down to the handlebar
    rider[45:58, 82:118] = True  # shorts, above the top tube
    img[10:45, 80:121] = img[18:28, 121:150] = (235, 235, 230)
    img[28:58, 142:150] = (215, 170, 140)
    img[45:58, 82:118] = (40, 50, 90)
    bike = _tubes((h, w), (((60, 60), (160, 60)), ((150, 58), (150, 100)), ((60, 60), (60, 100))))
    img[bike > 0] = (200, 30, 40)
    gap = np.zeros((h, w), bool)
    gap[28:58, 121:142] = True  # the grass between arm, body, forearm and tube
    gap &= bike == 0
    evidence = np.full((h, w), -20.0, np.float32)
    evidence[rider | gap | (bike > 0)] = 40.0
    moving = (rider | gap) & ~(bike > 0)

    def share(m):
        return {"share": float(m.mean()), "pixels": float(m.sum())}

    cands = [classic_click.Candidate(rider & (np.arange(h)[:, None] < 45), 1.0, "moving with the click",
                                     share(rider)),
             classic_click.Candidate(moving, 0.3, classic_thin.MOVING_REGION, share(moving))]
    fr = _Frame(img, cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), _bins(img))
    got = classic_thin.prefer_rider(cands, evidence, [(100.0, 25.0)], [bike > 0], fr)[0]
    assert got.kind == classic_thin.MOVING_REGION
    kept = rider & ~_dilate(bike > 0, 3)
    assert np.count_nonzero(got.mask & kept) >= 0.9 * np.count_nonzero(kept)
    assert np.count_nonzero(got.mask & gap) <= 0.3 * np.count_nonzero(gap)


def test_soft_box_finds_an_object_larger_than_its_box():
    # a large textured object; a box around the click half its size: with the object's own
    # colours outside the box taken as background, the hard box cuts the object at the box or
    # loses it; the soft one may grow past the box and finds all of it
    h, w = 240, 427
    img = _textured(h, w, 5)
    gt = np.zeros((h, w), bool)
    cv2.ellipse(gt.view(np.uint8), (210, 120), (70, 90), 0, 0, 360, 1, -1)
    rng = np.random.default_rng(6)
    img[gt] = np.clip(rng.normal((200, 70, 60), 12, (int(gt.sum()), 3)), 0, 255).astype(np.uint8)
    fr = _Frame(rgb=img, gray=cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), bins=_bins(img))
    box = (175.0, 75.0, 245.0, 165.0)
    none = np.zeros((h, w), bool)
    hard, _ = classic_click._box_grabcut(fr, [(210.0, 120.0)], [], none, box)
    soft, touch = classic_click._box_grabcut(fr, [(210.0, 120.0)], [], none, box, band=0.5)
    assert iou(hard, gt) < 0.6
    assert iou(soft, gt) > 0.9 and touch == 0.0


def test_click_on_a_small_frame_gets_the_object_not_the_clicks_disc():
    # a 64x48 clip with an orange block: several GrabCut boxes collapse onto the few pixels
    # GrabCut is told are the click and agree with each other; the default is the block
    frames = []
    for i in range(4):
        img = np.full((48, 64, 3), 30, np.uint8)
        img[15:35, 5 + 3 * i:25 + 3 * i] = (220, 70, 40)
        frames.append(img)
    gt = np.zeros((48, 64), bool)
    gt[15:35, 5:25] = True
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    res = eng.add_prompt(0, 1, points=[(15, 25)], labels=[1])
    assert iou(res[1].mask, gt) > 0.9


def test_no_alternative_offered_is_a_sliver_of_a_few_pixels():
    # clicks on the real dog clip's background (a lawn, a hedge) where some GrabCut boxes and the
    # lines moving with the click collapsed to a dozen pixels at the engine's resolution: offered
    # on Tab, they showed as an empty mask
    eng = ClassicEngine()
    eng.open(FileVideo(ROOT / "tests" / "data" / "dog.mp4"))
    for k, (x, y) in enumerate([(40, 40), (120, 180)], start=1):
        eng.add_prompt(10, k, points=[(x, y)], labels=[1])
        cands = eng.candidates(10, k)
        to_small = (eng._small[0] / cands[0].mask.shape[1]) ** 2  # engine pixels per video pixel
        areas = [c.area * to_small for c in cands[1:]]
        assert len(cands) > 1 and min(areas) >= 0.8 * classic_click.MIN_PIXELS, (eng.candidate_kinds(10, k), areas)


def test_no_click_default_covers_more_than_40_percent_of_the_frame(background):
    # clicks all over a real frame, most of them on the background (table, wall, plants)
    eng = ClassicEngine()
    eng.open(ArrayVideo(background[:3]))
    for x in range(20, W, 70):
        for y in range(15, H, 50):
            res = eng.add_prompt(1, 1, points=[(x, y)], labels=[1])
            share = float(res[1].mask.mean())
            assert share <= MAX_DEFAULT_SHARE + 0.01, (x, y, share)
            cands = eng.candidates(1, 1)
            assert cands and np.array_equal(cands[0].mask, res[1].mask)
            big = [c for c in cands if c.mask.mean() > MAX_DEFAULT_SHARE]
            if big:  # a mask that ran into the background is only ever an alternative
                assert len(cands) > len(big)
            eng.remove_object(1)


def test_same_click_gives_the_same_masks_twice(clips):
    clip = clips["crossing"]
    masks = []
    for _ in range(2):
        eng = ClassicEngine()
        eng.open(clip.video())
        eng.add_prompt(0, 1, points=[clip.clicks[1]], labels=[1])
        masks.append([c.mask for c in eng.candidates(0, 1)])
    assert len(masks[0]) == len(masks[1])
    assert all(np.array_equal(a, b) for a, b in zip(*masks))


def test_choose_candidate_sets_the_mask_that_propagation_starts_from(clips):
    clip = clips["crossing"]
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_prompt(0, 1, points=[clip.clicks[1]], labels=[1])
    cands = eng.candidates(0, 1)
    k = len(cands) - 1
    res = eng.choose_candidate(0, 1, k)
    assert np.array_equal(res[1].mask, cands[k].mask)
    first = next(iter(eng.propagate(0, "forward")))
    assert first[0] == 0 and np.array_equal(first[1][1].mask, cands[k].mask)
    # a further click there edits the chosen mask rather than starting again
    x, y = interior_point(cands[k].mask)
    res = eng.add_prompt(0, 1, points=[clip.clicks[1], (x, y)], labels=[1, 1])
    assert iou(res[1].mask, cands[k].mask) > 0.5
    with pytest.raises(PromptError):
        eng.choose_candidate(0, 1, len(cands) + 3)
    with pytest.raises(PromptError):
        eng.choose_candidate(5, 1, 0)  # no click on frame 5


def test_candidates_are_empty_without_a_click():
    frames = [np.full((60, 80, 3), 90, np.uint8) for _ in range(3)]
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    assert eng.candidates(0, 1) == []
    m = np.zeros((60, 80), bool)
    m[10:30, 20:40] = True
    eng.add_mask(0, 1, m)
    assert eng.candidates(0, 1) == []


# ---- propagation ----------------------------------------------------------------------------------
def test_crossing_clip_j(clips, tracked):
    j = [cc.score_tracking(clips["crossing"], tracked["crossing"], k).j for k in (1, 2)]
    print(f"\ncrossing J {j}")
    assert np.mean(j) >= 0.80 and min(j) >= 0.76


def test_entering_object_is_empty_before_it_enters_and_tracked_after(clips, tracked):
    s = cc.score_tracking(clips["entering"], tracked["entering"], 1)
    print(f"\nentering J {s.j:.3f}, absent empty {s.absent_empty}/{s.absent}")
    assert s.j >= 0.83
    # a patch of background its click took stays behind when it leaves: the motion evidence
    # of the earlier frames drops it, and the frames before it enters are all empty
    assert s.absent_empty == s.absent


def test_object_leaving_the_frame_is_empty_while_out(clips, tracked):
    s = cc.score_tracking(clips["exit"], tracked["exit"], 1)
    print(f"\nexit J {s.j:.3f}, absent empty {s.absent_empty}/{s.absent}, re-found after {s.refind}")
    assert s.absent_empty >= 0.95 * s.absent
    assert s.refind and s.refind[0] is not None and s.refind[0] <= 5  # found again within 5 frames
    assert s.j >= 0.80


def thin_j(clips, runs) -> tuple[float, float]:
    """J of the bicycle (object 1) and of its rider (object 2) on the thin clip."""
    return tuple(cc.score_tracking(clips["thin"], runs["thin"], k).j for k in (1, 2))


def test_thin_object_and_its_rider(clips, tracked):
    bike, rider = thin_j(clips, tracked)
    print(f"\nthin: bicycle J {bike:.3f}, rider J {rider:.3f}")
    assert rider >= 0.28
    assert bike >= 0.25


# ---- propagation from the exact first mask (the tracker alone) ------------------------------
def test_tracking_from_the_exact_mask_follows_both_crossing_objects(clips, tracked_from_mask):
    j = [cc.score_tracking(clips["crossing"], tracked_from_mask["crossing"], k).j for k in (1, 2)]
    print(f"\ncrossing from the exact mask: J {j}")
    assert min(j) >= 0.82  # the one behind is hidden for a few frames and comes out again


def test_tracking_from_the_exact_mask_through_an_exit_and_an_entry(clips, tracked_from_mask):
    ex = cc.score_tracking(clips["exit"], tracked_from_mask["exit"], 1)
    en = cc.score_tracking(clips["entering"], tracked_from_mask["entering"], 1)
    print(f"\nfrom the exact mask: exit J {ex.j:.3f} (re-found after {ex.refind}), entering J {en.j:.3f}")
    # coming back in fast at the border, the object is followed, not left behind there
    assert ex.j >= 0.85 and ex.absent_empty == ex.absent and ex.refind in ([0], [1])
    assert en.j >= 0.84 and en.absent_empty == en.absent


def test_thin_object_tracked_from_its_exact_mask_keeps_its_tubes(clips, tracked_from_mask):
    # the bicycle's tubes are one or two pixels wide at the internal resolution: they must be
    # carried over by the warp and drawn at the video's resolution, not filtered away
    bike, rider = thin_j(clips, tracked_from_mask)
    print(f"\nthin from the exact mask: bicycle J {bike:.3f}, rider J {rider:.3f}")
    assert bike >= 0.70  # 0.665 before a thin object was moved as a whole, 0.757 now
    assert rider >= 0.80


def test_propagated_outlines_are_drawn_at_the_videos_resolution():
    # an object on a video four times the internal resolution: its propagated masks fit the
    # truth better than the exact mask itself would, scaled down to the internal resolution
    # and back up (the outline is decided on the full-size frame)
    from sam2studio.core.synthetic import constant_speed_clip

    clip = constant_speed_clip(speed=3.0, num_frames=16, width=640, height=360)
    eng = ClassicEngine(max_side=160)
    eng.open(clip.video())
    eng.add_mask(0, 1, clip.gt[1][0])
    res = dict(eng.propagate(0, "forward"))
    got = np.mean([iou(res[f][1].mask, clip.gt[1][f]) for f in range(1, len(clip))])
    def through_internal(m):
        small = cv2.resize(m.astype(np.float32), (160, 90), interpolation=cv2.INTER_AREA) >= 0.5
        return cv2.resize(small.astype(np.float32), (640, 360), interpolation=cv2.INTER_LINEAR) >= 0.5

    up = np.mean([iou(through_internal(clip.gt[1][f]), clip.gt[1][f]) for f in range(1, len(clip))])
    print(f"\npropagated IoU {got:.3f}, exact mask through the internal resolution {up:.3f}")
    assert got > up + 0.005


def test_add_absent_keeps_the_object_empty_until_it_comes_back(clips):
    clip = clips["exit"]
    out = np.flatnonzero(clip.visible_fraction(1) == 0)
    f0 = int(out[0])
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_prompt(0, 1, points=[clip.clicks[1]], labels=[1])
    res = eng.add_absent(f0, 1)
    assert not res[1].mask.any() and res[1].score == 0
    results = dict(eng.propagate(f0, "forward", objects=[1]))
    for f in out:
        assert not results[int(f)][1].mask.any(), f
    assert set(results) == set(range(f0, len(clip)))
    # backwards from the absent frame the click's track reaches it from the other side
    back = dict(eng.propagate(0, "forward", frame_range=(0, f0)))
    assert not back[f0][1].mask.any()
    assert iou(back[0][1].mask, clip.gt[1][0]) > 0.5


def test_propagate_objects_limits_the_results(clips):
    clip = clips["crossing"]
    eng = ClassicEngine()
    eng.open(clip.video())
    for k in (1, 2):
        eng.add_prompt(0, k, points=[clip.clicks[k]], labels=[1])
    for _f, res in eng.propagate(0, "forward", frame_range=(0, 5), objects=[2]):
        assert set(res) == {2}


def test_click_on_another_objects_mask_claims_that_region(clips):
    # the bicycle and its rider move together: the bicycle's click may take the rider too;
    # a click on the rider then takes the rider's region back from the bicycle
    clip = clips["thin"]
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_prompt(0, 1, points=[clip.clicks[1]], labels=[1])
    res = eng.add_prompt(0, 2, points=[clip.clicks[2]], labels=[1])
    assert res[2].mask.any() and res[1].mask.any()
    assert not (res[1].mask & res[2].mask).any()
    assert iou(res[2].mask, clip.gt[2][0]) > 0.2
    # the bicycle keeps a mask of its own (its click's candidates that the rider's leaves whole)
    assert iou(res[1].mask, clip.gt[1][0]) > 0.15


def test_a_rider_clicked_after_its_bicycle_takes_back_the_legs_the_bicycles_lines_took(clips):
    # the bicycle's mask is the lines moving with its click (picked with Tab here: at 320x180
    # it is not the default); the rider's legs cross its tubes and move with it, so the lines
    # took them. The rider's click then takes the body moving with it less the bicycle, grown
    # into the legs by colour, and the bicycle gives them up (before: the rider's default was
    # the shirt around the click, IoU 0.35, and the bicycle kept 267 of the rider's pixels)
    clip = clips["thin"]
    bike, rider = clip.gt[1][0], clip.gt[2][0]
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_prompt(0, 1, points=[interior_point(bike)], labels=[1])
    res = eng.choose_candidate(0, 1, eng.candidate_kinds(0, 1).index(classic_thin.MOVING_LINES))
    took = np.count_nonzero(res[1].mask & rider)
    res = eng.add_prompt(0, 2, points=[interior_point(rider)], labels=[1])
    kept = np.count_nonzero(res[1].mask & rider)
    print(f"\nrider IoU {iou(res[2].mask, rider):.3f}, bicycle {iou(res[1].mask, bike):.3f}; "
          f"rider's pixels in the bicycle's mask {took} -> {kept}")
    assert eng.candidate_kinds(0, 2)[0] == classic_thin.MOVING_REGION
    assert kept <= 0.5 * took
    # (0.40 while the grass enclosed by his arm, body and the bicycle, which moves like the
    # background, could be grown into: 0.46 with it sure background)
    assert iou(res[2].mask, rider) >= 0.43
    assert not (res[1].mask & res[2].mask).any()
    # the other order: the rider clicked first is clicked again once the bicycle's mask is its
    # moving lines, and ends as if it had been clicked second
    eng2 = ClassicEngine()
    eng2.open(clip.video())
    eng2.add_prompt(0, 2, points=[interior_point(rider)], labels=[1])
    # the ground below the front wheel: clicked again too (it is next to the bicycle), but it
    # does not move with it and keeps its mask
    near = eng2.add_prompt(0, 3, points=[(20.0, 150.0)], labels=[1])[3].mask
    eng2.add_prompt(0, 1, points=[interior_point(bike)], labels=[1])
    res2 = eng2.choose_candidate(0, 1, eng2.candidate_kinds(0, 1).index(classic_thin.MOVING_LINES))
    assert eng2.candidate_kinds(0, 2)[0] == classic_thin.MOVING_REGION
    assert iou(res2[2].mask, res[2].mask) >= 0.9
    assert np.count_nonzero(res2[1].mask & rider) <= 0.5 * took
    assert np.array_equal(res2[3].mask, near)


def test_a_click_editing_a_huge_mask_is_cut_around_the_click_with_the_whole_offered():
    # a flat grey wall with a darker strip: the mask given covers the wall, 90% of the frame
    rng = np.random.default_rng(0)
    frames = [np.clip(rng.normal(150, 4, (H, W, 3)), 0, 255).astype(np.uint8) for _ in range(3)]
    for fr in frames:
        fr[:, int(0.9 * W):] = 40
    eng = ClassicEngine()
    eng.open(ArrayVideo(frames))
    huge = np.zeros((H, W), bool)
    huge[:, : int(0.9 * W)] = True
    eng.add_mask(0, 1, huge)
    dict(eng.propagate(0, "forward", frame_range=(0, 1)))
    res = eng.add_prompt(1, 1, points=[(W // 2, H // 2)], labels=[1])  # edits the propagated mask
    assert 0 < res[1].mask.mean() <= MAX_DEFAULT_SHARE
    cands = eng.candidates(1, 1)
    assert len(cands) == 2 and np.array_equal(cands[0].mask, res[1].mask)
    assert cands[1].mask.mean() > MAX_DEFAULT_SHARE


def test_fine_box_candidates_are_offered_but_never_the_default(monkeypatch):
    # figures with a pale jacket and dark trousers on thin legs, on textured backgrounds:
    # GrabCut on the finer crops is offered among the candidates, after the default, and
    # leaves the default (what tracking starts from) as it was without them (their legs
    # run out of the fine boxes, so no fine box extends the default here: see
    # test_a_default_that_is_part_of_a_person_is_joined_with_the_fine_box_holding_it)
    h, w = 480, 854
    figures = []
    for seed in (3, 4):
        for leg, bottom in ((6, 250),):
            img = _textured(h, w, seed)
            right = 450
            cv2.rectangle(img, (400, 150), (right, bottom), (235, 230, 225), -1)  # jacket
            cv2.circle(img, ((400 + right) // 2, 130), 18, (180, 130, 100), -1)  # head
            for x in (405, right - 5 - leg):
                cv2.rectangle(img, (x, bottom), (x + leg, 380), (60, 50, 45), -1)  # legs
            figures.append((img, ((400 + right) / 2, 200.0)))

    def click(img, pt):
        eng = ClassicEngine()
        eng.open(ArrayVideo([img] * 3))
        res = eng.add_prompt(1, 1, points=[pt], labels=[1])
        return res[1].mask, eng.candidates(1, 1), eng.candidate_kinds(1, 1)

    results = [click(img, pt) for img, pt in figures]
    offered = 0
    for default, cands, kinds in results:
        fine = [i for i, k in enumerate(kinds) if k.startswith("fine box")]
        assert 0 not in fine and np.array_equal(cands[0].mask, default)
        assert all(not np.array_equal(cands[i].mask, cands[j].mask) for i in range(len(cands)) for j in range(i))
        offered += bool(fine)
    assert offered >= 1
    monkeypatch.setattr(classic_click, "FINE_EXTENTS", ())
    for (img, pt), (default, _c, kinds) in zip(figures, results):
        default_without, _c, kinds_without = click(img, pt)
        assert np.array_equal(default, default_without)
        # (not counting the re-cuts of the first two: Tab's first pick may be a fine box)
        assert (sum(not _recut(k) for k in kinds_without)
                == sum(not _recut(k) and not k.startswith("fine box") for k in kinds))


@pytest.mark.parametrize("jump", [60.0, -60.0])
def test_an_object_jumping_farther_than_its_width_in_one_frame_is_followed_not_left_behind(cut, background, jump):
    # a judoka (28 px wide) moves slowly down towards a smaller look-alike (another white
    # suit) standing below it, then in one frame jumps sideways by twice its width (a ball
    # kicked off a white shoe): the flow loses it, and its mask must follow it rather than
    # stay behind on the white table or on the look-alike
    from sam2studio.core.synthetic import Waypoints

    bg = background[:24]
    j, x0, y0 = 12, 110.0, 60.0
    obj, look = cut["judoka_a"], cut["judoka_b"].scaled(0.5)
    top = y0 + 2 * (j - 1) - 10
    traj = Waypoints([(0, x0, y0), (j - 1, x0, y0 + 2 * (j - 1)), (j, x0 + jump, top),
                      (len(bg) - 1, x0 + jump + 2 * (len(bg) - 1 - j), top)])
    below = Waypoints([(0, x0, y0 + 2 * j + 32 + look.size[1] / 2)])
    clip = cc.composite_clip(bg, [cc.Actor(1, obj, traj, z=1), cc.Actor(2, look, below, z=0)])
    eng = ClassicEngine()
    eng.open(clip.video())
    eng.add_mask(0, 1, clip.gt[1][0])
    res = dict(eng.propagate(0, "forward"))
    eng.close()
    ious = [iou(res[f][1].mask, clip.gt[1][f]) for f in range(len(bg))]
    assert min(ious[:j]) > 0.8  # tracked up to the jump
    assert min(ious[j:]) > 0.7, [round(v, 2) for v in ious]  # and through it, on every frame after
    # nothing left where it was, nor on the look-alike
    assert all(not (res[f][1].mask & clip.gt[2][f]).any() for f in range(j, len(bg)))


def test_an_object_hopping_fast_on_the_spot_keeps_its_whole_mask():
    # issue 16: a child jumping on a bed (bedroom.mp4) shrank to the bottom of her dress.
    # A judoka hops on the spot over frames of that footage (tests/data/bedroom.mp4), half
    # its height every 10 frames, standing still 3 of them, with motion blur: it lands fast
    # and stops at once (a step far from its speed: whether it coasts on is decided on the
    # edges its two possible places do not share, not on its whole shape, which they mostly
    # share), and its blurred inside, whose flow is smoothed in from the background around
    # it, is not taken for the trail a fast object leaves. Tracked from its exact mask (the
    # tracking alone); main: J 0.207, lost (IoU 0) from frame ~10.
    with FileVideo(ROOT / "tests" / "data" / "bedroom.mp4") as v:
        bg = cc.background_frames(v, N, W, H)
    obj = cc.Cutout.load(CUTOUTS / "judoka_b.png")
    clip = cc.composite_clip(bg, cc.jumping(bg, obj, height=0.5 * obj.size[1], x=0.7), blur=5)
    eng = ClassicEngine()
    eng.open(clip.video())
    f = cc.first_clear_frame(clip, 1)
    eng.add_mask(f, 1, clip.gt[1][f])
    res = dict(eng.propagate(f, "forward"))
    eng.close()
    ious = [iou(res[g][1].mask, clip.gt[1][g]) for g in range(f, len(clip))]
    assert np.mean(ious) >= 0.7, [round(v, 2) for v in ious]
    assert min(ious) >= 0.5, [round(v, 2) for v in ious]  # never shrunk to a part of it, nor lost


def test_jumping_clip_hops_fast_and_blurs():
    # the generator: feet back on the line between hops, a hop of the height asked, the frame
    # smeared along the motion (the blurred frame differs from the one rendered at the frame's
    # instant only around the object) and the ground truth the pixels it owns half the time
    with FileVideo(SAMPLE) as v:
        bg = cc.background_frames(v, 20, W, H, start=30)
    obj = cc.Cutout.load(CUTOUTS / "judoka_b.png")
    actors = cc.jumping(bg, obj, height=40.0)
    ys = [actors[0].trajectory(t)[1] for t in range(20)]
    assert max(ys) - min(ys) == pytest.approx(40.0, abs=1.0)
    assert max(ys) == pytest.approx(0.95 * H - obj.size[1] / 2.0)
    sharp = cc.composite_clip(bg, actors)
    blurred = cc.composite_clip(bg, actors, blur=5)
    tr = actors[0].trajectory
    moving = [t for t in range(20) if abs(tr(t + 0.25)[1] - tr(t - 0.25)[1]) > 5]  # over the open shutter
    assert moving
    for t in moving:
        d = np.abs(sharp.frames[t].astype(int) - blurred.frames[t].astype(int)).max(axis=2) > 8
        assert d.any() and not (d & ~cv2.dilate(sharp.gt[1][t].astype(np.uint8), np.ones((41, 41))).astype(bool)).any()
        assert 0.7 < blurred.gt[1][t].sum() / sharp.gt[1][t].sum() < 1.3
