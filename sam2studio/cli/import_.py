"""``sam2studio import``: annotations made elsewhere (or exported here) into a project, to
correct and re-propagate them."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .args import CliError, parse_options

EXAMPLES = """examples:
  sam2studio import annotations.json --video clip.mp4 --project clip.s2s
      a COCO or YouTube-VIS file (detected) into a new project; each object's first frame
      becomes its keyframe
  sam2studio import task.xml --video clip.mp4 --project clip.s2s --keyframes auto
      a CVAT for video 1.1 export, keeping CVAT's keyframes as prompts
  sam2studio import 0002.txt --video 0002/ --project seq.s2s -o first_frame=1
      MOTSChallenge text (frames counted from 1) onto a folder of frames
"""


def add_parser(sub) -> None:
    from ..importers import KEYFRAME_CHOICES, import_format_names

    imp = sub.add_parser("import",
                         help="import annotations (COCO, YouTube-VIS, CVAT, MOTS, DAVIS, PNG, ...) into a project",
                         usage="sam2studio import SOURCE --video VIDEO --project OUT.s2s [options]",
                         description="Read masks, objects, names and classes from another tool's file or folder, "
                                     "check them against the video and save them as a project (or add them to one).",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("source", type=Path, help="the annotation file or folder")
    imp.add_argument("--video", type=Path, required=True, help="the video (file or image folder) they were made on")
    imp.add_argument("--project", type=Path, required=True,
                     help="the project to write (.s2s); an existing one on the same video is added to")
    imp.add_argument("--format", default="auto", choices=["auto", *import_format_names()],
                     help="the source's format (default auto: detected from its name and content)")
    imp.add_argument("--keyframes", default="auto", choices=KEYFRAME_CHOICES,
                     help="which imported masks become prompts: auto (default: the file's own keyframes, e.g. "
                          "CVAT's, else each object's first frame), all, first or none")
    imp.add_argument("--new-ids", action="store_true",
                     help="give the imported objects the next free ids (when the project already has theirs)")
    imp.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                     help="format option: first_frame=1 (MOTSChallenge), video_name=NAME (YouTube-VIS), "
                          "sequence=NAME or resolution=480p|full (DAVIS); repeatable")
    imp.add_argument("--quiet", action="store_true", help="no summary")


def run(args) -> int:
    from ..core.video import open_video
    from ..session import Session

    options = parse_options(args.option)
    project = args.project if args.project.suffix else args.project.with_suffix(".s2s")
    if project.is_dir():
        raise CliError(f"--project {project} is a folder; give a file name such as clip.s2s")
    if not args.source.exists():
        raise UserError(f"{args.source} does not exist")
    video = open_video(args.video)
    try:
        if project.exists():
            session = Session.load_project(project, engine="classic", video=video)
        else:
            session = Session.open(video, engine="classic")
    except BaseException:
        video.close()
        raise
    with session:
        found = session.read_annotations(args.source, args.format, **options)
        result = session.import_annotations(found, keyframes=args.keyframes, new_ids=args.new_ids)
        path = session.project.save(project)  # the project's own engine choice stays as it was
    if not args.quiet:
        print(found.describe())
        for note in result.notes[len(found.notes):]:
            print(f"  note: {note}")
        print(f"import: {result.describe()} -> {path}", flush=True)
    return 0
