"""Shared fixtures: test material from ../shared/data, random-weight SAM 2 predictors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import sam2studio  # noqa: F401  (sets the OpenMP wait policy before any test imports torch)

DATA = Path("../shared/data")
SAM2_CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def shared(*parts: str) -> Path:
    """A file of the shared test material; skips the test cleanly when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test material {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the user's model cache or settings."""
    if "SAM2STUDIO_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("SAM2STUDIO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "model-cache"))
    if "SAM2STUDIO_SPILL_DIR" not in os.environ:  # SAM 2's spill files, not in the user cache
        monkeypatch.setenv("SAM2STUDIO_SPILL_DIR", str(tmp_path_factory.getbasetemp() / "spill"))


def random_predictor(image_size: int = 256, seed: int = 0):
    """The reference predictor with seeded random weights, built exactly as the CLI's
    ``--weights random --seed N`` contract says."""
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    torch.manual_seed(seed)
    return build_sam2_video_predictor(SAM2_CONFIG, ckpt_path=None, device="cpu",
                                      hydra_overrides_extra=[f"++model.image_size={image_size}"])
