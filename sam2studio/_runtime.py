"""Process-wide settings that must be in place before torch or OpenCV start.

:func:`set_process_defaults` is called once, by ``sam2studio/__init__.py``: the one deliberate
side effect of importing the package, because it has to happen before the first
``import torch`` anywhere in the process (the engines, a test's predictor, a user's script
that imports torch after sam2studio), and the package import is the only point every path
goes through first. It only sets defaults: values the user set win.
"""

from __future__ import annotations

import os

#: environment defaults, with why
PROCESS_DEFAULTS = {
    # OpenMP threads that spin while waiting (the default) made SAM 2 on the CPU up to 8x slower
    # here whenever another thread or process wanted a core (a click took 2 s instead of
    # 0.25 s); they must be told before torch starts its OpenMP runtime.
    "OMP_WAIT_POLICY": "PASSIVE",
    # OpenCV's own warnings (e.g. probing a camera that is not there) would reach the
    # terminal; SAM2 Studio reports such failures itself, in one sentence.
    "OPENCV_LOG_LEVEL": "ERROR",
}


def set_process_defaults() -> None:
    """Set :data:`PROCESS_DEFAULTS` in ``os.environ`` where the user has not set them."""
    for key, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(key, value)
