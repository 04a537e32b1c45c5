"""Command-line interface: headless segmentation, exports and the model cache.

Exit codes: 0 success, 2 bad arguments or input (one clear line on stderr), 1 anything else.
Progress bars go to stderr, and only when stderr is a terminal and ``--quiet`` is not given.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import Cancelled, UserError

log = logging.getLogger("sam2studio")

SUBCOMMANDS = ("segment", "export", "models", "live", "batch")
# commands that live in their own modules: each has ``add_parser(subparsers)`` and ``run(args)``
COMMAND_MODULES = {"live": "sam2studio.live", "batch": "sam2studio.batch"}


class CliError(UserError):
    """Bad command-line arguments."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str):  # noqa: D102
        raise CliError(message)


# ---- prompt parsing ------------------------------------------------------------------------
@dataclass
class ClickArg:
    obj: int
    frame: int
    x: float
    y: float
    label: int = 1


@dataclass
class BoxArg:
    obj: int
    frame: int
    box: tuple[float, float, float, float]


@dataclass
class MaskArg:
    obj: int
    frame: int
    path: Path


def _int(text: str, what: str, spec: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise CliError(f"{flag} {spec!r}: {what} must be an integer, got {text!r}") from None


def _float(text: str, what: str, spec: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CliError(f"{flag} {spec!r}: {what} must be a number, got {text!r}") from None


def _obj_frame(parts: list[str], spec: str, flag: str) -> tuple[int, int]:
    obj = _int(parts[0], "OBJ", spec, flag)
    frame = _int(parts[1], "FRAME", spec, flag)
    if obj <= 0:
        raise CliError(f"{flag} {spec!r}: object ids are positive integers, got {obj}")
    if frame < 0:
        raise CliError(f"{flag} {spec!r}: frames start at 0, got {frame}")
    return obj, frame


def parse_click(spec: str) -> ClickArg:
    parts = spec.split(":")
    if len(parts) not in (4, 5):
        raise CliError(f"--click {spec!r} must be OBJ:FRAME:X:Y[:LABEL]")
    obj, frame = _obj_frame(parts, spec, "--click")
    x, y = (_float(v, n, spec, "--click") for v, n in zip(parts[2:4], "XY"))
    label = 1 if len(parts) == 4 else _int(parts[4], "LABEL", spec, "--click")
    if label not in (0, 1):
        raise CliError(f"--click {spec!r}: LABEL is 1 (positive) or 0 (negative), got {label}")
    return ClickArg(obj, frame, x, y, label)


def parse_box(spec: str) -> BoxArg:
    parts = spec.split(":")
    if len(parts) != 6:
        raise CliError(f"--box {spec!r} must be OBJ:FRAME:X0:Y0:X1:Y1")
    obj, frame = _obj_frame(parts, spec, "--box")
    box = tuple(_float(v, n, spec, "--box") for v, n in zip(parts[2:], ("X0", "Y0", "X1", "Y1")))
    return BoxArg(obj, frame, box)  # type: ignore[arg-type]


def parse_mask(spec: str) -> MaskArg:
    parts = spec.split(":", 2)
    if len(parts) != 3 or not parts[2]:
        raise CliError(f"--mask {spec!r} must be OBJ:FRAME:PATH")
    obj, frame = _obj_frame(parts, spec, "--mask")
    return MaskArg(obj, frame, Path(parts[2]))


def parse_name(spec: str) -> tuple[int, str]:
    obj, sep, name = spec.partition(":")
    if not sep or not name:
        raise CliError(f"--name {spec!r} must be OBJ:NAME")
    o = _int(obj, "OBJ", spec, "--name")
    if o <= 0:
        raise CliError(f"--name {spec!r}: object ids are positive integers, got {o}")
    return o, name


# ---- parser --------------------------------------------------------------------------------
def _add_engine_options(p: argparse.ArgumentParser) -> None:
    from .engines import ENGINE_NAMES

    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINE_NAMES, default="auto",
                   help="sam2 if a checkpoint is available, else the built-in classic engine (default)")
    g.add_argument("--model", default=None, help="SAM 2 model (default sam2.1-tiny); see 'sam2studio models list'")
    g.add_argument("--checkpoint", type=Path, help="a local SAM 2 checkpoint instead of the cache")
    g.add_argument("--weights", choices=("random",), default=None,
                   help="random-init SAM 2 for pipeline testing (its masks are meaningless)")
    g.add_argument("--seed", type=int, default=0, help="seed for --weights random (default 0)")
    g.add_argument("--image-size", type=int, default=None, help="model input size (default: the model's own, 1024)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    g.add_argument("--memory-budget", type=float, default=None, metavar="MB",
                   help="RAM for SAM 2's per-video state (default 2048); older frames spill to disk")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sam2studio", description="SAM2 Studio: interactive video object segmentation "
                     "on top of SAM 2. Without a command it opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"sam2studio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    seg = sub.add_parser("segment", help="segment and propagate headlessly, write PNG masks",
                         description="Segment objects from clicks, boxes or masks and propagate them through the video.")
    seg.add_argument("video", type=Path, help="video file, image folder or image")
    seg.add_argument("--out", type=Path, required=True, help="output folder for frame_NNNN_obj_ID.png and objects.json")
    seg.add_argument("--click", action="append", default=[], type=str, metavar="OBJ:FRAME:X:Y[:LABEL]",
                     help="a click; LABEL 1 = positive (default), 0 = negative; repeatable")
    seg.add_argument("--box", action="append", default=[], metavar="OBJ:FRAME:X0:Y0:X1:Y1", help="a box; repeatable")
    seg.add_argument("--mask", action="append", default=[], metavar="OBJ:FRAME:PATH",
                     help="start or correct an object from a PNG (palette index OBJ, else non-zero pixels)")
    seg.add_argument("--name", action="append", default=[], metavar="OBJ:NAME", help="label an object")
    seg.add_argument("--direction", choices=("both", "forward", "backward"), default="both")
    seg.add_argument("--start", type=int, default=None, help="frame to propagate from (default: the first prompted frame)")
    seg.add_argument("--project", type=Path, help="also save a project file the app can open")
    seg.add_argument("--quality-report", type=Path, metavar="FILE",
                     help="write per-object flagged frames (low confidence, drift, flicker) as JSON")
    seg.add_argument("--quality-threshold", action="append", default=[], metavar="KEY=VALUE",
                     help="a quality threshold for --quality-report: min_confidence (0.7), min_iou (0.8), "
                          "max_drift (50 px), min_area (100 px), max_area_change (1.0), min_appearance (0.6); "
                          "repeatable")
    seg.add_argument("--quiet", action="store_true", help="no progress bars")
    _add_engine_options(seg)

    exp = sub.add_parser("export", help="export a project's masks, video, cuts or report",
                         description="Export a saved project in one of the formats below.")
    exp.add_argument("project", type=Path, help="a project file (.s2s)")
    exp.add_argument("--format", required=True,
                     help="export format: png, palette, coco, yolo, npz, report, project, overlay, cutout, "
                          "background, grade, blur, pixelate, motionblur or cut")
    exp.add_argument("--out", type=Path, required=True, help="output file or folder")
    exp.add_argument("--objects", help="object ids to export, e.g. 1,3 (default: all)")
    exp.add_argument("--frames", help="frame range START:STOP, STOP exclusive (default: all)")
    exp.add_argument("--video", type=Path, help="the project's video, if it has moved")
    exp.add_argument("--quiet", action="store_true", help="no progress bars")
    exp.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                     help="format option (e.g. -o opacity=0.6, -o color=#00ff00); repeatable")
    exp.add_argument("--smooth", action="store_true",
                     help="export temporally smoothed masks (less flicker; the project is not changed)")

    models = sub.add_parser("models", help="list or download SAM 2 checkpoints")
    msub = models.add_subparsers(dest="models_command", parser_class=_Parser, required=True)
    msub.add_parser("list", help="the model catalogue and what is installed")
    dl = msub.add_parser("download", help="download a checkpoint into the cache")
    dl.add_argument("name", help="model name, e.g. sam2.1-tiny")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")

    import importlib

    for name, module in COMMAND_MODULES.items():
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            if exc.name != module:
                raise
            continue
        mod.add_parser(sub)
    return parser


# ---- progress ------------------------------------------------------------------------------
class Progress:
    """A tqdm bar on stderr, shown only on a terminal and without --quiet."""

    def __init__(self, desc: str, total: int | None, quiet: bool, unit: str = "frame") -> None:
        from tqdm import tqdm

        enabled = not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr,
                        dynamic_ncols=True, leave=False)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


# ---- commands ------------------------------------------------------------------------------
def _engine_options(args) -> dict:
    opts = {"model": args.model, "checkpoint": args.checkpoint, "seed": args.seed,
            "image_size": args.image_size, "device": args.device}
    if args.weights:
        opts["weights"] = args.weights
    if getattr(args, "memory_budget", None) is not None:
        if args.engine == "classic":
            raise CliError("--memory-budget is for the sam2 engine")
        opts["memory_budget_mb"] = args.memory_budget
    return opts


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "objects.json").exists():
        raise UserError(f"--out {out} is not empty; choose a new or empty folder (nothing was written)")
    parent = out.parent if not out.exists() else out
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write to {out}: permission denied")


def cmd_segment(args) -> int:
    from .core.video import open_video
    from .engines.base import validate_prompt, validate_target
    from .export.masks import export_png
    from .session import Session

    clicks = [parse_click(s) for s in args.click]
    boxes = [parse_box(s) for s in args.box]
    masks = [parse_mask(s) for s in args.mask]
    names = dict(parse_name(s) for s in args.name)
    if not (clicks or boxes or masks):
        raise CliError("give at least one --click, --box or --mask")
    thresholds = _quality_thresholds(args.quality_threshold)
    if args.weights and args.engine == "classic":
        raise CliError("--weights random is for the sam2 engine, not classic")
    _check_out_dir(args.out)
    if args.project is not None and args.project.is_dir():
        raise UserError(f"--project {args.project} is a folder; give a file name such as clip.s2s")

    video = open_video(args.video)
    # check every prompt against the video before the (slow) engine is built
    for c in clicks:
        validate_prompt(video, c.frame, c.obj, [(c.x, c.y)], [c.label])
    for b in boxes:
        validate_prompt(video, b.frame, b.obj, box=b.box)
    for m in masks:
        if not m.path.is_file():
            raise UserError(f"--mask file {m.path} does not exist")
        validate_target(video, m.frame, m.obj)

    session = Session.open(video, engine=args.engine, **_engine_options(args))
    ids = sorted({c.obj for c in clicks} | {b.obj for b in boxes} | {m.obj for m in masks} | set(names))
    for o in ids:
        session.add_object(names.get(o), obj_id=o)
    # group clicks and boxes per (frame, object): one prompt each
    grouped: dict[tuple[int, int], dict] = {}
    for c in clicks:
        g = grouped.setdefault((c.frame, c.obj), {"points": [], "labels": [], "box": None})
        g["points"].append((c.x, c.y))
        g["labels"].append(c.label)
    for b in boxes:
        grouped.setdefault((b.frame, b.obj), {"points": [], "labels": [], "box": None})["box"] = b.box
    for m in masks:
        session.add_mask_file(m.frame, m.obj, m.path)
    for (frame, obj), g in sorted(grouped.items()):
        session.set_points(frame, obj, g["points"], g["labels"], box=g["box"])

    prompted = [f for o in ids for f in session.keyframes(o)]
    start = args.start if args.start is not None else min(prompted)
    if not 0 <= start < len(video):
        raise UserError(f"--start {start} is out of range: the video has frames 0 to {len(video) - 1}")
    bar = Progress(f"propagate ({session.engine_name})", None, args.quiet)
    try:
        session.run(start, args.direction, progress=bar)
    finally:
        bar.close()
    bar = Progress("write masks", len(video), args.quiet)
    try:
        export_png(session.masks, session.objects, len(video), args.out, progress=bar)
    finally:
        bar.close()
    if args.project is not None:
        session.save(args.project)
    if args.quality_report is not None:
        from .core.quality import write_quality_report

        write_quality_report(session, args.quality_report, thresholds)
    session.close()
    return 0


def _parse_options(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-o {item!r} must be KEY=VALUE")
        out[key.strip().replace("-", "_")] = _coerce(value.strip())
    return out


def _quality_thresholds(items: list[str]):
    """``--quality-threshold KEY=VALUE`` items as QualityThresholds (checked before any work)."""
    from .core.quality import QualityThresholds

    values = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            values[key.strip().replace("-", "_")] = float(value)
        except ValueError:  # no "=", or not a number
            raise CliError(f"--quality-threshold {item!r} must be KEY=NUMBER") from None
    try:
        return QualityThresholds.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise CliError(f"--quality-threshold: {exc}") from None


def _coerce(value: str):
    """``-o`` values: integers and numbers as such, true/false as booleans, else text."""
    low = value.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def cmd_export(args) -> int:
    from .core.project import Project
    from .core.video import open_video
    from .export.formats import ExportJob, get_format, parse_frames, parse_objects

    fmt = get_format(args.format)
    project = Project.load(args.project)
    video = None
    if fmt.needs_video:
        video = open_video(args.video if args.video else project.locate_video())
    if args.smooth:
        from .core.smoothing import smoothed_project

        project = smoothed_project(project)
    job = ExportJob(project=project, out=args.out, video=video, object_ids=parse_objects(args.objects),
                    frames=parse_frames(args.frames, project.num_frames), options=_parse_options(args.option))
    bar = Progress(f"export {fmt.name}", project.num_frames, args.quiet)
    job.progress = bar
    try:
        fmt.run(job)
    finally:
        bar.close()
        if video is not None:
            video.close()
    return 0


def cmd_models(args) -> int:
    from .engines import models

    if args.models_command == "list":
        print(models.format_model_table())
        return 0
    info = models.get_model(args.name)
    bar = Progress(f"download {info.name}", info.size_bytes, args.quiet, unit="B")
    bar.bar.unit_scale = True
    try:
        path = models.download(info.name, progress=bar)
    finally:
        bar.close()
    print(path)
    return 0


COMMANDS = {"segment": cmd_segment, "export": cmd_export, "models": cmd_models}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"sam2(\.|$)")
    parser = build_parser()
    cancel = threading.Event()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if args.command in COMMAND_MODULES:
            import importlib

            return importlib.import_module(COMMAND_MODULES[args.command]).run(args)
        return COMMANDS[args.command](args)
    except UserError as exc:
        print(f"sam2studio: error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        cancel.set()
        print("sam2studio: cancelled", file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except Exception as exc:  # a bug: one line, the traceback only with SAM2STUDIO_DEBUG=1
        if os.environ.get("SAM2STUDIO_DEBUG"):
            raise
        print(f"sam2studio: internal error: {type(exc).__name__}: {exc} "
              "(set SAM2STUDIO_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
