"""Tests for sam2studio.core.video: files through PyAV, image folders, single images, errors."""

from __future__ import annotations

import hashlib
import random
import threading
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE, data
from sam2studio.core import video as video_mod
from sam2studio.core.video import (
    CameraVideo,
    FileVideo,
    FolderVideo,
    ImageVideo,
    fingerprint,
    natural_key,
    open_video,
    rotate_frame,
    rotation_quarter_turns,
)
from sam2studio.errors import VideoError

#: real files: 48 frames at 640x360, key frames 0, 20 and 40, B-frames, audio, index at the
#: front (tests/data/README.md); the bundled sample, 150 frames at 1280x720, one key frame,
#: index at the end; 16 JPEG frames at 428x240
DOG = data("dog.mp4")
CUPS = SAMPLE
JUDO = data("judo", "frames")


def digest(frame: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(frame).tobytes()).hexdigest()


# ---- synthetic clips whose frames say their own index ----------------------------------------

W, H = 128, 64
#: irregular pts steps in ms (variable frame rate)
GAPS = [33, 10, 100, 41, 17, 66, 5, 250]


def pattern(k: int) -> np.ndarray:
    """Frame ``k``: bit b of k is a white 16-pixel column b; a red mark top-left (asymmetric)."""
    a = np.zeros((H, W, 3), np.uint8)
    for b in range(8):
        if (k >> b) & 1:
            a[:, b * 16:(b + 1) * 16] = 255
    a[:8, :8] = (200, 0, 0)
    return a


def index_of(frame: np.ndarray) -> int:
    """Read back the index that ``pattern`` wrote, robust to lossy coding."""
    assert frame.shape == (H, W, 3)
    return sum(1 << b for b in range(8) if frame[16:48, b * 16 + 4:b * 16 + 12].mean() > 128)


def vfr_pts(n: int = 40) -> list[int]:
    pts = [0]
    for k in range(n - 1):
        pts.append(pts[-1] + GAPS[k % len(GAPS)])
    return pts


def write_clip(path: Path, pts: list[int], codec: str = "libx264", time_base=Fraction(1, 1000),
               options: dict | None = None, rotation: int | None = None) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=30, options=options or {})
        s.width, s.height = W, H
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        s.time_base = time_base
        s.codec_context.time_base = time_base
        if rotation:
            s.set_display_rotation(rotation)
        for k, t in enumerate(pts):
            f = av.VideoFrame.from_ndarray(pattern(k), format="rgb24")
            f.pts = t
            f.time_base = time_base
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def packets_reordered(path: Path) -> bool:
    """True if some packet's pts is smaller than an earlier packet's (B-frames)."""
    with av.open(str(path)) as c:
        pts = [p.pts for p in c.demux(c.streams.video[0]) if p.size and p.pts is not None]
    return any(b < a for a, b in zip(pts, pts[1:]))


X264 = {"g": "8", "bf": "2", "crf": "12"}
VFR_CASES = {
    "mp4-h264-bframes": ("mp4", "libx264", X264),
    "mkv-h264-bframes": ("mkv", "libx264", X264),
    "mov-mpeg4-opengop": ("mov", "mpeg4", {"g": "8", "bf": "2", "qscale": "2"}),
    "webm-vp9": ("webm", "libvpx-vp9", {"g": "8", "crf": "10", "deadline": "realtime", "cpu-used": "8"}),
}


# ---- real videos -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_digests():
    """Per-file digests of every frame from a plain sequential PyAV decode, in pts order."""
    cache: dict[Path, list[str]] = {}

    def get(path: Path) -> list[str]:
        if path not in cache:
            with av.open(str(path)) as c:
                frames = [(f.pts, digest(f.to_ndarray(format="rgb24"))) for f in c.decode(video=0)]
            cache[path] = [d for _, d in sorted(frames)]
        return cache[path]

    return get


@pytest.mark.parametrize("path, count, size, hard", [(DOG, 48, (640, 360), [19, 18, 39]),
                                                     (CUPS, 150, (1280, 720), [])], ids=["dog", "cups"])
def test_random_access_matches_sequential_decode(path, count, size, hard, reference_digests):
    ref = reference_digests(path)
    assert len(ref) == count
    with open_video(path, cache_frames=4) as v:
        assert isinstance(v, FileVideo) and v.kind == "file"
        assert len(v) == count
        assert v.fps == pytest.approx(30000 / 1001, rel=1e-4)
        assert (v.width, v.height) == size
        assert v.rotation == 0
        rng = random.Random(7)
        # the frames just before a key frame are the hard case for seeking
        indices = rng.sample(range(count), 25) + [0, count - 1, *hard]
        rng.shuffle(indices)
        for i in indices:
            frame = v.get_frame(i)
            assert frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8
            assert digest(frame) == ref[i], f"frame {i} differs from the sequential decode"
        assert v.timestamp(count - 1) == pytest.approx((count - 1) * 1001 / 30000)


def test_sequential_iteration_does_not_seek_per_frame(reference_digests, monkeypatch):
    seeks = []
    real_seek = FileVideo._seek
    monkeypatch.setattr(FileVideo, "_seek", lambda self, pts: (seeks.append(pts), real_seek(self, pts)))
    with open_video(DOG, cache_frames=8) as v:
        at_open = len(seeks)
        digests = [digest(f) for _, f in v.iter_frames()]
        assert digests == reference_digests(DOG)
        assert len(seeks) - at_open == 0
        # a jump far ahead then sequential steps: one seek, not one per frame
        before = len(seeks)
        for i in range(30, 48):
            v.get_frame(i)
        assert len(seeks) - before <= 1
        # stepping backwards out of the cache must seek (and still be exact)
        assert digest(v.get_frame(10)) == reference_digests(DOG)[10]
    assert at_open <= 1


def test_cache_never_holds_more_than_cache_frames():
    with open_video(DOG, cache_frames=5) as v:
        for i in [0, 1, 2, 3, 4, 5, 6, 20, 21, 30, 7, 45, 44, 40, 47, 2]:
            v.get_frame(i)
            assert len(v._cache) <= 5
        assert v.get_frame(2) is v.get_frame(2)  # the cache does serve repeats
        frame = v.get_frame(3)
        assert not frame.flags.writeable


def test_truncated_file_keeps_only_decodable_frames(tmp_path, reference_digests):
    whole = DOG.read_bytes()
    cut = tmp_path / "dog_first30pct.mp4"
    cut.write_bytes(whole[: int(len(whole) * 0.3)])
    ref = reference_digests(DOG)
    with open_video(cut) as v:
        assert 0 < len(v) < 48
        got = [digest(f) for _, f in v.iter_frames()]
        # every frame of the index decodes, and it is the same frame as in the whole file
        assert got == ref[: len(v)]
        assert digest(v.get_frame(len(v) - 1)) == ref[len(v) - 1]


# ---- generated clips ---------------------------------------------------------------------

@pytest.mark.parametrize("case", list(VFR_CASES), ids=list(VFR_CASES))
def test_variable_frame_rate_timestamps_and_random_access(tmp_path, case):
    ext, codec, options = VFR_CASES[case]
    pts = vfr_pts(40)
    path = write_clip(tmp_path / f"vfr.{ext}", pts, codec, options=options)
    if codec != "libvpx-vp9":
        assert packets_reordered(path), "the clip should have B-frames to make the test meaningful"
    with open_video(path, cache_frames=1) as v:
        assert len(v) == 40 and (v.width, v.height) == (W, H)
        assert v.fps > 0
        expected = [(t - pts[0]) / 1000 for t in pts]
        assert [v.timestamp(i) for i in range(40)] == pytest.approx(expected, abs=1e-6)
        assert v.index_at_time(expected[17] + 0.001) == 17
        assert [index_of(f) for _, f in v.iter_frames()] == list(range(40))
        order = list(range(40)) * 2
        random.Random(3).shuffle(order)
        for i in order:
            assert index_of(v.get_frame(i)) == i


def test_avi_mjpeg_random_access(tmp_path):
    path = write_clip(tmp_path / "clip.avi", list(range(30)), "mjpeg", Fraction(1, 25), {"q:v": "2"})
    with open_video(path, cache_frames=1) as v:
        assert len(v) == 30 and v.fps == pytest.approx(25)
        assert v.timestamp(10) == pytest.approx(0.4)
        for i in [29, 3, 17, 0, 16, 28]:
            assert index_of(v.get_frame(i)) == i


def test_concurrent_reads_are_exact(tmp_path):
    path = write_clip(tmp_path / "vfr.mp4", vfr_pts(40), options=X264)
    errors: list[str] = []
    with open_video(path, cache_frames=2) as v:
        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(40):
                i = rng.randrange(40)
                got = index_of(v.get_frame(i))
                if got != i:
                    errors.append(f"asked {i}, got {got}")

        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_display_rotation_is_applied(tmp_path):
    # PyAV 18 writes the display matrix: 90 degrees counter-clockwise, as VideoFrame.rotation reads it
    path = write_clip(tmp_path / "rot.mp4", list(range(10)), time_base=Fraction(1, 30),
                      options={"crf": "12"}, rotation=90)
    with open_video(path) as v:
        assert v.rotation == 90
        assert (v.width, v.height) == (H, W)
        frame = v.get_frame(5)
        assert frame.shape == (W, H, 3)
        upright = np.rot90(pattern(5))  # counter-clockwise: the red mark ends bottom-left
        assert np.abs(frame.astype(int) - upright).mean() < 4
        assert frame[-4, 4, 0] > 150 and frame[-4, 4, 2] < 80


def test_rotation_helpers():
    a = np.arange(6, dtype=np.uint8).reshape(2, 3, 1).repeat(3, axis=2)
    assert rotate_frame(a, 0) is a
    assert rotate_frame(a, 1).shape == (3, 2, 3)
    assert np.array_equal(rotate_frame(a, 1), np.rot90(a))
    assert rotate_frame(a, 3).flags.c_contiguous
    assert rotation_quarter_turns(90) == 1
    assert rotation_quarter_turns(-90) == 3  # typical phone portrait clip: turn clockwise
    assert rotation_quarter_turns(180) == 2 and rotation_quarter_turns(-180) == 2
    assert rotation_quarter_turns(0, "90") == 3  # old "rotate" tag is clockwise
    assert rotation_quarter_turns(None, "270") == 1
    assert rotation_quarter_turns(None, "junk") == 0
    assert rotation_quarter_turns(None, None) == 0


# ---- image folders and single images -----------------------------------------------------

def test_natural_sort_key():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "Frame1.png", "frame2.png", "frame02b.png", "frame10.png"]


def test_folder_natural_order_skips_non_images_and_reads_like_pil(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in [1, 2, 10, 3]:
        ext = "png" if k % 2 else "bmp"
        Image.fromarray(pattern(k)).save(folder / f"frame{k}.{ext}")
    (folder / "notes.txt").write_text("not an image")
    (folder / "labels.json").write_text("{}")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "sub").mkdir()
    with pytest.warns(UserWarning, match="skipped 2 file"):
        v = open_video(folder, fps=12)
    with v:
        assert isinstance(v, FolderVideo) and v.kind == "folder"
        assert [p.name for p in v.files] == ["frame1.png", "frame2.bmp", "frame3.png", "frame10.bmp"]
        assert len(v) == 4 and v.fps == 12 and (v.width, v.height) == (W, H)
        assert v.timestamp(3) == pytest.approx(0.25)
        assert [index_of(f) for _, f in v.iter_frames()] == [1, 2, 3, 10]
        for i, p in enumerate(v.files):
            assert np.array_equal(v.get_frame(i), np.asarray(Image.open(p).convert("RGB")))


def test_real_frame_folder_is_bit_identical_to_pil():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the judo folder holds only images
        v = open_video(JUDO)
    with v:
        assert len(v) == 16 and (v.width, v.height) == (428, 240) and v.fps == 30
        assert [p.name for p in v.files] == [f"{i:05d}.jpg" for i in range(16)]
        for i in [0, 7, 15]:
            assert np.array_equal(v.get_frame(i), np.asarray(Image.open(v.files[i]).convert("RGB")))


def exif_rotated_jpeg(path: Path) -> Path:
    """A 64x32 JPEG whose EXIF says 'rotate 90 degrees clockwise to display' (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.full((32, 64, 3), 128, np.uint8)).save(path, exif=exif, quality=95)
    return path


def test_folder_ignores_exif_orientation_like_the_reference_loader(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    exif_rotated_jpeg(folder / "0.jpg")
    with open_video(folder) as v:
        assert (v.width, v.height) == (64, 32)
        assert np.array_equal(v.get_frame(0), np.asarray(Image.open(folder / "0.jpg").convert("RGB")))


def test_folder_with_images_of_different_size_names_the_file(tmp_path):
    Image.fromarray(pattern(0)).save(tmp_path / "0001.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "0002.png")
    with pytest.raises(VideoError, match="0002.png is 10x10"):
        open_video(tmp_path)


def test_folder_with_broken_image_names_the_file(tmp_path):
    Image.fromarray(pattern(0)).save(tmp_path / "0001.png")
    (tmp_path / "0002.jpg").write_text("this is no jpeg")
    with pytest.raises(VideoError, match="0002.jpg"):
        open_video(tmp_path)


def test_single_image_is_a_one_frame_video(tmp_path):
    path = tmp_path / "still.png"
    Image.fromarray(pattern(9)).save(path)
    with open_video(path, fps=5) as v:
        assert isinstance(v, ImageVideo) and v.kind == "image"
        assert len(v) == 1 and (v.width, v.height) == (W, H) and v.fps == 5
        assert np.array_equal(v.get_frame(0), pattern(9))
        with pytest.raises(IndexError):
            v.get_frame(1)


def test_single_image_applies_exif_orientation_by_default(tmp_path):
    path = exif_rotated_jpeg(tmp_path / "photo.jpg")
    assert (ImageVideo(path).width, ImageVideo(path).height) == (32, 64)
    assert (ImageVideo(path, exif_transpose=False).width, ImageVideo(path, exif_transpose=False).height) == (64, 32)


def test_real_single_image():
    path = JUDO / "00003.jpg"
    with open_video(path) as v:
        assert np.array_equal(v.get_frame(0), np.asarray(Image.open(path).convert("RGB")))


# ---- bad inputs ----------------------------------------------------------------------------

def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=44100)
        for k in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate = 44100
            f.pts = k * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def truncated_moov_at_end(tmp_path: Path) -> Path:
    # PyAV's mp4 muxer writes the index (moov) at the end: cut it off
    whole = write_clip(tmp_path / "whole.mp4", vfr_pts(30), options=X264)
    cut = tmp_path / "cut_half.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def truncated_moov_at_start(tmp_path: Path) -> Path:
    whole = DOG.read_bytes()
    moov = whole.index(b"moov")
    assert moov < whole.index(b"mdat")  # the index (moov) is at the front: cut inside it, no frames
    cut = tmp_path / "dog_cut_in_moov.mp4"
    cut.write_bytes(whole[: moov + 1500])
    return cut


def _file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _folder(path: Path, *files: str) -> Path:
    path.mkdir()
    for name in files:
        (path / name).write_text("not an image")
    return path


BAD_INPUTS = {
    "missing": (lambda d: d / "no_such_video.mp4", "does not exist"),
    "zero-length": (lambda d: _file(d / "empty.mp4", b""), "empty"),
    "text-renamed-mp4": (lambda d: _file(d / "notes.mp4", b"hello\n" * 200), "could not be opened as a video"),
    "audio-only": (lambda d: write_audio_only(d / "sound.m4a"), "no video stream"),
    "truncated-no-moov": (truncated_moov_at_end, "could not be opened as a video"),
    "truncated-inside-moov": (truncated_moov_at_start, "no video frames"),
    "empty-folder": (lambda d: _folder(d / "nothing"), "contains no images"),
    "folder-without-images": (lambda d: _folder(d / "docs", "a.txt"), "contains no images"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_raises_one_sentence_video_error_naming_the_file(tmp_path, case):
    make, words = BAD_INPUTS[case]
    path = make(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(VideoError) as err:
            open_video(path)
    message = str(err.value)
    assert str(path) in message
    assert words in message
    assert "\n" not in message and "Traceback" not in message


def test_file_video_after_close_raises_video_error(tmp_path):
    path = write_clip(tmp_path / "v.mkv", vfr_pts(10), options=X264)
    v = open_video(path, cache_frames=1)
    v.close()
    with pytest.raises(VideoError, match="closed"):
        v.get_frame(5)


def test_camera_that_cannot_be_opened_raises_video_error():
    with pytest.raises(VideoError, match="camera 97 could not be opened"):
        CameraVideo(97)


# ---- fingerprints --------------------------------------------------------------------------

def test_fingerprint_follows_content_not_name(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 3 * 2**20, dtype=np.uint8).tobytes()
    a = tmp_path / "a.mp4"
    a.write_bytes(data)
    moved = tmp_path / "moved" / "renamed.mp4"
    moved.parent.mkdir()
    moved.write_bytes(data)
    assert fingerprint(a) == fingerprint(moved)
    assert len(fingerprint(a)) == 64
    changed = bytearray(data)
    changed[-10] ^= 0xFF  # in the last MiB
    (tmp_path / "c.mp4").write_bytes(bytes(changed))
    assert fingerprint(tmp_path / "c.mp4") != fingerprint(a)
    (tmp_path / "d.mp4").write_bytes(data + b"x")
    assert fingerprint(tmp_path / "d.mp4") != fingerprint(a)
    with pytest.raises(VideoError, match="does not exist"):
        fingerprint(tmp_path / "gone.mp4")


def test_fingerprint_of_folder_tracks_its_images(tmp_path):
    for k in range(3):
        Image.fromarray(pattern(k)).save(tmp_path / f"{k}.png")
    (tmp_path / "readme.txt").write_text("ignored")
    before = fingerprint(tmp_path)
    (tmp_path / "readme.txt").write_text("still ignored, even when it changes")
    assert fingerprint(tmp_path) == before
    Image.fromarray(pattern(3)).save(tmp_path / "3.png")
    assert fingerprint(tmp_path) != before


def test_module_exports():
    for name in ["FileVideo", "FolderVideo", "ImageVideo", "CameraVideo", "open_video", "fingerprint",
                 "ArrayVideo", "VideoSource", "DEFAULT_CACHE_FRAMES"]:
        assert hasattr(video_mod, name)


def test_stepping_backwards_is_exact_and_seeks_once_per_cache_window(tmp_path):
    path = write_clip(tmp_path / "vfr.mp4", vfr_pts(40), options=X264)
    with open_video(path, cache_frames=8) as v:
        v.get_frame(39)
        before = v.seek_count
        for i in range(38, -1, -1):
            assert index_of(v.get_frame(i)) == i
            assert len(v._cache) <= 8
        # each seek leaves the 7 frames before its target in the cache
        assert v.seek_count - before <= 6
