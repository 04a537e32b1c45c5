"""The command line where it succeeds around the reliability checks: staged outputs land
complete, --mask-resize scales an exact multiple, export --skip-damaged and check, live
--record moves its frames into place at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from test_bad_inputs import H, N, W, square, write_frames, write_mp4, write_project

from sam2studio.core.lock import lock_path
from sam2studio.core.project import Project

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sam2studio", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)})


def hidden(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*"))


def test_segment_writes_masks_project_and_report_together_and_leaves_no_temporaries(tmp_path):
    frames = write_frames(tmp_path / "frames")
    proc = cli("segment", frames, "--out", tmp_path / "out", "--click", "1:0:20:20", "--engine", "classic",
               "--project", tmp_path / "p.s2s", "--quality-report", tmp_path / "q.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "out" / "objects.json").read_text())
    assert len(list((tmp_path / "out").glob("frame_*_obj_1.png"))) == N
    assert json.loads((tmp_path / "q.json").read_text()) is not None
    p = Project.load(tmp_path / "p.s2s")
    assert len(p.masks) == N and p.damaged_masks() == []
    assert hidden(tmp_path) == [] and not lock_path(tmp_path / "p.s2s").exists()


def test_segment_scales_an_exact_multiple_mask_with_mask_resize(tmp_path):
    frames = write_frames(tmp_path / "frames")
    half = square(0)[::2, ::2]
    Image.fromarray((half * 255).astype(np.uint8)).save(tmp_path / "half.png")
    proc = cli("segment", frames, "--out", tmp_path / "out", "--mask", f"1:0:{tmp_path / 'half.png'}",
               "--mask-resize", "--engine", "classic", "--direction", "forward", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = np.asarray(Image.open(tmp_path / "out" / "frame_0000_obj_1.png")) > 0
    assert first.shape == (H, W) and (first == square(0)).mean() > 0.98


def test_export_skip_damaged_exports_the_rest_and_check_lists_the_damage(tmp_path):
    frames = write_frames(tmp_path / "frames")
    proj = write_project(tmp_path / "d.s2s", frames, damaged=(3, 1))
    proc = cli("export", proj, "--format", "png", "--out", tmp_path / "out", "--skip-damaged", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "frame 3, object 1: mask data is damaged (skipped)" in proc.stderr
    for i in range(N):
        m = np.asarray(Image.open(tmp_path / "out" / f"frame_{i:04d}_obj_1.png")) > 0
        assert np.array_equal(m, np.zeros((H, W), bool) if i == 3 else square(i)), i

    check = cli("check", proj, cwd=tmp_path)
    assert check.returncode == 2
    assert "frame 3, object 1: mask data is damaged" in check.stdout and "masks: 5 ok, 1 damaged" in check.stdout
    assert check.stderr.strip() == "sam2studio: error: d.s2s is damaged: 1 damaged mask (listed above)"


def test_check_passes_a_sound_project(tmp_path):
    proj = write_project(tmp_path / "ok.s2s", write_frames(tmp_path / "frames"))
    proc = cli("check", proj, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "database: ok (PRAGMA integrity_check)" in proc.stdout and proc.stdout.strip().endswith("result: ok")


def test_live_record_moves_its_frames_into_place_when_done(tmp_path):
    clip = write_mp4(tmp_path / "clip.mp4")
    proc = cli("live", "--file", clip, "--click", "1:20:20", "--no-window", "--engine", "classic",
               "--record", tmp_path / "live.s2s", "--max-frames", "3", "--status-every", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    frames = sorted((tmp_path / "live_frames").iterdir())
    assert len(frames) >= 3
    p = Project.load(tmp_path / "live.s2s")
    assert p.num_frames == len(frames) and len(p.masks) >= 3
    assert hidden(tmp_path) == []
