"""The timeline (pyqtgraph): a frame ruler with a playhead, one lane per object, transport.

Each lane shows where its object is present (its colour), frames computed with the object
absent (dark grey), frames made stale by a later correction (dimmed, with an amber band on
top), frames the quality check flagged (a white band at the bottom), frames whose stored mask
was damaged in the project file (red, until they are re-run) and its keyframes (diamonds:
frames with a user prompt). Click or drag in the lanes to
scrub, drag the playhead, wheel to zoom, drag the ruler to pan.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSpinBox, QToolButton, QVBoxLayout, QWidget

from .controller import ABSENT_STATE, PRESENT  # lane states, computed on the controller thread

LANE_ROWS = 10  # image rows per lane: 1 gap, 2 stale band, 5 presence, 2 quality flags
BG = np.array([22, 27, 34, 255], np.uint8)
BG_CURRENT = np.array([32, 40, 52, 255], np.uint8)
ABSENT = np.array([50, 58, 70, 255], np.uint8)
STALE_BAND = np.array([255, 179, 71, 255], np.uint8)
FLAG = np.array([255, 255, 255, 255], np.uint8)  # white: stands out on every object colour
DAMAGED = np.array([230, 40, 50, 255], np.uint8)  # red: the stored mask was damaged (no mask shown)
GAP = np.array([16, 20, 26, 255], np.uint8)


def timecode(seconds: float) -> str:
    seconds = max(0.0, seconds)
    m, s = divmod(seconds, 60.0)
    if m >= 60:
        h, m = divmod(int(m), 60)
        return f"{h:d}:{int(m):02d}:{s:05.2f}"
    return f"{int(m):02d}:{s:05.2f}"


def render_lanes(lanes: list[dict], num_frames: int) -> np.ndarray:
    """RGBA image (rows, num_frames, 4), row-major, for ``lanes`` of
    ``{"color", "states", "stale", "current", "visible", "flagged", "damaged"}``."""
    n = max(1, num_frames)
    img = np.empty((max(1, len(lanes)) * LANE_ROWS, n, 4), np.uint8)
    img[:] = BG
    for i, lane in enumerate(lanes):
        top = i * LANE_ROWS
        bg = BG_CURRENT if lane.get("current") else BG
        img[top:top + LANE_ROWS] = bg
        img[top] = GAP
        color = np.array([*lane["color"], 255], np.uint8)
        if not lane.get("visible", True):
            color = (color.astype(np.int32) * 2 // 5 + ABSENT.astype(np.int32) * 3 // 5).astype(np.uint8)
            color[3] = 255
        dim = (color.astype(np.int32) * 45 // 100 + BG.astype(np.int32) * 55 // 100).astype(np.uint8)
        dim[3] = 255
        states = lane["states"][:n]
        stale = np.zeros(n, bool)
        sf = [f for f in lane.get("stale", ()) if 0 <= f < n]
        if sf:
            stale[np.asarray(sf)] = True
        body = slice(top + 3, top + LANE_ROWS)
        cols_absent = states == ABSENT_STATE
        cols_present = states == PRESENT
        img[body, cols_absent] = ABSENT
        img[body, cols_present & ~stale] = color
        img[body, cols_present & stale] = dim
        img[body, cols_absent & stale] = (ABSENT.astype(np.int32) * 7 // 10).astype(np.uint8)
        img[top + 1:top + 3, stale] = STALE_BAND
        ff = [f for f in lane.get("flagged", ()) if 0 <= f < n]
        if ff:
            cols = np.asarray(ff)
            img[top + LANE_ROWS - 3, cols] = GAP
            img[top + LANE_ROWS - 2:top + LANE_ROWS, cols] = FLAG
        df = [f for f in lane.get("damaged", ()) if 0 <= f < n]
        if df:
            img[top + 1:top + LANE_ROWS, np.asarray(df)] = DAMAGED
    return img


class _LaneView(pg.ViewBox):
    """Left click or drag scrubs; wheel zooms x; ruler drag and middle drag pan."""

    scrubbed = Signal(float)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.scrubbed.emit(self.mapSceneToView(ev.scenePos()).x())
        else:
            ev.ignore()

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        if axis is None and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.scrubbed.emit(self.mapSceneToView(ev.scenePos()).x())
            return
        if ev.button() == Qt.MouseButton.RightButton:
            ev.ignore()
            return
        super().mouseDragEvent(ev, axis=0 if axis is None else axis)


class Timeline(QWidget):
    """Ruler, playhead and object lanes, with the transport row under them."""

    frame_requested = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.num_frames = 0
        self.fps = 30.0
        self.frame = 0
        self.lane_ids: list[int] = []
        self._image = np.zeros((LANE_ROWS, 1, 4), np.uint8)

        self.view = _LaneView(enableMenu=False)
        self.view.setMouseEnabled(x=True, y=False)
        self.view.invertY(True)
        self.view.setBackgroundColor(QColor(18, 22, 28))
        self.view.scrubbed.connect(self._on_scrub)
        self.plot = pg.PlotWidget(viewBox=self.view, background=QColor(18, 22, 28))
        self.plot.setObjectName("timelinePlot")
        pi = self.plot.getPlotItem()
        pi.hideButtons()
        pi.setMenuEnabled(False)
        pi.showAxis("top")
        pi.hideAxis("bottom")
        for name in ("top", "left"):
            ax = pi.getAxis(name)
            ax.setTextPen(pg.mkPen("#9aa4b2"))
            ax.setPen(pg.mkPen("#3a4556"))
        pi.getAxis("left").setWidth(110)
        pi.getAxis("top").setHeight(26)
        pi.getAxis("top").setStyle(tickTextOffset=4)
        self.plot.setToolTip("Click or drag in the lanes to move the playhead; wheel to zoom; drag the ruler to pan.\n"
                             "Colour: object present · grey: absent · amber band: stale (re-run from the correction) · "
                             "red: mask damaged in the file (re-run it) · ◆ keyframe (your prompt)")

        self.lanes_item = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.lanes_item)
        self.keys_item = pg.ScatterPlotItem(symbol="d", size=11, pxMode=True)
        self.keys_item.setZValue(10)
        self.plot.addItem(self.keys_item)
        self.range_item = pg.LinearRegionItem(values=(0, 1), movable=False,
                                              brush=pg.mkBrush(77, 163, 255, 28),
                                              pen=pg.mkPen(77, 163, 255, 140))
        self.range_item.setZValue(5)
        self.range_item.hide()
        self.plot.addItem(self.range_item)
        self.playhead = pg.InfiniteLine(pos=0.5, angle=90, movable=True,
                                        pen=pg.mkPen("#4da3ff", width=2),
                                        hoverPen=pg.mkPen("#9fd0ff", width=3),
                                        markers=[("v", 0.0, 12)])
        self.playhead.setZValue(20)
        self.hint = pg.TextItem("Click an object on the frame: its lane appears here", color="#6b7585",
                                anchor=(0.5, 0.5))
        self.hint.setZValue(15)
        self.plot.addItem(self.hint)
        self.playhead.sigDragged.connect(self._on_playhead_dragged)
        self.plot.addItem(self.playhead)

        # transport row
        self.transport = QFrame()
        self.transport.setObjectName("transport")
        row = QHBoxLayout(self.transport)
        row.setContentsMargins(6, 3, 6, 3)
        row.setSpacing(2)
        self._buttons_row = QHBoxLayout()
        self._buttons_row.setSpacing(1)
        row.addLayout(self._buttons_row)
        row.addSpacing(10)
        row.addWidget(QLabel("Frame"))
        self.frame_box = QSpinBox()
        self.frame_box.setRange(0, 0)
        self.frame_box.setKeyboardTracking(False)
        self.frame_box.setToolTip("Current frame (type a number and press Enter to jump)")
        self.frame_box.setMinimumWidth(80)
        self.frame_box.valueChanged.connect(self._on_spin)
        row.addWidget(self.frame_box)
        self.count_label = QLabel("/ 0")
        row.addWidget(self.count_label)
        self.time_label = QLabel("00:00.00 / 00:00.00")
        self.time_label.setObjectName("timecode")
        row.addWidget(self.time_label)
        row.addStretch(1)
        self.legend = QLabel('<span style="color:#ffd24d">◆</span> keyframe &nbsp; '
                             '<span style="color:#ffb347">▬</span> stale &nbsp; '
                             '<span style="color:#ffffff">▬</span> flagged &nbsp; '
                             '<span style="color:#e62832">▮</span> damaged')
        self.legend.setObjectName("hint")
        self.legend.setToolTip("Keyframes are frames with your prompts; stale frames were computed before a later "
                               "correction (Propagate from Here re-runs them); flagged frames failed the quality "
                               "check (N jumps to the next one); damaged frames lost their mask in the project "
                               "file (Track → Re-run Damaged Frames makes them again)")
        row.addWidget(self.legend)
        self.fit_button = QToolButton()
        self.fit_button.setText("Fit")
        self.fit_button.setToolTip("Show the whole video in the timeline")
        self.fit_button.clicked.connect(self.fit_all)
        row.addWidget(self.fit_button)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.transport)
        self.set_video(0, 30.0)

    # ---- setup -------------------------------------------------------------------------------
    def add_transport_actions(self, actions) -> None:
        for a in actions:
            if a is None:
                self._buttons_row.addSpacing(8)
                continue
            b = QToolButton()
            b.setDefaultAction(a)
            b.setAutoRaise(True)
            self._buttons_row.addWidget(b)

    def set_video(self, num_frames: int, fps: float) -> None:
        self.num_frames = int(num_frames)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        n = max(1, self.num_frames)
        self.frame_box.blockSignals(True)
        self.frame_box.setRange(0, max(0, self.num_frames - 1))
        self.frame_box.blockSignals(False)
        self.count_label.setText(f"/ {max(0, self.num_frames - 1)}")
        self.playhead.setBounds((0.5, n - 0.5))
        pad = self._pad()
        self.view.setLimits(xMin=-pad, xMax=n + pad, minXRange=min(n, 8), yMin=0, maxYRange=1e9)
        self.set_lanes([], None, {}, {}, {}, {})
        self.clear_range()
        self.fit_all()
        self.set_frame(0)

    def _pad(self) -> float:
        """Room beside the first and last frame so their keyframe marks show whole."""
        return max(0.6, 0.006 * max(1, self.num_frames))

    def fit_all(self) -> None:
        pad = self._pad()
        self.view.setXRange(-pad, max(1, self.num_frames) + pad, padding=0)

    # ---- state -------------------------------------------------------------------------------
    def set_frame(self, frame: int) -> None:
        self.frame = int(frame)
        self.playhead.blockSignals(True)
        self.playhead.setValue(self.frame + 0.5)
        self.playhead.blockSignals(False)
        self.frame_box.blockSignals(True)
        self.frame_box.setValue(self.frame)
        self.frame_box.blockSignals(False)
        t = self.frame / self.fps
        total = self.num_frames / self.fps
        self.time_label.setText(f"{timecode(t)} / {timecode(total)}")
        lo, hi = self.view.viewRange()[0]
        if self.num_frames and not (lo <= self.frame + 0.5 <= hi):
            width = hi - lo
            start = min(max(0.0, self.frame - width * 0.1), max(0.0, self.num_frames - width))
            self.view.setXRange(start, start + width, padding=0)

    def set_lanes(self, objects: list, current: int | None, states: dict, keyframes: dict,
                  stale: dict, names: dict | None = None, flagged: dict | None = None,
                  damaged: dict | None = None) -> None:
        """Redraw the lanes of ``objects`` (TrackedObjects, top to bottom)."""
        n = max(1, self.num_frames)
        self.lane_ids = [o.id for o in objects]
        lanes = []
        spots = []
        keysig = []
        for i, o in enumerate(objects):
            st = states.get(o.id)
            if st is None or len(st) != n:
                st = np.zeros(n, np.uint8)
            lanes.append({"color": o.color, "states": st, "stale": stale.get(o.id, ()),
                          "current": o.id == current, "visible": o.visible,
                          "flagged": (flagged or {}).get(o.id, ()), "damaged": (damaged or {}).get(o.id, ())})
            for f in keyframes.get(o.id, ()):
                keysig.append((f, i, tuple(o.color)))
                spots.append({"pos": (f + 0.5, i + 0.6), "brush": pg.mkBrush("#ffd24d"),
                              "pen": pg.mkPen(QColor(*o.color).darker(200), width=1.2)})
        self.hint.setVisible(not objects and self.num_frames > 0)
        self.hint.setPos(n / 2, 0.5)
        self._image = render_lanes(lanes, n)
        self.lanes_item.setImage(self._image, autoLevels=False)
        rows = max(1, len(objects))
        self.lanes_item.setRect(QRectF(0, 0, n, rows))
        keys = tuple(keysig)
        if keys != getattr(self, "_keys", None):
            self._keys = keys
            self.keys_item.setData(spots)
        ticks = [(i + 0.55, f"{i + 1}  {o.name[:14]}") for i, o in enumerate(objects)]
        if (rows, ticks) != getattr(self, "_layout", None):
            self._layout = (rows, ticks)
            self.view.setLimits(yMin=0, yMax=rows)
            self.view.setYRange(0, rows, padding=0)
            self.plot.getPlotItem().getAxis("left").setTicks([ticks, []])
            self.setMinimumHeight(26 + 36 + 22 * max(2, min(rows, 6)))

    @property
    def lane_image(self) -> np.ndarray:
        """The last rendered lane image (rows, frames, RGBA): tests read it."""
        return self._image

    def lane_pixels(self, lane: int, frame: int) -> np.ndarray:
        """RGBA of the presence part of ``lane`` at ``frame``."""
        return self._image[lane * LANE_ROWS + 5, frame]

    def set_range(self, lo: int, hi: int) -> None:
        self.range_item.setRegion((lo, hi + 1))
        self.range_item.show()

    def clear_range(self) -> None:
        self.range_item.hide()

    # ---- input -------------------------------------------------------------------------------
    def _to_frame(self, x: float) -> int:
        return int(min(max(np.floor(x), 0), max(0, self.num_frames - 1)))

    def _on_scrub(self, x: float) -> None:
        if self.num_frames:
            self.frame_requested.emit(self._to_frame(x))

    def _on_playhead_dragged(self) -> None:
        if self.num_frames:
            f = self._to_frame(self.playhead.value())
            if f != self.frame:
                self.frame_requested.emit(f)

    def _on_spin(self, value: int) -> None:
        if value != self.frame:
            self.frame_requested.emit(int(value))

    def view_pos_of_frame(self, frame: int, lane: int = 0):
        """Widget position (QPoint in ``self.plot``) of ``frame`` in ``lane`` (for tests)."""
        from PySide6.QtCore import QPointF

        sp = self.view.mapViewToScene(QPointF(frame + 0.5, lane + 0.5))
        return self.plot.mapFromScene(sp)
