"""Edited-video export (export/render.py, effects.py, encode.py) and presence cuts (export/cut.py) on real footage.

The source is the bundled sample clip ``resources/sample/cups.mp4`` (1280x720, 30000/1001 fps,
150 frames, H.264 + AAC) with synthetic masks: a disc that moves right by 3 px/frame and is
present on frames 30..134 only.
Full-length exports (overlay, background colour) check the frame count, rate, time base and
audio; the other effects use short sub-ranges to keep the run time down.

Tolerances: H.264 at crf 18 is lossy (measured on this footage: mean error 2-3 levels, 99th
percentile up to ~16 in the textured parts, 1-2 in flat colour). We compare the mean error
over a region (``MEAN_TOL`` = 4 levels of 255) and its 99th percentile (``P99_TOL`` = 24 for
picture content, ``FLAT_P99_TOL`` = 8 for a solid background colour), only ``MARGIN`` px away
from mask edges (chroma is subsampled 2x and the codec rings at edges).
"""

from __future__ import annotations

import json
import math
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from conftest import SAMPLE
from sam2studio.core.masks import MaskStore
from sam2studio.core.objects import TrackedObject
from sam2studio.core.video import ArrayVideo, VideoSource, open_video
from sam2studio.errors import Cancelled, UserError
from sam2studio.export.cut import export_cut, plan_cut, spans_json_path
from sam2studio.export.effects import Background, Blur, CutOut, Grade, MotionBlur, Overlay, Pixelate
from sam2studio.export.render import export_video

# its module fixtures are built once: its tests share one xdist worker
pytestmark = pytest.mark.xdist_group("export_video")

CUPS = SAMPLE

MEAN_TOL = 4.0
P99_TOL = 24.0
FLAT_P99_TOL = 8.0
MARGIN = 8
R = 100  # disc radius
PRESENT = range(30, 135)


def centre(i: int) -> tuple[int, int]:
    return 240 + 3 * i, 380


def disc(i: int, h: int = 720, w: int = 1280, r: int = R, c=None) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, c or centre(i), r, 1, -1)
    return m.astype(bool)


def inside(m: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    return cv2.erode(m.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)).astype(bool)


def outside(m: np.ndarray, margin: int = MARGIN) -> np.ndarray:
    return ~cv2.dilate(m.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8)).astype(bool)


def close(a: np.ndarray, b, where: np.ndarray, mean_tol=MEAN_TOL, p99_tol=P99_TOL) -> bool:
    """``a`` matches ``b`` (array or colour) on ``where`` within the codec tolerance."""
    b = np.broadcast_to(np.asarray(b, np.int16), a.shape)
    d = np.abs(a[where].astype(np.int16) - b[where]).astype(np.float64)
    return d.mean() <= mean_tol and np.percentile(d, 99) <= p99_tol


def decode(path: Path, wanted=None, fmt: str = "rgb24", codec: str | None = None):
    """``({index: frame}, number of frames)`` of the first video stream of ``path``."""
    got, n = {}, 0
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        if codec is None:
            frames = c.decode(st)
        else:  # e.g. libvpx-vp9, which keeps the alpha plane the native decoder drops
            cc = av.CodecContext.create(codec, "r")
            frames = (f for p in c.demux(st) for f in cc.decode(p))
        for f in frames:
            if wanted is None or n in wanted:
                got[n] = f.to_ndarray(format=fmt)
            n += 1
    return got, n


def probe(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        out = {"rate": v.average_rate, "time_base": v.time_base, "codec": v.codec_context.name,
               "frames": sum(1 for p in c.demux(v) if p.size)}
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            out["audio_codec"] = a.codec_context.name
            out["audio_frame_s"] = (a.codec_context.frame_size or 1024) / a.codec_context.sample_rate
            packets = [(p.pts, p.duration) for p in c.demux(a) if p.size]
            out["audio_packets"] = len(packets)
            if a.duration is not None:  # mp4/mov: from the header (edit lists applied)
                out["audio_s"] = float(a.duration * a.time_base)
            else:  # e.g. Matroska (ms time stamps): from the packets
                end = max(t + d for t, d in packets)
                out["audio_s"] = float((end - max(0, min(t for t, _ in packets))) * a.time_base)
    return out


# ---- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cups():
    v = open_video(CUPS)
    yield v
    v.close()


@pytest.fixture(scope="module")
def source_info():
    return probe(CUPS)


@pytest.fixture(scope="module")
def masks(cups):
    ms = MaskStore(cups.height, cups.width)
    for i in range(len(cups)):
        ms.set(i, 1, disc(i) if i in PRESENT else np.zeros((720, 1280), bool))
    return ms


OBJECTS = {1: TrackedObject(1, "disc", color=(255, 40, 40))}


class Stamped(VideoSource):
    """``base`` with its frame index written as a 10-bit barcode top-left (black/white 32 px
    squares), and optionally a textured disc painted where :func:`disc` puts it."""

    kind = "file"

    def __init__(self, base: VideoSource, texture: np.ndarray | None = None, speed: int = 0):
        super().__init__(base.path, base.width, base.height, base.fps, len(base), cache_frames=2)
        self.base, self.texture, self.speed = base, texture, speed

    def timestamp(self, index: int) -> float:
        return self.base.timestamp(index)

    def centre(self, i):
        return 240 + self.speed * i, 380

    def _read(self, i: int) -> np.ndarray:
        img = np.array(self.base.get_frame(i))
        for b in range(10):
            img[0:32, 32 * b:32 * (b + 1)] = 255 if (i >> b) & 1 else 0
        if self.texture is not None:
            cx, cy = self.centre(i)
            t = self.texture
            h, w = t.shape[:2]
            m = disc(i, r=R, c=(cx, cy))
            patch = np.zeros_like(img)
            patch[cy - h // 2:cy - h // 2 + h, cx - w // 2:cx - w // 2 + w] = t
            img[m] = patch[m]
        return img


def read_stamp(img: np.ndarray) -> int:
    bits = [img[8:24, 32 * b + 8:32 * b + 24].mean() > 128 for b in range(10)]
    return sum(1 << b for b, on in enumerate(bits) if on)


# ---- full-length exports ------------------------------------------------------------------
@pytest.fixture(scope="module")
def overlay_export(cups, masks, tmp_path_factory):
    out = tmp_path_factory.mktemp("overlay") / "overlay.mp4"
    calls = []
    export_video(cups, masks, OBJECTS, out, [Overlay(opacity=0.5)],
                 progress=lambda d, t: calls.append((d, t)))
    return out, calls


@pytest.fixture(scope="module")
def background_export(cups, masks, tmp_path_factory):
    out = tmp_path_factory.mktemp("bg") / "green.mkv"
    export_video(cups, masks, OBJECTS, out, [Background(color=(0, 200, 0))])
    return out


def test_overlay_full_length_keeps_frame_count_rate_time_base_and_passes_audio_through(
        overlay_export, source_info):
    out, calls = overlay_export
    info = probe(out)
    assert info["codec"] == "h264"
    assert info["frames"] == 150
    assert info["rate"] == Fraction(30000, 1001)
    assert info["time_base"] == source_info["time_base"] == Fraction(1, 30000)
    # every audio packet of the source, same codec, same duration
    assert info["audio_codec"] == source_info["audio_codec"] == "aac"
    assert info["audio_packets"] == source_info["audio_packets"]
    assert abs(info["audio_s"] - source_info["audio_s"]) <= source_info["audio_frame_s"]
    assert calls[0] == (1, 150) and calls[-1] == (150, 150) and len(calls) == 150


def test_overlay_tints_the_mask_draws_a_label_and_leaves_the_rest(overlay_export, cups):
    out, _ = overlay_export
    got, n = decode(out, {10, 75})
    assert n == 150
    m = disc(75)
    src = cups.get_frame(75)
    expect = src.astype(np.float64) * 0.5 + np.array([255, 40, 40]) * 0.5
    assert close(got[75], expect, inside(m))
    assert close(got[75], src, outside(m, 60))  # labels sit above the disc
    x, y = centre(75)
    label = got[75][y - R - 30:y - R - 4, x - 30:x + 30].astype(int)
    assert np.abs(label - src[y - R - 30:y - R - 4, x - 30:x + 30]).mean() > 20
    # frame 10: no mask, nothing drawn
    assert close(got[10], cups.get_frame(10), np.ones((720, 1280), bool))


def test_background_colour_full_length_outside_is_the_colour_inside_is_the_source(
        background_export, cups, source_info):
    info = probe(background_export)
    assert info["frames"] == 150 and info["rate"] == Fraction(30000, 1001)
    assert info["audio_codec"] == "aac"
    assert abs(info["audio_s"] - source_info["audio_s"]) <= max(0.05, source_info["audio_frame_s"])
    got, _ = decode(background_export, {5, 60, 100, 134, 145})
    for i in (60, 100, 134):
        m = disc(i)
        assert close(got[i], (0, 200, 0), outside(m), p99_tol=FLAT_P99_TOL), i
        assert close(got[i], cups.get_frame(i), inside(m)), i
    everything = np.ones((720, 1280), bool)
    for i in (5, 145):  # the object is absent: the whole frame is background
        assert close(got[i], (0, 200, 0), everything, p99_tol=FLAT_P99_TOL), i


def test_background_image_is_scaled_to_cover_and_centre_cropped(cups, masks, tmp_path):
    yy, xx = np.mgrid[0:480, 0:640]
    img = np.dstack([xx * 255 // 639, yy * 255 // 479, np.full_like(xx, 90)]).astype(np.uint8)
    path = tmp_path / "bg.png"
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    out = export_video(cups, masks, OBJECTS, tmp_path / "img.mp4", [Background(image=path)],
                       frames=range(100, 106))
    # 640x480 -> x2 = 1280x960 covers 1280x720; the centre crop drops 120 rows top and bottom
    expect = cv2.resize(img, (1280, 960), interpolation=cv2.INTER_LINEAR)[120:840]
    got, n = decode(out, {0, 5})
    assert n == 6
    for k in (0, 5):
        m = disc(100 + k)
        assert close(got[k], expect, outside(m), p99_tol=FLAT_P99_TOL), k
        assert close(got[k], cups.get_frame(100 + k), inside(m)), k


def test_background_video_shorter_than_the_export_loops(cups, masks, tmp_path):
    colours = [(220, 30, 30), (30, 220, 30), (30, 30, 220), (220, 220, 30), (30, 220, 220)]
    bg = tmp_path / "short.mp4"
    with av.open(str(bg), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = 320, 240, "yuv420p"
        st.options = {"crf": "10", "preset": "ultrafast"}
        for j, col in enumerate(colours):
            fr = av.VideoFrame.from_ndarray(np.full((240, 320, 3), col, np.uint8), format="rgb24")
            fr.pts = j
            for p in st.encode(fr):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    out = export_video(cups, masks, OBJECTS, tmp_path / "loop.mp4", [Background(video=bg)],
                       frames=range(100, 112))
    decoded = [f[120, 160] for f in decode(bg)[0].values()]  # the colours as they decode
    got, n = decode(out)
    assert n == 12
    for k in range(12):
        m = disc(100 + k)
        assert close(got[k], decoded[k % 5], outside(m), p99_tol=FLAT_P99_TOL), k
        assert np.abs(decoded[k % 5].astype(int) - colours[k % 5]).max() < 12
        assert close(got[k], cups.get_frame(100 + k), inside(m)), k


def test_unreadable_background_video_is_a_user_error_naming_it(cups, masks, tmp_path):
    bad = tmp_path / "broken_clip.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    out = tmp_path / "never.mp4"
    with pytest.raises(UserError, match="broken_clip.mp4"):
        export_video(cups, masks, OBJECTS, out, [Background(video=bad)], frames=range(0, 5))
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken_clip.mp4"]


# ---- cut-out with alpha ---------------------------------------------------------------------
def test_cutout_prores_4444_mov_has_alpha_0_outside_and_255_inside(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "cut.mov", [CutOut()], frames=range(100, 104))
    info = probe(out)
    assert info["codec"] == "prores" and info["frames"] == 4
    assert abs(info["audio_s"] - 4 / cups.fps) <= info["audio_frame_s"]
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt.startswith("yuva")  # yuva444p10le/12le
    got, _ = decode(out, None, fmt="rgba")
    for k, img in got.items():
        m = disc(100 + k)
        assert (img[..., 3][outside(m, 2)] == 0).all()
        assert (img[..., 3][inside(m, 2)] == 255).all()
        assert close(img[..., :3], cups.get_frame(100 + k), inside(m))


def test_cutout_png_folder_alpha_is_exactly_the_mask(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "frames", [CutOut()], frames=range(50, 53))
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["000000.png", "000001.png", "000002.png"]
    for k, f in enumerate(files):
        bgra = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert bgra.shape == (720, 1280, 4)
        np.testing.assert_array_equal(bgra[..., 3], disc(50 + k).astype(np.uint8) * 255)
        src = cups.get_frame(50 + k)
        m = disc(50 + k)
        np.testing.assert_array_equal(bgra[..., 2::-1][m], src[m])


@pytest.mark.skipif("libvpx-vp9" not in av.codecs_available, reason="libvpx-vp9 is not available")
def test_cutout_webm_vp9_keeps_alpha(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "cut.webm", [CutOut()], frames=range(80, 82))
    got, n = decode(out, None, fmt="rgba", codec="libvpx-vp9")
    assert n == 2
    for k, img in got.items():  # VP9 codes the alpha plane lossily too: it rings at edges
        m = disc(80 + k)
        assert (img[..., 3][outside(m)] < 8).all()
        assert (img[..., 3][inside(m)] > 247).all()


def test_cutout_into_mp4_is_a_user_error(cups, masks, tmp_path):
    with pytest.raises(UserError, match="transparency"):
        export_video(cups, masks, OBJECTS, tmp_path / "x.mp4", [CutOut()], frames=range(0, 2))
    assert not (tmp_path / "x.mp4").exists()


# ---- per-object effects ---------------------------------------------------------------------
def test_grade_saturation_zero_greys_the_object_only(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "grey.mp4", [Grade(saturation=0.0)],
                       frames=range(120, 124))
    got, n = decode(out)
    assert n == 4
    for k, img in got.items():
        m, src = disc(120 + k), cups.get_frame(120 + k)
        def spread(a, m=m):
            return (a.max(-1).astype(int) - a.min(-1))[inside(m)]

        assert spread(src).mean() > 15  # the source is coloured there...
        assert spread(img).mean() < 3  # ...the export is grey
        grey = cv2.cvtColor(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        assert close(img, grey, inside(m))
        assert close(img, src, outside(m))


def test_inverted_grade_changes_the_background_only(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "dark.mp4",
                       [Grade(brightness=-0.25, contrast=0.5, invert=True)], frames=range(75, 77))
    got, _ = decode(out)
    m, src = disc(75), cups.get_frame(75)
    expect = np.clip((src.astype(float) - 128) * 0.5 + 128 - 63.75, 0, 255)
    assert close(got[0], expect, outside(m))
    assert close(got[0], src, inside(m))


def stripes(h=2 * R + 2, w=2 * R + 2, period=16) -> np.ndarray:
    """Vertical plus horizontal square-wave stripes: d/dx and d/dy energy are separable."""
    yy, xx = np.mgrid[0:h, 0:w]
    v = 128 + 55 * np.sign(np.sin(2 * np.pi * (xx + 0.5) / period)) \
        + 55 * np.sign(np.sin(2 * np.pi * (yy + 0.5) / period))
    return np.repeat(np.clip(v, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def gradient_energy(img: np.ndarray, where: np.ndarray) -> tuple[float, float]:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    gx = np.abs(np.diff(g, axis=1))
    gy = np.abs(np.diff(g, axis=0))
    return gx[where[:, 1:]].mean(), gy[where[1:, :]].mean()


def test_motion_blur_smears_along_the_motion_direction_only(cups, tmp_path):
    speed = 8  # px/frame to the right
    video = Stamped(cups, texture=stripes(), speed=speed)
    ms = MaskStore(720, 1280)
    for i in range(40, 50):
        ms.set(i, 1, disc(i, c=video.centre(i)))
    out = export_video(video, ms, OBJECTS, tmp_path / "blur.mp4", [MotionBlur(strength=2.0)],
                       frames=range(42, 46))  # kernel: 2 x 8 = 16 px = one stripe period
    got, n = decode(out)
    assert n == 4
    for k, img in got.items():
        i = 42 + k
        m = inside(disc(i, c=video.centre(i)), 20)
        sx, sy = gradient_energy(video.get_frame(i), m)
        bx, by = gradient_energy(img, m)
        assert bx < 0.3 * sx, (bx, sx)  # across the vertical stripes: smeared flat
        assert by > 0.7 * sy, (by, sy)  # along the horizontal stripes: kept sharp
        far = outside(disc(i, c=video.centre(i)), 40)
        assert close(img, video.get_frame(i), far)


def test_pixelate_and_blur_change_pixels_inside_only(cups, tmp_path):
    ms = MaskStore(720, 1280)
    objects = {1: TrackedObject(1, "face"), 2: TrackedObject(2, "plate")}
    a = disc(0, r=90, c=(640, 160))  # on the knitted sweater
    b = disc(0, r=90, c=(1150, 110))  # on the foliage
    for i in range(100, 103):
        ms.set(i, 1, a)
        ms.set(i, 2, b)
    out = export_video(cups, ms, objects, tmp_path / "privacy.mp4",
                       [Pixelate(block=16, objects=[1]), Blur(sigma=12, objects=[2])],
                       frames=range(100, 103))
    got, n = decode(out)
    assert n == 3
    well_inside = inside(a, 2)
    cells = [(y, x) for y in range(0, 720, 16) for x in range(0, 1280, 16)
             if well_inside[y:y + 16, x:x + 16].all()]
    assert len(cells) >= 50
    for k, img in got.items():
        src = cups.get_frame(100 + k)
        # outside both objects: untouched
        assert close(img, src, outside(a) & outside(b))
        # pixelated: every 16x16 cell of the frame grid inside is one flat colour
        std = lambda im: np.mean([im[y:y + 16, x:x + 16].astype(float).std(axis=(0, 1)).mean()  # noqa: E731
                                  for y, x in cells])
        assert std(img) < 2.5 and std(src) > 8
        # blurred: the fine detail is gone inside object 2
        sx, sy = gradient_energy(src, inside(b))
        ox, oy = gradient_energy(img, inside(b))
        assert ox < 0.5 * sx and oy < 0.5 * sy
        reference = cv2.GaussianBlur(src, (0, 0), 12)
        assert close(img, reference, inside(b, 40))


def test_feathered_edges_fade_over_the_feather_radius(cups, masks, tmp_path):
    out = export_video(cups, masks, OBJECTS, tmp_path / "soft", [CutOut()], frames=range(60, 61),
                       feather=12)
    alpha = cv2.imread(str(out / "000000.png"), cv2.IMREAD_UNCHANGED)[..., 3]
    x, y = centre(60)
    row = alpha[y, x + R - 14: x + R + 15].astype(int)  # across the right edge
    assert row[0] >= 250 and row[-1] <= 5
    assert np.all(np.diff(row) <= 0) and 60 < row[14] < 200  # a smooth ramp through ~half
    assert ((alpha > 0) & (alpha < 255)).sum() > 2 * math.pi * R * 10


# ---- cancel, errors ------------------------------------------------------------------------
def test_cancel_leaves_no_file_under_the_final_name(cups, masks, tmp_path):
    cancel = threading.Event()

    def progress(done, total):
        if done == 3:
            cancel.set()

    out = tmp_path / "cancelled.mp4"
    with pytest.raises(Cancelled):
        export_video(cups, masks, OBJECTS, out, [Overlay()], frames=range(0, 50),
                     progress=progress, cancel=cancel)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_unknown_object_and_bad_suffix_are_user_errors(cups, masks, tmp_path):
    with pytest.raises(UserError, match="object 7"):
        export_video(cups, masks, OBJECTS, tmp_path / "a.mp4", [Overlay(objects=[7])], frames=range(2))
    with pytest.raises(UserError, match=".gif"):
        export_video(cups, masks, OBJECTS, tmp_path / "a.gif", [Overlay()], frames=range(2))
    assert list(tmp_path.iterdir()) == []


def test_in_memory_video_exports_without_audio(tmp_path):
    frames = [np.full((64, 96, 3), 10 * i, np.uint8) for i in range(5)]
    video = ArrayVideo(frames, fps=25)
    ms = MaskStore(64, 96)
    ms.set(2, 1, np.pad(np.ones((20, 20), bool), ((10, 34), (10, 66))))
    out = export_video(video, ms, OBJECTS, tmp_path / "mem.mp4", [Overlay()])
    with av.open(str(out)) as c:
        assert not c.streams.audio
        assert c.streams.video[0].average_rate == 25
    assert decode(out)[1] == 5


# ---- presence cut -------------------------------------------------------------------------
def presence_store(present: set[int], n: int = 150) -> MaskStore:
    ms = MaskStore(720, 1280)
    for i in range(n):
        ms.set(i, 1, disc(i) if i in present else np.zeros((720, 1280), bool))
    return ms


CUT_PRESENT = set(range(20, 50)) | set(range(52, 60)) | set(range(90, 92)) | set(range(110, 140))


def test_plan_cut_merges_short_gaps_and_drops_short_spans(cups):
    ms = presence_store(CUT_PRESENT)
    fps = cups.fps
    assert plan_cut(ms, 150, fps, [1]) == [(20, 49), (52, 59), (90, 91), (110, 139)]
    assert plan_cut(ms, 150, fps, [1], merge_gap=2) == [(20, 49), (52, 59), (90, 91), (110, 139)]
    assert plan_cut(ms, 150, fps, [1], merge_gap=3) == [(20, 59), (90, 91), (110, 139)]
    assert plan_cut(ms, 150, fps, [1], merge_gap=3, min_span=3) == [(20, 59), (110, 139)]
    assert plan_cut(ms, 150, fps, [1], min_span=9) == [(20, 49), (110, 139)]
    # the same limits in seconds: a 2-frame gap lasts 0.0667 s, a 2-frame span too
    assert plan_cut(ms, 150, fps, [1], merge_gap_s=0.07, min_span_s=0.1) == [(20, 59), (110, 139)]
    assert plan_cut(ms, 150, fps, [1], merge_gap=100) == [(20, 139)]
    with pytest.raises(UserError):
        plan_cut(ms, 150, fps, [1], merge_gap=3, merge_gap_s=0.1)


def test_plan_cut_any_versus_all():
    ms = MaskStore(720, 1280)
    for i in range(20):
        ms.set(i, 1, disc(i) if 2 <= i < 12 else np.zeros((720, 1280), bool))
        ms.set(i, 2, disc(i) if 8 <= i < 16 else np.zeros((720, 1280), bool))
    assert plan_cut(ms, 20, 30, [1, 2], mode="any") == [(2, 15)]
    assert plan_cut(ms, 20, 30, [1, 2], mode="all") == [(8, 11)]
    assert plan_cut(ms, 20, 30, [2]) == [(8, 15)]


def test_presence_cut_keeps_exactly_the_kept_frames_with_matching_audio(cups, tmp_path):
    video = Stamped(cups)
    ms = presence_store(CUT_PRESENT)
    out = tmp_path / "cut.mp4"
    calls = []
    export_cut(video, ms, OBJECTS, out, merge_gap=3, min_span=5,
               progress=lambda d, t: calls.append((d, t)))
    spans = [(20, 59), (110, 139)]
    kept = [i for a, b in spans for i in range(a, b + 1)]
    assert calls[-1] == (len(kept), len(kept))
    got, n = decode(out)
    assert n == len(kept) == 70
    assert [read_stamp(got[k]) for k in range(n)] == kept  # frame by frame, in order
    for k in (0, 39, 40, 69):
        assert close(got[k], video.get_frame(kept[k]), np.ones((720, 1280), bool)), k
    info = probe(out)
    assert info["rate"] == Fraction(30000, 1001) and info["time_base"] == Fraction(1, 30000)
    assert abs(info["audio_s"] - 70 / cups.fps) <= info["audio_frame_s"]
    doc = json.loads(spans_json_path(out).read_text())
    assert spans_json_path(out).name == "cut.mp4.spans.json"
    assert [(s["first"], s["last"]) for s in doc["spans"]] == spans
    assert doc["kept_frames"] == 70
    assert doc["spans"][1]["out_first"] == 40
    assert doc["spans"][1]["start_s"] == pytest.approx(110 / cups.fps, abs=1e-4)
    assert doc["spans"][1]["end_s"] == pytest.approx(140 / cups.fps, abs=1e-4)


def test_cut_with_given_spans_effects_and_sidecar_path(cups, masks, tmp_path):
    side = tmp_path / "meta" / "kept.json"
    out = export_cut(cups, masks, OBJECTS, tmp_path / "frames", spans=[(28, 31), (100, 101)],
                     effects=[CutOut()], spans_path=side)
    files = sorted(out.iterdir())
    assert len(files) == 6
    for f, i in zip(files, [28, 29, 30, 31, 100, 101]):
        alpha = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)[..., 3]
        np.testing.assert_array_equal(alpha, (disc(i) if i in PRESENT else np.zeros((720, 1280), bool))
                                      .astype(np.uint8) * 255)
    doc = json.loads(side.read_text())
    assert [(s["first"], s["last"], s["frames"]) for s in doc["spans"]] == [(28, 31, 4), (100, 101, 2)]
    with pytest.raises(UserError, match="overlap"):
        export_cut(cups, masks, OBJECTS, tmp_path / "bad.mp4", spans=[(10, 20), (15, 30)])
    with pytest.raises(UserError, match="never present"):
        export_cut(cups, presence_store(set()), OBJECTS, tmp_path / "none.mp4")
    assert not (tmp_path / "bad.mp4").exists() and not (tmp_path / "none.mp4").exists()


TONE_FPS, TONE_SR, TONE_FRAMES = 25, 48000, 100


def tone_level(t: float) -> float:
    """RMS of the tone clip's audio at ``t`` seconds: amplitude 0.8 * t / 4 s, a sine."""
    return 0.8 * t / 4.0 / math.sqrt(2)


@pytest.fixture(scope="module")
def tone_clip(tmp_path_factory):
    """A 4 s clip (160x96, 25 fps) whose mono audio is a 440 Hz tone getting louder linearly
    with time, so the loudness tells where in the source a piece of audio comes from."""
    path = tmp_path_factory.mktemp("tone") / "tone.mp4"
    sr, n = TONE_SR, TONE_FRAMES
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=TONE_FPS)
        v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
        v.options = {"preset": "ultrafast"}
        a = c.add_stream("aac", rate=sr)
        a.layout = "mono"
        t = np.arange(n * sr // TONE_FPS) / sr
        wave = (0.8 * t / 4.0 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for s0 in range(0, len(wave), 1024):
            af = av.AudioFrame.from_ndarray(wave[None, s0:s0 + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = sr, s0
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
        for i in range(n):
            vf = av.VideoFrame.from_ndarray(np.full((96, 160, 3), i * 2, np.uint8), format="rgb24")
            vf.pts = i
            for p in v.encode(vf):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    video = open_video(path)
    yield video
    video.close()


def levels(path: Path, times) -> list[float]:
    """RMS of the first audio channel over 0.1 s windows centred on ``times``."""
    with av.open(str(path)) as c:
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(audio=0)])
    return [float(np.sqrt(np.mean(pcm[int((t - 0.05) * TONE_SR):int((t + 0.05) * TONE_SR)] ** 2)))
            for t in times]


def test_cut_audio_is_taken_from_the_kept_times(tone_clip, tmp_path):
    """After the cut, the loudness at each output time is the loudness at the matching
    source time (spans 0.4-1.2 s and 2.8-3.6 s of the source)."""
    ms = MaskStore(96, 160)
    present = set(range(10, 30)) | set(range(70, 90))
    for i in range(TONE_FRAMES):
        ms.set(i, 1, np.full((96, 160), i in present))
    out = export_cut(tone_clip, ms, OBJECTS, tmp_path / "tone_cut.mp4")
    assert json.loads(spans_json_path(out).read_text())["kept_frames"] == 40
    info = probe(out)
    assert abs(info["audio_s"] - 40 / TONE_FPS) <= info["audio_frame_s"]
    pairs = [(0.1, 0.5), (0.7, 1.1), (0.9, 2.9), (1.5, 3.5)]  # (output time, source time)
    for (out_t, src_t), got in zip(pairs, levels(out, [p[0] for p in pairs])):
        assert got == pytest.approx(tone_level(src_t), rel=0.08), (out_t, src_t)


def test_sub_range_export_cuts_the_audio_to_the_same_times(tone_clip, tmp_path):
    ms = MaskStore(96, 160)
    out = export_video(tone_clip, ms, OBJECTS, tmp_path / "tail.mp4", [Overlay()],
                       frames=range(75, 95))  # 3.0 s to 3.8 s
    info = probe(out)
    assert info["frames"] == 20
    assert abs(info["audio_s"] - 0.8) <= info["audio_frame_s"]
    for t, got in zip((0.1, 0.4, 0.7), levels(out, (0.1, 0.4, 0.7))):
        assert got == pytest.approx(tone_level(3.0 + t), rel=0.08), t
