"""Bounded memory for the SAM 2 engine, without changing a single mask.

SAM 2's predictor keeps every frame's outputs and reads only a few of them back (NOTES.md,
``SAM2Base._prepare_memory_conditioned_features``): all conditioning (prompted) frames, the
last ``num_maskmem - 1`` = 6 non-conditioning memories and object pointers from up to
``max_obj_ptrs_in_encoder - 1`` = 15 frames before the current one (after it when tracking in
reverse). Everything else stays in RAM for nothing, so a long video runs out of memory.

* :class:`OutputSpill` takes the non-conditioning outputs that the current run will not read
  out of the predictor's state, losslessly serialised and compressed, first in RAM and past a
  budget on disk. A correction or a run from another frame restores exactly the window it will
  read, so masks stay identical to the reference at every budget.
* :class:`FeatureCache` keeps image-encoder features of recent frames (shared by every object's
  state) within a RAM budget and spills older ones to disk, so re-running from a corrected
  frame does not encode the same frames again. The positional encodings, identical for every
  frame, are stored once.
* :class:`MemoryBudget` splits one user-facing budget between the two and names the minimum.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError

MB = 1024 * 1024
DEFAULT_BUDGET_MB = 2048


class MemoryBudgetError(UserError):
    """The memory budget is too small to run."""


class SpillError(UserError):
    """Spilling to disk failed (usually a full disk)."""


def _spill_dir(parent: str | None, prefix: str) -> Path:
    if parent:
        Path(parent).mkdir(parents=True, exist_ok=True)
    # the process id in the name lets a later process remove what a crash left behind
    return Path(tempfile.mkdtemp(prefix=f"{prefix}p{os.getpid()}-", dir=parent))


# ---- lossless tensor (de)serialisation ----------------------------------------------------
def _memory_order(t) -> tuple[int, ...]:
    """The dimensions of ``t`` from outermost to innermost in memory, when ``t`` is dense in
    that order (channels-last features are); the plain order otherwise."""
    order = tuple(sorted(range(t.dim()), key=lambda d: (-t.stride(d), d)))
    return order if t.permute(order).is_contiguous() else tuple(range(t.dim()))


def _pack_tensors(tensors: dict) -> bytes:
    """Tensors (any dtype, bfloat16 included) → bytes, bit-exact, memory layout included: a
    channels-last tensor comes back channels-last, as the kernels that read it (which pick
    their algorithm, and so their rounding, by layout) saw it first."""
    import torch

    header, chunks = [], []
    for key, t in tensors.items():
        if t is None:
            header.append((key, None, None, None, None))
            continue
        t = t.detach().to("cpu")
        order = _memory_order(t)
        dense = t.permute(order).contiguous()
        raw = dense.view(torch.int16) if t.dtype == torch.bfloat16 else dense
        data = raw.numpy().tobytes()
        header.append((key, str(t.dtype).replace("torch.", ""), tuple(t.shape), len(data), order))
        chunks.append(data)
    buf = io.BytesIO()
    head = repr(header).encode()
    buf.write(len(head).to_bytes(4, "little"))
    buf.write(head)
    for c in chunks:
        buf.write(c)
    return buf.getvalue()


def _unpack_tensors(blob: bytes, device) -> dict:
    import ast

    import torch

    n = int.from_bytes(blob[:4], "little")
    header = ast.literal_eval(blob[4:4 + n].decode())
    pos = 4 + n
    out = {}
    for key, dtype, shape, size, order in header:
        if dtype is None:
            out[key] = None
            continue
        data = bytearray(blob[pos:pos + size])
        pos += size
        if dtype == "bfloat16":
            t = torch.frombuffer(data, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(data, dtype=getattr(torch, dtype))
        inverse = sorted(range(len(order)), key=order.__getitem__)
        out[key] = t.reshape([shape[d] for d in order]).permute(inverse).to(device)
    return out


class _BlobStore:
    """Bytes by key, in RAM up to ``ram_bytes`` (oldest first to disk past that)."""

    def __init__(self, ram_bytes: int, spill_parent: str | None, prefix: str, compress: bool) -> None:
        self.ram_bytes = int(ram_bytes)
        self._ram: OrderedDict = OrderedDict()
        self._ram_used = 0
        self._disk: dict = {}
        self._dir: Path | None = None
        self._parent = spill_parent
        self._prefix = prefix
        self._compress = compress
        self._lock = threading.Lock()

    def put(self, key, data: bytes) -> None:
        if self._compress:
            data = zlib.compress(data, 1)
        with self._lock:
            self._discard(key)
            self._ram[key] = data
            self._ram_used += len(data)
            while self._ram_used > self.ram_bytes and self._ram:
                k, d = self._ram.popitem(last=False)
                self._ram_used -= len(d)
                self._write(k, d)

    def _write(self, key, data: bytes) -> None:
        path = None
        try:
            if self._dir is None:
                self._dir = _spill_dir(self._parent, self._prefix)
            path = self._dir / f"{abs(hash(key)):x}-{len(self._disk)}.bin"
            path.write_bytes(data)
        except OSError as exc:
            if path is not None:
                path.unlink(missing_ok=True)
            where = self._dir or self._parent or tempfile.gettempdir()
            raise SpillError(f"could not spill SAM 2 memory to {where}: {exc.strerror or exc}; "
                             "free disk space or raise the memory budget (masks so far are kept)") from exc
        self._disk[key] = path

    def get(self, key) -> bytes | None:
        with self._lock:
            data = self._ram.get(key)
            if data is None:
                path = self._disk.get(key)
                if path is None:
                    return None
                data = path.read_bytes()
        return zlib.decompress(data) if self._compress else data

    def pop(self, key) -> bytes | None:
        data = self.get(key)
        with self._lock:
            self._discard(key)
        return data

    def discard(self, key) -> None:
        """Drop ``key`` without reading it back."""
        with self._lock:
            self._discard(key)

    def _discard(self, key) -> None:
        d = self._ram.pop(key, None)
        if d is not None:
            self._ram_used -= len(d)
        path = self._disk.pop(key, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def keys(self) -> list:
        with self._lock:
            return list(self._ram) + list(self._disk)

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._ram or key in self._disk

    @property
    def ram_used(self) -> int:
        return self._ram_used

    @property
    def disk_entries(self) -> int:
        return len(self._disk)

    def close(self) -> None:
        with self._lock:
            self._ram.clear()
            self._ram_used = 0
            self._disk.clear()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


# ---- predictor outputs ------------------------------------------------------------------------
class OutputSpill:
    """Non-conditioning outputs taken out of object states, restorable bit for bit.

    ``window`` is how many frames before (forward) or after (reverse) the current one the
    predictor reads: ``max(num_maskmem - 1, max_obj_ptrs_in_encoder - 1)``.
    """

    TENSORS = ("maskmem_features", "pred_masks", "obj_ptr", "object_score_logits")

    def __init__(self, window: int, ram_bytes: int, spill_parent: str | None = None) -> None:
        self.window = int(window)
        self._store = _BlobStore(ram_bytes, spill_parent, "sam2studio-outputs-", compress=True)
        self._pos_enc: dict[int, object] = {}  # obj -> the (shared, constant) maskmem_pos_enc
        self.spilled = 0
        self.restored = 0

    def _non_cond(self, state: dict) -> dict:
        return state["output_dict_per_obj"][0]["non_cond_frame_outputs"] if state["output_dict_per_obj"] else {}

    def keep_only(self, obj: int, state: dict, lo: int, hi: int) -> None:
        """Make ``state`` hold exactly the spilled-or-resident non-conditioning outputs of
        frames ``lo..hi``: spill the others, restore the missing ones."""
        outputs = self._non_cond(state)
        if not state["output_dict_per_obj"]:
            return
        for f in [f for f in outputs if not lo <= f <= hi]:
            out = outputs.pop(f)
            self._pos_enc.setdefault(obj, out.get("maskmem_pos_enc"))
            self._store.put((obj, f), _pack_tensors({k: out.get(k) for k in self.TENSORS}))
            self.spilled += 1
        device = state["storage_device"]
        for f in range(lo, hi + 1):
            if f in outputs or (obj, f) not in self._store:
                continue
            data = self._store.pop((obj, f))
            out = _unpack_tensors(data, device)
            out["obj_ptr"] = out["obj_ptr"].to(state["device"])
            out["maskmem_pos_enc"] = self._pos_enc.get(obj)
            outputs[f] = out
            self.restored += 1

    def window_for(self, frame: int, reverse: bool) -> tuple[int, int]:
        return (frame, frame + self.window) if reverse else (frame - self.window, frame)

    def forget(self, obj: int) -> None:
        for key in [k for k in self._store.keys() if k[0] == obj]:
            self._store.discard(key)
        self._pos_enc.pop(obj, None)

    @property
    def ram_used(self) -> int:
        return self._store.ram_used

    @property
    def disk_entries(self) -> int:
        return self._store.disk_entries

    def close(self) -> None:
        self._store.close()
        self._pos_enc.clear()


# ---- image features -------------------------------------------------------------------------
class FeatureCache:
    """Image-encoder outputs by frame, shared by every object's predictor state.

    Behaves like the ``{frame: (image, backbone_out)}`` dict the predictor keeps in
    ``inference_state["cached_features"]`` (``get`` and ``update``). Keeps ``ram_frames``
    frames in RAM (LRU) and, with ``disk_frames`` > 0, the older ones on disk. What it stores
    per frame is only what ``_get_image_feature`` reads back: the FPN features, with the
    frame-independent positional encodings held once.
    """

    def __init__(self, ram_frames: int = 2, disk_frames: int = 0, spill_parent: str | None = None) -> None:
        self.capacity = max(1, int(ram_frames))
        self.disk_frames = max(0, int(disk_frames))
        self._data: OrderedDict[int, tuple] = OrderedDict()
        self._disk = _BlobStore(0, spill_parent, "sam2studio-features-", compress=False)
        self._disk_order: OrderedDict[int, None] = OrderedDict()
        self._pos_enc = None
        self._image = None
        self.hits = 0
        self.misses = 0
        self.disk_hits = 0
        # frames being written to disk on a background thread: the thread that feeds the model
        # (a GPU at ~100 frames/s) must not wait ~10 ms a frame for a 1024-size frame's copy
        self._writing: dict = {}
        self._writer = None

    def _canonical(self, image, backbone_out) -> tuple:
        import torch

        pos = backbone_out["vision_pos_enc"]
        if self._pos_enc is None or len(pos) != len(self._pos_enc) or not all(
                a is b or (a.shape == b.shape and torch.equal(a, b)) for a, b in zip(pos, self._pos_enc)):
            self._pos_enc = list(pos)
        if self._image is None or self._image.device != image.device:
            # the predictor expands the cached image but never reads its pixels back
            self._image = torch.zeros((1, 3, 1, 1), dtype=image.dtype, device=image.device)
        return self._image, {"backbone_fpn": list(backbone_out["backbone_fpn"]),
                             "vision_pos_enc": self._pos_enc}

    def get(self, frame_idx, default=None):
        v = self._data.get(frame_idx)
        if v is not None:
            self.hits += 1
            self._data.move_to_end(frame_idx)
            return v
        if frame_idx in self._disk_order:
            self._settle(frame_idx)
            data = self._disk.pop(frame_idx)
            self._disk_order.pop(frame_idx, None)
            t = _unpack_tensors(data, self._pos_enc[0].device)
            fpn = [t[f"fpn{i}"] for i in range(len(t))]
            self.disk_hits += 1
            self.hits += 1
            self._insert(frame_idx, (self._image, {"backbone_fpn": fpn, "vision_pos_enc": self._pos_enc}))
            return self._data[frame_idx]
        self.misses += 1
        return default

    def update(self, other: dict) -> None:
        for k, (image, backbone_out) in other.items():
            self._insert(k, self._canonical(image, backbone_out))

    def _insert(self, k, value) -> None:
        self._data[k] = value
        self._data.move_to_end(k)
        while len(self._data) > self.capacity:
            old, (_, bo) = self._data.popitem(last=False)
            if self.disk_frames > 0:
                self._spill_later(old, list(bo["backbone_fpn"]))
                self._disk_order[old] = None
                while len(self._disk_order) > self.disk_frames:
                    gone, _ = self._disk_order.popitem(last=False)
                    self._settle(gone)
                    self._disk.discard(gone)  # past the disk cap: deleted unread

    # -- writing to disk off the caller's thread (same bytes; a read waits for its write)
    MAX_PENDING = 4

    def _spill_later(self, k, fpn: list) -> None:
        from concurrent.futures import ThreadPoolExecutor

        for done in [key for key, fut in self._writing.items() if fut.done()]:
            self._settle(done)  # raises a write's SpillError here, on the caller's thread
        while len(self._writing) >= self.MAX_PENDING:  # the disk is slower than the model: wait
            self._settle(next(iter(self._writing)))
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="sam2studio-feature-spill")
        self._writing[k] = self._writer.submit(
            lambda: self._disk.put(k, _pack_tensors({f"fpn{i}": t for i, t in enumerate(fpn)})))

    def _settle(self, k) -> None:
        fut = self._writing.pop(k, None)
        if fut is not None:
            fut.result()

    def flush(self) -> None:
        """Wait until every frame handed to the disk is written."""
        for k in list(self._writing):
            self._settle(k)

    def clear(self) -> None:
        for k in list(self._writing):
            try:
                self._settle(k)
            except Exception:  # noqa: BLE001 - being cleared: a failed write no longer matters
                pass
        self._data.clear()
        self._disk.close()
        self._disk_order.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, frame_idx) -> bool:
        return frame_idx in self._data or frame_idx in self._disk_order


# ---- the budget --------------------------------------------------------------------------
@dataclass
class MemoryBudget:
    """How one memory budget (MB of RAM for the engine's per-video state, model weights not
    included) is split, for a model input size ``image_size``."""

    budget_mb: float
    image_size: int
    window: int = 15
    disk_feature_mb: float = 4096

    @property
    def feature_bytes(self) -> int:
        """FPN features of one frame (float32): stride 4 (32 ch), 8 (64 ch), 16 (256 ch)."""
        s = self.image_size
        return 4 * ((s // 4) ** 2 * 32 + (s // 8) ** 2 * 64 + (s // 16) ** 2 * 256)

    @property
    def pos_enc_bytes(self) -> int:
        s = self.image_size
        return 4 * 256 * ((s // 4) ** 2 + (s // 8) ** 2 + (s // 16) ** 2)

    @property
    def output_bytes(self) -> int:
        """One frame's kept output for one object: bf16 memory (64 ch at stride 16) and float32
        low-res mask logits (stride 4)."""
        s = self.image_size
        return 2 * 64 * (s // 16) ** 2 + 4 * (s // 4) ** 2 + 4 * 256

    def minimum_mb(self, objects: int = 1) -> float:
        need = self.pos_enc_bytes + 2 * self.feature_bytes + max(1, objects) * (self.window + 2) * self.output_bytes
        return need / MB

    def check(self, objects: int = 1) -> None:
        need = self.minimum_mb(objects)
        if self.budget_mb < need:
            raise MemoryBudgetError(
                f"a memory budget of {self.budget_mb:g} MB is too small for SAM 2 at image size "
                f"{self.image_size} with {max(1, objects)} object(s): the minimum is {int(np.ceil(need))} MB")

    def feature_frames(self) -> int:
        """Frames of image features kept in RAM: a quarter of what the budget leaves. Older
        ones go to disk, where reading one back costs a few milliseconds against a frame's
        hundreds (CPU), and the operating system's page cache keeps recent ones in RAM that
        it can take back."""
        free = self.budget_mb * MB - self.pos_enc_bytes
        return max(2, int(free * 0.25 // self.feature_bytes))

    def disk_feature_frames(self) -> int:
        return int(self.disk_feature_mb * MB // self.feature_bytes)

    def spill_ram_bytes(self) -> int:
        """RAM for spilled outputs before they go to disk: a quarter of the budget."""
        return int(self.budget_mb * MB * 0.25)


def default_spill_parent() -> str | None:
    """Where spill files go: ``SAM2STUDIO_SPILL_DIR``, else ``spill`` in the user cache
    directory. Not the system temp dir: on many systems ``/tmp`` is a tmpfs, i.e. RAM, which
    is what spilling is meant to spare. Folders left by a process that no longer runs (a
    crash) are removed here."""
    env = os.environ.get("SAM2STUDIO_SPILL_DIR")
    if env:
        return env
    from platformdirs import user_cache_dir

    parent = Path(user_cache_dir("sam2studio")) / "spill"
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable cache dir: fall back to the temp dir
    remove_stale_spill_dirs(parent)
    return str(parent)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else
        return True
    return True


def remove_stale_spill_dirs(parent: Path) -> list[Path]:
    """Delete the spill folders in ``parent`` whose process (named in the folder) has gone."""
    removed = []
    for d in parent.glob("sam2studio-*-p*-*"):
        try:
            pid = int(d.name.split("-p", 1)[1].split("-", 1)[0])
        except (IndexError, ValueError):
            continue
        if d.is_dir() and pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed
