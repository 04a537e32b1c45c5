"""Mask exporters (export/mask_formats.py) and the shared export helpers (export/common.py)."""

from __future__ import annotations

import errno
import json
import os
import threading

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sam2studio.core.masks import MaskStore
from sam2studio.core.objects import TrackedObject
from sam2studio.errors import Cancelled, UserError
from sam2studio.export.common import (atomic_path, check_cancel, frame_range, resolve_frames,
                                      select_objects)
from sam2studio.export.mask_formats import (export_coco, export_npz, export_palette, export_png,
                                     export_yolo, load_npz_masks, mask_to_polygons,
                                     object_png_name, read_palette_png)
from sam2studio.export.report import export_report

H, W = 90, 160
N = 8


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


def disc_mask(cx, cy, r):
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (int(cx), int(cy)), int(r), 1, -1)
    return m


def ring_mask():
    """A filled square with a square hole in it."""
    m = np.zeros((H, W), np.uint8)
    m[20:70, 60:120] = 1
    m[35:55, 80:100] = 0
    return m


def two_parts_mask(f):
    m = disc_mask(25 + f, 25, 12)
    m |= disc_mask(30, 70, 9)
    return m


@pytest.fixture(scope="module")
def scene():
    """Object 1: a disc in two parts; 2: a square with a hole (overlaps 1 on frame 3);
    3: a moving disc, stored empty on frame 2 and never segmented on frames 5..7."""
    ms = MaskStore(H, W)
    for f in range(N):
        ms.set(f, 1, two_parts_mask(f), score=0.9)
        m2 = ring_mask()
        if f == 3:
            m2[20:40, 20:50] = 1  # overlaps object 1's upper disc
        ms.set(f, 2, m2, score=0.75)
        if f == 2:
            ms.set(f, 3, np.zeros((H, W), np.uint8))
        elif f < 5:
            ms.set(f, 3, disc_mask(130, 20 + 8 * f, 7))
    objects = {1: TrackedObject(1, "left thing"), 2: TrackedObject(2, "frame"),
               3: TrackedObject(3, "ball")}
    return ms, objects


def stored(ms, f, o):
    return ms.get_or_empty(f, o)


# ---- per-object PNGs -------------------------------------------------------------------------
def test_png_export_names_sizes_values_and_objects_json_with_empty_frames(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "pngs"
    export_png(ms, objects, N, out)
    names = sorted(p.name for p in out.iterdir())
    expected = sorted([object_png_name(f, o) for f in range(N) for o in (1, 2, 3)]
                      + ["objects.json"])
    assert names == expected
    assert object_png_name(3, 12) == "frame_0003_obj_12.png"
    for f in range(N):
        for o in (1, 2, 3):
            img = cv2.imread(str(out / object_png_name(f, o)), cv2.IMREAD_UNCHANGED)
            assert img.shape == (H, W) and img.dtype == np.uint8
            assert set(np.unique(img)) <= {0, 255}
            assert np.array_equal(img == 255, stored(ms, f, o))
    # the stored-empty frame 2 and the never-segmented frames 5..7 are all-zero files
    for f in (2, 5, 6, 7):
        assert not cv2.imread(str(out / object_png_name(f, 3)), cv2.IMREAD_UNCHANGED).any()
    meta = json.loads((out / "objects.json").read_text(encoding="utf-8"))
    assert meta["num_frames"] == N and meta["width"] == W and meta["height"] == H
    assert [o["id"] for o in meta["objects"]] == [1, 2, 3]
    ball = meta["objects"][2]
    assert ball["name"] == "ball" and ball["color"] == list(objects[3].color)
    assert ball["frames_present"] == [0, 1, 3, 4]


def test_png_export_of_a_frame_range_and_object_subset(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "sub"
    export_png(ms, objects, N, out, object_ids=[3], frames=range(3, 6))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["frame_0003_obj_3.png", "frame_0004_obj_3.png", "frame_0005_obj_3.png",
                     "objects.json"]
    meta = json.loads((out / "objects.json").read_text())
    assert meta["objects"][0]["frames_present"] == [3, 4]


# ---- palette PNGs ----------------------------------------------------------------------------
def test_palette_pngs_read_back_exactly_with_higher_id_winning_overlaps(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "pal"
    export_palette(ms, objects, N, out)
    assert sorted(p.name for p in out.iterdir()) == [f"{f:05d}.png" for f in range(N)] + ["objects.json"]
    with Image.open(out / "00000.png") as img:
        assert img.mode == "P" and img.size == (W, H)
        pal = img.getpalette()
        assert pal[0:3] == [0, 0, 0]
        for o in (1, 2, 3):
            assert tuple(pal[3 * o:3 * o + 3]) == objects[o].color
    for f in range(N):
        back = read_palette_png(out / f"{f:05d}.png")
        label = np.zeros((H, W), np.uint8)
        for o in (1, 2, 3):
            label[stored(ms, f, o)] = o
        expect = {o: label == o for o in (1, 2, 3) if (label == o).any()}
        assert back.keys() == expect.keys()
        for o in expect:
            assert np.array_equal(back[o], expect[o])
        if f not in (3,):
            for o in expect:  # no overlap: exactly the stored masks
                assert np.array_equal(back[o], stored(ms, f, o))
    overlap = stored(ms, 3, 1) & stored(ms, 3, 2)
    assert overlap.any()
    assert read_palette_png(out / "00003.png")[2][overlap].all()


def test_palette_rejects_ids_above_255(tmp_path):
    ms = MaskStore(4, 4)
    ms.set(0, 300, np.ones((4, 4), np.uint8))
    with pytest.raises(UserError, match="palette"):
        export_palette(ms, {300: TrackedObject(300)}, 1, tmp_path / "p")
    assert not list(tmp_path.iterdir())


# ---- COCO ------------------------------------------------------------------------------------
def test_coco_rle_decodes_to_the_stored_masks_with_matching_bbox_and_area(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "coco.json"
    export_coco(ms, objects, N, out)
    d = json.loads(out.read_text(encoding="utf-8"))
    assert [c["id"] for c in d["categories"]] == [1, 2, 3]
    assert [c["name"] for c in d["categories"]] == ["left thing", "frame", "ball"]
    assert [im["file_name"] for im in d["images"]] == [f"{f:05d}.jpg" for f in range(N)]
    assert all(im["width"] == W and im["height"] == H for im in d["images"])
    frame_of = {im["id"]: im["frame_index"] for im in d["images"]}
    anns = d["annotations"]
    assert len({a["id"] for a in anns}) == len(anns) and min(a["id"] for a in anns) == 1
    seen = set()
    for a in anns:
        f, o = frame_of[a["image_id"]], a["category_id"]
        assert a["track_id"] == o and a["iscrowd"] == 0
        assert isinstance(a["segmentation"]["counts"], str)
        m = mask_utils.decode(a["segmentation"]).astype(bool)
        assert np.array_equal(m, ms.get(f, o))
        ys, xs = np.nonzero(m)
        assert a["area"] == m.sum()
        assert a["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        assert a["score"] == pytest.approx(ms.score(f, o))
        seen.add((f, o))
    # one annotation per non-empty stored mask, none for empty or missing ones
    assert seen == {(f, o) for f, o, e in ms.items() if e.area > 0}
    assert (2, 3) not in seen and (6, 3) not in seen


# ---- YOLO ------------------------------------------------------------------------------------
def rasterise_yolo_lines(lines: list[str]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for line in lines:
        vals = line.split()
        cls = int(vals[0])
        xy = np.array(vals[1:], float).reshape(-1, 2) * [W, H]
        canvas = out.setdefault(cls, np.zeros((H, W), np.uint8))
        cv2.fillPoly(canvas, [np.round(xy).astype(np.int32)], 1)
    return out


def test_yolo_polygons_rasterise_back_with_iou_at_least_095(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "yolo"
    export_yolo(ms, objects, N, out)
    assert (out / "classes.txt").read_text().splitlines() == ["left thing", "frame", "ball"]
    yaml = (out / "data.yaml").read_text()
    assert "nc: 3" in yaml and '0: "left thing"' in yaml and '2: "ball"' in yaml
    for f in range(N):
        lines = (out / f"{f:05d}.txt").read_text().splitlines()
        for line in lines:
            vals = np.array(line.split()[1:], float)
            assert len(vals) >= 6 and len(vals) % 2 == 0
            assert (vals >= 0).all() and (vals <= 1).all()
        classes = [int(s.split()[0]) for s in lines]
        assert classes.count(0) == 2  # object 1 has two separate parts: two lines
        back = rasterise_yolo_lines(lines)
        for cls, o in enumerate((1, 2, 3)):
            m = stored(ms, f, o)
            if not m.any():
                assert cls not in back
                continue
            assert iou(back[cls], m) >= 0.95, (f, o)
        # the hole of object 2 stays empty
        assert not back[1][40:50, 85:95].any()
    assert len(list(out.glob("*.txt"))) == N + 1  # every frame + classes.txt


def test_yolo_frame_without_masks_gets_an_empty_label_file(tmp_path):
    ms = MaskStore(H, W)
    ms.set(0, 1, disc_mask(50, 40, 10))
    export_yolo(ms, {1: TrackedObject(1)}, 3, tmp_path / "y")
    assert (tmp_path / "y" / "00001.txt").read_text() == ""
    assert (tmp_path / "y" / "00002.txt").read_text() == ""
    assert (tmp_path / "y" / "00000.txt").read_text().startswith("0 ")


def test_mask_to_polygons_splices_holes_and_keeps_small_shapes():
    m = ring_mask()
    polys = mask_to_polygons(m)
    assert len(polys) == 1  # hole spliced into the outer polygon through a zero-width cut
    back = np.zeros((H, W), np.uint8)
    cv2.fillPoly(back, [np.round(p).astype(np.int32) for p in polys], 1)
    assert iou(back, m) >= 0.97 and not back[36:54, 81:99].any()
    # a tiny and a thin part still give valid polygons (>= 3 points) covering them
    small = np.zeros((H, W), np.uint8)
    small[10, 10] = 1
    small[30:33, 50] = 1
    polys = mask_to_polygons(small)
    assert len(polys) == 2 and all(len(p) >= 3 for p in polys)
    back = np.zeros((H, W), np.uint8)
    cv2.fillPoly(back, [np.round(p).astype(np.int32) for p in polys], 1)
    assert np.array_equal(back.astype(bool), small.astype(bool))
    assert mask_to_polygons(np.zeros((5, 5), bool)) == []


# ---- NPZ -------------------------------------------------------------------------------------
def test_npz_loads_back_to_the_stored_masks(scene, tmp_path):
    ms, objects = scene
    out = tmp_path / "masks.npz"
    export_npz(ms, objects, N, out, frames=range(1, N))
    with np.load(out) as z:  # a plain NPZ archive
        assert set(z.files) == {"masks", "object_ids", "names", "categories", "colors", "frames", "present",
                                "width", "height"}
        packed = z["masks"]
        assert packed.dtype == np.uint8 and packed.shape == (3, N - 1, H, (W + 7) // 8)
        assert list(z["object_ids"]) == [1, 2, 3]
        assert list(z["names"]) == ["left thing", "frame", "ball"]
        assert list(z["frames"]) == list(range(1, N))
        assert z["colors"].tolist() == [list(objects[o].color) for o in (1, 2, 3)]
    d = load_npz_masks(out)
    assert d["masks"].shape == (3, N - 1, H, W) and d["masks"].dtype == bool
    for i, o in enumerate((1, 2, 3)):
        for j, f in enumerate(range(1, N)):
            assert np.array_equal(d["masks"][i, j], stored(ms, f, o))
            assert d["present"][i, j] == stored(ms, f, o).any()
    # the layout documented in export_npz
    raw = np.unpackbits(packed, axis=-1, count=W).astype(bool)
    assert np.array_equal(raw, d["masks"])


# ---- atomic output, cancel, errors -----------------------------------------------------------
EXPORTERS = {
    "png": (export_png, "pngs"),
    "palette": (export_palette, "pal"),
    "coco": (export_coco, "coco.json"),
    "yolo": (export_yolo, "yolo"),
    "npz": (export_npz, "masks.npz"),
}


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_cancelled_export_leaves_nothing_under_the_final_name(scene, tmp_path, kind):
    ms, objects = scene
    fn, name = EXPORTERS[kind]
    cancel = threading.Event()
    calls = []

    def progress(done, total):
        calls.append((done, total))
        if done == total // 2:
            cancel.set()

    with pytest.raises(Cancelled):
        fn(ms, objects, N, tmp_path / name, progress=progress, cancel=cancel)
    assert calls and calls[-1][0] < calls[-1][1]
    assert list(tmp_path.iterdir()) == []  # neither the final name nor a temporary


def test_cancelled_report_leaves_nothing(scene, tmp_path):
    ms, objects = scene
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        export_report(ms, objects, N, 25.0, tmp_path / "r.json", width=W, height=H,
                      cancel=cancel)
    assert list(tmp_path.iterdir()) == []


def test_progress_counts_every_frame(scene, tmp_path):
    ms, objects = scene
    calls = []
    export_palette(ms, objects, N, tmp_path / "p", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, N) for i in range(1, N + 1)]


@pytest.mark.parametrize("kind", sorted(EXPORTERS))
def test_unwritable_location_is_a_user_error(scene, tmp_path, kind):
    ms, objects = scene
    fn, name = EXPORTERS[kind]
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write"):
        fn(ms, objects, N, blocker / name)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_read_only_folder_is_a_user_error(scene, tmp_path):
    ms, objects = scene
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(UserError, match="permission denied"):
            export_coco(ms, objects, N, ro / "c.json")
    finally:
        ro.chmod(0o700)


def test_full_disk_while_writing_is_a_user_error_and_cleans_up(tmp_path):
    final = tmp_path / "big.mp4"
    with pytest.raises(UserError, match=r"cannot write .*big\.mp4: the disk is full"):
        with atomic_path(final) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp.name.startswith(".")
            tmp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_inside_a_worker_thread_is_a_user_error_and_leaves_nothing(
        scene, tmp_path, monkeypatch):
    import sam2studio.export.mask_formats as mod
    ms, objects = scene
    real = mod._encode_png
    calls = []

    def failing(img):
        calls.append(1)
        if len(calls) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(img)

    monkeypatch.setattr(mod, "_encode_png", failing)
    with pytest.raises(UserError, match="the disk is full"):
        export_png(ms, objects, N, tmp_path / "pngs", workers=3)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_files_and_flat_folders_but_refuses_folders_with_subfolders(
        tmp_path):
    f = tmp_path / "a.json"
    f.write_text("old")
    with atomic_path(f) as tmp:
        tmp.write_text("new")
    assert f.read_text() == "new"

    d = tmp_path / "export"
    d.mkdir()
    (d / "stale.png").write_text("stale")
    with atomic_path(d, directory=True) as tmp:
        assert tmp.is_dir()
        (tmp / "fresh.png").write_text("fresh")
    assert sorted(p.name for p in d.iterdir()) == ["fresh.png"]

    (d / "sub").mkdir()
    with pytest.raises(UserError, match="contains folders"):
        with atomic_path(d, directory=True):
            pass
    with pytest.raises(UserError, match="is a folder"):
        with atomic_path(d):
            pass
    with pytest.raises(UserError, match="is a file"):
        with atomic_path(f, directory=True):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "export"]


def test_unknown_object_id_is_a_user_error(scene, tmp_path):
    ms, objects = scene
    with pytest.raises(UserError) as exc:
        export_png(ms, objects, N, tmp_path / "x", object_ids=[1, 7])
    assert str(exc.value) == "object 7 does not exist; objects are 1, 2, 3."
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="there are no objects"):
        select_objects({}, [4])
    assert select_objects(objects, None) == [1, 2, 3]
    assert select_objects(objects, [3, 1, 3]) == [1, 3]


def test_frame_range_validation():
    assert frame_range(10) == range(10)
    assert frame_range(10, 2, 5) == range(2, 5)
    assert resolve_frames(10, range(0, 10, 3)) == range(0, 10, 3)
    for args in [(10, -1, None), (10, 10, None), (10, 3, 3), (10, 0, 11), (0, None, None)]:
        with pytest.raises(UserError):
            frame_range(*args)
    with pytest.raises(UserError):
        resolve_frames(10, range(5, 12))
    with pytest.raises(UserError):
        resolve_frames(10, range(4, 4))


def test_check_cancel():
    check_cancel(None)
    ev = threading.Event()
    check_cancel(ev)
    ev.set()
    with pytest.raises(Cancelled):
        check_cancel(ev)
