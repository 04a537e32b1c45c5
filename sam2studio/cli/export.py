"""``sam2studio export``: a saved project's masks, video effects, cuts or reports."""

from __future__ import annotations

from pathlib import Path

from .args import Progress, parse_options, plural


def add_parser(sub) -> None:
    exp = sub.add_parser("export", help="export a project's masks, video, cuts or report",
                         usage="sam2studio export PROJECT.s2s --format FORMAT --out PATH [options]",
                         description="Export a saved project in one of the formats below.")
    exp.add_argument("project", type=Path, help="a project file (.s2s)")
    exp.add_argument("--format", required=True,
                     help="export format: png, palette, davis, coco, youtube-vis, cvat-video, mots, yolo, npz, "
                          "report, quality, project, overlay, cutout, background, grade, blur, pixelate, "
                          "motionblur or cut")
    exp.add_argument("--out", type=Path, required=True, help="output file or folder")
    exp.add_argument("--objects", help="object ids to export, e.g. 1,3 (default: all)")
    exp.add_argument("--frames", help="frame range START:STOP, STOP exclusive (default: all)")
    exp.add_argument("--video", type=Path, help="the project's video, if it has moved")
    exp.add_argument("--quiet", action="store_true", help="no progress bars and no summary line")
    exp.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                     help="format option (e.g. -o opacity=0.6, -o color=#00ff00); repeatable")
    exp.add_argument("--smooth", action="store_true",
                     help="export temporally smoothed masks (less flicker; the project is not changed)")
    exp.add_argument("--skip-damaged", action="store_true",
                     help="export a project whose file has damaged masks (see 'sam2studio check'): those "
                          "frames are exported without a mask; without it such a project is refused")


def run(args) -> int:
    from ..export.formats import get_format, parse_objects
    from ..session import Session

    fmt = get_format(args.format)
    options = parse_options(args.option)
    objects = parse_objects(args.objects)
    with Progress(f"export {fmt.name}", None, args.quiet) as bar:
        path, n_obj, n_frames = Session.export_project(
            args.project, fmt.name, args.out, video=args.video, objects=objects, frames=args.frames,
            smooth=args.smooth, skip_damaged=args.skip_damaged, progress=bar, **options)
    if not args.quiet:
        print(f"export: {fmt.name} of {plural(n_obj, 'object')}, {plural(n_frames, 'frame')} -> {path}", flush=True)
    return 0
