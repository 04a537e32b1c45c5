"""Form fields shared by the dialogs."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


class PathField(QWidget):
    """A path line edit with a button beside it. The button calls ``choose`` (default: pick an
    existing file and put its path in the edit); ``.edit`` is the line edit."""

    def __init__(self, tip: str, button: str = "Choose…", *, button_tip: str | None = None,
                 placeholder: str = "", choose: Callable[[], None] | None = None) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        if placeholder:
            self.edit.setPlaceholderText(placeholder)
        self.edit.setToolTip(tip)
        lay.addWidget(self.edit, 1)
        self.button = QPushButton(button)
        if button_tip:
            self.button.setToolTip(button_tip)
        self.button.clicked.connect(choose or self._choose_file)
        lay.addWidget(self.button)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", self.edit.text())
        if path:
            self.edit.setText(path)
