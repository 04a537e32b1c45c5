"""Write locks on project files: one writer per project, across processes.

A writer holds ``.NAME.lock`` beside the project (``.clip.s2s.lock`` for ``clip.s2s``) with an
OS lock on it (``flock`` on POSIX, a locked byte range on Windows) and its pid, host and start
time written inside, so a second writer is refused with who holds it. The OS lock goes away
with the process, so a crashed writer (even ``kill -9``) never leaves a project locked; the
stale file is taken over by the next writer.

Locks are per process and re-entrant: the same process may take the lock on one file several
times (a CLI command checks it before its work, the project takes it again when it saves);
it is released when the last holder lets go, and at exit. Readers never lock.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProjectError

__all__ = ["LockHolder", "ProjectLock", "ProjectLockedError", "lock_holder", "lock_path"]


@dataclass(frozen=True)
class LockHolder:
    """Who holds a project's write lock."""

    pid: int | None
    host: str
    since: str  # "20:31 UTC" style, as written by the holder

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "another process"
        host = f" on {self.host}" if self.host else ""
        since = f" since {self.since}" if self.since else ""
        return f"{who}{host}{since}"


class ProjectLockedError(ProjectError):
    """Another process holds the project's write lock."""

    def __init__(self, path: Path, holder: LockHolder | None) -> None:
        self.path = Path(path)
        self.holder = holder
        who = holder.describe() if holder is not None else "another process"
        super().__init__(f"{self.path.name} is open for writing by another SAM2 Studio ({who}); "
                         "close it there, or open it read-only or save under another name")


def lock_path(project: str | os.PathLike) -> Path:
    """The lock file of ``project``."""
    p = Path(project)
    return p.parent / f".{p.name}.lock"


def _key(project: str | os.PathLike) -> str:
    p = Path(project)
    try:
        return str(p.parent.resolve() / p.name)
    except OSError:
        return str(p.absolute())


def _parse_holder(text: str) -> LockHolder | None:
    try:
        d = json.loads(text)
        return LockHolder(int(d.get("pid") or 0) or None, str(d.get("host", "")), str(d.get("since", "")))
    except (ValueError, TypeError, AttributeError):
        return None


def lock_holder(project: str | os.PathLike) -> LockHolder | None:
    """Who holds ``project``'s write lock now, or None when nobody does (or this process)."""
    key = _key(project)
    with _guard:
        if key in _held:
            return None
    try:
        lock = _OsLock.try_open(lock_path(project))
    except FileNotFoundError:
        return None  # no lock file (or a folder that is not there): nobody holds it
    except OSError:
        return None
    if lock is None:
        return _read_holder(lock_path(project))
    lock.release(remove=False)
    return None


def _read_holder(path: Path) -> LockHolder:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(4096)
    except OSError:
        text = ""
    return _parse_holder(text) or LockHolder(None, "", "")


class _OsLock:
    """An open lock file with the OS lock taken on it."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    @classmethod
    def try_open(cls, path: Path, create: bool = False) -> _OsLock | None:
        """Lock ``path``; None when another process holds it. FileNotFoundError when it does not
        exist and ``create`` is False."""
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        for _ in range(20):
            fd = os.open(path, flags, 0o644)
            if not _os_trylock(fd):
                os.close(fd)
                return None
            # the file may have been removed (released) between open and lock: lock the one
            # that stands at ``path`` now
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                return cls(fd, path)
            _os_unlock(fd)
            os.close(fd)
            if not create:
                raise FileNotFoundError(path)
        raise ProjectError(f"could not lock {path.name}: the lock file keeps changing")

    def write_holder(self) -> None:
        data = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "since": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "app": "sam2studio"}).encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, data)
        os.fsync(self.fd)

    def release(self, remove: bool) -> None:
        if remove:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        _os_unlock(self.fd)
        os.close(self.fd)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    _WIN_OFFSET = 1 << 30  # lock a byte far past the holder text, so others can still read it

    def _os_trylock(fd: int) -> bool:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
        finally:
            os.lseek(fd, 0, os.SEEK_SET)

    def _os_unlock(fd: int) -> None:
        os.lseek(fd, _WIN_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
else:
    import fcntl

    def _os_trylock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False

    def _os_unlock(fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass


_guard = threading.Lock()
_held: dict[str, list] = {}  # key -> [_OsLock, count]


class ProjectLock:
    """This process's hold on one project's write lock; :meth:`release` (or exit) lets go."""

    def __init__(self, project: str | os.PathLike) -> None:
        self.path = Path(project)
        self._key = _key(project)
        self._released = False

    @classmethod
    def acquire(cls, project: str | os.PathLike) -> ProjectLock:
        """Take the write lock of ``project`` (which need not exist yet). Raises
        :class:`ProjectLockedError` when another process holds it, :class:`ProjectError` when
        the lock file cannot be made (e.g. a read-only folder)."""
        key = _key(project)
        with _guard:
            entry = _held.get(key)
            if entry is not None:
                entry[1] += 1
                return cls(project)
            lp = lock_path(project)
            for _attempt in range(3):  # a moment's grace for a reader looking at who holds it
                try:
                    lock = _OsLock.try_open(lp, create=True)
                except OSError as exc:
                    why = exc.strerror.lower() if exc.strerror else type(exc).__name__
                    raise ProjectError(f"cannot write {Path(project).name} in {lp.parent}: {why}") from None
                if lock is not None:
                    break
                time.sleep(0.05)
            if lock is None:
                raise ProjectLockedError(Path(project), _read_holder(lp))
            try:
                lock.write_holder()
            except OSError:
                pass  # the OS lock holds; only the "who" text is missing
            _held[key] = [lock, 1]
        return cls(project)

    @property
    def held(self) -> bool:
        return not self._released

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        with _guard:
            entry = _held.get(self._key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _held[self._key]
                entry[0].release(remove=True)

    def __enter__(self) -> ProjectLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@atexit.register
def _release_all() -> None:
    with _guard:
        for lock, _count in _held.values():
            lock.release(remove=True)
        _held.clear()
