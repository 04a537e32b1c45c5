"""Tracked objects: id, name, colour and view state."""

from __future__ import annotations

import colorsys
from dataclasses import asdict, dataclass, field


def default_color(obj_id: int) -> tuple[int, int, int]:
    """A distinct, saturated RGB colour for object ``obj_id`` (golden-ratio hue steps)."""
    hue = ((obj_id - 1) * 0.618033988749895 + 0.52) % 1.0  # object 1 cyan: rare in scenes
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass
class TrackedObject:
    """One labelled object of a project."""

    id: int
    name: str = ""
    color: tuple[int, int, int] = field(default=(0, 0, 0))
    visible: bool = True
    locked: bool = False

    def __post_init__(self) -> None:
        self.id = int(self.id)
        if self.id <= 0:
            raise ValueError(f"object id must be a positive integer, got {self.id}")
        if not self.name:
            self.name = f"object {self.id}"
        if self.color == (0, 0, 0):
            self.color = default_color(self.id)
        self.color = tuple(int(c) for c in self.color)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["color"] = list(self.color)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrackedObject:
        return cls(id=d["id"], name=d.get("name", ""), color=tuple(d.get("color", (0, 0, 0))),
                   visible=bool(d.get("visible", True)), locked=bool(d.get("locked", False)))
