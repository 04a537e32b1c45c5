"""``sam2studio segment``: prompts in, propagated PNG masks (and a project, a quality report) out."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from ..errors import UserError
from .args import USAGE_APP, CliError, Progress, add_engine_options, engine_options, plural

EXAMPLES = """examples:
  sam2studio segment clip.mp4 --out masks --click 1:0:320:240
      one object from a click on frame 0, propagated both ways; writes masks/frame_NNNN_obj_1.png
  sam2studio segment clip.mp4 --out masks --box 1:0:100:80:300:260 --click 2:40:500:200 \\
      --name 1:dog --name 2:ball --engine classic --project clip.s2s
      two named objects (a box and a click) with the built-in engine, saved as a project too
"""


def add_parser(sub) -> None:
    seg = sub.add_parser("segment", help="segment and propagate headlessly, write PNG masks",
                         usage="sam2studio segment VIDEO --out DIR [options]",
                         description="Segment objects from clicks, boxes or masks and propagate them through the "
                                     f"video. (Without a command, {USAGE_APP} opens the desktop app.)",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    seg.add_argument("video", type=Path, help="video file, image folder or image")
    seg.add_argument("--out", type=Path, required=True, help="output folder for frame_NNNN_obj_ID.png and objects.json")
    seg.add_argument("--click", action="append", default=[], type=str, metavar="OBJ:FRAME:X:Y[:LABEL]",
                     help="a click; LABEL 1 = positive (default), 0 = negative; repeatable")
    seg.add_argument("--box", action="append", default=[], metavar="OBJ:FRAME:X0:Y0:X1:Y1", help="a box; repeatable")
    seg.add_argument("--mask", action="append", default=[], metavar="OBJ:FRAME:PATH",
                     help="start or correct an object from a PNG (palette index OBJ, else non-zero pixels) "
                          "of the video's size")
    seg.add_argument("--mask-resize", action="store_true",
                     help="scale --mask PNGs whose size is an exact multiple of the video's (e.g. half "
                          "size); a mask of another aspect ratio is always refused")
    seg.add_argument("--name", action="append", default=[], metavar="OBJ:NAME", help="label an object")
    seg.add_argument("--category", action="append", default=[], metavar="OBJ:CLASS",
                     help="an object's class (e.g. 1:person), used by the exports with classes; repeatable")
    seg.add_argument("--direction", choices=("both", "forward", "backward"), default="both",
                     help="propagate from the start frame to the end (forward), to frame 0 (backward) "
                          "or both ways (default both)")
    seg.add_argument("--start", type=int, default=None,
                     help="frame to propagate from (default: the first prompted frame)")
    seg.add_argument("--project", type=Path, help="also save a project file the app can open")
    seg.add_argument("--quality-report", type=Path, metavar="FILE",
                     help="write per-object flagged frames (low confidence, drift, flicker) as JSON")
    seg.add_argument("--quality-threshold", action="append", default=[], metavar="KEY=VALUE",
                     help="a quality threshold for --quality-report: min_confidence (0.7), min_iou (0.8), "
                          "max_drift (50 px), min_area (100 px), max_area_change (1.0), min_appearance (0.6); "
                          "repeatable")
    seg.add_argument("--quiet", action="store_true", help="no progress bars and no summary line")
    add_engine_options(seg)


def quality_thresholds(items: list[str]) -> dict:
    """``--quality-threshold KEY=VALUE`` items, checked before any work."""
    from ..core.quality import QualityThresholds

    values = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            values[key.strip().replace("-", "_")] = float(value)
        except ValueError:  # no "=", or not a number
            raise CliError(f"--quality-threshold {item!r} must be KEY=NUMBER") from None
    try:
        QualityThresholds.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise CliError(f"--quality-threshold: {exc}") from None
    return values


def check_outputs(args, width: int, height: int, frames: int, objects: int) -> None:
    """Every output place, before a frame is decoded: --out (a new or empty folder, or earlier
    results), --project and --quality-report; each must be writable with room for its size."""
    from ..core.outputs import check_output, estimate_bytes

    out = args.out
    if out.is_dir() and any(out.iterdir()) and not (out / "objects.json").exists():
        raise UserError(f"--out {out} is not empty; choose a new or empty folder (nothing was written)")
    check_output(out, label="--out", directory=True,
                 need_bytes=estimate_bytes("masks", width, height, frames, objects))
    if args.project is not None:
        check_output(args.project, label="--project", directory=False,
                     need_bytes=estimate_bytes("project", width, height, frames, objects))
    if args.quality_report is not None:
        check_output(args.quality_report, label="--quality-report", directory=False)


def run(args) -> int:
    from ..core.lock import ProjectLock
    from ..core.outputs import StagedOutputs
    from ..core.project import PROJECT_SUFFIX
    from ..core.prompts import PromptSet
    from ..core.video import open_video
    from ..session import Session

    prompts = PromptSet.parse(args.click, args.box, args.mask, args.name, args.category)
    prompts.mask_resize = args.mask_resize
    if not prompts:
        raise CliError("give at least one --click, --box or --mask")
    thresholds = quality_thresholds(args.quality_threshold)
    options = engine_options(args)
    if args.project is not None and args.project.suffix == "":
        args.project = args.project.with_suffix(PROJECT_SUFFIX)

    video = open_video(args.video)
    with ExitStack() as stack:
        stack.callback(video.close)
        check_outputs(args, video.width, video.height, len(video), len(prompts.object_ids()))
        if args.project is not None:  # a second writer of the same project stops here, at once
            stack.enter_context(ProjectLock.acquire(args.project))
        session = stack.enter_context(Session.open(video, engine=args.engine, prompts=prompts, start=args.start,
                                                   cli_flags=True, **options))
        with Progress(f"propagate ({session.engine_name})", None, args.quiet) as bar:
            session.segment(prompts, args.start, args.direction, progress=bar)
        # everything is written under temporary names and moved into place only when all of
        # it is written: the masks folder (with objects.json) last
        written = []
        with StagedOutputs() as staged:
            project_tmp = staged.stage(args.project) if args.project is not None else None
            report_tmp = staged.stage(args.quality_report) if args.quality_report is not None else None
            out_tmp = staged.stage(args.out, directory=True)
            with Progress("write masks", session.num_frames, args.quiet) as bar:
                session.export("png", out_tmp, progress=bar)
            if project_tmp is not None:
                session.project.settings["engine"] = session.engine_name
                session.project.save_copy(project_tmp)
                written.append(str(args.project))
            if report_tmp is not None:
                session.export("quality", report_tmp, thresholds=thresholds)
                written.append(str(args.quality_report))
        written.insert(0, f"{args.out}/")
        if not args.quiet:
            print(f"segment: {plural(len(session.objects), 'object')}, {plural(session.num_frames, 'frame')} "
                  f"({session.engine_name} engine) -> {', '.join(written)}", flush=True)
    return 0
