"""Damaged project files: every mask row carries a CRC32 checked on load, damaged rows are
reported by frame and object and the rest opens; older files without checksums still open and
are upgraded on their next save; check_project verifies a whole file.

The damage is real: bytes flipped inside saved SQLite files."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from sam2studio.core.masks import DamagedMask, DamagedMaskError, MaskStore, encode_rle
from sam2studio.core.objects import TrackedObject
from sam2studio.core.project import FORMAT_VERSION, Project, check_project
from sam2studio.core.prompts import FramePrompt
from sam2studio.errors import ProjectError

H, W, N = 72, 96, 24


def blob(frame: int, obj: int) -> np.ndarray:
    """A ragged mask that differs on every frame and object (many runs, so RLEs are long)."""
    yy, xx = np.mgrid[:H, :W]
    cx, cy = 20 + 2 * frame + 10 * obj, 30 + obj * 5
    r = 10 + 3 * np.sin(xx / (2 + obj) + frame) + 2 * np.cos(yy / 3 + obj)
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2


def make_project() -> Project:
    p = Project(None, W, H, N, 25.0)
    for o in (1, 2, 3):
        p.add_object(TrackedObject(o, f"obj{o}"))
        for f in range(N):
            p.masks.set(f, o, blob(f, o), score=0.9 - f / 100)
    p.prompts.set(0, 1, FramePrompt([(30.0, 30.0)], [1]))
    p.prompts.set(5, 2, FramePrompt.from_mask(blob(5, 2)))
    return p


def flip(path: Path, offset: int, n: int = 32, seed: int = 0) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for i in range(offset, min(offset + n, len(data))):
        data[i] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def counts_of(project: Project, frame: int, obj: int) -> bytes:
    return bytes(project.masks.entry(frame, obj).rle["counts"])


def test_a_damaged_mask_is_reported_by_frame_and_object_and_the_rest_opens(tmp_path):
    p = make_project()
    path = p.save(tmp_path / "clip.s2s")
    p.close()
    target = counts_of(p, 17, 2)
    data = path.read_bytes()
    assert data.count(target) == 1
    flip(path, data.index(target) + len(target) // 3, n=8)

    back = Project.load(path)
    assert back.damaged_masks() == [DamagedMask(17, 2, "mask")]
    assert str(back.damaged_masks()[0]) == "frame 17, object 2: mask data is damaged"
    assert back.damaged_frames(2) == [17] and back.damaged_frames(1) == []
    assert not back.masks.has(17, 2)  # left out, never decoded into a wrong mask
    for f in range(N):
        for o in (1, 2, 3):
            if (f, o) != (17, 2):
                assert np.array_equal(back.masks.get(f, o), blob(f, o)), (f, o)


def test_a_damaged_mask_made_again_is_no_longer_reported_and_saves_clean(tmp_path):
    p = make_project()
    path = p.save(tmp_path / "clip.s2s")
    p.close()
    data = path.read_bytes()
    flip(path, data.index(counts_of(p, 4, 3)) + 2, n=4)
    back = Project.load(path, lock=True)
    assert back.damaged_frames() == [4]
    back.masks.set(4, 3, blob(4, 3))  # re-run
    assert back.damaged_masks() == []
    back.save()
    back.close()
    again = Project.load(path)
    assert again.damaged_masks() == [] and np.array_equal(again.masks.get(4, 3), blob(4, 3))
    assert check_project(path).ok


def test_flipped_bytes_anywhere_never_give_a_wrong_mask_or_a_crash(tmp_path):
    """32 bytes flipped at 60 places across the file, one place at a time: the load either
    refuses the file with a ProjectError, or every mask it returns is exactly the saved one,
    every missing one is listed as damaged, and a mask whose bytes were hit is listed."""
    p = make_project()
    good = p.save(tmp_path / "good.s2s")
    p.close()
    data = good.read_bytes()
    where = {}  # (frame, obj) -> byte span of its RLE in the file
    for f, o, e in p.masks.items():
        c = bytes(e.rle["counts"])
        if data.count(c) == 1:  # (the mask prompt on frame 5 holds the same bytes as its mask)
            where[(f, o)] = (data.index(c), data.index(c) + len(c))
    hit_masks = 0
    for k, offset in enumerate(random.Random(1).sample(range(len(data)), 60)):
        path = tmp_path / f"bad{k}.s2s"
        path.write_bytes(data)
        flip(path, offset, seed=k)
        try:
            back = Project.load(path)
        except ProjectError:
            continue
        listed = {(d.frame, d.obj) for d in back.damaged_masks() if d.what == "mask"}
        unkeyed = any(d.frame is None for d in back.damaged_masks())
        for f in range(N):
            for o in (1, 2, 3):
                if back.masks.has(f, o):
                    assert np.array_equal(back.masks.get(f, o), blob(f, o)), (offset, f, o)
                elif o in back.objects:
                    assert (f, o) in listed or unkeyed, (offset, f, o)
        for key, (lo, hi) in where.items():
            if offset < hi and lo < offset + 32:
                hit_masks += 1
                assert key in listed, (offset, key)
    assert hit_masks > 0  # some of the places were inside mask data


def test_check_project_runs_integrity_check_and_lists_damaged_masks(tmp_path):
    p = make_project()
    path = p.save(tmp_path / "clip.s2s")
    p.close()
    ok = check_project(path)
    assert ok.ok and ok.integrity == ["ok"] and ok.masks == 3 * N and ok.objects == 3 and ok.checksums
    assert ok.summary()[-1] == "result: ok"

    data = path.read_bytes()
    flip(path, data.index(counts_of(p, 9, 1)) + 1, n=3)
    bad = check_project(path)
    assert not bad.ok and bad.damaged == [DamagedMask(9, 1, "mask")] and bad.masks == 3 * N
    text = "\n".join(bad.summary())
    assert "frame 9, object 1: mask data is damaged" in text and "71 ok, 1 damaged" in text

    path.write_bytes(b"SQLite format 3\x00" + b"\x07" * 500)
    assert check_project(path).error is not None


def write_format_1(path: Path, p: Project) -> None:
    """A project file as format 1 wrote it: no checksum columns."""
    db = sqlite3.connect(path)
    db.executescript("""
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE objects (id INTEGER PRIMARY KEY, name TEXT NOT NULL, color TEXT NOT NULL,
                          visible INTEGER NOT NULL, locked INTEGER NOT NULL);
    CREATE TABLE prompts (frame INTEGER NOT NULL, obj INTEGER NOT NULL, data TEXT NOT NULL,
                          mask BLOB, PRIMARY KEY (frame, obj));
    CREATE TABLE masks (frame INTEGER NOT NULL, obj INTEGER NOT NULL, counts BLOB NOT NULL,
                        area INTEGER NOT NULL, score REAL NOT NULL, PRIMARY KEY (frame, obj));
    CREATE TABLE stale (obj INTEGER NOT NULL, frame INTEGER NOT NULL, PRIMARY KEY (obj, frame));
    """)
    meta = {"format_version": 1, "writer": "old", "saved_at": "2026-01-01T00:00:00", "video_path": "",
            "video_relpath": "", "width": W, "height": H, "num_frames": N, "fps": 25.0,
            "fingerprint": "", "settings": "{}"}
    db.executemany("INSERT INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
    db.executemany("INSERT INTO objects VALUES (?, ?, ?, 1, 0)",
                   [(o, f"obj{o}", "[1, 2, 3]") for o in p.objects])
    db.executemany("INSERT INTO masks VALUES (?, ?, ?, ?, ?)",
                   [(f, o, bytes(e.rle["counts"]), e.area, e.score) for f, o, e in p.masks.items()])
    db.execute("INSERT INTO prompts VALUES (0, 1, ?, NULL)", ('{"points": [[30, 30]], "labels": [1], "box": null}',))
    db.commit()
    db.close()


def test_an_older_project_without_checksums_opens_and_is_upgraded_on_save(tmp_path):
    path = tmp_path / "old.s2s"
    write_format_1(path, make_project())
    assert "no checksums" in check_project(path).summary()[0]
    old = Project.load(path)
    assert old.damaged_masks() == [] and len(old.masks) == 3 * N
    assert np.array_equal(old.masks.get(7, 3), blob(7, 3))
    old.save()
    old.close()
    with sqlite3.connect(path) as db:
        assert int(db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()[0]) == FORMAT_VERSION
        assert db.execute("SELECT count(*) FROM masks WHERE crc IS NULL").fetchone()[0] == 0
    report = check_project(path)
    assert report.ok and report.checksums and report.masks == 3 * N


def test_an_older_project_with_a_damaged_mask_reports_it(tmp_path):
    """Without checksums the stored area and the runs must agree (on load), and check_project
    decodes every mask."""
    p = make_project()
    path = tmp_path / "old.s2s"
    write_format_1(path, p)
    data = path.read_bytes()
    flip(path, data.index(counts_of(p, 11, 1)) + 2, n=6)
    assert Project.load(path).damaged_masks() == [DamagedMask(11, 1, "mask")]
    assert check_project(path).damaged == [DamagedMask(11, 1, "mask")]


def test_decoding_damaged_runs_raises_a_clear_error_with_frame_and_object():
    store = MaskStore(H, W)
    rle = encode_rle(blob(0, 1))
    store.set_rle(3, 2, {"size": rle["size"], "counts": rle["counts"][:-1]})  # the last run is cut
    with pytest.raises(DamagedMaskError, match="frame 3, object 2: mask data is damaged"):
        store.get(3, 2)


def test_the_rerun_plan_covers_every_damaged_frame_from_the_nearest_prompt(tmp_path):
    p = make_project()
    p.prompts.set(10, 1, FramePrompt([(40.0, 30.0)], [1]))  # object 1: keyframes 0 and 10
    p.prompts.set(20, 3, FramePrompt([(60.0, 45.0)], [1]))  # object 3: keyframe 20 only
    path = p.save(tmp_path / "clip.s2s")
    p.close()
    data = path.read_bytes()
    for f, o in ((4, 1), (13, 1), (15, 1), (2, 3), (22, 3)):
        flip(path, data.index(counts_of(p, f, o)) + 1, n=2, seed=f + o)
    back = Project.load(path)
    assert back.damaged_frames(1) == [4, 13, 15] and back.damaged_frames(3) == [2, 22]
    from sam2studio.core.project import RerunStep

    assert back.damaged_rerun_plan() == [
        RerunStep(1, 0, "forward", (0, 15)),
        RerunStep(3, 20, "forward", (20, 22)),
        RerunStep(3, 20, "backward", (2, 20)),
    ]


def test_session_re_runs_damaged_masks_from_the_prompts(tmp_path):
    from PIL import Image

    from sam2studio.session import Session

    clip = tmp_path / "clip"
    clip.mkdir()
    for i in range(8):
        img = np.full((48, 64, 3), 30, np.uint8)
        img[15:35, 5 + 3 * i:25 + 3 * i] = (220, 70, 40)
        Image.fromarray(img).save(clip / f"{i:05d}.png")
    with Session.open(clip, engine="classic") as s:
        s.add_click(0, 1, 15, 25)
        s.run(0, "forward")
        path = s.save(tmp_path / "p.s2s")
        saved = {f: s.mask(f, 1) for f in range(8)}
    data = path.read_bytes()
    counts = bytes(Project.load(path).masks.entry(6, 1).rle["counts"])
    flip(path, data.index(counts) + 1, n=2)
    with Session.load_project(path, engine="classic", lock=True) as s:
        assert s.project.damaged_frames() == [6] and s.project.lock is not None
        frames = [f for f, _ in s.rerun_damaged()]
        assert frames == list(range(0, 7)) and s.project.damaged_masks() == []
        m = s.mask(6, 1)
        assert (m & saved[6]).sum() / (m | saved[6]).sum() > 0.9  # made again from the click
    from sam2studio.core.lock import lock_path

    assert not lock_path(path).exists()  # closing the session let go of the write lock
