"""Models → Speed: exact / fast switches SAM 2's numeric route and says which one runs."""

from __future__ import annotations

import pytest

from .helpers import open_clip, settle

pytestmark = pytest.mark.loads_sam2

SAM2 = dict(weights="random", seed=0, image_size=256, device="cpu")


def test_speed_menu_switches_sam2_to_fast_mode_and_back(make_window, qtbot, cups_frames, monkeypatch):
    from sam2studio.core.video import ArrayVideo
    from sam2studio.engines import sam2_fast

    monkeypatch.setenv(sam2_fast.FORCE_ENV, "bf16")
    win = make_window("sam2", **SAM2)
    open_clip(qtbot, win, ArrayVideo(cups_frames[:3], fps=30))
    exact, fast = win.actions["speed_exact"], win.actions["speed_fast"]
    assert exact.isChecked() and not fast.isChecked()
    assert win.session.engine.fast_route is None
    menu = [a.text() for a in win.menuBar().actions()]
    assert "&Models" in menu

    fast.trigger()
    qtbot.waitUntil(lambda: getattr(win.session.engine, "fast_route", None) is not None, timeout=60000)
    settle(qtbot, win)
    assert fast.isChecked() and not exact.isChecked()
    assert win.settings.get("engine/fast") is True
    assert "fast: bfloat16 autocast" in win.engine_label.text()
    assert "bfloat16" in win.engine_label.toolTip()

    exact.trigger()
    qtbot.waitUntil(lambda: win.session.engine.fast_route is None, timeout=60000)
    settle(qtbot, win)
    assert win.settings.get("engine/fast") is False
    assert "fast:" not in win.engine_label.text()
    assert win.engine_label.toolTip().startswith("exact mode")
