"""Fast CPU mode against exact mode: speed and agreement of the mask logits.

Both engines wrap the same seeded random-weight predictor (built twice from the same seed), so
the exact side is bit-identical to sam2's own propagation (tests/test_sam2_engine.py) and the
difference measured is the route's alone. Repetitions alternate exact/fast so a change of load
hits both sides alike; the load average is printed beside each figure.

    PYTHONPATH=. python benchmarks/fast_mode.py --video ../shared/data/videos/bedroom.mp4 \
        --image-size 1024 --frames 8 --reps 3

Agreement: for every frame and object, the max absolute difference of the mask logits at the
video's resolution and the IoU of the thresholded (> 0) masks. The route timed by the fast
side is the one fast mode chooses on this CPU (``--route`` forces one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def load() -> str:
    return open("/proc/loadavg").read().split()[0]


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "?"


def make_engine(image_size: int, fast: bool):
    from sam2studio.engines.sam2_engine import Sam2Engine, build_predictor

    class Recording(Sam2Engine):
        """Keeps each frame's mask logits (the engine itself keeps only thresholded masks)."""

        logits: dict

        def _result(self, obj, frame, video_res_masks):
            self.logits[(int(frame), int(obj))] = video_res_masks[0, 0].float().cpu().numpy()
            return super()._result(obj, frame, video_res_masks)

    eng = Recording(build_predictor(CONFIG, None, device="cpu", image_size=image_size, seed=0), fast=fast)
    eng.logits = {}
    return eng


def run_once(engine, video, clicks, frames: int) -> tuple[float, float]:
    """(seconds for the clicks, seconds per propagated frame)."""
    engine.logits = {}
    engine.open(video)
    t0 = time.perf_counter()
    for obj, (x, y) in enumerate(clicks, start=1):
        engine.add_prompt(0, obj, points=[(x, y)], labels=[1])
    t1 = time.perf_counter()
    n = 0
    for _f, _res in engine.propagate(0, "forward", frame_range=(0, frames)):
        n += 1
    t2 = time.perf_counter()
    engine.close()
    return t1 - t0, (t2 - t1) / max(1, n - 1 if n > 1 else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default="../shared/data/videos/bedroom.mp4")
    ap.add_argument("--image-size", type=int, default=1024)
    ap.add_argument("--frames", type=int, default=8, help="frames propagated after frame 0")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--objects", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument("--route", choices=("auto", "bf16", "fp32"), default="auto")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import torch

    from sam2studio.core.video import open_video
    from sam2studio.engines import sam2_fast

    if args.route != "auto":
        os.environ[sam2_fast.FORCE_ENV] = args.route
    video = open_video(args.video)
    w, h = video.width, video.height
    clicks = [(w // 2, int(h * 0.55)), (w // 4, h // 2), (3 * w // 4, h // 2)][: args.objects]
    exact, fast = make_engine(args.image_size, False), make_engine(args.image_size, True)
    print(f"# {sam2_fast.cpu_model()}, {os.cpu_count()} cpus, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), commit {commit()}")
    print(f"# {fast.route}")
    print(f"# {Path(args.video).name} {w}x{h}, image size {args.image_size}, {args.objects} object(s), "
          f"{args.frames} frames after frame 0, {args.reps} alternating reps")
    rows = {"exact": [], "fast": []}
    for rep in range(args.reps):
        for name, eng in (("exact", exact), ("fast", fast)) if rep % 2 == 0 else (("fast", fast), ("exact", exact)):
            before = load()
            click_s, per_frame = run_once(eng, video, clicks, args.frames)
            rows[name].append(per_frame)
            print(f"rep {rep} {name:5s} click {click_s:6.2f} s  propagate {per_frame:6.2f} s/frame  "
                  f"load {before}->{load()}", flush=True)
    diffs, ious = [], []
    for key, a in exact.logits.items():
        b = fast.logits[key]
        diffs.append(float(np.abs(a - b).max()))
        ma, mb = a > 0, b > 0
        union = np.logical_or(ma, mb).sum()
        ious.append(1.0 if union == 0 else float(np.logical_and(ma, mb).sum() / union))
    me, mf = statistics.mean(rows["exact"]), statistics.mean(rows["fast"])
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else 0.0  # noqa: E731
    summary = {
        "cpu": sam2_fast.cpu_model(), "commit": commit(), "route": fast.route, "image_size": args.image_size,
        "objects": args.objects, "frames": args.frames,
        "exact_s_per_frame": rows["exact"], "fast_s_per_frame": rows["fast"],
        "speedup": me / mf, "max_abs_logit_diff": max(diffs), "min_iou": min(ious),
        "mean_iou": statistics.mean(ious), "masks_compared": len(ious),
        "masks_nonempty": int(sum(bool((a > 0).any()) for a in exact.logits.values())),
    }
    print(f"exact {me:.2f} ± {sd(rows['exact']):.2f} s/frame, fast {mf:.2f} ± {sd(rows['fast']):.2f} s/frame: "
          f"{me / mf:.2f}x")
    print(f"agreement over {len(ious)} masks: max |logit diff| {max(diffs):.3f}, IoU min {min(ious):.4f} "
          f"mean {statistics.mean(ious):.4f} ({summary['masks_nonempty']} non-empty)")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    video.close()


if __name__ == "__main__":
    main()
