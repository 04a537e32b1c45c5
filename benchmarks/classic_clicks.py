"""Corrective clicks with the classic engine: the standard interactive-segmentation protocol.

Run ``python benchmarks/classic_clicks.py`` from the repository root (needs ../shared/data,
or ``--data DIR``). For each object, on its annotated frame (the sequence open, so the motion
cue of a first click is there):

* the first click is at the point deepest inside the object;
* each next click is at the point deepest inside the largest error region of the current
  mask: positive when that region is a missed part of the object, negative when it is a
  false part; up to ``--clicks`` clicks (5).

Reported per object and as means: IoU after 1..N clicks, NoC@85 (clicks needed to reach
IoU 0.85; N+1 when never), how many clicks made IoU drop by more than 0.05, and CPU per
click. Two routes are run: ``default`` keeps the engine's default mask for the first click;
``tab`` first picks the second candidate (Tab in the app) when the first click offered one,
then clicks on as before -- corrective clicks should behave the same way on both.

Objects: the six real annotated frames (judo's four objects, the bike's two) and, unless
``--real-only``, every object of the semi-real clips of ``classic_semireal.py`` on its first
clearly visible frame (real cut-outs on real footage, exact ground truth).
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

from sam2studio.core import composite_clips as cc
from sam2studio.core.synthetic import interior_point, iou
from sam2studio.core.video import ArrayVideo
from sam2studio.engines.classic import ClassicEngine

from benchmarks.classic_semireal import ANNOTATED, DEFAULT_DATA, build_clips, load_annotation, sequence_frames

DROP = 0.05  # a click that loses more IoU than this counts as a harmful click
TARGET = 0.85  # NoC@85


def next_click(pred: np.ndarray, gt: np.ndarray) -> tuple[tuple[int, int], int] | None:
    """The point deepest inside the largest error region of ``pred`` against ``gt`` and its
    label (1: a missed part of the object, 0: a false part); None when there is no error."""
    best = None
    for err, label in ((gt & ~pred, 1), (pred & ~gt, 0)):
        n, lab, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        for i in range(1, n):
            a = int(stats[i, cv2.CC_STAT_AREA])
            if best is None or a > best[0]:
                best = (a, lab == i, label)
    if best is None:
        return None
    return interior_point(best[1]), best[2]


def click_sequence(eng, frame: int, gt: np.ndarray, clicks: int, tab: bool) -> dict:
    """Run the protocol on one object: IoU after each click and CPU seconds per click."""
    pts, labs, ious, cpu = [], [], [], []
    pred = np.zeros_like(gt)
    tabbed = False
    for k in range(clicks):
        if k == 0:
            p, lb = interior_point(gt), 1
        else:
            nc = next_click(pred, gt)
            if nc is None:
                ious.append(1.0)
                continue
            p, lb = nc
        pts.append(p)
        labs.append(lb)
        c0 = time.process_time()
        res = eng.add_prompt(frame, 1, points=pts, labels=labs)
        if k == 0 and tab and len(eng.candidates(frame, 1)) > 1:
            res = eng.choose_candidate(frame, 1, 1)
            tabbed = True
        cpu.append(time.process_time() - c0)
        pred = res[1].mask if 1 in res else np.zeros_like(gt)
        ious.append(iou(pred, gt))
    return {"iou": ious, "cpu": cpu, "tabbed": tabbed}


def objects(data: str, real_only: bool):
    """``(name, frames, frame index, ground truth)`` of every object of the benchmark."""
    for name, (seq, frame, _) in ANNOTATED.items():
        _, m = load_annotation(data, name)
        frames = sequence_frames(data, seq)
        yield name, frames, int(frame), m
    if real_only:
        return
    for cname, (clip, _kinds) in build_clips(data, 40).items():
        for k in sorted(clip.gt):
            f = cc.first_clear_frame(clip, k)
            if f is None:
                continue
            lo, hi = max(0, f - 3), min(len(clip), f + 4)
            yield f"{cname}/{k}", clip.frames[lo:hi], f - lo, clip.gt[k][f]


def noc(ious: list[float], target: float = TARGET) -> int:
    for i, v in enumerate(ious):
        if v >= target:
            return i + 1
    return len(ious) + 1


def drops(ious: list[float]) -> int:
    return sum(1 for a, b in zip(ious, ious[1:]) if b < a - DROP)


def run(data: str, clicks: int = 5, real_only: bool = False) -> list[dict]:
    rows = []
    for name, frames, f, gt in objects(data, real_only):
        row = {"object": name}
        for route in ("default", "tab"):
            eng = ClassicEngine()
            eng.open(ArrayVideo(frames))
            row[route] = click_sequence(eng, f, gt, clicks, tab=route == "tab")
            eng.close()
        rows.append(row)
    return rows


def report(rows: list[dict], clicks: int) -> None:
    for route in ("default", "tab"):
        print(f"route {route!r}: IoU after 1..{clicks} clicks, NoC@85, clicks that dropped IoU by > {DROP}")
        print(f"  {'object':<14} " + " ".join(f"{k + 1:>5}" for k in range(clicks)) + "   NoC  drops")
        for r in rows:
            s = r[route]
            mark = "" if route == "default" or s["tabbed"] else "  (no 2nd candidate)"
            print(f"  {r['object']:<14} " + " ".join(f"{v:5.3f}" for v in s["iou"])
                  + f"  {noc(s['iou']):>4}  {drops(s['iou']):>5}{mark}")
        for title, sel in (("real", [r for r in rows if "/" not in r["object"]]),
                           ("semi-real", [r for r in rows if "/" in r["object"]]), ("all", rows)):
            if not sel:
                continue
            m = np.mean([r[route]["iou"] for r in sel], axis=0)
            n_drop = sum(drops(r[route]["iou"]) for r in sel)
            n_clicks = sum(len(r[route]["iou"]) - 1 for r in sel)
            print(f"  mean {title:<9} " + " ".join(f"{v:5.3f}" for v in m)
                  + f"  {np.mean([noc(r[route]['iou']) for r in sel]):4.2f}  {n_drop:>2}/{n_clicks}")
    cpu = [c for r in rows for route in ("default", "tab") for c in r[route]["cpu"][1:]]
    first = [r[route]["cpu"][0] for r in rows for route in ("default", "tab")]
    diff = np.mean([abs(a - b) for r in rows for a, b in zip(r["default"]["iou"][1:], r["tab"]["iou"][1:])])
    print(f"mean |IoU default - IoU tab| after clicks 2..{clicks}: {diff:.3f}")
    print(f"CPU per corrective click: mean {np.mean(cpu):.2f} s, largest {np.max(cpu):.2f} s; "
          f"first click mean {np.mean(first):.2f} s (854x480, load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--clicks", type=int, default=5)
    ap.add_argument("--real-only", action="store_true", help="only the six real annotated frames")
    a = ap.parse_args(argv)
    if not os.path.isdir(os.path.join(a.data, "frames")):
        print(f"error: no test data at {a.data} (see --data)", file=sys.stderr)
        return 2
    if a.clicks < 1:
        print("error: --clicks must be at least 1", file=sys.stderr)
        return 2
    report(run(a.data, a.clicks, a.real_only), a.clicks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
