"""How the files in tests/data were made (kept for the record; the tests only read the files).

Run from the repository root with the project's test material beside it (../shared/data, which a
clone does not have): ``python scripts/make_test_data.py``. Frames and masks are cut to half size
(428x240, masks resized with nearest neighbour, so they stay palette PNGs of the same objects);
dog.mp4 is the first 48 frames of 01_dog.mp4 at 640x360 with its audio, re-encoded with several
key frames and B-frames and the index at the front, so seeking and truncation are tested on it;
bedroom.mp4 is the first 60 frames of bedroom.mp4 at 320x180 (children jumping in front of
striped wallpaper, for the quality check's not-following measure).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

SRC = Path("../shared/data")
DST = Path(__file__).resolve().parents[1] / "tests" / "data"
SIZE = (428, 240)


def frames_and_masks(name: str, frames: range, masks: list[int]) -> None:
    (DST / name / "frames").mkdir(parents=True, exist_ok=True)
    (DST / name / "masks").mkdir(parents=True, exist_ok=True)
    for i in frames:
        img = Image.open(SRC / "frames" / name / f"{i:05d}.jpg").convert("RGB")
        img.resize(SIZE, Image.Resampling.LANCZOS).save(DST / name / "frames" / f"{i:05d}.jpg", quality=85)
    for i in masks:
        m = Image.open(SRC / "masks" / name / f"{i:05d}.png")
        assert m.mode == "P"
        m.resize(SIZE, Image.Resampling.NEAREST).save(DST / name / "masks" / f"{i:05d}.png", optimize=True)


def dog_clip(frames: int = 48) -> None:
    rate = Fraction(30000, 1001)
    with av.open(str(SRC / "videos" / "01_dog.mp4")) as inp, \
            av.open(str(DST / "dog.mp4"), "w", options={"movflags": "faststart"}) as out:
        vs = out.add_stream("libx264", rate=rate, options={"crf": "30", "g": "20", "bf": "2", "preset": "medium"})
        vs.width, vs.height, vs.pix_fmt = 640, 360, "yuv420p"
        ain = inp.streams.audio[0]
        aout = out.add_stream("aac", rate=ain.rate)
        aout.bit_rate = 64000
        stop = frames / rate
        n = 0
        for frame in inp.decode(inp.streams.video[0]):
            if n >= frames:
                break
            img = frame.reformat(width=640, height=360, format="yuv420p")
            img.pts, img.time_base = n, 1 / rate
            out.mux(vs.encode(img))
            n += 1
        out.mux(vs.encode())
        inp.seek(0)
        for frame in inp.decode(ain):
            if frame.time is not None and frame.time >= stop:
                break
            frame.pts = None
            out.mux(aout.encode(frame))
        out.mux(aout.encode())


def bedroom_clip(frames: int = 60) -> None:
    with av.open(str(SRC / "videos" / "bedroom.mp4")) as inp, \
            av.open(str(DST / "bedroom.mp4"), "w", options={"movflags": "faststart"}) as out:
        vs = out.add_stream("libx264", rate=30, options={"crf": "26", "preset": "medium"})
        vs.width, vs.height, vs.pix_fmt = 320, 180, "yuv420p"
        for n, frame in enumerate(inp.decode(inp.streams.video[0])):
            if n >= frames:
                break
            img = frame.reformat(width=320, height=180, format="yuv420p", interpolation="AREA")
            img.pts, img.time_base = n, Fraction(1, 30)
            out.mux(vs.encode(img))
        out.mux(vs.encode())


if __name__ == "__main__":
    frames_and_masks("judo", range(16), [0, 5, 8, 13])
    frames_and_masks("bike", range(4), [0])
    dog_clip()
    bedroom_clip()
