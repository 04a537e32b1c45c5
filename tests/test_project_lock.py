"""One writer per project: a second process that saves over a project another process has open
for writing gets one clear error; read-only opening and "save as" still work; a killed writer
leaves no lock behind."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from lock_holder import Holder

from sam2studio.core.lock import ProjectLock, ProjectLockedError, lock_holder, lock_path
from sam2studio.core.objects import TrackedObject
from sam2studio.core.project import Project
from sam2studio.errors import ProjectError

ROOT = Path(__file__).resolve().parents[1]


def small_project() -> Project:
    p = Project(None, 32, 24, 3, 10.0)
    p.add_object(TrackedObject(1, "a"))
    p.masks.set(0, 1, np.eye(24, 32, dtype=bool))
    return p


@pytest.fixture
def saved(tmp_path) -> Path:
    p = small_project()
    path = p.save(tmp_path / "shared.s2s")
    p.close()
    return path


def test_a_second_writer_gets_one_clear_error_naming_the_holder(saved):
    holder = Holder(saved)
    try:
        mine = Project.load(saved)
        before = saved.read_bytes()
        mine.masks.set(1, 1, np.ones((24, 32), bool))
        with pytest.raises(ProjectLockedError) as err:
            mine.save()
        msg = str(err.value)
        assert "\n" not in msg and "shared.s2s is open for writing by another SAM2 Studio" in msg
        assert f"pid {holder.proc.pid}" in msg and err.value.holder.pid == holder.proc.pid
        assert saved.read_bytes() == before  # the holder's file is untouched
        with pytest.raises(ProjectLockedError):
            Project.load(saved, lock=True)
        assert Project.lock_holder(saved).pid == holder.proc.pid
    finally:
        holder.stop()
    assert lock_holder(saved) is None and not lock_path(saved).exists()
    mine.save()  # free again


def test_a_locked_project_opens_read_only_and_saves_under_another_name(saved, tmp_path):
    holder = Holder(saved)
    try:
        ro = Project.load(saved, read_only=True)
        assert ro.read_only and len(ro.masks) == 1
        with pytest.raises(ProjectError, match="open read-only: save it under another name"):
            ro.save()
        copy = ro.save(tmp_path / "mine.s2s")
        assert not ro.read_only and ro.path == copy.resolve()
        ro.masks.set(2, 1, np.ones((24, 32), bool))
        ro.save()  # now its own file
        ro.close()
        assert len(Project.load(copy).masks) == 2
    finally:
        holder.stop()


def test_a_killed_writer_leaves_no_lock(saved):
    holder = Holder(saved)
    os.kill(holder.proc.pid, signal.SIGKILL)
    holder.proc.wait(10)
    assert lock_path(saved).exists()  # the file stays, but nobody holds it
    assert lock_holder(saved) is None
    p = Project.load(saved, lock=True)
    p.save()
    p.close()
    assert not lock_path(saved).exists()


def test_autosave_copies_refuse_a_file_another_process_writes(saved, tmp_path):
    holder = Holder(saved)
    try:
        with pytest.raises(ProjectLockedError):
            small_project().save_copy(saved)
        small_project().save_copy(tmp_path / "recovery.s2s")  # other files are fine
    finally:
        holder.stop()


def test_the_lock_is_reentrant_in_one_process_and_released_with_the_last_holder(tmp_path):
    target = tmp_path / "x.s2s"
    outer = ProjectLock.acquire(target)
    p = small_project()
    p.save(target)  # the same process: no conflict
    p.close()
    assert lock_path(target).exists()
    outer.release()
    assert not lock_path(target).exists()


def test_a_lock_in_a_read_only_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ProjectError, match="cannot write x.s2s"):
            ProjectLock.acquire(folder / "x.s2s")
    finally:
        folder.chmod(0o755)
