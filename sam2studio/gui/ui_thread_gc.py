"""Python's cyclic garbage collection on the UI thread only, while a window with worker threads is open.

The cyclic collector runs on whichever thread happens to allocate when a generation passes its
threshold. When it frees a Qt object there (a menu or dialog kept alive by a reference cycle),
PySide's deletion and Qt's own locks meet the GIL in the opposite order on the UI thread, and the
two threads wait on each other for ever: seen as a frozen window while the controller thread was
building a SAM 2 model. So while a window that runs worker threads is open, automatic collection is
off and a timer on the UI thread collects instead, the same generations gc would have collected.

A full collection walks every object the process holds: with torch and a SAM 2 model loaded, about
75 ms on an idle 2-core machine and 100-230 ms on a busy one, a visible hitch while masks play.
So when a video, a project or an engine has just been loaded (the user waited for it anyway),
:func:`settle` collects once and freezes what is left (``gc.freeze``): later collections walk
only what was made since. The next load, and the last window's close, unfreeze and collect
everything again, so an engine or session replaced since (a SAM 2 engine is freed only by the
cyclic collector) is never kept.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QThread, QTimer
from PySide6.QtWidgets import QApplication

#: how often the UI thread checks gc's counts (milliseconds): often enough that each collection stays small
#: (measured during a SAM 2 model build and propagation: generation 0 at most ~2 ms, generation 1
#: ~17 ms; at 250 ms they grew to 55 and 150 ms)
INTERVAL_MS = 20


class _Collector(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.holders = 0
        self.was_enabled = True
        self.long_lived = 0  # objects in the oldest generation after the last full collection
        self.next_full_check = gc.get_threshold()[2]  # generation 2's count that asks for a look
        self.froze = False  # settle() froze the heap (unfrozen at the next settle or the last release)
        self.timer = QTimer(self)
        self.timer.setInterval(INTERVAL_MS)
        self.timer.timeout.connect(self.collect_due)

    def collect_due(self) -> None:
        """Collect what gc itself would collect now: the oldest generation whose count passed its
        threshold, and the whole heap only when it grew by a quarter since the last full collection
        (CPython's own rule: a full collection of a process holding a model takes ~100 ms)."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        if thresholds[2] and counts[2] > self.next_full_check:
            old = len(gc.get_objects(generation=2))
            if old - self.long_lived > self.long_lived // 4:
                gc.collect(2)
                self.long_lived = len(gc.get_objects(generation=2))
                self.next_full_check = thresholds[2]
                return
            self.next_full_check = counts[2] + thresholds[2]  # not grown enough: look again later
        for generation in (1, 0):
            if thresholds[generation] and counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return


_collector: _Collector | None = None


def hold() -> None:
    """(UI thread) Collect only on the UI thread until the matching :func:`release`."""
    global _collector
    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        raise RuntimeError("ui_thread_gc.hold() must be called on the UI thread of a QApplication")
    if _collector is None:
        _collector = _Collector()
    c = _collector
    if c.holders == 0:
        c.was_enabled = gc.isenabled()
        gc.disable()
        c.long_lived = len(gc.get_objects(generation=2))
        c.next_full_check = gc.get_threshold()[2]
        c.timer.start()
    c.holders += 1


def settle() -> None:
    """(UI thread) A long-lived part of the heap was just built (a video, project or engine
    loaded): collect everything once, then freeze what survives, so that the collections while
    the user works walk only newer objects. Does nothing unless a window holds collection."""
    c = _collector
    if c is None or c.holders == 0:
        return
    if c.froze:
        gc.unfreeze()  # what the previous load froze may be garbage now (a replaced engine)
    gc.collect()
    gc.freeze()
    c.froze = True
    c.long_lived = 0
    c.next_full_check = gc.get_threshold()[2]


def release() -> None:
    """(UI thread) Undo one :func:`hold`; the last one collects now and turns automatic collection
    back on (when it was on before)."""
    c = _collector
    if c is None or c.holders == 0:
        return
    c.holders -= 1
    if c.holders == 0:
        c.timer.stop()
        if c.froze:
            gc.unfreeze()
            c.froze = False
        gc.collect()  # what the closed window left, freed here rather than on some other thread
        if c.was_enabled:
            gc.enable()


def holders() -> int:
    """How many windows hold UI-thread collection now (for tests)."""
    return _collector.holders if _collector is not None else 0
