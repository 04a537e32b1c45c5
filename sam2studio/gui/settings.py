"""User settings (QSettings, always an INI file) and the app's data folders.

Tests redirect both: ``QSettings.setPath(IniFormat, UserScope, tmp)`` moves the INI file, and
the ``SAM2STUDIO_DATA_DIR`` environment variable moves the autosave and log folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "SAM2Studio"
APPLICATION = "SAM2 Studio"
DATA_DIR_ENV = "SAM2STUDIO_DATA_DIR"
MAX_RECENT = 10

#: every setting with its default; the type of the default is the type read back
DEFAULTS: dict[str, object] = {
    "view/opacity": 0.5,
    "view/outline": False,
    "view/follow_propagation": True,
    "view/smoothing": False,
    "quality/auto": True,
    "quality/thresholds": "",  # JSON of QualityThresholds fields ("" = the defaults)
    "tools/brush_size": 24,
    "dirs/open": "",
    "dirs/save": "",
    "dirs/export": "",
    "dirs/import": "",
    "recent/files": [],
    "window/geometry": QByteArray(),
    "window/state": QByteArray(),
    "autosave/interval_s": 60,
    "engine/name": "auto",
    "engine/model": "",
    "engine/checkpoint": "",
    "engine/device": "auto",
    "engine/image_size": 0,  # 0 = the model's own
    "engine/memory_budget_mb": 0,  # 0 = the engine's default
    "ui/banner_dismissed": False,
    "export/format": "png",
}


def data_dir() -> Path:
    """Folder for autosaves and logs (``SAM2STUDIO_DATA_DIR`` or the platform's user data dir)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("sam2studio", appauthor=False))


def autosave_dir() -> Path:
    return data_dir() / "autosave"


def log_dir() -> Path:
    return data_dir() / "logs"


def qsettings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _coerce(value, default):
    if value is None:
        return default
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, int):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            return default
    if isinstance(default, list):
        if isinstance(value, str):
            return [value] if value else []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else default
    if isinstance(default, QByteArray):
        return value if isinstance(value, QByteArray) else default
    return str(value)


class Settings:
    """Typed access to the keys of :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._q = qsettings()

    def get(self, key: str):
        default = DEFAULTS[key]
        return _coerce(self._q.value(key, default), default)

    def set(self, key: str, value) -> None:
        if key not in DEFAULTS:
            raise KeyError(key)
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()

    @property
    def path(self) -> str:
        return self._q.fileName()

    # ---- recent files ------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        return [p for p in self.get("recent/files") if p]

    def add_recent(self, path: str | Path) -> list[str]:
        p = str(Path(path).resolve())
        files = [f for f in self.recent_files() if f != p]
        files.insert(0, p)
        del files[MAX_RECENT:]
        self.set("recent/files", files)
        return files

    def remove_recent(self, path: str) -> None:
        self.set("recent/files", [f for f in self.recent_files() if f != path])

    def clear_recent(self) -> None:
        self.set("recent/files", [])

    # ---- engine ------------------------------------------------------------------------
    def engine_options(self) -> tuple[str, dict]:
        """``(engine name, options for Session.open)`` from the model manager's choices."""
        name = self.get("engine/name")
        opts: dict = {}
        if self.get("engine/model"):
            opts["model"] = self.get("engine/model")
        if self.get("engine/checkpoint"):
            opts["checkpoint"] = self.get("engine/checkpoint")
        if self.get("engine/device") != "auto":
            opts["device"] = self.get("engine/device")
        if self.get("engine/image_size") > 0:
            opts["image_size"] = self.get("engine/image_size")
        if self.get("engine/memory_budget_mb") > 0:
            opts["memory_budget_mb"] = self.get("engine/memory_budget_mb")
        if name == "classic":
            opts = {}
        return name, opts
