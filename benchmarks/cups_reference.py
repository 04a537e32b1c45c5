"""Reference masks of the three red cups (and the yellow ball) of ``02_cups.mp4``.

Run ``python benchmarks/cups_reference.py`` from the repository root (needs ../shared/data,
or ``--data DIR``); it writes ``benchmarks/data/cups_reference.json``, which
``benchmarks/classic_cups.py`` reads.

The cups are identical, so a cup's *identity* is the only thing a tracker can get wrong
without getting its pixels wrong. The reference is made in two parts:

* pixels: the cups are the only saturated red in the clip (the sweater is orange, the
  skin pink), so a hue/saturation threshold gives every cup's visible pixels nearly exactly
  (only a motion-blurred rim a few pixels wide is left out); the ball is the only bright
  saturated yellow (the greenery behind is darker, a bracelet more orange);
* identity: assigned by watching the clip frame by frame (every frame around each pass, where
  one cup goes behind or in front of another): the table ``ORDER`` below says, for every 5th
  frame, which cups each red region holds, left to right. The end confirms it: the cup lifted
  at the end shows the ball, which was put under the left cup on frame ~25 and is under it
  still. ``--sheets DIR`` writes one small annotated PNG per keyframe (each cup's outline in
  its own colour, thin and with a "?" where it is not exact) to check the table by eye.

Cups are named by where they stand on frame 0: ``left`` (held up in the hand at the top
left), ``middle`` and ``right`` (on the table). A keyframe's cup is
``clean`` (its own red region), ``split`` (its side of two cups standing side by side, cut at
their waist), ``shared`` (one cup in front of the other: the region of both, identity is
scored there but not J) or ``partial`` (less than 60% of it seen: a hand over it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import cv2
import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sam2studio.core.video import FileVideo
from sam2studio.engines.classic_util import _rle

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "shared", "data")
OUT = os.path.join(HERE, "data", "cups_reference.json")
CUPS = ("left", "middle", "right")
STEP = 5  # keyframe spacing
MIN_PART = 1500  # px at 1280x720: smaller red or yellow bits are noise (a blurred hand's tint)


def red_mask(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    m = ((h >= 172) | (h <= 6)) & (s >= 120) & (v >= 90)
    m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    return _drop_small(m > 0)


def yellow_mask(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    m = (h >= 20) & (h <= 31) & (s >= 110) & (v >= 160)  # the ball: not the greenery, nor a bracelet
    m = cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    return _drop_small(m > 0, 300)


def _drop_small(m: np.ndarray, min_area: int = MIN_PART) -> np.ndarray:
    n, lab, st, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, n) if st[i, cv2.CC_STAT_AREA] >= min_area]
    return np.isin(lab, keep) if keep else np.zeros(m.shape, bool)


# Which cups each red region of a keyframe holds, the regions in order of their centroid's x
# (left to right), one string of cup letters per region (L left, M middle, R right, as on
# frame 0). Assigned by watching the clip frame by frame (see the module docstring); a letter
# in two regions is one cup seen in two pieces (the cup lifted at the end, its rim blurred).
# The shuffle: M passes behind L to the far left (56-58) and back in front of it (66-76); R
# goes back-left behind M while L comes forward to the right (91-106); L and M swap, L in
# front (140-147); R passes in front of L (174-188), M behind R (197-213), L behind M
# (220-230), R behind L (244-253); L is lifted off the ball at the end (286-).
ORDER = {
    0: "L M R", 5: "L M R", 10: "L M R", 15: "L M R", 20: "L M R", 25: "L M R", 30: "L M R",
    35: "L M R", 40: "L M R", 45: "L M R", 50: "L M R", 55: "LM R", 60: "M L R", 65: "M L R",
    70: "ML R", 75: "LM R", 80: "L M R", 85: "L M R", 90: "L M R", 95: "L MR", 100: "R LM",
    105: "R ML", 110: "R M L", 115: "R M L", 120: "R M L", 125: "R M L", 130: "R M L",
    135: "R M L", 140: "R M L", 145: "R L M", 150: "R L M", 155: "R L M", 160: "R L M",
    165: "R L M", 170: "R L M", 175: "R L M", 180: "LR M", 185: "L R M", 190: "LR M",
    195: "LR M", 200: "L R M", 205: "L RM", 210: "L RM", 215: "L MR", 220: "LM R", 225: "LM R",
    230: "LMR", 235: "ML R", 240: "M L R", 245: "ML R", 250: "M RL", 255: "M RL", 260: "M RL",
    265: "M R L", 270: "M R L", 275: "M R L", 280: "MR L", 285: "MR L", 290: "MR L L",
    295: "M R L L",
}
CUP_AREA = 31000  # px of one cup standing on the table, whole, at 1280x720
SIDE_BY_SIDE = 1.8  # a two-cup region this many cups large: side by side, split between them


def _split_x(m: np.ndarray, k: int) -> list[np.ndarray]:
    """``m`` cut into ``k`` parts left to right at the x where its columns' pixel count is
    lowest between the parts' expected centres (two cups side by side touch at a waist)."""
    cols = np.count_nonzero(m, axis=0).astype(np.float64)
    xs = np.flatnonzero(cols)
    x0, x1 = xs[0], xs[-1] + 1
    cuts = []
    for i in range(1, k):
        c = x0 + (x1 - x0) * i / k
        lo, hi = int(c - 0.2 * (x1 - x0) / k), int(c + 0.2 * (x1 - x0) / k) + 1
        cuts.append(lo + int(np.argmin(np.convolve(cols[lo:hi], np.ones(5) / 5, "same"))))
    edges = [0, *cuts, m.shape[1]]
    parts = []
    for a, b in zip(edges[:-1], edges[1:]):
        p = np.zeros_like(m)
        p[:, a:b] = m[:, a:b]
        parts.append(p)
    return parts


def cup_regions(red: np.ndarray, order: str) -> dict[str, tuple[np.ndarray, str]]:
    """``{cup: (mask, kind)}`` of one keyframe: kind ``clean`` (its own red region),
    ``split`` (its side of two cups standing side by side), ``shared`` (a region it shares
    with a cup in front of or behind it: the whole region), ``partial`` (less than 60% of a
    cup is seen: a hand over it, or mostly hidden)."""
    n, lab, st, cen = cv2.connectedComponentsWithStats(red.astype(np.uint8), connectivity=8)
    comps = sorted(range(1, n), key=lambda j: cen[j][0])
    groups = order.split()
    if len(groups) != len(comps):
        raise ValueError(f"{len(comps)} red regions, the order table says {order!r}")
    out: dict[str, list] = {}
    for j, g in zip(comps, groups):
        m = lab == j
        area = st[j, cv2.CC_STAT_AREA]
        if len(g) == 1:
            out.setdefault(g, []).append(m)
        elif len(g) == 2 and area >= SIDE_BY_SIDE * CUP_AREA:
            for c, part in zip(g, _split_x(m, 2)):
                out.setdefault(c, []).append(part)
                out.setdefault(c + "/split", [])
        else:
            for c in g:
                out.setdefault(c, []).append(m)
                out.setdefault(c + "/shared", [])
    res = {}
    for c in "LMR":
        m = np.logical_or.reduce(out[c])
        kind = "shared" if c + "/shared" in out else "split" if c + "/split" in out else "clean"
        if kind != "shared" and np.count_nonzero(m) < 0.6 * CUP_AREA:
            kind = "partial"
        res[c] = (m, kind)
    return res


def build(data: str, sheets: str | None = None) -> dict:
    video = FileVideo(os.path.join(data, "videos", "02_cups.mp4"))
    frames = {}
    for f in sorted(ORDER):
        rgb = video.get_frame(f)
        regions = cup_regions(red_mask(rgb), ORDER[f])
        entry = {}
        for c in CUPS:
            m, kind = regions[c[0].upper()]
            rle = _rle(m)
            entry[c] = {"rle": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")},
                        "area": int(np.count_nonzero(m)), "kind": kind}
        ball = yellow_mask(rgb)
        rle = _rle(ball)
        entry["ball"] = {"rle": {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")},
                         "area": int(np.count_nonzero(ball)), "kind": "clean" if ball.any() else "absent"}
        frames[str(f)] = entry
        if sheets:
            _draw(rgb, {c: regions[c[0].upper()] for c in CUPS}, f, sheets)
    return {"video": "02_cups.mp4", "size": [video.width, video.height], "num_frames": video.num_frames,
            "step": STEP, "cups": list(CUPS), "frames": frames}


def _centroid(m: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(m)
    return float(xs.mean()), float(ys.mean())


COLOURS = {"left": (0, 90, 255), "middle": (0, 230, 0), "right": (255, 255, 0)}


def _draw(rgb, regions, f, folder):
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    img = np.ascontiguousarray(rgb[..., :3]).copy()
    for i, c in enumerate(CUPS):
        m, kind = regions[c]
        cs, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(img, cs, -1, COLOURS[c], 6 if kind in ("clean", "split") else 2)
        if m.any():
            x, y = _centroid(m)
            cv2.putText(img, c[0].upper() + ("" if kind in ("clean", "split") else "?"),
                        (int(x) - 30 + 25 * i * (kind == "shared"), int(y) + 20), cv2.FONT_HERSHEY_SIMPLEX, 2.0,
                        COLOURS[c], 5)
    cv2.putText(img, str(f), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255, 255, 255), 5)
    Image.fromarray(img).resize((427, 240)).save(os.path.join(folder, f"{f:03d}.png"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--sheets", default=None, help="folder for one small annotated PNG per keyframe")
    args = ap.parse_args(argv)
    ref = build(args.data, args.sheets)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(ref, fh, separators=(",", ":"))
    os.replace(tmp, args.out)
    kinds = [ref["frames"][k][c]["kind"] for k in ref["frames"] for c in CUPS]
    print(f"{len(ref['frames'])} keyframes, cup masks: " + ", ".join(f"{kinds.count(k)} {k}" for k in
          ("clean", "split", "shared", "partial")) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
