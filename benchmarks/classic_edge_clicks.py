"""First clicks on objects at the frame's edge with the classic engine.

Run ``python benchmarks/classic_edge_clicks.py`` from the repository root (needs ../shared/data,
or ``--data DIR``); about two minutes. Each of the five real cut-outs of
``classic_semireal.py`` (the judo pair at 0.75 of its size, judokas A, B and C, the rider) is
pasted on real footage near the left or the right edge of the frame: 4% or 1% of the frame's
width away from it ("near"), or cut by it by 15% or 35% of its own width ("cut"), on 01_dog
(the cut-out still in the frame, the camera moving), 02_cups and bedroom (moving 1 and 2
pixels per frame along the edge); 7 frames, one click at the point deepest inside the object
on the middle one (the neighbours give the motion cue). 120 clicks with exact ground truth.

Reported: the mean IoU of the default mask and of the best offered candidate, for the
objects near the edge and those cut by it, and per click with ``--per-click``. A box around a
click near the edge is cut by the frame, so it has no background margin on that side: the
strip between the object and the edge is what these clicks test (benchmarks/README.md, click7).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.classic_semireal import ANNOTATED, DEFAULT_DATA, H, W, load_annotation
from sam2studio.core import composite_clips as cc
from sam2studio.core.synthetic import Waypoints, interior_point, iou
from sam2studio.core.video import ArrayVideo, FileVideo
from sam2studio.engines import classic_click
from sam2studio.engines.classic import ClassicEngine

#: (video, first frame, pixels per frame the cut-out moves)
BACKGROUNDS = {"dog": ("01_dog.mp4", 120, 0.0), "cups": ("02_cups.mp4", 60, 1.0), "bedroom": ("bedroom.mp4", 30, 2.0)}
#: > 0: gap to the edge (share of the frame's width); < 0: share of the object's width cut off
PLACES = (0.04, 0.01, -0.15, -0.35)
OBJECTS = ("judoka A", "judoka B", "judoka C", "judo pair", "rider")


def edge_clicks(data: str) -> list[dict]:
    cut = {k: cc.Cutout.from_annotation(*load_annotation(data, k), name=k) for k in ANNOTATED}
    cut["judo pair"] = cut["judo pair"].scaled(0.75)
    rows = []
    for bname, (video, start, speed) in BACKGROUNDS.items():
        with FileVideo(os.path.join(data, "videos", video)) as v:
            bg = cc.background_frames(v, 7, W, H, start=start)
        for name in OBJECTS:
            for side in ("left", "right"):
                co = cut[name] if side == "left" else cut[name].flipped()
                ow, oh = co.size
                y = min(0.55 * H, H - oh / 2 - 4)
                for place in PLACES:
                    off = place * W if place > 0 else place * ow
                    x = off + ow / 2 if side == "left" else W - off - ow / 2
                    clip = cc.composite_clip(bg, [cc.Actor(1, co, Waypoints([(0, x, y - 3 * speed),
                                                                             (6, x, y + 3 * speed)]), z=1)])
                    gt = clip.gt[1][3]
                    eng = ClassicEngine()
                    eng.open(ArrayVideo(clip.frames))
                    res = eng.add_prompt(3, 1, points=[interior_point(gt)], labels=[1])
                    cands = eng.candidates(3, 1)
                    rows.append({"click": f"{bname}/{name}/{side} {place:+.2f}", "cut": place < 0,
                                 "default": iou(res[1].mask, gt), "kind": eng.candidate_kinds(3, 1)[0],
                                 "best": max([iou(c.mask, gt) for c in cands] or [iou(res[1].mask, gt)])})
                    eng.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--seed", type=int, default=classic_click.GRABCUT_SEED, help="GrabCut's seed")
    ap.add_argument("--per-click", action="store_true", help="one line per click")
    a = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(a.data, "videos")):
        print(f"error: no test data at {a.data} (see --data)", file=sys.stderr)
        return 2
    saved, classic_click.GRABCUT_SEED = classic_click.GRABCUT_SEED, a.seed
    try:
        rows = edge_clicks(a.data)
    finally:
        classic_click.GRABCUT_SEED = saved
    if a.per_click:
        for r in rows:
            print(f"  {r['click']:<28} default {r['default']:.2f} best {r['best']:.2f}  {r['kind']}")
    for label, cut in (("near the edge", False), ("cut by the edge", True)):
        sel = [r for r in rows if r["cut"] == cut]
        print(f"{label:<16} {len(sel)} clicks: default {np.mean([r['default'] for r in sel]):.3f}, "
              f"best candidate {np.mean([r['best'] for r in sel]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
