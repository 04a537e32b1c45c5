"""Variable frame rate: edited-video exports keep every frame's original timestamp (from the
source's pts and time base), in full-length exports, sub-ranges and presence cuts.

The clip is generated here: H.264 in MP4 with frames at irregular times (a 319 ms gap after
frame 4, as a phone does when it drops its rate in low light)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from sam2studio.core.masks import MaskStore
from sam2studio.core.objects import TrackedObject
from sam2studio.core.video import open_video
from sam2studio.export.effects import Overlay
from sam2studio.export.render import export_video, render

PTS_MS = [0, 33, 66, 100, 133, 452, 485, 518, 700, 733, 766, 800, 833, 1200, 1233]
W, H = 64, 48


BURST = (0.452, 0.552)  # seconds of a loud tone in the audio track: it starts with frame 5
SR = 48000


def write_vfr_clip(path: Path, pts_ms=PTS_MS, audio: bool = False) -> Path:
    out = av.open(str(path), "w")
    st = out.add_stream("libx264", rate=30)
    st.width, st.height, st.pix_fmt = W, H, "yuv420p"
    st.time_base = Fraction(1, 1000)
    st.codec_context.time_base = Fraction(1, 1000)  # else the encoder rounds pts to 1/30 s
    st.options = {"crf": "18", "bf": "0"}
    if audio:
        ast = out.add_stream("aac", rate=SR)
        ast.layout = "mono"
        n = int(SR * (pts_ms[-1] / 1000 + 0.2))
        t = np.arange(n) / SR
        wave = np.where((t >= BURST[0]) & (t < BURST[1]), 0.8 * np.sin(2 * np.pi * 1000 * t), 0.0)
        for k in range(0, n, 1024):
            chunk = wave[k:k + 1024].astype(np.float32)[None, :]
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = SR, k, Fraction(1, SR)
            for p in ast.encode(af):
                out.mux(p)
        for p in ast.encode(None):
            out.mux(p)
    for i, t in enumerate(pts_ms):
        f = av.VideoFrame.from_ndarray(np.full((H, W, 3), (i * 16) % 256, np.uint8), format="rgb24")
        f.pts, f.time_base = t, Fraction(1, 1000)
        for p in st.encode(f):
            out.mux(p)
    for p in st.encode(None):
        out.mux(p)
    out.close()
    return path


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = write_vfr_clip(tmp_path_factory.mktemp("vfr") / "vfr.mp4")
    video = open_video(path)
    assert np.allclose(video.timestamps, np.array(PTS_MS) / 1000, atol=1e-3)  # the source is VFR
    masks = MaskStore(H, W)
    for i in range(len(PTS_MS)):
        m = np.zeros((H, W), bool)
        m[10:30, 5 + 2 * i:25 + 2 * i] = True
        masks.set(i, 1, m)
    return video, masks, {1: TrackedObject(1, "box")}


def test_a_full_length_export_keeps_every_frames_timestamp(clip, tmp_path):
    video, masks, objects = clip
    out = export_video(video, masks, objects, tmp_path / "o.mp4", [Overlay()])
    got = frame_times(out)
    assert len(got) == len(PTS_MS)
    assert np.allclose(got, np.array(PTS_MS) / 1000, atol=1.5e-3), got
    assert abs(got[5] - 0.452) < 1.5e-3  # not re-timed to a constant rate (0.31 s)


def test_a_sub_range_keeps_the_gaps_between_its_frames(clip, tmp_path):
    video, masks, objects = clip
    out = export_video(video, masks, objects, tmp_path / "part.mp4", [Overlay()], frames=range(3, 10))
    got = frame_times(out)
    want = (np.array(PTS_MS[3:10]) - PTS_MS[3]) / 1000
    assert np.allclose(got, want, atol=1.5e-3), got


def test_a_presence_cut_keeps_the_timing_inside_each_kept_span(clip, tmp_path):
    video, masks, objects = clip
    spans = [(1, 2), (5, 9)]
    out = render(video, masks, objects, tmp_path / "cut.mp4", [Overlay()], spans, audio="none")
    got = np.array(frame_times(out))
    first = (np.array(PTS_MS[1:3]) - PTS_MS[1]) / 1000
    span1 = (PTS_MS[3] - PTS_MS[1]) / 1000  # the first span lasts until the frame after it
    second = span1 + (np.array(PTS_MS[5:10]) - PTS_MS[5]) / 1000
    assert np.allclose(got, np.concatenate([first, second]), atol=1.5e-3), got


def audio_onset(path: Path) -> float:
    """Output time (s) of the first loud audio sample."""
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        for fr in c.decode(s):
            x = np.abs(fr.to_ndarray()).max(axis=0)
            loud = np.nonzero(x > 0.3)[0]
            if loud.size:
                return float(fr.pts * fr.time_base) + loud[0] / fr.sample_rate
    raise AssertionError("no loud sample")


@pytest.mark.parametrize("frames", [None, range(3, 12)],
                         ids=["full length, audio passed through", "sub-range, audio cut"])
def test_the_audio_stays_with_its_frames(tmp_path, frames):
    path = write_vfr_clip(tmp_path / "av.mp4", audio=True)
    video = open_video(path)
    masks = MaskStore(H, W)
    masks.set(0, 1, np.zeros((H, W), bool))
    out = export_video(video, masks, {1: TrackedObject(1, "x")}, tmp_path / "o.mp4", [Overlay()],
                       frames=frames)
    first = 0 if frames is None else frames.start
    k5 = 5 - first  # frame 5 is where the tone starts
    t5 = frame_times(out)[k5]
    assert abs(t5 - (PTS_MS[5] - PTS_MS[first]) / 1000) < 1.5e-3
    assert abs(audio_onset(out) - t5) < 0.03, (audio_onset(out), t5)
