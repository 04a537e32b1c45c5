"""Application setup and ``run()``: the entry point of the desktop app."""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

#: shared library (soname prefix) -> Debian/Ubuntu package that ships it
XCB_PACKAGES = {
    "libxcb-cursor": "libxcb-cursor0",
    "libxkbcommon-x11": "libxkbcommon-x11-0",
    "libxkbcommon": "libxkbcommon0",
    "libxcb-icccm": "libxcb-icccm4",
    "libxcb-image": "libxcb-image0",
    "libxcb-keysyms": "libxcb-keysyms1",
    "libxcb-randr": "libxcb-randr0",
    "libxcb-render-util": "libxcb-render-util0",
    "libxcb-shape": "libxcb-shape0",
    "libxcb-xinerama": "libxcb-xinerama0",
    "libxcb-xkb": "libxcb-xkb1",
    "libxcb-sync": "libxcb-sync1",
    "libxcb-xfixes": "libxcb-xfixes0",
    "libxcb-shm": "libxcb-shm0",
    "libxcb-render": "libxcb-render0",
    "libxcb-util": "libxcb-util1",
    "libxcb": "libxcb1",
    "libX11-xcb": "libx11-xcb1",
    "libX11": "libx11-6",
    "libEGL": "libegl1",
    "libGL": "libgl1",
    "libOpenGL": "libopengl0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libdbus-1": "libdbus-1-3",
    "libglib-2.0": "libglib2.0-0",
}

ALL_XCB_PACKAGES = ("libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 "
                    "libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 "
                    "libfontconfig1 libdbus-1-3")


def package_for(library: str) -> str | None:
    """The Debian package that ships ``library`` (a file name such as ``libxcb-cursor.so.0``)."""
    base = library.split(".so")[0]
    for prefix in sorted(XCB_PACKAGES, key=len, reverse=True):
        if base == prefix or base.startswith(prefix + "."):
            return XCB_PACKAGES[prefix]
    return None


def xcb_problem() -> str | None:
    """On Linux with the xcb platform: a one-paragraph message naming the missing system
    package when Qt's xcb plugin cannot load, else None."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None
    if not os.environ.get("DISPLAY"):
        return ("SAM2 Studio needs a display to open its window, and DISPLAY is not set: run it in a desktop "
                "session, under 'xvfb-run', or with QT_QPA_PLATFORM=offscreen for screenshots.")
    import ctypes

    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        return xcb_message(str(exc))
    return None


def xcb_message(loader_error: str) -> str:
    m = re.search(r"(lib[\w.+-]+\.so[\w.]*)", loader_error)
    lib = m.group(1) if m else None
    pkg = package_for(lib) if lib else None
    if pkg:
        return (f"SAM2 Studio cannot open its window: the system library {lib} is missing. "
                f"Install it with: sudo apt-get install {pkg}  (or all of Qt's X11 libraries at once: "
                f"sudo apt-get install {ALL_XCB_PACKAGES})")
    return ("SAM2 Studio cannot open its window: Qt's X11 (xcb) platform plugin does not load "
            f"({loader_error.strip()}). On Debian or Ubuntu: sudo apt-get install {ALL_XCB_PACKAGES}")


def setup_logging() -> Path | None:
    """Log to ``<data dir>/logs/sam2studio.log`` (rotated) besides stderr warnings."""
    from .settings import log_dir

    root = logging.getLogger()
    if any(getattr(h, "_sam2studio", False) for h in root.handlers):
        return None
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "sam2studio.log"
        h = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    h.setLevel(logging.INFO)
    h._sam2studio = True  # type: ignore[attr-defined]
    root.addHandler(h)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return path


def setup_application(app) -> None:
    """Names (for QSettings), style, dark palette, style sheet, icon."""
    from PySide6.QtGui import QColor, QPalette

    from .resources import app_icon, style_sheet
    from .settings import APPLICATION, ORGANIZATION

    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("SAM2 Studio")
    app.setDesktopFileName("sam2studio")
    app.setWindowIcon(app_icon())
    app.setStyle("Fusion")
    pal = QPalette()
    base = {
        QPalette.ColorRole.Window: "#171b22", QPalette.ColorRole.WindowText: "#dfe3ea",
        QPalette.ColorRole.Base: "#11151b", QPalette.ColorRole.AlternateBase: "#1a1f27",
        QPalette.ColorRole.Text: "#dfe3ea", QPalette.ColorRole.Button: "#232a35",
        QPalette.ColorRole.ButtonText: "#dfe3ea", QPalette.ColorRole.Highlight: "#2c5c99",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#232a35",
        QPalette.ColorRole.ToolTipText: "#eef1f6", QPalette.ColorRole.Link: "#4da3ff",
        QPalette.ColorRole.PlaceholderText: "#6b7585",
    }
    for role, color in base.items():
        pal.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5b6472"))
    app.setPalette(pal)
    app.setStyleSheet(style_sheet())


def install_excepthook(window_getter) -> None:
    """Unexpected exceptions on the UI thread (or any thread) are logged and shown as one sentence."""
    from .dialogs import error_dialog as err

    def hook(etype, value, tb):
        if issubclass(etype, KeyboardInterrupt):
            sys.__excepthook__(etype, value, tb)
            return
        log.error("unexpected error", exc_info=(etype, value, tb))
        try:
            win = window_getter()
            msg = err.message_for(value, "working")
            if win is not None:
                win.show_error(msg)
        except Exception:  # noqa: BLE001  # pragma: no cover - never raise from the hook
            pass

    def thread_hook(args):
        log.error("unexpected error in thread %s", args.thread, exc_info=(args.exc_type, args.exc_value,
                                                                           args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def run(path: str | None = None, argv: list[str] | None = None, *, engine: str | None = None,
        engine_options: dict | None = None) -> int:
    """Open the main window (with ``path``: a video, image folder or project) and run the app."""
    problem = xcb_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    argv = list(sys.argv[:1] if argv is None else argv) or ["sam2studio"]
    app = QApplication.instance() or QApplication(argv)
    setup_application(app)
    log_path = setup_logging()
    if log_path:
        log.info("SAM2 Studio starting; log at %s", log_path)

    from .main_window import MainWindow

    win = MainWindow(engine=engine, engine_options=engine_options)
    install_excepthook(lambda: win)
    win.show()
    if path:
        QTimer.singleShot(0, lambda: win.files.open_path(str(path), ask=False))
    code = app.exec()
    win.shutdown()
    return int(code)


def main() -> int:  # pragma: no cover - python -m sam2studio.gui.app
    return run(sys.argv[1] if len(sys.argv) > 1 else None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
