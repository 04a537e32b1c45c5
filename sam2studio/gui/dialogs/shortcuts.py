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
        # nothing is cut off: long descriptions wrap instead of ending in "…"
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.header().setStretchLastSection(False)
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
        # wide enough for the longest description and the longest keys side by side
        fm = self.tree.fontMetrics()
        texts = [(c.text(0), c.text(1)) for c in self._children()]
        need = max((fm.horizontalAdvance(a) for a, _ in texts), default=200) + 40
        keys = max((fm.horizontalAdvance(b) for _, b in texts), default=100) + 40
        self.resize(min(max(620, need + keys + 60), 1100), 680)

    def _children(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i).child(j) for i in range(self.tree.topLevelItemCount())
                for j in range(self.tree.topLevelItem(i).childCount())]

    def rows(self) -> list[tuple[str, str]]:
        return [(c.text(0), c.text(1)) for c in self._children()]
