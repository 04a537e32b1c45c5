"""The classic engine's look-alike search: an untracked object that looks like a tracked one,
near it and moving differently (a cup's twin carried past it in a shell game), is found, followed
from frame to frame and competes with the tracked object for its pixels (see :mod:`.classic`,
"identical objects"). A part of :class:`.classic.ClassicEngine`'s tracker
(:class:`.classic_tracker.Tracker` derives from it): it uses the tracker's motion weights
``W_MOTION`` and ``MOTION_MIN_SEP``."""

from __future__ import annotations

import cv2
import numpy as np

from .classic_state import _Track
from .classic_util import _bbox, _dilate


class TwinSearch:
    """Finds, follows and scores an untracked twin of a tracked object (see the module)."""

    W_MOTION: float
    MOTION_MIN_SEP: float
    TWIN_MIN_SEP = 2.0  # internal px per frame by which an untracked look-alike must move differently
    TWIN_KEEP = 15  # frames during which the object is not looked for where its twin was last followed

    def _twin_window(self, t: _Track, h: int, w: int) -> tuple[int, int, int, int]:
        """The part of the frame where a twin of ``t`` matters: its template's box, grown by
        its size."""
        th, tw = t.tmpl.shape
        g = max(th, tw)
        x0, y0 = int(t.pos[0] + t.vel[0]) - g, int(t.pos[1] + t.vel[1]) - g
        return max(0, x0), max(0, y0), min(w, x0 + tw + 2 * g), min(h, y0 + th + 2 * g)

    def _find_twin(self, t: _Track, L: np.ndarray, flow: np.ndarray, rel: np.ndarray, W: np.ndarray,
                   step: tuple[float, float], others: list[np.ndarray | None]) -> np.ndarray | None:
        """An untracked object near ``t`` that looks like it and moves differently (the cup
        the user did not click, carried past this one): pixels next to the object, outside its
        warped mask and every other object's, that look clearly like the object, in one piece
        at least a fifth of its size, moving together at a step clearly not the object's.
        Records it in ``t.twin`` and returns its pixels, or None."""
        h, w = L.shape
        x0, y0, x1, y1 = self._twin_window(t, h, w)
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        cand = (L[y0:y1, x0:x1] > 1.0) & (rel[y0:y1, x0:x1] > 0.5) & ~_dilate(W[y0:y1, x0:x1] > 0.5, 2)
        for o in others:
            if o is not None:
                cand &= ~(o[y0:y1, x0:x1] > 0.5)
        min_area = 0.2 * t.ref_area
        if np.count_nonzero(cand) < min_area:
            return None
        disp = -flow[y0:y1, x0:x1]
        sep = self.TWIN_MIN_SEP
        moving = ((disp[..., 0] - step[0]) ** 2 + (disp[..., 1] - step[1]) ** 2) > sep * sep
        cand &= moving
        n, lab, st, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=8)
        if n < 2:
            return None
        c = 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))
        if not min_area <= st[c, cv2.CC_STAT_AREA] <= 1.5 * t.ref_area:
            return None  # (larger than the object: the background of its colour)
        comp = lab == c
        d = disp[comp]
        s = np.median(d, axis=0)
        if np.hypot(s[0] - step[0], s[1] - step[1]) < sep:
            return None
        # one moving with the object's surroundings must be a whole look-alike (a cup standing
        # still that this one passes), not a patch of the background of its colour (which the
        # motion term already keeps out)
        # (the surroundings: the rest of the twin's search window, whose motion is mostly the
        # camera's; a ring around the object moves along with what carries it, a hand)
        ring = ~_dilate(W[y0:y1, x0:x1] > 0.5, 5) & ~comp & (rel[y0:y1, x0:x1] > 0.5)
        for o in others:
            if o is not None:
                ring &= ~(o[y0:y1, x0:x1] > 0.5)
        if np.count_nonzero(ring) >= 20:
            fb = np.median(disp[ring][::4], axis=0)
            if np.hypot(s[0] - fb[0], s[1] - fb[1]) < sep and st[c, cv2.CC_STAT_AREA] < 0.5 * t.ref_area:
                return None
        # moving together (a rigid thing carried), not scattered flow
        if np.mean(np.hypot(d[:, 0] - s[0], d[:, 1] - s[1]) < 0.5 * sep) < 0.5:
            return None
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = comp
        t.twin = (m, (float(s[0]), float(s[1])))
        t.twin_left = None
        return m

    def _follow_twin(self, t: _Track, L: np.ndarray, flow: np.ndarray, rel: np.ndarray) -> np.ndarray | None:
        """Move ``t``'s twin onto the current frame, by the median motion of its pixels: those
        near where its step puts it that look like the object and move more like the twin
        than like the object. Dropped when it leaves the object's surroundings, is no longer
        seen moving or moves like the object (motion cannot tell them apart then); its last
        place is kept in ``t.twin_left`` for ``TWIN_KEEP`` frames (where the object is not
        looked for: a twin that stopped there). Returns its pixels, or None."""
        h, w = L.shape
        m, s = t.twin
        t.twin = None
        t.twin_left = (m, self.TWIN_KEEP)
        own = t.vel if t.vel_known else (0.0, 0.0)
        sa, sb = np.float32(own), np.float32(s)
        sep2 = float(((sa - sb) ** 2).sum())
        if sep2 < self.TWIN_MIN_SEP ** 2:
            return None  # moving alike: motion cannot tell them apart
        sm = np.float32([[1, 0, s[0]], [0, 1, s[1]]])
        pred = cv2.warpAffine(m.astype(np.uint8), sm, (w, h), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        t.twin_left = (pred, self.TWIN_KEEP)
        x0, y0, x1, y1 = self._twin_window(t, h, w)
        near = np.zeros((h, w), bool)
        near[y0:y1, x0:x1] = True
        pb = _bbox(pred & near)
        if pb is None:
            return None  # gone from the object's surroundings
        pad = 4
        bx0, by0, bx1, by1 = max(0, pb[0] - pad), max(0, pb[1] - pad), min(w, pb[2] + pad), min(h, pb[3] + pad)
        region = _dilate(pred[by0:by1, bx0:bx1], 3) & (L[by0:by1, bx0:bx1] > 0) & (rel[by0:by1, bx0:bx1] > 0.3)
        disp = -flow[by0:by1, bx0:bx1]
        # > 0: moves more like the twin than like the object
        g = 2.0 * (sb - sa)
        c = float((sa ** 2).sum() - (sb ** 2).sum())
        px = region & ((disp[..., 0] * g[0] + disp[..., 1] * g[1] + c) > 0)
        if np.count_nonzero(px) < 0.1 * t.ref_area:
            return None  # no longer seen moving
        d = disp[px]
        s2 = (float(np.median(d[:, 0])), float(np.median(d[:, 1])))
        sm = np.float32([[1, 0, s2[0]], [0, 1, s2[1]]])
        new = cv2.warpAffine(m.astype(np.uint8), sm, (w, h), flags=cv2.INTER_NEAREST,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        grown = new.copy()
        grown[by0:by1, bx0:bx1] |= px
        if np.count_nonzero(grown) <= 1.2 * t.ref_area:  # (not growing into the object)
            new = grown
        t.twin = (new, s2)
        t.twin_left = None
        return new

    def _twin_term(self, score: np.ndarray, flow: np.ndarray, rel: np.ndarray, twin: np.ndarray,
                   step: tuple[float, float], twin_step: tuple[float, float]) -> None:
        """Lower ``score`` (in place) around the twin where a pixel moves like the twin rather
        than like the object (as :meth:`_motion_competition` does between tracked objects;
        twice as much, since the twin has no score of its own to win its pixels with: between
        two tracked objects the two sides' penalties add up)."""
        h, w = score.shape
        bb = _bbox(twin)
        if bb is None:
            return
        sa, sb = np.float32([-step[0], -step[1]]), np.float32([-twin_step[0], -twin_step[1]])
        sep2 = float(((sa - sb) ** 2).sum())
        if sep2 < self.TWIN_MIN_SEP ** 2:
            return
        pad = 6
        x0, y0, x1, y1 = max(0, bb[0] - pad), max(0, bb[1] - pad), min(w, bb[2] + pad), min(h, bb[3] + pad)
        fc = flow[y0:y1, x0:x1]
        g = 2.0 * (sb - sa)
        c = float((sa ** 2).sum() - (sb ** 2).sum())
        d = cv2.addWeighted(fc[..., 0], float(g[0]), fc[..., 1], float(g[1]), c) / sep2
        conf = min(1.0, np.sqrt(sep2) / (4.0 * self.MOTION_MIN_SEP)) * rel[y0:y1, x0:x1]
        score[y0:y1, x0:x1] -= 2.0 * self.W_MOTION * conf * np.clip(d, 0.0, 1.0)
