"""Make docs/screenshot.png: the real window with 02_cups.mp4, a multi-object project mid-correction.

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
    # a multi-object project mid-correction: four objects clicked on frame 0, tracked over the
    # first half, the ball marked absent once a cup covers it, a correction on the middle cup
    # (its later frames stale), the quality check's flags, and the Track button's summary
    last = int(os.environ.get("SHOT_LAST", "150"))
    for i, (x, y, name, rgb) in enumerate(((400, 462, "ball", (255, 214, 10)),
                                           (650, 440, "middle cup", (40, 200, 255)),
                                           (915, 440, "right cup", (140, 255, 60)),
                                           (340, 110, "left cup", (255, 80, 200)))):
        if i:
            win.editing.add_object()
            idle()
        win.editing.on_canvas_click(x, y, True)
        idle()
        win.editing.rename_object(i + 1, name)
        win.editing.recolor_object(i + 1, rgb)
        idle()
    win.propagation.range = (0, last)
    win.timeline.set_range(0, last)
    win.propagation.both()
    idle()
    win.editing.set_current_object(1)
    win.set_frame(34)
    idle()
    win.editing.absent_here()  # the ball is under the left cup from here
    idle()
    win.review.check_quality()
    idle()
    win.editing.set_current_object(2)
    win.set_frame(int(os.environ.get("SHOT_FRAME", "96")))
    idle()
    win.editing.on_canvas_click(650, 470, True)  # correcting the middle cup here
    idle()
    win.status(win.propagation.last_message or "", 0)
    pump(0.5)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(OUT))
    print("wrote", OUT, "errors:", win.errors)
    win.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
