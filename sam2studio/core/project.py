"""Project: a video reference, objects, prompts, masks and stale marks, saved as one SQLite file.

Why SQLite: a save is one transaction, so a crash or a full disk mid-write leaves the last good
state; an autosave writes only the masks that changed since the last write to that file. A
"save as" to a new file is written under a temporary name and renamed, so a half-written
project never stands under the final name.

The video is referenced by path (absolute and relative to the project) plus its size, frame
count and a content fingerprint, so a moved video is found again or reported plainly.

Every mask and prompt row carries a CRC32 (format 2), checked on load: a damaged row is left
out and listed by :meth:`Project.damaged_masks` (frame and object), and the rest of the
project opens as usual. Format 1 files (no checksums) still open, with a lighter check, and
are upgraded on their next save. :func:`check_project` verifies a whole file.

One process at a time writes a project: :meth:`Project.save` takes the file's write lock
(:mod:`sam2studio.core.lock`) and holds it until :meth:`Project.close`; another writer gets
:class:`~sam2studio.core.lock.ProjectLockedError`. ``Project.load(path, lock=True)`` takes it on
opening (an editor), ``read_only=True`` opens without it and refuses to save over the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ProjectError, VideoError
from .lock import ProjectLock, ProjectLockedError, lock_holder  # noqa: F401  (ProjectLockedError: re-exported)
from .masks import DamagedMask, MaskStore, mask_checksum, prompt_checksum, rle_area, rle_is_valid
from .objects import TrackedObject, clean_category
from .prompts import FramePrompt, PromptStore

FORMAT_VERSION = 2  # 2: CRC32 per mask and prompt row
PROJECT_SUFFIX = ".s2s"
APPLICATION_ID = 0x53325332  # "S2S2": marks the SQLite file as ours

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS objects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, color TEXT NOT NULL,
                                    visible INTEGER NOT NULL, locked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prompts (frame INTEGER NOT NULL, obj INTEGER NOT NULL, data TEXT NOT NULL,
                                    mask BLOB, crc INTEGER NOT NULL, PRIMARY KEY (frame, obj));
CREATE TABLE IF NOT EXISTS masks (frame INTEGER NOT NULL, obj INTEGER NOT NULL, counts BLOB NOT NULL,
                                  area INTEGER NOT NULL, score REAL NOT NULL, crc INTEGER NOT NULL,
                                  PRIMARY KEY (frame, obj));
CREATE TABLE IF NOT EXISTS stale (obj INTEGER NOT NULL, frame INTEGER NOT NULL, PRIMARY KEY (obj, frame));
"""
# Object classes live in tables of their own, so project files written before classes existed
# still load (the tables are simply missing) and older versions still read newer files.
_CLASS_SCHEMA = """
CREATE TABLE IF NOT EXISTS categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS object_categories (obj INTEGER PRIMARY KEY, category TEXT NOT NULL);
"""


@dataclass(frozen=True)
class RerunStep:
    """One propagation that re-makes damaged masks: ``Session.propagate(start, direction,
    frame_range, objects=[obj])``."""

    obj: int
    start: int
    direction: str
    frame_range: tuple[int, int]


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
        #: the project's classes, class id -> name (ids are what COCO, MOTS... write)
        self.categories: dict[int, str] = {}
        self.settings: dict = {}
        self.path: Path | None = None
        self._token = uuid.uuid4().hex  # who last wrote a file, for incremental writes
        self._written: dict[str, int] = {}  # file -> mask revision written there
        self._edits = 0  # changes to objects/prompts/stale since creation
        self._saved_edits = 0
        self._saved_revision = 0
        self._write_lock = threading.Lock()
        self._damaged: dict[tuple[int | None, int | None, str], DamagedMask] = {}
        self.read_only = False  # opened without the write lock: saving over the file is refused
        self.lock: ProjectLock | None = None  # the write lock on :attr:`path`, while held

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
        if obj.category:
            self.add_category(obj.category)
        self.touch()
        return obj

    def add_category(self, name: str, class_id: int | None = None) -> int:
        """The id of class ``name``, added to :attr:`categories` (with ``class_id``, or the next
        free id) when it is new. Raises :class:`ProjectError` for an empty name or an id taken
        by another class."""
        name = clean_category(name)
        if not name:
            raise ProjectError("a class needs a name")
        for cid, cname in self.categories.items():
            if cname == name:
                return cid
        cid = max(self.categories, default=0) + 1 if class_id is None else int(class_id)
        if cid <= 0:
            raise ProjectError(f"class ids are positive integers, got {cid}")
        if cid in self.categories:
            raise ProjectError(f"class id {cid} is already {self.categories[cid]!r}")
        self.categories[cid] = name
        self.touch()
        return cid

    def set_category(self, obj_id: int, category: str | None) -> None:
        """Give object ``obj_id`` the class ``category`` (``""``/None: no class)."""
        obj = self.objects.get(int(obj_id))
        if obj is None:
            raise ProjectError(f"object {obj_id} does not exist")
        obj.category = clean_category(category)
        if obj.category:
            self.add_category(obj.category)
        self.touch()

    def class_names(self) -> list[str]:
        """Every class of the project (its list and its objects' categories), by class id."""
        seen = list(self.categories.values())
        seen += sorted({o.category for o in self.objects.values() if o.category} - set(seen))
        return seen

    def remove_object(self, obj_id: int) -> TrackedObject | None:
        obj = self.objects.pop(int(obj_id), None)
        self.prompts.remove_object(obj_id)
        self.masks.remove_object(obj_id)
        self.stale.pop(int(obj_id), None)
        self.touch()
        return obj

    # ---- damaged data ------------------------------------------------------------------
    def damaged_masks(self) -> list[DamagedMask]:
        """Masks and prompts found damaged when the file was read and not made again since,
        by frame. Their frames hold no mask (as if never segmented): re-run them."""
        out = []
        for d in self._damaged.values():
            if d.obj is not None and d.obj not in self.objects:
                continue
            if d.what == "mask" and d.frame is not None and self.masks.has(d.frame, d.obj):
                continue  # made again since
            if d.what == "prompt" and d.frame is not None and self.prompts.get(d.frame, d.obj) is not None:
                continue
            out.append(d)
        return sorted(out, key=lambda d: (d.frame is None, d.frame or 0, d.obj or 0, d.what))

    def damaged_frames(self, obj: int | None = None) -> list[int]:
        """Frames with a damaged mask (of ``obj``, or of any object), ascending."""
        return sorted({d.frame for d in self.damaged_masks()
                       if d.frame is not None and (obj is None or d.obj == int(obj))})

    def damaged_rerun_plan(self) -> list[RerunStep]:
        """Propagation runs that make every damaged mask again from the objects' prompts:
        forward from the nearest keyframe before the damaged frames (to the last of them), and
        backward from the first keyframe for damaged frames before it. Objects without any
        prompt left cannot be re-run and are left out (their damaged frames stay listed)."""
        steps: list[RerunStep] = []
        by_obj: dict[int, list[int]] = {}
        for d in self.damaged_masks():
            if d.what == "mask" and d.frame is not None and d.obj is not None:
                by_obj.setdefault(d.obj, []).append(d.frame)
        for obj, frames in sorted(by_obj.items()):
            keys = self.prompts.keyframes(obj)
            if not keys:
                continue
            after = [f for f in frames if f >= keys[0]]
            before = [f for f in frames if f < keys[0]]
            if after:
                start = max(k for k in keys if k <= min(after))
                steps.append(RerunStep(obj, start, "forward", (start, max(after))))
            if before:
                steps.append(RerunStep(obj, keys[0], "backward", (min(before), keys[0])))
        return steps

    # ---- locking -----------------------------------------------------------------------
    def close(self) -> None:
        """Let go of the write lock (the project stays readable in memory)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    # ---- saving ------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> Path:
        """Save to ``path`` (default: where it was loaded or last saved) and make it the
        project's file. Atomic: the file holds either the old or the new state. Takes the
        file's write lock and keeps it (:class:`ProjectLockedError` when another process holds
        it); a project opened read-only can only be saved under another name."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ProjectError("this project has not been saved yet: choose a file name")
        if target.suffix == "":
            target = target.with_suffix(PROJECT_SUFFIX)
        if self.read_only and self.path is not None and _same_file(self.path, target):
            raise ProjectError(f"{target.name} is open read-only: save it under another name")
        _make_folder(target)
        held = self.lock
        new = None
        if held is None or not _same_file(held.path, target):
            new = ProjectLock.acquire(target)
        revision, edits = self.masks.revision, self._edits
        try:
            self._write(target)
        except BaseException:
            if new is not None:
                new.release()
            raise
        if new is not None:
            if held is not None:
                held.release()
            self.lock = new
        self.path = target.resolve()
        self.read_only = False
        self._saved_edits, self._saved_revision = edits, revision
        return self.path

    def save_copy(self, path: str | Path) -> Path:
        """Write the project to ``path`` (autosave) without changing :attr:`path` or the
        unsaved-changes state. Only masks changed since the last write there are written.
        Refused (:class:`ProjectLockedError`) when another process is writing ``path``."""
        path = Path(path)
        _make_folder(path)
        if self.lock is not None and _same_file(self.lock.path, path):
            self._write(path)
            return path
        with ProjectLock.acquire(path):
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
                current = "crc" in _columns(db, "masks") and "crc" in _columns(db, "prompts")
            return row is not None and row[0] == self._token and current
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
            db.executescript(_CLASS_SCHEMA)
            with db:  # one transaction
                meta = {
                    "format_version": FORMAT_VERSION,
                    "writer": self._token,
                    "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "video_path": "" if self.video_path is None else str(self.video_path),
                    "video_relpath": self._relpath(target),
                    "width": self.width, "height": self.height,
                    "num_frames": self.num_frames, "fps": self.fps,
                    "fingerprint": self.fingerprint,
                    "settings": json.dumps(self.settings),
                }
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                               [(k, str(v)) for k, v in meta.items()])
                db.execute("DELETE FROM objects")
                db.executemany("INSERT INTO objects VALUES (?, ?, ?, ?, ?)", [
                    (o.id, o.name, json.dumps(list(o.color)), int(o.visible), int(o.locked))
                    for o in self.objects.values()])
                db.execute("DELETE FROM categories")
                db.executemany("INSERT INTO categories VALUES (?, ?)", sorted(self.categories.items()))
                db.execute("DELETE FROM object_categories")
                db.executemany("INSERT INTO object_categories VALUES (?, ?)",
                               [(o.id, o.category) for o in self.objects.values() if o.category])
                db.execute("DELETE FROM prompts")
                db.executemany("INSERT INTO prompts VALUES (?, ?, ?, ?, ?)", [
                    _prompt_row(f, o, p) for f, o, p in self.prompts.items()])
                db.execute("DELETE FROM stale")
                db.executemany("INSERT INTO stale VALUES (?, ?)",
                               [(o, f) for o, frames in self.stale.items() for f in frames])
                if incremental_from is None:
                    rows = [_mask_row(f, o, e) for f, o, e in self.masks.items()]
                    removed = []
                else:
                    changed, removed = self.masks.changes_since(incremental_from)
                    rows = [_mask_row(f, o, e) for f, o, e in changed]
                db.executemany("DELETE FROM masks WHERE frame=? AND obj=?", removed)
                db.executemany("INSERT OR REPLACE INTO masks VALUES (?, ?, ?, ?, ?, ?)", rows)
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
    def load(cls, path: str | Path, *, lock: bool = False, read_only: bool = False) -> Project:
        """Read a project file. A missing, corrupt or newer file raises :class:`ProjectError`;
        damaged masks or prompts inside an otherwise sound file are left out and listed by
        :meth:`damaged_masks`.

        ``lock=True`` takes the file's write lock at once (an editor that will save it):
        :class:`~sam2studio.core.lock.ProjectLockedError` when another process is writing it,
        whose ``holder`` says who. ``read_only=True`` opens it for reading whoever holds the
        lock; saving over it is then refused (save under another name)."""
        path = Path(path)
        if not path.is_file():
            raise ProjectError(f"project file {path} does not exist")
        held = ProjectLock.acquire(path) if lock and not read_only else None
        try:
            proj = cls._read(path)
        except BaseException:
            if held is not None:
                held.release()
            raise
        proj.lock = held
        proj.read_only = bool(read_only)
        return proj

    @staticmethod
    def lock_holder(path: str | Path):
        """Who is writing ``path`` now (:class:`~sam2studio.core.lock.LockHolder`), or None."""
        return lock_holder(path)

    @classmethod
    def _read(cls, path: Path) -> Project:
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
                proj._video_relpath = meta.get("video_relpath", "")
                for oid, name, color, visible, locked in db.execute("SELECT * FROM objects ORDER BY id"):
                    proj.objects[oid] = TrackedObject(oid, name, tuple(json.loads(color)), bool(visible), bool(locked))
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "categories" in tables:  # absent in projects saved before classes
                    proj.categories = {int(i): n for i, n in db.execute("SELECT id, name FROM categories ORDER BY id")}
                if "object_categories" in tables:
                    for oid, cat in db.execute("SELECT obj, category FROM object_categories"):
                        if oid in proj.objects:
                            proj.objects[oid].category = cat
                proj._read_prompts(db)
                proj._read_masks(db)
                for o, f in db.execute("SELECT * FROM stale"):
                    proj.stale.setdefault(o, set()).add(f)
        except ProjectError:
            raise
        except (sqlite3.Error, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ProjectError(f"{path.name} is not a SAM2 Studio project or is corrupt ({_reason(exc)})") from exc
        proj.path = path.resolve()
        proj._saved_edits, proj._saved_revision = proj._edits, proj.masks.revision
        if proj._damaged:
            from .masks import describe_damaged

            # callers report them (damaged_masks()): the CLI in its one error line, the app on the timeline
            log.info("%s: %s", path.name, describe_damaged(proj._damaged.values()))
        return proj

    def _damage(self, frame, obj, what: str) -> None:
        d = DamagedMask(frame, obj, what)
        self._damaged[(frame, obj, what)] = d

    def _read_prompts(self, db: sqlite3.Connection) -> None:
        has_crc = "crc" in _columns(db, "prompts")
        cols = "frame, obj, data, mask" + (", crc" if has_crc else "")
        rows = _Rows(db, "prompts", cols, self, "prompt")
        for row in rows:
            f, o, data, mask = row[:4]
            try:
                if not isinstance(f, int) or not isinstance(o, int) or not isinstance(data, str):
                    raise ValueError("bad row")
                mask = None if mask is None else bytes(mask)
                if has_crc and row[4] != prompt_checksum(f, o, data, mask):
                    raise ValueError("checksum")
                rle = None if mask is None else {"size": [self.height, self.width], "counts": mask}
                if rle is not None and not has_crc and not rle_is_valid(rle):
                    raise ValueError("bad rle")
                prompt = FramePrompt.from_json(json.loads(data), rle)
            except (ValueError, TypeError, AttributeError, json.JSONDecodeError):
                rows.damaged(f, o)
                continue
            self.prompts.set(f, o, prompt)
        rows.report_missing()

    def _read_masks(self, db: sqlite3.Connection) -> None:
        has_crc = "crc" in _columns(db, "masks")
        cols = "frame, obj, counts, area, score" + (", crc" if has_crc else "")
        size = [self.height, self.width]
        rows = _Rows(db, "masks", cols, self, "mask")
        for row in rows:
            f, o, counts, area, score = row[:5]
            try:
                if not isinstance(f, int) or not isinstance(o, int) or not isinstance(counts, bytes) \
                        or not isinstance(area, int) \
                        or not isinstance(score, (int, float)):
                    raise ValueError("bad row")
                rle = {"size": size, "counts": counts}
                if has_crc:
                    if row[5] != mask_checksum(f, o, counts, area, score):
                        raise ValueError("checksum")
                elif not rle_is_valid(rle) or rle_area(rle) != area:  # format 1: no checksum
                    raise ValueError("runs")
            except (ValueError, TypeError):
                rows.damaged(f, o)
                continue
            self.masks.set_rle(f, o, rle, score, area)
        rows.report_missing()

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


def _mask_row(frame: int, obj: int, e) -> tuple:
    counts = _counts(e.rle)
    return (frame, obj, counts, int(e.area), float(e.score),
            mask_checksum(frame, obj, counts, int(e.area), float(e.score)))


def _prompt_row(frame: int, obj: int, p: FramePrompt) -> tuple:
    data = json.dumps(p.to_json())
    mask = None if p.mask_rle is None else _counts(p.mask_rle)
    return (frame, obj, data, mask, prompt_checksum(frame, obj, data, mask))


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def _index_keys(db: sqlite3.Connection, table: str) -> dict[int, tuple[int, int]]:
    """rowid -> (frame, obj) from the primary-key index, a second copy of every row's key
    (used to name a row whose own key is damaged). Empty when the index cannot be read."""
    try:
        rows = db.execute(f"SELECT rowid, frame, obj FROM {table} INDEXED BY sqlite_autoindex_{table}_1").fetchall()
    except sqlite3.DatabaseError:
        return {}
    return {r: (f, o) for r, f, o in rows if isinstance(f, int) and isinstance(o, int)}


def _rows(db: sqlite3.Connection, table: str, cols: str):
    """``(rowid, row)`` for every row of ``table`` that can be read. When SQLite meets a
    damaged page part-way, the rows are read one rowid at a time instead."""
    seen = set()
    try:
        for row in db.execute(f"SELECT rowid, {cols} FROM {table}"):
            seen.add(row[0])
            yield row[0], row[1:]
        return
    except sqlite3.DatabaseError as exc:
        log.warning("%s table damaged (%s): reading it row by row", table, _reason(exc))
    try:
        top = db.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        top = max(seen, default=0) + 100_000
    for rowid in range(1, top + 1):
        if rowid in seen:
            continue
        try:
            row = db.execute(f"SELECT {cols} FROM {table} WHERE rowid=?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is not None:
            yield rowid, row


def _make_folder(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"could not save the project to {target}: {_reason(exc)}") from exc


class _Rows:
    """Iterates a mask or prompt table's rows and names the damaged ones: by the key in the
    primary-key index when the row's own key may be damaged too, and rows that the index
    lists but the table could not give back."""

    def __init__(self, db, table: str, cols: str, proj: Project, what: str) -> None:
        self.db, self.table, self.cols, self.proj, self.what = db, table, cols, proj, what
        self.index = _index_keys(db, table)
        self.seen: set[int] = set()
        self.rowid: int | None = None

    def __iter__(self):
        for rowid, row in _rows(self.db, self.table, self.cols):
            self.rowid = rowid
            self.seen.add(rowid)
            yield row

    def damaged(self, frame, obj) -> None:
        key = self.index.get(self.rowid)
        if key is None:  # no second copy of the key: trust the row's own only when plausible
            p = self.proj
            plausible = (isinstance(frame, int) and isinstance(obj, int) and 0 <= frame < max(p.num_frames, 1)
                         and obj in p.objects)
            key = (frame, obj) if plausible else (None, None)
        self.proj._damage(key[0], key[1], self.what)

    def report_missing(self) -> None:
        for rowid, (f, o) in self.index.items():
            if rowid not in self.seen:
                self.proj._damage(f, o, self.what)
        if not self.index and self.seen and max(self.seen) > len(self.seen):
            # rowids are dense (rows are only ever inserted): gaps are rows that could not be read
            pass


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return Path(a).absolute() == Path(b).absolute()


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


# ---- checking a whole file -----------------------------------------------------------------
@dataclass
class ProjectCheck:
    """What :func:`check_project` found in one project file."""

    path: Path
    format_version: int = 0
    integrity: list[str] = field(default_factory=list)  # PRAGMA integrity_check: ["ok"] when sound
    objects: int = 0
    masks: int = 0  # mask rows read (sound or not)
    prompts: int = 0
    damaged: list[DamagedMask] = field(default_factory=list)
    error: str | None = None  # the file could not be read as a project at all

    @property
    def checksums(self) -> bool:
        """Whether its masks carry checksums (format 2 or later)."""
        return self.format_version >= 2

    @property
    def ok(self) -> bool:
        return self.error is None and self.integrity == ["ok"] and not self.damaged

    def summary(self) -> list[str]:
        """A few lines for a person."""
        name = self.path.name
        if self.error is not None:
            return [f"{name}: cannot be read: {self.error}"]
        lines = [f"{name}: project format {self.format_version}, {self.objects} objects, "
                 f"{self.masks} masks, {self.prompts} prompts"
                 + ("" if self.checksums else " (no checksums: an older file; saving it adds them)")]
        if self.integrity == ["ok"]:
            lines.append("database: ok (PRAGMA integrity_check)")
        else:
            shown = "; ".join(self.integrity[:3]) + (f" (and {len(self.integrity) - 3} more)"
                                                     if len(self.integrity) > 3 else "")
            lines.append(f"database: damaged: {shown}")
        masks = [d for d in self.damaged if d.what == "mask"]
        prompts = [d for d in self.damaged if d.what == "prompt"]
        lines.append(f"masks: {self.masks - len(masks)} ok, {len(masks)} damaged")
        for d in self.damaged:
            lines.append(f"  {d}")
        if prompts:
            lines.append(f"prompts: {len(prompts)} damaged")
        lines.append("result: " + ("ok" if self.ok else "DAMAGED: re-run the listed frames "
                                   "(open the project in the app) or export with --skip-damaged"))
        return lines


def check_project(path: str | Path) -> ProjectCheck:
    """Verify a whole project file: SQLite's ``PRAGMA integrity_check``, then every mask and
    prompt row (checksum, and that each mask's runs decode to a full frame)."""
    path = Path(path)
    report = ProjectCheck(path)
    if not path.is_file():
        report.error = "the file does not exist"
        return report
    try:
        with contextlib.closing(_connect(path, readonly=True)) as db:
            report.integrity = [r[0] for r in db.execute("PRAGMA integrity_check(100)")]
    except sqlite3.DatabaseError as exc:
        report.error = f"not a SAM2 Studio project or damaged beyond reading ({_reason(exc)})"
        return report
    try:
        proj = Project._read(path)
    except ProjectError as exc:
        report.error = str(exc)
        return report
    with contextlib.closing(_connect(path, readonly=True)) as db:
        try:
            report.format_version = int(dict(db.execute("SELECT key, value FROM meta").fetchall())
                                        .get("format_version", "0"))
        except (sqlite3.DatabaseError, ValueError):
            report.format_version = 0
    damaged = list(proj._damaged.values())
    for f, o, e in proj.masks.items():
        if not rle_is_valid(e.rle):
            damaged.append(DamagedMask(f, o, "mask"))
    for f, o, p in proj.prompts.items():
        if p.mask_rle is not None and not rle_is_valid(p.mask_rle):
            damaged.append(DamagedMask(f, o, "prompt"))
    report.damaged = sorted(set(damaged), key=lambda d: (d.frame is None, d.frame or 0, d.obj or 0, d.what))
    report.objects = len(proj.objects)
    report.masks = len(proj.masks) + sum(1 for d in proj._damaged.values() if d.what == "mask")
    report.prompts = len(proj.prompts) + sum(1 for d in proj._damaged.values() if d.what == "prompt")
    return report
