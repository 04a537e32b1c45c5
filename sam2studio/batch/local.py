"""Local batch runs: one worker process per slot (spawned), so that one crash never takes the
others down; a video over its time limit is stopped with its worker."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UserError
from .job import BatchEvents, Interrupted, JobHook, JobResult, VideoJob, cleanup_leftovers, execute

def may_use_gpu(job: VideoJob) -> bool:
    """Whether the job's engine can run on a GPU (SAM 2 with device cuda or auto)."""
    if job.device in ("cpu", "mps"):
        return False
    if job.engine == "classic":
        return False
    if job.engine == "auto" and job.device != "cuda":
        from ..engines import choose_engine

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


def default_workers(jobs: Sequence[VideoJob]) -> int:
    """What this machine can take: one worker per GPU when the videos run SAM 2 on GPUs; for
    SAM 2 on the CPU half the cores (its matrix products use several threads each) and about
    4 GiB of memory per worker; for the classic engine alone one worker per core (measured:
    2 workers on 2 cores do 1.25-1.3x the videos of one). At least 1, at most the number of
    videos."""
    n_cpu = os.cpu_count() or 1
    if any(may_use_gpu(j) for j in jobs) and (gpus := _local_gpus()) > 0:
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


def _worker_main(conn, out: str, threads: int, gpu: int | None, parent: int,
                 hook: JobHook | None = None) -> None:
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
        job: VideoJob = msg[1]
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
        result = execute(job, out, progress, hook)
        try:
            conn.send(("result", result))
        except (OSError, ValueError):
            return


@dataclass
class _Slot:
    index: int
    proc: object
    conn: object
    job: VideoJob | None = None
    t0: float = 0.0


def run_local(jobs: Sequence[VideoJob], out, workers: int, events: BatchEvents, threads: int | None = None,
              timeout: float | None = None, hook: JobHook | None = None) -> list[JobResult]:
    """Run ``jobs`` on ``workers`` local processes; ``hook`` (picklable) runs in the workers
    after each stage of every job (see :data:`~sam2studio.batch.job.JobHook`)."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("spawn")
    workers = max(1, min(int(workers), len(jobs)))
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    gpus = _local_gpus() if any(may_use_gpu(j) for j in jobs) else 0
    pending: deque[VideoJob] = deque(jobs)
    results: list[JobResult] = []
    slots: list[_Slot] = []

    def start_worker(i: int) -> _Slot:
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, name=f"sam2studio-batch-{i}", daemon=True,
                           args=(child_conn, str(out), threads, (i % gpus) if gpus else None, os.getpid(), hook))
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
        raise Interrupted(results) from None
    _stop_workers(slots, kill=False)
    return results


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

