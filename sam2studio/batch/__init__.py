"""Batch runs: segment many videos from a manifest, on local worker processes or a Ray cluster.

A manifest (``.jsonl`` or ``.csv``) lists videos with their prompts, engine options and the
exports wanted; every video gets its own folder ``DIR/<id>/``::

    DIR/<id>/masks/                  frame_NNNN_obj_ID.png + objects.json (the segment contract)
    DIR/<id>/project.s2s             the project, openable in the app
    DIR/<id>/<export>                coco.json, palette/, overlay.mp4, quality.json, ...
    DIR/<id>/_DONE                   JSON status, present only in a finished folder
    DIR/batch_summary.json           every video's status after the last run

Each video is written under a hidden temporary name and renamed only when finished (see
:mod:`.job`). A re-run skips the finished videos (unless their manifest entry changed, or
``force``), retries the failed ones and removes temporary folders left by an interrupted run.

Modules: :mod:`.manifest` (reading manifests), :mod:`.job` (one video), :mod:`.local` (worker
processes), :mod:`.ray` (Ray tasks), :mod:`.runner` (a whole batch). No argparse and no
terminal output here: ``sam2studio batch`` (:mod:`sam2studio.cli.batch`) is the command.

Public API: :func:`load_manifest` (→ :class:`VideoJob` list), :func:`run_job` (one video,
atomic), :func:`run_batch` (many, local or Ray, → :class:`JobResult` list),
:func:`default_workers`, :func:`format_summary`.
"""

from .job import (DONE_MARKER, LOCK_FILE, MASKS_DIR, PROJECT_FILE, SUMMARY_FILE, BatchEvents, ExportSpec,
                  JobHook, JobResult, VideoJob, cleanup_leftovers, execute, plan, read_done, run_job)
from .local import default_workers
from .manifest import ManifestError, load_manifest
from .runner import format_summary, run_batch

__all__ = [
    "DONE_MARKER", "LOCK_FILE", "MASKS_DIR", "PROJECT_FILE", "SUMMARY_FILE", "BatchEvents", "ExportSpec",
    "JobHook", "JobResult", "VideoJob", "ManifestError", "cleanup_leftovers", "default_workers", "execute",
    "format_summary", "load_manifest", "plan", "read_done", "run_batch", "run_job",
]
