"""Faults injected into batch workers through ``run_batch(..., hook=...)`` (the worker
processes import this module by name to unpickle the hook)."""

from __future__ import annotations

import os
import signal
import time


def crash_cups(stage: str, job) -> None:
    """The worker running ``cups`` kills itself (SIGKILL) once its masks are computed."""
    if stage == "propagated" and job.key == "cups":
        os.kill(os.getpid(), signal.SIGKILL)


def slow_dog(stage: str, job) -> None:
    """``dog`` takes a minute longer, after everything is written but before it is marked done."""
    if stage == "written" and job.key == "dog":
        time.sleep(60)


def slow_cups(stage: str, job) -> None:
    """``cups`` takes two minutes longer, after everything is written but before it is marked done."""
    if stage == "written" and job.key == "cups":
        time.sleep(120)
