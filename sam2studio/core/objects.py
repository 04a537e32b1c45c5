"""Tracked objects: id, name, class (category), colour and view state.

An object's ``name`` tells one object from another ("rider 2"); its ``category`` says what kind
of thing it is ("person"), shared by many objects. Exporters that have classes (COCO, YOLO,
YouTube-VIS, CVAT, MOTS) use :func:`class_name`: the category, or the object's name for an object
without one (so a project without classes exports one class per object, as before classes).
"""

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
    category: str = ""

    def __post_init__(self) -> None:
        self.id = int(self.id)
        if self.id <= 0:
            raise ValueError(f"object id must be a positive integer, got {self.id}")
        if not self.name:
            self.name = f"object {self.id}"
        if self.color == (0, 0, 0):
            self.color = default_color(self.id)
        self.color = tuple(int(c) for c in self.color)
        self.category = clean_category(self.category)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["color"] = list(self.color)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrackedObject:
        return cls(id=d["id"], name=d.get("name", ""), color=tuple(d.get("color", (0, 0, 0))),
                   visible=bool(d.get("visible", True)), locked=bool(d.get("locked", False)),
                   category=d.get("category") or "")


def clean_category(text: str | None) -> str:
    """A class name as stored: surrounding spaces dropped, ``None`` -> ``""`` (no class)."""
    return "" if text is None else " ".join(str(text).split())


def class_name(obj: TrackedObject) -> str:
    """The class an exporter writes for ``obj``: its category, else its name."""
    return obj.category or obj.name


def class_table(objects: dict[int, TrackedObject],
                categories: dict[int, str] | None = None) -> tuple[dict[int, int], dict[int, str]]:
    """``({object id: class id}, {class id: class name})`` for exports with classes.

    Class ids come from ``categories`` (the project's class list, id -> name) where the name is
    there; other class names (objects without a category are their own class, named after the
    object) get the next free ids in ascending object-id order. Every object of ``objects`` is
    counted, so a class keeps its id whichever objects are exported.
    """
    classes = {int(k): v for k, v in sorted((categories or {}).items())}
    by_name = {v: k for k, v in classes.items()}
    of_object = {}
    for oid in sorted(objects):
        name = class_name(objects[oid])
        cid = by_name.get(name)
        if cid is None:
            cid = max(classes, default=0) + 1
            classes[cid] = name
            by_name[name] = cid
        of_object[int(oid)] = cid
    return of_object, classes
