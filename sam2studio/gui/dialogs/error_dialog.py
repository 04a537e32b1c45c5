"""Errors shown as one clear sentence, and the unsaved-changes question."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import QMessageBox, QWidget

from ...errors import UserError

log = logging.getLogger(__name__)

#: the last messages shown (tests read them; newest last)
SHOWN: list[str] = []


def sentence(text: str) -> str:
    """``text`` as one sentence: first letter upper case, a full stop at the end."""
    text = " ".join(str(text).split())
    if not text:
        return "Something went wrong."
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def message_for(exc: BaseException, doing: str = "working") -> str:
    """One sentence for ``exc``: a UserError's own message, else a short note (logged in full)."""
    if isinstance(exc, UserError):
        return sentence(str(exc))
    log.error("unexpected error while %s", doing, exc_info=(type(exc), exc, exc.__traceback__))
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return sentence(f"Something went wrong while {doing} ({detail[:160]}); the details are in the log")


def show_error(parent: QWidget | None, message: str, title: str = "SAM2 Studio") -> QMessageBox:
    """A non-blocking error box with ``message`` (never a traceback)."""
    text = sentence(message)
    SHOWN.append(text)
    del SHOWN[:-20]
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("errorBox")
    box.setModal(True)
    box.open()
    return box


def ask_save_changes(parent: QWidget | None, name: str) -> str:
    """``"save"``, ``"discard"`` or ``"cancel"`` for unsaved changes to ``name``."""
    box = QMessageBox(parent)
    box.setObjectName("saveChangesBox")
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Unsaved changes")
    box.setText(f"Save the changes to {name} before closing it?")
    box.setInformativeText("Your clicks, strokes and masks since the last save are lost if you don't.")
    box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                           | QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return "save"
    if answer == QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"


def _question(parent: QWidget | None, name: str, title: str, text: str, info: str, yes: str,
              on_yes) -> QMessageBox:
    """A non-blocking question with a ``yes`` button (calls ``on_yes``) and Cancel."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName(name)
    box.setInformativeText(info)
    accept = box.addButton(yes, QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(accept)
    box.setModal(True)
    box.accept_button = accept
    box.buttonClicked.connect(lambda b: on_yes() if b is accept else None)
    box.open()
    return box


def ask_rerun_damaged(parent: QWidget | None, name: str, damaged: str, frames: int, on_yes) -> QMessageBox:
    """Offer to re-run the frames whose masks were damaged in the project file."""
    return _question(parent, "rerunDamagedBox", "Damaged masks",
                     f"The project file {name} has damaged masks ({damaged}); they were left out.",
                     f"Those {frames} frame{'s' if frames != 1 else ''} show no mask (red on the timeline). "
                     "Re-run them now from each object's nearest prompt? (Track → Re-run Damaged Frames "
                     "does it later.)", "Re-run Damaged Frames", on_yes)


def ask_open_locked(parent: QWidget | None, name: str, holder: str, on_read_only) -> QMessageBox:
    """A project another SAM2 Studio is writing: offer to open it read-only."""
    return _question(parent, "projectLockedBox", "Project in use",
                     f"{name} is open for writing in another SAM2 Studio ({holder}).",
                     "Open it read-only to look at it and export from it; to keep your changes, save them "
                     "under another name (Save As).", "Open Read-Only", on_read_only)
