"""User prompts: clicks (positive/negative), boxes, masks (PNG, brush, eraser) and absence marks
per frame per object. The frames that hold a prompt for an object are its keyframes.

An absence mark ("absent from here", "absent on frames A-B", like CVAT's *outside* flag) is a
prompt on its first frame: the object is empty from there up to ``absent_until`` (inclusive;
None: up to the object's next other prompt, or the end of the video), and a later run does not
fill those frames. Past them the object comes back at its next prompt, or where the engine
finds it again by itself.

Also the text form of prompts that the command line and batch manifests share
(``OBJ:FRAME:X:Y[:LABEL]`` and friends): :func:`parse_click`, :func:`parse_box`,
:func:`parse_mask`, :func:`parse_name`, :func:`parse_category` and :class:`PromptSet`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PromptError
from .masks import decode_rle, encode_rle


@dataclass
class FramePrompt:
    """One object's prompt on one frame: clicks and a box, a mask, or an absence mark.

    ``candidate`` picks one of the engine's candidate masks for the last click (0: the
    engine's own choice), ``chosen`` the one picked after each earlier click (empty when
    every earlier click kept the engine's choice: a click edits the mask in use, so a
    reopened project replays the clicks one by one with these); ``absent`` marks the object
    absent from this frame to ``absent_until``."""

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask_rle: dict | None = None
    candidate: int = 0
    absent: bool = False
    absent_until: int | None = None
    chosen: list[int] = field(default_factory=list)

    @property
    def kind(self) -> str:
        if self.absent:
            return "absent"
        if self.mask_rle is not None:
            return "mask"
        if self.box is not None and self.points:
            return "box+points"
        return "box" if self.box is not None else "points"

    @property
    def mask(self) -> np.ndarray | None:
        return None if self.mask_rle is None else decode_rle(self.mask_rle)

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> FramePrompt:
        return cls(mask_rle=encode_rle(np.asarray(mask, dtype=bool)))

    @classmethod
    def absence(cls, until: int | None = None) -> FramePrompt:
        """An absence mark: absent from its frame to ``until`` (None: up to the next prompt)."""
        return cls(absent=True, absent_until=None if until is None else int(until))

    def copy(self) -> FramePrompt:
        return FramePrompt(list(self.points), list(self.labels), self.box, self.mask_rle, self.candidate,
                           self.absent, self.absent_until, list(self.chosen))

    def to_json(self) -> dict:
        d = {"points": [list(map(float, p)) for p in self.points], "labels": [int(v) for v in self.labels],
             "box": None if self.box is None else [float(v) for v in self.box]}
        if self.candidate:
            d["candidate"] = int(self.candidate)
        if any(self.chosen):
            d["chosen"] = [int(v) for v in self.chosen]
        if self.absent:
            d["absent"] = True
            d["absent_until"] = self.absent_until
        return d

    @classmethod
    def from_json(cls, d: dict, mask_rle: dict | None = None) -> FramePrompt:
        """Read :meth:`to_json`'s dict; keys that older versions did not write take their defaults."""
        box = d.get("box")
        until = d.get("absent_until")
        return cls(points=[tuple(p) for p in d.get("points", [])], labels=list(d.get("labels", [])),
                   box=None if box is None else tuple(box), mask_rle=mask_rle,
                   candidate=int(d.get("candidate", 0)), absent=bool(d.get("absent", False)),
                   absent_until=None if until is None else int(until),
                   chosen=[int(v) for v in d.get("chosen", [])])


class PromptStore:
    """Prompts per frame per object."""

    def __init__(self) -> None:
        self._data: dict[int, dict[int, FramePrompt]] = {}  # obj -> frame -> prompt
        self._lock = threading.RLock()

    def get(self, frame: int, obj: int) -> FramePrompt | None:
        with self._lock:
            return self._data.get(int(obj), {}).get(int(frame))

    def set(self, frame: int, obj: int, prompt: FramePrompt) -> None:
        with self._lock:
            self._data.setdefault(int(obj), {})[int(frame)] = prompt

    def remove(self, frame: int, obj: int) -> FramePrompt | None:
        with self._lock:
            return self._data.get(int(obj), {}).pop(int(frame), None)

    def remove_object(self, obj: int) -> None:
        with self._lock:
            self._data.pop(int(obj), None)

    def keyframes(self, obj: int) -> list[int]:
        with self._lock:
            return sorted(self._data.get(int(obj), {}))

    def objects(self) -> list[int]:
        with self._lock:
            return sorted(o for o, fr in self._data.items() if fr)

    def items(self) -> list[tuple[int, int, FramePrompt]]:
        """``(frame, obj, prompt)`` for every prompt, in frame order (the order to replay)."""
        with self._lock:
            return sorted(((f, o, p) for o, fr in self._data.items() for f, p in fr.items()),
                          key=lambda t: (t[0], t[1]))

    def __len__(self) -> int:
        with self._lock:
            return sum(len(fr) for fr in self._data.values())

    def absent_ranges(self, obj: int, num_frames: int) -> list[tuple[int, int]]:
        """``[(first, last), ...]`` (inclusive) where ``obj`` is marked absent: from each absence
        mark to its ``absent_until``, or up to the object's next other prompt (or the video's
        end); a later prompt that is not an absence mark always ends the range before it."""
        with self._lock:
            fr = dict(self._data.get(int(obj), {}))
        keys = sorted(fr)
        out: list[tuple[int, int]] = []
        for i, a in enumerate(keys):
            p = fr[a]
            if not p.absent:
                continue
            nxt = next((k for k in keys[i + 1:] if not fr[k].absent), None)
            last = num_frames - 1 if p.absent_until is None else min(int(p.absent_until), num_frames - 1)
            if nxt is not None:
                last = min(last, nxt - 1)
            out.append((a, max(a, last)))
        return out


def read_mask_prompt(path, obj: int, width: int, height: int, *, resize: bool = False) -> np.ndarray:
    """A mask prompt from a PNG: in a palette PNG that holds index ``obj``, the pixels equal to
    ``obj``; otherwise the non-zero pixels.

    Refused with :class:`~sam2studio.errors.PromptError`: a mask with no foreground pixels, and
    a mask whose size differs from ``width`` x ``height`` unless it is an integer multiple (or
    fraction) of it to the pixel and ``resize`` is True (then it is scaled, nearest neighbour).
    A mask of another aspect ratio is never stretched."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise PromptError(f"mask file {path} does not exist")
    try:
        with Image.open(path) as img:
            mode = img.mode
            arr = np.asarray(img)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise PromptError(f"mask file {path} is not a readable image") from exc
    if arr.ndim not in (2, 3) or arr.size == 0:
        raise PromptError(f"mask file {path} is not a readable image")
    if mode == "P" and np.any(arr == obj):
        m = arr == obj
    else:
        m = (arr.max(axis=2) if arr.ndim == 3 else arr) > 0
    if not m.any():
        raise PromptError(f"{path.name} has no foreground pixels")
    mh, mw = m.shape
    if (mh, mw) != (height, width):
        size = f"{path.name} is {mw}x{mh} pixels but the video is {width}x{height}"
        # an integer factor up or down that lands on the video's size to the pixel (masks
        # saved by other tools are sometimes a pixel short of an odd-sized frame)
        k = max(1, round(width / mw)) if width >= mw else max(1, round(mw / width))
        sw, sh = (mw * k, mh * k) if width >= mw else (mw / k, mh / k)
        if abs(sw - width) <= 1 and abs(sh - height) <= 1:
            if not resize:
                what = ("a 1-pixel difference" if k == 1
                        else f"an exact {k}x" if width >= mw else f"an exact 1/{k}")
                raise PromptError(f"{size} ({what}): scale it with --mask-resize, "
                                  "or give a mask of the video's size")
        elif abs(mw * height - mh * width) > max(width, height):
            raise PromptError(f"{size}: a different aspect ratio (it would be stretched); "
                              "give a mask of the video's size")
        else:
            raise PromptError(f"{size}: not an exact multiple of it; give a mask of the video's size")
        m = cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
        if not m.any():
            raise PromptError(f"{path.name} has no foreground pixels left at the video's size")
    return m


# ---- prompt specs: the text form of the command line and of batch manifests ----------------
class PromptSpecError(PromptError):
    """A prompt spec such as ``--click 1:0:10`` that cannot be read; the message names the flag."""


@dataclass
class ClickArg:
    """``OBJ:FRAME:X:Y[:LABEL]``: a click (LABEL 1 = positive, 0 = negative)."""

    obj: int
    frame: int
    x: float
    y: float
    label: int = 1


@dataclass
class BoxArg:
    """``OBJ:FRAME:X0:Y0:X1:Y1``: a box."""

    obj: int
    frame: int
    box: tuple[float, float, float, float]


@dataclass
class MaskArg:
    """``OBJ:FRAME:PATH``: a mask prompt from a PNG."""

    obj: int
    frame: int
    path: Path


def _int(text: str, what: str, spec: str, flag: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PromptSpecError(f"{flag} {spec!r}: {what} must be an integer, got {text!r}") from None


def _float(text: str, what: str, spec: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise PromptSpecError(f"{flag} {spec!r}: {what} must be a number, got {text!r}") from None


def _obj_frame(parts: list[str], spec: str, flag: str) -> tuple[int, int]:
    obj = _int(parts[0], "OBJ", spec, flag)
    frame = _int(parts[1], "FRAME", spec, flag)
    if obj <= 0:
        raise PromptSpecError(f"{flag} {spec!r}: object ids are positive integers, got {obj}")
    if frame < 0:
        raise PromptSpecError(f"{flag} {spec!r}: frames start at 0, got {frame}")
    return obj, frame


def parse_click(spec: str) -> ClickArg:
    """``"OBJ:FRAME:X:Y[:LABEL]"`` → :class:`ClickArg`; raises :class:`PromptSpecError`."""
    parts = spec.split(":")
    if len(parts) not in (4, 5):
        raise PromptSpecError(f"--click {spec!r} must be OBJ:FRAME:X:Y[:LABEL]")
    obj, frame = _obj_frame(parts, spec, "--click")
    x, y = (_float(v, n, spec, "--click") for v, n in zip(parts[2:4], "XY"))
    label = 1 if len(parts) == 4 else _int(parts[4], "LABEL", spec, "--click")
    if label not in (0, 1):
        raise PromptSpecError(f"--click {spec!r}: LABEL is 1 (positive) or 0 (negative), got {label}")
    return ClickArg(obj, frame, x, y, label)


def parse_box(spec: str) -> BoxArg:
    """``"OBJ:FRAME:X0:Y0:X1:Y1"`` → :class:`BoxArg`."""
    parts = spec.split(":")
    if len(parts) != 6:
        raise PromptSpecError(f"--box {spec!r} must be OBJ:FRAME:X0:Y0:X1:Y1")
    obj, frame = _obj_frame(parts, spec, "--box")
    box = tuple(_float(v, n, spec, "--box") for v, n in zip(parts[2:], ("X0", "Y0", "X1", "Y1")))
    return BoxArg(obj, frame, box)  # type: ignore[arg-type]


def parse_mask(spec: str) -> MaskArg:
    """``"OBJ:FRAME:PATH"`` → :class:`MaskArg`."""
    parts = spec.split(":", 2)
    if len(parts) != 3 or not parts[2]:
        raise PromptSpecError(f"--mask {spec!r} must be OBJ:FRAME:PATH")
    obj, frame = _obj_frame(parts, spec, "--mask")
    return MaskArg(obj, frame, Path(parts[2]))


def parse_name(spec: str) -> tuple[int, str]:
    """``"OBJ:NAME"`` → ``(obj, name)``."""
    return _labelled(spec, "--name", "NAME")


def parse_category(spec: str) -> tuple[int, str]:
    """``"OBJ:CLASS"`` → ``(obj, class)`` (``--category 1:person``)."""
    obj, name = _labelled(spec, "--category", "CLASS")
    return obj, " ".join(name.split())


def _labelled(spec: str, flag: str, what: str) -> tuple[int, str]:
    """``"OBJ:TEXT"`` → ``(obj, text)``, for ``--name`` and ``--category``."""
    obj, sep, text = spec.partition(":")
    if not sep or not text.strip():
        raise PromptSpecError(f"{flag} {spec!r} must be OBJ:{what}")
    o = _int(obj, "OBJ", spec, flag)
    if o <= 0:
        raise PromptSpecError(f"{flag} {spec!r}: object ids are positive integers, got {o}")
    return o, text


@dataclass
class PromptSet:
    """The prompts of a headless run (``segment``, one batch video): clicks, boxes, mask
    files, object names and classes. Clicks and boxes on the same frame and object make one
    prompt."""

    clicks: list[ClickArg] = field(default_factory=list)
    boxes: list[BoxArg] = field(default_factory=list)
    masks: list[MaskArg] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    categories: dict[int, str] = field(default_factory=dict)
    mask_resize: bool = False  # scale mask files that are an exact multiple of the video's size

    @classmethod
    def parse(cls, clicks=(), boxes=(), masks=(), names=(), categories=()) -> PromptSet:
        """From spec strings (``--click``, ``--box``, ``--mask``, ``--name``, ``--category``
        values)."""
        return cls([parse_click(s) for s in clicks], [parse_box(s) for s in boxes],
                   [parse_mask(s) for s in masks], dict(parse_name(s) for s in names),
                   dict(parse_category(s) for s in categories))

    def __bool__(self) -> bool:
        return bool(self.clicks or self.boxes or self.masks)

    def object_ids(self) -> list[int]:
        return sorted({c.obj for c in self.clicks} | {b.obj for b in self.boxes}
                      | {m.obj for m in self.masks} | set(self.names) | set(self.categories))

    def grouped(self) -> list[tuple[int, int, FramePrompt]]:
        """Clicks and boxes as one :class:`FramePrompt` per (frame, object), in that order."""
        grouped: dict[tuple[int, int], FramePrompt] = {}
        for c in self.clicks:
            p = grouped.setdefault((c.frame, c.obj), FramePrompt())
            p.points.append((float(c.x), float(c.y)))
            p.labels.append(int(c.label))
        for b in self.boxes:
            grouped.setdefault((b.frame, b.obj), FramePrompt()).box = tuple(map(float, b.box))
        return [(f, o, p) for (f, o), p in sorted(grouped.items())]
