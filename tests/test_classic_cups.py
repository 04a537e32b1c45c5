"""The classic engine on the bundled sample's shell game: identical red cups passing each other.

On frames 45-82 of ``resources/sample/cups.mp4`` the middle cup is lifted, carried behind the
left cup to the far left (motion-blurred, hidden for a few frames), then carried back in front
of it to the middle, while a hand reaches over the left cup. The cups look exactly alike, so
only their motion tells them apart. Where each cup stands was found by watching the clip
frame by frame; the cups are the only saturated red in it, so a colour threshold gives each
cup's pixels (its red region).

The README's first session clicks the ball and two of the cups, not the third: that cup,
carried past a tracked one, must not take its mask along (frames 88-130), and the ball under a
cup must stay empty while the cups are shuffled over it (frames 30-80).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam2studio import Session

SAMPLE = Path(__file__).resolve().parents[1] / "resources" / "sample" / "cups.mp4"
# one worker runs the file, so each clip is tracked once (a module fixture is made per worker)
pytestmark = pytest.mark.xdist_group("classic_cups")

START, END = 45, 82
CLICKS = {"left": (387, 400), "middle": (653, 400)}  # on frame START, inside each cup
# x of each cup's centre (1280x720) where they stand apart: after the middle cup went behind
# the left one to the far left (60), and after it came back in front of it (82)
WHERE = {60: {"left": 386, "middle": 183}, 82: {"left": 396, "middle": 660}}


def red_cup_near(rgb: np.ndarray, x: float) -> np.ndarray:
    """The red region (a cup) whose centre is nearest to ``x``."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    red = (((h >= 172) | (h <= 6)) & (s >= 120) & (v >= 90)).astype(np.uint8)
    n, lab, st, cen = cv2.connectedComponentsWithStats(red, connectivity=8)
    big = [j for j in range(1, n) if st[j, cv2.CC_STAT_AREA] > 10000]
    return lab == min(big, key=lambda j: abs(cen[j][0] - x))


@contextmanager
def sample_tracked(clicks: dict, start: int, end: int):
    """A session on the sample with one object per click on frame ``start``, tracked forward to
    ``end``; yields the session and each name's object id."""
    with Session.open(SAMPLE, engine="classic") as s:
        ids = {}
        for name, (x, y) in clicks.items():
            ids[name] = s.add_object(name).id
            s.add_click(start, ids[name], x, y)
        for _f, _res in s.propagate(start, "forward", frame_range=(start, end)):
            pass
        yield s, ids


@pytest.fixture(scope="module")
def tracked():
    with sample_tracked(CLICKS, START, END) as (s, ids):
        out = {}
        for f, where in WHERE.items():
            rgb = s.video.get_frame(f)
            out[f] = {name: (s.mask(f, ids[name]), red_cup_near(rgb, x)) for name, x in where.items()}
        yield out


@pytest.mark.parametrize("frame", sorted(WHERE))
def test_identical_cups_passing_each_other_keep_their_own_cup_whole(tracked, frame):
    masks = tracked[frame]
    for name, (mask, cup) in masks.items():
        other = next(c for n, (_m, c) in masks.items() if n != name)
        cover = np.count_nonzero(mask & cup) / np.count_nonzero(cup)
        on_other = np.count_nonzero(mask & other) / np.count_nonzero(other)
        assert cover >= 0.8, f"frame {frame}: the {name} cup's mask covers {cover:.0%} of it"
        assert on_other <= 0.1, f"frame {frame}: the {name} cup's mask covers {on_other:.0%} of the other cup"


# The README's first session, on frames 88-130: the middle and right cups clicked, the left cup
# not. On frames ~95-108 the right cup is carried behind the middle one to the left while the
# untracked left cup is carried in front of the middle one, a hand over it, to the right; the
# middle cup stands still at x ~670 throughout.
NEWCOMER_START, NEWCOMER_END = 88, 130
NEWCOMER_CLICKS = {"middle": (640, 400), "right": (870, 400)}
MIDDLE_X = 670
NEWCOMER_CHECKS = (113, 120, 130)  # the three cups stand apart again


def red_cups(rgb: np.ndarray) -> list[np.ndarray]:
    """Every red region the size of a cup."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    red = (((h >= 172) | (h <= 6)) & (s >= 120) & (v >= 90)).astype(np.uint8)
    n, lab, st, _cen = cv2.connectedComponentsWithStats(red, connectivity=8)
    return [lab == j for j in range(1, n) if st[j, cv2.CC_STAT_AREA] > 10000]


@pytest.fixture(scope="module")
def newcomer():
    with sample_tracked(NEWCOMER_CLICKS, NEWCOMER_START, NEWCOMER_END) as (s, ids):
        out = {}
        for f in NEWCOMER_CHECKS:
            rgb = s.video.get_frame(f)
            out[f] = (s.mask(f, ids["middle"]), red_cup_near(rgb, MIDDLE_X), red_cups(rgb))
        yield out


@pytest.mark.parametrize("frame", NEWCOMER_CHECKS)
def test_still_cup_stays_put_when_an_untracked_twin_is_carried_past_it(newcomer, frame):
    mask, cup, cups = newcomer[frame]
    assert len(cups) == 3, f"frame {frame}: the three cups should stand apart"
    cover = np.count_nonzero(mask & cup) / np.count_nonzero(cup)
    assert cover >= 0.8, f"frame {frame}: the middle cup's mask covers {cover:.0%} of it"
    for other in cups:
        if np.count_nonzero(other & cup) == 0:
            on_other = np.count_nonzero(mask & other) / np.count_nonzero(other)
            assert on_other <= 0.1, f"frame {frame}: the middle cup's mask covers {on_other:.0%} of another cup"


BALL_CLICK = (400, 462)  # frame 0; the left cup is put over the ball on frames ~20-28
BALL_HIDDEN = (30, 80)  # under the left cup (the cups are shuffled, a hand over them at 70-76)


def test_ball_under_a_cup_stays_empty_until_it_shows_again():
    with sample_tracked({"ball": BALL_CLICK}, 0, BALL_HIDDEN[1]) as (s, ids):
        ball = ids["ball"]
        assert np.count_nonzero(s.mask(10, ball)) > 2000  # seen before the cup covers it
        shown = [f for f in range(BALL_HIDDEN[0], BALL_HIDDEN[1] + 1)
                 if s.mask(f, ball) is not None and s.mask(f, ball).any()]
        assert shown == [], f"the ball's mask shows on frames {shown} while it is under a cup"
