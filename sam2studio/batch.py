"""Batch runs: segment many videos from a manifest, on local worker processes or a Ray cluster.

``sam2studio batch MANIFEST --out DIR`` reads a manifest (``.jsonl`` or ``.csv``) that lists
videos with their prompts, engine options and the exports wanted, and gives every video its
own folder ``DIR/<id>/``::

    DIR/<id>/masks/                  frame_NNNN_obj_ID.png + objects.json (the segment contract)
    DIR/<id>/project.s2s             the project, openable in the app
    DIR/<id>/<export>                coco.json, palette/, overlay.mp4, quality.json, ...
    DIR/<id>/_DONE                   JSON status, present only in a finished folder
    DIR/batch_summary.json           every video's status after the last run

Each video is written under a hidden temporary name (``DIR/.<id>.tmp-XXXXXXXX``) and renamed
to ``DIR/<id>`` only when everything in it, its ``_DONE`` status included, is written: a
folder ``DIR/<id>`` with ``_DONE`` is finished, anything else is not. A re-run skips the
finished videos (unless their manifest entry changed, or ``--force``), retries the failed
ones and removes temporary folders left by an interrupted run.

Videos run in worker processes (one crash never takes the others down) or as Ray tasks
(``--ray``). The manifest format is described in ``docs/batch.md``.

Public API: :func:`load_manifest` (→ :class:`Job` list), :func:`run_job` (one video, atomic),
:func:`run_batch` (many, local or Ray, → :class:`JobResult` list), :func:`default_workers`,
:func:`format_summary`, and the CLI hooks :func:`add_parser` / :func:`run`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .errors import UserError

log = logging.getLogger("sam2studio.batch")

#: the file in a finished video folder (JSON status); written before the folder gets its name
DONE_MARKER = "_DONE"
#: every video's status after the last run, in the --out folder
SUMMARY_FILE = "batch_summary.json"
LOCK_FILE = ".batch.lock"
MASKS_DIR = "masks"
PROJECT_FILE = "project.s2s"
#: test-only: JSON ``{"<id>": {"sleep": seconds, "crash": true}}``; a job sleeps before it
#: is marked done, or its worker kills itself (SIGKILL) after propagating
TEST_HOOK_ENV = "SAM2STUDIO_BATCH_TEST_HOOK"

MANIFEST_KEYS = ("id", "video", "clicks", "boxes", "masks", "names", "engine", "model", "checkpoint",
                 "weights", "seed", "image_size", "device", "memory_budget", "direction", "start", "exports")
_ALIASES = {"click": "clicks", "box": "boxes", "mask": "masks", "name": "names", "export": "exports",
            "image-size": "image_size", "memory-budget": "memory_budget", "path": "video", "file": "video"}
_LIST_KEYS = ("clicks", "boxes", "masks", "names", "exports")
ENGINE_OPTION_KEYS = ("engine", "model", "checkpoint", "weights", "seed", "image_size", "device", "memory_budget")
DEVICES = ("auto", "cpu", "cuda", "mps")
DIRECTIONS = ("both", "forward", "backward")
_RESERVED = {MASKS_DIR, PROJECT_FILE, DONE_MARKER, SUMMARY_FILE, LOCK_FILE}
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_LEFTOVER_RE = re.compile(r"\.(?P<key>.+)\.(?P<kind>tmp|old)-[0-9a-f]{8}")
_RAY_INSTALL = "--ray needs Ray, which is not installed: pip install 'sam2studio[ray]'"


class ManifestError(UserError):
    """A manifest that cannot be read; the message names the file and line."""


# ==== the job model ========================================================================
@dataclass
class ExportSpec:
    """One export of one video: a registry format (or ``quality``) into ``DIR/<id>/<out>``."""

    format: str
    out: str
    options: dict = field(default_factory=dict)
    objects: list[int] | None = None
    frames: str | None = None  # "START:STOP" (STOP exclusive) or "N"; checked against the video

    def to_json(self) -> dict:
        return {"format": self.format, "out": self.out, "options": self.options,
                "objects": self.objects, "frames": self.frames}


@dataclass
class Job:
    """One video of a batch: everything a worker needs, picklable, paths absolute."""

    key: str  # output folder name under --out
    video: str
    line: int = 0  # manifest line (for messages)
    clicks: list = field(default_factory=list)  # cli.ClickArg
    boxes: list = field(default_factory=list)  # cli.BoxArg
    masks: list = field(default_factory=list)  # cli.MaskArg (absolute paths)
    names: dict[int, str] = field(default_factory=dict)
    engine: str = "auto"
    model: str | None = None
    checkpoint: str | None = None
    weights: str | None = None
    seed: int = 0
    image_size: int | None = None
    device: str = "auto"
    memory_budget: float | None = None  # MB of RAM for SAM 2's per-video state
    direction: str = "both"
    start: int | None = None
    exports: list[ExportSpec] = field(default_factory=list)

    def engine_options(self) -> dict:
        """Keyword arguments for :meth:`Session.open` (the same as ``segment``'s)."""
        opts = {"model": self.model, "checkpoint": None if self.checkpoint is None else Path(self.checkpoint),
                "seed": self.seed, "image_size": self.image_size, "device": self.device}
        if self.weights:
            opts["weights"] = self.weights
        if self.memory_budget is not None:
            opts["memory_budget_mb"] = self.memory_budget
        return opts

    def spec(self) -> dict:
        """What the results depend on (not the manifest line): compared on a re-run."""
        return {
            "video": self.video,
            "clicks": [f"{c.obj}:{c.frame}:{c.x!r}:{c.y!r}:{c.label}" for c in self.clicks],
            "boxes": [f"{b.obj}:{b.frame}:" + ":".join(repr(v) for v in b.box) for b in self.boxes],
            "masks": [f"{m.obj}:{m.frame}:{m.path}" for m in self.masks],
            "names": {str(k): v for k, v in sorted(self.names.items())},
            "engine": self.engine, "model": self.model, "checkpoint": self.checkpoint,
            "weights": self.weights, "seed": self.seed, "image_size": self.image_size,
            "device": self.device, "memory_budget": self.memory_budget, "direction": self.direction,
            "start": self.start,
            "exports": [e.to_json() for e in self.exports],
        }

    def fingerprint(self) -> str:
        data = json.dumps(self.spec(), sort_keys=True, default=str).encode()
        return hashlib.sha256(data).hexdigest()[:16]

    def object_ids(self) -> list[int]:
        return sorted({c.obj for c in self.clicks} | {b.obj for b in self.boxes}
                      | {m.obj for m in self.masks} | set(self.names))


@dataclass
class JobResult:
    """How one video of a batch went: ``done``, ``failed``, ``skipped`` or ``cancelled``."""

    key: str
    video: str
    line: int
    status: str
    seconds: float = 0.0
    reason: str = ""  # one line, for failed / skipped
    frames: int = 0
    objects: int = 0
    outputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    detail: str = ""  # the traceback of an unexpected error

    def to_json(self) -> dict:
        return asdict(self)


# ==== manifest =============================================================================
def load_manifest(path: str | os.PathLike, defaults: dict | None = None) -> list[Job]:
    """Read a ``.jsonl`` / ``.ndjson`` or ``.csv`` manifest into jobs.

    Relative paths (videos, mask prompts, checkpoints, background images) resolve against
    the manifest's folder. ``defaults`` gives engine options (``engine``, ``model``, ...) for
    entries that do not set them. Raises :class:`ManifestError` (a :class:`UserError`) with
    "<manifest> line N: ..." for anything wrong.
    """
    path = Path(path)
    label = path.name
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist" if not path.exists()
                            else f"manifest {path} is not a file")
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".csv"):
        raise ManifestError(f"manifest {label}: unknown format {path.suffix or '(no extension)'!r}; "
                            "give a .jsonl or .csv file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"manifest {label} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    records = _read_csv(text, label) if suffix == ".csv" else _read_jsonl(text, label)
    if not records:
        raise ManifestError(f"manifest {label} lists no videos")
    base = path.resolve().parent
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for line, rec in records:
        job = _job_from_record(rec, line, label, base, defaults or {}, csv_cells=suffix == ".csv")
        if job.key.lower() in seen:
            raise ManifestError(f"{label} line {line}: output folder {job.key!r} is already used by line "
                                f"{seen[job.key.lower()]}; give one of them another \"id\"")
        seen[job.key.lower()] = line
        jobs.append(job)
    return jobs


def _read_jsonl(text: str, label: str) -> list[tuple[int, dict]]:
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#") or s.startswith("//"):
            continue
        try:
            rec = json.loads(s)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{label} line {n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(rec, dict):
            raise ManifestError(f"{label} line {n}: each line must be a JSON object "
                                f"like {{\"video\": \"clip.mp4\", \"clicks\": [\"1:0:320:240\"]}}")
        out.append((n, rec))
    return out


def _read_csv(text: str, label: str) -> list[tuple[int, dict]]:
    # comment lines (#...) become blank lines so that line numbers stay right
    lines = ["\n" if ln.lstrip().startswith("#") else ln for ln in text.splitlines(keepends=True)]
    reader = csv.reader(io.StringIO("".join(lines)))
    header: list[str] | None = None
    out = []
    try:
        for row in reader:
            if not any(c.strip() for c in row):
                continue
            if header is None:
                header = [_canonical_key(c.strip().lower()) for c in row]
                unknown = [c for c in header if c and c not in MANIFEST_KEYS]
                if unknown:
                    raise ManifestError(f"{label} line {reader.line_num}: unknown column {unknown[0]!r}; "
                                        f"columns are {', '.join(MANIFEST_KEYS)}")
                if "video" not in header:
                    raise ManifestError(f"{label} line {reader.line_num}: the header has no 'video' column "
                                        f"(the first line names the columns: {', '.join(MANIFEST_KEYS)})")
                dup = [c for c in header if c and header.count(c) > 1]
                if dup:
                    raise ManifestError(f"{label} line {reader.line_num}: column {dup[0]!r} appears twice; "
                                        "put several values in one cell, separated by ';'")
                continue
            if len(row) > len(header):
                raise ManifestError(f"{label} line {reader.line_num}: {len(row)} cells but the header "
                                    f"has {len(header)} columns (quote cells that contain commas)")
            rec = {k: v for k, v in zip(header, row) if k and v.strip()}
            out.append((reader.line_num, rec))
    except csv.Error as exc:
        raise ManifestError(f"{label} line {reader.line_num}: {exc}") from None
    if header is None:
        raise ManifestError(f"manifest {label} is empty: its first line names the columns, e.g. video,clicks,exports")
    return out


def _canonical_key(key: str) -> str:
    return _ALIASES.get(key, key)


def _job_from_record(rec: dict, line: int, label: str, base: Path, defaults: dict, csv_cells: bool) -> Job:
    from .cli import CliError, parse_box, parse_click, parse_mask, parse_name

    where = f"{label} line {line}"

    def fail(msg: str):
        raise ManifestError(f"{where}: {msg}")

    rec = {_canonical_key(str(k).strip().lower()): v for k, v in rec.items()}
    unknown = [k for k in rec if k not in MANIFEST_KEYS]
    if unknown:
        fail(f"unknown field {unknown[0]!r}; fields are {', '.join(MANIFEST_KEYS)}")

    def text(key: str) -> str | None:
        v = rec.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            fail(f"{key} must be text, got {json.dumps(v)}")
        s = str(v).strip()
        return s or None

    def integer(key: str) -> int | None:
        v = rec.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
            fail(f"{key} must be an integer, got {json.dumps(v)}")
        try:
            return int(v)
        except (TypeError, ValueError):
            fail(f"{key} must be an integer, got {v!r}")

    def items(key: str) -> list:
        v = rec.get(key)
        if v is None:
            return []
        if isinstance(v, str):
            return [s.strip() for s in v.split(";") if s.strip()] if csv_cells else ([v.strip()] if v.strip() else [])
        if isinstance(v, list):
            return v
        if key == "names" and isinstance(v, dict):
            return [f"{k}:{n}" for k, n in v.items()]
        fail(f"{key} must be a list of strings, got {json.dumps(v)}")

    def strings(key: str) -> list[str]:
        out = []
        for s in items(key):
            if not isinstance(s, str):
                fail(f"{key} must be a list of strings like \"1:0:320:240\", got {json.dumps(s)}")
            out.append(s.strip())
        return out

    def number(key: str) -> float | None:
        v = rec.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        try:
            if isinstance(v, bool):
                raise ValueError
            return float(v)
        except (TypeError, ValueError):
            fail(f"{key} must be a number, got {json.dumps(v) if not isinstance(v, str) else repr(v)}")

    def resolve(p: str | Path) -> Path:
        p = Path(os.path.expanduser(str(p)))
        return p if p.is_absolute() else (base / p).resolve()

    video = text("video")
    if video is None:
        fail("no video: every entry needs a \"video\" (a file, image folder or image)")
    video_path = resolve(video)

    try:
        clicks = [parse_click(s) for s in strings("clicks")]
        boxes = [parse_box(s) for s in strings("boxes")]
        masks = [parse_mask(s) for s in strings("masks")]
        names = dict(parse_name(s) for s in strings("names"))
    except CliError as exc:
        fail(str(exc))
    for m in masks:
        m.path = resolve(m.path)
    if not (clicks or boxes or masks):
        fail("no prompt: give at least one click, box or mask")

    key = text("id")
    if key is not None:
        if not _KEY_RE.fullmatch(key) or key in _RESERVED:
            fail(f"id {key!r} must be a folder name of letters, digits, '.', '_', '+' or '-' "
                 "(not starting with '.')")
    else:
        stem = video_path.stem if video_path.suffix else video_path.name
        key = re.sub(r"[^A-Za-z0-9._+-]+", "_", stem).lstrip("._-") or f"video_{line}"
        if key in _RESERVED:
            key = f"video_{key}"

    opts = {k: defaults.get(k) for k in ENGINE_OPTION_KEYS}
    for k in ("engine", "model", "checkpoint", "weights", "device"):
        if text(k) is not None:
            opts[k] = text(k)
    for k in ("seed", "image_size"):
        if integer(k) is not None:
            opts[k] = integer(k)
    if number("memory_budget") is not None:
        opts["memory_budget"] = number("memory_budget")
    from .engines import ENGINE_NAMES

    engine = opts.get("engine") or "auto"
    if engine not in ENGINE_NAMES:
        fail(f"engine {engine!r} is unknown; engines: {', '.join(ENGINE_NAMES)}")
    device = opts.get("device") or "auto"
    if device not in DEVICES:
        fail(f"device {device!r} is unknown; devices: {', '.join(DEVICES)}")
    weights = opts.get("weights") or None
    if weights not in (None, "random"):
        fail(f"weights {weights!r}: the only value is 'random' (testing), or leave it out")
    if weights and engine == "classic":
        fail("weights 'random' is for the sam2 engine, not classic")
    if opts.get("image_size") is not None and int(opts["image_size"]) <= 0:
        fail(f"image_size must be positive, got {opts['image_size']}")
    budget = opts.get("memory_budget")
    if budget is not None:
        if engine == "classic":
            fail("memory_budget is for the sam2 engine, not classic")
        if float(budget) <= 0:
            fail(f"memory_budget must be positive (MB), got {budget:g}")
    checkpoint = opts.get("checkpoint")
    direction = text("direction") or "both"
    if direction not in DIRECTIONS:
        fail(f"direction {direction!r} must be one of {', '.join(DIRECTIONS)}")
    start = integer("start")
    if start is not None and start < 0:
        fail(f"start {start}: frames start at 0")

    exports = [_parse_export(item, fail, resolve) for item in items("exports")]
    used: dict[str, str] = {}
    for e in exports:
        if e.out in used:
            fail(f"exports {used[e.out]!r} and {e.format!r} both write {e.out!r}; give one of them out=NAME")
        used[e.out] = e.format
    exports = [e for e in exports if e.out not in (MASKS_DIR, PROJECT_FILE)]  # always written

    return Job(key=key, video=str(video_path), line=line, clicks=clicks, boxes=boxes, masks=masks, names=names,
               engine=engine, model=opts.get("model") or None,
               checkpoint=None if not checkpoint else str(resolve(checkpoint)), weights=weights,
               seed=int(opts.get("seed") or 0), image_size=opts.get("image_size"), device=device,
               memory_budget=None if budget is None else float(budget), direction=direction, start=start,
               exports=exports)


def _export_formats() -> list[str]:
    from .export.formats import format_names

    return format_names() + ["quality"]


def _parse_export(item, fail: Callable[[str], None], resolve: Callable) -> ExportSpec:
    """``"coco"``, ``"overlay opacity=0.6 out=preview.mp4"`` or ``{"format": ..., "options": {...}}``."""
    from .cli import _coerce

    if isinstance(item, str):
        try:
            tokens = shlex.split(item)
        except ValueError as exc:
            fail(f"export {item!r}: {exc}")
        if not tokens:
            fail("an empty export")
        fmt_name, rest = tokens[0], tokens[1:]
        spec: dict = {"format": fmt_name, "options": {}}
        for tok in rest:
            k, sep, v = tok.partition("=")
            if not sep or not k:
                fail(f"export {item!r}: {tok!r} must be KEY=VALUE (e.g. \"overlay opacity=0.6\")")
            k = k.strip().replace("-", "_")
            if k in ("out", "objects", "frames"):
                spec[k] = v
            else:
                spec["options"][k] = _coerce(v.strip())
    elif isinstance(item, dict):
        spec = dict(item)
        bad = sorted(set(spec) - {"format", "out", "objects", "frames", "options"})
        if bad:
            fail(f"export {json.dumps(item)}: unknown key {bad[0]!r}; keys: format, out, objects, frames, options")
        if not isinstance(spec.get("format"), str):
            fail(f"export {json.dumps(item)} needs a \"format\"")
        if not isinstance(spec.get("options", {}), dict):
            fail(f"export {json.dumps(item)}: options must be an object like {{\"opacity\": 0.6}}")
        spec["options"] = {str(k).replace("-", "_"): v for k, v in (spec.get("options") or {}).items()}
    else:
        fail(f"exports must be strings like \"coco\" or objects like {{\"format\": \"coco\"}}, "
             f"got {json.dumps(item)}")
    name = spec["format"].strip().lower()
    formats = _export_formats()
    if name not in formats:
        fail(f"unknown export format {name!r}; formats: {', '.join(formats)}")
    if name == "quality" and spec["options"]:
        fail("export 'quality' takes no options")

    objects = spec.get("objects")
    if objects is not None:
        try:
            if isinstance(objects, str):
                objects = [int(t) for t in objects.replace(" ", "").split(",") if t]
            objects = [int(o) for o in objects]
        except (TypeError, ValueError):
            fail(f"export {name}: objects must be object ids such as 1,3, got {json.dumps(spec.get('objects'))}")
        if not objects or any(o <= 0 for o in objects):
            fail(f"export {name}: object ids are positive integers")
    frames = spec.get("frames")
    if frames is not None:
        frames = str(frames).strip()
        if not re.fullmatch(r"\d*:\d*|\d+", frames):
            fail(f"export {name}: frames must look like START:STOP (e.g. 0:100), got {frames!r}")

    out = spec.get("out")
    if out is None:
        out = _default_export_name(name)
    out = str(out).strip()
    if (not out or out.startswith(".") or "/" in out or "\\" in out or out in (DONE_MARKER,)
            or (out in (MASKS_DIR, PROJECT_FILE) and name not in ("png", "project"))):
        fail(f"export {name}: out={out!r} must be a plain file or folder name inside the video's folder "
             f"(not {MASKS_DIR}, {PROJECT_FILE} or {DONE_MARKER})")
    options = dict(spec.get("options") or {})
    for k in ("image", "video"):  # background image / video: relative to the manifest too
        if isinstance(options.get(k), str) and options[k]:
            options[k] = str(resolve(options[k]))
    return ExportSpec(name, out, options, objects, frames)


def _default_export_name(name: str) -> str:
    """``png`` → masks (always written), ``project`` → project.s2s, folders by name, files
    as name + suffix (``coco.json``, ``overlay.mp4``)."""
    if name == "png":
        return MASKS_DIR
    if name == "project":
        return PROJECT_FILE
    if name == "quality":
        return "quality.json"
    from .export.formats import get_format

    fmt = get_format(name)
    return name if fmt.output == "folder" else name + fmt.output


# ==== one video ============================================================================
ProgressCb = Callable[[str, int, int], None]  # (stage, done, total)


def run_job(job: Job, out: str | os.PathLike, progress: ProgressCb | None = None) -> JobResult:
    """Segment one video into ``out/<key>/``, atomically; returns a ``done`` result.

    Everything is written into ``out/.<key>.tmp-XXXXXXXX`` first; the ``_DONE`` status goes
    in last and the folder is then renamed to ``out/<key>`` (an older finished folder of the
    same key is replaced). On any error the temporary folder is removed and the exception
    propagates: nothing under ``out/<key>`` changes.
    """
    out = Path(out)
    final = out / job.key
    if final.exists() and not (final / DONE_MARKER).is_file():
        raise UserError(f"{final} exists but is not a finished batch output; move it away or give the "
                        "video another id")
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{job.key}.tmp-{secrets.token_hex(4)}"
    tmp.mkdir()
    warnings_seen: list[str] = []
    try:
        with _capture_warnings(warnings_seen):
            info = _segment_into(job, tmp, progress)
        hook = _test_hook(job.key)
        if hook.get("sleep"):
            time.sleep(float(hook["sleep"]))
        result = JobResult(job.key, job.video, job.line, "done", round(time.monotonic() - t0, 3),
                           frames=info["frames"], objects=info["objects"],
                           outputs=sorted(p.name for p in tmp.iterdir()) + [DONE_MARKER],
                           warnings=warnings_seen)
        marker = {"status": "done", "key": job.key, "video": job.video, "line": job.line,
                  "fingerprint": job.fingerprint(), "spec": job.spec(), "engine": info["engine"],
                  "device": info["device"], "frames": info["frames"], "objects": info["objects"],
                  "seconds": result.seconds, "outputs": result.outputs, "warnings": warnings_seen,
                  "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "host": _hostname(),
                  "sam2studio": __version__}
        _write_json(tmp / DONE_MARKER, marker)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _segment_into(job: Job, folder: Path, progress: ProgressCb | None) -> dict:
    """``sam2studio segment`` (same order of prompts, same start) + project + exports."""
    from .core.video import open_video
    from .engines.base import validate_prompt, validate_target
    from .export.masks import export_png
    from .session import Session

    def report(stage: str):
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    video = open_video(job.video)
    session = None
    try:
        for c in job.clicks:
            validate_prompt(video, c.frame, c.obj, [(c.x, c.y)], [c.label])
        for b in job.boxes:
            validate_prompt(video, b.frame, b.obj, box=b.box)
        for m in job.masks:
            if not Path(m.path).is_file():
                raise UserError(f"mask file {m.path} does not exist")
            validate_target(video, m.frame, m.obj)
        if job.start is not None and not 0 <= job.start < len(video):
            raise UserError(f"start {job.start} is out of range: the video has frames 0 to {len(video) - 1}")
        if progress is not None:
            progress("load", 0, 0)
        _fresh_process_state()
        session = Session.open(video, engine=job.engine, **job.engine_options())
        ids = job.object_ids()
        for o in ids:
            session.add_object(job.names.get(o), obj_id=o)
        grouped: dict[tuple[int, int], dict] = {}
        for c in job.clicks:
            g = grouped.setdefault((c.frame, c.obj), {"points": [], "labels": [], "box": None})
            g["points"].append((c.x, c.y))
            g["labels"].append(c.label)
        for b in job.boxes:
            grouped.setdefault((b.frame, b.obj), {"points": [], "labels": [], "box": None})["box"] = b.box
        for m in job.masks:
            session.add_mask_file(m.frame, m.obj, m.path)
        for (frame, obj), g in sorted(grouped.items()):
            session.set_points(frame, obj, g["points"], g["labels"], box=g["box"])

        prompted = [f for o in ids for f in session.keyframes(o)]
        start = job.start if job.start is not None else min(prompted)
        session.run(start, job.direction, progress=report("propagate"))
        if _test_hook(job.key).get("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        export_png(session.masks, session.objects, len(video), folder / MASKS_DIR, progress=report("masks"))
        session.save(folder / PROJECT_FILE)
        for spec in job.exports:
            _export(session, spec, folder / spec.out, report(spec.format))
        return {"frames": len(video), "objects": len(session.objects), "engine": session.engine_name,
                "device": str(session.device)}
    finally:
        if session is not None:
            session.close()
        else:
            video.close()


def _fresh_process_state() -> None:
    """Reset OpenCV's random generator (GrabCut's k-means draws from it, per thread) to the
    state of a new process: a video then gets the masks of a single ``segment`` run, whatever
    the worker ran before it."""
    with contextlib.suppress(Exception):
        import cv2

        cv2.setRNGSeed(0)  # 0 gives OpenCV's default initial state (0xffffffff)


def _export(session, spec: ExportSpec, target: Path, progress) -> None:
    if spec.format == "quality":
        from .core.quality import write_quality_report

        write_quality_report(session, target, progress=progress)
        return
    from .export.formats import parse_frames

    try:
        session.export(spec.format, target, objects=spec.objects,
                       frames=parse_frames(spec.frames, session.num_frames), progress=progress, **spec.options)
    except UserError as exc:
        raise UserError(f"export {spec.format}: {exc}") from exc


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` folder to ``final`` (replacing an older finished one)."""
    from .export.common import replace_path

    replace_path(tmp, final)


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
            fh.flush()
            with contextlib.suppress(OSError):
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _hostname() -> str:
    import socket

    with contextlib.suppress(OSError):
        return socket.gethostname()
    return ""  # pragma: no cover


def _test_hook(key: str) -> dict:
    raw = os.environ.get(TEST_HOOK_ENV)
    if not raw:
        return {}
    try:
        return dict(json.loads(raw).get(key) or {})
    except (ValueError, AttributeError, TypeError):
        return {}


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            msg = record.getMessage()
            if msg not in self.sink:
                self.sink.append(msg)


@contextlib.contextmanager
def _capture_warnings(sink: list[str]):
    """Collect the job's logged warnings (e.g. SAM 2's random-weights notice) for its status."""
    import warnings

    handler = _ListHandler(sink)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    if level == logging.NOTSET or level > logging.WARNING:
        root.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            warnings.filterwarnings("ignore", category=UserWarning, module=r"sam2(\.|$)")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
        for w in caught:
            msg = str(w.message)
            if msg not in sink:
                sink.append(msg)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def execute(job: Job, out: str | os.PathLike, progress: ProgressCb | None = None) -> JobResult:
    """:func:`run_job`, with any error turned into a ``failed`` result (what workers run)."""
    t0 = time.monotonic()
    try:
        return run_job(job, out, progress)
    except Exception as exc:  # noqa: BLE001 - one broken video must not stop the batch
        detail = "" if isinstance(exc, UserError) else traceback.format_exc()
        return JobResult(job.key, job.video, job.line, "failed", round(time.monotonic() - t0, 3),
                         reason=_one_line(exc), detail=detail)


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    if isinstance(exc, UserError):
        return msg or type(exc).__name__
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


# ==== the out folder: finished, leftovers, lock ============================================
def read_done(folder: Path) -> dict | None:
    """The ``_DONE`` status of a video folder, or None when it is not finished."""
    marker = Path(folder) / DONE_MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # finished by us, but the status is unreadable: it will be redone


def cleanup_leftovers(out: Path, keys: Iterable[str] | None = None) -> int:
    """Remove temporary folders of interrupted runs (``.<key>.tmp-*``); put back a finished
    folder that was moved aside (``.<key>.old-*``) if its replacement never arrived. Only
    the given ``keys`` when given. Returns how many were removed or restored."""
    out = Path(out)
    if not out.is_dir():
        return 0
    wanted = None if keys is None else set(keys)
    n = 0
    for p in sorted(out.iterdir()):
        m = _LEFTOVER_RE.fullmatch(p.name)
        if not m or not p.is_dir() or p.is_symlink() or (wanted is not None and m["key"] not in wanted):
            continue
        final = out / m["key"]
        if m["kind"] == "old" and not final.exists() and (p / DONE_MARKER).is_file():
            with contextlib.suppress(OSError):
                os.replace(p, final)
                n += 1
                continue
        shutil.rmtree(p, ignore_errors=True)
        n += 1
    return n


@contextlib.contextmanager
def _out_lock(out: Path):
    """One batch at a time per --out folder (released by the OS even on SIGKILL)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    fh = open(out / LOCK_FILE, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(f"another batch is writing to {out} (it holds {out / LOCK_FILE}); "
                            "wait for it or choose another --out") from None
        yield
    finally:
        fh.close()


def plan(jobs: Sequence[Job], out: Path, force: bool = False) -> tuple[list[Job], list[JobResult]]:
    """Split ``jobs`` into those to run and those already finished (skipped)."""
    todo, skipped = [], []
    for job in jobs:
        done = read_done(Path(out) / job.key)
        if done is not None and not force and done.get("fingerprint") == job.fingerprint():
            skipped.append(JobResult(job.key, job.video, job.line, "skipped", float(done.get("seconds") or 0.0),
                                     reason="finished in an earlier run", frames=int(done.get("frames") or 0),
                                     objects=int(done.get("objects") or 0), outputs=list(done.get("outputs") or [])))
        else:
            todo.append(job)
    return todo, skipped


# ==== resources ============================================================================
def _may_use_gpu(job: Job) -> bool:
    """Whether the job's engine can run on a GPU (SAM 2 with device cuda or auto)."""
    if job.device in ("cpu", "mps"):
        return False
    if job.engine == "classic":
        return False
    if job.engine == "auto" and job.device != "cuda":
        from .engines import choose_engine

        try:
            return choose_engine("auto", model=job.model, checkpoint=job.checkpoint,
                                 weights=job.weights or "checkpoint") == "sam2"
        except UserError:
            return False
    return True


def _local_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001 - no torch / broken CUDA: no GPU
        return 0


def _total_memory_gb() -> float | None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return None


def default_workers(jobs: Sequence[Job]) -> int:
    """What this machine can take: one worker per GPU when the videos run SAM 2 on GPUs; for
    SAM 2 on the CPU half the cores (its matrix products use several threads each) and about
    4 GiB of memory per worker; for the classic engine alone one worker per core (measured:
    2 workers on 2 cores do 1.25-1.3x the videos of one). At least 1, at most the number of
    videos."""
    n_cpu = os.cpu_count() or 1
    if any(_may_use_gpu(j) for j in jobs) and (gpus := _local_gpus()) > 0:
        n = gpus
    elif all(j.engine == "classic" for j in jobs):
        n = n_cpu
    else:
        n = max(1, n_cpu // 2)
        mem = _total_memory_gb()
        if mem:
            n = min(n, max(1, int(mem // 4)))
    return max(1, min(n, len(jobs) or 1))


# ==== local worker processes ===============================================================
def _die_with_parent(parent: int) -> None:
    """Make the kernel kill this worker when the batch process dies (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _limit_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)


def _worker_main(conn, out: str, threads: int, gpu: int | None, parent: int) -> None:
    """A worker process: run the jobs it is sent, one at a time, and report back."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the batch process stops us
    with contextlib.suppress(OSError):
        os.dup2(2, 1)  # keep the batch's stdout for its summary
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    _limit_threads(threads)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.WARNING)  # warnings go into the job's status
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(threads)
    torch_threads_set = False
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if not msg or msg[0] != "job":
            return
        job: Job = msg[1]
        last = [0.0]

        def progress(stage: str, done: int, total: int, _key=job.key, last=last) -> None:
            now = time.monotonic()
            if now - last[0] < 0.25 and done != total:
                return
            last[0] = now
            try:
                conn.send(("progress", _key, stage, done, total))
            except (OSError, ValueError):  # the batch process is gone
                os._exit(1)

        if not torch_threads_set and "torch" in sys.modules:
            with contextlib.suppress(Exception):
                sys.modules["torch"].set_num_threads(threads)
            torch_threads_set = True
        result = execute(job, out, progress)
        try:
            conn.send(("result", result))
        except (OSError, ValueError):
            return


@dataclass
class _Slot:
    index: int
    proc: object
    conn: object
    job: Job | None = None
    t0: float = 0.0


class _Events:
    """What a runner tells the progress display."""

    def start(self, job: Job) -> None: ...
    def progress(self, key: str, stage: str, done: int, total: int) -> None: ...
    def finish(self, result: JobResult) -> None: ...


def _run_local(jobs: Sequence[Job], out: Path, workers: int, events: _Events, threads: int | None = None,
               timeout: float | None = None) -> list[JobResult]:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    workers = max(1, min(int(workers), len(jobs)))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    gpus = _local_gpus() if any(_may_use_gpu(j) for j in jobs) else 0
    pending: deque[Job] = deque(jobs)
    results: list[JobResult] = []
    slots: list[_Slot] = []

    def start_worker(i: int) -> _Slot:
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, name=f"sam2studio-batch-{i}", daemon=True,
                           args=(child_conn, str(out), threads, (i % gpus) if gpus else None, os.getpid()))
        proc.start()
        child_conn.close()
        return _Slot(i, proc, parent_conn)

    def assign(slot: _Slot) -> None:
        slot.job = None
        if pending:
            job = pending.popleft()
            try:
                slot.conn.send(("job", job))
            except (OSError, ValueError):
                pending.appendleft(job)
                return
            slot.job, slot.t0 = job, time.monotonic()
            events.start(job)
        else:
            with contextlib.suppress(OSError, ValueError):
                slot.conn.send(("stop",))

    def finish(slot: _Slot, result: JobResult) -> None:
        results.append(result)
        events.finish(result)
        slot.job = None

    def drain(slot: _Slot) -> None:
        while slot.job is not None:
            try:
                if not slot.conn.poll():
                    return
                msg = slot.conn.recv()
            except (EOFError, OSError):
                return
            if msg[0] == "progress":
                events.progress(*msg[1:])
            elif msg[0] == "result":
                finish(slot, msg[1])
                assign(slot)

    try:
        slots = [start_worker(i) for i in range(workers)]
        for s in slots:
            assign(s)
        while True:
            busy = [s for s in slots if s.job is not None]
            if not busy:
                if not pending:
                    break
                # every worker died before taking a job: start fresh ones
                slots = [start_worker(s.index) for s in slots]
                for s in slots:
                    assign(s)
                continue
            wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=1.0)
            for k, s in enumerate(list(slots)):
                if s.job is None:
                    continue
                drain(s)
                if s.job is None:
                    continue
                late = timeout is not None and time.monotonic() - s.t0 > timeout
                if late and s.proc.is_alive():
                    s.proc.kill()
                    s.proc.join(timeout=10)
                if not s.proc.is_alive():
                    drain(s)
                    if s.job is None:
                        continue
                    code = s.proc.exitcode
                    why = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
                           and -code in signal.Signals._value2member_map_ else f"exit code {code}")
                    job = s.job
                    reason = (f"timed out after {timeout:g} s (the worker was stopped)" if late
                              else f"the worker process crashed ({why})")
                    finish(s, JobResult(job.key, job.video, job.line, "failed", round(time.monotonic() - s.t0, 3),
                                        reason=reason))
                    cleanup_leftovers(out, [job.key])
                    with contextlib.suppress(OSError):
                        s.conn.close()
                    if pending:
                        slots[k] = start_worker(s.index)
                        assign(slots[k])
    except BaseException as exc:
        running = [s.job for s in slots if s.job is not None]
        _stop_workers(slots, kill=True)
        cleanup_leftovers(out, [j.key for j in running])
        if not isinstance(exc, KeyboardInterrupt):
            raise
        for j in running:
            results.append(JobResult(j.key, j.video, j.line, "cancelled", reason="interrupted"))
        raise _Interrupted(results) from None
    _stop_workers(slots, kill=False)
    return results


class _Interrupted(Exception):
    """The batch was interrupted; carries the results so far."""

    def __init__(self, results: list[JobResult]) -> None:
        super().__init__("interrupted")
        self.results = results


def _stop_workers(slots: Sequence[_Slot], kill: bool) -> None:
    for s in slots:
        if kill and s.proc.is_alive():
            s.proc.kill()
        else:
            with contextlib.suppress(OSError, ValueError):
                s.conn.send(("stop",))
    for s in slots:
        s.proc.join(timeout=10)
        if s.proc.is_alive():  # pragma: no cover - a stuck worker
            s.proc.kill()
            s.proc.join(timeout=5)
        with contextlib.suppress(OSError):
            s.conn.close()


# ==== Ray ==================================================================================
def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(_RAY_INSTALL) from None
    return ray


def _ray_task(job: Job, out: str, threads: int, timeout: float | None = None) -> JobResult:
    """What a Ray worker runs for one video. With ``timeout``, the worker process ends itself
    (exit 124) when the video takes longer; the batch reports it as timed out."""
    if timeout:
        import threading

        watchdog = threading.Timer(float(timeout), os._exit, args=(124,))
        watchdog.daemon = True
        watchdog.start()
    with contextlib.suppress(Exception):
        import cv2

        cv2.setNumThreads(threads)
    if "torch" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["torch"].set_num_threads(threads)
    try:
        return execute(job, out)
    finally:
        if timeout:
            watchdog.cancel()


def _run_ray(jobs: Sequence[Job], out: Path, address: str | None, events: _Events,
             cpus_per_task: float | None = None, gpus_per_task: float | None = None,
             timeout: float | None = None) -> list[JobResult]:
    ray = _import_ray()
    owned = not ray.is_initialized()  # we connect (or start a local instance), so we disconnect
    if owned:
        kwargs = {"logging_level": logging.ERROR, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["include_dashboard"] = False
        try:
            ray.init(**kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            hint = ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token and its token "
                    "(RAY_AUTH_TOKEN or ~/.ray/auth_token)") if address else ""
            where = address or "(local)"
            raise UserError(f"cannot connect to the Ray cluster {where}: {_one_line(exc)}{hint}") from None
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    cpus = cpus_per_task if cpus_per_task is not None else 1
    needs = []  # (job, num_gpus)
    for job in jobs:
        if gpus_per_task is not None:
            gpus = gpus_per_task
        elif job.device == "cuda" and _may_use_gpu(job):
            if cluster_gpus <= 0:
                raise UserError(f"{job.key} asks for device cuda but the Ray cluster has no GPUs; add GPU "
                                "nodes or pass --gpus-per-task for a cluster that scales up")
            gpus = 1
        else:  # auto: on a GPU when the cluster has some and the engine is SAM 2
            gpus = 1 if cluster_gpus > 0 and _may_use_gpu(job) else 0
        needs.append((job, gpus))
    remote = ray.remote(max_retries=0)(_ray_task)
    futures = {}
    results: list[JobResult] = []
    try:
        for job, gpus in needs:
            ref = remote.options(num_cpus=cpus, num_gpus=gpus, name=f"sam2studio-batch:{job.key}").remote(
                job, str(out), max(1, int(cpus)), timeout)
            futures[ref] = (job, time.monotonic())
            events.start(job)
        while futures:
            ready, _ = ray.wait(list(futures), num_returns=1, timeout=1.0)
            for ref in ready:
                job, t0 = futures.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - a crashed worker or lost node
                    cleanup_leftovers(out, [job.key])
                    took = time.monotonic() - t0
                    reason = (f"timed out after {timeout:g} s (the task stopped itself)"
                              if timeout is not None and took >= timeout
                              else f"the Ray task failed: {_one_line(exc)[:300]}")
                    result = JobResult(job.key, job.video, job.line, "failed", round(took, 3), reason=reason)
                results.append(result)
                events.finish(result)
        return results
    except BaseException as exc:
        running = [j for j, _ in futures.values()]
        for ref in futures:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        cleanup_leftovers(out, [j.key for j in running])
        if not isinstance(exc, KeyboardInterrupt):
            raise
        results += [JobResult(j.key, j.video, j.line, "cancelled", reason="interrupted") for j in running]
        raise _Interrupted(results) from None
    finally:
        if owned:  # a local instance stops; a cluster only loses this client
            with contextlib.suppress(Exception):
                ray.shutdown()


# ==== the batch ============================================================================
class _Display(_Events):
    """An overall tqdm bar (videos) on stderr with the running videos' status; only on a
    terminal and without --quiet."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None
        self.running: dict[str, str] = {}
        if self.enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="video", file=sys.stderr, dynamic_ncols=True,
                            leave=False)

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(" | ".join(f"{k} {s}" for k, s in list(self.running.items())[:4])
                                     + (" ..." if len(self.running) > 4 else ""), refresh=True)

    def start(self, job: Job) -> None:
        self.running[job.key] = "queued"
        self._refresh()

    def progress(self, key: str, stage: str, done: int, total: int) -> None:
        self.running[key] = f"{stage} {done}/{total}" if total else stage
        self._refresh()

    def finish(self, result: JobResult) -> None:
        self.running.pop(result.key, None)
        if self.bar is not None:
            tail = f": {result.reason}" if result.reason else ""
            self.bar.write(f"{result.status} {result.key} ({_fmt_time(result.seconds)}){tail}", file=sys.stderr)
            self.bar.update(1)
            self._refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(jobs: Sequence[Job], out: str | os.PathLike, *, workers: int | None = None, ray: bool = False,
              ray_address: str | None = None, force: bool = False, quiet: bool = True,
              cpus_per_task: float | None = None, gpus_per_task: float | None = None,
              timeout: float | None = None, manifest: str | None = None) -> list[JobResult]:
    """Run ``jobs`` into ``out`` (skipping finished ones); results in the jobs' order.

    Local worker processes (``workers``, default :func:`default_workers`) or Ray tasks
    (``ray=True``, on ``ray_address`` or a new local instance). A video that takes longer than
    ``timeout`` seconds is stopped and fails. Writes ``out/batch_summary.json``.
    An interrupt (Ctrl-C) stops the workers, removes their unfinished folders and raises
    ``KeyboardInterrupt`` after writing the summary.
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if ray:
        _import_ray()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"cannot write to {out}: permission denied")
    t0 = time.monotonic()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    with _out_lock(out):
        cleaned = cleanup_leftovers(out)
        if cleaned:
            log.info("removed %d temporary folder(s) left by an interrupted run", cleaned)
        todo, skipped = plan(jobs, out, force)
        n_workers = 0 if ray or not todo else (workers or default_workers(todo))
        runner = (f"ray ({ray_address or 'local'})" if ray else f"local, {n_workers} worker(s)")
        display = _Display(len(todo), quiet)
        interrupted = False
        try:
            if not todo:
                ran = []
            elif ray:
                ran = _run_ray(todo, out, ray_address, display, cpus_per_task, gpus_per_task, timeout)
            else:
                ran = _run_local(todo, out, n_workers, display,
                                 None if cpus_per_task is None else max(1, int(cpus_per_task)), timeout)
        except _Interrupted as exc:
            ran, interrupted = exc.results, True
        finally:
            display.close()
        for r in ran:
            for w in r.warnings:
                log.warning("%s: %s", r.key, w)
        by_key = {r.key: r for r in [*skipped, *ran]}
        results = [by_key.get(j.key) or JobResult(j.key, j.video, j.line, "cancelled", reason="not started")
                   for j in jobs]
        _write_json(out / SUMMARY_FILE, {
            "manifest": manifest, "out": str(out), "runner": runner, "started_at": started,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(time.monotonic() - t0, 3),
            "interrupted": interrupted, "cleaned_leftovers": cleaned,
            "counts": _counts(results), "videos": [r.to_json() for r in results],
            "sam2studio": __version__})
    if interrupted:
        raise KeyboardInterrupt(results)
    return results


def _counts(results: Iterable[JobResult]) -> dict[str, int]:
    counts = {"done": 0, "failed": 0, "skipped": 0, "cancelled": 0}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts


def _fmt_time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def format_summary(results: Sequence[JobResult], seconds: float | None = None, out: Path | None = None) -> str:
    """The end-of-run table: one row per video (status, time, frames, reason) and a total."""
    rows = [("VIDEO", "STATUS", "TIME", "FRAMES", "DETAIL")]
    for r in results:
        time_s = "-" if r.status in ("skipped", "cancelled") else _fmt_time(r.seconds)
        detail = r.reason if r.status != "done" else ", ".join(o for o in r.outputs if o != DONE_MARKER)
        rows.append((r.key, r.status, time_s, str(r.frames or "-"), detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    c = _counts(results)
    total = f"{len(results)} video(s): {c['done']} done, {c['failed']} failed, {c['skipped']} skipped"
    if c["cancelled"]:
        total += f", {c['cancelled']} cancelled"
    if seconds is not None:
        total += f" in {_fmt_time(seconds)}"
    if out is not None:
        total += f" -> {out}"
    return "\n".join([*(ln.rstrip() for ln in lines), total])


# ==== the command ==========================================================================
def add_parser(subparsers) -> None:
    from .cli import _add_engine_options

    p = subparsers.add_parser(
        "batch", help="segment many videos listed in a manifest (local workers or a Ray cluster)",
        description="Segment every video of a manifest (.jsonl or .csv: video, prompts, engine options, "
                    "exports) into DIR/<id>/. Finished videos are skipped on a re-run, failed ones retried. "
                    "See docs/batch.md for the manifest format.")
    p.add_argument("manifest", type=Path, help="a .jsonl or .csv manifest; relative paths in it resolve "
                   "against its folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per video); "
                   "with --ray on a cluster, a shared path every node can write")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: one per GPU for SAM 2 on GPUs, half the CPU cores for "
                        "SAM 2 on the CPU, one per core for the classic engine)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the videos as Ray tasks: on the cluster at ADDRESS (e.g. ray://head:10001 "
                        "or auto), or a new local Ray instance when no address is given; needs "
                        "pip install 'sam2studio[ray]'")
    p.add_argument("--cpus-per-task", type=float, default=None, metavar="N",
                   help="CPUs per video: Ray's num_cpus (default 1); locally the threads per worker "
                        "(default: cores / workers)")
    p.add_argument("--gpus-per-task", type=float, default=None, metavar="N",
                   help="Ray's num_gpus per video (default: 1 where the model runs on a GPU, else 0)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a video that takes longer than this and count it as failed (default: no limit)")
    p.add_argument("--force", action="store_true", help="run finished videos again too")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_engine_options(p)


def run(args) -> int:
    """``sam2studio batch``: 0 when every video is done or skipped, 1 when any failed (or
    the run was interrupted), 2 (a UserError) for a bad manifest or arguments."""
    from .cli import CliError

    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.ray is not None and args.workers is not None:
        raise CliError("--workers is for local runs; with --ray the cluster schedules the videos "
                       "(use --cpus-per-task / --gpus-per-task)")
    for flag in ("cpus_per_task", "gpus_per_task", "timeout"):
        v = getattr(args, flag)
        if v is not None and (v < 0 or (flag != "gpus_per_task" and v == 0)):
            raise CliError(f"--{flag.replace('_', '-')} must be positive, got {v:g}")
    if args.ray is not None:
        _import_ray()
    defaults = {"engine": args.engine, "model": args.model,
                "checkpoint": None if args.checkpoint is None else str(args.checkpoint.resolve()),
                "weights": args.weights, "seed": args.seed, "image_size": args.image_size, "device": args.device,
                "memory_budget": getattr(args, "memory_budget", None)}
    jobs = load_manifest(args.manifest, defaults)
    t0 = time.monotonic()
    out = args.out.resolve()
    try:
        results = run_batch(jobs, out, workers=args.workers, ray=args.ray is not None, ray_address=args.ray or None,
                            force=args.force, quiet=args.quiet, cpus_per_task=args.cpus_per_task,
                            gpus_per_task=args.gpus_per_task, timeout=args.timeout,
                            manifest=str(args.manifest.resolve()))
    except KeyboardInterrupt as exc:
        results = exc.args[0] if exc.args and isinstance(exc.args[0], list) else None
        if results:
            print(format_summary(results, time.monotonic() - t0, out), flush=True)
        print("sam2studio: batch interrupted; run the same command again to resume", file=sys.stderr)
        return 1
    print(format_summary(results, time.monotonic() - t0, out), flush=True)
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":  # pragma: no cover
    from .cli import main

    sys.exit(main(["batch", *sys.argv[1:]]))
