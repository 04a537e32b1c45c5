"""A box drawn around each real annotated object, with the classic engine: the mask it gives.

The six annotated objects of ``--data`` (judo's four, bike's two; see classic_semireal.py), each
boxed as a user might: tight (the annotation's bounding box), loose (10% larger each side) and
cut (5% smaller each side), each shifted by a few fractions of a pixel (a drawn box never lands
on the same pixel twice). For every box: IoU with the annotation of the engine's mask (the
default), of the best candidate offered with Tab, and of one GrabCut in the box as the engine
made it before box candidates (``classic_click.segment``), all in the same run; CPU per box.
Then the same box with a positive click at the object's innermost point: the engine's mask,
the best candidate, and the one GrabCut of box and click together (the mask before the box's
variants took clicks).

    python benchmarks/classic_boxes.py --data ../shared/data
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

from sam2studio.core.synthetic import iou
from sam2studio.core.video import ArrayVideo
from sam2studio.engines import classic_click
from sam2studio.engines.classic import ClassicEngine

from benchmarks.classic_semireal import ANNOTATED, DEFAULT_DATA, load_annotation, sequence_frames

#: how each box is drawn: name, share of the object's size added on each side
SIZES = (("tight", 0.0), ("loose", 0.1), ("cut", -0.05))
#: sub-pixel shifts of a whole box (video pixels)
SHIFTS = (0.0, 0.4, -0.7)


def boxes_for(mask: np.ndarray):
    """(size name, shift, box) for every way :data:`SIZES` x :data:`SHIFTS` boxes ``mask``."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    bb = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    bw, bh = bb[2] - bb[0], bb[3] - bb[1]
    for name, grow in SIZES:
        for shift in SHIFTS:
            b = bb + np.array([-grow * bw, -grow * bh, grow * bw, grow * bh]) + shift
            yield name, shift, tuple(float(v) for v in np.clip(b, 0, [w, h, w, h]))


def run(data: str) -> list[dict]:
    rows = []
    for name, (seq, frame, _obj) in ANNOTATED.items():
        _, gt = load_annotation(data, name)
        frames = sequence_frames(data, seq)
        f = int(frame)
        dist = cv2.distanceTransform(gt.astype(np.uint8), cv2.DIST_L2, 5)
        iy, ix = np.unravel_index(np.argmax(dist), dist.shape)
        inner = (float(ix), float(iy))
        for size, shift, box in boxes_for(gt):
            eng = ClassicEngine()
            eng.open(ArrayVideo(frames))
            fr = eng._frame(f)
            c0 = time.process_time()
            res = eng.add_prompt(f, 1, box=box)
            cpu = time.process_time() - c0
            cands = [c.mask for c in eng.candidates(f, 1)] or [res[1].mask]
            sx, sy = eng._small[0] / gt.shape[1], eng._small[1] / gt.shape[0]
            sbox = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
            one = classic_click.segment(fr, [], [], sbox, None, np.zeros(fr.bins.shape, bool))
            before = eng._prompt_full(f, one, None)
            eng.close()
            # the same box with a positive click at the object's innermost point
            eng = ClassicEngine()
            eng.open(ArrayVideo(frames))
            clicked = eng.add_prompt(f, 1, points=[inner], labels=[1], box=box)
            with_click = [c.mask for c in eng.candidates(f, 1)] or [clicked[1].mask]
            one_both = classic_click.segment(fr, [(inner[0] * sx, inner[1] * sy)], [], sbox, None,
                                             np.zeros(fr.bins.shape, bool))
            rows.append({"object": name, "size": size, "shift": shift, "default": iou(res[1].mask, gt),
                         "best": max(iou(m, gt) for m in cands), "one grabcut": iou(before, gt),
                         "candidates": len(cands), "cpu": cpu, "click default": iou(clicked[1].mask, gt),
                         "click best": max(iou(m, gt) for m in with_click),
                         "click one grabcut": iou(eng._prompt_full(f, one_both, None), gt)})
            eng.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    a = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(a.data, "frames")):
        print(f"error: no test data at {a.data} (see --data)", file=sys.stderr)
        return 2
    rows = run(a.data)
    print(f"{'object':10s} {'size':6s} {'one GrabCut':>11s} {'default':>8s} {'best':>6s} {'cands':>5s}")
    for obj in ANNOTATED:
        for size, _g in SIZES:
            r = [x for x in rows if x["object"] == obj and x["size"] == size]
            print(f"{obj:10s} {size:6s} {np.mean([x['one grabcut'] for x in r]):11.3f} "
                  f"{np.mean([x['default'] for x in r]):8.3f} {np.mean([x['best'] for x in r]):6.3f} "
                  f"{np.mean([x['candidates'] for x in r]):5.1f}")
    for size, _g in SIZES:
        r = [x for x in rows if x["size"] == size]
        print(f"{'mean':10s} {size:6s} {np.mean([x['one grabcut'] for x in r]):11.3f} "
              f"{np.mean([x['default'] for x in r]):8.3f} {np.mean([x['best'] for x in r]):6.3f}")
    print(f"all: one GrabCut {np.mean([x['one grabcut'] for x in rows]):.3f}, default "
          f"{np.mean([x['default'] for x in rows]):.3f}, best {np.mean([x['best'] for x in rows]):.3f}; "
          f"CPU per box {np.mean([x['cpu'] for x in rows]):.2f} s (at most {max(x['cpu'] for x in rows):.2f})")
    mean = {k: np.mean([x[k] for x in rows]) for k in ("click one grabcut", "click default", "click best")}
    print(f"box and a click at the object's innermost point: one GrabCut of both {mean['click one grabcut']:.3f}, "
          f"default {mean['click default']:.3f}, best {mean['click best']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
