"""Project files: round trip, atomic and incremental writes, clear errors, moved videos."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sam2studio.core.objects import TrackedObject
from sam2studio.core.project import FORMAT_VERSION, Project
from sam2studio.core.prompts import FramePrompt
from sam2studio.core.video import open_video
from sam2studio.errors import ProjectError, VideoError


def write_clip(folder: Path, n: int = 4, size=(48, 64)) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    return folder


def disc(h, w, cx, cy, r=6):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


@pytest.fixture
def project(tmp_path):
    video = open_video(write_clip(tmp_path / "clip"))
    p = Project.for_video(video)
    p.add_object(TrackedObject(1, "dog"))
    p.add_object(TrackedObject(3, "ball", (10, 200, 30), visible=False, locked=True))
    p.prompts.set(0, 1, FramePrompt([(10.0, 12.0), (20.0, 5.0)], [1, 0], (1.0, 2.0, 30.0, 40.0)))
    p.prompts.set(2, 3, FramePrompt.from_mask(disc(48, 64, 30, 20)))
    for f in range(4):
        p.masks.set(f, 1, disc(48, 64, 10 + f, 12), score=0.5 + f / 10)
    p.masks.set(2, 3, np.zeros((48, 64), bool))
    p.stale[1] = {2, 3}
    return p


def test_a_saved_project_reopens_with_everything(project, tmp_path):
    path = project.save(tmp_path / "work.s2s")
    assert not project.dirty
    back = Project.load(path)
    assert back.objects == project.objects
    assert back.objects[3].color == (10, 200, 30) and back.objects[3].locked
    assert back.prompts.get(0, 1) .points == [(10.0, 12.0), (20.0, 5.0)]
    assert back.prompts.get(0, 1).labels == [1, 0]
    assert back.prompts.get(0, 1).box == (1.0, 2.0, 30.0, 40.0)
    assert np.array_equal(back.prompts.get(2, 3).mask, disc(48, 64, 30, 20))
    for f in range(4):
        assert np.array_equal(back.masks.get(f, 1), project.masks.get(f, 1))
        assert back.masks.score(f, 1) == pytest.approx(0.5 + f / 10)
    assert back.masks.has(2, 3) and back.masks.area(2, 3) == 0  # empty, not missing
    assert back.stale == {1: {2, 3}}
    assert back.locate_video() == project.video_path
    assert not back.dirty


def test_autosave_writes_only_what_changed(project, tmp_path):
    auto = tmp_path / "autosave.s2s"
    project.save_copy(auto)
    project.masks.set(3, 1, disc(48, 64, 40, 30))
    project.masks.remove(0, 1)
    statements = []
    real_connect = sqlite3.connect

    def tracing_connect(*a, **k):
        db = real_connect(*a, **k)
        db.set_trace_callback(statements.append)
        return db

    import sam2studio.core.project as mod

    mod.sqlite3.connect = tracing_connect
    try:
        project.save_copy(auto)
    finally:
        mod.sqlite3.connect = real_connect
    mask_inserts = [s for s in statements if s.startswith("INSERT OR REPLACE INTO masks")]
    assert len(mask_inserts) == 1  # frame 3 only, not all five masks
    back = Project.load(auto)
    assert not back.masks.has(0, 1)
    assert np.array_equal(back.masks.get(3, 1), disc(48, 64, 40, 30))
    assert project.dirty  # an autosave is not a save


def test_a_failed_save_leaves_the_last_good_file(project, tmp_path, monkeypatch):
    path = project.save(tmp_path / "work.s2s")
    before = path.read_bytes()
    project.masks.set(1, 1, disc(48, 64, 5, 5))
    project.add_object(TrackedObject(4, "new"))

    import sam2studio.core.project as mod

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mod.Project, "_write_db", lambda *a, **k: full_disk())
    with pytest.raises(ProjectError, match="no space left"):
        project.save(tmp_path / "other.s2s")
    assert not (tmp_path / "other.s2s").exists()
    # no temp left (only the write lock of work.s2s, which the project still holds)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".work.s2s.lock"]
    assert path.read_bytes() == before
    assert project.dirty


def test_newer_and_corrupt_files_get_a_clear_error(project, tmp_path):
    path = project.save(tmp_path / "work.s2s")
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value=? WHERE key='format_version'", (str(FORMAT_VERSION + 1),))
    db.commit()
    db.close()
    with pytest.raises(ProjectError, match="newer SAM2 Studio"):
        Project.load(path)
    junk = tmp_path / "junk.s2s"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ProjectError, match="not a SAM2 Studio project or is corrupt"):
        Project.load(junk)
    with pytest.raises(ProjectError, match="does not exist"):
        Project.load(tmp_path / "missing.s2s")


def test_a_moved_video_is_found_beside_the_project_or_reported(project, tmp_path):
    proj_dir = tmp_path / "proj"
    path = project.save(proj_dir / "work.s2s")
    # moved together with the project (same relative place)
    moved_root = tmp_path / "moved"
    new_proj_dir = moved_root / "proj"
    new_proj_dir.mkdir(parents=True)
    os.replace(path, new_proj_dir / "work.s2s")
    os.replace(tmp_path / "clip", moved_root / "clip")
    back = Project.load(new_proj_dir / "work.s2s")
    found = back.locate_video()
    assert found == (moved_root / "clip").resolve()
    assert back.check_video(open_video(found)) == []
    # gone entirely
    os.replace(moved_root / "clip", tmp_path / "elsewhere")
    with pytest.raises(VideoError, match="was not found"):
        back.locate_video()
    other = open_video(write_clip(tmp_path / "other", n=5))
    with pytest.raises(VideoError, match="does not fit"):
        back.relocate_video(other)
