"""The object panel: one row per tracked object (swatch, name, visibility, lock, delete) and,
below the list, the current object's class: an editable combo of the project's classes."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .resources import icon


class ObjectRow(QWidget):
    """One object's row; reports edits to the panel."""

    def __init__(self, panel: ObjectPanel, obj) -> None:
        super().__init__()
        self.panel = panel
        self.obj_id = obj.id
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 4, 4)
        lay.setSpacing(4)
        self.number = QLabel()
        self.number.setFixedWidth(14)
        self.number.setObjectName("hint")
        lay.addWidget(self.number)
        self.swatch = QToolButton()
        self.swatch.setFixedSize(22, 22)
        self.swatch.setToolTip("Change this object's colour")
        self.swatch.clicked.connect(lambda: panel._pick_color(self.obj_id))
        lay.addWidget(self.swatch)
        self.name = QLineEdit()
        self.name.setToolTip("Object name (edit and press Enter)")
        self.name.setFrame(False)
        self.name.editingFinished.connect(self._renamed)
        self.name.installEventFilter(panel)
        lay.addWidget(self.name, 1)
        self.visible = QToolButton()
        self.visible.setCheckable(True)
        self.visible.setAutoRaise(True)
        self.visible.setToolTip("Show or hide this object's mask")
        self.visible.toggled.connect(self._vis_toggled)
        lay.addWidget(self.visible)
        self.lock = QToolButton()
        self.lock.setCheckable(True)
        self.lock.setAutoRaise(True)
        self.lock.setToolTip("Lock: a locked object ignores clicks, boxes and strokes")
        self.lock.toggled.connect(self._lock_toggled)
        lay.addWidget(self.lock)
        self.delete = QToolButton()
        self.delete.setIcon(icon("trash"))
        self.delete.setAutoRaise(True)
        self.delete.setToolTip("Delete this object and its masks (undo brings it back)")
        self.delete.clicked.connect(lambda: panel.delete_requested.emit(self.obj_id))
        lay.addWidget(self.delete)
        self.update_from(obj, 0)

    def update_from(self, obj, index: int) -> None:
        category = getattr(obj, "category", "")
        key = (obj.name, category, tuple(obj.color), obj.visible, obj.locked, index)
        if key == getattr(self, "_key", None):
            return
        self._key = key
        self.number.setText(str(index + 1) if index < 9 else "")
        r, g, b = obj.color
        self.swatch.setStyleSheet(
            f"QToolButton {{ background: rgb({r},{g},{b}); border: 2px solid #0d1117; border-radius: 11px; }}"
            f"QToolButton:hover {{ border-color: #ffffff; }}")
        if not self.name.hasFocus() and self.name.text() != obj.name:
            self.name.setText(obj.name)
        self.name.setToolTip(f"Object name (edit and press Enter); class: {category or 'none'}")
        for button, state, on, off in ((self.visible, obj.visible, "eye", "eye_off"),
                                       (self.lock, obj.locked, "lock", "unlock")):
            button.blockSignals(True)
            button.setChecked(bool(state))
            button.setIcon(icon(on if state else off))
            button.blockSignals(False)

    def _renamed(self) -> None:
        text = self.name.text().strip()
        if text:
            self.panel._renamed(self.obj_id, text)
        self.name.clearFocus()

    def _vis_toggled(self, on: bool) -> None:
        self.visible.setIcon(icon("eye" if on else "eye_off"))
        self.panel.visibility_toggled.emit(self.obj_id, on)

    def _lock_toggled(self, on: bool) -> None:
        self.lock.setIcon(icon("lock" if on else "unlock"))
        self.panel.lock_toggled.emit(self.obj_id, on)


class ObjectPanel(QWidget):
    """List of objects; the current one is highlighted and receives the edits."""

    current_changed = Signal(int)
    add_requested = Signal()
    rename_requested = Signal(int, str)
    color_requested = Signal(int, tuple)
    visibility_toggled = Signal(int, bool)
    lock_toggled = Signal(int, bool)
    delete_requested = Signal(int)
    category_requested = Signal(int, str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("objectPanel")
        self._objects: dict[int, object] = {}
        self._rows: dict[int, ObjectRow] = {}
        self._items: dict[int, QListWidgetItem] = {}
        self._names: dict[int, str] = {}
        self.current: int | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(6)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.currentItemChanged.connect(self._on_current_item)
        self.list.setToolTip("Objects: 1-9 select, the highlighted one receives clicks and strokes")
        lay.addWidget(self.list, 1)
        self.empty = QLabel("No objects yet.\nClick on the frame to start one,\nor press “Add object”.")
        self.empty.setObjectName("hint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay.addWidget(self.empty)
        crow = QHBoxLayout()
        crow.setSpacing(6)
        self.category_label = QLabel("Class")
        crow.addWidget(self.category_label)
        self.category = QComboBox()
        self.category.setEditable(True)
        self.category.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.category.lineEdit().setPlaceholderText("none")
        self.category.setToolTip("The highlighted object's class (e.g. person): pick one of the project's "
                                 "classes or type a new one and press Enter; exports with classes use it")
        self.category.lineEdit().editingFinished.connect(self._category_edited)
        self.category.activated.connect(lambda _i: self._category_edited())
        crow.addWidget(self.category, 1)
        lay.addLayout(crow)
        self._classes: list[str] = []
        self.add_button = QPushButton(icon("add"), "  Add object")
        self.add_button.setToolTip("Add a new object on any frame (A)")
        self.add_button.clicked.connect(self.add_requested.emit)
        lay.addWidget(self.add_button)
        self.color_dialog: QColorDialog | None = None

    # ---- model -------------------------------------------------------------------------------
    def set_objects(self, objects: list, current: int | None, classes: list[str] | None = None) -> None:
        """Show ``objects`` (TrackedObject copies, in order) and highlight ``current``;
        ``classes`` are the project's class names for the class combo (default: the objects')."""
        ids = [o.id for o in objects]
        if ids != list(self._rows):
            self.list.blockSignals(True)
            self.list.clear()
            self._rows.clear()
            self._items.clear()
            for o in objects:
                item = QListWidgetItem()
                row = ObjectRow(self, o)
                item.setSizeHint(QSize(200, 36))
                item.setData(Qt.ItemDataRole.UserRole, o.id)
                self.list.addItem(item)
                self.list.setItemWidget(item, row)
                self._rows[o.id] = row
                self._items[o.id] = item
            self.list.blockSignals(False)
        self._objects = {o.id: o for o in objects}
        for i, o in enumerate(objects):
            self._rows[o.id].update_from(o, i)
        self.empty.setVisible(not objects)
        if classes is None:
            classes = sorted({o.category for o in objects if getattr(o, "category", "")})
        self._classes = list(classes)
        self.set_current(current)

    def set_current(self, obj_id: int | None) -> None:
        self.current = obj_id if obj_id in self._items else None
        self.list.blockSignals(True)
        if self.current is None:
            self.list.setCurrentItem(None)
            self.list.clearSelection()
        else:
            self.list.setCurrentItem(self._items[self.current])
        self.list.blockSignals(False)
        self._show_category()

    def _show_category(self) -> None:
        """Fill the class combo with the classes and the current object's class."""
        obj = self._objects.get(self.current) if self.current is not None else None
        if self.category.lineEdit().hasFocus() and obj is not None:
            return  # the user is typing
        self.category.blockSignals(True)
        self.category.clear()
        self.category.addItems(self._classes)
        self.category.setEditText("" if obj is None else getattr(obj, "category", ""))
        self.category.setEnabled(obj is not None)
        self.category_label.setEnabled(obj is not None)
        self.category.blockSignals(False)

    def _category_edited(self) -> None:
        obj = self._objects.get(self.current) if self.current is not None else None
        if obj is None:
            return
        text = " ".join(self.category.currentText().split())
        if text != getattr(obj, "category", ""):
            self.category_requested.emit(obj.id, text)

    def ids(self) -> list[int]:
        return list(self._rows)

    def row(self, obj_id: int) -> ObjectRow:
        return self._rows[obj_id]

    # ---- events --------------------------------------------------------------------------------
    def _on_current_item(self, item, _prev) -> None:
        if item is None:
            return
        oid = item.data(Qt.ItemDataRole.UserRole)
        self.current = oid
        self._show_category()
        self.current_changed.emit(oid)

    def _renamed(self, obj_id: int, name: str) -> None:
        o = self._objects.get(obj_id)
        if o is not None and o.name != name:
            self.rename_requested.emit(obj_id, name)

    def _pick_color(self, obj_id: int) -> None:
        o = self._objects.get(obj_id)
        if o is None:
            return
        self.select(obj_id)
        dlg = QColorDialog(QColor(*o.color), self)
        dlg.setWindowTitle(f"Colour of {o.name}")
        dlg.colorSelected.connect(lambda c: self.color_requested.emit(obj_id, (c.red(), c.green(), c.blue())))
        self.color_dialog = dlg
        dlg.open()

    def select(self, obj_id: int) -> None:
        if obj_id in self._items and obj_id != self.current:
            self.list.setCurrentItem(self._items[obj_id])

    def eventFilter(self, obj, e) -> bool:  # noqa: N802
        # clicking into a name field also makes its object the current one
        if e.type() == e.Type.FocusIn:
            for oid, row in self._rows.items():
                if row.name is obj:
                    self.select(oid)
                    break
        return False
