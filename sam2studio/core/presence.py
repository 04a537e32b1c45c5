"""Presence clean-up: an object that is hidden or gone is recorded as absent (an empty mask),
not as a speck of noise.

Engines sometimes leave a few stray pixels for an object that is not there (a fragment of
the occluder, a patch of background of a similar colour). Those specks make an absent object
look present: tracks show a jump, the tracking report a false ``re-emerge``, a presence cut
keeps frames it should drop. :func:`clean_presence` turns them into empty masks in the
:class:`~sam2studio.core.masks.MaskStore`, keeping the object id; a real re-appearance is left
alone. Two rules, on each object's stored masks (areas and boxes come from the compressed
masks, nothing is decoded):

* **tiny**: a non-empty mask under ``max(min_fraction x ref, min(min_area, ref / 4))``
  pixels, where ``ref`` is the median area of the object's non-empty masks (so an object
  that is small all along is not a speck of itself);
* **stray**: the first or last frames of a presence segment (at most ``max_blip_frames``)
  whose mask is small (under ``blip_fraction`` of the reference area) and jumps away from the
  segment's motion (farther than ``max_jump`` from the constant-velocity prediction of the two
  frames before it); and a short presence segment (at most ``max_blip_frames`` frames, absent before and
  after) whose masks stay under ``blip_fraction`` of the reference area and whose position is
  not where the object was predicted to be: farther than ``max_jump`` pixels (default: the
  object's typical size ``sqrt(reference area)`` plus its last speed times the frames since
  it was seen) from the position extrapolated (constant velocity, box centres) from the
  nearest present frames before it, and from those after it. A side last seen more than
  ``max_predict_gap`` frames away predicts nothing. A segment with no other presence of the
  object at all is kept.

Cleared frames get an empty mask with score 0 (absent), exactly what engines store for a
hidden object. ``dry_run=True`` only reports what would be cleared.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .masks import MaskStore, rle_bbox
from .tracks import presence_segments


@dataclass
class PresenceRules:
    """Thresholds of :func:`clean_presence` (see the module docstring)."""

    min_area: int = 100
    min_fraction: float = 0.02
    max_blip_frames: int = 2
    blip_fraction: float = 0.5
    max_jump: float | None = None
    max_predict_gap: int = 10


def _center(rle) -> tuple[float, float]:
    x, y, w, h = rle_bbox(rle)
    return x + w / 2.0, y + h / 2.0


def clean_presence(masks: MaskStore, num_frames: int | None = None, objects: Iterable[int] | None = None,
                   rules: PresenceRules | None = None, *, keep: dict[int, Iterable[int]] | None = None,
                   dry_run: bool = False) -> dict[int, list[int]]:
    """Replace specks by empty masks (absent, score 0); returns ``{obj: [cleared frames]}``.

    Only frames that have a stored mask are looked at; ``num_frames`` bounds them (default:
    every stored frame). ``keep`` maps an object to frames never cleared (its prompts: pass
    ``{o: session.keyframes(o) for o in session.objects}``).
    """
    r = rules or PresenceRules()
    ids = masks.objects() if objects is None else sorted({int(o) for o in objects})
    cleared: dict[int, list[int]] = {}
    for o in ids:
        frames = masks.frames(o)
        if num_frames is not None:
            frames = [f for f in frames if f < num_frames]
        if not frames:
            cleared[o] = []
            continue
        n = frames[-1] + 1
        area = np.zeros(n, np.int64)
        entries = {}
        for f in frames:
            e = masks.entry(f, o)
            if e is not None:
                entries[f] = e
                area[f] = e.area
        nonzero = area[area > 0]
        ref = float(np.median(nonzero)) if len(nonzero) else 0.0
        drop: set[int] = set()
        tiny = max(r.min_fraction * ref, min(float(r.min_area), 0.25 * ref))
        for f in np.flatnonzero((area > 0) & (area < tiny)):
            drop.add(int(f))
        present = (area > 0)
        present[list(drop)] = False
        centers = {f: _center(entries[f].rle) for f in np.flatnonzero(present)}
        size = math.sqrt(ref) if ref > 0 else 0.0
        # the ends of a presence segment that jump away from its motion: specks next to the
        # real object's last (or first) frames
        for a, b in presence_segments(present):
            for sign in (1, -1):
                for _ in range(r.max_blip_frames):
                    lo, hi = (a, b) if sign == 1 else (b, a)
                    if (hi - lo) * sign < 2:
                        break
                    f0, f1, f2 = hi, hi - sign, hi - 2 * sign
                    if area[f0] >= r.blip_fraction * ref:
                        break
                    c0, c1, c2 = centers[f0], centers[f1], centers[f2]
                    vel = (c1[0] - c2[0], c1[1] - c2[1])
                    pred = (c1[0] + vel[0], c1[1] + vel[1])
                    limit = r.max_jump if r.max_jump is not None else size + math.hypot(*vel)
                    if math.hypot(c0[0] - pred[0], c0[1] - pred[1]) <= limit:
                        break
                    drop.add(int(f0))
                    present[f0] = False
                    if sign == 1:
                        b -= 1
                    else:
                        a += 1
        segs = presence_segments(present)
        # blips: short, small segments absent on both sides; the others are solid
        blip = [b - a + 1 <= r.max_blip_frames and a > 0 and b < n - 1
                and area[a:b + 1].max() < r.blip_fraction * ref for a, b in segs]
        solid = [seg for seg, bl in zip(segs, blip) if not bl]
        for (a, b), bl in zip(segs, blip):
            if not bl:
                continue
            before = next((seg for seg in reversed(solid) if seg[1] < a), None)
            after = next((seg for seg in solid if seg[0] > b), None)
            if not solid:
                continue  # nothing else of the object: keep it
            far = True
            for seg, sign in ((before, 1), (after, -1)):
                if seg is None:
                    continue
                end = seg[1] if sign == 1 else seg[0]  # the nearest present frame
                target = a if sign == 1 else b
                gap = abs(target - end)
                if gap > r.max_predict_gap:
                    continue  # seen too long ago to say where it should be
                nxt = end - sign  # the frame before it (in the direction of extrapolation)
                pe = centers[end]
                vel = (0.0, 0.0)
                if seg[0] <= nxt <= seg[1]:
                    pn = centers[nxt]
                    vel = (pe[0] - pn[0], pe[1] - pn[1])
                pred = (pe[0] + vel[0] * gap, pe[1] + vel[1] * gap)
                limit = r.max_jump if r.max_jump is not None else size + math.hypot(*vel) * gap
                c = centers[target]
                if math.hypot(c[0] - pred[0], c[1] - pred[1]) <= limit:
                    far = False
            if far:
                drop.update(range(a, b + 1))
        drop -= {int(f) for f in (keep or {}).get(o, ())}
        cleared[o] = sorted(drop)
        if not dry_run:
            empty = np.zeros((masks.height, masks.width), bool)
            for f in cleared[o]:
                masks.set(f, o, empty, 0.0)
    return cleared


__all__ = ["PresenceRules", "clean_presence"]
