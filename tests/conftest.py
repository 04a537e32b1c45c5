"""Shared fixtures: the repository's own test material, random-weight SAM 2 predictors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Under pytest-xdist (the README's -n auto) each worker gets its share of the cores for torch's
# and OpenCV's thread pools (inherited by the processes tests start), so workers do not
# oversubscribe the CPU. OpenCV's matters most: one of its parallel loops waits for its slowest
# thread, so with two workers of two threads each on two cores every resize, blur and optical
# flow stalls whenever a thread is descheduled (the classic engine's tests took 88 s instead of
# 44 s on a loaded 2-core machine, for the same CPU time).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
if _WORKERS > 1:
    _SHARE = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    os.environ.setdefault("OMP_NUM_THREADS", _SHARE)
    os.environ.setdefault("OPENCV_FOR_THREADS_NUM", _SHARE)
import sam2studio  # noqa: E402,F401  (sets the OpenMP wait policy before any test imports torch)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"  # licences in tests/data/README.md
SAMPLE = ROOT / "resources" / "sample" / "cups.mp4"  # the bundled clip: 150 frames, 1280x720, audio
SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def data(*parts: str) -> Path:
    """A file of the repository's test material (tests/data); it is always there."""
    path = DATA.joinpath(*parts)
    assert path.exists(), f"test material {path} is missing from the repository"
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's model cache or settings."""
    if "SAM2STUDIO_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("SAM2STUDIO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "model-cache"))
    if "SAM2STUDIO_FAST_CACHE" not in os.environ:  # fast mode's measured routes
        monkeypatch.setenv("SAM2STUDIO_FAST_CACHE", str(tmp_path_factory.getbasetemp() / "fast_routes.json"))
    if "SAM2STUDIO_SPILL_DIR" not in os.environ:  # SAM 2's spill files, not in the user cache
        monkeypatch.setenv("SAM2STUDIO_SPILL_DIR", str(tmp_path_factory.getbasetemp() / "spill"))


#: (folder, annotated frame, object id) of the real annotated objects in tests/data (half size)
REAL_OBJECTS = {"judo pair": ("judo", "00000", 1), "judoka A": ("judo", "00005", 2),
                "judoka B": ("judo", "00008", 3), "judoka C": ("judo", "00013", 4),
                "bicycle": ("bike", "00000", 1), "rider": ("bike", "00000", 2)}


def annotated(seq: str, frame: str, obj: int):
    """(every frame of tests/data/``seq`` as RGB arrays, object ``obj``'s annotation on
    ``frame`` padded or cut to the frames' size)."""
    import numpy as np
    from PIL import Image

    folder = DATA / seq
    frames = [np.array(Image.open(p).convert("RGB")) for p in sorted((folder / "frames").glob("*.jpg"))]
    gt = np.array(Image.open(folder / "masks" / f"{frame}.png")) == obj
    h, w = frames[0].shape[:2]
    return frames, np.pad(gt, ((0, max(0, h - gt.shape[0])), (0, max(0, w - gt.shape[1]))))[:h, :w]


def random_predictor(image_size: int = 256, seed: int = 0):
    """The reference predictor with seeded random weights, built exactly as the CLI's
    ``--weights random --seed N`` contract says."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(seed)
    return build_sam2_video_predictor(SAM2_CONFIG, ckpt_path=None, device="cpu",
                                      hydra_overrides_extra=[f"++model.image_size={image_size}"])


_GUI_TESTS = Path(__file__).resolve().parent / "gui"


def pytest_itemcollected(item):
    """With pytest-xdist (the README's ``-n auto``), the GUI tests share one worker and run one
    after another: several of them time the event loop and cancellation, which other GUI tests
    running beside them on a small machine would disturb. The other tests spread over the rest."""
    if _GUI_TESTS in Path(str(item.fspath)).resolve().parents:
        item.add_marker(pytest.mark.xdist_group("gui"))


#: test files holding the slowest tests (tens of seconds each on 2 cores), slowest first
LONGEST_FIRST = ("test_readme.py", "test_sam2_memory.py", "test_batch.py", "test_sam2_fast.py", "test_cli.py",
                 "test_sam2_engine.py", "test_examples.py")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, order the tests longest first, and give grouped tests their group:
    pytest-xdist (3.8) groups ``xdist_group`` tests by writing ``item._nodeid``, which pytest
    9.2 no longer reads, so the groups silently do nothing; give the node ids their group suffix
    as xdist means to (on versions where xdist's own change works, it is there already)."""
    if not getattr(config.option, "loadgroup", False):
        return
    # longest first (the GUI group, then the files of the slowest tests), so that no long test
    # starts last while the other worker sits idle
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def order(item) -> int:
        path = Path(str(item.fspath)).resolve()
        if _GUI_TESTS in path.parents:
            # in the GUI group, the tests that load SAM 2 last: importing torch doubles the heap
            # that each window's full garbage collections walk (ui_thread_gc), ~70 -> ~170 ms each
            return -1 if item.get_closest_marker("loads_sam2") else -2
        return rank.get(path.name, len(rank))

    items.sort(key=order)
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})
        if names and "@" not in item.nodeid:
            from _pytest.nodeid import coerce_node_id

            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")
