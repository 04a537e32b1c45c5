"""Helpers for the GUI tests: wait for the controller, open clips, real mouse drags."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[2]
CUPS = ROOT / "resources" / "sample" / "cups.mp4"  # the bundled sample clip: 150 frames, 1280x720
DATA = ROOT / "tests" / "data"  # the repository's test material (tests/data/README.md)


def settle(qtbot, win, timeout: float = 60.0) -> None:
    """Wait until every queued job ran and its signals reached the UI thread."""
    done = []
    win.ctl.call(lambda ctx: None, "test barrier", on_done=lambda job: done.append(job))
    qtbot.waitUntil(lambda: bool(done), timeout=int(timeout * 1000))
    qtbot.wait(5)  # coalesced redraws (0 ms timers)
    qtbot.waitUntil(lambda: not win.display_busy, timeout=10000)  # frame and overlay on the canvas


def open_clip(qtbot, win, source, **kw) -> None:
    win.files.open_path(source, ask=False, **kw)
    settle(qtbot, win, 120)
    assert win.session is not None, f"the clip did not open: {win.errors}"
    qtbot.waitUntil(lambda: win.canvas.has_image, timeout=10000)


def click_canvas(qtbot, win, x: float, y: float, button=None) -> None:
    from PySide6.QtCore import Qt

    pos = win.canvas.view_pos(x, y)
    qtbot.mouseClick(win.canvas.viewport(), button or Qt.MouseButton.LeftButton, pos=pos)


def drag_widget(widget, points, button=None) -> None:
    """Press at the first widget position, move (button held) through the others, release at
    the last: real mouse events (QTest's mouseMove cannot hold a button)."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent

    button = button or Qt.MouseButton.LeftButton

    def send(kind, pos, buttons):
        p = QPointF(pos)
        b = Qt.MouseButton.NoButton if kind == QMouseEvent.Type.MouseMove else button
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), b, buttons,
                                                   Qt.KeyboardModifier.NoModifier))

    send(QMouseEvent.Type.MouseButtonPress, points[0], button)
    for p in points[1:]:
        send(QMouseEvent.Type.MouseMove, p, button)
    send(QMouseEvent.Type.MouseButtonRelease, points[-1], Qt.MouseButton.NoButton)


def drag_canvas(qtbot, win, points, button=None) -> None:
    """A mouse drag on the canvas through frame pixels ``points``."""
    drag_widget(win.canvas.viewport(), [win.canvas.view_pos(x, y) for x, y in points], button)
