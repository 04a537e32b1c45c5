"""The skeleton shared by the GUI's background workers (frame decoding, overlay rendering).

A :class:`CachedWorker` owns one QThread and a small LRU of results. The UI thread says what
it wants (under :attr:`_cond`); the thread takes one job at a time with :meth:`_take`, works
on it outside the lock (:meth:`_produce`), stores the result unless the *generation* moved on
meanwhile (a new video, a new mask store: :meth:`_new_generation` drops everything) and
hands it to the UI thread, where :meth:`_deliver` turns it into the subclass's own signal.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from PySide6.QtCore import QObject, QThread, Signal, Slot

#: :meth:`CachedWorker._produce` returns this when there is nothing to store or deliver.
SKIP = object()


class _WorkerThread(QThread):
    def __init__(self, owner: CachedWorker, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self._owner = owner

    def run(self) -> None:
        self._owner._loop()


class CachedWorker(QObject):
    """A worker thread with an LRU of ``capacity`` results keyed by job; see the module docstring.

    Subclasses implement :meth:`_has_work`, :meth:`_take` (both called with the lock held),
    :meth:`_produce` (on the worker thread, without the lock) and :meth:`_deliver` (UI thread);
    a subclass without one of them is refused where it is defined (Qt's metaclass rules out
    ``abc.ABC`` here).
    """

    _ready = Signal(int, object, object)  # generation, key, result (queued to the UI thread)
    _HOOKS = ("_has_work", "_take", "_produce", "_deliver")

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        missing = [h for h in CachedWorker._HOOKS if getattr(cls, h) is getattr(CachedWorker, h)]
        if missing:
            raise TypeError(f"{cls.__name__} must implement {', '.join(missing)} (see CachedWorker)")

    def __init__(self, capacity: int, thread_name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.capacity = int(capacity)
        self._cond = threading.Condition()
        self._cache: OrderedDict = OrderedDict()
        self._gen = 0
        self._stop = False
        self._ready.connect(self._on_ready)
        self._thread = _WorkerThread(self, thread_name)
        self._thread.start()

    # ---- subclass hooks ------------------------------------------------------------------
    def _has_work(self) -> bool:
        """Whether a job is waiting (lock held)."""

    def _take(self) -> tuple[object, bool] | None:
        """The next job as ``(key, deliver)``, or None to skip (lock held). Results of jobs
        taken with ``deliver`` False are only cached."""

    def _produce(self, gen: int, key, deliver: bool):
        """The result for ``key`` (worker thread, no lock), or :data:`SKIP`."""

    def _stored(self, key, deliver: bool) -> None:
        """Called with the lock held after a delivered result was stored (e.g. to plan what to
        read ahead)."""

    def _deliver(self, key, result) -> None:
        """Hand a result to the UI (UI thread), e.g. by emitting a signal."""

    def _thread_exit(self) -> None:
        """Release what the worker thread holds (worker thread, as it ends)."""

    # ---- the worker thread ---------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._stop and not self._has_work():
                        self._cond.wait()
                    if self._stop:
                        return
                    gen = self._gen
                    job = self._take()
                if job is None:
                    continue
                key, deliver = job
                result = self.cached(key)
                if result is None:
                    result = self._produce(gen, key, deliver)
                    if result is SKIP:
                        continue
                    with self._cond:
                        if gen != self._gen:
                            continue
                        self._store(key, result)
                if deliver:
                    with self._cond:
                        if gen != self._gen:
                            continue
                        self._stored(key, deliver)
                    self._ready.emit(gen, key, result)
        finally:
            self._thread_exit()

    # ---- shared helpers ------------------------------------------------------------------
    def _new_generation(self) -> None:
        """Drop the cache and start a new generation (lock held); late results are ignored."""
        self._gen += 1
        self._cache.clear()

    def _store(self, key, result) -> None:
        """Keep ``result`` as the most recent entry (lock held)."""
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)

    def _lookup(self, key):
        """The cached result, marked as recently used (lock held); None when absent."""
        r = self._cache.get(key)
        if r is not None:
            self._cache.move_to_end(key)
        return r

    def cached(self, key):
        with self._cond:
            return self._cache.get(key)

    def cache_size(self) -> int:
        with self._cond:
            return len(self._cache)

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.wait(5000)

    @property
    def thread(self) -> QThread:
        return self._thread

    @Slot(int, object, object)
    def _on_ready(self, gen: int, key, result) -> None:
        if gen == self._gen:
            self._deliver(key, result)
