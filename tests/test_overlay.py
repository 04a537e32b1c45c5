"""The one mask compositor (core/overlay.py) behind the canvas, the live view and the export."""

from __future__ import annotations

import numpy as np

from sam2studio.core.overlay import composite, draw_overlay, mask_bbox, overlay_layer

H, W = 120, 160


def square(x0, y0, x1, y1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def grey(value: int = 100) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def test_fill_blends_the_colour_at_the_opacity_inside_the_mask_and_leaves_the_rest():
    m = square(40, 30, 90, 80)
    img = grey()
    out = draw_overlay(img, {1: m}, {1: (200, 0, 0)}, 0.5)
    assert out is not img and (img == 100).all(), "a new array; the frame is untouched"
    assert np.abs(out[m].astype(int) - (150, 50, 50)).max() <= 1
    assert (out[~m] == 100).all()


def test_draw_overlay_matches_the_live_views_tint_with_default_colours():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    masks = {1: square(10, 10, 60, 50), 3: square(100, 60, 150, 110)}
    out = draw_overlay(img, masks, None, 0.4)
    from sam2studio.core.objects import default_color

    for o, m in masks.items():
        c = np.asarray(default_color(o), np.float32)
        expect = img[m].astype(np.float32) * 0.6 + c * 0.4
        assert np.abs(out[m].astype(np.float32) - expect).max() <= 1.0, o
    rest = ~(masks[1] | masks[3])
    assert (out[rest] == img[rest]).all()


def test_outline_mode_draws_every_boundary_holes_included_and_leaves_the_inside_clear():
    m = square(30, 20, 130, 100)
    m[50:70, 70:90] = False  # a hole
    layer = overlay_layer({1: m}, {1: (0, 255, 0)}, opacity=0.0, edge=2)
    a = layer.alpha
    x0, y0 = layer.origin

    def alpha(x, y):
        return a[y - y0, x - x0]

    assert alpha(30, 60) > 0.5 and alpha(129, 60) > 0.5, "the outer boundary is drawn"
    assert alpha(70, 60) > 0.5 and alpha(89, 60) > 0.5, "so is the hole's"
    assert alpha(50, 40) == 0 and alpha(110, 85) == 0, "the inside stays clear"
    assert tuple(layer.rgba()[20 - y0, 80 - x0, :3]) == (0, 255, 0)


def test_a_later_object_is_composited_over_an_earlier_one():
    a, b = square(20, 20, 80, 80), square(50, 50, 110, 110)
    layer = overlay_layer({1: a, 2: b}, {1: (255, 0, 0), 2: (0, 0, 255)}, opacity=0.5)
    x0, y0 = layer.origin
    both = (60 - y0, 60 - x0)
    assert abs(float(layer.alpha[both]) - 0.75) < 1e-5  # 0.5 over 0.5
    # straight colour: (blue * 0.5 + red * 0.5 * 0.5) / 0.75
    assert np.abs(layer.rgb[both].astype(int) - (85, 0, 170)).max() <= 1
    assert tuple(layer.rgb[30 - y0, 30 - x0]) == (255, 0, 0)
    assert float(layer.alpha[100 - y0, 30 - x0]) == 0.0, "outside both masks"


def test_feathering_fades_the_fill_over_the_edge():
    m = square(40, 40, 120, 100)
    layer = overlay_layer({1: m}, {1: (255, 255, 255)}, opacity=1.0, feather_px=6)
    x0, y0 = layer.origin

    def alpha(x, y):
        return float(layer.alpha[y - y0, x - x0])

    assert alpha(80, 70) > 0.99, "deep inside: full"
    assert 0.3 < alpha(40, 70) < 0.7, "on the edge: about half"
    assert alpha(33, 70) < 0.05, "a feather's width outside: nearly nothing"
    assert x0 <= 34, "the layer makes room for the soft edge"


def test_labels_sit_above_the_mask_or_just_inside_it_at_the_top():
    img = grey(0)
    low, top = square(60, 70, 100, 110), square(10, 0, 50, 30)
    out = draw_overlay(img, {1: low, 2: top}, {1: (255, 255, 0), 2: (255, 255, 0)}, 0.0,
                       names={1: "cup", 2: "dog"})
    above_low = out[40:70, 50:110]
    assert (above_low.sum(-1) > 0).any(), "object 1's name is drawn above its mask"
    assert (out[0:30, 10:50].sum(-1) > 0).any(), "object 2 has no room above: its name is inside"
    assert (out[112:, :].sum(-1) == 0).all(), "nothing below the masks"


def test_nothing_to_draw_gives_no_layer_and_an_unchanged_copy():
    empty = np.zeros((H, W), bool)
    assert overlay_layer({1: empty, 2: None}, {1: (1, 2, 3), 2: (1, 2, 3)}) is None
    assert overlay_layer({1: square(0, 0, 5, 5)}, {2: (1, 2, 3)}) is None, "objects without a colour are hidden"
    img = grey()
    assert (draw_overlay(img, {}, None) == img).all()
    assert composite(img, None) is img
    assert mask_bbox(empty) is None and mask_bbox(square(3, 4, 9, 7)) == (3, 4, 9, 7)
