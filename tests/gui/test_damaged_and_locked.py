"""The app with damaged project files (red frames on the timeline, re-run on request) and with
a project another process is writing (opened read-only, saved under another name)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from sam2studio.gui.timeline import DAMAGED

from .helpers import click_canvas, open_clip, settle

ROOT = Path(__file__).resolve().parents[2]
W, H, N = 96, 64, 8


def write_clip(folder: Path) -> Path:
    folder.mkdir()
    for i in range(N):
        img = np.full((H, W, 3), 30, np.uint8)
        img[20:44, 10 + 4 * i:40 + 4 * i] = (220, 70, 40)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return folder


def saved_project(tmp_path: Path, damage_frame: int | None = None) -> Path:
    """A classic-engine project on a small clip (object 1 clicked on frame 0, propagated), with
    the mask of ``damage_frame`` damaged on disk."""
    from sam2studio.session import Session

    clip = write_clip(tmp_path / "clip")
    with Session.open(clip, engine="classic") as s:
        s.add_click(0, 1, 20, 30)
        s.run(0, "forward")
        path = s.save(tmp_path / "p.s2s")
        counts = bytes(s.masks.entry(damage_frame, 1).rle["counts"]) if damage_frame is not None else None
    if counts is not None:
        data = bytearray(path.read_bytes())
        at = data.index(counts) + 1
        data[at:at + 2] = bytes(b ^ 0x33 for b in data[at:at + 2])
        path.write_bytes(bytes(data))
    return path


def test_damaged_masks_are_red_on_the_timeline_and_re_run_on_request(make_window, qtbot, tmp_path):
    path = saved_project(tmp_path, damage_frame=5)
    win = make_window("classic")
    open_clip(qtbot, win, str(path))
    assert win.session.project.damaged_frames() == [5]
    assert not win.session.masks.has(5, 1)
    settle(qtbot, win)
    assert (win.timeline.lane_pixels(0, 5) == DAMAGED).all()
    assert not (win.timeline.lane_pixels(0, 4) == DAMAGED).all()
    assert "damaged" in win.statusBar().currentMessage()
    assert win.actions["rerun_damaged"].isEnabled()

    box = win.propagation.rerun_box
    qtbot.waitUntil(lambda: box.isVisible(), timeout=5000)
    assert "damaged masks (object 1 on frame 5)" in box.text()
    box.accept_button.click()
    settle(qtbot, win)
    assert win.session.project.damaged_masks() == [] and win.session.masks.has(5, 1)
    assert win.session.masks.area(5, 1) > 0
    settle(qtbot, win)
    win.refresh_timeline()
    assert not (win.timeline.lane_pixels(0, 5) == DAMAGED).all()
    assert not win.actions["rerun_damaged"].isEnabled()
    assert win.doc.dirty  # the re-made masks are unsaved work


def test_a_project_another_process_writes_opens_read_only_and_saves_under_a_new_name(make_window, qtbot,
                                                                                       tmp_path):
    path = saved_project(tmp_path)
    before = path.read_bytes()
    code = textwrap.dedent(f"""
        import sys
        from sam2studio.core.project import Project
        p = Project.load({str(path)!r}, lock=True)
        print("locked", flush=True)
        sys.stdin.readline()
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        win = make_window("classic")
        assert win.files.open_path(str(path), ask=False) is None  # asks first
        box = win.files.locked_box
        qtbot.waitUntil(lambda: box.isVisible(), timeout=5000)
        assert f"pid {holder.pid}" in box.text() and "p.s2s is open for writing" in box.text()
        box.accept_button.click()
        settle(qtbot, win, 120)
        assert win.session is not None and win.session.project.read_only
        assert "(read-only)" in win.windowTitle()

        click_canvas(qtbot, win, 30, 30)  # some unsaved work
        settle(qtbot, win)
        assert win.doc.dirty
        mine = tmp_path / "mine.s2s"
        win.files._ask_project_path = lambda: str(mine)
        assert win.files.save()  # Save on a read-only project asks for a new name
        settle(qtbot, win)
        assert mine.is_file() and path.read_bytes() == before
        assert not win.doc.read_only and "(read-only)" not in win.windowTitle()
    finally:
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(10)
