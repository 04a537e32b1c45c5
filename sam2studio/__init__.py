"""SAM2 Studio: interactive video object segmentation on top of Meta's SAM 2.

The Python API is :class:`sam2studio.Session` (see ``sam2studio.session``)::

    from sam2studio import Session
"""

__version__ = "0.1.0"
__all__ = ["Session", "__version__"]


def __getattr__(name):  # lazy: ``import sam2studio`` stays light for the CLI and the GUI
    if name == "Session":
        from .session import Session

        return Session
    raise AttributeError(f"module 'sam2studio' has no attribute {name!r}")
