"""Work-arounds for bugs of the Qt binding, applied once when :mod:`sam2studio.gui` is imported."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

_applied = False


def none_refcount_leaks(calls: int = 64) -> bool:
    """True when calling a C++ method that returns void drops a reference to ``None``.

    PySide6 6.12 on CPython 3.11 does this (it treats ``None``, ``True`` and ``False`` as
    immortal, which they only are from Python 3.12 on; emitting a ``Signal(bool)`` drops a
    reference to the bool likewise): after some ten thousand such calls the interpreter frees
    the singleton and aborts with "Fatal Python error: none_dealloc" (or "bool_dealloc"). A
    busy editor makes that many calls within minutes.
    """
    from PySide6.QtCore import QObject

    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(calls):
        probe.setObjectName("probe")  # returns void
    leaked = before - sys.getrefcount(None)
    return leaked >= calls // 2


def guard_none_refcount() -> bool:
    """Make ``None``, ``True`` and ``False`` effectively immortal when the binding leaks
    references to them.

    Raises their reference counts by 2**48 (what Python 3.12 does for every immortal object,
    in spirit): the leak would need centuries to use that up, and these singletons are never
    meant to be freed anyway. Does nothing on Python 3.12+, other interpreters, debug builds,
    or a binding without the leak. Returns True when it raised the count.
    """
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"):
        return False
    try:
        if not none_refcount_leaks():
            return False
        import ctypes

        for singleton in (None, True, False):
            ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 48
    except Exception:  # pragma: no cover - never stop the app over this
        log.exception("could not apply the None reference-count guard")
        return False
    _applied = True
    log.info("PySide6 leaks references to None/True/False on this Python: made them immortal")
    return True
