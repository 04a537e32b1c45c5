"""Real-time tracking: a video file played as a live camera (at its real frame rate) through
:class:`sam2studio.live.LiveTracker` -- one click, then live tracking that drops frames to
stay live, with fps and capture-to-mask latency, recorded to a project.

    python examples/realtime.py
    python examples/realtime.py --seconds 10 --engine sam2 --weights random --image-size 256
    python examples/realtime.py --camera 0 --click 320,240        # a real camera

Writes ``live.s2s`` (a project on the recorded frames in ``live_frames/``: open it in the app
or with ``Session.open``), ``stats.json`` (fps, latency p50/p95, dropped frames) and
``last_frame.png`` (the last frame with its mask) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2

from sam2studio.core.cameras import FakeCamera
from sam2studio.live import LiveTracker, overlay
from sam2studio.session import Session

SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "sample" / "cups.mp4"  # the bundled clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE, help="file played as a camera")
    ap.add_argument("--camera", type=int, default=None, help="use this camera instead of --video")
    ap.add_argument("--click", default="640,400", help="X,Y of the object on the first frame (default: the middle cup)")
    ap.add_argument("--seconds", type=float, default=3.0, help="how long to track (default 3)")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--weights", choices=("random",), default=None, help="SAM 2 random weights (pipeline test)")
    ap.add_argument("--image-size", type=int, default=None, help="SAM 2 input size")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-live-"))
    out.mkdir(parents=True, exist_ok=True)
    options = {}
    if args.weights:
        options.update(weights=args.weights, image_size=args.image_size)
    if args.camera is not None:
        from sam2studio.core.cameras import CameraVideo

        camera = CameraVideo(args.camera)
    else:
        camera = FakeCamera(args.video, realtime=True)
    x, y = (float(v) for v in args.click.split(","))

    tracker = LiveTracker(camera, args.engine, record=out / "live.s2s", **options)
    try:
        tracker.step()  # the first frame, shown before anything is tracked
        obj, mask = tracker.add_click(x, y, name="target")
        print(f"clicked ({x:g}, {y:g}): object {obj}, {int(mask.sum())} px; tracking for {args.seconds:g} s "
              f"with the {tracker.engine.name} engine ...")
        last = []

        def on_frame(frame):
            last[:] = [frame]

        stats = tracker.run(duration=args.seconds, on_frame=on_frame)
        print(stats.line())
        if last:
            lf = last[0]
            cv2.imwrite(str(out / "last_frame.png"), cv2.cvtColor(overlay(lf.rgb, lf.masks), cv2.COLOR_RGB2BGR))
    finally:
        project = tracker.close()
    (out / "stats.json").write_text(json.dumps(stats.to_dict(), indent=1) + "\n")
    with Session.open(project, engine="classic") as s:  # the recording opens like any project
        present = len(s.masks.present_frames(obj))
        print(f"wrote {project} ({s.num_frames} frames at {s.project.fps:.1f} fps, object present on {present})",
              file=sys.stdout)
    print(f"wrote {out / 'stats.json'}")
    if last:
        print(f"wrote {out / 'last_frame.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
