"""Project: a video reference, objects, prompts, masks and stale marks, saved as one SQLite file.

Why SQLite: a save is one transaction, so a crash or a full disk mid-write leaves the last good
state; an autosave writes only the masks that changed since the last write to that file. A
"save as" to a new file is written under a temporary name and renamed, so a half-written
project never stands under the final name.

The video is referenced by path (absolute and relative to the project) plus its size, frame
count and a content fingerprint, so a moved video is found again or reported plainly.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ..errors import ProjectError, VideoError
from .masks import MaskStore
from .objects import TrackedObject
from .prompts import FramePrompt, PromptStore

FORMAT_VERSION = 2  # 2: absence marks among the prompts (a file without them is written as 1)
PROJECT_SUFFIX = ".s2s"
APPLICATION_ID = 0x53325332  # "S2S2": marks the SQLite file as ours

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, color TEXT NOT NULL,
                                    visible INTEGER NOT NULL, locked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (frame INTEGER NOT NULL, obj INTEGER NOT NULL, data TEXT NOT NULL,
                                    mask BLOB, PRIMARY KEY (frame, obj));
CREATE TABLE IF NOT EXISTS masks (frame INTEGER NOT NULL, obj INTEGER NOT NULL, counts BLOB NOT NULL,
                                  area INTEGER NOT NULL, score REAL NOT NULL, PRIMARY KEY (frame, obj));
CREATE TABLE IF NOT EXISTS stale (obj INTEGER NOT NULL, frame INTEGER NOT NULL, PRIMARY KEY (obj, frame));
"""


class Project:
    """Everything a user made on one video. Qt-free; the GUI, CLI and batch share it."""

    def __init__(self, video_path: str | Path | None, width: int, height: int, num_frames: int,
                 fps: float, fingerprint: str = "") -> None:
        self.video_path = None if video_path is None else Path(video_path)
        self.width, self.height = int(width), int(height)
        self.num_frames, self.fps = int(num_frames), float(fps)
        self.fingerprint = fingerprint
        self.objects: dict[int, TrackedObject] = {}
        self.prompts = PromptStore()
        self.masks = MaskStore(height, width)
        self.stale: dict[int, set[int]] = {}
        self.settings: dict = {}
        #: the latest quality check's flags, ``{object: [flag dict, ...]}`` (saved with the project)
        self.quality_flags: dict[int, list[dict]] = {}
        self.path: Path | None = None
        self._token = uuid.uuid4().hex  # who last wrote a file, for incremental writes
        self._written: dict[str, int] = {}  # file -> mask revision written there
        self._edits = 0  # changes to objects/prompts/stale since creation
        self._saved_edits = 0
        self._saved_revision = 0
        self._write_lock = threading.Lock()

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def for_video(cls, video) -> Project:
        """A new, empty project on a :class:`~sam2studio.core.video.VideoSource`."""
        fp = ""
        if video.path is not None and video.kind in ("file", "folder", "image"):
            from .video import fingerprint

            fp = fingerprint(video.path)
        path = None if video.path is None else Path(video.path).resolve()
        return cls(path, video.width, video.height, len(video), video.fps, fp)

    # ---- change tracking ---------------------------------------------------------------
    def touch(self) -> None:
        """Record an edit to objects, prompts or stale marks (masks track themselves)."""
        self._edits += 1

    @property
    def dirty(self) -> bool:
        """Unsaved changes since the last save to :attr:`path`."""
        return self._edits != self._saved_edits or self.masks.revision != self._saved_revision

    # ---- objects -----------------------------------------------------------------------
    def next_object_id(self) -> int:
        return max(self.objects, default=0) + 1

    def add_object(self, obj: TrackedObject) -> TrackedObject:
        if obj.id in self.objects:
            raise ProjectError(f"object {obj.id} already exists")
        self.objects[obj.id] = obj
        self.touch()
        return obj

    def remove_object(self, obj_id: int) -> TrackedObject | None:
        obj = self.objects.pop(int(obj_id), None)
        self.prompts.remove_object(obj_id)
        self.masks.remove_object(obj_id)
        self.stale.pop(int(obj_id), None)
        self.touch()
        return obj

    # ---- saving ------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Save to ``path`` (default: where it was loaded or last saved) and make it the
        project's file. Atomic: the file holds either the old or the new state."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError("this project has not been saved yet: choose a file name")
        if target.suffix == "":
            target = target.with_suffix(PROJECT_SUFFIX)
        revision, edits = self.masks.revision, self._edits
        self._write(target)
        self.path = target.resolve()
        self._saved_edits, self._saved_revision = edits, revision
        return self.path

    def save_copy(self, path: str | Path) -> Path:
        """Write the project to ``path`` (autosave) without changing :attr:`path` or the
        unsaved-changes state. Only masks changed since the last write there are written."""
        path = Path(path)
        self._write(path)
        return path

    def _write(self, target: Path) -> None:
        with self._write_lock:
            target = Path(target)
            key = str(target.resolve())
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists() and key in self._written and self._owns(target):
                    revision = self._write_db(target, incremental_from=self._written[key])
                else:
                    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
                    os.close(fd)
                    try:
                        os.unlink(tmp)
                        revision = self._write_db(Path(tmp), incremental_from=None)
                        os.replace(tmp, target)
                    finally:
                        if os.path.exists(tmp):
                            os.unlink(tmp)
            except (OSError, sqlite3.Error) as exc:
                raise ProjectError(f"could not save the project to {target}: {_reason(exc)}") from exc
            self._written[key] = revision

    def _owns(self, target: Path) -> bool:
        try:
            with contextlib.closing(_connect(target, readonly=True)) as db:
                row = db.execute("SELECT value FROM meta WHERE key='writer'").fetchone()
            return row is not None and row[0] == self._token
        except sqlite3.Error:
            return False

    def _write_db(self, target: Path, incremental_from: int | None) -> int:
        """Write into the SQLite file ``target``; returns the mask revision written."""
        revision = self.masks.revision
        db = _connect(target)
        try:
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")
            if incremental_from is None:
                db.executescript(_SCHEMA)
            with db:  # one transaction
                meta = {
                    # a project without absence marks stays readable by versions that read format 1
                    "format_version": FORMAT_VERSION if any(p.absent for _, _, p in self.prompts.items()) else 1,
                    "writer": self._token,
                    "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "video_path": "" if self.video_path is None else str(self.video_path),
                    "video_relpath": self._relpath(target),
                    "width": self.width, "height": self.height,
                    "num_frames": self.num_frames, "fps": self.fps,
                    "fingerprint": self.fingerprint,
                    "settings": json.dumps(self.settings),
                    "quality_flags": json.dumps({str(o): v for o, v in self.quality_flags.items()}),
                }
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, str(v)) for k, v in meta.items()])
                db.execute("DELETE FROM objects")
                db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?)", [
                    (o.id, o.name, json.dumps(list(o.color)), int(o.visible), int(o.locked))
                    for o in self.objects.values()])
                db.execute("DELETE FROM prompts")
                db.executemany("INSERT INTO prompts VALUES (?, ?, ?, ?)", [
                    (f, o, json.dumps(p.to_json()), None if p.mask_rle is None else _counts(p.mask_rle))
                    for f, o, p in self.prompts.items()])
                db.execute("DELETE FROM stale")
                db.executemany("INSERT INTO stale VALUES (?, ?)",
                               [(o, f) for o, frames in self.stale.items() for f in frames])
                if incremental_from is None:
                    rows = [(f, o, _counts(e.rle), e.area, e.score) for f, o, e in self.masks.items()]
                    removed = []
                else:
                    changed, removed = self.masks.changes_since(incremental_from)
                    rows = [(f, o, _counts(e.rle), e.area, e.score) for f, o, e in changed]
                db.executemany("DELETE FROM masks WHERE frame=? AND obj=?", removed)
                db.executemany("INSERT OR REPLACE INTO masks VALUES (?, ?, ?, ?, ?)", rows)
        finally:
            db.close()
        return revision

    def _relpath(self, target: Path) -> str:
        if self.video_path is None:
            return ""
        try:
            return os.path.relpath(self.video_path, Path(target).resolve().parent)
        except ValueError:  # another drive on Windows
            return ""

    # ---- loading -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Project:
        """Read a project file. A missing, corrupt or newer file raises :class:`ProjectError`."""
        path = Path(path)
        if not path.is_file():
            raise ProjectError(f"project file {path} does not exist")
        try:
            with contextlib.closing(_connect(path, readonly=True)) as db:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                version = int(meta.get("format_version", "0"))
                if version > FORMAT_VERSION:
                    raise ProjectError(
                        f"{path.name} was saved by a newer SAM2 Studio (project format {version}); "
                        f"this version reads up to format {FORMAT_VERSION}: please update"
                    )
                if version < 1:
                    raise ProjectError(f"{path.name} is not a SAM2 Studio project")
                proj = cls(meta["video_path"] or None, int(meta["width"]), int(meta["height"]),
                           int(meta["num_frames"]), float(meta["fps"]), meta.get("fingerprint", ""))
                proj.settings = json.loads(meta.get("settings", "{}"))
                proj.quality_flags = {int(o): list(v) for o, v in json.loads(meta.get("quality_flags", "{}")).items()}
                proj._video_relpath = meta.get("video_relpath", "")
                for oid, name, color, visible, locked in db.execute("SELECT * FROM objects ORDER BY id"):
                    proj.objects[oid] = TrackedObject(oid, name, tuple(json.loads(color)), bool(visible), bool(locked))
                for f, o, data, mask in db.execute("SELECT * FROM prompts"):
                    rle = None if mask is None else {"size": [proj.height, proj.width], "counts": bytes(mask)}
                    proj.prompts.set(f, o, FramePrompt.from_json(json.loads(data), rle))
                for f, o, counts, area, score in db.execute("SELECT * FROM masks"):
                    proj.masks.set_rle(f, o, {"size": [proj.height, proj.width], "counts": bytes(counts)}, score, area)
                for o, f in db.execute("SELECT * FROM stale"):
                    proj.stale.setdefault(o, set()).add(f)
        except ProjectError:
            raise
        except (sqlite3.Error, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{path.name} is not a SAM2 Studio project or is corrupt ({_reason(exc)})") from exc
        proj.path = path.resolve()
        proj._saved_edits, proj._saved_revision = proj._edits, proj.masks.revision
        return proj

    def locate_video(self) -> Path:
        """Find the project's video: its absolute path, then relative to the project file,
        then by name beside the project. Raises :class:`VideoError` naming where it looked."""
        candidates: list[Path] = []
        if self.video_path is not None:
            candidates.append(self.video_path)
        rel = getattr(self, "_video_relpath", "")
        if self.path is not None:
            if rel:
                candidates.append((self.path.parent / rel).resolve())
            if self.video_path is not None:
                candidates.append(self.path.parent / self.video_path.name)
        for c in candidates:
            if c.exists():
                return c
        looked = ", ".join(str(c) for c in dict.fromkeys(candidates)) or "nowhere (no path recorded)"
        raise VideoError(f"the project's video was not found (looked at {looked}); open it from its new place")

    def check_video(self, video) -> list[str]:
        """Problems that make ``video`` not this project's video (empty list when it fits)."""
        problems = []
        if (video.width, video.height) != (self.width, self.height):
            problems.append(f"its size is {video.width}x{video.height}, the project's is {self.width}x{self.height}")
        if len(video) != self.num_frames:
            problems.append(f"it has {len(video)} frames, the project's has {self.num_frames}")
        if self.fingerprint and video.path is not None and video.kind in ("file", "folder", "image"):
            from .video import fingerprint

            if fingerprint(video.path) != self.fingerprint:
                problems.append("its content differs from the video the project was made on")
        return problems

    def relocate_video(self, video) -> None:
        """Point the project at ``video`` (same size and frame count required)."""
        problems = [p for p in self.check_video(video) if "content" not in p]
        if problems:
            raise VideoError(f"{video.name} does not fit this project: " + "; ".join(problems))
        self.video_path = Path(video.path).resolve()
        self.touch()


def _counts(rle: dict) -> bytes:
    c = rle["counts"]
    return c.encode("ascii") if isinstance(c, str) else bytes(c)


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=5)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fails fast on non-SQLite files
        return db
    db = sqlite3.connect(str(path), timeout=5)
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=FULL")
    return db


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
