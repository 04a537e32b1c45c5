"""SAM2 Studio: interactive video object segmentation on top of Meta's SAM 2.

The Python API is :class:`sam2studio.Session` (see ``sam2studio.session``)::

    from sam2studio import Session

Importing the package sets two environment defaults (``OMP_WAIT_POLICY=PASSIVE``,
``OPENCV_LOG_LEVEL=ERROR``) unless already set: the single deliberate side effect at import,
since they must precede the first ``import torch`` (see :mod:`sam2studio._runtime`).
"""

from ._runtime import set_process_defaults
from ._version import __version__

set_process_defaults()

__all__ = ["Session", "__version__"]


def __getattr__(name):  # lazy: ``import sam2studio`` stays light for the CLI and the GUI
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'sam2studio' has no attribute {name!r}")
