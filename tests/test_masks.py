"""MaskStore keeps masks compressed, tells empty from missing, and clears ranges."""

from __future__ import annotations

import numpy as np

from sam2studio.core.masks import MaskStore
from sam2studio.engines.base import ObjectMask


def disc(cx, cy, r=8, h=60, w=80):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_masks_round_trip_compressed_with_presence_and_scores():
    store = MaskStore(60, 80)
    for f in range(10):
        store.set(f, 1, disc(10 + f, 20), score=0.9)
    store.set(3, 2, np.zeros((60, 80), bool), score=0.1)
    store.put_result(4, {2: ObjectMask(disc(50, 30), 0.7)})
    assert np.array_equal(store.get(5, 1), disc(15, 20))
    assert store.get(5, 2) is None  # never segmented
    assert store.has(3, 2) and store.area(3, 2) == 0  # segmented, absent
    assert store.present_frames(2) == [4] and store.frames(2) == [3, 4]
    assert store.presence(2, 6).tolist() == [False, False, False, False, True, False]
    assert store.score(4, 2) == 0.7
    assert set(store.frame_masks(4)) == {1, 2}
    assert store.nbytes() < 10 * 60 * 80 / 8  # far below even bit-packed raw masks


def test_clear_range_and_remove_object_are_recorded_for_incremental_saves():
    store = MaskStore(60, 80)
    for f in range(10):
        store.set(f, 1, disc(10, 20))
        store.set(f, 2, disc(40, 20))
    rev = store.revision
    assert store.clear_range(3, 5, objects=[1]) == 3
    assert store.frames(1) == [0, 1, 2, 6, 7, 8, 9]
    store.remove_object(2)
    store.set(0, 1, disc(11, 20))
    changed, removed = store.changes_since(rev)
    assert [(f, o) for f, o, _ in changed] == [(0, 1)]
    assert sorted(removed) == sorted([(f, 1) for f in (3, 4, 5)] + [(f, 2) for f in range(10)])
    assert store.objects() == [1]
