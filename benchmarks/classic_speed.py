"""Speed and accuracy of the classic engine on the synthetic crossing clip (854x480).

Run ``python benchmarks/classic_speed.py`` from the repository root, or import it and call
:func:`run` (a benchmark runner does). Only the propagation is timed: generating the clip
and the click prompts on frame 0 are not (the click latency is reported on its own).

Reported figures:

* ``fps``: frames propagated per second with every object tracked at once;
* ``fps_per_object``: ``fps`` times the number of objects (object-frames per second), the
  figure to compare with one-object engines;
* ``object_frames_per_cpu_s``: object-frames per CPU-second over all threads (less
  sensitive to other processes on a shared machine than the wall clock);
* ``miou`` / ``miou_per_object``: mean IoU against the ground truth over frames 1..N-1 (a
  frame where the object is hidden and the engine reports it empty counts as 1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sam2studio.core.synthetic import crossing_clip, iou
from sam2studio.engines.classic import ClassicEngine


def run(num_frames: int = 90, width: int = 854, height: int = 480, seed: int = 0,
        max_side: int | None = None, repeats: int = 1) -> dict:
    """Propagate one click per object forward over the crossing clip; return the figures.

    With ``repeats`` > 1 the propagation is timed that many times and the fastest is kept
    (the machine may be busy with something else).
    """
    clip = crossing_clip(num_frames=num_frames, width=width, height=height, seed=seed)
    engine = ClassicEngine() if max_side is None else ClassicEngine(max_side=max_side)
    engine.open(clip.video())
    click_s = []
    for obj, xy in clip.clicks.items():
        t0 = time.perf_counter()
        engine.add_prompt(0, obj, points=[xy], labels=[1])
        click_s.append(time.perf_counter() - t0)
    best = best_cpu = None
    results = {}
    for _ in range(max(1, int(repeats))):
        t0, c0 = time.perf_counter(), time.process_time()
        results = {}
        for f, res in engine.propagate(0, "forward"):
            results[f] = res
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        best = elapsed if best is None else min(best, elapsed)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    n_obj = len(clip.gt)
    per_obj = {}
    for obj in clip.gt:
        vals = [iou(results[f][obj].mask if obj in results[f] else np.zeros_like(clip.gt[obj][f]),
                    clip.gt[obj][f]) for f in range(1, num_frames)]
        per_obj[obj] = float(np.mean(vals))
    fps = num_frames / best
    engine.close()
    return {
        "engine": "classic",
        "clip": "crossing",
        "width": width,
        "height": height,
        "frames": num_frames,
        "objects": n_obj,
        "seconds": best,
        "fps": fps,
        "fps_per_object": fps * n_obj,
        "ms_per_frame_per_object": 1000.0 * best / (num_frames * n_obj),
        "cpu_seconds": best_cpu,
        "object_frames_per_cpu_s": num_frames * n_obj / max(1e-9, best_cpu),
        "load_average": os.getloadavg()[0],
        "click_ms": 1000.0 * max(click_s),
        "miou": float(np.mean(list(per_obj.values()))),
        "miou_per_object": per_obj,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-side", type=int, default=None, help="internal resolution (longest side)")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args(argv)
    r = run(a.frames, a.width, a.height, a.seed, a.max_side, a.repeats)
    print(f"classic engine, crossing clip {r['width']}x{r['height']}, {r['frames']} frames, "
          f"{r['objects']} objects")
    print(f"  propagation: {r['seconds']:.2f} s = {r['fps']:.1f} frames/s with all objects, "
          f"{r['fps_per_object']:.1f} frames/s per object "
          f"({r['ms_per_frame_per_object']:.1f} ms per frame per object)")
    print(f"  CPU time: {r['cpu_seconds']:.2f} s = {r['object_frames_per_cpu_s']:.1f} object-frames per CPU-second "
          f"(all threads; load average {r['load_average']:.1f} while it ran)")
    print(f"  click prompt: {r['click_ms']:.0f} ms (slowest)")
    print(f"  mIoU {r['miou']:.3f} (" + ", ".join(
        f"object {k}: {v:.3f}" for k, v in r["miou_per_object"].items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
