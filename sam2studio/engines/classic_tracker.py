"""The classic engine's tracker: one propagation step for every tracked object (flow-warped
masks, amodal templates, appearance, motion and look-alike competition, hiding, re-detection),
the anchor a propagation starts from, and the thin objects' full-size masks (see
:mod:`.classic` for the method). A part of :class:`.classic.ClassicEngine`: it works on the
engine's frames, flow and objects."""

from __future__ import annotations

import cv2
import numpy as np

from . import classic_thin
from .classic_state import _Object, _Snapshot, _Track
from .classic_twin import TwinSearch
from .classic_util import (
    _align,
    _at_border,
    _bbox,
    _dilate,
    _erode,
    _fill_holes,
    _Frame,
    _hist,
    _kernel,
    _log_ratio,
    _paste,
    _paste_soft,
    _ring,
    _rle,
    _sigmoid,
    _smooth_hist,
    _unrle,
)


def _fill_holes_seen(m: np.ndarray, allowed: np.ndarray, max_hole: float, prev: np.ndarray | None,
                     small: float = 0.05) -> np.ndarray:
    """Fill the holes of a propagated mask ``m`` (only where ``allowed``): those up to
    ``small`` of its area (speckles the scoring left), and those up to ``max_hole`` that the
    object mostly covered on the previous frame (``prev``: its warped mask); a larger hole
    that was open on the previous frame too is the open space of a thin object (a wheel's
    inside, the gap between a rider's legs), whatever its size against the mask."""
    filled = _fill_holes(m, allowed=allowed, max_hole=max_hole)
    holes = filled & ~m
    if not holes.any():
        return filled
    n, lab, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    area = max(1, np.count_nonzero(m))
    cover = np.bincount(lab.ravel(), weights=(prev if prev is not None else np.zeros(m.shape, np.float32)).ravel(),
                        minlength=n)
    keep_open = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] > small * area
                 and cover[i] < 0.5 * stats[i, cv2.CC_STAT_AREA]]
    if keep_open:
        filled &= ~np.isin(lab, keep_open)
    return filled


class Tracker(TwinSearch):
    """The per-frame tracking of :class:`.classic.ClassicEngine` (see the module)."""

    # scoring weights (log-likelihood units)
    W_WARP = 2.0  # agreement with the flow-warped previous mask
    W_SHAPE = 1.5  # agreement with the amodal template moved by the velocity
    MATCH_RADIUS = 8  # internal px searched around the expected place by _match_shift
    W_MOTION = 3.0  # moving like the object rather than like its surroundings
    MOTION_MIN_SEP = 1.0  # object / surroundings flow difference (internal px) for the motion term
    MOTION_FAST = 8.0  # object / surroundings flow difference (internal px) from which the penalty spares its inside
    LR_CLIP = 4.0
    HIDE_FRACTION = 0.03  # visible area / template area under which an object is hidden
    FG_RATE = 0.08  # appearance adaptation per frame
    BG_RATE = 0.3
    SHAPE_RATE = 0.25  # how fast the amodal template follows the visible mask
    REDETECT_AFTER = 15  # hidden frames after which the whole frame is searched
    REDETECT_SIMILARITY = 0.8  # colour-histogram similarity a re-detection needs
    MAX_HOLE = 0.5  # holes up to this share of the mask's area may be filled (a wheel's inside is larger)
    SMALL_HOLE = 0.05  # holes up to this share are always filled (speckles); larger ones only
    # where the object covered them on the previous frame
    GROW_LIMIT = 1.3  # visible area / the prompt's above which a mask is held to its template
    LOST_SCORE = 0.65  # score / the prompt's score under which a mask may have been left behind
    RELOCATE_MARGIN = 0.5  # how much better (mean log-ratio) a new place must be to move a shrunk object
    W_STRAY = 3.0  # moving like the surroundings on the earlier frames (persistent motion evidence)
    STRAY_RATE = 0.35  # how fast that evidence follows each frame's
    SHAPE_MIN_AREA = 0.75  # visible area / the template's from which the template learns the shape
    SHAPE_MIN_SCORE = 0.85  # score / the prompt's from which it does (not from a blurred, eroded mask)
    COAST_JUMP = 3.0  # internal px per frame by which a measured step must leave the speed to be doubted
    RELOCATE_REACH = 20.0  # frames of its speed (plus its size) within which a seen object may be moved
    COVERED_SHARE = 0.3  # share of its shape under another object from which an object is not searched for
    COAST_MARGIN = 0.25  # mean log-ratio by which the measured place must look better to be believed
    COAST_EDGES = True  # clear of other tracked objects, that mean taken over the pixels the two places do not share
    VANISH_SHARE = 0.3  # visible area / template area under which a mask must look like the object
    RETURN_APPEARANCE = 0.5  # mean appearance (sigmoid of the log-ratio) a hidden object needs to be seen again
    RETURN_GLOBAL = 0.6  # the same against the whole frame's colours, where its surroundings hold its own
    HOLD_SEEN = 3  # frames in a row an object must have been seen to be held in sight
    HOLD_APPEARANCE = 0.35  # appearance (either) under which an object held in sight is dropped
    THIN_WIDTH = 6.0  # internal px: mean width up to which a tracked object is thin (a bicycle ~4.5, a person 15+)
    THIN_MIN_AREA = 150  # internal px: a smaller object is small, not thin
    THIN_MIN_PART = 3  # px: a thin object keeps the smaller pieces its warp or template support (a rim broken by light)
    # a thin object's scoring leans on its template (its prompt's shape, moved as a whole)
    # more than on the previous mask warped: a tube lost on one frame (its pixels mixed with
    # the background's, a dark handlebar over dark shade) is not lost for good
    W_WARP_THIN = 1.0
    W_SHAPE_THIN = 2.5
    CARRY_SEARCH = 2  # full-size pixels around its expected place searched for a thin object's prompt mask
    CARRY_MIN = 0.7  # share of a thin object's refined mask its prompt's moved mask must cover to be used
    THIN_HOLE = 0.005  # a thin object's holes up to this share of its area are always filled (not 5%: its gaps)

    def _carry_full(self, t: _Track, m: np.ndarray) -> np.ndarray:
        """A thin object's full-size mask ``m`` (refined on this frame) made of its prompt's
        full-size mask moved by how far it moved since (``t.full``, ``t.shift``), where that
        lies within a pixel of ``m``: the tubes' outlines are the prompt's, not those the
        internal resolution blurs and this frame's colours re-decide. A rigid move; when the
        moved mask no longer covers :attr:`CARRY_MIN` of ``m`` (the object turned, came nearer,
        its prompt's mask is no longer its shape) ``m`` is kept and the prompt's mask dropped."""
        bb = _bbox(t.full)
        if bb is None or not m.any():
            return m
        H, W = m.shape
        sx, sy = W / self._small[0], H / self._small[1]
        dx, dy = t.shift[0] * sx, t.shift[1] * sy
        X0, Y0 = max(0, int(np.floor(bb[0] + dx)) - 1), max(0, int(np.floor(bb[1] + dy)) - 1)
        X1, Y1 = min(W, int(np.ceil(bb[2] + dx)) + 1), min(H, int(np.ceil(bb[3] + dy)) + 1)
        if X1 <= X0 or Y1 <= Y0:
            t.full = None
            return m
        src = t.full[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
        M = np.float32([[1, 0, bb[0] + dx - X0], [0, 1, bb[1] + dy - Y0]])
        moved = cv2.warpAffine(src, M, (X1 - X0, Y1 - Y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
        # the internal resolution places it to a pixel or so (two or three full-size ones,
        # as wide as a tube): the place within CARRY_SEARCH full-size pixels where it covers
        # this frame's mask best
        r = self.CARRY_SEARCH
        pad = np.zeros((Y1 - Y0 + 2 * r, X1 - X0 + 2 * r), bool)
        pad[r:r + Y1 - Y0, r:r + X1 - X0] = moved
        ref = np.zeros_like(pad)
        ry0, rx0 = Y0 - r, X0 - r
        cy0, cx0 = max(0, ry0), max(0, rx0)
        cy1, cx1 = min(H, Y1 + r), min(W, X1 + r)
        ref[cy0 - ry0:cy1 - ry0, cx0 - rx0:cx1 - rx0] = m[cy0:cy1, cx0:cx1]
        best, best_o = -1.0, (0, 0)
        n_ref, n_pad = np.count_nonzero(ref), np.count_nonzero(pad)
        # nearest offsets first: a tie stays nearest the expected place
        offsets = [(a, b) for a in range(-r, r + 1) for b in range(-r, r + 1)]
        for oy, ox in sorted(offsets, key=lambda v: v[0] ** 2 + v[1] ** 2):
            inter = np.count_nonzero(np.roll(pad, (oy, ox), axis=(0, 1)) & ref)
            score = inter / max(1, n_pad + n_ref - inter)
            if score > best + 1e-9:
                best, best_o = score, (oy, ox)
        moved_full = np.zeros_like(m)
        sh = np.roll(pad, best_o, axis=(0, 1))
        moved_full[cy0:cy1, cx0:cx1] = sh[cy0 - ry0:cy1 - ry0, cx0 - rx0:cx1 - rx0]
        t.shift = (t.shift[0] + best_o[1] / sx, t.shift[1] + best_o[0] / sy)
        moved = moved_full
        out = moved & _dilate(m, 1)
        if np.count_nonzero(out) < self.CARRY_MIN * np.count_nonzero(m):
            t.full = None
            return m
        return out

    def _anchor(self, o: _Object, f: int, fr: _Frame, sign: int, old: _Track | None, keyframe: bool) -> _Track:
        """Tracking state of ``o`` on frame ``f`` from its prompt there (or the cache)."""
        fg_anchor = _smooth_hist(sum(kf.hist for kf in o.keyframes.values()))
        if keyframe:
            vis = _unrle(o.keyframes[f].small)
            sn = o.cache.get(f)
            if old is not None:
                vel, known = old.vel, old.vel_known
            elif sn is not None:
                vel, known = (sn.vel[0] * sign, sn.vel[1] * sign), True
            else:
                vel, known = (0.0, 0.0), False
            tmpl, pos, ref, hidden = None, (0.0, 0.0), 0.0, 0
            bb = _bbox(vis)
            if bb is not None:
                tmpl = vis[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
                pos = (float(bb[0]), float(bb[1]))
                ref = float(np.count_nonzero(vis))
                h, w = vis.shape
                if _at_border(bb, w, h):
                    # a prompt on an object partly out of the frame shows only part of it:
                    # keep the whole shape known from tracking (re-aligned on what is seen),
                    # or the object would come back in as the sliver it was here
                    whole = self._known_shape(o, f, old)
                    if whole is not None and whole[2] > 1.25 * ref:
                        canvas = _paste_soft(whole[0], whole[1], (h, w))
                        d = _align(canvas, vis, np.ones((h, w), bool), radius=max(3, min(whole[0].shape) // 4))
                        tmpl, pos, ref = whole[0], (whole[1][0] + d[0], whole[1][1] + d[1]), whole[2]
            else:
                # an empty mask prompt: the object is absent here; keep what is known of its
                # shape so that it can be found again later
                hidden = 1
                src = old
                if src is not None and src.tmpl is not None:
                    tmpl, pos, ref, hidden = src.tmpl, src.pos, src.ref_area, max(1, src.hidden)
                elif sn is not None and sn.tmpl is not None:
                    tmpl, pos, ref = _unrle(sn.tmpl).astype(np.float32), sn.pos, sn.ref_area
            score = o.keyframes[f].score
        else:
            sn = o.cache[f]
            vis = _unrle(sn.vis)
            tmpl = None if sn.tmpl is None else _unrle(sn.tmpl).astype(np.float32)
            pos, ref, hidden, score = sn.pos, sn.ref_area, sn.hidden, sn.score
            vel, known = (sn.vel[0] * sign, sn.vel[1] * sign), True
        fg = fg_anchor
        if keyframe and o.keyframes[f].hist.sum() > 0:
            fg = 0.5 * _smooth_hist(o.keyframes[f].hist) + 0.5 * fg_anchor
        bg = self._ring_hist(fr, vis if vis.any() else (None if tmpl is None else _paste(tmpl >= 0.5, pos, vis.shape)))
        thin = self._is_thin(tmpl)
        return _Track(vis=vis, tmpl=tmpl, pos=pos, vel=vel, vel_known=known, hidden=hidden, ref_area=ref,
                      fg=fg, fg_anchor=fg_anchor, bg=bg, score=score, anchor_area=ref,
                      anchor_score=self._prompt_score(fr, vis) if keyframe else score,
                      thin=thin, full=_unrle(o.keyframes[f].mask) if thin and keyframe and vis.any() else None)

    def _looks_back(self, t: _Track, cur: _Frame, R: np.ndarray) -> bool:
        """Whether ``R``, what is left of (or grows back of) a hidden, re-found or vanishing
        object ``t`` on ``cur``, looks like it. Against its surroundings (its appearance model)
        on the whole at least :attr:`RETURN_APPEARANCE`; or against the whole frame (the
        re-detection's test: surroundings that hold its colours, a look-alike beside it, make
        it look like them) at least :attr:`RETURN_GLOBAL`. An object seen on the last
        :attr:`HOLD_SEEN` frames in a row, away from the frame's border, is only dropped on strong
        evidence (either under :attr:`HOLD_APPEARANCE`): a mask that blinks off and on while it
        is in sight is worse than one that stays."""
        app = float(np.mean(_sigmoid(t.lut[cur.bins[R]])))
        if app >= self.RETURN_APPEARANCE:
            return True
        glob = _log_ratio(t.fg, _smooth_hist(cur.global_hist), self.LR_CLIP)
        appg = float(np.mean(_sigmoid(glob[cur.bins[R]])))
        bb = _bbox(R)
        h, w = R.shape
        at_border = _at_border(bb, w, h)
        if t.hidden == 0 and t.seen >= self.HOLD_SEEN and not t.refound and not at_border:
            # (not at the frame's border: what is left there of an object is more likely its
            # last part going out of the frame)
            return max(app, appg) >= self.HOLD_APPEARANCE
        return appg >= self.RETURN_GLOBAL

    def _is_thin(self, tmpl: np.ndarray | None) -> bool:
        """Whether an object of amodal template ``tmpl`` is thin: its mean width (twice its
        area over its outline) at most :attr:`THIN_WIDTH` internal pixels, and not tiny."""
        if tmpl is None:
            return False
        m = tmpl >= 0.5
        a = np.count_nonzero(m)
        return a >= self.THIN_MIN_AREA and classic_thin._width(m) <= self.THIN_WIDTH

    def _redetect(self, fr: _Frame, t: _Track, exclude: np.ndarray, better_than: float | None = None
                  ) -> tuple[float, float] | None:
        """Where the hidden object ``t`` reappears on ``fr``: the template-sized window with the
        highest mean colour log-likelihood ratio (object model against the whole frame),
        accepted when its colour histogram is similar enough to the object's (Bhattacharyya
        coefficient). Returns the template's new top-left corner, or None. With
        ``better_than`` (a lost object that is still partly seen), the window must also score
        that much more than the template's current place and lie clear of it."""
        tm = t.tmpl >= 0.5
        bb = _bbox(tm)
        if bb is None:
            return None
        tm = tm[bb[1]:bb[3], bb[0]:bb[2]]
        th, tw = tm.shape
        h, w = fr.bins.shape
        lut = _log_ratio(t.fg_anchor, _smooth_hist(fr.global_hist), self.LR_CLIP)
        P = lut[fr.bins]
        P[exclude] = -self.LR_CLIP
        S = cv2.boxFilter(P, -1, (max(1, tw), max(1, th)), borderType=cv2.BORDER_CONSTANT)
        y, x = np.unravel_index(int(np.argmax(S)), S.shape)
        if S[y, x] <= 0.3:
            return None
        x0, y0 = x - tw // 2, y - th // 2
        if better_than is not None:
            cx = int(round(t.pos[0] + bb[0] + tw // 2))
            cy = int(round(t.pos[1] + bb[1] + th // 2))
            here = float(S[min(h - 1, max(0, cy)), min(w - 1, max(0, cx))])
            if S[y, x] < here + better_than or (abs(x - cx) < 0.5 * tw and abs(y - cy) < 0.5 * th):
                return None
        win = _paste(tm, (x0, y0), (h, w)) & ~exclude
        if np.count_nonzero(win) < 0.25 * tm.size:
            return None
        q = _smooth_hist(_hist(fr.bins, win))
        if float(np.sum(np.sqrt(q * t.fg_anchor))) < self.REDETECT_SIMILARITY:
            return None
        return float(x0 - bb[0]), float(y0 - bb[1])

    def _ring_hist(self, fr: _Frame, m: np.ndarray | None, exclude: np.ndarray | None = None) -> np.ndarray:
        """Colour histogram of a band around ``m`` (its local surroundings), leaving out
        ``exclude`` (the other tracked objects: an object next to one that looks the same, a
        cup beside its twin, must not learn its own colours as background)."""
        if m is None or not m.any():
            return _smooth_hist(fr.global_hist)
        r = max(6, int(0.35 * np.sqrt(np.count_nonzero(m))))
        ring = _ring(m, 2, r)
        if exclude is not None:
            ring &= ~exclude
        if np.count_nonzero(ring) < 20:
            return _smooth_hist(fr.global_hist)
        return _smooth_hist(_hist(fr.bins, ring))

    def _known_shape(self, o: _Object, f: int, old: _Track | None
                     ) -> tuple[np.ndarray, tuple[float, float], float] | None:
        """``(template, position, area)`` of ``o``'s amodal shape near frame ``f``: the running
        track's, or that of a cached state on a neighbouring frame; None when unknown."""
        if old is not None and old.tmpl is not None:
            return old.tmpl, old.pos, old.ref_area
        for g in (f - 1, f + 1, f):
            sn = o.cache.get(g)
            if sn is not None and sn.tmpl is not None:
                return _unrle(sn.tmpl).astype(np.float32), sn.pos, sn.ref_area
        return None

    def _match_shift(self, prev: _Frame, cur: _Frame, vis: np.ndarray, guess: tuple[float, float],
                     radius: int | None = None) -> tuple[float, float] | None:
        """The object's displacement from ``prev`` to ``cur``: where its pixels on ``prev``
        (``vis`` and a pixel around it, for the contrast of its outline) best match ``cur``
        (masked sum of squared differences, within ``radius`` of ``guess``, sub-pixel).
        None when the best match lies on the search window's limit."""
        h, w = vis.shape
        bb = _bbox(vis)
        if bb is None:
            return None
        pad = 2
        x0, y0, x1, y1 = max(0, bb[0] - pad), max(0, bb[1] - pad), min(w, bb[2] + pad), min(h, bb[3] + pad)
        m = _dilate(vis[y0:y1, x0:x1], 1).astype(np.float32)
        tmpl = prev.gray[y0:y1, x0:x1].astype(np.float32)
        gx, gy = int(round(guess[0])), int(round(guess[1]))
        r = int(radius or self.MATCH_RADIUS)
        # the search window, cut by the frame (an object at the border cannot move past it)
        sx0, sy0 = max(0, x0 + gx - r), max(0, y0 + gy - r)
        sx1, sy1 = min(w, x1 + gx + r), min(h, y1 + gy + r)
        if sx1 - sx0 < x1 - x0 + 2 or sy1 - sy0 < y1 - y0 + 2:
            return None
        area = cur.gray[sy0:sy1, sx0:sx1].astype(np.float32)
        res = cv2.matchTemplate(area, tmpl, cv2.TM_SQDIFF, mask=m)
        iy, ix = np.unravel_index(int(np.argmin(res)), res.shape)
        # a best match on the search limit (not the frame's edge) may lie farther: no answer
        if (ix == 0 and sx0 > 0) or (iy == 0 and sy0 > 0) or \
                (ix == res.shape[1] - 1 and sx1 < w) or (iy == res.shape[0] - 1 and sy1 < h):
            return None

        def sub(a, b, c):
            den = a - 2 * b + c
            return 0.0 if den <= 0 else float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))

        dx = sx0 + ix - x0 + (sub(res[iy, ix - 1], res[iy, ix], res[iy, ix + 1]) if 0 < ix < res.shape[1] - 1 else 0.0)
        dy = sy0 + iy - y0 + (sub(res[iy - 1, ix], res[iy, ix], res[iy + 1, ix]) if 0 < iy < res.shape[0] - 1 else 0.0)
        return float(dx), float(dy)

    def _far_step(self, prev: _Frame, cur: _Frame, t: _Track, vb: tuple[int, int, int, int],
                  avoid: np.ndarray | None) -> tuple[float, float] | None:
        """The step of an object that moved far from where its speed puts it (the flow lost
        it: a ball kicked, blurred), which may take a small object farther than its own size in
        one frame: where its pixels of the previous frame match best (:meth:`_match_shift`)
        within twice its size (``vb``: its box) of where its speed puts it, at most a quarter
        of the frame. None when they match nowhere in that reach (the best match on the
        search's limit), or when the match puts its shape largely on ``avoid`` (its twin, or
        where one was last followed: a look-alike matches as well)."""
        h, w = t.vis.shape
        size = max(vb[2] - vb[0], vb[3] - vb[1])
        r = int(min(2 * size, max(h, w) // 4))
        if r <= self.MATCH_RADIUS:
            return None
        return self._match_clear_of(prev, cur, t, r, avoid)

    def _match_clear_of(self, prev: _Frame, cur: _Frame, t: _Track, radius: int,
                        avoid: np.ndarray | None) -> tuple[float, float] | None:
        """:meth:`_match_shift` of ``t``'s visible pixels within ``radius`` of where its speed
        puts it; None when it matches nowhere, or when the step puts its shape (template) more
        than :attr:`COVERED_SHARE` on ``avoid`` (a look-alike matches there as well)."""
        found = self._match_shift(prev, cur, t.vis, t.vel, radius)
        if found is None or avoid is None or t.tmpl is None:
            return found
        m = _paste(t.tmpl >= 0.5, (t.pos[0] + found[0], t.pos[1] + found[1]), t.vis.shape)
        if np.count_nonzero(m & avoid) > self.COVERED_SHARE * max(1, np.count_nonzero(m)):
            return None
        return found

    def _motion_term(self, score: np.ndarray, flow: np.ndarray, rel: np.ndarray, W: np.ndarray,
                     step: tuple[float, float], others: list[np.ndarray | None],
                     vis: np.ndarray | None = None) -> np.ndarray | None:
        """Subtract from ``score`` (in place) where a pixel near the object moves like its
        surroundings rather than like the object: where the object's own motion (``step``)
        differs from the background's around it (camera motion), a pixel whose flow is the
        background's is unlikely to be the object (the trail of uncovered background a
        warped mask drags along). Only a penalty: flow bleeds a few pixels past an object's
        outline, so moving like the object is no evidence of being it. Weighted by the flow's
        reliability. Returns the penalty's strength per pixel (0..1, the whole frame), or None
        where motion said nothing."""
        h, w = score.shape
        m = W > 0.5
        bb = _bbox(m)
        if bb is None:
            return None
        a = float(np.count_nonzero(m))
        r = max(4, int(0.3 * np.sqrt(a)))
        x0, y0 = max(0, bb[0] - 2 * r), max(0, bb[1] - 2 * r)
        x1, y1 = min(w, bb[2] + 2 * r), min(h, bb[3] + 2 * r)
        mc = m[y0:y1, x0:x1]
        ring = _ring(mc, 3, r) & (rel[y0:y1, x0:x1] > 0.5)
        for o in others:
            if o is not None:
                ring &= ~(o[y0:y1, x0:x1] > 0.5)
        if np.count_nonzero(ring) < 20:
            return None
        fc = flow[y0:y1, x0:x1]
        fb = np.median(fc[ring], axis=0)
        fo = np.float32([-step[0], -step[1]])
        sep2 = float(((fo - fb) ** 2).sum())
        if sep2 < self.MOTION_MIN_SEP ** 2:
            return None  # the object moves with its surroundings: motion says nothing
        # |f - fb|^2 - |f - fo|^2 = 2 f.(fo - fb) + |fb|^2 - |fo|^2 (linear in the flow)
        a = 2.0 * (fo - fb)
        c = float((fb ** 2).sum() - (fo ** 2).sum())
        diff = cv2.addWeighted(fc[..., 0], float(a[0]), fc[..., 1], float(a[1]), c)
        mt = np.clip(diff / sep2, -1.0, 0.0)  # flow bleeds past edges: only a penalty
        conf = min(1.0, np.sqrt(sep2) / (2.0 * self.MOTION_MIN_SEP))
        pen = np.zeros((h, w), np.float32)
        pen[y0:y1, x0:x1] = (-conf) * mt * rel[y0:y1, x0:x1]
        if vis is not None and self.MOTION_FAST > 0 and sep2 >= self.MOTION_FAST ** 2:
            # a fast object (against its surroundings): its inside, blurred, has little texture
            # of its own and the flow there is mostly smoothed in from around it, the
            # background's; such a pixel is no trail. The trail lies outside the object's
            # previous mask moved rigidly by its step (what it uncovered): the penalty stays
            # there and at the mask's edge, and is lifted a pixel inside it
            sm = np.float32([[1, 0, x0 - step[0]], [0, 1, y0 - step[1]]])  # crop <- previous frame
            moved = cv2.warpAffine(vis.astype(np.uint8), sm, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST
                                   | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            pen[y0:y1, x0:x1][_erode(moved > 0, 1)] = 0.0
        score[y0:y1, x0:x1] -= self.W_MOTION * pen[y0:y1, x0:x1]
        return pen

    @staticmethod
    def _company(t: _Track, step: tuple[float, float], others: list[np.ndarray | None]) -> bool:
        """Whether another tracked object's warped mask (``others``) lies within reach of
        ``t``'s visible mask: its speed or ``step``, whichever is larger, plus 8 px. (Not a
        followed look-alike: on cluttered footage one is often followed that is only the
        background's colours, and the objects then could never stop.)"""
        bb = _bbox(t.vis)
        if bb is None:
            return False
        h, w = t.vis.shape
        r = int(np.ceil(max(np.hypot(*t.vel), np.hypot(*step)))) + 8
        x0, y0, x1, y1 = max(0, bb[0] - r), max(0, bb[1] - r), min(w, bb[2] + r), min(h, bb[3] + r)
        return any(o is not None and (o[y0:y1, x0:x1] > 0.5).any() for o in others)

    @staticmethod
    def _edge_evidence(L: np.ndarray, tmpl: np.ndarray, pa: tuple[float, float], pb: tuple[float, float],
                       min_px: int = 12) -> tuple[float, float] | None:
        """Mean appearance log-ratio ``L`` over the pixels the template covers placed at ``pa``
        but not at ``pb``, and over those it covers at ``pb`` but not at ``pa`` (pixels outside
        the frame count -1). Two placements a few pixels apart share most of a large object's
        pixels, which say nothing of which is right: only the edges they leave and take do
        (a blurred object that stopped leaves the background where it would have gone). None
        when either part is under ``min_px`` pixels."""
        h, w = L.shape
        tm = tmpl >= 0.5
        th, tw = tm.shape
        ax, ay = int(round(pa[0])), int(round(pa[1]))
        bx, by = int(round(pb[0])), int(round(pb[1]))
        X0, Y0 = min(ax, bx), min(ay, by)
        X1, Y1 = max(ax, bx) + tw, max(ay, by) + th
        lc = np.full((Y1 - Y0, X1 - X0), -1.0, np.float32)
        fx0, fy0, fx1, fy1 = max(0, X0), max(0, Y0), min(w, X1), min(h, Y1)
        if fx1 > fx0 and fy1 > fy0:
            lc[fy0 - Y0:fy1 - Y0, fx0 - X0:fx1 - X0] = L[fy0:fy1, fx0:fx1]
        A = np.zeros(lc.shape, bool)
        B = np.zeros(lc.shape, bool)
        A[ay - Y0:ay - Y0 + th, ax - X0:ax - X0 + tw] = tm
        B[by - Y0:by - Y0 + th, bx - X0:bx - X0 + tw] = tm
        oa, ob = A & ~B, B & ~A
        if np.count_nonzero(oa) < min_px or np.count_nonzero(ob) < min_px:
            return None
        return float(lc[oa].mean()), float(lc[ob].mean())

    @staticmethod
    def _window_evidence(L: np.ndarray, tmpl: np.ndarray, pos: tuple[float, float]) -> float:
        """Mean appearance log-ratio ``L`` over the template's pixels placed at ``pos``
        (pixels outside the frame count as -1: an object does not go there unseen)."""
        h, w = L.shape
        tm = tmpl >= 0.5
        n = np.count_nonzero(tm)
        if n == 0:
            return -1.0
        m = _paste(tm, pos, (h, w))
        inside = np.count_nonzero(m)
        return (float(L[m].sum()) - (n - inside)) / n

    def _motion_competition(self, scores: np.ndarray, ids: list[int], steps: dict[int, tuple[float, float]],
                            flow: np.ndarray, rel: np.ndarray, warped: dict[int, np.ndarray | None],
                            shapes: dict[int, np.ndarray | None]) -> None:
        """Where two objects meet and move differently, a pixel whose flow is one's step
        rather than the other's is unlikely to be the other's (``scores``, planes 1.. in the
        order of ``ids``, lowered in place). Two objects that look the same (identical cups
        passing each other) cannot be told apart by colour; which way a pixel moves can:
        without this the one passing behind keeps the pixels of the one passing in front and
        is dragged along with it. Only a penalty, weighted by the flow's reliability."""
        h, w = rel.shape
        boxes = {}
        for k in ids:
            m = None
            if warped[k] is not None:
                m = warped[k] > 0.5
            if shapes[k] is not None:
                m = (shapes[k] > 0.5) if m is None else (m | (shapes[k] > 0.5))
            boxes[k] = None if m is None else _bbox(m)
        for a_i, ka in enumerate(ids):
            for b_i in range(a_i + 1, len(ids)):
                kb = ids[b_i]
                ba, bb = boxes[ka], boxes[kb]
                if ba is None or bb is None:
                    continue
                pad = 4
                if ba[0] > bb[2] + pad or bb[0] > ba[2] + pad or ba[1] > bb[3] + pad or bb[1] > ba[3] + pad:
                    continue  # apart: nothing to tell
                sa = np.float32([-steps[ka][0], -steps[ka][1]])  # flow of a pixel of a (cur -> prev)
                sb = np.float32([-steps[kb][0], -steps[kb][1]])
                sep2 = float(((sa - sb) ** 2).sum())
                if sep2 < (2.0 * self.MOTION_MIN_SEP) ** 2:
                    continue  # they move alike: motion says nothing
                x0, y0 = max(0, min(ba[0], bb[0]) - pad), max(0, min(ba[1], bb[1]) - pad)
                x1, y1 = min(w, max(ba[2], bb[2]) + pad), min(h, max(ba[3], bb[3]) + pad)
                fc = flow[y0:y1, x0:x1]
                # |f - sa|^2 - |f - sb|^2 = 2 f.(sb - sa) + |sa|^2 - |sb|^2, in units of sep2:
                # -1 where the pixel moves exactly like a, +1 exactly like b
                g = 2.0 * (sb - sa)
                c = float((sa ** 2).sum() - (sb ** 2).sum())
                d = cv2.addWeighted(fc[..., 0], float(g[0]), fc[..., 1], float(g[1]), c) / sep2
                conf = min(1.0, np.sqrt(sep2) / (4.0 * self.MOTION_MIN_SEP)) * rel[y0:y1, x0:x1]
                ia, ib = 1 + a_i, 1 + b_i
                scores[ia, y0:y1, x0:x1] -= self.W_MOTION * conf * np.clip(d, 0.0, 1.0)
                scores[ib, y0:y1, x0:x1] -= self.W_MOTION * conf * np.clip(-d, 0.0, 1.0)

    def _remember(self, o: _Object, f: int, t: _Track, sign: int) -> None:
        o.cache[f] = _Snapshot(vis=_rle(t.vis), tmpl=None if t.tmpl is None else _rle(t.tmpl >= 0.5), pos=t.pos,
                               vel=(t.vel[0] * sign, t.vel[1] * sign), hidden=t.hidden, ref_area=t.ref_area,
                               score=t.score)
        o.cache.move_to_end(f)
        while len(o.cache) > self.cache_frames:
            o.cache.popitem(last=False)

    def _step(self, prev: _Frame, cur: _Frame, tracks: dict[int, _Track]) -> None:
        """Move every track from ``prev`` to ``cur`` (the heart of the engine)."""
        h, w = cur.gray.shape
        flow = self._dis.calc(cur.gray, prev.gray, None)  # cur(x) ~ prev(x + flow(x))
        maps = self._grid + flow
        # forward-backward consistency: where the two flows disagree (disocclusions, motion
        # boundaries) the warped masks are not trusted and appearance decides
        fwd = self._dis.calc(prev.gray, cur.gray, None)
        back = cv2.remap(fwd, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        bf = back + flow
        err = cv2.magnitude(bf[..., 0], bf[..., 1])
        mag = cv2.magnitude(flow[..., 0], flow[..., 1])
        rel = np.exp(-((err / (0.75 + 0.1 * mag)) ** 2)).astype(np.float32)
        rel = cv2.GaussianBlur(rel, (0, 0), 1.0)
        ids = sorted(tracks)
        warped: dict[int, np.ndarray] = {}
        for k in ids:
            t = tracks[k]
            if t.vis.any():
                warped[k] = cv2.remap(t.vis.astype(np.float32), maps, None, cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            else:
                warped[k] = None
        scores = np.zeros((len(ids) + 1, h, w), np.float32)  # 0: background
        shapes: dict[int, np.ndarray | None] = {}
        raw_shapes: dict[int, np.ndarray] = {}
        steps: dict[int, tuple[float, float]] = {}
        twins: dict[int, np.ndarray | None] = {}
        for j, k in enumerate(ids, start=1):
            t = tracks[k]
            W = warped[k]
            t.lut = _log_ratio(t.fg, t.bg, self.LR_CLIP)
            L = t.lut[cur.bins]
            # motion: median displacement of the pixels the warp keeps for this object (only
            # from its interior, away from other objects, where the flow is consistent, and
            # only while most of it is visible: the motion model must not learn the
            # occluder's motion). Hidden objects coast at their last velocity.
            step = t.vel
            measured = False
            far = False  # the step found far from the speed, by matching (the flow lost the object)
            twin = self._follow_twin(t, L, flow, rel) if t.twin is not None else None
            # (a twin, or where one was last followed, is no place to look for the object)
            avoid = None if twin is None else twin.copy()
            if t.twin_left is not None:
                avoid = t.twin_left[0].copy() if avoid is None else (avoid | t.twin_left[0])
                t.twin_left = (t.twin_left[0], t.twin_left[1] - 1) if t.twin_left[1] > 1 else None
            if W is not None and t.thin and t.hidden == 0:
                # tubes a few pixels wide: the flow there is smoothed into the background's;
                # match the object's own pixels and move it as a whole
                found = self._match_shift(prev, cur, t.vis, t.vel)
                if found is not None:
                    step, measured = found, True
            if not measured and W is not None and np.count_nonzero(t.vis) >= 0.4 * t.ref_area:
                core = _erode(W > 0.5, 3) & (rel > 0.5)
                if twin is not None:
                    core &= ~_dilate(twin, 3)
                for k2 in ids:
                    if k2 != k and warped[k2] is not None:
                        core &= ~_dilate(warped[k2] > 0.5, 5)
                n = np.count_nonzero(core)
                vb = _bbox(t.vis)
                at_edge = _at_border(vb, w, h)
                if t.refound and not t.vel_known and at_edge:
                    # just found again at the frame's border, speed unknown: the flow has
                    # little to go on there; match the object's pixels, searching widely
                    found = self._match_shift(prev, cur, t.vis, t.vel, 2 * self.MATCH_RADIUS)
                    if found is not None:
                        step, measured = found, True
                if not measured and n >= max(12, 0.15 * t.ref_area):
                    d = flow[core]
                    if n > 4000:
                        d = d[:: n // 4000]
                    step = (-float(np.median(d[:, 0])), -float(np.median(d[:, 1])))
                    measured = True
                elif not measured:
                    # too thin (or too covered) for an interior the flow can be read in: match
                    # the object's own pixels of the previous frame on this one instead
                    found = self._match_shift(prev, cur, t.vis, t.vel)
                    if (found is None and vb is not None and t.tmpl is not None
                            and np.count_nonzero(t.vis) >= self.SHAPE_MIN_AREA * t.ref_area):
                        # not near where its speed puts it: a sudden fast move (a ball kicked,
                        # blurred: the flow loses it), which may take a small object farther
                        # than its own size in one frame; search as far as twice its size.
                        # Only for an object seen whole (one partly covered loses its flow to
                        # its coverer), and not onto its twin (which would match as well)
                        found = self._far_step(prev, cur, t, vb, avoid)
                        far = found is not None
                    if found is not None:
                        step, measured = found, True
            sb = _bbox(t.vis) if not measured and W is not None and t.hidden == 0 else None
            if (sb is not None and t.tmpl is not None and t.vel_known
                    and np.hypot(*t.vel) >= self.COAST_JUMP
                    and not _at_border(sb, w, h)
                    and not self._company(t, t.vel, [warped[k2] for k2 in ids if k2 != k])):
                # seen, too small a part of it for the flow, clear of the other tracked objects,
                # of any look-alike followed beside it and of the frame's border: nothing
                # tracked covers it, so its speed is not known to be kept; its own pixels say
                # where it went (a speed last measured many frames ago would carry its
                # template off, out of the frame). At the border it coasts: going out (or
                # coming in), the most of it is not seen. Not onto a look-alike followed
                # beside it (an untracked cup carried past it: its pixels match the twin's
                # as well): a step that puts its shape largely there is not taken.
                # (searching as far as its speed: it may have stopped, landing from a jump)
                found = self._match_clear_of(prev, cur, t, int(self.MATCH_RADIUS + np.hypot(*t.vel)), avoid)
                if found is not None:
                    step, measured = found, True
                    t.vel = (0.5 * found[0] + 0.5 * t.vel[0], 0.5 * found[1] + 0.5 * t.vel[1])
            if t.tmpl is not None and t.hidden > 0:
                tmpl_area = float(np.count_nonzero(t.tmpl >= 0.5)) or 1.0
                inside = float(np.count_nonzero(_paste(t.tmpl >= 0.5, t.pos, (h, w)))) / tmpl_area
                if inside < 0.2:
                    # gone off-screen: wait at the border; how it will come back is unknown
                    step = (0.0, 0.0)
                    t.vel, t.vel_known = (0.0, 0.0), False
                if inside < 0.5 or t.hidden > self.REDETECT_AFTER:
                    # the motion model has lost it: look for it over the whole frame
                    exclude = np.zeros((h, w), bool) if avoid is None else avoid
                    for k2 in ids:
                        if k2 != k and warped[k2] is not None:
                            exclude |= warped[k2] > 0.5
                    found = self._redetect(cur, t, exclude)
                    if found is not None:
                        t.found_at(found)
                        step = (0.0, 0.0)
            elif t.tmpl is not None and (np.count_nonzero(t.vis) < 0.6 * max(t.ref_area, 0.8 * t.anchor_area)
                                         or t.score < self.LOST_SCORE * t.anchor_score):
                # seen, but much smaller than it should be or much less like itself, clear of
                # other objects: the mask may have been left behind (a fast move) and hold
                # on to the background; look for a far
                # better place over the whole frame, and move there
                tm = t.tmpl >= 0.5
                inside = float(np.count_nonzero(_paste(tm, t.pos, (h, w)))) / (float(np.count_nonzero(tm)) or 1.0)
                exclude = np.zeros((h, w), bool) if avoid is None else avoid
                for k2 in ids:
                    if k2 != k and warped[k2] is not None:
                        exclude |= warped[k2] > 0.5
                # (an object half out of the frame is smaller as it should be; unless it
                # also looks much less like itself: then what is left at the border is not it)
                lost = t.score < self.LOST_SCORE * t.anchor_score
                # (and one that moves as its speed says, its motion measured on this frame, is
                # not left behind: partly covered, by a hand, a twin passing in front)
                steady = t.vel_known and np.hypot(step[0] - t.vel[0], step[1] - t.vel[1]) <= max(
                    self.COAST_JUMP, 0.4 * np.hypot(*t.vel)) and np.hypot(*t.vel) >= self.COAST_JUMP
                # (nor one whose shape lies largely under another object's mask: covered by
                # it, as a cup its twin passes in front of)
                moved = _paste(tm, (t.pos[0] + step[0], t.pos[1] + step[1]), (h, w))
                under = np.count_nonzero(moved & exclude) > self.COVERED_SHARE * max(1, np.count_nonzero(moved))
                if ((inside >= 0.5 or lost) and not steady and not under
                        and not (_dilate(t.vis, 4) & exclude).any()):
                    # compared with where the motion measured on this frame puts it
                    here = t.pos
                    t.pos = (here[0] + step[0], here[1] + step[1])
                    found = self._redetect(cur, t, exclude, better_than=self.RELOCATE_MARGIN)
                    t.pos = here
                    reach = max(tm.shape) + self.RELOCATE_REACH * np.hypot(*t.vel)
                    if (found is not None
                            and np.hypot(found[0] - here[0] - step[0], found[1] - here[1] - step[1]) > reach):
                        # a slow object does not go far unseen: what looks like it farther
                        # away is another object (its twin across the table); it is covered
                        # where it is (a hand over it)
                        found = None
                    if (found is not None
                            and self._window_evidence(L, t.tmpl, (here[0] + step[0], here[1] + step[1]))
                            > self._window_evidence(L, t.tmpl, found) - self.RELOCATE_MARGIN):
                        # its shape where it is looks about as much like it as at the new
                        # place: partly covered (a hand over it, blurred), not left behind on
                        # the background; the new place is likelier another object that looks
                        # the same
                        found = None
                    if found is not None:
                        t.found_at(found)
                        step = (0.0, 0.0)
                        warped[k] = W = None
            coasting = False
            if (measured and W is not None and t.vel_known and t.hidden == 0 and t.tmpl is not None
                    and np.hypot(step[0] - t.vel[0], step[1] - t.vel[1])
                    > max(self.COAST_JUMP, 0.4 * np.hypot(*t.vel))):
                # a fast object whose pixels seem to have stopped (or turned) at once: either it
                # did, or it went behind something that looks like it (a cup passing behind its
                # twin) and the flow measured the twin. Its whole shape, where its speed puts it,
                # decides: kept when it looks at least as much like the object there as where
                # the flow puts it (a real stop leaves that place on the background). Clear of
                # the other tracked objects (none can have passed over it): then
                # only the edges the two places do not share decide (a large object, blurred,
                # landing from a jump: the two places share most of its pixels, which say
                # nothing, and it would coast on into the floor, its mask left on it)
                p_pred = (t.pos[0] + t.vel[0], t.pos[1] + t.vel[1])
                p_meas = (t.pos[0] + step[0], t.pos[1] + step[1])
                edges = None
                if self.COAST_EDGES and not self._company(t, step, [warped[k2] for k2 in ids if k2 != k]):
                    edges = self._edge_evidence(L, t.tmpl, p_pred, p_meas)
                if edges is not None:
                    e_pred, e_meas = edges
                else:
                    e_pred = self._window_evidence(L, t.tmpl, p_pred)
                    e_meas = self._window_evidence(L, t.tmpl, p_meas)
                if e_pred >= e_meas - self.COAST_MARGIN:
                    step, measured, coasting = t.vel, False, True
            steps[k] = step
            if W is not None and (not measured or t.thin or far) and t.hidden == 0 and t.tmpl is not None:
                # mostly covered: what is left of it lies at the edge of whatever covers it,
                # where the flow is the coverer's; moved by the flow it would be dragged along
                # with it (a cup passing in front of its twin, a hand over it). It moves as a
                # whole at its own speed instead; so does a thin object (the flow smooths its
                # tubes into the background around them)
                sm = np.float32([[1, 0, step[0]], [0, 1, step[1]]])
                warped[k] = W = cv2.warpAffine(t.vis.astype(np.float32), sm, (w, h), flags=cv2.INTER_LINEAR,
                                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if t.tmpl is not None:
                t.pos = (t.pos[0] + step[0], t.pos[1] + step[1])
                A = _paste_soft(t.tmpl, t.pos, (h, w))
                raw_shapes[k] = A
                sig = 0.8 + min(4.0, 0.4 * t.hidden)
                if t.hidden > 0:  # the longer it is hidden, the less sure where it is
                    A = cv2.dilate(A, _kernel(int(min(6, 1 + 0.5 * t.hidden))))
                A = cv2.GaussianBlur(A, (0, 0), sig)
            else:
                A = None
            shapes[k] = A
            # where the flow is not trusted, the warped mask gives way to the shape prediction
            Wb = cv2.GaussianBlur(W, (0, 0), 1.0) if W is not None else np.zeros((h, w), np.float32)
            Af = A if A is not None else np.zeros((h, w), np.float32)
            Wt = rel * Wb + (1.0 - rel) * Af
            ww, ws = (self.W_WARP_THIN, self.W_SHAPE_THIN) if t.thin else (self.W_WARP, self.W_SHAPE)
            prior = ww * (2.0 * Wt - 1.0) + ws * (2.0 * Af - 1.0)
            scores[j] = L + prior
            if twin is None and t.twin is None and W is not None and t.tmpl is not None and t.hidden == 0:
                twin = self._find_twin(t, L, flow, rel, W, step, [warped[k2] for k2 in ids if k2 != k])
            if twin is not None:
                self._twin_term(scores[j], flow, rel, twin, step, t.twin[1])
            twins[k] = twin
            pen = None
            if (measured or coasting) and warped[k] is not None:
                pen = self._motion_term(scores[j], flow, rel, W, step, [warped[k2] for k2 in ids if k2 != k],
                                        t.vis)
            # a part that moved like the surroundings on the earlier frames too is the
            # background it was mistaken with (a patch the click took, a trail), not a part
            # of the object that briefly lost its flow: the evidence builds up over frames,
            # moving with the object
            hist = None
            if t.stray is not None and t.hidden == 0:
                sm = np.float32([[1, 0, step[0]], [0, 1, step[1]]])
                hist = cv2.warpAffine(t.stray, sm, (w, h), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                scores[j] -= self.W_STRAY * hist
            if pen is not None:
                t.stray = self.STRAY_RATE * pen + ((1.0 - self.STRAY_RATE) * hist if hist is not None else 0.0)
            else:
                t.stray = None if hist is None else (1.0 - self.STRAY_RATE) * hist
        self._motion_competition(scores, ids, steps, flow, rel, warped, shapes)
        # the best-scoring object per pixel (0: background); one pass per object over
        # contiguous planes (an argmax across the planes is several times slower)
        label = np.zeros((h, w), np.int32)
        best = scores[0].copy()
        for j in range(1, len(ids) + 1):
            better = scores[j] > best
            label[better] = j
            np.maximum(best, scores[j], out=best)
        owned = label > 0
        new_vis: dict[int, np.ndarray] = {}
        for j, k in enumerate(ids, start=1):
            t = tracks[k]
            R = label == j
            if R.any():
                # a median filter drops speckles; parts the warped mask carries over (thin
                # tubes, limbs a couple of pixels wide) are not speckles and stay
                Rm = cv2.medianBlur(R.astype(np.uint8), 5) > 0
                if t.thin:
                    # a thin object's gaps (between tubes, a wheel's spokes) are not
                    # speckles either: the filter only removes
                    Rm &= R
                if warped[k] is not None:
                    Rm |= R & (warped[k] > 0.5)
                R = Rm & ((label == j) | ~owned)
                # keep the parts that the warp or the template support
                support = np.zeros((h, w), bool)
                if warped[k] is not None:
                    support |= warped[k] > 0.5
                if shapes[k] is not None:
                    support |= shapes[k] > 0.5
                rb = _bbox(R)
                if rb is not None:
                    bx0, by0, bx1, by1 = rb  # components found in the mask's box only (faster)
                    Rc, Sc = R[by0:by1, bx0:bx1], support[by0:by1, bx0:bx1]
                    n, lab, stats, _ = cv2.connectedComponentsWithStats(Rc.astype(np.uint8), connectivity=8)
                    keep = []
                    min_area = self.THIN_MIN_PART if t.thin else max(8, 0.01 * t.ref_area)
                    for c in range(1, n):
                        if stats[c, cv2.CC_STAT_AREA] < min_area:
                            continue
                        x0, y0 = stats[c, cv2.CC_STAT_LEFT], stats[c, cv2.CC_STAT_TOP]
                        x1, y1 = x0 + stats[c, cv2.CC_STAT_WIDTH], y0 + stats[c, cv2.CC_STAT_HEIGHT]
                        if (Sc[y0:y1, x0:x1] & (lab[y0:y1, x0:x1] == c)).any():
                            keep.append(c)
                    R = np.zeros((h, w), bool)
                    if keep:
                        R[by0:by1, bx0:bx1] = np.isin(lab, keep)
                if R.any():
                    R = _fill_holes_seen(R, ~owned | (label == j), self.MAX_HOLE, warped[k],
                                         self.THIN_HOLE if t.thin else self.SMALL_HOLE)
            new_vis[k] = R
        for k in ids:
            t = tracks[k]
            R = new_vis[k]
            a = float(np.count_nonzero(R))
            leaky = False
            if (t.anchor_area > 0 and a > self.GROW_LIMIT * t.anchor_area and k in raw_shapes
                    and t.hidden == 0):
                # much larger than on its prompt: a leak into similar colours (or a trail
                # left on what it uncovers) is likelier than the object growing that fast;
                # keep what lies near its template
                near_shape = _dilate(raw_shapes[k] > 0.5, max(1, int(0.05 * np.sqrt(t.anchor_area))))
                leaky = True  # the shape and appearance models do not learn from this frame
                if np.count_nonzero(R & near_shape) >= 0.5 * t.anchor_area:
                    R = R & near_shape
                    a = float(np.count_nonzero(R))
            prev_a = float(np.count_nonzero(t.vis))
            if t.ref_area > 0 and a < self.HIDE_FRACTION * t.ref_area:
                R = np.zeros((h, w), bool)
                a = 0.0
            elif (a > 0 and (t.refound or t.hidden > 0 or a < self.VANISH_SHARE * t.ref_area)
                  and not self._looks_back(t, cur, R)):
                # hidden (or just found again), and what grows back where it is expected
                # looks on the whole more like its surroundings than like it: something else
                # (fingertips beside the cup the ball is under), not the object coming back;
                # the same for the last small part of an object going out of sight (the rim
                # of the cup put over the ball)
                R = np.zeros((h, w), bool)
                a = 0.0
            if a == 0:
                t.full = None
                t.vis = R
                t.hidden += 1
                t.seen = 0
                t.score = 0.0
                continue
            t.hidden = 0
            t.seen += 1
            # appearance agreement and area consistency
            app = float(np.mean(_sigmoid(t.lut[cur.bins[R]])))
            cons = min(a, prev_a) / max(a, prev_a) if prev_a > 0 else 0.5
            t.score = float(np.clip(app * (0.5 + 0.5 * cons), 0.0, 1.0))
            # unobstructed: not touching another object or the frame border -> new template
            others = np.zeros((h, w), bool) if twins[k] is None else twins[k].copy()
            for k2 in ids:
                if k2 != k:
                    others |= new_vis[k2]
            # re-align the amodal template on what is visible of the object (only where
            # no other object covers it): corrects the coasting position after occlusion
            d = (0.0, 0.0)
            over_twin = twins[k] is not None and k in raw_shapes and bool(
                (twins[k] & _dilate(raw_shapes[k] > 0.5, 2)).any())
            if k in raw_shapes and a >= 0.1 * t.ref_area:
                # (by a pixel only while a look-alike passes over it: what is seen of it then
                # may be the twin's)
                rad = 1 if over_twin else 3
                if t.realign:
                    rad = max(3, min(t.tmpl.shape) // 2)
                    t.realign = False
                d = _align(raw_shapes[k], R, ~others, radius=rad)
                if d != (0.0, 0.0):
                    t.pos = (t.pos[0] + d[0], t.pos[1] + d[1])
                    raw_shapes[k] = _paste_soft(t.tmpl, t.pos, (h, w))
            if t.full is not None:
                t.shift = (t.shift[0] + steps[k][0] + d[0], t.shift[1] + steps[k][1] + d[1])
            # velocity: flow step + alignment (not while a twin passes over it), learnt only
            # while (almost) all of the object is seen on both frames
            if a >= 0.6 * t.ref_area and prev_a >= 0.6 * t.ref_area:
                mv = steps[k] if over_twin else (steps[k][0] + d[0], steps[k][1] + d[1])
                if t.vel_known:
                    t.vel = (0.5 * mv[0] + 0.5 * t.vel[0], 0.5 * mv[1] + 0.5 * t.vel[1])
                else:
                    t.vel, t.vel_known = mv, True
                t.refound = False
            near = _dilate(R, 2)
            bb = _bbox(R)
            at_border = _at_border(bb, w, h)
            free = not (near & others).any() and not at_border and not leaky
            if free and (t.tmpl is None or (a >= self.SHAPE_MIN_AREA * t.ref_area
                                            and t.score >= self.SHAPE_MIN_SCORE * t.anchor_score)):
                # the shape follows what is seen, slowly (a leak on one frame must not
                # become the object's shape)
                M = R.astype(np.float32)
                if k in raw_shapes:
                    M = (1.0 - self.SHAPE_RATE) * raw_shapes[k] + self.SHAPE_RATE * M
                mb = _bbox(M > 0.02)
                t.tmpl = M[mb[1]:mb[3], mb[0]:mb[2]].copy()
                t.pos = (float(mb[0]), float(mb[1]))
                t.ref_area = float(np.count_nonzero(M >= 0.5))
                # appearance adapts slowly, anchored on the prompts
                fh = _smooth_hist(_hist(cur.bins, R))
                t.fg = (1 - self.FG_RATE) * t.fg + self.FG_RATE * (0.5 * fh + 0.5 * t.fg_anchor)
            elif t.tmpl is None:
                t.tmpl = R[bb[1]:bb[3], bb[0]:bb[2]].astype(np.float32)
                t.pos = (float(bb[0]), float(bb[1]))
                t.ref_area = a
            around = (R | (shapes[k] > 0.5)) if shapes[k] is not None else R
            t.bg = (1 - self.BG_RATE) * t.bg + self.BG_RATE * self._ring_hist(cur, around, others)
            t.vis = R
