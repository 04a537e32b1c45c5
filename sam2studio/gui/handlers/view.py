"""The view: zoom, the masks' look (outline, opacity, temporal smoothing), following a
propagation, and the help (shortcuts, about)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from ..main_window import MainWindow


class ViewController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.shortcuts_dialog = None

    def handlers(self) -> dict[str, Callable]:
        c = self.w.canvas
        return {
            "zoom_fit": c.fit,
            "zoom_100": c.zoom_100,
            "zoom_in": lambda: c.zoom_by(1.25),
            "zoom_out": lambda: c.zoom_by(0.8),
            "outline": self.set_outline,
            "opacity_up": lambda: self.set_opacity(c.opacity + 0.1),
            "opacity_down": lambda: self.set_opacity(c.opacity - 0.1),
            "smooth": self.set_smoothing,
            "follow": self.set_follow,
            "shortcuts": self.show_shortcuts,
            "about": self.show_about,
        }

    def connect(self) -> None:
        self.w.opacity_slider.valueChanged.connect(lambda v: self.set_opacity(v / 100))

    def set_outline(self, on: bool) -> None:
        self.w.canvas.outline = bool(on)
        self.w.settings.set("view/outline", bool(on))
        self.w.refresh_overlay()

    def set_opacity(self, value: float) -> None:
        w = self.w
        value = float(min(max(value, 0.0), 1.0))
        w.canvas.opacity = value
        w.settings.set("view/opacity", value)
        if w.opacity_slider.value() != int(round(value * 100)):
            w.opacity_slider.setValue(int(round(value * 100)))
        w.refresh_overlay()

    def set_smoothing(self, on: bool) -> None:
        from ...core.smoothing import DEFAULT_WINDOW

        self.w.settings.set("view/smoothing", bool(on))
        self.w.display.smooth = DEFAULT_WINDOW if on else 0
        self.w.refresh_overlay()

    def set_follow(self, on: bool) -> None:
        self.w.settings.set("view/follow_propagation", bool(on))

    def show_shortcuts(self):
        from ..dialogs.shortcuts import ShortcutsDialog

        w = self.w
        menus = [a.menu() for a in w.menuBar().actions() if a.menu() is not None]
        dlg = ShortcutsDialog(menus, w)
        self.shortcuts_dialog = dlg
        dlg.open()
        return dlg

    def show_about(self) -> None:
        from ... import __version__

        QMessageBox.about(self.w, "About SAM2 Studio",
                          f"<b>SAM2 Studio {__version__}</b><br>Interactive video object segmentation on top of "
                          "Meta's SAM 2: click, propagate, correct, export.")
