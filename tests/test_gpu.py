"""SAM 2 on CUDA: the engine against sam2's own predictor, a correction, a batch run.

Marked ``gpu`` (``pytest -m gpu``; ``benchmarks/gpu_check.sh`` runs them first) and skipped
where no CUDA GPU is available. Both sides run under the same ``torch.autocast("cuda",
bfloat16)``, which is how sam2 itself runs on a GPU (and how :class:`Sam2Engine` runs
there). Frames are 8 of the bundled clip written once as JPEGs, so the reference reads the
same pixels through its own loader; seeded random weights at image size 256.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SAM2_CONFIG

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU (torch.cuda.is_available() is False here)"),
]

CUPS = Path(__file__).resolve().parents[1] / "resources" / "sample" / "cups.mp4"
FRAMES = 8


@pytest.fixture(scope="module")
def cups_folder(tmp_path_factory):
    """The first frames of the bundled clip as a JPEG folder (the reference's input)."""
    from PIL import Image

    from sam2studio.core.video import open_video

    folder = tmp_path_factory.mktemp("cups_jpg")
    video = open_video(CUPS)
    try:
        for i in range(FRAMES):
            Image.fromarray(video.get_frame(i)).save(folder / f"{i:05d}.jpg", quality=95)
    finally:
        video.close()
    return folder


def cuda_predictor(seed: int = 0):
    from sam2studio.engines.sam2_engine import build_predictor, install_memory_dtype_fix

    p = build_predictor(SAM2_CONFIG, None, device="cuda", image_size=256, seed=seed)
    install_memory_dtype_fix(p)  # changes nothing under autocast; the engine installs it too
    return p


def autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16)


def reference_masks(gen) -> dict:
    return {(f, o): (logits[i, 0] > 0).cpu().numpy() for f, ids, logits in gen for i, o in enumerate(ids)}


def engine_masks(gen) -> dict:
    return {(f, o): om.mask for f, res in gen for o, om in res.items()}


def assert_identical(ours: dict, ref: dict) -> None:
    assert ours.keys() == ref.keys()
    differing = [k for k in ref if not np.array_equal(ours[k], ref[k])]
    assert differing == [], f"{len(differing)} of {len(ref)} masks differ on CUDA, e.g. {differing[:5]}"
    assert any(m.any() for m in ref.values())


def test_cuda_engine_matches_the_reference_under_the_same_autocast(cups_folder):
    from sam2studio.core.video import open_video
    from sam2studio.engines.sam2_engine import Sam2Engine

    clicks = {1: [(640, 420)], 2: [(300, 300)]}
    ref = cuda_predictor()
    with autocast():
        state = ref.init_state(str(cups_folder))
        for o, pts in clicks.items():
            ref.add_new_points_or_box(state, 0, o, points=np.array(pts, np.float32),
                                      labels=np.ones(len(pts), np.int32))
        expected = reference_masks(ref.propagate_in_video(state, start_frame_idx=0))

    engine = Sam2Engine(cuda_predictor())
    assert engine.device.startswith("cuda")
    video = open_video(cups_folder)
    engine.open(video)
    for o, pts in clicks.items():
        engine.add_prompt(0, o, points=pts, labels=[1] * len(pts))
    ours = engine_masks(engine.propagate(0, "forward"))
    engine.close()
    video.close()
    assert_identical(ours, expected)
    assert len(ours) == FRAMES * 2


def test_cuda_propagation_with_a_correction_matches_the_reference(cups_folder):
    from sam2studio.core.video import open_video
    from sam2studio.engines.sam2_engine import Sam2Engine

    ref = cuda_predictor()
    engine = Sam2Engine(cuda_predictor())
    video = open_video(cups_folder)
    engine.open(video)
    with autocast():
        state = ref.init_state(str(cups_folder))
        ref.add_new_points_or_box(state, 0, 1, points=np.array([[640, 420]], np.float32),
                                  labels=np.array([1], np.int32))
        first = reference_masks(ref.propagate_in_video(state, start_frame_idx=0))
    engine.add_prompt(0, 1, points=[(640, 420)], labels=[1])
    assert_identical(engine_masks(engine.propagate(0, "forward")), first)

    # a correction half-way, then a forward re-run from it
    with autocast():
        ref.add_new_points_or_box(state, 4, 1, points=np.array([[500, 300]], np.float32),
                                  labels=np.array([0], np.int32))
        rerun_ref = reference_masks(ref.propagate_in_video(state, start_frame_idx=4))
    engine.add_prompt(4, 1, points=[(500, 300)], labels=[0])
    rerun = engine_masks(engine.propagate(4, "forward"))
    engine.close()
    video.close()
    assert_identical(rerun, rerun_ref)


def test_cuda_batch_run_writes_every_mask(cups_folder, tmp_path):
    from sam2studio.batch import load_manifest, run_batch

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"video": str(cups_folder), "clicks": ["1:0:640:420"], "engine": "sam2",
                                    "weights": "random", "image_size": 256, "device": "cuda"}) + "\n")
    out = tmp_path / "out"
    results = run_batch(load_manifest(manifest, {}), out, workers=1)
    assert [r.status for r in results] == ["done"], [r.reason for r in results]
    assert results[0].frames == FRAMES
    pngs = list(out.rglob("frame_*_obj_1.png"))
    assert len(pngs) == FRAMES
