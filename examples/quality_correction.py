"""Quality correction loop: propagate, read the quality flags, correct the worst flagged frame,
re-propagate from there, and see fewer flags.

    python examples/quality_correction.py                        # a generated clip with ground truth
    python examples/quality_correction.py --rounds 5
    python examples/quality_correction.py --video resources/sample/cups.mp4 --click 640,400

By default it runs on a generated clip (an object leaves the frame and comes back; the classic
engine is slow to pick it up again) whose ground truth stands in for you: each round the worst
flagged frame is corrected with its true mask, as you would paint it with the brush in the app,
and the video is propagated again from there. Frames you corrected are trusted (not flagged).
With your own ``--video`` there is no ground truth: it lists the flagged frames, writes the
quality report and saves the worst flagged frames as images for you to look at and correct.

Writes ``quality_before.json``, ``quality_after.json`` (``sam2studio.core.quality`` reports),
``flagged/frame_NNNN.png`` overlays and, with ``--video``, the project under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from sam2studio.core.quality import worst_flag
from sam2studio.core.synthetic import exit_reenter_clip, iou
from sam2studio.session import Session


def count(flags) -> int:
    return sum(len(v) for v in flags.values())


def save_overlay(session: Session, frame: int, obj: int, path: Path) -> None:
    rgb = session.video.get_frame(frame).copy()
    m = session.mask(frame, obj)
    if m is not None:
        rgb[m] = (0.5 * rgb[m] + 0.5 * np.array(session.objects[obj].color)).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=None, help="your own video (default: a generated clip)")
    ap.add_argument("--click", default=None, help="X,Y of the object on the first frame (with --video)")
    ap.add_argument("--rounds", type=int, default=3, help="corrections to make (default 3)")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-quality-"))
    out.mkdir(parents=True, exist_ok=True)

    clip = None
    if args.video is None:
        clip = exit_reenter_clip(seed=5)
        session = Session.open(clip.video(), engine=args.engine)
        click = clip.click(1, 0)
    else:
        session = Session.open(args.video, engine=args.engine)
        centre = f"{session.video.width / 2},{session.video.height / 2}"
        click = tuple(float(v) for v in (args.click or centre).split(","))
    with session as s:
        obj = s.add_object("target").id
        s.add_click(0, obj, *click)
        s.run(0, "forward")
        n = s.num_frames

        def accuracy() -> str:
            if clip is None:
                return ""
            miou = np.mean([iou(s.masks.get_or_empty(f, obj), clip.gt[obj][f]) for f in range(n)])
            return f", mIoU vs ground truth {miou:.3f}"

        flags = s.quality()  # keyframes (your corrections) are trusted
        s.export("quality", out / "quality_before.json")
        print(f"after propagation: {count(flags)} flagged frames{accuracy()}")
        if clip is None:
            ranked = sorted((d for fl in flags.values() for d in fl), key=lambda d: -d["severity"])[:5]
            for d in ranked:
                save_overlay(s, d["frame"], obj, out / "flagged" / f"frame_{d['frame']:04d}.png")
                print(f"  frame {d['frame']}: {d['message']}")
        else:
            for r in range(1, args.rounds + 1):
                w = worst_flag(flags)
                if w is None:
                    break
                o, flag = w
                f = flag["frame"]
                save_overlay(s, f, o, out / "flagged" / f"frame_{f:04d}.png")
                s.set_mask(f, o, clip.gt[o][f])  # the correction (what you would paint)
                s.run(f, "forward")  # propagate again from the corrected frame
                flags = s.quality()
                print(f"round {r}: corrected object {o} on frame {f} ({flag['message']}); "
                      f"now {count(flags)} flagged frames{accuracy()}")
        after = s.export("quality", out / "quality_after.json")
        project = s.save(out / "project.s2s") if clip is None else None
    summary = json.loads(after.read_text())
    print(f"wrote {out / 'quality_before.json'}")
    print(f"wrote {after} ({sum(o['flagged_frames'] for o in summary['objects'].values())} flagged frames)")
    print(f"wrote {out / 'flagged'}")
    if project is not None:
        print(f"wrote {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
