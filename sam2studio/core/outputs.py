"""Output locations of a command: checked before any work, written under temporary names and
moved into place only when the whole command has succeeded.

:func:`check_output` answers "can this be written?" at once (the place can be created and
written, and the free space is plausible for what will go there), so a command fails in a
second instead of after an hour of propagation. :class:`StagedOutputs` gives each output a
hidden temporary name beside its final one and renames them all into place at the end, in
the order they were staged (stage the one that marks a result complete, such as the masks
folder with its ``objects.json``, last); on failure it removes them, so nothing that looks
complete is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from pathlib import Path

from ..errors import UserError

__all__ = ["OutputError", "StagedOutputs", "check_output", "estimate_bytes", "human_bytes", "os_error_reason"]

_PROBE_BYTES = 4096


class OutputError(UserError):
    """An output location that cannot be written (exit 2 on the command line)."""


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def estimate_bytes(kind: str, width: int, height: int, frames: int, objects: int = 1) -> int:
    """A low estimate of an output's size, for the free-space check (it must not refuse what
    would fit): ``"masks"`` (binary PNGs, one per frame and object), ``"project"`` (RLE masks),
    ``"video"`` (H.264 at the export quality), ``"frames"`` (JPEG frames of a recording)."""
    px = max(int(width) * int(height), 1)
    n = max(int(frames), 0)
    if kind == "masks":
        return n * max(int(objects), 1) * max(150, px // 400)
    if kind == "project":
        return 16_384 + n * max(int(objects), 1) * (int(width) + int(height)) // 4
    if kind == "video":
        return n * px // 300
    if kind == "frames":
        return n * px // 20
    raise ValueError(f"unknown output kind {kind!r}")


def os_error_reason(exc: BaseException) -> str:
    """A few words for a person: "the disk is full", "permission denied", ..."""
    if isinstance(exc, OSError):
        return _why(exc)
    return str(exc) or type(exc).__name__


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG):
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    return (exc.strerror or type(exc).__name__).lower()


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_output(path: str | os.PathLike, *, label: str, directory: bool | None, need_bytes: int = 0,
                 replace_ok: bool = True) -> None:
    """Raise :class:`OutputError` (one line naming ``label`` and ``path``) unless ``path`` can be
    written: a folder (``directory=True``), a file (False) or either (None), whose missing parents
    can be created, in a place that takes a small test write and has at least ``need_bytes`` free.
    ``replace_ok=False`` also refuses an existing file or a non-empty folder.

    Nothing is left behind: the test write is removed and no folder is created."""
    path = Path(path)
    where = f"{label} {path}"
    if path.exists() or path.is_symlink():
        if directory is True and not path.is_dir():
            raise OutputError(f"{where} is a file; give a folder")
        if directory is False and path.is_dir():
            raise OutputError(f"{where} is a folder; give a file name")
        if not replace_ok:
            if not path.is_dir() or any(path.iterdir()):
                raise OutputError(f"{where} already exists; choose a new name (nothing was written)")
    base = _existing_ancestor(path if directory or path.is_dir() else path.parent)
    if not base.is_dir():
        raise OutputError(f"{where} cannot be created: {base} is a file")
    probe = base / f".sam2studio-probe-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write {where}: {_why(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if need_bytes > 0:
        try:
            free = shutil.disk_usage(base).free
        except OSError:
            return
        if free < need_bytes:
            raise OutputError(f"not enough free space for {where}: {human_bytes(free)} free, "
                              f"about {human_bytes(need_bytes)} needed")


class StagedOutputs:
    """Outputs written under temporary names, moved into place together on :meth:`commit`.

    ::

        with StagedOutputs() as out:
            tmp_project = out.stage(project_path)
            tmp_masks = out.stage(masks_dir, directory=True)   # the "complete" marker: last
            ...write into tmp_project and tmp_masks...
        # here both are in place; after an exception neither temporary is left

    A temporary name is hidden and keeps the final suffix (``.clip.staged-1a2b.s2s``). A
    folder is not created: the writer creates it (or writes it atomically itself). An
    existing folder at the final name is swapped out and removed after the rename.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Path, Path, bool]] = []  # (tmp, final, directory)
        self.committed = False

    def stage(self, final: str | os.PathLike, *, directory: bool = False) -> Path:
        final = Path(final)
        stem, suffix = (final.name, "") if directory else (final.stem, final.suffix)
        tmp = final.parent / f".{stem}.staged-{secrets.token_hex(4)}{suffix}"
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot write {final}: {_why(exc)}") from None
        self._items.append((tmp, final, directory))
        return tmp

    def commit(self) -> None:
        """Rename every staged output onto its final name, in staging order. Raises
        :class:`OutputError` when one was not written or a rename fails (those already moved
        are taken back where they did not replace anything)."""
        placed: list[tuple[Path, Path | None]] = []  # (final, the swapped-out old folder)
        try:
            for tmp, final, directory in self._items:
                if not (tmp.exists() or tmp.is_symlink()):
                    raise OutputError(f"{final} was not written")
                old = None
                existed = final.exists()
                if directory and final.is_dir():
                    old = final.parent / f".{final.name}.old-{secrets.token_hex(4)}"
                    os.replace(final, old)
                try:
                    os.replace(tmp, final)
                except BaseException:
                    if old is not None:
                        os.replace(old, final)
                    raise
                placed.append((final, old if old is not None else (None if not existed else final)))
        except OSError as exc:
            for final, old in reversed(placed):
                if old is None:  # it was new: take it back
                    _remove(final)
                elif old != final:  # a folder we swapped out: put it back
                    _remove(final)
                    with contextlib.suppress(OSError):
                        os.replace(old, final)
            self.discard()
            raise OutputError(f"could not move the results into place: {_why(exc)}") from None
        for _final, old in placed:
            if old is not None and old != _final:
                shutil.rmtree(old, ignore_errors=True)
        self._items.clear()
        self.committed = True

    def discard(self) -> None:
        """Remove every staged temporary (nothing under the final names changes)."""
        for tmp, _final, _directory in self._items:
            _remove(tmp)
        self._items.clear()

    def __enter__(self) -> StagedOutputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
            return
        renamed = str(exc) if isinstance(exc, UserError) else ""
        for tmp, final, _directory in self._items:  # name the place the user gave, not ours
            renamed = renamed.replace(str(tmp), str(final))
        self.discard()
        if isinstance(exc, UserError) and renamed != str(exc):
            raise UserError(renamed) from None


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()
