"""The crash-recovery dialog: offers the autosaves of windows that did not close cleanly."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QVBoxLayout)

from ..autosave import AutosaveEntry


class RecoveryDialog(QDialog):
    """Recover / Discard / Not now; ``choice`` and ``entry`` tell what was picked."""

    def __init__(self, entries: list[AutosaveEntry], parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("recoveryDialog")
        self.setWindowTitle("Recover unsaved work")
        self.entries = entries
        self.choice = "later"
        self.entry: AutosaveEntry | None = entries[0] if entries else None
        lay = QVBoxLayout(self)
        title = QLabel("SAM2 Studio did not close normally last time.")
        title.setStyleSheet("font-weight: 600; font-size: 12pt;")
        lay.addWidget(title)
        lay.addWidget(QLabel("Unsaved work was kept. Pick what to recover:"))
        self.list = QListWidget()
        for e in entries:
            src = e.source or e.video or ""
            item = QListWidgetItem(f"{e.name}   ·   autosaved {e.when}\n{src}")
            item.setData(Qt.ItemDataRole.UserRole, e.id)
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.currentRowChanged.connect(self._row)
        lay.addWidget(self.list)
        buttons = QDialogButtonBox()
        self.recover_button = QPushButton("Recover")
        self.recover_button.setObjectName("primary")
        self.recover_button.setDefault(True)
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Delete this autosave for good")
        self.later_button = QPushButton("Not now")
        self.later_button.setToolTip("Keep the autosave and ask again next time")
        buttons.addButton(self.recover_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.discard_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.addButton(self.later_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.recover_button.clicked.connect(lambda: self._done("recover"))
        self.discard_button.clicked.connect(lambda: self._done("discard"))
        self.later_button.clicked.connect(lambda: self._done("later"))
        lay.addWidget(buttons)
        self.resize(520, 260)

    def _row(self, row: int) -> None:
        self.entry = self.entries[row] if 0 <= row < len(self.entries) else None

    def _done(self, choice: str) -> None:
        self.choice = choice
        (self.accept if choice == "recover" else self.reject)()
