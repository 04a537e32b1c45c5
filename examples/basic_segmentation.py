"""Basic segmentation: one click on one object, propagate through the video, write PNG masks.

    python examples/basic_segmentation.py                      # the cups clip, classic engine
    python examples/basic_segmentation.py --video my.mp4 --click 320,240 --engine sam2

Writes per-object PNG masks (``masks/frame_NNNN_obj_1.png``, 0/255, with ``objects.json``)
and the project (``project.s2s``, opens in the app) under ``--out``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sam2studio.session import Session

SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "sample" / "cups.mp4"  # the bundled clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE, help="video file or image folder")
    ap.add_argument("--click", default="640,400", help="X,Y of a positive click (default: the middle cup)")
    ap.add_argument("--frame", type=int, default=0, help="frame the click is on (default 0)")
    ap.add_argument("--frames", default=None, help="frame range START:STOP to segment (default: all)")
    ap.add_argument("--name", default="cup", help="the object's name")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-basic-"))
    x, y = (float(v) for v in args.click.split(","))

    with Session.open(args.video, engine=args.engine) as s:
        first, stop = 0, s.num_frames
        if args.frames:
            a, b = args.frames.split(":")
            first, stop = int(a or 0), int(b or s.num_frames)
        obj = s.add_object(args.name)
        mask = s.add_click(args.frame, obj.id, x, y)  # the mask on the click's frame, at once
        print(f"{args.video.name}: {s.num_frames} frames; click ({x:g}, {y:g}) on frame {args.frame} "
              f"-> {int(mask.sum())} px ({s.engine_name} engine)")

        t0 = time.perf_counter()
        done = 0
        for _frame, _masks in s.propagate(args.frame, "both", frame_range=(first, stop - 1)):
            done += 1  # each frame's masks are stored in s.masks as they come
        print(f"propagated {done} frames in {time.perf_counter() - t0:.1f} s")

        png = s.export("png", out / "masks", frames=range(first, stop))
        project = s.save(out / "project.s2s")
    present = len(s.masks.present_frames(obj.id))
    print(f"wrote {png} ({stop - first} PNG masks, object present on {present} frames)")
    print(f"wrote {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
