"""Batch runs on a Ray cluster (or a new local Ray instance): one task per video."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence

from ..errors import UserError
from .job import BatchEvents, Interrupted, JobResult, VideoJob, cleanup_leftovers, execute, one_line
from .local import may_use_gpu

RAY_INSTALL = "--ray needs Ray, which is not installed: pip install 'sam2studio[ray]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError(RAY_INSTALL) from None
    return ray


def _ray_task(job: VideoJob, out: str, threads: int, timeout: float | None = None) -> JobResult:
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


def run_ray(jobs: Sequence[VideoJob], out, address: str | None, events: BatchEvents,
             cpus_per_task: float | None = None, gpus_per_task: float | None = None,
             timeout: float | None = None) -> list[JobResult]:
    ray = import_ray()
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
            raise UserError(f"cannot connect to the Ray cluster {where}: {one_line(exc)}{hint}") from None
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    cpus = cpus_per_task if cpus_per_task is not None else 1
    needs = []  # (job, num_gpus)
    for job in jobs:
        if gpus_per_task is not None:
            gpus = gpus_per_task
        elif job.device == "cuda" and may_use_gpu(job):
            if cluster_gpus <= 0:
                raise UserError(f"{job.key} asks for device cuda but the Ray cluster has no GPUs; add GPU "
                                "nodes or pass --gpus-per-task for a cluster that scales up")
            gpus = 1
        else:  # auto: on a GPU when the cluster has some and the engine is SAM 2
            gpus = 1 if cluster_gpus > 0 and may_use_gpu(job) else 0
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
                              else f"the Ray task failed: {one_line(exc)[:300]}")
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
        raise Interrupted(results) from None
    finally:
        if owned:  # a local instance stops; a cluster only loses this client
            with contextlib.suppress(Exception):
                ray.shutdown()

