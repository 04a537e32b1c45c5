"""Look at the classic engine on real clips: one click per object, propagated forward, and a
contact sheet of overlays (PNG) to judge by eye whether the masks stay on the objects.

``python benchmarks/classic_overlays.py --out /tmp/overlays`` (needs ../shared/data). Prints,
per object, its mask's share of the frame on the sampled frames.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sam2studio.core.video import FileVideo
from sam2studio.engines.classic import ClassicEngine

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
# clip: {object: (x, y) on frame 0, original pixels}
CLICKS = {
    "01_dog.mp4": {1: (600, 430), 2: (330, 300)},  # the dog, the woman's shirt
    "05_default_juggle.mp4": {1: (700, 260), 2: (650, 320)},  # the man's shirt, the ball
}
COLOURS = {1: (255, 60, 60), 2: (60, 140, 255)}


def sheet(video: str, clicks: dict, frames: int, samples: int, out: str) -> list[str]:
    eng = ClassicEngine()
    lines = []
    with FileVideo(video) as v:
        eng.open(v)
        for k, xy in clicks.items():
            eng.add_prompt(0, k, points=[xy], labels=[1])
        last = min(len(v), frames) - 1
        want = set(np.linspace(0, last, samples).round().astype(int).tolist())
        tiles = []
        for f, res in eng.propagate(0, "forward", frame_range=(0, last)):
            if f not in want:
                continue
            img = v.get_frame(f).copy()
            for k, om in res.items():
                m = om.mask
                img[m] = (0.5 * img[m] + 0.5 * np.array(COLOURS.get(k, (255, 255, 0)))).astype(np.uint8)
                lines.append(f"{os.path.basename(video)} frame {f:3d} object {k}: {100 * m.mean():5.1f}% of the frame, "
                             f"score {om.score:.2f}")
            if f == 0:
                for xy in clicks.values():
                    cv2.circle(img, tuple(int(c) for c in xy), 8, (255, 255, 255), -1)
            tiles.append(cv2.resize(img, (426, 240), interpolation=cv2.INTER_AREA))
        eng.close()
    name = os.path.splitext(os.path.basename(video))[0]
    cv2.imwrite(os.path.join(out, f"classic_{name}.png"), cv2.cvtColor(np.hstack(tiles), cv2.COLOR_RGB2BGR))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--samples", type=int, default=5)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    for clip, clicks in CLICKS.items():
        for line in sheet(os.path.join(a.data, "videos", clip), clicks, a.frames, a.samples, a.out):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
