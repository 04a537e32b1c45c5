"""Real small file systems for fault tests: a tmpfs of a given size (mounted when the tests run
as root on Linux), full or read-only. Tests that need one skip with the reason otherwise."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def _mount(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)


@contextlib.contextmanager
def tmpfs(size: str = "1m", *, full: bool = False, leave: int | None = None, read_only: bool = False):
    """A fresh tmpfs of ``size`` mounted on a temporary folder; ``full`` fills it up to the last
    byte, ``leave`` up to that many bytes; ``read_only`` remounts it read-only. Skips the test
    when mounting is not possible."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    point = Path(tempfile.mkdtemp(prefix="s2s-tmpfs-"))
    proc = _mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)])
    if proc.returncode != 0:
        point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        if full or leave is not None:
            fill(point, leave or 0)
        if read_only:
            r = _mount(["-o", "remount,ro", str(point)])
            if r.returncode != 0:
                pytest.skip(f"cannot remount a tmpfs read-only: {r.stderr.strip()}")
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=30)
        with contextlib.suppress(OSError):
            point.rmdir()


def fill(folder: Path, leave: int = 0) -> None:
    """Write into ``folder`` until its file system has at most ``leave`` bytes free."""
    with open(folder / ".filler", "wb") as f:
        block = b"\0" * 65536
        while True:
            free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
            if free <= leave:
                break
            try:
                f.write(block[: max(1, min(len(block), free - leave))])
                f.flush()
            except OSError:
                break
