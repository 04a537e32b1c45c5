"""Models: the model manager, the SAM 2.1 tiny download, switching the engine after either,
the engine label in the status bar and the banner shown while the classic engine runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

from ...engines.models import get_model
from ..resources import icon

if TYPE_CHECKING:
    from ..main_window import MainWindow

TINY_SIZE = f"{get_model('sam2.1-tiny').size_mb} MB"  # as the model manager shows it
BANNER_TEXT = ("Using the built-in classic engine (no download). For SAM 2 quality, open "
               f"Models → Download SAM 2.1 tiny, {TINY_SIZE}.")


class Banner(QFrame):
    """A dismissible notice over the canvas."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 6, 6)
        info = QLabel()
        info.setPixmap(icon("info").pixmap(18, 18))
        lay.addWidget(info)
        self.label = QLabel(BANNER_TEXT)
        self.label.setWordWrap(True)
        lay.addWidget(self.label, 1)
        self.download = QPushButton("Download SAM 2.1 tiny")
        self.download.setToolTip(f"Open the model manager and download the recommended checkpoint ({TINY_SIZE})")
        lay.addWidget(self.download)
        self.close_button = QToolButton()
        self.close_button.setIcon(icon("close"))
        self.close_button.setToolTip("Hide this notice")
        lay.addWidget(self.close_button)


class ModelsController:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.dialog = None

    def handlers(self) -> dict[str, Callable]:
        return {"models": self.model_manager, "download_tiny": self.download_tiny,
                "speed_exact": lambda on: on and self.set_speed(False),
                "speed_fast": lambda on: on and self.set_speed(True)}

    def connect(self) -> None:
        w = self.w
        w.banner.download.clicked.connect(self.download_tiny)
        w.banner.close_button.clicked.connect(self.dismiss_banner)
        w.doc.engine_changed.connect(self.show_engine)
        fast = bool(w.settings.get("engine/fast"))
        w.actions["speed_fast" if fast else "speed_exact"].setChecked(True)

    def set_speed(self, fast: bool) -> None:
        """Models → Speed: exact / fast. Remembered; an open SAM 2 session switches at once (the
        fast route is timed on this CPU the first time, on the controller thread)."""
        w = self.w
        if bool(w.settings.get("engine/fast")) == fast and (
                w.doc.engine_override is None or bool(w.doc.engine_override_options.get("fast")) == fast):
            return
        w.settings.set("engine/fast", fast)
        if w.doc.engine_override is not None and w.doc.engine_override != "classic":
            w.doc.engine_override_options["fast"] = fast
        s = w.session
        if s is None or s.engine_name == "classic":
            w.status("SAM 2 will run in " + ("fast mode (not bit-exact)." if fast else "exact mode."), 8000)
            return
        w.status("Switching SAM 2 to " + ("fast mode: timing this CPU's routes the first time…" if fast
                                          else "exact mode…"), 8000)
        w.doc.switch_engine()

    def model_manager(self, start_download: str | None = None):
        from ..dialogs.model_manager import ModelManagerDialog

        w = self.w
        dlg = ModelManagerDialog(w, w.settings)
        dlg.applied.connect(self._on_applied)
        dlg.download_finished.connect(self._on_download_finished)
        self.dialog = dlg
        dlg.open()
        if start_download:
            dlg.select_model(start_download)
            dlg.start_download(start_download)
        return dlg

    def download_tiny(self):
        from ...engines import models

        return self.model_manager(start_download=None if models.is_installed(models.DEFAULT_MODEL)
                                  else models.DEFAULT_MODEL)

    def _on_applied(self) -> None:
        w = self.w
        if w.session is not None and w.doc.engine_override is None:
            w.doc.switch_engine()

    def _on_download_finished(self, name: str, outcome: str) -> None:
        w = self.w
        s = w.session
        if outcome == "ok" and s is not None and s.engine_name == "classic" \
                and w.settings.get("engine/name") == "auto" and w.doc.engine_override is None:
            w.doc.switch_engine()

    def dismiss_banner(self) -> None:
        self.w.banner.hide()
        self.w.settings.set("ui/banner_dismissed", True)

    def show_engine(self, session) -> None:
        """Say which engine ``session`` segments with (status bar label, banner)."""
        w = self.w
        name = session.engine_name
        if name == "classic":
            text = "Engine: classic (built in) · cpu"
            w.status("Using the built-in classic engine (no download). "
                     "For SAM 2 quality: Models → Download SAM 2.1 tiny.", 15000)
        else:
            model = getattr(session.engine, "model_name", "SAM 2")
            text = f"Engine: {model} · {session.device}"
            route = getattr(session.engine, "fast_route", None)
            if route is not None:
                from ...engines.sam2_fast import ROUTES

                text += f" · fast: {ROUTES.get(route.name, route.name)}"
            if session.is_random_weights:
                text += " · RANDOM WEIGHTS (testing only)"
        w.engine_label.setText(text)
        route = getattr(session.engine, "route", "")
        w.engine_label.setToolTip(route if isinstance(route, str) else "")
        w.banner.setVisible(name == "classic" and not w.settings.get("ui/banner_dismissed"))
