"""The per-format option fields of the export dialog, built from
:data:`sam2studio.export.video_formats.OPTION_SPECS` (the same options as ``-o KEY=VALUE``)."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QColorDialog, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit,
                               QPushButton, QSpinBox, QWidget)

from ...export.video_formats import OPTION_SPECS, format_options
from .fields import PathField

_RANGES = {
    "opacity": (0.0, 1.0, 0.05), "brightness": (-1.0, 1.0, 0.05), "saturation": (0.0, 4.0, 0.1),
    "contrast": (0.0, 4.0, 0.1), "sigma": (0.5, 200.0, 1.0), "strength": (0.0, 10.0, 0.1),
    "merge_gap_s": (0.0, 3600.0, 0.1), "min_span_s": (0.0, 3600.0, 0.1),
    "block": (2, 256, 2), "crf": (0, 51, 1), "feather": (0, 200, 1),
    "px_per_m": (0.0, 100000.0, 10.0), "thumbnails": (0, 50, 1),
}


def _label(name: str) -> str:
    return {"crf": "Quality (CRF)", "merge_gap_s": "Merge gaps under (s)", "min_span_s": "Drop spans under (s)",
            "sigma": "Blur sigma (px)", "feather": "Feather edges (px)", "block": "Block size (px)",
            "px_per_m": "Pixels per metre", "thumbnails": "Flagged frames shown"}.get(
        name, name.replace("_", " ").capitalize())


class _ColorField(QPushButton):
    def __init__(self, value: str, tip: str) -> None:
        super().__init__()
        self.setToolTip(tip)
        self.set_color(value)
        self.clicked.connect(self._choose)

    def set_color(self, value: str) -> None:
        self.value = QColor(value).name()
        self.setText(self.value)
        self.setStyleSheet(f"background:{self.value}; color:{'#000' if QColor(value).lightness() > 128 else '#fff'}")

    def _choose(self) -> None:
        c = QColorDialog.getColor(QColor(self.value), self, "Background colour")
        if c.isValid():
            self.set_color(c.name())


class ExportOptions(QWidget):
    """Fields for one format's options; :meth:`values` gives the ``options`` dict of its job."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.fields: dict[str, QWidget] = {}
        self.format_name = ""

    def set_format(self, name: str) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.fields = {}
        self.format_name = name
        for opt in format_options(name):
            kind, default, tip = OPTION_SPECS[opt]
            w = self._field(opt, kind, default, tip)
            w.setObjectName(f"option_{opt}")
            self.fields[opt] = w
            self.form.addRow(_label(opt), w)
        self.setVisible(bool(self.fields))

    @staticmethod
    def _field(name: str, kind, default, tip: str) -> QWidget:
        if isinstance(kind, tuple):
            w = QComboBox()
            for c in kind:
                w.addItem(c or "none", c)
            w.setCurrentIndex(max(0, w.findData(default)))
        elif kind == "bool":
            w = QCheckBox()
            w.setChecked(bool(default))
        elif kind in ("float", "int"):
            lo, hi, step = _RANGES.get(name, (-1e6, 1e6, 1))
            w = QDoubleSpinBox() if kind == "float" else QSpinBox()
            if kind == "float":
                w.setDecimals(2)
            w.setRange(lo, hi)
            w.setSingleStep(step)
            w.setValue(default)
        elif kind == "color":
            w = _ColorField(default, tip)
        elif kind == "file":
            w = PathField(tip, button_tip=tip, placeholder="none")
        else:
            w = QLineEdit("" if default is None else str(default))
        w.setToolTip(tip)
        return w

    def set_value(self, name: str, value) -> None:
        w = self.fields[name]
        if isinstance(w, QComboBox):
            w.setCurrentIndex(max(0, w.findData(value)))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(value)
        elif isinstance(w, _ColorField):
            w.set_color(value)
        elif isinstance(w, PathField):
            w.edit.setText(str(value))
        else:
            w.setText(str(value))

    def values(self) -> dict:
        out = {}
        for name, w in self.fields.items():
            if isinstance(w, QComboBox):
                v = w.currentData()
            elif isinstance(w, QCheckBox):
                v = w.isChecked()
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                v = w.value()
            elif isinstance(w, _ColorField):
                v = w.value
            elif isinstance(w, PathField):
                v = w.edit.text().strip()
            else:
                v = w.text().strip()
            if v not in ("", None):
                out[name] = v
        if "image" in out or "video" in out:  # one background: a picture or video replaces the colour
            out.pop("color", None)
        return out
