"""The classic engine on the shell game of ``02_cups.mp4``: three identical red cups shuffled.

Run ``python benchmarks/classic_cups.py`` from the repository root (needs ../shared/data, or
``--data DIR``, and ``benchmarks/data/cups_reference.json``, made by
``benchmarks/cups_reference.py``). One click per object on frame 0 (at the point deepest
inside its reference mask), the whole clip tracked forward through :class:`Session` with the
classic engine, then per object, on the reference's keyframes (every 5th frame):

* ``J``: mean IoU with its reference where that is exact (the cup's own red region, or its
  side of two cups standing side by side; for the ball every keyframe, an empty prediction
  while it is hidden counting 1);
* ``swaps``: keyframes where the mask lies more on another cup than on its own (the cup it
  overlaps most, by at least 10% of its area, is another one): a lost identity;
* ``eroded``: keyframes where the cup is seen whole and its mask covers less than half of it
  (empty included);
* ``low``: frames (all of them) scored under 0.7, the app's "confidence" flag.

Two runs: ``newcomer`` clicks the ball and the two cups on the table (what the README has a
new user do on the sample, the first 150 frames of this clip), ``all`` also the third cup
(held up in the hand on frame 0).
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

from pycocotools import mask as mask_utils  # noqa: E402

from sam2studio import Session  # noqa: E402
from sam2studio.core.synthetic import interior_point, iou  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
REFERENCE = os.path.join(HERE, "data", "cups_reference.json")
EXACT = ("clean", "split")
RUNS = {"newcomer": ("ball", "middle", "right"), "all": ("ball", "left", "middle", "right")}


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


def run(data: str, objects: tuple[str, ...], ref: dict, max_side: int | None = None) -> dict:
    video = os.path.join(data, "videos", ref["video"])
    opts = {} if max_side is None else {"max_side": max_side}
    out = {}
    with Session.open(video, engine="classic", **opts) as s:
        ids = {}
        for name in objects:
            obj = s.add_object(name).id
            ids[name] = obj
            x, y = interior_point(ref["frames"][0][name][0])
            s.add_click(0, obj, x, y)
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for _f, _res in s.propagate(0, "forward"):
            n += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        for name, obj in ids.items():
            pred = {f: s.mask(f, obj) for f in ref["frames"]}
            pred = {f: (m if m is not None else np.zeros(ref["size"][::-1], bool)) for f, m in pred.items()}
            r = score_object(name, ref, pred)
            scores = [s.score(f, obj) for f in range(s.num_frames)]
            r["low"] = sum(1 for v in scores if v is not None and v < 0.7 and (name != "ball" or v > 0))
            out[name] = r
        out["_speed"] = {"object_frames_per_s": n * len(objects) / wall, "per_cpu_s": n * len(objects) / cpu}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--reference", default=REFERENCE)
    ap.add_argument("--runs", default="newcomer,all", help="comma-separated: " + ", ".join(RUNS))
    ap.add_argument("--max-side", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    ref = load_reference(args.reference)
    results = {}
    print(f"{'run':<9} {'object':<7} {'J':>6} {'swaps':>6} {'eroded':>7} {'low':>5}  frames swapped / eroded")
    for rn in args.runs.split(","):
        res = run(args.data, RUNS[rn], ref, args.max_side)
        results[rn] = res
        for name in RUNS[rn]:
            r = res[name]
            print(f"{rn:<9} {name:<7} {r['J']:6.3f} {len(r['swaps']):6d} {len(r['eroded']):7d} {r['low']:5d}  "
                  f"{r['swaps'][:12]} / {r['eroded'][:12]}")
        cups = [n for n in RUNS[rn] if n != "ball"]
        sp = res["_speed"]
        print(f"{rn:<9} cups    {np.mean([res[n]['J'] for n in cups]):6.3f} "
              f"{sum(len(res[n]['swaps']) for n in cups):6d} {sum(len(res[n]['eroded']) for n in cups):7d} "
              f"{sum(res[n]['low'] for n in cups):5d}  ({sp['object_frames_per_s']:.1f} object-frames/s, "
              f"{sp['per_cpu_s']:.1f} per CPU-second)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
