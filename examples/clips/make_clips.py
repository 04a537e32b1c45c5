"""Cut the batch examples' clips from the bundled sample clip (run from the repository root:
``python examples/clips/make_clips.py``): one second from its start and one from its end, at
half size (640x360), H.264. Like the sample, they are under the Apache License 2.0."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "resources" / "sample" / "cups.mp4"
CLIPS = {"cups_start.mp4": range(0, 30), "cups_end.mp4": range(120, 150)}


def cut(name: str, frames: range) -> None:
    rate = Fraction(30000, 1001)
    with av.open(str(SAMPLE)) as inp, av.open(str(HERE / name), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=rate, options={"crf": "28"})
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        n = 0
        for i, frame in enumerate(inp.decode(video=0)):
            if i in frames:
                img = frame.reformat(width=640, height=360, format="yuv420p")
                img.pts, img.time_base = n, 1 / rate
                out.mux(stream.encode(img))
                n += 1
        out.mux(stream.encode())


if __name__ == "__main__":
    for clip, span in CLIPS.items():
        cut(clip, span)
