"""How steady the classic engine's first click is: the same object clicked at many places.

Run ``python benchmarks/classic_click_steadiness.py`` from the repository root (needs
../shared/data, or ``--data DIR``); about two minutes. Each annotated object of
``classic_semireal.py`` (judo's four, bike's two) is clicked, on its annotated frame with a
fresh engine state, at:

* the point deepest inside it (``interior_point``, the benchmark's usual click) and seven
  sub-pixel to 1.5-pixel offsets from it (:data:`OFFSETS`): the same intent, a hand's
  unsteadiness apart;
* :data:`SAMPLED` other points inside it (a fixed-seed sample of the pixels at least a tenth
  of the object's size, the square root of its area, from its outline; half its deepest
  point's depth for a thin object): where else a user clicks on it.

Reported per object: the default mask's IoU (mean and lowest over the places), the best
offered candidate's mean IoU, how many places' defaults fall more than :data:`DROP` below the
object's median default (a click that lands by chance on a bad mask), and the CPU seconds of a
click (``add_prompt`` with the motion cue). ``--semi`` also clicks each semi-real clip's
objects (``classic_semireal.semi_clicks``' frames) at the offsets only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.classic_semireal import ANNOTATED, DEFAULT_DATA, build_clips, load_annotation, sequence_frames
from sam2studio.core import composite_clips as cc
from sam2studio.core.synthetic import interior_point, iou
from sam2studio.core.video import ArrayVideo
from sam2studio.engines.classic import ClassicEngine

#: offsets (video pixels) from the deepest point: the first is the point itself
OFFSETS = ((0.0, 0.0), (0.3, 0.0), (-0.3, 0.3), (0.7, 0.7), (-0.7, 0.0), (0.0, -0.7), (1.5, -1.5), (-1.5, 1.5))
SAMPLED = 6
SAMPLE_SEED = 7
#: a place whose default falls more than this below the object's median default is "dropped"
DROP = 0.2


def click_places(m: np.ndarray, sampled: int = SAMPLED, seed: int = SAMPLE_SEED) -> list[tuple[float, float]]:
    """The deepest point of mask ``m`` moved by each of :data:`OFFSETS`, then ``sampled``
    other points inside ``m``, drawn with ``seed`` from the pixels at least a tenth of the
    object's size from its outline (at most half the deepest point's depth)."""
    x0, y0 = interior_point(m)
    places = [(x0 + dx, y0 + dy) for dx, dy in OFFSETS]
    if sampled <= 0:
        return places
    d = cv2.distanceTransform(np.pad(m.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    depth = min(0.1 * np.sqrt(np.count_nonzero(m)), 0.5 * float(d.max()))
    ys, xs = np.nonzero(d >= depth)
    pick = np.random.default_rng(seed).choice(len(xs), size=min(sampled, len(xs)), replace=False)
    return places + [(float(xs[i]), float(ys[i])) for i in sorted(pick)]


def click_at(eng: ClassicEngine, frame: int, gt: np.ndarray, xy: tuple[float, float]) -> dict:
    """One first click at ``xy`` on ``frame`` of an open engine (its objects cleared first):
    the IoU of the default and of the best candidate with ``gt``, the CPU seconds of the click
    and how the default was made."""
    eng.reset()
    c0 = time.process_time()
    res = eng.add_prompt(frame, 1, points=[xy], labels=[1])
    cpu = time.process_time() - c0
    cands = eng.candidates(frame, 1)
    kinds = eng.candidate_kinds(frame, 1)
    d = iou(res[1].mask, gt)
    return {"default": d, "best": max([iou(c.mask, gt) for c in cands] + [d]), "cpu": cpu,
            "kind": kinds[0] if kinds else "", "candidates": len(cands)}


def annotated_steadiness(data: str, sampled: int = SAMPLED) -> dict[str, list[dict]]:
    """``{object: [click_at row per place]}`` for the six annotated objects."""
    out = {}
    for name, (seq, frame, _) in ANNOTATED.items():
        _, m = load_annotation(data, name)
        frames = sequence_frames(data, seq)
        eng = ClassicEngine()
        eng.open(ArrayVideo(frames))
        out[name] = [dict(click_at(eng, int(frame), m, xy), place=xy) for xy in click_places(m, sampled)]
        eng.close()
    return out


def semi_steadiness(data: str) -> dict[str, list[dict]]:
    """``{clip/object: [click_at row per offset]}`` for the semi-real clips' objects, on the
    frame and with the neighbours of ``classic_semireal.semi_clicks``."""
    out = {}
    for name, (clip, _kinds) in build_clips(data).items():
        for k in sorted(clip.gt):
            f = cc.first_clear_frame(clip, k)
            if f is None:
                continue
            lo, hi = max(0, f - 3), min(len(clip), f + 4)
            eng = ClassicEngine()
            eng.open(ArrayVideo(clip.frames[lo:hi]))
            gt = clip.gt[k][f]
            out[f"{name}/{k}"] = [dict(click_at(eng, f - lo, gt, xy), place=xy) for xy in click_places(gt, 0)]
            eng.close()
    return out


def summary(rows: list[dict]) -> dict:
    """Mean and lowest default IoU, mean best IoU, places dropped (see :data:`DROP`), CPU."""
    d = np.array([r["default"] for r in rows])
    return {"mean": float(d.mean()), "min": float(d.min()), "best": float(np.mean([r["best"] for r in rows])),
            "dropped": int(np.count_nonzero(d < np.median(d) - DROP)), "n": len(rows),
            "cpu": float(np.mean([r["cpu"] for r in rows])), "cpu_max": float(np.max([r["cpu"] for r in rows]))}


def print_table(title: str, by_object: dict[str, list[dict]], per_click: bool) -> None:
    print(title)
    print(f"  {'object':<16} {'default mean':>12} {'min':>6} {'best mean':>10} {'dropped':>8} {'CPU s':>6}")
    sums = {}
    for name, rows in by_object.items():
        s = sums[name] = summary(rows)
        print(f"  {name:<16} {s['mean']:12.3f} {s['min']:6.3f} {s['best']:10.3f} "
              f"{s['dropped']:>4}/{s['n']:<3} {s['cpu']:6.2f}")
        if per_click:
            for r in rows:
                print(f"      ({r['place'][0]:6.1f}, {r['place'][1]:6.1f}) default {r['default']:.3f} "
                      f"best {r['best']:.3f} {r['candidates']:>2} cands  {r['kind']}")
    allrows = [r for rows in by_object.values() for r in rows]
    print(f"  all: default mean {np.mean([s['mean'] for s in sums.values()]):.3f} (objects' mean), lowest "
          f"{min(s['min'] for s in sums.values()):.3f}, best mean {np.mean([s['best'] for s in sums.values()]):.3f}, "
          f"dropped {sum(s['dropped'] for s in sums.values())}/{len(allrows)}, CPU per click mean "
          f"{np.mean([r['cpu'] for r in allrows]):.2f} s, largest {np.max([r['cpu'] for r in allrows]):.2f} s "
          f"(load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--sampled", type=int, default=SAMPLED, help="other interior points per object")
    ap.add_argument("--semi", action="store_true", help="also the semi-real clips' objects (offsets only)")
    ap.add_argument("--per-click", action="store_true", help="one line per click")
    a = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(a.data, "frames")):
        print(f"error: no test data at {a.data} (see --data)", file=sys.stderr)
        return 2
    print_table(f"first click at {len(OFFSETS)} offsets around the deepest point and {a.sampled} other "
                f"interior points (IoU with the annotation)", annotated_steadiness(a.data, a.sampled), a.per_click)
    if a.semi:
        print_table(f"first click on the semi-real clips at {len(OFFSETS)} offsets around the deepest point",
                    semi_steadiness(a.data), a.per_click)
    return 0


if __name__ == "__main__":
    sys.exit(main())
