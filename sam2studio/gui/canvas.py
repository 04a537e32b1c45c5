"""The canvas: one video frame at full resolution with mask overlays, prompts and edit tools.

Scene units are frame pixels: the frame pixmap sits at (0, 0), so a scene position *is* the
pixel coordinate sent to the engine. The canvas only draws and reports gestures as signals;
the main window turns them into undoable commands.
"""

from __future__ import annotations

import enum

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QBrush, QColor, QCursor, QFont, QImage, QKeyEvent, QPainter, QPainterPath,
                           QPen, QPixmap, QTransform)
from PySide6.QtWidgets import (QGraphicsEllipseItem, QGraphicsItem, QGraphicsPathItem,
                               QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView)

from ..core.overlay import overlay_layer

MIN_ZOOM = 0.02
MAX_ZOOM = 40.0


class Tool(enum.Enum):
    POSITIVE = "positive"
    NEGATIVE = "negative"
    BOX = "box"
    BRUSH = "brush"
    ERASER = "eraser"


def compose_overlay(masks: dict[int, np.ndarray], colors: dict[int, tuple[int, int, int]],
                    opacity: float = 0.5, outline: bool = False, current: int | None = None
                    ) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The canvas look, drawn by :func:`sam2studio.core.overlay.overlay_layer`: straight-alpha
    RGBA of the masks of ``colors``' objects (in id order; later on top), cropped to the
    masks: ``(rgba, (x0, y0))``, or None when nothing is to be drawn.

    Fill mode paints each mask at ``opacity`` with a crisper 2-pixel edge; outline mode paints
    only the edges (3 pixels for the current object).
    """
    layer = overlay_layer(masks, colors, opacity=0.0 if outline else opacity, edge=2,
                          edge_opacity=1.0 if outline else min(1.0, opacity + 110 / 255),
                          current=current, current_edge=3 if outline else None)
    return None if layer is None else (layer.rgba(), layer.origin)


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """Straight RGBA -> a premultiplied ARGB32 QImage (what a QPixmap takes without converting)."""
    a = rgba[..., 3:4].astype(np.uint16)
    bgra = np.empty(rgba.shape, np.uint8)
    bgra[..., 0:3] = ((rgba[..., 2::-1].astype(np.uint16) * a + 127) // 255).astype(np.uint8)
    bgra[..., 3] = rgba[..., 3]
    h, w = rgba.shape[:2]
    return QImage(bgra.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied).copy()


class ClickMarker(QGraphicsItem):
    """A positive (green +) or negative (red -) click; constant size on screen."""

    R = 7.0

    def __init__(self, positive: bool, faded: bool = False) -> None:
        super().__init__()
        self.positive = positive
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(20)
        if faded:
            self.setOpacity(0.5)

    def boundingRect(self) -> QRectF:  # noqa: N802
        r = self.R + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, p: QPainter, option, widget=None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(34, 190, 102) if self.positive else QColor(228, 64, 64)
        p.setPen(QPen(QColor(255, 255, 255), 1.6))
        p.setBrush(fill)
        p.drawEllipse(QPointF(0, 0), self.R, self.R)
        p.setPen(QPen(QColor(255, 255, 255), 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        s = self.R * 0.5
        p.drawLine(QPointF(-s, 0), QPointF(s, 0))
        if self.positive:
            p.drawLine(QPointF(0, -s), QPointF(0, s))


class Canvas(QGraphicsView):
    """Frame view with zoom/pan, overlays, prompt markers and the edit tools."""

    clicked = Signal(float, float, bool)  # x, y, positive
    box_drawn = Signal(float, float, float, float)  # x0, y0, x1, y1
    stroke_drawn = Signal(object, float, bool)  # [(x, y), ...], diameter, erase
    play_toggle_requested = Signal()
    hovered = Signal(int, int)  # pixel under the cursor (-1, -1 outside)
    zoom_changed = Signal(float)
    files_dropped = Signal(list)
    #: +1 / -1: show the next / previous candidate mask of the last click (Tab, Shift+Tab, wheel)
    candidate_step = Signal(int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("canvas")
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.NoDrag)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(12, 15, 20))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.viewport().setMouseTracking(True)
        self.setAcceptDrops(False)  # the main window takes drops

        self._frame_item = QGraphicsPixmapItem()
        self._frame_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._scene.addItem(self._frame_item)
        self._overlay_item = QGraphicsPixmapItem()
        self._overlay_item.setZValue(5)
        self._scene.addItem(self._overlay_item)
        self._cursor_item = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255, 230), 1.5)
        pen.setCosmetic(True)
        self._cursor_item.setPen(pen)
        self._cursor_item.setZValue(30)
        self._cursor_item.hide()
        self._scene.addItem(self._cursor_item)
        self._cursor_shadow = QGraphicsEllipseItem()
        pen = QPen(QColor(0, 0, 0, 160), 3.0)
        pen.setCosmetic(True)
        self._cursor_shadow.setPen(pen)
        self._cursor_shadow.setZValue(29)
        self._cursor_shadow.hide()
        self._scene.addItem(self._cursor_shadow)

        self._markers: list[QGraphicsItem] = []
        self._previews: list[QGraphicsItem] = []
        self._image_size: tuple[int, int] | None = None  # (w, h)
        self.frame_index: int | None = None
        self.overlay_rgba: np.ndarray | None = None  # last composed overlay, cropped (tests read it)
        self.overlay_offset = (0, 0)
        self.tool = Tool.POSITIVE
        self.candidates: tuple[int, int] | None = None  # (shown, how many) for the last click
        self.candidate_notes: list[str] = []  # a note per candidate ("" for most)
        self.candidate_badge = None  # the "Mask 1/3" label, made when first needed
        self.brush_size = 24.0
        self.opacity = 0.5
        self.outline = False
        self.object_color = (77, 163, 255)
        self.empty_text = "Open a video or a project\n(File → Open, or drop it here)"
        self._fit_mode = True
        self._pan_from: QPointF | None = None
        self._space = False
        self._space_used = False
        self._drag_button: Qt.MouseButton | None = None
        self._box_from: QPointF | None = None
        self._box_item: QGraphicsRectItem | None = None
        self._stroke: list[tuple[float, float]] = []
        self._stroke_erase = False
        self._stroke_item: QGraphicsPathItem | None = None
        self._update_cursor()

    # ---- content -------------------------------------------------------------------------
    @property
    def has_image(self) -> bool:
        return self._image_size is not None

    def set_image(self, index: int, image: QImage | None) -> None:
        """Show frame ``index`` (None clears the canvas)."""
        if image is None or image.isNull():
            self._frame_item.setPixmap(QPixmap())
            self._overlay_item.setPixmap(QPixmap())
            self.overlay_rgba = None
            self._image_size = None
            self.frame_index = None
            self.clear_markers()
            self._scene.setSceneRect(QRectF(0, 0, 1, 1))
            self.viewport().update()
            return
        size = (image.width(), image.height())
        first = self._image_size != size
        self._image_size = size
        self.frame_index = index
        self._frame_item.setPixmap(QPixmap.fromImage(image))
        if first:
            self._scene.setSceneRect(QRectF(-0.0, -0.0, size[0], size[1]))
            self._fit_mode = True
            self.fit()

    def set_overlay_image(self, overlay) -> None:
        """Show an overlay rendered elsewhere (an :class:`~sam2studio.gui.overlay_renderer.Overlay`)."""
        if overlay is None or overlay.image is None:
            self.overlay_rgba, self.overlay_offset = None, (0, 0)
            self._overlay_item.setPixmap(QPixmap())
            return
        self.overlay_rgba, self.overlay_offset = overlay.rgba, overlay.offset
        self._overlay_item.setOffset(*overlay.offset)
        self._overlay_item.setPixmap(QPixmap.fromImage(overlay.image))

    def overlay_pixel(self, x: int, y: int) -> np.ndarray:
        """Straight RGBA the overlay draws over frame pixel (x, y) (zeros where nothing is)."""
        rgba = self.overlay_rgba
        if rgba is None:
            return np.zeros(4, np.uint8)
        x0, y0 = self.overlay_offset
        h, w = rgba.shape[:2]
        if 0 <= y - y0 < h and 0 <= x - x0 < w:
            return rgba[int(y) - y0, int(x) - x0]
        return np.zeros(4, np.uint8)

    def set_prompts(self, prompts: list[tuple[int, object, tuple[int, int, int], bool]]) -> None:
        """Markers for ``[(obj, FramePrompt, rgb, is_current), ...]``: clicks and boxes."""
        self.clear_markers()
        for obj, pr, rgb, current in prompts:
            if pr is None:
                continue
            if pr.box is not None:
                x0, y0, x1, y1 = pr.box
                item = QGraphicsRectItem(QRectF(x0, y0, x1 - x0, y1 - y0))
                pen = QPen(QColor(*rgb), 2.0, Qt.PenStyle.DashLine)
                pen.setCosmetic(True)
                item.setPen(pen)
                item.setZValue(15)
                item.setOpacity(1.0 if current else 0.5)
                self._scene.addItem(item)
                self._markers.append(item)
            for (x, y), lab in zip(pr.points, pr.labels):
                m = ClickMarker(bool(lab), faded=not current)
                m.setPos(QPointF(x, y))
                m.setData(0, obj)
                self._scene.addItem(m)
                self._markers.append(m)

    def clear_markers(self) -> None:
        for it in self._markers:
            self._scene.removeItem(it)
        self._markers = []

    def marker_count(self) -> int:
        return len(self._markers)

    def clear_previews(self) -> None:
        for it in self._previews:
            self._scene.removeItem(it)
        self._previews = []

    # ---- tool state ------------------------------------------------------------------------
    def set_tool(self, tool: Tool) -> None:
        self.tool = Tool(tool)
        self._update_cursor()

    def set_brush_size(self, size: float) -> None:
        self.brush_size = float(max(1.0, min(400.0, size)))
        self._update_brush_cursor(self._last_scene_pos() if self.underMouse() else None)

    def set_object_color(self, rgb: tuple[int, int, int]) -> None:
        self.object_color = tuple(rgb)

    def _update_cursor(self) -> None:
        if self._space or self._pan_from is not None:
            shape = Qt.CursorShape.ClosedHandCursor if self._pan_from is not None else Qt.CursorShape.OpenHandCursor
        else:
            shape = Qt.CursorShape.CrossCursor
        self.viewport().setCursor(QCursor(shape))
        brush = self.tool in (Tool.BRUSH, Tool.ERASER)
        if not brush:
            self._cursor_item.hide()
            self._cursor_shadow.hide()

    def _update_brush_cursor(self, pos: QPointF | None) -> None:
        if pos is None or self.tool not in (Tool.BRUSH, Tool.ERASER) or not self.has_image or self._space:
            self._cursor_item.hide()
            self._cursor_shadow.hide()
            return
        r = self.brush_size / 2
        rect = QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r)
        self._cursor_item.setRect(rect)
        self._cursor_shadow.setRect(rect)
        self._cursor_item.show()
        self._cursor_shadow.show()

    def _last_scene_pos(self) -> QPointF:
        return self.mapToScene(self.viewport().mapFromGlobal(QCursor.pos()))

    # ---- zoom --------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        self._fit_mode = True
        if self._image_size is None:
            return
        self.fitInView(self._scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def zoom_100(self) -> None:
        self._fit_mode = False
        self.setTransform(QTransform())
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float, anchor_view: QPointF | None = None) -> None:
        z = self.zoom
        factor = max(MIN_ZOOM / z, min(MAX_ZOOM / z, factor))
        if abs(factor - 1.0) < 1e-6:
            return
        self._fit_mode = False
        if anchor_view is not None:
            before = self.mapToScene(anchor_view.toPoint())
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
            self.scale(factor, factor)
            after = self.mapToScene(anchor_view.toPoint())
            d = after - before
            self.translate(d.x(), d.y())
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        else:
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
            self.scale(factor, factor)
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.zoom_changed.emit(self.zoom)

    # ---- candidate masks of the last click ---------------------------------------------------
    def set_candidates(self, index: int | None, count: int = 0, notes: list[str] | None = None) -> None:
        """Show "index+1/count" while the last click offers ``count`` candidate masks (Tab or
        the wheel with a click tool cycles them), with the shown one's note from ``notes``
        (kept from the last call that gave them while ``count`` stays the same); None hides it."""
        state = None if index is None or count < 2 else (int(index), int(count))
        if notes is not None or state is None or len(self.candidate_notes) != count:
            self.candidate_notes = list(notes or [])
        if state != self.candidates or notes is not None:
            self.candidates = state
            if self.candidate_badge is None:
                from PySide6.QtWidgets import QLabel

                self.candidate_badge = QLabel(self.viewport())
                self.candidate_badge.setObjectName("candidateBadge")
                self.candidate_badge.setStyleSheet(
                    "QLabel#candidateBadge { background: rgba(13, 17, 23, 215); color: #e6edf3; "
                    "border-radius: 6px; padding: 4px 10px; }")
                self.candidate_badge.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            self.candidate_badge.setText(self.candidate_text)
            self.candidate_badge.adjustSize()
            self.candidate_badge.move(10, 10)
            self.candidate_badge.setVisible(state is not None)

    @property
    def candidate_text(self) -> str:
        if self.candidates is None:
            return ""
        k, n = self.candidates
        note = self.candidate_notes[k] if k < len(self.candidate_notes) else ""
        if note:
            return f"Mask {k + 1}/{n}: {note}  ·  Tab or wheel: other masks"
        return f"Mask {k + 1}/{n}  ·  Tab or wheel: other masks for this click or box"

    def _cycling(self) -> bool:
        """Tab and the wheel go through the masks of the last click or box."""
        return self.candidates is not None and self.tool in (Tool.POSITIVE, Tool.NEGATIVE, Tool.BOX)

    def wheelEvent(self, e) -> None:  # noqa: N802
        dy = e.angleDelta().y() or e.angleDelta().x()
        if dy == 0 or not self.has_image:
            return
        if self._cycling() and not e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self._wheel_acc = getattr(self, "_wheel_acc", 0) + dy  # one step per notch (120)
            if abs(self._wheel_acc) >= 120:
                self.candidate_step.emit(-1 if self._wheel_acc > 0 else 1)
                self._wheel_acc = 0
            e.accept()
            return
        self.zoom_by(1.0015 ** dy, e.position())
        e.accept()

    def resizeEvent(self, e) -> None:  # noqa: N802
        super().resizeEvent(e)
        if self._fit_mode:
            self.fit()

    # ---- mouse -------------------------------------------------------------------------------
    def _inside(self, p: QPointF) -> bool:
        if self._image_size is None:
            return False
        w, h = self._image_size
        return 0 <= p.x() < w and 0 <= p.y() < h

    def _clamp(self, p: QPointF) -> QPointF:
        w, h = self._image_size or (1, 1)
        return QPointF(min(max(p.x(), 0.0), w - 0.01), min(max(p.y(), 0.0), h - 0.01))

    def mousePressEvent(self, e) -> None:  # noqa: N802
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        btn = e.button()
        if btn == Qt.MouseButton.MiddleButton or (btn == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = e.position()
            self._space_used = True
            self._drag_button = btn
            self._update_cursor()
            e.accept()
            return
        if not self.has_image or btn not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return super().mousePressEvent(e)
        sp = self.mapToScene(e.position().toPoint())
        right = btn == Qt.MouseButton.RightButton
        self._drag_button = btn
        if self.tool in (Tool.POSITIVE, Tool.NEGATIVE) or (self.tool == Tool.BOX and right):
            if self._inside(sp):
                positive = self.tool == Tool.POSITIVE and not right
                self.clicked.emit(float(sp.x()), float(sp.y()), positive)
            self._drag_button = None
        elif self.tool == Tool.BOX:
            self._box_from = self._clamp(sp)
            self._box_item = QGraphicsRectItem(QRectF(self._box_from, self._box_from))
            pen = QPen(QColor(*self.object_color), 2.0, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            self._box_item.setPen(pen)
            self._box_item.setBrush(QBrush(QColor(*self.object_color, 40)))
            self._box_item.setZValue(25)
            self._scene.addItem(self._box_item)
        elif self.tool in (Tool.BRUSH, Tool.ERASER):
            self._stroke_erase = self.tool == Tool.ERASER or right
            self._stroke = [(float(sp.x()), float(sp.y()))]
            item = QGraphicsPathItem()
            color = QColor(20, 20, 24, 170) if self._stroke_erase else QColor(*self.object_color, 150)
            item.setPen(QPen(color, self.brush_size, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                             Qt.PenJoinStyle.RoundJoin))
            item.setZValue(12)
            self._stroke_item = item
            self._scene.addItem(item)
            self._update_stroke_path()
        e.accept()

    def mouseMoveEvent(self, e) -> None:  # noqa: N802
        sp = self.mapToScene(e.position().toPoint())
        if self._pan_from is not None:
            d = e.position() - self._pan_from
            self._pan_from = e.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(round(d.x())))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(round(d.y())))
            e.accept()
            return
        self._update_brush_cursor(sp)
        if self._inside(sp):
            self.hovered.emit(int(sp.x()), int(sp.y()))
        else:
            self.hovered.emit(-1, -1)
        if self._box_item is not None and self._box_from is not None:
            self._box_item.setRect(QRectF(self._box_from, self._clamp(sp)).normalized())
        elif self._stroke_item is not None:
            x, y = float(sp.x()), float(sp.y())
            if not self._stroke or (x, y) != self._stroke[-1]:
                self._stroke.append((x, y))
                self._update_stroke_path()
        e.accept()

    def mouseReleaseEvent(self, e) -> None:  # noqa: N802
        if self._pan_from is not None and e.button() == self._drag_button:
            self._pan_from = None
            self._drag_button = None
            self._update_cursor()
            e.accept()
            return
        if e.button() != self._drag_button:
            return super().mouseReleaseEvent(e)
        self._drag_button = None
        if self._box_item is not None:
            r = self._box_item.rect().normalized()
            self._scene.removeItem(self._box_item)
            self._box_item = None
            self._box_from = None
            if r.width() >= 2 and r.height() >= 2:
                self.box_drawn.emit(r.left(), r.top(), r.right(), r.bottom())
        elif self._stroke_item is not None:
            item, self._stroke_item = self._stroke_item, None
            self._previews.append(item)  # stays until the new mask arrives
            pts, self._stroke = self._stroke, []
            self.stroke_drawn.emit(pts, self.brush_size, self._stroke_erase)
        e.accept()

    def _update_stroke_path(self) -> None:
        path = QPainterPath()
        (x0, y0) = self._stroke[0]
        path.moveTo(x0, y0)
        if len(self._stroke) == 1:
            path.lineTo(x0 + 0.01, y0)
        for x, y in self._stroke[1:]:
            path.lineTo(x, y)
        self._stroke_item.setPath(path)

    def leaveEvent(self, e) -> None:  # noqa: N802
        self._cursor_item.hide()
        self._cursor_shadow.hide()
        self.hovered.emit(-1, -1)
        super().leaveEvent(e)

    # ---- keyboard: space = play/pause, or hold space and drag to pan ---------------------
    def event(self, e) -> bool:
        if e.type() == QEvent.Type.ShortcutOverride and isinstance(e, QKeyEvent) \
                and e.key() == Qt.Key.Key_Space and e.modifiers() == Qt.KeyboardModifier.NoModifier:
            e.accept()
            return True
        if e.type() == QEvent.Type.KeyPress and isinstance(e, QKeyEvent) and self._cycling() \
                and e.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            # Tab cycles the click's candidate masks instead of moving the focus
            back = e.key() == Qt.Key.Key_Backtab or e.modifiers() & Qt.KeyboardModifier.ShiftModifier
            self.candidate_step.emit(-1 if back else 1)
            e.accept()
            return True
        return super().event(e)

    def keyPressEvent(self, e) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_Space and e.modifiers() == Qt.KeyboardModifier.NoModifier:
            if not e.isAutoRepeat():
                self._space = True
                self._space_used = False
                self._update_cursor()
                self._update_brush_cursor(None)
            e.accept()
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_Space:
            if not e.isAutoRepeat():
                self._space = False
                if not self._space_used:
                    self.play_toggle_requested.emit()
                self._update_cursor()
            e.accept()
            return
        super().keyReleaseEvent(e)

    def focusOutEvent(self, e) -> None:  # noqa: N802
        self._space = False
        self._update_cursor()
        super().focusOutEvent(e)

    # ---- empty state ---------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802
        if self.has_image:
            return
        painter.save()
        painter.resetTransform()
        vr = self.viewport().rect()
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() * 1.5)
        painter.setFont(f)
        painter.setPen(QColor(125, 136, 152))
        painter.drawText(vr, Qt.AlignmentFlag.AlignCenter, self.empty_text)
        painter.restore()

    # ---- coordinates (tests and tools) ----------------------------------------------------------
    def view_pos(self, x: float, y: float):
        """Viewport position (QPoint) of frame pixel ``(x, y)``."""
        return self.mapFromScene(QPointF(x, y))
