"""Every script in examples/ runs as a user would run it (from the repository root, classic
engine, on the bundled sample clip and tests/data) and writes what its docstring promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def run_example(name: str, out: Path, *args: str, timeout: float = 300) -> str:
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    return proc.stdout


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_basic_segmentation_writes_a_mask_per_frame_and_a_project(tmp_path):
    run_example("basic_segmentation", tmp_path, "--frames", "0:40")
    pngs = sorted((tmp_path / "masks").glob("*.png"))
    assert len(pngs) == 40
    assert np.asarray(Image.open(pngs[0])).any()  # the clicked cup is in the first mask
    assert json.loads((tmp_path / "masks" / "objects.json").read_text())
    assert (tmp_path / "project.s2s").is_file()


def test_multi_object_starts_each_object_where_it_is_first_annotated(tmp_path):
    run_example("multi_object", tmp_path)
    report = json.loads((tmp_path / "report.json").read_text())
    firsts = {o["id"]: o["segments"][0]["first_frame"] for o in report["objects"] if o["segments"]}
    assert firsts == {1: 0, 2: 5, 3: 8, 4: 13}
    last = np.asarray(Image.open(sorted((tmp_path / "palette").glob("*.png"))[-1]))
    assert set(np.unique(last)) >= {1, 2, 3, 4}


def test_presence_cut_keeps_the_spans_it_lists(tmp_path):
    run_example("presence_cut", tmp_path, "--frames", "0:60")
    spans = json.loads((tmp_path / "cut.mp4.spans.json").read_text())
    kept = sum(s["last"] - s["first"] + 1 for s in spans["spans"])
    assert kept == spans["kept_frames"] > 0
    assert frame_count(tmp_path / "cut.mp4") == kept
    assert (tmp_path / "report.json").is_file()


def test_quality_correction_ends_with_fewer_flags(tmp_path):
    out = run_example("quality_correction", tmp_path)
    before = json.loads((tmp_path / "quality_before.json").read_text())
    after = json.loads((tmp_path / "quality_after.json").read_text())

    def count(doc):
        return sum(o["flagged_frames"] for o in doc["objects"].values())

    assert count(before) > 0, out
    assert count(after) < count(before), out


def test_realtime_tracks_a_fake_camera_live(tmp_path):
    run_example("realtime", tmp_path, "--seconds", "2")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["frames"] > 0
    assert stats["fps"] > 0
    assert (tmp_path / "last_frame.png").is_file()
    assert (tmp_path / "live.s2s").is_file()


def test_sports_analysis_reports_speeds_and_events(tmp_path):
    run_example("sports_analysis", tmp_path, "--frames", "0:60")
    players = json.loads((tmp_path / "players.json").read_text())
    assert players
    report = json.loads((tmp_path / "report.json").read_text())
    assert all("events" in o and "average_speed_px_per_frame" in o for o in report["objects"])


def test_video_editing_renders_three_videos_of_the_same_length(tmp_path):
    run_example("video_editing", tmp_path, "--frames", "0:20")
    for name in ("background.mp4", "grade.mp4", "motion_blur.mp4"):
        assert frame_count(tmp_path / name) == 20, name


def test_batch_manifests_list_clips_the_repository_ships():
    """The README runs the JSON Lines manifest; both manifests name files that are in a clone."""
    from sam2studio.batch import load_manifest

    for name in ("batch_manifest.jsonl", "batch_manifest.csv"):
        jobs = load_manifest(ROOT / "examples" / name)
        assert len(jobs) >= 3, name
        for job in jobs:
            assert Path(job.video).exists(), (name, job.video)
            for spec in job.masks:
                assert Path(spec.path).is_file(), (name, spec)
