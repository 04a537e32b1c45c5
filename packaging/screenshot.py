"""Make docs/screenshot.png: the real window with 02_cups.mp4, two objects, the timeline filled.

Run under Xvfb from the repository root:
    xvfb-run -s "-screen 0 1600x1000x24" python packaging/screenshot.py [VIDEO] [OUT]
Uses the classic engine and temporary settings, so it works without a checkpoint or network.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "videos" / "02_cups.mp4"
OUT = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "screenshot.png"


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="s2s-shot-"))
    os.environ["SAM2STUDIO_DATA_DIR"] = str(tmp / "data")
    os.environ["SAM2STUDIO_CACHE_DIR"] = str(tmp / "cache")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    from sam2studio.gui.app import setup_application
    from sam2studio.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    setup_application(app)
    win = MainWindow(engine="classic", check_recovery=False)
    win.resize(1500, 900)
    win.show()

    def pump(seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.005)

    def idle(limit: float = 300) -> None:
        end = time.time() + limit
        while time.time() < end and (win.ctl.busy or win.display_busy):
            pump(0.05)
        pump(0.3)

    win.files.open_path(str(VIDEO), ask=False)
    idle()
    if win.session is None:
        print("could not open", VIDEO, win.errors, file=sys.stderr)
        return 1
    win.editing.on_canvas_click(650, 450, True)  # the middle cup
    idle()
    win.editing.add_object()
    win.editing.on_canvas_click(915, 450, True)  # the right cup
    idle()
    win.editing.rename_object(1, "middle cup")
    win.editing.rename_object(2, "right cup")
    win.editing.recolor_object(1, (40, 200, 255))
    win.editing.recolor_object(2, (140, 255, 60))
    idle()
    win.propagation.both()
    idle()
    win.editing.select_object_index(0)
    win.set_frame(int(os.environ.get("SHOT_FRAME", "30")))
    idle()
    pump(0.5)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(OUT))
    print("wrote", OUT, "errors:", win.errors)
    win.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
