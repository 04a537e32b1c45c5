"""Garbage left in reference cycles is freed on the UI thread while a window is open, never on a
worker thread that happens to allocate (a Qt object freed there can deadlock the app)."""

from __future__ import annotations

import gc
import threading

from sam2studio.gui import ui_thread_gc


class _Cycle:
    """A reference cycle that records the thread that frees it."""

    def __init__(self, freed_on: list) -> None:
        self.me = self
        self.freed_on = freed_on

    def __del__(self) -> None:
        self.freed_on.append(threading.get_ident())


def _leave_cycle_and_allocate_on_a_worker(freed_on: list) -> None:
    _Cycle(freed_on)  # unreachable at once, freed only by the cyclic collector

    def allocate():  # enough container allocations to pass generation 0's threshold many times
        keep = [[i] for i in range(20 * gc.get_threshold()[0])]
        del keep

    t = threading.Thread(target=allocate)
    t.start()
    t.join()


def test_cycles_are_freed_on_the_ui_thread_while_a_window_is_open(make_window, qtbot):
    win = make_window(show=False)
    assert ui_thread_gc.holders() >= 1 and not gc.isenabled()
    freed_on: list = []
    _leave_cycle_and_allocate_on_a_worker(freed_on)
    assert freed_on == []  # the worker's allocations did not run the collector
    qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)  # the UI thread's timer did
    assert freed_on == [threading.get_ident()]

    win.shutdown()
    assert ui_thread_gc.holders() == 0 and gc.isenabled()  # automatic collection is back


def test_without_a_window_the_collector_runs_wherever_python_allocates():
    """The situation the guard exists for (and a check that the test above can fail)."""
    assert gc.isenabled()
    freed_on: list = []
    _leave_cycle_and_allocate_on_a_worker(freed_on)
    assert freed_on and freed_on[0] != threading.get_ident()


def test_a_load_freezes_the_heap_and_the_next_load_frees_what_it_replaced(make_window, qtbot, short_clip):
    """After a video opens, collections walk only newer objects (the heap is frozen); a session
    replaced by the next load is freed even when only the cyclic collector can free it; closing the
    window leaves nothing frozen."""
    from .helpers import open_clip

    win = make_window(show=False)
    open_clip(qtbot, win, short_clip)
    assert gc.get_freeze_count() > 0
    freed_on: list = []
    win.session.test_cycle = _Cycle(freed_on)  # garbage once the session is replaced
    ui_thread_gc.settle()  # as after a load: the cycle is frozen now
    assert freed_on == []
    open_clip(qtbot, win, short_clip)  # the first session is dropped, its cycle garbage
    qtbot.waitUntil(lambda: bool(freed_on), timeout=5000)
    assert freed_on == [threading.get_ident()]
    win.shutdown()
    assert gc.get_freeze_count() == 0
