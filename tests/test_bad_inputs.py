"""Bad inputs through the real command line: each case runs ``python -m sam2studio`` in a child
process and must exit 2 with at most 3 lines on stderr, no traceback, and leave nothing behind
(no new file or folder anywhere the command could write: a half-written or complete-looking
output is a failure).

Full and read-only disks are real tmpfs mounts (skipped with the reason when the tests cannot
mount one); the project lock is held by a real second process; the download server is a real
loopback HTTP server that trickles bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from lock_holder import Holder
from fs_faults import tmpfs
from loopback import LoopbackServer
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
W, H, N = 64, 48, 6


def square(i: int) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[12:30, 10 + 3 * i:30 + 3 * i] = True
    return m


def write_frames(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(N):
        img = np.full((H, W, 3), 40, np.uint8)
        img[square(i)] = (230, 60, 40)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return folder


def write_mp4(path: Path, noise: bool = False) -> Path:
    import av

    w, h = (640, 480) if noise else (W, H)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        for i in range(N):
            if noise:
                img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            else:
                img = np.full((H, W, 3), 40, np.uint8)
                img[square(i)] = (230, 60, 40)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def write_project(path: Path, frames: Path, damaged: tuple[int, int] | None = None) -> Path:
    from sam2studio.core.objects import TrackedObject
    from sam2studio.core.project import Project
    from sam2studio.core.video import open_video

    with open_video(frames) as video:
        p = Project.for_video(video)
    p.add_object(TrackedObject(1, "box"))
    for i in range(N):
        p.masks.set(i, 1, square(i))
    p.save(path)
    p.close()
    if damaged is not None:
        counts = bytes(p.masks.entry(*damaged).rle["counts"])
        data = bytearray(path.read_bytes())
        at = data.index(counts) + 1
        data[at:at + 3] = bytes(b ^ 0x5A for b in data[at:at + 3])
        path.write_bytes(bytes(data))
    return path


def png(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


class Trickle(LoopbackServer):
    """Sends response headers for 1 MB, then 100 bytes, then nothing."""

    path = "/models"

    def __init__(self) -> None:
        self.done = threading.Event()
        self.start()

    def get(self, request) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(1 << 20))
        request.end_headers()
        try:
            request.wfile.write(b"\0" * 100)
            request.wfile.flush()
        except OSError:
            return
        self.done.wait(60)

    def unblock(self) -> None:
        self.done.set()


@dataclass
class Ctx:
    """Where a case runs: its own folder, the inputs made for it, the places it must not touch."""

    tmp: Path
    stack: ExitStack
    frames: Path
    env: dict = field(default_factory=dict)
    watched: list[Path] = field(default_factory=list)
    stdin_lines: int = 0

    def fs(self, **kw) -> Path:
        point = self.stack.enter_context(tmpfs(**kw))
        self.watched.append(point)
        return point


def _case_mask_all_zero(c: Ctx):
    m = png(c.tmp / "mask.png", np.zeros((H, W)))
    return ["segment", c.frames, "--out", c.tmp / "out", "--mask", f"1:0:{m}", "--engine", "classic"], \
        "mask.png has no foreground pixels"


def _case_mask_other_aspect(c: Ctx):
    m = png(c.tmp / "wide.png", np.full((H, 2 * W), 255))
    return ["segment", c.frames, "--out", c.tmp / "out", "--mask", f"1:0:{m}", "--engine", "classic"], \
        "a different aspect ratio"


def _case_mask_half_size_without_resize(c: Ctx):
    m = png(c.tmp / "half.png", np.full((H // 2, W // 2), 255))
    return ["segment", c.frames, "--out", c.tmp / "out", "--mask", f"1:0:{m}", "--engine", "classic"], \
        "--mask-resize"


def _case_checkpoint_with_classic(c: Ctx):
    ck = c.tmp / "ck.pt"
    ck.write_bytes(b"x")
    return ["segment", c.frames, "--out", c.tmp / "out", "--click", "1:0:20:20", "--engine", "classic",
            "--checkpoint", ck], "--checkpoint is for the sam2 engine"


def _case_click_outside_the_frame(c: Ctx):
    return ["segment", c.frames, "--out", c.tmp / "out", "--click", "1:0:500:20", "--engine", "classic"], "outside"


def _case_out_on_a_full_disk(c: Ctx):
    fs = c.fs(size="256k", full=True)
    return ["segment", c.frames, "--out", fs / "out", "--click", "1:0:20:20", "--engine", "classic"], \
        "the disk is full"


def _case_project_on_a_read_only_disk(c: Ctx):
    fs = c.fs(size="256k", read_only=True)
    return ["segment", c.frames, "--out", c.tmp / "out", "--click", "1:0:20:20", "--engine", "classic",
            "--project", fs / "p.s2s"], "read-only"


def _case_quality_report_on_a_read_only_disk(c: Ctx):
    fs = c.fs(size="256k", read_only=True)
    return ["segment", c.frames, "--out", c.tmp / "out", "--click", "1:0:20:20", "--engine", "classic",
            "--quality-report", fs / "q.json"], "read-only"


def _case_project_written_by_another_process(c: Ctx):
    proj = write_project(c.tmp / "shared.s2s", c.frames)
    holder = Holder(proj)
    c.stack.callback(holder.stop)
    return ["segment", c.frames, "--out", c.tmp / "out", "--click", "1:0:20:20", "--engine", "classic",
            "--project", proj], "shared.s2s is open for writing by another SAM2 Studio"


def _case_export_a_damaged_project(c: Ctx):
    proj = write_project(c.tmp / "d.s2s", c.frames, damaged=(3, 1))
    return ["export", proj, "--format", "png", "--out", c.tmp / "out"], \
        "frame 3, object 1: mask data is damaged"


def _case_export_to_a_full_disk(c: Ctx):
    proj = write_project(c.tmp / "ok.s2s", c.frames)
    fs = c.fs(size="256k", full=True)
    return ["export", proj, "--format", "overlay", "--out", fs / "o.mp4", "--video", c.frames], "the disk is full"


def _manifest(c: Ctx) -> Path:
    m = c.tmp / "m.jsonl"
    m.write_text(json.dumps({"id": "a", "video": str(c.frames), "clicks": ["1:0:20:20"]}) + "\n")
    return m


def _case_batch_out_on_a_full_disk(c: Ctx):
    m = _manifest(c)
    fs = c.fs(size="256k", full=True)
    return ["batch", m, "--out", fs / "runs", "--engine", "classic", "--workers", "1"], "the disk is full"


def _case_batch_checkpoint_with_classic(c: Ctx):
    m = _manifest(c)
    ck = c.tmp / "ck.pt"
    ck.write_bytes(b"x")
    return ["batch", m, "--out", c.tmp / "runs", "--engine", "classic", "--checkpoint", ck], \
        "--checkpoint is for the sam2 engine"


def _case_check_a_damaged_project(c: Ctx):
    proj = write_project(c.tmp / "d.s2s", c.frames, damaged=(2, 1))
    return ["check", proj], "damaged"


def _case_check_a_file_that_is_not_a_project(c: Ctx):
    f = c.tmp / "notes.s2s"
    f.write_bytes(b"not sqlite at all" * 20)
    return ["check", f], "notes.s2s"


def _case_live_click_outside_the_frame(c: Ctx):
    clip = write_mp4(c.tmp / "clip.mp4")
    return ["live", "--file", clip, "--click", "1:5000:10", "--no-window", "--engine", "classic"], "outside"


def _case_segment_fills_the_disk_while_writing(c: Ctx):
    fs = c.fs(size="256k", leave=20 * 1024)  # passes the checks; its 4 KB pages run out mid-way
    return ["segment", c.frames, "--out", fs / "out", "--click", "1:0:20:20", "--engine", "classic",
            "--project", fs / "p.s2s"], "the disk is full"


def _case_live_record_fills_the_disk(c: Ctx):
    clip = write_mp4(c.tmp / "noisy.mp4", noise=True)  # 640x480 noise: each JPEG is ~100 KB
    fs = c.fs(size="512k", leave=160 * 1024)
    return ["live", "--file", clip, "--click", "1:300:200", "--no-window", "--engine", "classic",
            "--record", fs / "live.s2s", "--max-frames", "5"], "the disk is full"


def _case_live_record_on_a_full_disk(c: Ctx):
    clip = write_mp4(c.tmp / "clip.mp4")
    fs = c.fs(size="256k", full=True)
    return ["live", "--file", clip, "--click", "1:20:20", "--no-window", "--engine", "classic",
            "--record", fs / "live.s2s", "--max-frames", "3"], "the disk is full"


def _case_download_from_a_stalling_server(c: Ctx):
    srv = Trickle()
    c.stack.callback(srv.close)
    c.env.update({"SAM2STUDIO_MODEL_BASE_URL": srv.url, "SAM2STUDIO_DOWNLOAD_STALL": "10000/1",
                  "SAM2STUDIO_CACHE_DIR": str(c.tmp / "cache")})
    (c.tmp / "cache").mkdir()
    return ["models", "download", "sam2.1-tiny", "--quiet"], "the download stalled"


CASES = {name[len("_case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("_case_")}


def _tree(paths: list[Path]) -> set[str]:
    out = set()
    for root in paths:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                out.add(os.path.join(dirpath, n))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_exits_2_with_one_clear_line_and_leaves_nothing(case, tmp_path):
    frames = write_frames(tmp_path / "frames")
    with ExitStack() as stack:
        ctx = Ctx(tmp_path, stack, frames, env={"PYTHONPATH": str(ROOT)}, watched=[tmp_path])
        argv, expected = CASES[case](ctx)
        before = _tree(ctx.watched)
        proc = subprocess.run([sys.executable, "-m", "sam2studio", *map(str, argv)], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path, env={**os.environ, **ctx.env})
        after = _tree(ctx.watched)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert 1 <= len(err) <= 3, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert expected in proc.stderr, proc.stderr
    if case.startswith("live_"):
        assert "done:" not in proc.stderr  # refused before it started
    if case == "download_from_a_stalling_server":
        part = tmp_path / "cache" / "sam2.1_hiera_tiny.pt.part"
        assert part.stat().st_size == 100  # kept for a resume
        after.discard(str(part))
    new = sorted(after - before)
    assert new == [], f"left behind: {new}"
