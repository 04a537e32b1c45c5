"""Background autosave and crash recovery.

While a window has unsaved changes, every ``interval`` seconds the controller writes the
project to ``<data dir>/autosave/<id>.s2s`` (only what changed since the last write there)
next to ``<id>.json`` (what it is a copy of, when, by which process). A clean close deletes
both. Files left by a process that is gone (a crash, a kill) are offered for recovery at the
next start.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from .settings import autosave_dir

log = logging.getLogger(__name__)

#: autosave ids owned by windows alive in this process
LIVE: set[str] = set()


@dataclass
class AutosaveEntry:
    id: str
    project_file: Path
    meta_file: Path
    name: str
    source: str | None  # the project file it is a copy of (None: never saved)
    video: str | None
    saved_at: float
    pid: int

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":  # pragma: no cover - Windows
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)
            return True
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's process
        return True
    return True


def find_orphans(folder: Path | None = None) -> list[AutosaveEntry]:
    """Autosaves whose window is gone, newest first."""
    folder = autosave_dir() if folder is None else Path(folder)
    out: list[AutosaveEntry] = []
    if not folder.is_dir():
        return out
    for meta in folder.glob("*.json"):
        try:
            d = json.loads(meta.read_text(encoding="utf-8"))
            aid = str(d["id"])
            pid = int(d.get("pid", 0))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        project = folder / f"{aid}.s2s"
        if not project.is_file() or aid in LIVE:
            continue
        if pid != os.getpid() and _pid_alive(pid):
            continue  # another running instance owns it
        out.append(AutosaveEntry(aid, project, meta, d.get("name") or project.name, d.get("source"),
                                 d.get("video"), float(d.get("saved_at", meta.stat().st_mtime)), pid))
    out.sort(key=lambda e: e.saved_at, reverse=True)
    return out


def discard(entry: AutosaveEntry) -> None:
    for p in (entry.project_file, entry.meta_file):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not delete the autosave %s: %s", p, exc)


class Autosaver(QObject):
    """Writes the window's project in the background while it has unsaved changes."""

    saved = Signal(str)  # path
    failed = Signal(str)

    def __init__(self, controller, is_dirty, interval_s: float = 60.0, parent=None, revision=None) -> None:
        super().__init__(parent)
        self.ctl = controller
        self._is_dirty = is_dirty
        self._revision = revision or (lambda: None)
        self._saved_revision = None
        self.id = uuid.uuid4().hex
        LIVE.add(self.id)
        self._pending = False
        self._closed = threading.Event()  # a clean close: no autosave may be left after it
        self.count = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.set_interval(interval_s)

    @property
    def folder(self) -> Path:
        return autosave_dir()

    @property
    def path(self) -> Path:
        return self.folder / f"{self.id}.s2s"

    @property
    def meta_path(self) -> Path:
        return self.folder / f"{self.id}.json"

    def set_interval(self, seconds: float) -> None:
        self.timer.setInterval(max(200, int(seconds * 1000)))
        self.timer.start()

    def tick(self) -> None:
        if self._pending or self.ctl.session is None or not self._is_dirty():
            return
        rev = self._revision()
        if rev and rev == self._saved_revision:
            return  # nothing changed since the last autosave
        self._saved_revision = rev
        self.save_now()

    def save_now(self, on_done=None) -> None:
        """Queue an autosave (a light job: it may run between frames of a propagation)."""
        path, meta_path = self.path, self.meta_path
        self._pending = True

        def fn(ctx):
            if self._closed.is_set():
                return str(path)
            s = ctx.session
            path.parent.mkdir(parents=True, exist_ok=True)
            s.autosave(path)
            p = s.project
            meta = {
                "id": self.id, "pid": os.getpid(), "saved_at": time.time(),
                "source": None if p.path is None else str(p.path),
                "video": None if p.video_path is None else str(p.video_path),
                "name": (p.path.name if p.path is not None else
                         p.video_path.name if p.video_path is not None else "untitled"),
            }
            tmp = meta_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta), encoding="utf-8")
            os.replace(tmp, meta_path)
            if self._closed.is_set():  # the window closed cleanly while this was being written
                for leftover in (path, meta_path):
                    leftover.unlink(missing_ok=True)
            return str(path)

        def done(job) -> None:
            self._pending = False
            if job.error is None and not job.cancelled:
                self.count += 1
                self.saved.emit(job.result)
            if on_done is not None:
                on_done(job)

        def error(job) -> None:
            self._pending = False
            log.warning("autosave failed: %s", job.error)
            self.failed.emit(job.error or "")

        self.ctl.call(fn, "autosaving", kind="save", light=True, on_done=done, on_error=error)

    def clear(self) -> None:
        """Delete this window's autosave (after a save, or when its work is given up)."""
        self._saved_revision = None
        for p in (self.path, self.meta_path):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:  # pragma: no cover
                log.warning("could not delete the autosave %s: %s", p, exc)

    def release(self, keep_files: bool = False) -> None:
        """Stop autosaving; a clean close deletes the files (``keep_files`` leaves them, as a crash would)."""
        self.timer.stop()
        LIVE.discard(self.id)
        if not keep_files:
            self._closed.set()  # before clear(): an autosave being written deletes its own files
            self.clear()
