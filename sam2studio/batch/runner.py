"""A whole batch: plan (skip the finished videos), run locally or on Ray, write the summary."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from .._version import __version__
from ..errors import UserError
from .job import (DONE_MARKER, SUMMARY_FILE, BatchEvents, Interrupted, JobHook, JobResult, VideoJob,
                  cleanup_leftovers, out_lock, plan, write_json)
from .local import default_workers, run_local

log = logging.getLogger("sam2studio.batch")


def run_batch(jobs: Sequence[VideoJob], out: str | os.PathLike, *, workers: int | None = None, ray: bool = False,
              ray_address: str | None = None, force: bool = False, events: BatchEvents | None = None,
              cpus_per_task: float | None = None, gpus_per_task: float | None = None,
              timeout: float | None = None, manifest: str | None = None,
              hook: JobHook | None = None) -> list[JobResult]:
    """Run ``jobs`` into ``out`` (skipping finished ones); results in the jobs' order.

    Local worker processes (``workers``, default :func:`default_workers`) or Ray tasks
    (``ray=True``, on ``ray_address`` or a new local instance). A video that takes longer than
    ``timeout`` seconds is stopped and fails. Writes ``out/batch_summary.json``. ``events``
    hears of every video's start, progress and end; ``hook`` runs in the local workers after
    each stage of a job (fault injection in tests).
    An interrupt (Ctrl-C) stops the workers, removes their unfinished folders and raises
    ``KeyboardInterrupt`` after writing the summary.
    """
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a folder")
    if ray:
        from .ray import import_ray

        import_ray()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK):
        raise UserError(f"cannot write to {out}: permission denied")
    t0 = time.monotonic()
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    with out_lock(out):
        cleaned = cleanup_leftovers(out)
        if cleaned:
            log.info("removed %d temporary folder(s) left by an interrupted run", cleaned)
        todo, skipped = plan(jobs, out, force)
        n_workers = 0 if ray or not todo else (workers or default_workers(todo))
        runner = (f"ray ({ray_address or 'local'})" if ray else f"local, {n_workers} worker(s)")
        events = events if events is not None else BatchEvents()
        interrupted = False
        events.begin(len(todo))
        try:
            if not todo:
                ran = []
            elif ray:
                from .ray import run_ray

                ran = run_ray(todo, out, ray_address, events, cpus_per_task, gpus_per_task, timeout)
            else:
                ran = run_local(todo, out, n_workers, events,
                                None if cpus_per_task is None else max(1, int(cpus_per_task)), timeout, hook)
        except Interrupted as exc:
            ran, interrupted = exc.results, True
        finally:
            events.end()
        for r in ran:
            for w in r.warnings:
                log.warning("%s: %s", r.key, w)
        by_key = {r.key: r for r in [*skipped, *ran]}
        results = [by_key.get(j.key) or JobResult(j.key, j.video, j.line, "cancelled", reason="not started")
                   for j in jobs]
        write_json(out / SUMMARY_FILE, {
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


def fmt_time(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def format_summary(results: Sequence[JobResult], seconds: float | None = None, out: Path | None = None) -> str:
    """The end-of-run table: one row per video (status, time, frames, reason) and a total."""
    rows = [("VIDEO", "STATUS", "TIME", "FRAMES", "DETAIL")]
    for r in results:
        time_s = "-" if r.status in ("skipped", "cancelled") else fmt_time(r.seconds)
        detail = r.reason if r.status != "done" else ", ".join(o for o in r.outputs if o != DONE_MARKER)
        rows.append((r.key, r.status, time_s, str(r.frames or "-"), detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows]
    c = _counts(results)
    total = f"{len(results)} video(s): {c['done']} done, {c['failed']} failed, {c['skipped']} skipped"
    if c["cancelled"]:
        total += f", {c['cancelled']} cancelled"
    if seconds is not None:
        total += f" in {fmt_time(seconds)}"
    if out is not None:
        total += f" -> {out}"
    return "\n".join([*(ln.rstrip() for ln in lines), total])

