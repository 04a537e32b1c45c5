"""SAM2 Studio: interactive video object segmentation on top of Meta's SAM 2.

The Python API is :class:`sam2studio.Session` (see ``sam2studio.session``)::

    from sam2studio import Session
"""

import os

# OpenMP threads that spin while waiting (the default) made SAM 2 on the CPU up to 8x slower
# here whenever another thread or process wanted a core (a click took 2 s instead of 0.25 s);
# they must be told before torch starts its OpenMP runtime. A value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenCV's own warnings (e.g. probing a camera that is not there) would reach the terminal;
# SAM2 Studio reports such failures itself, in one sentence
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

__version__ = "0.1.0"
__all__ = ["Session", "__version__"]


def __getattr__(name):  # lazy: ``import sam2studio`` stays light for the CLI and the GUI
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'sam2studio' has no attribute {name!r}")
