"""Presence cut: keep only the parts of a video where an object is visible (the ball of the
cups game: seen at the start, then hidden under a cup; in a longer clip, seen again when the
cup is lifted).

    python examples/presence_cut.py                       # the whole cups clip
    python examples/presence_cut.py --frames 0:60         # quicker: only the first 2 s are looked at
    python examples/presence_cut.py --video clip.mp4 --click 320,240 --merge-gap 0.5 --min-span 0.3

The object is tracked from one click on the first frame; frames where it is hidden or gone
are absent (empty masks, the same object id when it comes back); specks are cleaned up first
(:func:`sam2studio.core.presence.clean_presence`). Writes ``cut.mp4`` (video and audio cut
together), ``cut.mp4.spans.json`` (the kept spans in source frames and seconds) and the
tracking report (``report.json``, with its enter / leave / re-emerge events) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sam2studio.core.presence import clean_presence
from sam2studio.core.tracks import presence_segments
from sam2studio.session import Session

SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "sample" / "cups.mp4"  # the bundled clip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE)
    ap.add_argument("--click", default="400,462", help="X,Y of the object on the first frame (default: the ball)")
    ap.add_argument("--name", default="ball")
    ap.add_argument("--frames", default=None, help="only track START:STOP (default: the whole video)")
    ap.add_argument("--merge-gap", type=float, default=0.5, help="join spans less than this many seconds apart")
    ap.add_argument("--min-span", type=float, default=0.2, help="drop spans shorter than this (seconds)")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-cut-"))
    x, y = (float(v) for v in args.click.split(","))

    with Session.open(args.video, engine=args.engine) as s:
        first, stop = 0, s.num_frames
        if args.frames:
            a, b = args.frames.split(":")
            first, stop = int(a or 0), min(s.num_frames, int(b or s.num_frames))
        obj = s.add_object(args.name).id
        s.add_click(first, obj, x, y)
        s.run(first, "forward", frame_range=(first, stop - 1))
        cleaned = clean_presence(s.masks, s.num_frames, keep={obj: s.keyframes(obj)})
        if cleaned[obj]:
            print(f"cleaned specks on frames {cleaned[obj]}")
        segs = presence_segments(s.masks.presence(obj, s.num_frames))
        fps = s.video.fps
        spans = ", ".join(f"{a}-{b} ({a / fps:.1f}-{(b + 1) / fps:.1f} s)" for a, b in segs)
        print(f"{args.name} is visible on {spans}")
        cut = s.export("cut", out / "cut.mp4", objects=[obj], merge_gap_s=args.merge_gap, min_span_s=args.min_span)
        report = s.export("report", out / "report.json")
    spans = json.loads((out / "cut.mp4.spans.json").read_text())
    print(f"wrote {cut} ({spans['kept_frames']} of {spans['num_frames']} frames, {spans['kept_seconds']} s: "
          + ", ".join(f"{r['first']}-{r['last']}" for r in spans["spans"]) + ")")
    print(f"wrote {out / 'cut.mp4.spans.json'}")
    events = [e for o in json.loads(report.read_text())["objects"] for e in o["events"]
              if e["type"] in ("enter", "leave", "re-emerge")]
    print(f"wrote {report} (presence events: " + ", ".join(f"{e['type']}@{e['frame']}" for e in events) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
