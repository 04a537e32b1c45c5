"""Helpers shared by every exporter: progress/cancel protocol, atomic output, selections.

Protocol for a long export::

    with atomic_path(out) as tmp:                 # or atomic_path(out, directory=True)
        for done, frame in enumerate(frames, 1):
            check_cancel(cancel)                  # raises Cancelled
            ...write frame into tmp...
            report_progress(progress, done, len(frames))

``progress(done, total)`` is called from the exporting thread (a GUI must marshal it to
its own thread); setting the ``cancel`` event from anywhere, the progress callback
included, stops the export at the next check and leaves nothing under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..core.objects import TrackedObject
from ..core.outputs import remove_path
from ..errors import Cancelled, UserError

#: ``progress(done, total)``: ``done`` of ``total`` steps (usually frames) are finished.
ProgressFn = Callable[[int, int], None]

#: OSError numbers that mean "this location cannot be written" rather than a bug.
_WRITE_ERRNOS = {
    errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR,
    errno.ENAMETOOLONG, errno.EEXIST, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG,
}


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("export cancelled")


def report_progress(progress: ProgressFn | None, done: int, total: int) -> None:
    """Call ``progress(done, total)`` when a callback was given."""
    if progress is not None:
        progress(int(done), int(total))


def _write_error(path: Path, exc: OSError) -> UserError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        why = "the disk is full"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        why = "permission denied"
    elif exc.errno == errno.EROFS:
        why = "the file system is read-only"
    else:
        why = exc.strerror or str(exc)
    return UserError(f"cannot write {path}: {why}.")


def replace_path(tmp: Path, final: Path) -> None:
    """Move the finished ``tmp`` (file or folder) to ``final`` by renames only; a folder
    already at ``final`` is swapped out first and removed after (put back on failure)."""
    tmp, final = Path(tmp), Path(final)
    if not (tmp.is_dir() and final.is_dir()):
        os.replace(tmp, final)
        return
    old = final.parent / f".{final.name}.old-{secrets.token_hex(4)}"
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; move it onto ``final`` only on success.

    The temporary name is hidden and keeps the suffix (``out.mp4`` -> ``.out.tmp-1a2b3c4d.mp4``)
    so encoders that pick the format from the name still work. With ``directory=True`` the
    temporary path is created as an empty directory; otherwise an empty file is created there
    (to fail early when the place is not writable) which the caller overwrites. Missing parent
    directories are created.

    On success the result replaces ``final`` with :func:`os.replace`. When ``final`` is an
    existing directory, it is replaced *as a whole*: it is first renamed aside, the new one
    renamed in, then the old one deleted (restored if the swap fails). To avoid wiping a
    folder picked by mistake, an existing directory that holds sub-directories is refused up
    front with a :class:`UserError` (every export folder is flat); a file cannot replace a
    directory or the other way round (also a :class:`UserError`).

    On any exception (``Cancelled`` included) the temporary path is removed and nothing
    changes under ``final``. ``OSError`` from an unwritable place or a full disk becomes a
    :class:`UserError` naming the path.
    """
    final = Path(final)
    parent = final.parent
    if final.is_dir() and not final.is_symlink():
        if not directory:
            raise UserError(f"{final} is a folder; choose a file name to export to.")
        try:
            if any(p.is_dir() for p in final.iterdir()):
                raise UserError(
                    f"{final} already exists and contains folders; choose a new or empty folder.")
        except OSError as exc:
            raise _write_error(final, exc) from exc
    elif final.exists() and directory:
        raise UserError(f"{final} is a file; choose a folder to export to.")

    stem, suffix = (final.name, "") if directory else (final.stem, final.suffix)
    tmp = parent / f".{stem}.tmp-{secrets.token_hex(4)}{suffix}"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp.mkdir()
        else:
            # Fail now, before any expensive work, when the place is not writable.
            with open(tmp, "wb"):
                pass
    except OSError as exc:
        remove_path(tmp)
        raise _write_error(final, exc) from exc

    try:
        yield tmp
        if not (tmp.exists() or tmp.is_symlink()):
            raise RuntimeError(f"the exporter wrote nothing at {tmp}")
        replace_path(tmp, final)
    except OSError as exc:
        remove_path(tmp)
        if exc.errno in _WRITE_ERRNOS:
            raise _write_error(final, exc) from exc
        raise
    except BaseException:
        remove_path(tmp)
        raise


def select_objects(objects: dict[int, TrackedObject], ids: Iterable[int] | None) -> list[int]:
    """The object ids to export, ascending: all of ``objects`` when ``ids`` is None.

    Raises :class:`UserError` for an unknown id or an empty selection.
    """
    known = sorted(int(k) for k in objects)
    if ids is None:
        chosen = known
    else:
        chosen = []
        for raw in ids:
            try:
                oid = int(raw)
            except (TypeError, ValueError):
                raise UserError(f"object id {raw!r} is not a whole number.") from None
            if oid not in objects:
                listed = ", ".join(str(k) for k in known)
                tail = f"objects are {listed}" if known else "there are no objects"
                raise UserError(f"object {oid} does not exist; {tail}.")
            chosen.append(oid)
        chosen = sorted(set(chosen))
    if not chosen:
        raise UserError("there are no objects to export.")
    return chosen


def frame_range(num_frames: int, start: int | None = None, stop: int | None = None) -> range:
    """``range(start, stop)`` of frames to export; ``stop`` is exclusive (Python style).

    Defaults to every frame. Raises :class:`UserError` when the range falls outside
    ``0..num_frames`` or is empty.
    """
    num_frames = int(num_frames)
    if num_frames <= 0:
        raise UserError("the video has no frames to export.")
    a = 0 if start is None else int(start)
    b = num_frames if stop is None else int(stop)
    if not 0 <= a < num_frames:
        raise UserError(f"first frame {a} is outside the video (frames 0 to {num_frames - 1}).")
    if not a < b <= num_frames:
        raise UserError(
            f"frame range {a}..{b} is empty or ends past the video (frames 0 to {num_frames - 1}).")
    return range(a, b)


def resolve_frames(num_frames: int, frames: range | None) -> range:
    """Validate an exporter's ``frames`` argument (None = every frame; any positive step)."""
    if frames is None:
        return frame_range(num_frames)
    if not isinstance(frames, range):
        raise TypeError(f"frames must be a range, got {type(frames).__name__}")
    if frames.step <= 0:
        raise UserError("the frame range must go forwards.")
    if len(frames) == 0:
        raise UserError("the frame range is empty.")
    frame_range(num_frames, frames[0], frames[-1] + 1)
    return frames
