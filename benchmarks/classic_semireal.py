"""The classic engine on semi-real clips (real cut-outs on real footage) and real first clicks.

Run ``python benchmarks/classic_semireal.py`` from the repository root (needs ../shared/data,
or ``--data DIR``). One table:

* per clip and object: J (mean IoU over every frame, an empty prediction on a frame where the
  object is not visible counting 1), absent frames left empty, frames to re-find it, frames
  left empty while it is clearly in sight (a quarter of its largest area or more) and blinks
  (its mask off and on again while it is in view); and
  ``J mask``, the same tracking started from the object's exact mask instead of the click
  (the tracker alone; ``--from-mask`` runs only that);
* first click on the real annotated frames (judo's four objects, bike's two): IoU of the
  default mask and of the best offered candidate, and the largest mask a click gave (share
  of the frame) with whether the engine flagged it;
* object-frames per second of the propagation at 854x480 (all clips together);
* first click on each semi-real clip's objects (on its first clearly visible frame, no
  tracking): IoU of the default and of the best candidate.

``--click-only`` skips the tracking (a minute instead of five); ``--seeds 1,2,3`` repeats the
first clicks with those GrabCut seeds (the engine's own seed is
``classic_click.GRABCUT_SEED``) and reports the mean and range over them.

Clips (854x480, cut-outs at their annotated size, backgrounds resized from the videos with
their own camera motion):

====================  ===================================================================
crossing              the judo pair (front) and the bike's rider cross on 01_dog
similar               two white-suited judoka (objects 2 and 3 of judo) cross on 02_cups
exit_return           a judoka leaves the frame, stays out 24 frames, comes back (01_dog)
entering              a judoka enters at the left edge on frame 15 (bedroom)
thin                  the bicycle and its rider ride across 05_default_juggle
jumping               the bike's rider hops on the spot on bedroom (beside the girl), half
                      its height every 10 frames, 3 of them standing (60 px a frame at
                      take-off and landing), with motion blur
behind                the rider walks behind the judo pair (3/4 size) on bedroom, stops there
                      hidden 18 frames, comes out on its right in 3 and hops there (blurred)
====================  ===================================================================
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sam2studio.core import composite_clips as cc
from sam2studio.core.synthetic import interior_point, iou
from sam2studio.core.video import ArrayVideo, FileVideo
from sam2studio.engines import classic_click
from sam2studio.engines.classic import ClassicEngine

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
W, H = 854, 480

# (frames folder, mask file, object id) of every annotated object
ANNOTATED = {
    "judo pair": ("judo", "00000", 1),
    "judoka A": ("judo", "00005", 2),
    "judoka B": ("judo", "00008", 3),
    "judoka C": ("judo", "00013", 4),
    "bicycle": ("bike", "00000", 1),
    "rider": ("bike", "00000", 2),
}


def load_annotation(data: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    seq, frame, obj = ANNOTATED[name]
    img = np.array(Image.open(os.path.join(data, "frames", seq, frame + ".jpg")).convert("RGB"))
    m = np.array(Image.open(os.path.join(data, "masks", seq, frame + ".png"))) == obj
    if m.shape != img.shape[:2]:
        pad = np.zeros(img.shape[:2], bool)
        pad[:m.shape[0], :m.shape[1]] = m[:img.shape[0], :img.shape[1]]
        m = pad
    return img, m


def sequence_frames(data: str, seq: str) -> list[np.ndarray]:
    """Every frame of the annotated sequence ``seq`` (``data``/frames/``seq``), in order, as RGB."""
    folder = os.path.join(data, "frames", seq)
    return [np.array(Image.open(os.path.join(folder, f)).convert("RGB")) for f in sorted(os.listdir(folder))]


CLIPS = ("crossing", "similar", "exit_return", "entering", "thin", "jumping", "behind")


def build_clips(data: str, frames: int = 90, names: Sequence[str] = CLIPS
                ) -> dict[str, tuple[cc.SyntheticClip, dict[int, str]]]:
    """The six clips (or those of ``names``), each with ``{object id: kind}``."""
    cut = {k: cc.Cutout.from_annotation(*load_annotation(data, k), name=k) for k in ANNOTATED}

    def bg(video: str, start: int = 0) -> list[np.ndarray]:
        with FileVideo(os.path.join(data, "videos", video)) as v:
            return cc.background_frames(v, frames, W, H, start=start)

    clips = {}
    if "crossing" in names:
        b = bg("01_dog.mp4")
        clips["crossing"] = (cc.composite_clip(b, cc.crossing(b, cut["judo pair"].scaled(0.75), cut["rider"], y=0.9)),
                             {1: "solid", 2: "solid"})
    if "similar" in names:
        b = bg("02_cups.mp4", 60)
        clips["similar"] = (cc.composite_clip(b, cc.crossing(b, cut["judoka B"], cut["judoka A"].flipped(), y=0.7)),
                            {1: "similar", 2: "similar"})
    if "exit_return" in names:
        b = bg("01_dog.mp4", 120)
        clips["exit_return"] = (cc.composite_clip(b, cc.exit_return(b, cut["judoka B"], out_frames=24)), {1: "exit"})
    if "entering" in names:
        b = bg("bedroom.mp4")
        clips["entering"] = (cc.composite_clip(b, cc.entering(b, cut["judoka A"], start=15)), {1: "entering"})
    if "jumping" in names:
        # a shutter open half the frame interval, five renderings averaged: the smear of a
        # fast hop, as a camera blurs a child jumping on a bed
        b = bg("bedroom.mp4", 60)
        hop = 0.5 * cut["rider"].size[1]
        clips["jumping"] = (cc.composite_clip(b, cc.jumping(b, cut["rider"], height=hop, x=0.7), blur=5),
                            {1: "jumping"})
    if "behind" in names:
        # a child stops behind another on a bed and jumps out (bedroom.mp4 from frame 60)
        b = bg("bedroom.mp4", 60)
        clips["behind"] = (cc.composite_clip(b, cc.behind_return(b, cut["judo pair"].scaled(0.75), cut["rider"]),
                                             blur=5), {1: "front", 2: "behind"})
    if "thin" not in names:
        return clips
    b = bg("05_default_juggle.mp4")
    _, bike = load_annotation(data, "bicycle")
    _, rider = load_annotation(data, "rider")

    def centre(m: np.ndarray) -> tuple[float, float]:
        ys, xs = np.nonzero(m)
        return (xs.min() + xs.max() + 1) / 2.0, (ys.min() + ys.max() + 1) / 2.0

    # the rider sits on the bicycle as in the annotated frame (box centres)
    off = (centre(rider)[0] - centre(bike)[0], centre(rider)[1] - centre(bike)[1])
    clips["thin"] = (cc.composite_clip(b, cc.riding(b, cut["bicycle"], cut["rider"], off)), {1: "thin", 2: "solid"})
    return clips


def first_clicks(data: str, engine_factory=ClassicEngine) -> list[dict]:
    """One click at the point deepest inside each annotated object, on its annotated frame."""
    rows = []
    for name, (seq, frame, _) in ANNOTATED.items():
        _, m = load_annotation(data, name)
        frames = sequence_frames(data, seq)
        f = int(frame)
        eng = engine_factory()
        eng.open(ArrayVideo(frames))
        c0 = time.process_time()
        res = eng.add_prompt(f, 1, points=[interior_point(m)], labels=[1])
        cpu = time.process_time() - c0
        cands = eng.candidates(f, 1) if hasattr(eng, "candidates") else []
        default = res[1].mask
        ious = [iou(c.mask, m) for c in cands] or [iou(default, m)]
        hint = getattr(eng, "spill_hint", lambda f, o: False)(f, 1)
        rows.append({"object": name, "default": iou(default, m), "best": max(ious), "candidates": len(cands),
                     "largest": max([float(c.mask.mean()) for c in cands] + [float(default.mean())]),
                     "default_share": float(default.mean()), "hint": bool(hint), "cpu": cpu})
        eng.close()
    return rows


def semi_clicks(clips: dict, engine_factory=ClassicEngine) -> list[dict]:
    """One click at the point deepest inside each object of each clip, on its first clearly
    visible frame (the tracking's click), without tracking: IoU of default and best candidate."""
    rows = []
    for name, (clip, _kinds) in clips.items():
        for k in sorted(clip.gt):
            f = cc.first_clear_frame(clip, k)
            if f is None:
                continue
            lo, hi = max(0, f - 3), min(len(clip), f + 4)  # the neighbours the motion cue needs
            eng = engine_factory()
            eng.open(ArrayVideo(clip.frames[lo:hi]))
            gt = clip.gt[k][f]
            c0 = time.process_time()
            res = eng.add_prompt(f - lo, 1, points=[interior_point(gt)], labels=[1])
            cpu = time.process_time() - c0
            cands = eng.candidates(f - lo, 1)
            rows.append({"object": f"{name}/{k}", "default": iou(res[1].mask, gt),
                         "best": max([iou(c.mask, gt) for c in cands] or [iou(res[1].mask, gt)]), "cpu": cpu})
            eng.close()
    return rows


def clicks_over_seeds(data: str, clips: dict, seeds: list[int], real: bool = True) -> dict:
    """The real (unless not ``real``) and semi-real first clicks once per GrabCut seed:
    ``{seed: (real rows, semi rows)}`` plus the CPU seconds of a click (``"cpu"``: mean and
    largest)."""
    out: dict = {}
    saved = classic_click.GRABCUT_SEED
    try:
        for seed in seeds:
            classic_click.GRABCUT_SEED = seed
            out[seed] = (first_clicks(data) if real else [], semi_clicks(clips))
    finally:
        classic_click.GRABCUT_SEED = saved
    cpu = [r["cpu"] for s in seeds for part in out[s] for r in part]
    out["cpu"] = (float(np.mean(cpu)), float(np.max(cpu)))
    return out


def print_clicks(by_seed: dict) -> None:
    seeds = [s for s in by_seed if s != "cpu"]
    for part, title in ((0, "first click on the real annotated frames"), (1, "first click on the semi-real clips")):
        names = [r["object"] for r in by_seed[seeds[0]][part]]
        if not names:
            continue
        print(f"{title} (default / best candidate IoU; seeds {', '.join(map(str, seeds))})")
        for i, name in enumerate(names):
            cells = "  ".join(f"{by_seed[s][part][i]['default']:.2f}/{by_seed[s][part][i]['best']:.2f}" for s in seeds)
            print(f"  {name:<14} {cells}")
        d = [np.mean([r["default"] for r in by_seed[s][part]]) for s in seeds]
        b = [np.mean([r["best"] for r in by_seed[s][part]]) for s in seeds]
        print(f"  mean IoU: default {np.mean(d):.3f} (range {min(d):.3f}-{max(d):.3f}), "
              f"best candidate {np.mean(b):.3f} (range {min(b):.3f}-{max(b):.3f})")
    print(f"CPU per click (add_prompt with the motion cue, 854x480 frames): mean {by_seed['cpu'][0]:.2f} s, "
          f"largest {by_seed['cpu'][1]:.2f} s (load average {os.getloadavg()[0]:.1f})")


def run(data: str = DEFAULT_DATA, frames: int = 90, from_mask: bool = False, names: Sequence[str] = CLIPS,
        first: bool = True) -> dict:
    """Track every clip (or those of ``names``) from one click per object (and, as ``j_mask``,
    from the object's exact mask on the same frame: the tracking alone); with ``from_mask``
    only from the exact masks (no clicks, no first-click table); without ``first``, no
    first-click table."""
    clips = build_clips(data, frames, names)
    rows, total_objframes, total_s, total_cpu = [], 0, 0.0, 0.0
    starts = (True,) if from_mask else (False, True)
    for name, (clip, kinds) in clips.items():
        scores: dict[bool, dict] = {}
        for start_mask in starts:
            eng = ClassicEngine()
            eng.open(clip.video())
            timing: dict = {}
            results = cc.click_and_track(eng, clip, timing, from_mask=start_mask)
            eng.close()
            total_objframes += timing["object_frames"]
            total_s += timing["wall"]
            total_cpu += timing["cpu"]
            scores[start_mask] = {k: cc.score_tracking(clip, results, k) for k in kinds}
        for k, kind in kinds.items():
            s = scores[starts[0]][k]  # the click's (or, with from_mask, the mask's) run
            rows.append({"clip": name, "obj": k, "kind": kind, "j": s.j, "j_mask": scores[True][k].j,
                         "absent": s.absent, "absent_empty": s.absent_empty, "refind": s.refind,
                         "seen": s.seen, "seen_empty": s.seen_empty, "blinks": s.blinks,
                         "mask_seen_empty": scores[True][k].seen_empty, "mask_blinks": scores[True][k].blinks,
                         "mask_absent_empty": scores[True][k].absent_empty,
                         "mask_refind": scores[True][k].refind})
    return {"tracking": rows, "object_frames_per_s": total_objframes / total_s,
            "object_frames_per_cpu_s": total_objframes / max(1e-9, total_cpu),
            "first_clicks": [] if from_mask or not first else first_clicks(data), "frames": frames,
            "from_mask": from_mask}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--click-only", action="store_true", help="first clicks only, no tracking")
    ap.add_argument("--seeds", default=str(classic_click.GRABCUT_SEED),
                    help="GrabCut seeds for the first clicks, comma-separated (default: the engine's)")
    ap.add_argument("--from-mask", action="store_true",
                    help="track from each object's exact mask only (no clicks): the tracking alone")
    ap.add_argument("--clips", default=",".join(CLIPS),
                    help=f"clips to run, comma-separated (default: all of {', '.join(CLIPS)}); "
                         "with fewer than all, the first clicks on the real frames are skipped")
    a = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(a.data, "videos")):
        print(f"error: no test data at {a.data} (see --data)", file=sys.stderr)
        return 2
    try:
        seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
    except ValueError:
        print(f"error: --seeds: not a comma-separated list of integers: {a.seeds!r}", file=sys.stderr)
        return 2
    if not seeds:
        print("error: --seeds: no seed given", file=sys.stderr)
        return 2
    names = [x.strip() for x in a.clips.split(",") if x.strip()]
    bad = [x for x in names if x not in CLIPS]
    if bad or not names:
        print(f"error: --clips: unknown clip {', '.join(bad) or '(none given)'} (known: {', '.join(CLIPS)})",
              file=sys.stderr)
        return 2
    everything = set(names) == set(CLIPS)
    if a.click_only:
        print_clicks(clicks_over_seeds(a.data, build_clips(a.data, a.frames, names), seeds, everything))
        return 0
    r = run(a.data, a.frames, a.from_mask, names, first=everything)
    start = "from each object's exact mask" if a.from_mask else "from one click (J mask: from the exact mask)"
    print(f"classic engine on semi-real clips, {W}x{H}, {r['frames']} frames each, tracked {start}")
    print(f"{'clip':<12} {'obj':>3} {'kind':<9} {'J':>6} {'J mask':>7} {'absent empty':>13} {'re-find (frames)':>17}"
          f" {'in sight empty':>15} {'blinks':>7}")
    for row in r["tracking"]:
        ab = f"{row['absent_empty']}/{row['absent']}" if row["absent"] else "-"
        rf = ",".join("never" if x is None else str(x) for x in row["refind"]) or "-"
        seen = f"{row['seen_empty']}/{row['seen']}"
        print(f"{row['clip']:<12} {row['obj']:>3} {row['kind']:<9} {row['j']:6.3f} {row['j_mask']:7.3f} "
              f"{ab:>13} {rf:>17} {seen:>15} {row['blinks']:>7}")
    for key, label in (("j", "J by kind"), ("j_mask", "J by kind from the exact mask")):
        by_kind: dict[str, list[float]] = {}
        for row in r["tracking"]:
            by_kind.setdefault(row["kind"], []).append(row[key])
        print(f"{label}: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in by_kind.items()))
    ab = sum(x["absent"] for x in r["tracking"])
    abe = sum(x["absent_empty"] for x in r["tracking"])
    print(f"absent frames left empty: {abe}/{ab} = {100.0 * abe / max(1, ab):.1f}%")
    se = sum(x["seen_empty"] for x in r["tracking"])
    sn = sum(x["seen"] for x in r["tracking"])
    print(f"frames in sight left empty: {se}/{sn}; blinks: {sum(x['blinks'] for x in r['tracking'])} "
          f"(from the exact masks: {sum(x['mask_seen_empty'] for x in r['tracking'])}, "
          f"{sum(x['mask_blinks'] for x in r['tracking'])})")
    print(f"propagation: {r['object_frames_per_s']:.1f} object-frames/s wall clock, "
          f"{r['object_frames_per_cpu_s']:.1f} object-frames per CPU-second (load average {os.getloadavg()[0]:.1f})")
    if not r["first_clicks"]:
        return 0
    print(f"{'first click':<12} {'default':>8} {'best':>6} {'cands':>6} {'largest':>8} {'hint':>5}")
    for c in r["first_clicks"]:
        print(f"{c['object']:<12} {c['default']:8.3f} {c['best']:6.3f} {c['candidates']:>6} "
              f"{100 * c['largest']:7.1f}% {'yes' if c['hint'] else 'no':>5}")
    fc = r["first_clicks"]
    print(f"first click mean IoU: default {np.mean([c['default'] for c in fc]):.3f}, "
          f"best candidate {np.mean([c['best'] for c in fc]):.3f}")
    print_clicks(clicks_over_seeds(a.data, build_clips(a.data, a.frames, names), seeds, everything))
    return 0


if __name__ == "__main__":
    sys.exit(main())
