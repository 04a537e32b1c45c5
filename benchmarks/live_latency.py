"""Live tracking on a fake camera: tracked frames per second and capture-to-mask latency.

Run ``python benchmarks/live_latency.py`` from the repository root (needs
../shared/data/videos/02_cups.mp4), or import it and call :func:`run`.

A :class:`~sam2studio.live.FakeCamera` plays the clip at its real frame rate (29.97 fps) through
the camera interface, exactly as the fake-camera test does; a :class:`~sam2studio.live.LiveTracker`
tracks the middle cup from one click, dropping frames it has no time for so that it stays live.
Each engine runs for ``seconds`` of wall time after the click. Reported per engine:

* ``fps``: frames tracked per second; ``camera_fps``: frames the camera delivered per second;
* ``latency_p50_ms`` / ``latency_p95_ms``: from the moment a frame came out of the camera to the
  moment its masks were ready;
* ``dropped``: frames delivered but never processed (a newer one replaced them).

SAM 2 runs with seeded random weights at a reduced image size (speed does not depend on the
weights); on a GPU machine pass ``--device cuda --image-size 1024`` for the real figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sam2studio.core.cameras import FakeCamera
from sam2studio.live import LiveTracker

CUPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "02_cups.mp4"
CLICK = (640.0, 400.0)  # the middle cup on the first frames


def run_engine(engine: str, seconds: float = 8.0, video: Path = CUPS, **options) -> dict:
    camera = FakeCamera(video, realtime=True, loop=True)
    tracker = LiveTracker(camera, engine, **options)
    try:
        tracker.step()  # the first preview frame: the one the user clicks on
        tracker.add_click(*CLICK)
        stats = tracker.run(duration=seconds)
    finally:
        tracker.close()
    out = stats.to_dict()
    out["engine"] = engine
    out.update({k: v for k, v in options.items() if k in ("image_size", "device")})
    return out


def run(seconds: float = 8.0, image_size: int = 256, device: str = "cpu", sam2: bool = True) -> list[dict]:
    rows = [run_engine("classic", seconds)]
    if sam2:
        rows.append(run_engine("sam2", seconds, weights="random", seed=0, image_size=image_size, device=device))
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| engine | camera fps | tracked fps | latency p50 | latency p95 | dropped |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        name = r["engine"] + (f" (random weights, {r['image_size']} px, {r.get('device', 'cpu')})"
                              if r["engine"] == "sam2" else "")
        lines.append(f"| {name} | {r['camera_fps']:.1f} | {r['fps']:.1f} | {r['latency_p50_ms']:.0f} ms "
                     f"| {r['latency_p95_ms']:.0f} ms | {r['dropped']} of {r['captured']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0, help="tracking time per engine (default 8)")
    ap.add_argument("--image-size", type=int, default=256, help="SAM 2 input size (default 256)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-sam2", action="store_true", help="only the classic engine")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args(argv)
    if not CUPS.exists():
        print(f"live_latency: {CUPS} is absent", file=sys.stderr)
        return 2
    rows = run(a.seconds, a.image_size, a.device, not a.no_sam2)
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
