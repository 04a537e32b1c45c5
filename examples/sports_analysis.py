"""Sports analysis: track players and the ball, then read their speeds and movement events
(starts/stops moving, direction changes, entering/leaving) from the tracking report.

    python examples/sports_analysis.py                          # the bundled cups game, 4 s
    python examples/sports_analysis.py --px-per-metre 2000      # speeds in m/s too (a cup is ~9 cm, ~180 px wide)
    python examples/sports_analysis.py --video match.mp4 --box "keeper:10,20,80,200" --box "ball:300,200,330,230"

Writes the full tracking report (``report.json``: per-frame centroids, boxes, speeds, events
and quality flags; schema in resources/schemas/tracking_report.schema.json) and a summary per
tracked object (``players.json``: time on screen, distance, average and top speed, events)
under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from sam2studio.core.quality import assess, report_flags
from sam2studio.export.report import export_report
from sam2studio.session import Session

SAMPLE = Path(__file__).resolve().parent.parent / "resources" / "sample" / "cups.mp4"  # the bundled clip
#: the bundled clip is a cups game: the cup in the player's hand, a cup on the table and the ball
DEFAULT_BOXES = ["lifted cup:260,0,440,200", "middle cup:570,290,740,540", "ball:363,424,437,503"]


def parse_box(spec: str) -> tuple[str, tuple[float, ...]]:
    name, _, coords = spec.rpartition(":")
    box = tuple(float(v) for v in coords.split(","))
    if len(box) != 4:
        raise SystemExit(f"--box {spec!r} must be NAME:X0,Y0,X1,Y1")
    return name or "object", box


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=SAMPLE)
    ap.add_argument("--box", action="append", default=None, metavar="NAME:X0,Y0,X1,Y1",
                    help="an object to track, boxed on the first frame (default: two cups and the ball)")
    ap.add_argument("--frames", default="0:120", help="frame range START:STOP (default 0:120)")
    ap.add_argument("--px-per-metre", type=float, default=None, help="image scale, for speeds in m/s")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-sports-"))
    out.mkdir(parents=True, exist_ok=True)

    with Session.open(args.video, engine=args.engine) as s:
        a, b = args.frames.split(":")
        first, last = int(a or 0), min(s.num_frames, int(b or s.num_frames)) - 1
        for spec in args.box or DEFAULT_BOXES:
            name, box = parse_box(spec)
            obj = s.add_object(name)
            s.set_box(first, obj.id, box)
        s.run(first, "forward", frame_range=(first, last))
        # frames worth a look before trusting the speeds go into the report as quality flags
        flags = assess(s.masks, last + 1, video=s.video)
        p = s.project
        # the report covers the frames up to the last one tracked (later ones were not looked at)
        report_path = export_report(p.masks, p.objects, last + 1, p.fps, out / "report.json",
                                    video_name=args.video.name, width=p.width, height=p.height,
                                    quality=report_flags(flags))
        project = s.save(out / "project.s2s")

    report = json.loads(report_path.read_text())
    fps = report["video"]["fps"]
    players = []
    for ob in report["objects"]:
        speeds = [fr["speed_px_per_s"] for fr in ob["frames"]]
        row = {
            "id": ob["id"], "name": ob["name"],
            "on_screen_s": round(len(ob["frames"]) / fps, 3),
            "distance_px": ob["total_distance_px"],
            "average_speed_px_per_s": ob["average_speed_px_per_s"],
            "top_speed_px_per_s": max(speeds) if speeds else 0.0,
            "events": [{k: e[k] for k in ("type", "frame", "time")} for e in ob["events"]],
            "flagged_frames": sorted({q["frame"] for q in ob["quality_flags"] if "frame" in q}),
        }
        if args.px_per_metre:
            for k in ("average_speed", "top_speed"):
                row[f"{k}_m_per_s"] = round(row[f"{k}_px_per_s"] / args.px_per_metre, 3)
        players.append(row)
        kinds = {}
        for e in row["events"]:
            kinds[e["type"]] = kinds.get(e["type"], 0) + 1
        print(f"{row['name']}: on screen {row['on_screen_s']} s, {row['distance_px']:.0f} px travelled, "
              f"average {row['average_speed_px_per_s']:.0f} px/s, top {row['top_speed_px_per_s']:.0f} px/s; "
              "events: " + (", ".join(f"{n} x {k}" for k, n in kinds.items()) or "none"))
    summary = out / "players.json"
    summary.write_text(json.dumps({"video": report["video"], "frames": [first, last], "players": players},
                                  indent=1) + "\n", encoding="utf-8")
    print(f"wrote {report_path}")
    print(f"wrote {summary}")
    print(f"wrote {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
