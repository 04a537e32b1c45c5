"""Track → Quality Thresholds: when the quality check flags a frame (kept in the settings)."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QVBoxLayout

from ...core.quality import QualityThresholds

#: name -> (label, lowest, highest, step, decimals, suffix, tooltip)
FIELDS = {
    "min_confidence": ("Minimum confidence", 0.0, 1.0, 0.05, 2, "",
                       "Flag a frame when the engine's own confidence in the mask is below this"),
    "min_iou": ("Minimum consistency (IoU)", 0.0, 1.0, 0.05, 2, "",
                "Flag a frame when its mask overlaps the previous frame's mask (moved with the object) less"),
    "max_drift": ("Maximum drift", 0.0, 10000.0, 5.0, 0, " px",
                  "Flag a frame when the object's centre jumps further than its motion predicts"),
    "min_area": ("Minimum area", 0.0, 1e7, 50.0, 0, " px",
                 "Flag a mask smaller than this (a speck, rarely the object); empty masks mean absent"),
    "max_area_change": ("Maximum area change", 0.0, 100.0, 0.1, 2, "",
                        "Flag a frame whose area grows or shrinks by more than this factor (1.0: doubling or halving)"),
    "min_appearance": ("Minimum colour similarity", 0.0, 1.0, 0.05, 2, "",
                       "Flag a sudden change of the object's colours (a possible identity swap)"),
    "max_slip": ("Maximum slip", 0.0, 10000.0, 1.0, 0, " px",
                 "Flag a mask that does not move with the image under it (left on the background while "
                 "the camera pans): how far the image may have slid under the mask lately"),
}


def load_thresholds(settings) -> QualityThresholds:
    """The thresholds kept in the settings (the defaults where none are kept or they are bad)."""
    try:
        return QualityThresholds.from_dict(json.loads(settings.get("quality/thresholds") or "{}"))
    except (TypeError, ValueError):
        return QualityThresholds()


class QualityThresholdsDialog(QDialog):
    def __init__(self, settings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Quality Thresholds")
        self.settings = settings
        lay = QVBoxLayout(self)
        note = QLabel("The quality check flags a frame when any of these is passed. Frames with your own "
                      "clicks, boxes or strokes are never flagged.")
        note.setWordWrap(True)
        note.setObjectName("hint")
        lay.addWidget(note)
        form = QFormLayout()
        self.boxes: dict[str, QDoubleSpinBox] = {}
        for name, (label, lo, hi, step, dec, suffix, tip) in FIELDS.items():
            b = QDoubleSpinBox()
            b.setRange(lo, hi)
            b.setSingleStep(step)
            b.setDecimals(dec)
            b.setSuffix(suffix)
            b.setToolTip(tip)
            b.setObjectName(f"threshold_{name}")
            self.boxes[name] = b
            form.addRow(label, b)
        lay.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
                                   | QDialogButtonBox.StandardButton.RestoreDefaults)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(
            lambda: self.show_values(QualityThresholds()))
        lay.addWidget(buttons)
        self.show_values(load_thresholds(settings))

    def show_values(self, th: QualityThresholds) -> None:
        for name, b in self.boxes.items():
            b.setValue(float(getattr(th, name)))

    def thresholds(self) -> QualityThresholds:
        d = load_thresholds(self.settings).to_dict()
        d.update({name: b.value() for name, b in self.boxes.items()})
        return QualityThresholds.from_dict(d)

    def accept(self) -> None:
        self.settings.set("quality/thresholds", json.dumps(self.thresholds().to_dict()))
        super().accept()
