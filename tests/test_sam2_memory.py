"""Bounded memory in the SAM 2 engine changes no mask: pruned and spilled outputs come back
bit for bit, at every budget, for forward and backward runs, objects added after tracking has
started, and a correction with a re-run. A too-small budget and a full disk get clear errors."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import random_predictor
from sam2studio.core.synthetic import crossing_clip
from sam2studio.core.video import ArrayVideo
from sam2studio.engines.sam2_engine import Sam2Engine, install_memory_dtype_fix
from sam2studio.engines.sam2_memory import MemoryBudgetError, SpillError

SIZE = 128


@pytest.fixture(scope="module")
def clip():
    c = crossing_clip(num_frames=48, width=160, height=96, seed=3)
    return c


class Reference:
    """sam2's predictor called directly, one state per object (objects are tracked
    independently, so this is what one shared state gives: see test_sam2_engine)."""

    def __init__(self, frames, size=SIZE):
        self.pred = random_predictor(size)
        install_memory_dtype_fix(self.pred)
        import sam2.sam2_video_predictor as svp
        from sam2studio.engines.sam2_engine import LazyFrames, _frames_from

        self.images = LazyFrames(ArrayVideo(frames), size)
        self.states = {}
        self._frames_from = _frames_from
        self._svp = svp

    def state(self, obj):
        if obj not in self.states:
            with self._frames_from(self.images):
                self.states[obj] = self.pred.init_state(self.images)
        return self.states[obj]

    def click(self, frame, obj, xy):
        self.pred.add_new_points_or_box(self.state(obj), frame, obj, points=np.array([xy], np.float32),
                                        labels=np.array([1], np.int32))

    def run(self, obj, start, reverse):
        out = {}
        for f, _, logits in self.pred.propagate_in_video(self.states[obj], start_frame_idx=start, reverse=reverse):
            out[f] = (logits[0, 0] > 0).numpy()
        return out


def engine_run(engine, start, direction, objects=None):
    out = {}
    for f, res in engine.propagate(start, direction, objects=objects):
        for o, om in res.items():
            out.setdefault(o, []).append((f, om.mask))
    return out


def same(ours: list, ref: dict) -> bool:
    return [f for f, _ in ours] == list(ref) and all(np.array_equal(m, ref[f]) for f, m in ours)


P1, P2, FIX = (30, 50), (120, 40), (60, 45)


def steps(n: int, full: bool) -> list[tuple]:
    """What the user does: object 1 clicked on frame 0 and run forward; (full) object 2 added
    after tracking has started and both objects run both ways from there; a correction
    mid-way on object 1 and a re-run of object 1 alone from it."""
    later, fix_at = (20, 30) if n >= 48 else (n // 2, n * 3 // 4)
    out = [("click", 0, 1, P1), ("run", [1], 0, "forward")]
    if full:
        out += [("click", later, 2, P2), ("run", [1, 2], later, "forward"), ("run", [1, 2], later, "backward")]
    return out + [("click", fix_at, 1, FIX), ("run", [1], fix_at, "forward", "only")]


def reference_results(frames, size: int, plan: list[tuple]) -> list[dict]:
    ref = Reference(frames, size)
    results = []
    for step in plan:
        if step[0] == "click":
            ref.click(step[1], step[2], step[3])
        else:
            results.append({o: ref.run(o, step[2], step[3] == "backward") for o in step[1]})
    return results


def check_engine(engine, frames, plan: list[tuple], expected: list[dict]) -> None:
    engine.open(ArrayVideo(frames))
    assert len(frames) > engine.spill.window + 1  # longer than the read window: outputs are pruned and spilled
    runs = iter(expected)
    for step in plan:
        if step[0] == "click":
            engine.add_prompt(step[1], step[2], points=[step[3]], labels=[1])
            continue
        only = step[1] if len(step) > 4 else None
        ours = engine_run(engine, step[2], step[3], objects=only)
        want = next(runs)
        assert set(ours) == set(want), step
        for o in want:
            assert same(ours[o], want[o]), f"object {o}, run {step[1:]}"
        if step[2] == 0:  # the first run: the predictor's state keeps only the read window
            assert len(engine._states[1]["output_dict_per_obj"][0]["non_cond_frame_outputs"]) <= engine.spill.window + 1


def test_masks_identical_to_reference_with_a_tiny_budget_spilling_to_disk(clip, tmp_path):
    """A budget so small that every output and image feature past the read window goes
    through the disk, on 36 frames (the backward run from frame 18 is longer than the read
    window too). The default budget's exactness is test_sam2_engine's; the spilling code is
the same at every image size (a run at 256 on 20 frames agreed too, at twice the cost). (With the features'
    channels-last layout lost on the way back from the disk, object 2's internal outputs
    drifted from the reference's from its second frame on, and one mask differed.)"""
    frames = clip.frames[:36]
    plan = steps(len(frames), full=True)
    engine = Sam2Engine(random_predictor(SIZE), memory_budget_mb=12, spill_dir=tmp_path)
    engine.spill._store.ram_bytes = 0  # every spilled output goes through the disk
    check_engine(engine, frames, plan, reference_results(frames, SIZE, plan))
    assert engine.spill.spilled > 0 and engine.spill.disk_entries > 0 and engine.spill.restored > 0
    assert engine.features.disk_hits > 0  # image features read back from the disk too


def test_a_correction_rerun_reuses_cached_image_features(clip):
    engine = Sam2Engine(random_predictor(SIZE), memory_budget_mb=512)
    engine.open(ArrayVideo(clip.frames[:30]))
    engine.add_prompt(0, 1, points=[(30, 50)], labels=[1])
    list(engine.propagate(0, "forward"))
    misses = engine.features.misses
    engine.add_prompt(24, 1, points=[(40, 50)], labels=[1])
    list(engine.propagate(24, "forward"))
    assert engine.features.misses == misses  # no frame encoded twice


def test_spilled_tensors_come_back_with_their_values_dtype_and_memory_layout():
    import torch

    from sam2studio.engines.sam2_memory import _pack_tensors, _unpack_tensors

    g = torch.Generator().manual_seed(0)
    tensors = {
        "channels_last": torch.randn(1, 64, 16, 16, generator=g).to(memory_format=torch.channels_last),
        "plain": torch.randn(2, 3, 5, generator=g),
        "bf16_channels_last": torch.randn(1, 8, 4, 4, generator=g).to(torch.bfloat16,
                                                                       memory_format=torch.channels_last),
        "transposed": torch.randn(6, 4, generator=g).t(),
        "expanded": torch.randn(1, 3, generator=g).expand(4, 3),  # not dense: comes back plain
        "none": None,
    }
    back = _unpack_tensors(_pack_tensors(tensors), "cpu")
    assert back["none"] is None
    for key, t in tensors.items():
        if t is None:
            continue
        assert back[key].dtype == t.dtype and torch.equal(back[key], t), key
        if key != "expanded":
            assert back[key].stride() == t.stride(), key


def test_too_small_a_budget_names_the_minimum():
    with pytest.raises(MemoryBudgetError, match=r"minimum is \d+ MB"):
        Sam2Engine(random_predictor(SIZE), memory_budget_mb=1)


def test_a_full_disk_while_spilling_is_a_clear_error_and_keeps_the_masks(clip, tmp_path, monkeypatch):
    from sam2studio.core.video import ArrayVideo as AV
    from sam2studio.session import Session

    engine = Sam2Engine(random_predictor(SIZE), memory_budget_mb=12, spill_dir=tmp_path)
    engine.spill._store.ram_bytes = 0
    session = Session.open(AV(clip.frames), engine=engine)
    session.add_click(0, 1, 30, 50)
    real = Path.write_bytes

    def full(self, data):
        if str(self).startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    done = []
    with pytest.raises(SpillError, match="No space left on device"):
        for f, _ in session.propagate(0, "forward"):
            done.append(f)
    assert len(done) >= 5  # the disk filled up part-way through the run
    assert session.masks.frames(1) == done  # every mask computed so far is kept


RSS_SCRIPT = """
import ctypes, os, sys
from sam2studio.core.synthetic import SceneVideo, long_scene
from sam2studio.engines.sam2_engine import Sam2Engine, build_predictor
early, n = int(sys.argv[1]), int(sys.argv[2])
engine = Sam2Engine(build_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu", image_size=128, seed=0),
                    memory_budget_mb=16)
engine.open(SceneVideo(long_scene(n, 160, 120)))
engine.add_prompt(0, 1, points=[(40, 60)], labels=[1])
for f, _ in engine.propagate(0, "forward"):
    if f in (early, n - 1):  # past the read window (15 frames), and the last frame
        engine.features.flush()  # the frames handed to the spill thread written (up to 4 wait)
        libc = ctypes.CDLL(None)
        if hasattr(libc, "malloc_trim"):  # glibc: free pages go back, so RSS is what is held
            libc.malloc_trim(0)
        held = sum(len(s["output_dict_per_obj"][0]["non_cond_frame_outputs"]) for s in engine._states.values())
        resident = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        print(resident / 2**20, held)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads resident memory from /proc (Linux)")
def test_resident_memory_does_not_grow_with_video_length():
    """One run of 90 frames at image size 128: the process's resident memory (now, not its
    peak, which the model's build sets) and the outputs kept in the predictor's state at
    frame 30 (well past the read window) and at the end."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, "30", "90"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (rss_early, held_early), (rss_late, held_late) = [(float(a), int(b)) for a, b in
                                                      (ln.split() for ln in out.stdout.split("\n") if ln)]
    # the outputs kept in the predictor's state stay at the read window, however long the video
    assert held_early == held_late <= 16
    # and the resident memory stays flat over the last 60 frames: +0.3-0.6 MB in runs that
    # keep nothing, measured with the spill writes settled and the allocator's free pages
    # returned (without that +1-5 MB, and once +7.6 MB beside the other test worker: the
    # pending writes and what the allocator keeps); keeping one preprocessed frame per frame
    # added 12-13 MB, one frame's image features 25 MB
    assert rss_late - rss_early < 7, (rss_early, rss_late)


def test_spill_files_go_to_the_user_cache_not_the_temp_dir_and_a_crash_leaves_none(tmp_path, monkeypatch):
    """/tmp is RAM (tmpfs) on many systems, which spilling is meant to spare; folders a dead
    process left behind are removed when the next engine spills."""
    import subprocess
    import sys

    from sam2studio.engines.sam2_memory import _BlobStore, default_spill_parent

    monkeypatch.delenv("SAM2STUDIO_SPILL_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    parent = tmp_path / "cache" / "sam2studio" / "spill"
    left = parent / f"sam2studio-features-p{dead_pid}-abc123"
    left.mkdir(parents=True)
    (left / "x.bin").write_bytes(b"0" * 100)
    alive = parent / f"sam2studio-outputs-p{os.getppid()}-def456"  # a running process's folder stays
    alive.mkdir()

    assert default_spill_parent() == str(parent)
    assert not left.exists() and alive.exists()
    store = _BlobStore(0, default_spill_parent(), "sam2studio-outputs-", compress=True)
    store.put("k", b"payload")
    assert store.get("k") == b"payload"
    folder = store._dir
    assert folder.parent == parent and f"-p{os.getpid()}-" in folder.name
    store.close()
    assert not folder.exists()


def test_the_spill_dir_setting_wins_and_is_created(tmp_path, monkeypatch):
    from sam2studio.engines.sam2_memory import _BlobStore, default_spill_parent

    target = tmp_path / "not" / "yet"
    monkeypatch.setenv("SAM2STUDIO_SPILL_DIR", str(target))
    assert default_spill_parent() == str(target)
    store = _BlobStore(0, default_spill_parent(), "sam2studio-features-", compress=False)
    store.put(1, b"abc")
    assert store.get(1) == b"abc" and store._dir.parent == target
    store.close()


def test_the_feature_cache_keeps_a_quarter_of_the_budget_in_ram():
    from sam2studio.engines.sam2_memory import MB, MemoryBudget

    b = MemoryBudget(2048, 256)
    ram = b.feature_frames() * b.feature_bytes
    assert 0.24 * 2048 * MB < ram + b.pos_enc_bytes <= 0.26 * 2048 * MB
    assert MemoryBudget(2048, 1024).feature_frames() == int((2048 * MB - MemoryBudget(2048, 1024).pos_enc_bytes)
                                                            * 0.25 // MemoryBudget(2048, 1024).feature_bytes)


def test_the_feature_cache_keeps_its_disk_cap_and_drops_the_oldest_unread(tmp_path, monkeypatch):
    import torch

    from sam2studio.engines.sam2_memory import FeatureCache

    cache = FeatureCache(ram_frames=1, disk_frames=2, spill_parent=str(tmp_path))
    pos = [torch.zeros(1, 4, 2, 2)]
    reads = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or real_read(self))
    for f in range(5):
        cache.update({f: (torch.zeros(1, 3, 8, 8), {"backbone_fpn": [torch.full((1, 4, 2, 2), float(f))],
                                                    "vision_pos_enc": pos})})
    assert reads == []  # frames past the cap were deleted, not read back first
    cache.flush()  # writes happen on a background thread
    assert len(list(cache._disk._dir.iterdir())) == 2
    assert 0 not in cache and 1 not in cache and all(f in cache for f in (2, 3, 4))
    assert cache.get(0) is None
    _, out = cache.get(2)  # from disk, bit for bit
    assert torch.equal(out["backbone_fpn"][0], torch.full((1, 4, 2, 2), 2.0)) and len(reads) == 1
    cache.clear()


def test_feature_spills_are_written_off_the_model_thread_and_read_back_exactly(tmp_path, monkeypatch):
    import time

    import torch

    from sam2studio.engines import sam2_memory
    from sam2studio.engines.sam2_memory import FeatureCache

    slow_put = sam2_memory._BlobStore.put
    writers = set()

    def put(self, key, data):
        writers.add(threading.current_thread().name)
        time.sleep(0.3)  # a slow disk
        slow_put(self, key, data)

    monkeypatch.setattr(sam2_memory._BlobStore, "put", put)
    cache = FeatureCache(ram_frames=1, disk_frames=8, spill_parent=str(tmp_path))
    pos = [torch.zeros(1, 4, 2, 2)]
    t0 = time.perf_counter()
    for f in range(3):
        cache.update({f: (torch.zeros(1, 3, 8, 8), {"backbone_fpn": [torch.full((1, 4, 2, 2), float(f))],
                                                    "vision_pos_enc": pos})})
    assert time.perf_counter() - t0 < 0.3  # the caller did not wait for the disk
    _, out = cache.get(1)  # still being written: the read waits for it, then gets the same bits
    assert torch.equal(out["backbone_fpn"][0], torch.full((1, 4, 2, 2), 1.0))
    assert writers and threading.current_thread().name not in writers
    cache.clear()
