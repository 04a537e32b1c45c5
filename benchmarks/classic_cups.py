"""The classic engine on the shell game of ``02_cups.mp4``: three identical red cups shuffled.

Run ``python benchmarks/classic_cups.py`` from the repository root (needs ../shared/data, or
``--data DIR``, and ``benchmarks/data/cups_reference.json``, made by
``benchmarks/cups_reference.py``). One click per object (at the point deepest inside its
reference mask; see below for corrections), the whole clip tracked forward through
:class:`Session` with the classic engine, then per object, on the reference's keyframes (every
5th frame):

* ``J``: mean IoU with its reference where that is exact (the cup's own red region, or its
  side of two cups standing side by side; for the ball every keyframe, an empty prediction
  while it is hidden counting 1);
* ``swaps``: keyframes where the mask lies more on another cup than on its own (the cup it
  overlaps most, by at least 10% of its area, is another one): a lost identity;
* ``eroded``: keyframes where the cup is seen whole and its mask covers less than half of it
  (empty included);
* ``low``: frames (all of them) scored under 0.7, the app's "confidence" flag;
* ``shown`` (the ball): frames (all of them, from its first to its last hidden keyframe: it
  is under a cup all that time) where its mask is not empty.

A first click that does not give the object (IoU under 0.85) would be corrected as a user
would, with at most three more clicks (see :func:`first_mask`); ``clicks`` says how many.

Three runs: ``newcomer`` clicks the ball and the two cups on the table on frame 0 (what the
README has a new user do on the sample, the first 150 frames of this clip); ``all`` also the
third cup, on frame 45, the first where it stands on the table clear of the hand (the click on
frame 0, where it is held up in the hand, takes the hand too; the click code's business, not
the tracker's); ``sample`` is the newcomer's run on the bundled sample itself
(``resources/sample/cups.mp4``: the same footage, encoded apart, so the pixels and the tracking
differ a little), scored on the reference's keyframes up to its frame 149. An object is scored
from its click's frame on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pycocotools import mask as mask_utils

from sam2studio import Session
from sam2studio.core.synthetic import interior_point, iou

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
REFERENCE = os.path.join(HERE, "data", "cups_reference.json")
EXACT = ("clean", "split")
# objects clicked and the frame of the click
RUNS = {"newcomer": (("ball", 0), ("middle", 0), ("right", 0)),
        "all": (("ball", 0), ("left", 45), ("middle", 0), ("right", 0)),
        "sample": (("ball", 0), ("middle", 0), ("right", 0))}
# runs on another video than the reference's (the bundled sample: its first 150 frames)
VIDEOS = {"sample": os.path.join(HERE, "..", "resources", "sample", "cups.mp4")}


def load_reference(path: str = REFERENCE) -> dict:
    with open(path) as fh:
        ref = json.load(fh)
    frames = {}
    for f, entry in ref["frames"].items():
        frames[int(f)] = {name: (mask_utils.decode({"size": e["rle"]["size"], "counts": e["rle"]["counts"].encode()})
                                 .astype(bool), e["kind"]) for name, e in entry.items()}
    ref["frames"] = frames
    return ref


def score_object(name: str, ref: dict, pred: dict[int, np.ndarray]) -> dict:
    """J, swaps, eroded keyframes of one object's predicted masks ``{frame: mask}``."""
    js, swaps, eroded = [], [], []
    for f, entry in sorted(ref["frames"].items()):
        p = pred.get(f)
        if p is None:
            continue
        own, kind = entry[name]
        if name == "ball" or kind in EXACT:
            js.append(iou(p, own))
        if name == "ball":
            continue
        a = np.count_nonzero(p)
        if kind in EXACT and np.count_nonzero(p & own) < 0.5 * np.count_nonzero(own):
            eroded.append(f)
        if a == 0:
            continue
        best, best_ov = name, np.count_nonzero(p & own)
        for other in ref["cups"]:
            m, k = entry[other]
            if other == name or k == "shared":
                continue  # a region shared with this cup is its own too
            ov = np.count_nonzero(p & m)
            if ov > best_ov and ov >= 0.1 * a:
                best, best_ov = other, ov
        if best != name:
            swaps.append(f)
    return {"J": float(np.mean(js)) if js else float("nan"), "swaps": swaps, "eroded": eroded}


def first_mask(s: Session, obj: int, gt: np.ndarray, frame: int = 0, good: float = 0.85, most: int = 3) -> int:
    """Click ``obj`` on ``frame`` as a user would: at the point deepest inside it, then (while
    the mask's IoU is under ``good``, at most ``most`` more) a corrective click deepest inside
    the largest wrong region, positive on a missed part, negative on a false one (the
    standard protocol). Returns the number of clicks."""
    import cv2

    x, y = interior_point(gt)
    mask = s.add_click(frame, obj, x, y)
    n = 1
    while n <= most and iou(mask, gt) < good:
        miss, extra = gt & ~mask, mask & ~gt
        err = miss if np.count_nonzero(miss) >= np.count_nonzero(extra) else extra
        _, lab, st, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        big = lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
        x, y = interior_point(big)
        mask = s.add_click(frame, obj, x, y, positive=err is miss)
        n += 1
    return n


def run(data: str, objects: tuple[tuple[str, int], ...], ref: dict, max_side: int | None = None,
        video: str | None = None) -> dict:
    video = video or os.path.join(data, "videos", ref["video"])
    opts = {} if max_side is None else {"max_side": max_side}
    out = {}
    with Session.open(video, engine="classic", **opts) as s:
        ids, clicks = {}, {}
        for name, f0 in objects:
            obj = s.add_object(name).id
            ids[name] = obj
            clicks[name] = first_mask(s, obj, ref["frames"][f0][name][0], f0)
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for f0 in sorted({f for _n, f in objects}):  # each object forward from its click
            for _f, _res in s.propagate(f0, "forward", objects=[ids[nm] for nm, f in objects if f == f0]):
                n += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for name, obj in ids.items():
            f0 = dict(objects)[name]
            pred = {f: s.mask(f, obj) for f in ref["frames"] if f0 <= f < s.num_frames}
            pred = {f: (m if m is not None else np.zeros(ref["size"][::-1], bool)) for f, m in pred.items()}
            r = score_object(name, ref, pred)
            scores = [s.score(f, obj) for f in range(s.num_frames)]
            r["low"] = sum(1 for v in scores[f0:] if v is not None and v < 0.7 and (name != "ball" or v > 0))
            r["clicks"] = clicks[name]
            if name == "ball":
                gone = [f for f, e in ref["frames"].items() if e["ball"][1] == "absent"]
                r["shown"] = [f for f in range(min(gone), min(max(gone), s.num_frames - 1) + 1)
                              if f >= f0 and s.mask(f, obj) is not None and s.mask(f, obj).any()]
            out[name] = r
        # every object is tracked in every run (they compete for pixels)
        out["_speed"] = {"object_frames_per_s": n * len(objects) / wall, "per_cpu_s": n * len(objects) / cpu}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("--runs", default="newcomer,all,sample", help="comma-separated: " + ", ".join(RUNS))
    ap.add_argument("--max-side", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    ref = load_reference(args.reference)
    results = {}
    print(f"{'run':<9} {'object':<7} {'clicks':>6} {'J':>6} {'swaps':>6} {'eroded':>7} {'low':>5}  "
          "frames swapped / eroded")
    for rn in args.runs.split(","):
        res = run(args.data, RUNS[rn], ref, args.max_side, VIDEOS.get(rn))
        results[rn] = res
        for name, _f in RUNS[rn]:
            r = res[name]
            print(f"{rn:<9} {name:<7} {r['clicks']:6d} {r['J']:6.3f} {len(r['swaps']):6d} {len(r['eroded']):7d} "
                  f"{r['low']:5d}  {r['swaps'][:12]} / {r['eroded'][:12]}"
                  + (f"; shown while hidden: {len(r['shown'])} {r['shown'][:12]}" if "shown" in r else ""))
        cups = [n for n, _f in RUNS[rn] if n != "ball"]
        sp = res["_speed"]
        print(f"{rn:<9} cups    {'':6} {np.mean([res[n]['J'] for n in cups]):6.3f} "
              f"{sum(len(res[n]['swaps']) for n in cups):6d} {sum(len(res[n]['eroded']) for n in cups):7d} "
              f"{sum(res[n]['low'] for n in cups):5d}  ({sp['object_frames_per_s']:.1f} object-frames/s, "
              f"{sp['per_cpu_s']:.1f} per CPU-second)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
