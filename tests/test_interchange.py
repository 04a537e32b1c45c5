"""Interchange: object classes, the YouTube-VIS / CVAT / MOTS / DAVIS exports, import of every
format, exact round trips and files written by other tools' conventions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sam2studio import Session
from sam2studio.core.objects import TrackedObject, class_table
from sam2studio.core.project import Project
from sam2studio.core.prompts import FramePrompt
from sam2studio.core.video import ArrayVideo
from sam2studio.errors import UserError
from sam2studio.export.cvat_video import cvat_rle_to_mask, mask_to_cvat_rle

H, W, N = 60, 96, 20


# ---- the generated clip ------------------------------------------------------------------
def _disc(cx, cy, r):
    m = np.zeros((H, W), np.uint8)
    cv2.circle(m, (int(cx), int(cy)), int(r), 1, -1)
    return m.astype(bool)


def clip_masks() -> dict[int, dict[int, np.ndarray]]:
    """Ground truth of the generated clip: object -> frame -> mask (frames missing = never
    segmented). Object 1 (a disc) moves right, leaves the frame on frames 8-12 and comes back;
    object 2 (a square with a hole) is absent on frames 5-7 and overlaps object 1 on frame 2;
    object 3 (two parts) is never segmented before frame 3 and leaves for good after 15."""
    gt: dict[int, dict[int, np.ndarray]] = {1: {}, 2: {}, 3: {}}
    for f in range(N):
        x = 20 + 12 * f if f < 8 else (W + 30 if f <= 12 else W - 8 - 6 * (f - 13))
        gt[1][f] = _disc(x, 20, 9) if f < 8 or f > 12 else np.zeros((H, W), bool)
        sq = np.zeros((H, W), bool)
        if not 5 <= f <= 7:
            sq[28 + f % 3:52, 40:70] = True
            sq[36:44, 50:58] = False
            if f == 2:
                sq[15:25, 40:50] = True  # overlaps object 1 (at x = 44)
        gt[2][f] = sq
        if f >= 3:
            two = np.zeros((H, W), bool)
            if f <= 15:
                two[2:10, 70 + f % 4:80 + f % 4] = True
                two[50:57, 5:12] = True
            gt[3][f] = two
    return gt


def make_video() -> ArrayVideo:
    rng = np.random.default_rng(7)
    frames = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(N)]
    return ArrayVideo(frames, fps=25.0)


@pytest.fixture()
def source_session():
    """A session on the clip: three objects with names, classes (two share "person"), colours,
    scores and prompt frames."""
    s = Session.open(make_video(), engine="classic")
    s.project.add_category("person", 4)  # class ids need not start at 1
    s.add_object("rider 1", category="person", obj_id=1)
    s.add_object("board", obj_id=2)  # no class: exported as its own class, named "board"
    s.add_object("rider 2", category="person", obj_id=3)
    for o, frames in clip_masks().items():
        for f, m in frames.items():
            s.masks.set(f, o, m, score=0.5 + 0.02 * f)
    for o, f in [(1, 0), (1, 14), (2, 0), (3, 4)]:
        s.project.prompts.set(f, o, FramePrompt.from_mask(clip_masks()[o][f]))
    yield s
    s.close()


def fresh_session() -> Session:
    return Session.open(make_video(), engine="classic")


def tree(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` (or the file itself) -> its bytes."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def npz_arrays(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


# ---- classes ---------------------------------------------------------------------------
def test_object_classes_are_saved_and_old_projects_without_them_still_load(tmp_path, source_session):
    p = source_session.save(tmp_path / "a.s2s")
    back = Project.load(p)
    assert back.objects[1].category == "person" and back.objects[3].category == "person"
    assert back.objects[2].category == ""
    assert back.categories == {4: "person"}
    # a project written before classes existed has neither table
    import sqlite3

    db = sqlite3.connect(p)
    db.execute("DROP TABLE categories")
    db.execute("DROP TABLE object_categories")
    db.commit()
    db.close()
    old = Project.load(p)
    assert old.categories == {} and all(o.category == "" for o in old.objects.values())
    assert old.objects[1].name == "rider 1"


def test_set_object_category_adds_the_class_to_the_project(source_session):
    s = source_session
    s.set_object_category(2, "  surf board ")
    assert s.objects[2].category == "surf board"
    assert s.categories == ["person", "surf board"]
    s.set_object_category(2, None)
    assert s.objects[2].category == ""


def test_class_table_keeps_project_ids_and_gives_unclassed_objects_their_own_class():
    objs = {1: TrackedObject(1, "a", category="person"), 2: TrackedObject(2, "ball"),
            5: TrackedObject(5, "b", category="person")}
    of, classes = class_table(objs, {4: "person", 9: "car"})
    assert classes == {4: "person", 9: "car", 10: "ball"}
    assert of == {1: 4, 2: 10, 5: 4}


def test_coco_and_yolo_exports_write_classes_and_track_ids(source_session, tmp_path):
    s = source_session
    d = json.loads(s.export("coco", tmp_path / "c.json").read_text())
    assert {c["id"]: c["name"] for c in d["categories"]} == {4: "person", 5: "board"}
    assert {a["track_id"]: a["category_id"] for a in d["annotations"]} == {1: 4, 2: 5, 3: 4}
    assert [(t["id"], t["name"]) for t in d["tracks"]] == [(1, "rider 1"), (2, "board"), (3, "rider 2")]
    out = s.export("yolo", tmp_path / "y")
    assert (out / "classes.txt").read_text().splitlines() == ["person", "board"]
    assert {ln.split()[0] for ln in (out / "00003.txt").read_text().splitlines()} == {"0", "1"}


# ---- new exports -----------------------------------------------------------------------
def test_cvat_mask_rle_runs_row_by_row_over_the_box_starting_with_background():
    m = np.zeros((5, 6), bool)
    m[1, 2:4] = True
    m[2, 3] = True
    runs, left, top, width, height = mask_to_cvat_rle(m)
    assert (left, top, width, height) == (2, 1, 2, 2)
    assert runs == [0, 2, 1, 1]  # row 1: 1 1; row 2: 0 1
    assert (cvat_rle_to_mask(runs, left, top, width, height, 6, 5) == m).all()


def test_youtube_vis_export_is_decodable_frame_by_frame_with_nulls_where_absent(source_session, tmp_path):
    d = json.loads(source_session.export("youtube-vis", tmp_path / "v.json").read_text())
    (video,) = d["videos"]
    assert video["length"] == N and len(video["file_names"]) == N
    assert video["file_names"][3] == "video/00003.jpg"
    gt = clip_masks()
    by_track = {a["track_id"]: a for a in d["annotations"]}
    a1 = by_track[1]
    assert a1["category_id"] == 4 and a1["segmentations"][10] is None and a1["areas"][10] is None
    seg = a1["segmentations"][14]  # uncompressed, as in the YouTube-VIS annotation files
    assert isinstance(seg["counts"], list)
    assert (mask_utils.decode(mask_utils.frPyObjects(seg, H, W)).astype(bool) == gt[1][14]).all()
    packed = json.loads(source_session.export("youtube-vis", tmp_path / "r.json", rle="compressed").read_text())
    seg = packed["annotations"][0]["segmentations"][14]  # compressed, as result files have it
    assert isinstance(seg["counts"], str) and (mask_utils.decode(seg).astype(bool) == gt[1][14]).all()
    assert by_track[3]["segmentations"][0] is None  # never segmented there
    assert by_track[3]["bboxes"][4] == list(mask_utils.toBbox(mask_utils.encode(
        np.asfortranarray(gt[3][4].astype(np.uint8)))).astype(float))


def test_cvat_export_has_a_track_per_object_outside_where_absent_and_keyframes_on_prompts(
        source_session, tmp_path):
    import xml.etree.ElementTree as ET

    root = ET.parse(source_session.export("cvat-video", tmp_path / "a.xml")).getroot()
    assert root.findtext("version") == "1.1"
    assert [e.text for e in root.findall("meta/task/labels/label/name")] == ["person", "board"]
    tracks = {t.get("id"): t for t in root.findall("track")}
    assert tracks["0"].get("label") == "person" and tracks["1"].get("label") == "board"
    shapes = {int(s.get("frame")): s for s in tracks["0"]}
    assert shapes[9].get("outside") == "1" and shapes[8].get("outside") == "1"
    assert shapes[8].get("keyframe") == "1" and shapes[9].get("keyframe") == "0"
    assert shapes[14].get("keyframe") == "1"  # a prompt frame
    assert shapes[13].get("keyframe") == "1"  # comes back
    assert shapes[1].get("keyframe") == "0"
    s3 = {int(s.get("frame")): s for s in tracks["2"]}
    assert min(s3) == 3  # the track starts where the object first appears
    runs = [int(v) for v in s3[4].get("rle").split(", ")]
    m = cvat_rle_to_mask(runs, *(int(s3[4].get(k)) for k in ("left", "top", "width", "height")), W, H)
    assert (m == clip_masks()[3][4]).all()
    assert s3[4].find("attribute").text == "rider 2"


def test_mots_export_lines_ids_and_non_overlapping_masks(source_session, tmp_path):
    out = source_session.export("mots", tmp_path / "m")
    lines = (out / "0000.txt").read_text().splitlines()
    f2 = [ln.split() for ln in lines if ln.split()[0] == "2"]
    assert [x[1:5] for x in f2] == [["4001", "4", "60", "96"], ["5002", "5", "60", "96"]]
    ids = {x.split()[1] for x in lines}
    assert ids == {"4001", "5002", "4003"}  # class * 1000 + object id
    m1 = mask_utils.decode({"size": [H, W], "counts": next(x.split()[5] for x in lines
                                                              if x.split()[:2] == ["2", "4001"]).encode()})
    m2 = mask_utils.decode({"size": [H, W], "counts": next(x.split()[5] for x in lines
                                                              if x.split()[:2] == ["2", "5002"]).encode()})
    assert not (m1 & m2).any()  # the higher id keeps the overlap
    assert not any(x.split()[0] == "9" and x.split()[1] == "4001" for x in lines)  # absent


def test_davis_export_layout_480p_and_full_resolution(source_session, tmp_path):
    from PIL import Image

    out = source_session.export("davis", tmp_path / "d")
    assert (out / "ImageSets" / "2017" / "val.txt").read_text().strip() == "video"
    ann = out / "Annotations" / "480p" / "video"
    assert len(list(ann.glob("*.png"))) == N
    assert len(list((out / "JPEGImages" / "480p" / "video").glob("*.jpg"))) == N
    with Image.open(ann / "00000.png") as img:
        assert img.mode == "P" and img.size == (768, 480)
        assert set(np.unique(np.array(img))) == {0, 1, 2}
    full = source_session.export("davis", tmp_path / "f", resolution="full")
    with Image.open(full / "Annotations" / "Full-Resolution" / "video" / "00014.png") as img:
        assert img.size == (W, H) and (np.array(img) == 1).sum() == clip_masks()[1][14].sum()


# ---- exact round trips -----------------------------------------------------------------
EXACT = [("png", "out", {}), ("palette", "out", {}), ("davis", "out", {"resolution": "full"}),
         ("coco", "out.json", {}), ("youtube-vis", "out.json", {}),
         ("cvat-video", "out.xml", {}), ("mots", "out", {}), ("npz", "out.npz", {})]
#: formats where the higher id keeps overlapping pixels (one label per pixel)
ONE_LABEL = {"palette", "davis", "mots"}


@pytest.mark.parametrize("fmt,name,opts", EXACT, ids=[e[0] for e in EXACT])
def test_export_import_export_is_bit_identical(fmt, name, opts, source_session, tmp_path):
    first = source_session.export(fmt, tmp_path / "a" / name, **opts)
    with fresh_session() as s2:
        s2.import_annotations(first)  # format detected
        second = s2.export(fmt, tmp_path / "b" / name, **opts)
        if fmt == "npz":  # a ZIP stamps its members with the time: compare the arrays
            a, b = npz_arrays(first), npz_arrays(second)
            assert a.keys() == b.keys()
            for k in a:
                assert np.array_equal(a[k], b[k]), k
        else:
            assert tree(first) == tree(second)
        # names, classes, masks and absent frames in the project itself
        src = source_session
        # CVAT has only the class: an object without one comes back with its class's name
        want = {o: (v.name, v.category or (v.name if fmt == "cvat-video" else ""))
                for o, v in src.objects.items()}
        assert {o: (v.name, v.category) for o, v in s2.objects.items()} == want
        gt = clip_masks()
        for o in gt:
            for f in range(N):
                got = s2.masks.get_or_empty(f, o)
                want = src.masks.get_or_empty(f, o)
                if fmt in ONE_LABEL:
                    for higher in (p for p in gt if p > o):
                        want = want & ~src.masks.get_or_empty(f, higher)
                assert (got == want).all(), (fmt, o, f)
            assert s2.masks.present_frames(o) == [f for f in range(N)
                                                   if s2.masks.get_or_empty(f, o).any()]
        assert s2.masks.present_frames(1) == [f for f in range(N) if not 8 <= f <= 12]


def test_yolo_round_trip_keeps_each_mask_within_iou_095(tmp_path):
    with fresh_session() as s:  # YOLO has one object per class: one object per class here
        for o, name in [(1, "disc"), (2, "square"), (3, "pair")]:
            s.add_object(name, obj_id=o)
        for o, frames in clip_masks().items():
            for f, m in frames.items():
                s.masks.set(f, o, m)
        out = s.export("yolo", tmp_path / "y")
        with fresh_session() as s2:
            s2.import_annotations(out)
            assert {o: v.name for o, v in s2.objects.items()} == {1: "disc", 2: "square", 3: "pair"}
            worst = 1.0
            for o in (1, 2, 3):
                assert s2.masks.present_frames(o) == s.masks.present_frames(o)
                for f in s.masks.present_frames(o):
                    a, b = s.masks.get(f, o), s2.masks.get(f, o)
                    worst = min(worst, (a & b).sum() / (a | b).sum())
            assert worst >= 0.95


def test_importing_keyframes_all_first_none_and_the_files_own(source_session, tmp_path):
    xml = source_session.export("cvat-video", tmp_path / "a.xml")
    npz = source_session.export("npz", tmp_path / "a.npz")
    with fresh_session() as s:
        s.import_annotations(npz, keyframes="all")
        assert s.keyframes(1) == s.masks.present_frames(1)
        assert s.prompt(14, 1).kind == "mask"
    with fresh_session() as s:
        s.import_annotations(npz)  # auto = first frame where present, for a format without marks
        assert s.keyframes(1) == [0] and s.keyframes(3) == [3]
    with fresh_session() as s:
        s.import_annotations(npz, keyframes="none")
        assert len(s.project.prompts) == 0
    with fresh_session() as s:
        s.import_annotations(xml)  # CVAT's own keyframes: prompts, first shapes, re-entries
        assert s.keyframes(1) == [0, 13, 14]


def test_an_imported_keyframe_drives_propagation(source_session, tmp_path):
    out = source_session.export("palette", tmp_path / "p")
    with fresh_session() as s:
        s.import_annotations(out, keyframes="first")
        s.masks.clear()
        frames = [f for f, _ in s.propagate(0, "forward", frame_range=(0, 3))]
        assert frames[:3] == [0, 1, 2] and s.masks.get(0, 2).any()


def test_import_into_a_project_that_has_objects_needs_new_ids(source_session, tmp_path):
    out = source_session.export("coco", tmp_path / "c.json")
    with fresh_session() as s:
        s.add_object("mine")
        with pytest.raises(UserError, match="already has object 1"):
            s.import_annotations(out)
        res = s.import_annotations(out, new_ids=True)
        assert res.objects == {1: 2, 2: 3, 3: 4}
        assert s.objects[4].name == "rider 2" and s.objects[4].category == "person"
        assert s.objects[1].name == "mine"


# ---- size, frame count and ids checked against the video -------------------------------
def test_a_file_for_another_size_or_length_is_refused(source_session, tmp_path):
    coco = source_session.export("coco", tmp_path / "c.json")
    ytvis = source_session.export("youtube-vis", tmp_path / "v.json")
    pal = source_session.export("palette", tmp_path / "p")
    mots = source_session.export("mots", tmp_path / "m")
    rng = np.random.default_rng(0)
    small = ArrayVideo([rng.integers(0, 255, (H // 2, W // 2, 3), dtype=np.uint8) for _ in range(N)])
    short = ArrayVideo([rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in range(N - 5)])
    for video in (small, short):
        with Session.open(video, engine="classic") as s:
            for src in (coco, ytvis, pal, mots):
                with pytest.raises(UserError, match=r"video|frame"):
                    s.import_annotations(src)
            assert not s.objects


def test_mots_frames_past_the_video_say_how_to_read_one_based_files(source_session, tmp_path):
    out = source_session.export("mots", tmp_path / "m", first_frame=1)
    with fresh_session() as s:
        if any(ln.split()[0] == str(N) for ln in (out / "0000.txt").read_text().splitlines()):
            with pytest.raises(UserError, match="first_frame=1"):
                s.import_annotations(out)
        s.import_annotations(out, first_frame=1)
        assert (s.masks.get(4, 3) == clip_masks()[3][4]).all()


# ---- files written by other tools -------------------------------------------------------
def _encode(m: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _uncompressed(m: np.ndarray) -> dict:
    flat = m.astype(np.uint8).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return {"size": [H, W], "counts": runs}


def test_a_pycocotools_coco_file_with_category_ids_from_5_and_empty_frames(tmp_path):
    gt = clip_masks()
    images = [{"id": 100 + f, "file_name": f"frame_{f:06d}.jpg", "width": W, "height": H}
              for f in range(N)]
    anns = []
    for f in range(N):
        if f in (6, 7):
            continue  # frames without annotations: nothing there
        for o, cid in ((1, 5), (2, 9)):
            m = gt[o][f]
            if m.any():
                seg = _encode(m) if o == 1 else _uncompressed(m)
                anns.append({"id": len(anns) + 1, "image_id": 100 + f, "category_id": cid,
                             "segmentation": seg, "iscrowd": int(o == 2), "area": int(m.sum()),
                             "bbox": [0, 0, 1, 1]})
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 5, "name": "ball"}, {"id": 9, "name": "frame"},
                                               {"id": 12, "name": "unused"}]}))
    with fresh_session() as s:
        res = s.import_annotations(path)
        assert sorted(s.objects) == [5, 9]  # one object per category, id = category id
        assert s.objects[5].category == "ball" and s.objects[9].name == "frame"
        assert s.project.categories == {5: "ball", 9: "frame", 12: "unused"}
        assert res.frames == N
        for f in range(N):
            want1 = gt[1][f] if f not in (6, 7) else np.zeros((H, W), bool)
            assert (s.masks.get(f, 5) == want1).all()
            assert s.masks.has(f, 9)  # covered: absent frames are stored empty
        assert not s.masks.get(6, 9).any() and (s.masks.get(3, 9) == gt[2][3]).all()
        d = json.loads(s.export("coco", tmp_path / "again.json").read_text())
        assert {c["id"]: c["name"] for c in d["categories"]} == {5: "ball", 9: "frame", 12: "unused"}


def test_a_coco_file_with_polygons_and_zero_based_track_ids(tmp_path):
    sq = np.zeros((H, W), bool)
    sq[10:20, 30:50] = True
    poly = [[30, 10, 50, 10, 50, 20, 30, 20]]  # COCO polygons run along pixel edges
    path = tmp_path / "poly.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "frame_id": 2, "file_name": "x.jpg", "width": W, "height": H}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "track_id": 0, "segmentation": poly}],
        "categories": [{"id": 1, "name": "box"}]}))
    with fresh_session() as s:
        s.import_annotations(path)
        m = s.masks.get(2, 1)
        assert (m & sq).sum() / (m | sq).sum() > 0.95 and s.objects[1].category == "box"


def test_a_youtube_vis_file_in_the_dataset_layout(tmp_path):
    """No track ids, no frame indices, uncompressed RLE as the YouTube-VIS train files have,
    category ids 3 and 7, null where absent."""
    gt = clip_masks()
    anns = []
    for k, (o, cid) in enumerate(((2, 7), (1, 3)), 1):
        segs = [_uncompressed(gt[o][f]) if gt[o][f].any() else None for f in range(N)]
        anns.append({"id": 40 + k, "video_id": 9, "category_id": cid, "iscrowd": 0,
                     "segmentations": segs, "areas": [None] * N, "bboxes": [None] * N,
                     "width": W, "height": H, "length": 1})
    path = tmp_path / "train.json"
    path.write_text(json.dumps({
        "videos": [{"id": 9, "width": W, "height": H, "length": N,
                    "file_names": [f"0a1b2c/{5 * f:05d}.jpg" for f in range(N)]}],
        "categories": [{"id": 3, "name": "person"}, {"id": 7, "name": "surfboard"}],
        "annotations": anns}))
    with fresh_session() as s:
        s.import_annotations(path)
        assert {o: v.category for o, v in s.objects.items()} == {1: "surfboard", 2: "person"}
        for f in range(N):  # position i is frame i (the file names count every 5th frame)
            assert (s.masks.get_or_empty(f, 1) == gt[2][f]).all()
            assert (s.masks.get_or_empty(f, 2) == gt[1][f]).all()
        assert s.masks.present_frames(2) == [f for f in range(N) if gt[1][f].any()]


def test_a_kitti_mots_file_with_ignore_regions_and_empty_frames(tmp_path):
    gt = clip_masks()
    lines = []
    for f in range(N):
        if f == 4:
            continue  # nobody there
        lines.append(f"{f} 10000 10 {H} {W} {_encode(_disc(5, 5, 3))['counts']}")
        for o, obj_id, cls in ((1, 2001, 2), (2, 1005, 1)):
            if gt[o][f].any():
                lines.append(f"{f} {obj_id} {cls} {H} {W} {_encode(gt[o][f])['counts']}")
    (tmp_path / "0007.txt").write_text("\n".join(lines) + "\n")
    with fresh_session() as s:
        res = s.import_annotations(tmp_path / "0007.txt")
        assert {o: v.category for o, v in s.objects.items()} == {1: "pedestrian", 5: "car"}
        assert any("ignore" in n for n in res.notes)
        assert not s.masks.get(4, 1).any() and not s.masks.get(9, 1).any()
        assert (s.masks.get(14, 1) == gt[1][14]).all() and (s.masks.get(3, 5) == gt[2][3]).all()


def test_pycocotools_coco_api_reads_the_coco_export(source_session, tmp_path):
    from pycocotools.coco import COCO

    path = source_session.export("coco", tmp_path / "c.json")
    api = COCO(str(path))
    assert sorted(api.getCatIds()) == [4, 5]
    gt = clip_masks()
    for ann in api.loadAnns(api.getAnnIds()):
        frame = api.imgs[ann["image_id"]]["frame_index"]
        assert (api.annToMask(ann).astype(bool) == gt[ann["track_id"]][frame]).all()


SUB_RANGE = [("png", "out"), ("palette", "out"), ("coco", "out.json"), ("youtube-vis", "out.json"),
             ("cvat-video", "out.xml"), ("npz", "out.npz")]


@pytest.mark.parametrize("fmt,name", SUB_RANGE, ids=[e[0] for e in SUB_RANGE])
def test_a_sub_range_export_imports_onto_the_same_frames_only(fmt, name, source_session, tmp_path):
    out = source_session.export(fmt, tmp_path / name, frames=range(6, 15))
    with fresh_session() as s:
        res = s.import_annotations(out)
        assert res.frames == 9
        for o in (1, 2, 3):
            assert s.masks.frames(o) == list(range(6, 15))  # nothing stored outside the range
            for f in range(6, 15):
                want = source_session.masks.get_or_empty(f, o)
                if fmt == "palette":
                    for higher in (p for p in (1, 2, 3) if p > o):
                        want = want & ~source_session.masks.get_or_empty(f, higher)
                assert (s.masks.get_or_empty(f, o) == want).all()


def test_broken_files_are_clear_errors(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"images": [1, 2], "annotations": ["x"]}')
    bad_xml = tmp_path / "bad.xml"
    bad_xml.write_text("<annotations><track id='0' label='a'><mask frame='0' rle='1, x' left='0' top='0' "
                       "width='1' height='1'/></track></annotations>")
    not_json = tmp_path / "nothing.json"
    not_json.write_text("{")
    with fresh_session() as s:
        for src, words in ((bad_json, "bad.json"), (bad_xml, "bad.xml"), (not_json, "not a JSON"),
                           (tmp_path / "missing.json", "does not exist")):
            with pytest.raises(UserError, match=words):
                s.import_annotations(src)
        with pytest.raises(UserError, match="format"):
            s.import_annotations(tmp_path)  # an empty folder
        assert not s.objects


def test_a_cvat_file_with_shapes_only_at_keyframes_holds_each_shape_until_the_next(tmp_path):
    a = np.zeros((H, W), bool)
    a[10:20, 10:30] = True
    b = np.zeros((H, W), bool)
    b[30:40, 50:60] = True
    b[35, 50:60] = False

    def shape(frame, mask, outside=0):
        runs, left, top, w, h = mask_to_cvat_rle(mask)
        return (f'<mask frame="{frame}" keyframe="1" outside="{outside}" occluded="0" '
                f'rle="{", ".join(map(str, runs))}" left="{left}" top="{top}" width="{w}" height="{h}" z_order="0"/>')

    xml = (f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
           f'<size>{N}</size><mode>interpolation</mode><start_frame>0</start_frame><stop_frame>{N - 1}</stop_frame>'
           f'<labels><label><name>car</name></label></labels>'
           f'<original_size><width>{W}</width><height>{H}</height></original_size></task></meta>'
           f'<track id="0" label="car" source="manual">{shape(2, a)}{shape(6, a, 1)}{shape(9, b)}</track>'
           f'<track id="4" label="car" source="manual">{shape(0, b)}</track></annotations>')
    path = tmp_path / "task.xml"
    path.write_text(xml)
    with fresh_session() as s:
        s.import_annotations(path)
        assert sorted(s.objects) == [1, 5] and s.objects[1].category == "car"
        assert s.masks.present_frames(1) == [2, 3, 4, 5] + list(range(9, N))
        assert (s.masks.get(5, 1) == a).all() and (s.masks.get(12, 1) == b).all()
        assert not s.masks.get(0, 1).any() and not s.masks.get(7, 1).any()
        assert s.masks.present_frames(5) == list(range(N))
        assert s.keyframes(1) == [2, 9]  # auto: CVAT's keyframes where the object is present


# ---- command line ------------------------------------------------------------------------
@pytest.fixture()
def clip_folder(tmp_path):
    """The generated clip as an image folder (a video the command line can open)."""
    from PIL import Image

    folder = tmp_path / "clip"
    folder.mkdir()
    video = make_video()
    for f in range(N):
        Image.fromarray(video.get_frame(f)).save(folder / f"{f:05d}.png")
    return folder


def test_cli_import_creates_a_project_then_adds_to_it(source_session, clip_folder, tmp_path, capsys):
    from sam2studio.cli import main

    ytvis = source_session.export("youtube-vis", tmp_path / "v.json")
    proj = tmp_path / "out.s2s"
    assert main(["import", str(ytvis), "--video", str(clip_folder), "--project", str(proj)]) == 0
    out = capsys.readouterr().out
    assert "youtube-vis: 3 objects" in out and "import: imported 3 objects on 20 frames" in out
    p = Project.load(proj)
    assert {o: (v.name, v.category) for o, v in p.objects.items()} == \
        {1: ("rider 1", "person"), 2: ("board", ""), 3: ("rider 2", "person")}
    assert p.prompts.keyframes(1) == [0] and p.masks.present_frames(3) == list(range(3, 16))
    # again into the same project: the ids are taken, unless --new-ids
    assert main(["import", str(ytvis), "--video", str(clip_folder), "--project", str(proj)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already has object 1" in err[0]
    assert main(["import", str(ytvis), "--video", str(clip_folder), "--project", str(proj), "--new-ids",
                 "--keyframes", "none", "--quiet"]) == 0
    p = Project.load(proj)
    assert sorted(p.objects) == [1, 2, 3, 4, 5, 6] and p.objects[6].name == "rider 2"
    assert p.prompts.keyframes(6) == []


def test_cli_import_mismatch_exits_2_with_one_line(source_session, tmp_path, capsys):
    from PIL import Image

    from sam2studio.cli import main

    coco = source_session.export("coco", tmp_path / "c.json")
    short = tmp_path / "short"
    short.mkdir()
    for f in range(N - 4):
        Image.fromarray(make_video().get_frame(f)).save(short / f"{f:05d}.png")
    wants = {"auto": "is frame 16, but the video has frames 0 to 15",  # a frame count mismatch
             "mots": "line 1 is not 'frame obj_id class_id height width rle'"}  # the wrong format
    for fmt, want in wants.items():
        code = main(["import", str(coco), "--video", str(short), "--project", str(tmp_path / "x.s2s"),
                     "--format", fmt])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and want in err[0], err
    assert not (tmp_path / "x.s2s").exists()


def test_cli_segment_category_reaches_the_project_and_the_coco_export(clip_folder, tmp_path):
    from sam2studio.cli import main

    proj = tmp_path / "seg.s2s"
    code = main(["segment", str(clip_folder), "--out", str(tmp_path / "m"), "--click", "1:0:20:20",
                 "--name", "1:rider", "--category", "1:person", "--engine", "classic", "--quiet",
                 "--project", str(proj)])
    assert code == 0
    p = Project.load(proj)
    assert (p.objects[1].name, p.objects[1].category) == ("rider", "person")
    assert main(["export", str(proj), "--format", "coco", "--out", str(tmp_path / "c.json"), "--quiet"]) == 0
    d = json.loads((tmp_path / "c.json").read_text())
    assert [c["name"] for c in d["categories"]] == ["person"]
    assert main(["segment", str(clip_folder), "--out", str(tmp_path / "n"), "--click", "1:0:20:20",
                 "--category", "1:", "--engine", "classic", "--quiet"]) == 2


def test_an_object_brought_back_after_a_delete_keeps_its_class(source_session):
    s = source_session
    snap = s.snapshot(3)
    s.remove_object(3)
    assert s.restore(snap)
    assert (s.objects[3].name, s.objects[3].category) == ("rider 2", "person")


def test_batch_manifest_categories_reach_the_prompts(tmp_path, clip_folder):
    from sam2studio.batch import load_manifest

    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"video": str(clip_folder), "clicks": ["1:0:20:20"], "names": {"1": "rider"},
                             "categories": {"1": "person"}}) + "\n")
    csv = tmp_path / "m.csv"
    csv.write_text(f"video,clicks,category\n{clip_folder},1:0:20:20;2:0:50:40,1:person;2:board\n")
    (job,) = load_manifest(m)
    assert job.prompts().categories == {1: "person"}
    (job2,) = load_manifest(csv)
    assert job2.categories == {1: "person", 2: "board"}
    with fresh_session() as s:
        s.segment(job.prompts(), direction="forward")
        assert (s.objects[1].name, s.objects[1].category) == ("rider", "person")
