"""SAM 2's fast CPU mode: masks that agree with exact mode, a route measured once per CPU.

Fast mode is not bit-exact by design; what it promises is agreement with the exact path
(thresholded-mask IoU >= 0.98 per frame) and that it says which route runs. Seeded random
weights at image size 256 on the bundled clip (resources/sample/cups.mp4).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import random_predictor
from sam2studio.core.video import open_video
from sam2studio.engines import sam2_fast
from sam2studio.engines.sam2_engine import Sam2Engine

CUPS = Path(__file__).resolve().parents[1] / "resources" / "sample" / "cups.mp4"
FRAMES = 10


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def run_clicks(engine: Sam2Engine, video) -> dict[tuple[int, int], np.ndarray]:
    engine.open(video)
    out = {}
    for obj, (x, y) in {1: (640, 420), 2: (300, 300)}.items():
        res = engine.add_prompt(0, obj, points=[(x, y)], labels=[1])
        out[(0, obj)] = res[obj].mask
    for f, res in engine.propagate(0, "forward", frame_range=(0, FRAMES - 1)):
        for o, om in res.items():
            out[(f, o)] = om.mask
    engine.close()
    return out


def test_bf16_fast_mode_masks_agree_with_exact_mode_on_the_bundled_clip(monkeypatch):
    monkeypatch.setenv(sam2_fast.FORCE_ENV, "bf16")
    video = open_video(CUPS)
    try:
        exact = run_clicks(Sam2Engine(random_predictor(256)), video)
        fast_engine = Sam2Engine(random_predictor(256), fast=True)
        assert fast_engine.fast_route.name == "bf16"
        assert "bfloat16" in fast_engine.route
        fast = run_clicks(fast_engine, video)
    finally:
        video.close()
    assert exact.keys() == fast.keys() and len(exact) == 2 * FRAMES
    assert any(m.any() for m in exact.values())  # not a comparison of empty masks
    ious = {k: iou(exact[k], fast[k]) for k in exact}
    worst = min(ious, key=ious.get)
    assert ious[worst] >= 0.98, f"frame/object {worst}: IoU {ious[worst]:.4f} with exact mode"


def test_exact_mode_is_the_default_and_says_so():
    engine = Sam2Engine(random_predictor(256))
    assert engine.fast_route is None and not engine.fast
    assert engine.route.startswith("exact mode")


def test_the_route_is_measured_once_per_cpu_and_then_read_from_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "routes.json"
    monkeypatch.setenv(sam2_fast.CACHE_ENV, str(cache))
    monkeypatch.delenv(sam2_fast.FORCE_ENV, raising=False)
    predictor = random_predictor(256)
    first = sam2_fast.choose_route(predictor)
    assert first.source == "measured" and first.name in sam2_fast.ROUTES
    assert set(first.timings) == {"fp32", "bf16"} and all(t > 0 for t in first.timings.values())
    key = sam2_fast.cache_key(256)
    import torch

    assert sam2_fast.cpu_model() in key and torch.__version__ in key
    assert json.loads(cache.read_text())[key]["name"] == first.name

    def no_measuring(*a, **k):
        raise AssertionError("a cached route must not be measured again")

    monkeypatch.setattr(sam2_fast, "time_routes", no_measuring)
    again = sam2_fast.choose_route(predictor)
    assert (again.name, again.source, again.timings) == (first.name, "cached", first.timings)
    assert "cached" in again.describe()


@pytest.mark.parametrize("timings, chosen", [
    ({"fp32": 1.0, "bf16": 0.4}, "bf16"),
    ({"fp32": 1.0, "bf16": 1.3}, "fp32"),   # bfloat16 slower (no bf16 units): stay exact
    ({"fp32": 1.0, "bf16": 0.98}, "fp32"),  # within timing noise: not worth the inexactness
])
def test_the_fastest_route_wins_only_by_a_clear_margin(tmp_path, monkeypatch, timings, chosen):
    monkeypatch.setenv(sam2_fast.CACHE_ENV, str(tmp_path / "routes.json"))
    monkeypatch.delenv(sam2_fast.FORCE_ENV, raising=False)
    monkeypatch.setattr(sam2_fast, "time_routes", lambda predictor: dict(timings))
    route = sam2_fast.choose_route(random_predictor(256))
    assert route.name == chosen
    assert ("no faster route" in route.describe()) == (chosen == "fp32")


def test_an_unknown_forced_route_is_a_clear_error(monkeypatch):
    from sam2studio.errors import UserError

    monkeypatch.setenv(sam2_fast.FORCE_ENV, "int3")
    with pytest.raises(UserError, match="SAM2STUDIO_FAST_ROUTE"):
        Sam2Engine(random_predictor(256), fast=True)


def test_session_open_passes_fast_to_sam2_and_classic_ignores_it(monkeypatch):
    from sam2studio.session import Session

    monkeypatch.setenv(sam2_fast.FORCE_ENV, "bf16")
    with Session.open(CUPS, engine="sam2", weights="random", image_size=256, fast=True) as s:
        assert s.engine.fast and s.engine.fast_route.name == "bf16"
    with Session.open(CUPS, engine="classic", fast=True) as s:
        assert s.engine_name == "classic"


def run_cli(*args, env_extra=None):
    import os
    import subprocess
    import sys

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "sam2studio", *map(str, args)], capture_output=True,
                          text=True, timeout=600, env=env)


def test_segment_fast_says_which_route_runs_and_writes_masks(tmp_path):
    from PIL import Image

    video = open_video(CUPS)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(video.get_frame(i * 10)).resize((320, 180)).save(frames / f"{i:05d}.png")
    video.close()
    out = tmp_path / "masks"
    proc = run_cli("segment", frames, "--out", out, "--click", "1:0:160:100", "--engine", "sam2",
                   "--weights", "random", "--image-size", "256", "--fast",
                   env_extra={sam2_fast.FORCE_ENV: "bf16"})
    assert proc.returncode == 0, proc.stderr
    assert "segment: fast mode: bfloat16 autocast" in proc.stderr
    assert len(list(out.glob("frame_*_obj_1.png"))) == 3


def test_fast_with_the_classic_engine_is_a_one_line_error(tmp_path):
    proc = run_cli("segment", CUPS, "--out", tmp_path / "o", "--click", "1:0:10:10", "--engine", "classic", "--fast")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--fast is for the sam2 engine" in lines[0]


def test_batch_manifest_fast_key_reaches_the_engine_options(tmp_path):
    from sam2studio.batch import load_manifest
    from sam2studio.errors import UserError

    def manifest(**extra):
        rec = {"video": str(CUPS), "clicks": ["1:0:10:10"], **extra}
        path = tmp_path / "m.jsonl"
        path.write_text(json.dumps(rec) + "\n")
        return path

    job, = load_manifest(manifest(engine="sam2", fast=True), {})
    assert job.fast and job.engine_options()["fast"] is True and job.spec()["fast"] is True
    job, = load_manifest(manifest(engine="sam2"), {})
    assert not job.fast and "fast" not in job.engine_options() and "fast" not in job.spec()
    with pytest.raises(UserError, match="fast must be true or false"):
        load_manifest(manifest(engine="sam2", fast="quick"), {})
    with pytest.raises(UserError, match="fast is for the sam2 engine"):
        load_manifest(manifest(engine="classic", fast=True), {})
