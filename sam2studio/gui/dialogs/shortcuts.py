"""The keyboard and mouse help window (F1 or ?)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout

MOUSE = [
    ("Left click (click tools)", "Add a positive or negative click for the current object"),
    ("Right click", "Negative click (with the brush: erase)"),
    ("Drag (box tool)", "Draw a box around the current object"),
    ("Drag (brush / eraser)", "Paint or erase the current object's mask on this frame"),
    ("Mouse wheel", "Zoom about the cursor (canvas) or the timeline"),
    ("Middle drag, or hold Space and drag", "Pan the frame"),
    ("Click or drag in the timeline", "Move the playhead"),
    ("Drag the timeline ruler", "Pan the timeline"),
]


def action_rows(menus) -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(menu title, [(action text, shortcut), ...]), ...]`` for actions that have shortcuts."""
    out = []
    for menu in menus:
        rows = []
        for a in menu.actions():
            if a.isSeparator() or a.menu() is not None:
                continue
            keys = [s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts()]
            keys = [k for k in keys if k]
            if keys:
                rows.append((a.text().replace("&", "").rstrip("."), ", ".join(keys)))
        if rows:
            out.append((menu.title().replace("&", ""), rows))
    return out


class ShortcutsDialog(QDialog):
    def __init__(self, menus, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts and mouse")
        lay = QVBoxLayout(self)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Action", "Keys"])
        self.tree.setRootIsDecorated(False)
        self.tree.setIndentation(12)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        sections = action_rows(menus)
        sections.append(("Objects", [("Select object 1 to 9", "1 … 9")]))
        for title, rows in sections:
            head = QTreeWidgetItem([title, ""])
            f = head.font(0)
            f.setBold(True)
            head.setFont(0, f)
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.tree.addTopLevelItem(head)
            for text, keys in rows:
                head.addChild(QTreeWidgetItem([text, keys]))
        head = QTreeWidgetItem(["Mouse", ""])
        f = head.font(0)
        f.setBold(True)
        head.setFont(0, f)
        self.tree.addTopLevelItem(head)
        for gesture, what in MOUSE:
            head.addChild(QTreeWidgetItem([what, gesture]))
        self.tree.expandAll()
        lay.addWidget(self.tree)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.resize(620, 640)

    def rows(self) -> list[tuple[str, str]]:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                c = top.child(j)
                out.append((c.text(0), c.text(1)))
        return out
