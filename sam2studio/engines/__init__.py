"""Segmentation engines: SAM 2 (sam2's video predictor) and the built-in classic engine."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .base import Engine, FrameResult, ObjectMask

ENGINE_NAMES = ("auto", "classic", "sam2")

__all__ = ["ENGINE_NAMES", "Engine", "FrameResult", "ObjectMask", "choose_engine", "create_engine"]


def choose_engine(name: str = "auto", *, model: str | None = None, checkpoint: str | Path | None = None,
                  weights: str = "checkpoint") -> str:
    """Resolve ``auto``: SAM 2 when it can run (a checkpoint is given or installed, or random
    weights were asked for), else the built-in classic engine."""
    if name not in ENGINE_NAMES:
        raise UserError(f"unknown engine {name!r}: use {', '.join(ENGINE_NAMES)}")
    if name != "auto":
        return name
    if checkpoint is not None or weights == "random":
        return "sam2"
    from . import models

    return "sam2" if models.is_installed(model or models.DEFAULT_MODEL) else "classic"


def create_engine(name: str = "auto", *, model: str | None = None, checkpoint: str | Path | None = None,
                  weights: str = "checkpoint", seed: int = 0, image_size: int | None = None,
                  device: str = "auto", **options) -> Engine:
    """Build an engine by name (see :func:`choose_engine`)."""
    if weights not in ("checkpoint", "random"):
        raise UserError(f"unknown --weights {weights!r}: use 'random' (testing only) or leave it out")
    name = choose_engine(name, model=model, checkpoint=checkpoint, weights=weights)
    if name == "classic":
        from .classic import ClassicEngine

        for sam2_only in ("memory_budget_mb", "spill_dir", "fast"):
            options.pop(sam2_only, None)

        return ClassicEngine(**options)
    from . import models
    from .sam2_engine import Sam2Engine

    return Sam2Engine.create(model or models.DEFAULT_MODEL, checkpoint=checkpoint, weights=weights,
                             seed=seed, image_size=image_size, device=device, **options)
