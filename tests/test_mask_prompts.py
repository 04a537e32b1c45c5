"""Mask prompts from PNG files: empty masks and masks of another shape are refused, an exact
multiple of the video's size is scaled only when asked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam2studio.core.prompts import read_mask_prompt
from sam2studio.errors import PromptError

W, H = 64, 48


def png(path, arr, mode=None):
    img = Image.fromarray(arr) if mode is None else Image.fromarray(arr, mode)
    img.save(path)
    return path


def square(h, w, frac=(0.25, 0.75)):
    m = np.zeros((h, w), np.uint8)
    m[int(h * frac[0]):int(h * frac[1]), int(w * frac[0]):int(w * frac[1])] = 255
    return m


def test_a_mask_of_the_video_size_is_read_as_its_non_zero_pixels(tmp_path):
    m = read_mask_prompt(png(tmp_path / "m.png", square(H, W)), 1, W, H)
    assert m.shape == (H, W) and m.sum() == (H // 2) * (W // 2)


def test_an_all_zero_mask_is_refused(tmp_path):
    path = png(tmp_path / "mask.png", np.zeros((H, W), np.uint8))
    with pytest.raises(PromptError, match=r"^mask.png has no foreground pixels$"):
        read_mask_prompt(path, 1, W, H)


def test_a_palette_mask_without_the_object_index_and_no_pixels_is_refused(tmp_path):
    img = Image.fromarray(np.zeros((H, W), np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 0, 0] * 128)
    img.save(tmp_path / "pal.png")
    with pytest.raises(PromptError, match="pal.png has no foreground pixels"):
        read_mask_prompt(tmp_path / "pal.png", 2, W, H)


def test_a_mask_of_another_aspect_ratio_is_refused_even_with_resize(tmp_path):
    path = png(tmp_path / "wide.png", square(H, W * 2))
    for resize in (False, True):
        with pytest.raises(PromptError,
                           match=r"wide.png is 128x48 pixels but the video is 64x48: a different aspect ratio"):
            read_mask_prompt(path, 1, W, H, resize=resize)


def test_an_exact_multiple_is_scaled_only_with_resize(tmp_path):
    half = png(tmp_path / "half.png", square(H // 2, W // 2))
    with pytest.raises(PromptError,
                       match=r"half.png is 32x24 pixels but the video is 64x48 \(an exact 2x\): "
                             r"scale it with --mask-resize"):
        read_mask_prompt(half, 1, W, H)
    m = read_mask_prompt(half, 1, W, H, resize=True)
    assert m.shape == (H, W) and np.array_equal(m, square(H, W) > 0)
    double = png(tmp_path / "double.png", square(H * 2, W * 2))
    assert np.array_equal(read_mask_prompt(double, 1, W, H, resize=True), square(H, W) > 0)


def test_a_same_aspect_size_that_is_no_exact_multiple_is_refused(tmp_path):
    path = png(tmp_path / "odd.png", square(36, 48))  # 3/4 of 64x48
    with pytest.raises(PromptError, match="not an exact multiple"):
        read_mask_prompt(path, 1, W, H, resize=True)


def test_a_mask_one_pixel_short_of_the_video_is_scaled_only_with_resize(tmp_path):
    path = png(tmp_path / "short.png", square(H, W - 1))
    with pytest.raises(PromptError,
                       match=r"short.png is 63x48 pixels but the video is 64x48 \(a 1-pixel difference\)"):
        read_mask_prompt(path, 1, W, H)
    assert read_mask_prompt(path, 1, W, H, resize=True).shape == (H, W)
