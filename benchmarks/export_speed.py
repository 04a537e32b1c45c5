"""How fast the edited-video export runs: overlay export of ``02_cups.mp4`` (1280x720).

Usage (from the repository root)::

    python benchmarks/export_speed.py [--video PATH] [--frames N] [--preset veryfast] [--all]

Prints the overlay export speed in frames per second and its ratio to real time (the
video's frame rate); ``--all`` also times a few other effects. ``run()`` returns the numbers
as a dict. The masks are synthetic (a moving disc on every frame), so no segmentation model
is needed; the export itself is the real one (decode, effects, libx264 encode, audio mux).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sam2studio.core.masks import MaskStore  # noqa: E402
from sam2studio.core.objects import TrackedObject  # noqa: E402
from sam2studio.core.video import open_video  # noqa: E402
from sam2studio.export.effects import Background, Blur, Grade, MotionBlur, Overlay  # noqa: E402
from sam2studio.export.render import export_video  # noqa: E402

DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "02_cups.mp4"


def _masks(video, n: int) -> MaskStore:
    ms = MaskStore(video.height, video.width)
    r = video.height // 7
    for i in range(n):
        m = np.zeros((video.height, video.width), np.uint8)
        cx = int(video.width * (0.15 + 0.7 * i / max(1, n - 1)))
        cv2.circle(m, (cx, video.height // 2), r, 1, -1)
        cv2.circle(m, (video.width - cx, video.height // 3), r // 2, 1, -1)
        ms.set(i, 1, m)
        m2 = np.zeros_like(m)
        cv2.rectangle(m2, (video.width // 2 - r, video.height - 2 * r),
                      (video.width // 2 + r, video.height - r // 2), 1, -1)
        ms.set(i, 2, m2)
    return ms


def _time(video, masks, objects, out: Path, effects, frames: range, preset: str) -> float:
    t0 = time.perf_counter()
    export_video(video, masks, objects, out, effects, frames=frames, preset=preset)
    return time.perf_counter() - t0


def run(video_path: str | os.PathLike | None = None, frames: int | None = None,
        preset: str = "veryfast", others: bool = False) -> dict:
    """Time the overlay export (and with ``others`` a few more effects); return the numbers."""
    path = Path(video_path) if video_path else DEFAULT_VIDEO
    if not path.exists():
        raise SystemExit(f"benchmark video {path} is absent")
    video = open_video(path)
    n = len(video) if frames is None else min(int(frames), len(video))
    masks = _masks(video, n)
    objects = {1: TrackedObject(1, "disc"), 2: TrackedObject(2, "box")}
    result = {"video": path.name, "width": video.width, "height": video.height,
              "fps": round(video.fps, 3), "frames": n, "preset": preset,
              "cpus": os.cpu_count()}
    cases = {"overlay": [Overlay()]}
    if others:
        cases.update({
            "background": [Background(color=(0, 177, 64))],
            "grade+overlay": [Grade(saturation=0.0, invert=True), Overlay()],
            "blur": [Blur(sigma=15)],
            "motion_blur": [MotionBlur(strength=1.0)],
        })
    with tempfile.TemporaryDirectory() as tmp:
        for name, effects in cases.items():
            el = _time(video, masks, objects, Path(tmp) / f"{name}.mp4", effects, range(n), preset)
            fps = n / el
            result[f"{name}_seconds"] = round(el, 3)
            result[f"{name}_fps"] = round(fps, 2)
            result[f"{name}_realtime"] = round(fps / video.fps, 3)
    video.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=None)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--preset", default="veryfast")
    ap.add_argument("--all", action="store_true", help="also time other effects")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    res = run(args.video, args.frames, args.preset, args.all)
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        print(f"{res['video']} {res['width']}x{res['height']} @ {res['fps']} fps, "
              f"{res['frames']} frames, preset {res['preset']}, {res['cpus']} CPUs")
        for key in res:
            if key.endswith("_fps"):
                name = key[:-4]
                print(f"  {name:14s} {res[key]:7.1f} frames/s  = {res[name + '_realtime']:.2f}x real time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
