"""Icons and the style sheet: found beside the package (source tree) or in a PyInstaller bundle."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


def resources_dir() -> Path:
    """The ``resources/`` folder: ``sys._MEIPASS/resources`` in a bundle, else the repository's."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """The SVG icon ``resources/icons/<name>.svg`` (an empty icon when missing)."""
    p = icon_path(name)
    return QIcon(str(p)) if p.is_file() else QIcon()


def app_icon() -> QIcon:
    return icon("sam2studio")


def style_sheet() -> str:
    p = Path(__file__).with_name("style.qss")
    try:
        return p.read_text(encoding="utf-8")
    except OSError:
        return ""
