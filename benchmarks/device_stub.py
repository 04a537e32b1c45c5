"""Does the host side keep a GPU fed? SAM2 Studio's pipeline with the model's device work stubbed.

Everything that runs on the host in a real GPU run is real here: the :class:`FileVideo` decoder
(PyAV, 1920x1080 H.264), ``LazyFrames`` (decode-ahead thread, the reference's PIL resize and
normalisation), the real :class:`Sam2Engine` wrapper (prefetch, shared :class:`FeatureCache`,
:class:`OutputSpill` of outputs outside the memory window, object scores), turning the logits
into boolean masks, the :class:`Session` storing every mask (RLE encoding into the mask
store), then the quality statistics and the overlay export (decode, paint, libx264 encode).

Only the predictor is replaced: :class:`StubPredictor` answers ``init_state``,
``add_new_points_or_box`` and ``propagate_in_video`` like sam2's predictor (same state
layout, outputs of the real shapes at image size 1024: FPN features, memory features,
256x256 low-res masks, object pointers and scores, video-resolution mask logits) after
sleeping a fixed latency per frame per object -- the time a GPU would take. The sleep frees
the core, as waiting on a GPU does.

    PYTHONPATH=. python benchmarks/device_stub.py --latency-ms 5 10 20 --objects 1 3

A 1920x1080 clip is made once (bedroom.mp4 scaled up, 200 frames) under the temp folder unless
``--video`` names one; it is never committed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fast_mode import commit  # the benchmark beside this one

SOURCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos" / "bedroom.mp4"


# ---- the 1080p clip ---------------------------------------------------------------------------
def make_clip(path: Path, source: Path = SOURCE, frames: int = 200) -> Path:
    """``source`` scaled to 1920x1080, H.264 (yuv420p, crf 20), at most ``frames`` frames."""
    import av

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(source)) as src, av.open(str(tmp), "w") as dst:
        ins = src.streams.video[0]
        from fractions import Fraction

        rate = Fraction(ins.average_rate or 30)
        out = dst.add_stream("libx264", rate=rate)
        out.width, out.height, out.pix_fmt = 1920, 1080, "yuv420p"
        out.time_base = 1 / rate
        out.options = {"crf": "20", "preset": "veryfast"}
        n = 0
        for frame in src.decode(ins):
            big = frame.reformat(width=1920, height=1080, format="yuv420p")
            big.pts, big.time_base = n, 1 / rate
            for pkt in out.encode(big):
                dst.mux(pkt)
            n += 1
            if n >= frames:
                break
        for pkt in out.encode():
            dst.mux(pkt)
    os.replace(tmp, path)
    return path


# ---- timing of host steps ---------------------------------------------------------------------
class Timers:
    """CPU seconds of the calling thread in each wrapped step (threads that the step itself
    starts, e.g. the decoder's, are not counted), by step, and which threads ran it."""

    def __init__(self) -> None:
        self.total = collections.defaultdict(float)
        self.calls = collections.defaultdict(int)
        self.threads = collections.defaultdict(set)
        self.main = collections.defaultdict(float)  # CPU seconds on the thread that feeds the model
        self._lock = threading.Lock()

    def wrap(self, owner, attr: str, step: str) -> None:
        original = getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            t0 = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                dt = time.thread_time() - t0  # CPU time of this thread: load-independent
                with timers._lock:
                    timers.total[step] += dt
                    timers.calls[step] += 1
                    timers.threads[step].add(threading.current_thread().name.rsplit("_", 1)[0])
                    if threading.current_thread() is threading.main_thread():
                        timers.main[step] += dt

        setattr(owner, attr, timed)

    def reset(self) -> None:
        self.total.clear()
        self.calls.clear()
        self.threads.clear()
        self.main.clear()


# ---- the stub ---------------------------------------------------------------------------------
class StubPredictor:
    """sam2's video predictor, minus the model: the same calls, state and output shapes."""

    def __init__(self, latency_s: float, image_size: int = 1024) -> None:
        import torch

        self.latency_s = float(latency_s)
        self.image_size = int(image_size)
        self.device = torch.device("cpu")
        self.num_maskmem = 7
        self.max_obj_ptrs_in_encoder = 16
        self.memory_temporal_stride_for_eval = 1
        self.memory_attention = torch.nn.Identity()  # the engine hooks it (dtype fix)
        self.device_seconds = 0.0
        s = self.image_size
        # outputs of the real shapes (sam2.1-tiny at image size S), made once: on a GPU they
        # would be device tensors whose creation costs the host nothing
        self._fpn = [torch.zeros(1, 32, s // 4, s // 4), torch.zeros(1, 64, s // 8, s // 8),
                     torch.zeros(1, 256, s // 16, s // 16)]
        self._pos = [torch.zeros(1, 256, s // 4, s // 4), torch.zeros(1, 256, s // 8, s // 8),
                     torch.zeros(1, 256, s // 16, s // 16)]
        self._maskmem = torch.zeros(1, 64, s // 16, s // 16, dtype=torch.bfloat16)
        self._maskmem_pos = [torch.zeros(1, 64, s // 16, s // 16)]
        self._low = torch.zeros(1, 1, s // 4, s // 4)
        self._logits: dict[tuple[int, int], list] = {}

    # -- what the GPU would do: sleep, then hand back outputs of the right shape
    def _device(self) -> None:
        t0 = time.perf_counter()
        time.sleep(self.latency_s)
        self.device_seconds += time.perf_counter() - t0

    def _video_logits(self, state, obj: int, frame: int):
        """A moving ellipse per object at the video's size (int8 logits, +-1)."""
        import torch

        h, w = state["video_height"], state["video_width"]
        key = (h, w, obj)
        if key not in self._logits:
            yy, xx = np.mgrid[0:h, 0:w]
            frames = []
            for k in range(16):
                cx = w * (0.2 + 0.2 * (obj % 3)) + 6 * k
                cy = h * 0.5 + 4 * k
                inside = ((xx - cx) / (w * 0.08)) ** 2 + ((yy - cy) / (h * 0.15)) ** 2 <= 1
                frames.append(torch.from_numpy(np.where(inside, 1, -1).astype(np.int8))[None, None])
            self._logits[key] = frames
        seq = self._logits[key]
        return seq[frame % len(seq)]

    def _features(self, state, frame: int) -> None:
        cached = state["cached_features"].get(frame)
        if cached is None:
            image = state["images"][frame].to(self.device).float().unsqueeze(0)  # real decode + preprocess
            state["cached_features"] = {frame: (image, {"backbone_fpn": self._fpn, "vision_pos_enc": self._pos})}

    def _output(self):
        import torch

        return {"maskmem_features": self._maskmem, "maskmem_pos_enc": self._maskmem_pos,
                "pred_masks": self._low, "obj_ptr": torch.zeros(1, 256),
                "object_score_logits": torch.full((1, 1), 4.0)}

    # -- the predictor's API, as the engine uses it
    def init_state(self, video_path, **_):
        import sam2.sam2_video_predictor as svp

        images, h, w = svp.load_video_frames(video_path, self.image_size)  # the engine's LazyFrames
        state = {"images": images, "num_frames": len(images), "offload_video_to_cpu": False,
                 "offload_state_to_cpu": False, "video_height": h, "video_width": w,
                 "device": self.device, "storage_device": self.device, "point_inputs_per_obj": {},
                 "mask_inputs_per_obj": {}, "cached_features": {}, "constants": {},
                 "obj_id_to_idx": collections.OrderedDict(), "obj_idx_to_id": collections.OrderedDict(),
                 "obj_ids": [], "output_dict_per_obj": {}, "temp_output_dict_per_obj": {},
                 "frames_tracked_per_obj": {}}
        self._features(state, 0)  # sam2 warms up on frame 0
        self._device()
        return state

    def _obj(self, state, obj_id: int) -> dict:
        if obj_id not in state["obj_id_to_idx"]:
            state["obj_id_to_idx"][obj_id] = 0
            state["obj_idx_to_id"][0] = obj_id
            state["obj_ids"] = [obj_id]
            state["output_dict_per_obj"][0] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
            state["temp_output_dict_per_obj"][0] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        return state["output_dict_per_obj"][0]

    def add_new_points_or_box(self, state, frame_idx, obj_id, points=None, labels=None, box=None, **_):
        out = self._obj(state, obj_id)
        self._features(state, frame_idx)
        self._device()
        out["cond_frame_outputs"][frame_idx] = self._output()
        return frame_idx, [obj_id], self._video_logits(state, obj_id, frame_idx)

    def add_new_mask(self, state, frame_idx, obj_id, mask):
        return self.add_new_points_or_box(state, frame_idx, obj_id)

    def propagate_in_video(self, state, start_frame_idx=0, max_frame_num_to_track=None, reverse=False):
        obj_id = state["obj_ids"][0]
        out = state["output_dict_per_obj"][0]
        n = state["num_frames"]
        span = n if max_frame_num_to_track is None else max_frame_num_to_track
        frames = (range(start_frame_idx, max(start_frame_idx - span, 0) - 1, -1) if reverse
                  else range(start_frame_idx, min(start_frame_idx + span, n - 1) + 1))
        for f in frames:
            if f in out["cond_frame_outputs"]:
                yield f, [obj_id], self._video_logits(state, obj_id, f)
                continue
            self._features(state, f)
            self._device()
            out["non_cond_frame_outputs"][f] = self._output()
            yield f, [obj_id], self._video_logits(state, obj_id, f)


# ---- one measurement --------------------------------------------------------------------------
def instrument(timers: Timers) -> None:
    from sam2studio.core import masks as masks_mod
    from sam2studio.core.video import FileVideo
    from sam2studio.engines import sam2_engine, sam2_memory

    timers.wrap(FileVideo, "get_frame", "decode (PyAV, to RGB)")
    timers.wrap(sam2_engine.LazyFrames, "preprocess", "resize + normalise (PIL, as sam2)")
    timers.wrap(sam2_engine.Sam2Engine, "_result", "logits -> mask, score")
    timers.wrap(sam2_memory.OutputSpill, "keep_only", "output spill (memory window)")
    timers.wrap(masks_mod.MaskStore, "set", "store (RLE encode)")
    timers.wrap(sam2_memory.FeatureCache, "update", "feature cache insert")
    timers.wrap(sam2_memory._BlobStore, "put", "feature/output spill write")


def decode_cpu_ms(video_path: Path, frames: int) -> float:
    """CPU ms per frame of decoding alone (PyAV with its own threads, to RGB): process time."""
    from sam2studio.core.video import open_video

    video = open_video(video_path)
    t0 = time.process_time()
    for i in range(1, frames + 1):
        video.get_frame(i)
    ms = 1000 * (time.process_time() - t0) / frames
    video.close()
    return ms


def measure(video_path: Path, latency_ms: float, objects: int, frames: int, timers: Timers,
            out_dir: Path, post: bool) -> dict:
    from sam2studio.core.video import open_video
    from sam2studio.engines.sam2_engine import Sam2Engine
    from sam2studio.session import Session

    stub = StubPredictor(latency_ms / 1000.0)
    video = open_video(video_path)
    engine = Sam2Engine(stub, model_name="stub")
    session = Session.open(video, engine=engine)
    w, h = video.width, video.height
    for obj in range(1, objects + 1):
        session.add_click(0, obj, w * (0.2 + 0.2 * obj), h * 0.5)
    timers.reset()
    stub.device_seconds = 0.0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    n = 0
    for _f, _res in session.propagate(0, "forward", frame_range=(0, frames)):
        n += 1
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    tracked = n - 1  # frame 0 is the prompted frame (no device work)
    fps = tracked / wall
    stub_fps = 1.0 / (latency_ms / 1000.0 * objects)
    row = {"latency_ms": latency_ms, "objects": objects, "frames": tracked, "wall_s": wall,
           "fps": fps, "stub_fps": stub_fps, "ratio_to_stub": fps / stub_fps,
           "host_cpu_ms_per_frame": 1000 * cpu / tracked,
           "device_ms_per_frame": 1000 * stub.device_seconds / tracked,
           "steps_ms_per_frame": {k: 1000 * v / tracked for k, v in sorted(timers.total.items())},
           "steps_threads": {k: sorted(v) for k, v in timers.threads.items()},
           "main_thread_ms_per_frame": 1000 * sum(timers.main.values()) / tracked,
           "main_thread_steps_ms_per_frame": {k: 1000 * v / tracked for k, v in sorted(timers.main.items())},
           "load": open("/proc/loadavg").read().split()[0]}
    if post:
        t1 = time.perf_counter()
        session.quality()
        row["quality_ms_per_frame"] = 1000 * (time.perf_counter() - t1) / len(video)
        t2 = time.perf_counter()
        session.export("overlay", out_dir / f"overlay_{objects}.mp4")
        row["overlay_export_fps"] = len(video) / (time.perf_counter() - t2)
    session.close()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, help="a clip (default: bedroom.mp4 scaled to 1920x1080, made once)")
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[5, 10, 20])
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3])
    ap.add_argument("--frames", type=int, default=120, help="frames propagated after frame 0")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--post", action="store_true", help="also time quality statistics and the overlay export")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    video = args.video or make_clip(Path(tempfile.gettempdir()) / "sam2studio-bench" / "bedroom_1080p.mp4")
    timers = Timers()
    instrument(timers)
    out_dir = Path(tempfile.mkdtemp(prefix="sam2studio-stub-"))
    print(f"# commit {commit()}, {os.cpu_count()} cpus, torch {torch.__version__}, {video}")
    dec = decode_cpu_ms(video, min(args.frames, 60))
    print(f"# decoding alone: {dec:.1f} ms CPU per frame (all threads); load {open('/proc/loadavg').read().split()[0]}")
    rows = []
    for rep in range(args.reps):
        for lat in args.latency_ms:
            for objs in args.objects:
                row = measure(video, lat, objs, args.frames, timers, out_dir, args.post and rep == 0)
                row["rep"] = rep
                rows.append(row)
                steps = ", ".join(f"{k} {v:.1f}" for k, v in row["steps_ms_per_frame"].items())
                extra = ""
                if "overlay_export_fps" in row:
                    extra = (f" | quality {row['quality_ms_per_frame']:.1f} ms/frame, overlay export "
                             f"{row['overlay_export_fps']:.1f} fps")
                print(f"rep {rep} stub {lat:4.0f} ms x {objs} obj: {row['fps']:6.1f} fps "
                      f"({row['ratio_to_stub']:.2f}x the stub's {row['stub_fps']:.0f}) host cpu "
                      f"{row['host_cpu_ms_per_frame']:.1f} ms/frame [{steps}] load {row['load']}{extra}",
                      flush=True)
    summary = collections.defaultdict(list)
    for r in rows:
        summary[(r["latency_ms"], r["objects"])].append(r["fps"])
    print("\nlatency  objects  fps (mean, min-max)  stub fps  ratio")
    for (lat, objs), fpss in summary.items():
        stub = 1000.0 / (lat * objs)
        print(f"{lat:7.0f}  {objs:7d}  {statistics.mean(fpss):6.1f} ({min(fpss):.1f}-{max(fpss):.1f})"
              f"  {stub:8.1f}  {statistics.mean(fpss) / stub:.2f}")
    # what the host allows on a machine where the pipeline has the cores to itself: the model's
    # thread is busy for latency + its own host steps a frame; all host work shares the cores
    print("\nhost CPU per frame and the frame rate it allows (own cores, no other load):")
    print("latency  objects  host CPU ms  main-thread ms  fps limit 2 cores  4 cores  8 cores  stub fps")
    seen = set()
    for r in rows:
        key = (r["latency_ms"], r["objects"])
        if key in seen:
            continue
        seen.add(key)
        same = [x for x in rows if (x["latency_ms"], x["objects"]) == key]
        cpu = statistics.mean(x["host_cpu_ms_per_frame"] for x in same)
        main = statistics.mean(x["main_thread_ms_per_frame"] for x in same)
        serial = r["latency_ms"] * r["objects"] + main
        lim = {c: min(1000 / serial, 1000 * c / cpu) for c in (2, 4, 8)}
        print(f"{r['latency_ms']:7.0f}  {r['objects']:7d}  {cpu:11.1f}  {main:14.1f}  {lim[2]:17.1f}  {lim[4]:7.1f}  "
              f"{lim[8]:7.1f}  {r['stub_fps']:8.1f}")
        for x in same:
            x["fps_limit_cores"] = lim
    if args.json:
        args.json.write_text(json.dumps({"commit": commit(), "decode_cpu_ms": dec, "rows": rows}, indent=1))
    with contextlib.suppress(OSError):
        for p in out_dir.iterdir():
            p.unlink()
        out_dir.rmdir()


if __name__ == "__main__":
    main()
