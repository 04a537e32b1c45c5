"""One video of a batch: the job, its result, and running it into its folder atomically.

Each video is written under a hidden temporary name (``DIR/.<id>.tmp-XXXXXXXX``) and renamed
to ``DIR/<id>`` only when everything in it, its ``_DONE`` status included, is written: a
folder ``DIR/<id>`` with ``_DONE`` is finished, anything else is not.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._version import __version__
from ..core.prompts import BoxArg, ClickArg, MaskArg, PromptSet
from ..errors import UserError

#: the file in a finished video folder (JSON status); written before the folder gets its name
DONE_MARKER = "_DONE"
#: every video's status after the last run, in the --out folder
SUMMARY_FILE = "batch_summary.json"
LOCK_FILE = ".batch.lock"
MASKS_DIR = "masks"
PROJECT_FILE = "project.s2s"
_LEFTOVER_RE = re.compile(r"\.(?P<key>.+)\.(?P<kind>tmp|old)-[0-9a-f]{8}")


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
class VideoJob:
    """One video of a batch: everything a worker needs, picklable, paths absolute."""

    key: str  # output folder name under --out
    video: str
    line: int = 0  # manifest line (for messages)
    clicks: list[ClickArg] = field(default_factory=list)
    boxes: list[BoxArg] = field(default_factory=list)
    masks: list[MaskArg] = field(default_factory=list)  # absolute paths
    names: dict[int, str] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)  # object id -> class
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
        spec = self.spec()
        if self.categories:  # only then: runs made before classes keep their fingerprint
            spec["categories"] = {str(k): v for k, v in sorted(self.categories.items())}
        data = json.dumps(spec, sort_keys=True, default=str).encode()
        return hashlib.sha256(data).hexdigest()[:16]

    def prompts(self) -> PromptSet:
        return PromptSet(list(self.clicks), list(self.boxes), list(self.masks), dict(self.names),
                         dict(self.categories))

    def object_ids(self) -> list[int]:
        return self.prompts().object_ids()


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



# ==== one video ============================================================================
ProgressCb = Callable[[str, int, int], None]  # (stage, done, total)
#: ``hook(stage, job)``, called in the process that runs the job after each stage
#: (``"propagated"``: masks computed, nothing written; ``"written"``: every output written,
#: the ``_DONE`` status not yet): where a test injects a fault (a crash, a slow video)
JobHook = Callable[[str, "VideoJob"], None]


def run_job(job: VideoJob, out: str | os.PathLike, progress: ProgressCb | None = None,
            hook: JobHook | None = None) -> JobResult:
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
            info = _segment_into(job, tmp, progress, hook)
        if hook is not None:
            hook("written", job)
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
        write_json(tmp / DONE_MARKER, marker)
        _publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _segment_into(job: VideoJob, folder: Path, progress: ProgressCb | None, hook: JobHook | None) -> dict:
    """``sam2studio segment`` (same order of prompts, same start) + project + exports."""
    from ..session import Session

    def report(stage: str):
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    prompts = job.prompts()
    if progress is not None:
        progress("load", 0, 0)
    _fresh_process_state()
    with Session.open(job.video, engine=job.engine, prompts=prompts, start=job.start,
                      **job.engine_options()) as session:
        session.segment(prompts, job.start, job.direction, progress=report("propagate"))
        if hook is not None:
            hook("propagated", job)
        session.export("png", folder / MASKS_DIR, progress=report("masks"))
        session.save(folder / PROJECT_FILE)
        for spec in job.exports:
            _export(session, spec, folder / spec.out, report(spec.format))
        return {"frames": session.num_frames, "objects": len(session.objects), "engine": session.engine_name,
                "device": str(session.device)}


def _fresh_process_state() -> None:
    """Reset OpenCV's random generator (GrabCut's k-means draws from it, per thread) to the
    state of a new process: a video then gets the masks of a single ``segment`` run, whatever
    the worker ran before it."""
    with contextlib.suppress(Exception):
        import cv2

        cv2.setRNGSeed(0)  # 0 gives OpenCV's default initial state (0xffffffff)


def _export(session, spec: ExportSpec, target: Path, progress) -> None:
    from ..export.formats import parse_frames

    try:
        session.export(spec.format, target, objects=spec.objects,
                       frames=parse_frames(spec.frames, session.num_frames), progress=progress, **spec.options)
    except UserError as exc:
        raise UserError(f"export {spec.format}: {exc}") from exc


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished ``tmp`` folder to ``final`` (replacing an older finished one)."""
    from ..export.common import replace_path

    replace_path(tmp, final)


def write_json(path: Path, data) -> None:
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

def execute(job: VideoJob, out: str | os.PathLike, progress: ProgressCb | None = None,
            hook: JobHook | None = None) -> JobResult:
    """:func:`run_job`, with any error turned into a ``failed`` result (what workers run)."""
    t0 = time.monotonic()
    try:
        return run_job(job, out, progress, hook)
    except Exception as exc:  # noqa: BLE001 - one broken video must not stop the batch
        detail = "" if isinstance(exc, UserError) else traceback.format_exc()
        return JobResult(job.key, job.video, job.line, "failed", round(time.monotonic() - t0, 3),
                         reason=one_line(exc), detail=detail)


def one_line(exc: BaseException) -> str:
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
def out_lock(out: Path):
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


def plan(jobs: Sequence[VideoJob], out: Path, force: bool = False) -> tuple[list[VideoJob], list[JobResult]]:
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



# ==== what a runner (local workers, Ray) tells whoever watches =============================
class BatchEvents:
    """Callbacks of a batch run (the command line shows them as a progress display)."""

    def begin(self, total: int) -> None:
        """``total`` videos are about to run (the finished ones are skipped, not counted)."""

    def end(self) -> None:
        """The run is over (finished, failed or interrupted)."""

    def start(self, job: VideoJob) -> None:
        """``job`` was handed to a worker."""

    def progress(self, key: str, stage: str, done: int, total: int) -> None:
        """The video ``key`` is at ``done`` of ``total`` in ``stage``."""

    def finish(self, result: JobResult) -> None:
        """A video ended (done, failed or cancelled)."""


class Interrupted(Exception):
    """The batch was interrupted; carries the results so far."""

    def __init__(self, results: list[JobResult]) -> None:
        super().__init__("interrupted")
        self.results = results
