"""Batch manifests: a ``.jsonl`` or ``.csv`` file that lists videos with their prompts, engine
options and the exports wanted (the format is described in ``docs/batch.md``)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from ..core.prompts import PromptSpecError, parse_box, parse_category, parse_click, parse_mask, parse_name
from ..errors import UserError
from .job import DONE_MARKER, LOCK_FILE, MASKS_DIR, PROJECT_FILE, SUMMARY_FILE, ExportSpec, VideoJob

MANIFEST_KEYS = ("id", "video", "clicks", "boxes", "masks", "names", "categories", "engine", "model", "checkpoint",
                 "weights", "seed", "image_size", "device", "memory_budget", "direction", "start", "exports")
_ALIASES = {"click": "clicks", "box": "boxes", "mask": "masks", "name": "names", "category": "categories",
            "export": "exports",
            "image-size": "image_size", "memory-budget": "memory_budget", "path": "video", "file": "video"}
_LIST_KEYS = ("clicks", "boxes", "masks", "names", "categories", "exports")
ENGINE_OPTION_KEYS = ("engine", "model", "checkpoint", "weights", "seed", "image_size", "device", "memory_budget")
DEVICES = ("auto", "cpu", "cuda", "mps")
DIRECTIONS = ("both", "forward", "backward")
_RESERVED = {MASKS_DIR, PROJECT_FILE, DONE_MARKER, SUMMARY_FILE, LOCK_FILE}
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class ManifestError(UserError):
    """A manifest that cannot be read; the message names the file and line."""



def load_manifest(path: str | os.PathLike, defaults: dict | None = None) -> list[VideoJob]:
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
    jobs: list[VideoJob] = []
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


def _job_from_record(rec: dict, line: int, label: str, base: Path, defaults: dict, csv_cells: bool) -> VideoJob:
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
        if key in ("names", "categories") and isinstance(v, dict):
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
        categories = dict(parse_category(s) for s in strings("categories"))
    except PromptSpecError as exc:
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
    from ..engines import ENGINE_NAMES

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

    return VideoJob(key=key, video=str(video_path), line=line, clicks=clicks, boxes=boxes, masks=masks, names=names,
               categories=categories, engine=engine, model=opts.get("model") or None,
               checkpoint=None if not checkpoint else str(resolve(checkpoint)), weights=weights,
               seed=int(opts.get("seed") or 0), image_size=opts.get("image_size"), device=device,
               memory_budget=None if budget is None else float(budget), direction=direction, start=start,
               exports=exports)


def _export_formats() -> list[str]:
    from ..export.formats import format_names

    return format_names()


def _parse_export(item, fail: Callable[[str], None], resolve: Callable) -> ExportSpec:
    """``"coco"``, ``"overlay opacity=0.6 out=preview.mp4"`` or ``{"format": ..., "options": {...}}``."""
    from ..export.formats import coerce_option

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
                spec["options"][k] = coerce_option(v.strip())
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
    from ..export.formats import get_format

    fmt = get_format(name)
    return name if fmt.output == "folder" else name + fmt.output
