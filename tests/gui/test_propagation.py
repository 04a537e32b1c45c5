"""Propagation streams into the window, cancels within a second, and never blocks the UI."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer

from .helpers import click_canvas, open_clip, settle

CUP = (650, 450)


def long_clip(frames, n=400):
    from sam2studio.core.video import ArrayVideo

    return ArrayVideo([frames[i % len(frames)] for i in range(n)], fps=30)


def test_cancel_stops_within_a_second(make_window, qtbot, cups_frames):
    win = make_window("classic")
    open_clip(qtbot, win, long_clip(cups_frames))
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    progress = []
    win.ctl.progress.connect(lambda d, t: progress.append((d, t)))
    finished = []  # (a lambda runs on the emitting thread: the time is when the job really ended)
    win.ctl.finished.connect(lambda job: job.kind == "propagate" and finished.append((time.monotonic(), job)))
    win.propagation.forward()
    qtbot.waitUntil(lambda: bool(progress) and progress[-1][0] >= 4, timeout=30000)
    assert progress[-1][1] == 400
    assert win.progress_bar.isVisible() and win.cancel_button.isVisible()
    # frames stream onto the timeline and the canvas while it runs
    qtbot.waitUntil(lambda: win.frame >= 3, timeout=5000)
    t0 = time.monotonic()
    qtbot.keyClick(win.canvas, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: bool(finished), timeout=5000)
    took = finished[0][0] - t0
    job = finished[0][1]
    assert job.cancelled
    assert took < 1.0, f"cancel took {took:.2f} s"
    done = len(win.session.masks.frames(1))
    assert 4 <= done < 400
    qtbot.waitUntil(lambda: "Cancelled" in win.statusBar().currentMessage(), timeout=2000)
    qtbot.waitUntil(lambda: not win.progress_bar.isVisible(), timeout=2000)
    assert win.errors == []


def test_ui_stays_responsive_during_propagation(make_window, qtbot, cups_frames):
    win = make_window("classic")
    open_clip(qtbot, win, long_clip(cups_frames, 120))
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    job = win.propagation.forward()
    timer.start()
    qtbot.waitUntil(lambda: len(win.session.masks.frames(1)) >= 40 or job.result is not None, timeout=60000)
    t_end = time.monotonic() + 1.0
    qtbot.waitUntil(lambda: time.monotonic() > t_end, timeout=5000)
    timer.stop()
    win.propagation.cancel()
    settle(qtbot, win)
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert len(ticks) > 20
    worst = max(gaps)
    assert worst < 0.100, f"the event loop stalled for {worst * 1000:.0f} ms"
    assert win.frame > 10, "the playhead followed the propagation"


def test_timeline_lanes_are_computed_off_the_ui_thread_and_follow_the_masks(make_window, qtbot, cups_frames,
                                                                            monkeypatch):
    import threading

    from sam2studio.gui import controller
    from sam2studio.gui.controller import ABSENT_STATE, NONE, PRESENT

    threads = []
    real = controller.lane_states

    def spy(masks, obj, n):
        threads.append(threading.current_thread())
        return real(masks, obj, n)

    monkeypatch.setattr(controller, "lane_states", spy)
    win = make_window("classic")
    open_clip(qtbot, win, long_clip(cups_frames, 30))
    click_canvas(qtbot, win, *CUP)
    settle(qtbot, win)
    assert win.doc.state.lanes[1][0] == PRESENT and (win.doc.state.lanes[1][1:] == NONE).all()
    win.playback.seek(19)
    win.actions["range_out"].trigger()  # propagate over frames 0 to 19 only
    win.playback.seek(0)
    win.propagation.forward()
    settle(qtbot, win)
    win.refresh_timeline()
    assert threads and threading.main_thread() not in threads
    lane = win.doc.state.lanes[1]
    assert set(lane[:20].tolist()) <= {PRESENT, ABSENT_STATE} and lane[0] == PRESENT
    assert (lane[20:] == NONE).all(), "frames past the range were not computed"
    color = win.doc.state.objects[1].color
    for f in (5, 25):
        assert (win.timeline.lane_pixels(0, f)[:3] == color).all() == (lane[f] == PRESENT)
