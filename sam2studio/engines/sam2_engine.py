"""SAM 2 engine: Meta's sam2 video predictor, used through its public methods.

What this wrapper adds around ``SAM2VideoPredictor`` (whose code it never copies):

* **Lazy frames.** The predictor reads frames only through ``inference_state["images"]``
  (``len`` and ``[i]``). :class:`LazyFrames` stands in for the preloaded tensor and decodes and
  preprocesses a frame from the :class:`~sam2studio.core.video.VideoSource` when the model asks
  for it, exactly as the reference JPEG loader does (PIL resize, /255, ImageNet mean/std), so
  nothing is preloaded and the first click is answered after decoding one frame.
* **One predictor state per object.** SAM 2 tracks objects independently (``batch_size=1`` per
  object inside ``propagate_in_video``), so a state per object gives the same masks as one
  shared state, while objects can be added at any time (the reference refuses new ids once
  tracking has started) and a correction re-runs only the object that was corrected.
* **Shared image features.** All object states read image features through one
  :class:`FeatureCache`, so each frame goes through the image encoder once however many objects
  are tracked.
* **Candidate masks.** For a single click SAM 2's mask decoder makes three masks and keeps the
  one with the best predicted IoU; the engine keeps all three (:meth:`Sam2Engine.candidates`)
  and can re-run the same click keeping another one (:meth:`Sam2Engine.choose_candidate`), so
  tracking goes on from exactly what SAM 2 would have done had it picked that one.
* **Absence.** A frame whose object score says the object is not there (left the frame, fully
  hidden) gives an empty mask with that low score; "absent" marks are empty mask prompts.
* No tqdm bars from the predictor, no ``fill_holes`` warning when sam2 was built without its
  C extension (hole filling is then skipped, as the reference does).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, PromptError, UserError
from .base import Direction, Engine, FrameResult, ObjectMask
from .sam2_memory import DEFAULT_BUDGET_MB, FeatureCache, MemoryBudget, OutputSpill, default_spill_parent

log = logging.getLogger(__name__)

IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)

# sam2 warns once per call when its optional C extension is missing; results are unchanged.
warnings.filterwarnings("ignore", message=r"(?s).*Skipping the post-processing step", category=UserWarning)
warnings.filterwarnings("ignore", message=r"(?s).*cannot import name '_C'", category=UserWarning)


def _quiet_sam2() -> None:
    """Stop the predictor's tqdm bars (our own progress reporting replaces them)."""
    import sam2.sam2_video_predictor as svp
    from tqdm import tqdm

    if not getattr(svp.tqdm, "_sam2studio_quiet", False):
        quiet = functools.partial(tqdm, disable=True)
        quiet._sam2studio_quiet = True  # type: ignore[attr-defined]
        svp.tqdm = quiet


def _upcast_memory(module, args, kwargs):
    """Forward pre-hook on ``memory_attention``: the predictor stores memory features as
    bfloat16; without autocast (CPU) a memory made only of them (no float32 object pointers to
    promote the concatenation, e.g. the frames before an object's first prompt) reaches a
    float32 linear layer and fails. Upcasting is exact and equals the promotion torch.cat does
    whenever pointers are present, so masks are unchanged wherever the reference runs."""
    import torch

    memory = kwargs.get("memory")
    if memory is None or memory.dtype == torch.float32:
        return None
    if torch.is_autocast_enabled(memory.device.type):
        return None
    kwargs["memory"] = memory.float()
    return args, kwargs


def install_memory_dtype_fix(predictor) -> None:
    """Register :func:`_upcast_memory` on ``predictor.memory_attention`` (once)."""
    if getattr(predictor, "_sam2studio_dtype_fix", False):
        return
    predictor.memory_attention.register_forward_pre_hook(_upcast_memory, with_kwargs=True)
    predictor._sam2studio_dtype_fix = True


def resolve_device(device: str = "auto") -> str:
    """``auto`` → cuda, then mps, then cpu; anything else is checked to be usable."""
    import torch

    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but no CUDA GPU is available here")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps was asked for, but Apple's MPS is not available here")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r}: use auto, cpu, cuda or mps")
    return device


def build_predictor(
    config: str,
    checkpoint: str | Path | None = None,
    *,
    device: str = "auto",
    image_size: int | None = None,
    seed: int | None = None,
):
    """Build sam2's video predictor.

    With ``checkpoint=None`` the weights are random: exactly ``torch.manual_seed(seed)`` then
    ``build_sam2_video_predictor(config, ckpt_path=None, ...)``, so a reference run can rebuild
    the same model. That is for testing the pipeline only; its masks mean nothing.
    """
    import torch
    from sam2.build_sam import build_sam2_video_predictor

    device = resolve_device(device)
    overrides = [f"++model.image_size={int(image_size)}"] if image_size else []
    if image_size is not None and (image_size < 64 or image_size % 16):
        raise UserError(f"--image-size must be a multiple of 16 and at least 64, got {image_size}")
    if checkpoint is None:
        if seed is not None:
            torch.manual_seed(int(seed))
        return build_sam2_video_predictor(config, ckpt_path=None, device=device,
                                          hydra_overrides_extra=overrides)
    # the checkpoint is read and checked before the model is built (a bad file is refused at
    # once, saying what is wrong), then loaded as sam2's own loader does (a strict load_state_dict)
    from .models import check_fit, read_checkpoint, state_shapes

    checkpoint = Path(checkpoint)
    state = read_checkpoint(checkpoint)
    predictor = build_sam2_video_predictor(config, ckpt_path=None, device=device,
                                           hydra_overrides_extra=overrides)
    check_fit(state_shapes(state), state_shapes(predictor.state_dict()), str(checkpoint), config)
    predictor.load_state_dict(state)
    return predictor


class LazyFrames(Sequence):
    """The predictor's ``images``: frame ``i`` preprocessed on demand from a VideoSource.

    Preprocessing matches sam2's JPEG-folder loader bit for bit: PIL ``resize((S, S))`` with
    PIL's default filter, ``/ 255`` in float64, cast to float32, minus mean, divided by std.
    Keeps the last few preprocessed frames (a frame is read once per object otherwise).
    """

    def __init__(self, video, image_size: int, keep: int = 8) -> None:
        import torch

        self.video = video
        self.image_size = int(image_size)
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
        self._recent: OrderedDict[int, object] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()
        self.decoded = 0  # how many frames were preprocessed (for tests and benchmarks)
        self._pool = None
        self._pending: dict[int, object] = {}
        #: threads preparing frames ahead of the model (one core is left to the model's thread)
        self.workers = max(1, min(4, (os.cpu_count() or 2) - 1))

    def prefetch(self, frames) -> None:
        """Decode and preprocess ``frames`` ahead on a background thread."""
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            # decoding is serial (one decoder), but the PIL resize and normalisation release
            # the GIL: with a GPU the host keeps up only if frames are prepared in parallel
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sam2studio-decode")
        frames = [int(f) for f in frames]
        for f in [f for f in self._pending if f not in frames]:  # a run moved on or stopped
            self._pending.pop(f).cancel()
        for f in frames:
            f = int(f)
            with self._lock:
                if f in self._recent or f in self._pending:
                    continue
            if 0 <= f < len(self):
                self._pending[f] = self._pool.submit(self._load, f)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

    def __len__(self) -> int:
        return len(self.video)

    def preprocess(self, rgb: np.ndarray):
        import torch
        from PIL import Image

        s = self.image_size
        img = np.array(Image.fromarray(rgb).resize((s, s))) / 255.0
        t = torch.from_numpy(img).permute(2, 0, 1).to(torch.float32).contiguous()
        t -= self._mean
        t /= self._std
        return t

    def __getitem__(self, index):
        if isinstance(index, slice):
            raise TypeError("LazyFrames does not support slicing")
        index = int(index)
        pending = self._pending.pop(index, None)
        with self._lock:
            t = self._recent.get(index)
            if t is not None:
                self._recent.move_to_end(index)
                return t
        if pending is not None and not pending.cancelled():
            return pending.result()
        return self._load(index)

    def _load(self, index: int):
        t = self.preprocess(self.video.get_frame(index))
        with self._lock:
            self.decoded += 1
            self._recent[index] = t
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
        return t


class _ObjectState(dict):
    """A predictor inference state whose ``cached_features`` entry is the shared cache."""

    def __init__(self, base: dict, features: FeatureCache) -> None:
        super().__init__(base)
        self._features = features

    def __getitem__(self, key):
        if key == "cached_features":
            return self._features
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        if key == "cached_features":
            self._features.update(value)
            return
        super().__setitem__(key, value)


@contextlib.contextmanager
def _frames_from(images: LazyFrames):
    """Let ``init_state`` take our lazy frames instead of loading a video from disk."""
    import sam2.sam2_video_predictor as svp

    original = svp.load_video_frames

    def load_video_frames(video_path, image_size, **kwargs):
        if video_path is not images:
            return original(video_path, image_size, **kwargs)
        return images, images.video.height, images.video.width

    svp.load_video_frames = load_video_frames
    try:
        yield
    finally:
        svp.load_video_frames = original


@dataclass
class _Candidates:
    """The candidate masks of one click and what re-running that click needs."""

    masks: list[ObjectMask]  # best first
    order: list[int]  # decoder output index of each candidate
    prompt: tuple  # (points, labels, box) as given to the predictor
    prev_masks: object  # the frame's mask logits before the click (the decoder's mask input), or None


class Sam2Engine(Engine):
    """The SAM 2 video predictor behind the :class:`Engine` protocol."""

    name = "sam2"
    is_random_weights = False

    #: frames decoded ahead of the propagation on background threads
    PREFETCH = 6

    def __init__(self, predictor, *, model_name: str = "sam2", memory_budget_mb: float = DEFAULT_BUDGET_MB,
                 spill_dir: str | Path | None = None, fast: bool = False) -> None:
        super().__init__()
        _quiet_sam2()
        install_memory_dtype_fix(predictor)
        self.predictor = predictor
        self.model_name = model_name
        self.device = str(predictor.device)
        #: fast mode's numeric route (see :mod:`.sam2_fast`), None in exact mode
        self.fast_route = None
        if fast:
            from .sam2_fast import choose_route

            self.fast_route = choose_route(predictor)
        self.image_size = int(predictor.image_size)
        window = max(predictor.num_maskmem - 1, predictor.max_obj_ptrs_in_encoder - 1)
        window *= max(1, int(getattr(predictor, "memory_temporal_stride_for_eval", 1)))
        self.budget = MemoryBudget(float(memory_budget_mb), self.image_size, window=window)
        self.budget.check(1)
        parent = str(spill_dir) if spill_dir else default_spill_parent()
        self.features = FeatureCache(self.budget.feature_frames(), self.budget.disk_feature_frames(), parent)
        self.spill = OutputSpill(window, self.budget.spill_ram_bytes(), parent)
        self.images: LazyFrames | None = None
        self._template: dict | None = None
        self._states: dict[int, _ObjectState] = {}
        self._candidates: dict[tuple[int, int], _Candidates] = {}  # (obj, frame) -> its click's candidates
        # obj -> direction -> (first, last): frames tracked in one unbroken run since the
        # object's prompts last changed (a run resumed inside it gives the same masks)
        self._chains: dict[int, dict[str, tuple[int, int]]] = {}
        self._lock = threading.RLock()

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        model: str = "sam2.1-tiny",
        *,
        checkpoint: str | Path | None = None,
        weights: str = "checkpoint",
        seed: int = 0,
        image_size: int | None = None,
        device: str = "auto",
        **engine_options,
    ) -> Sam2Engine:
        """Build the engine for a catalogue model: from ``checkpoint`` (or the installed one),
        or with random weights (``weights="random"``, seeded) for testing the pipeline."""
        from . import models

        info = models.get_model(model)
        if weights == "random":
            log.warning("SAM 2 runs with RANDOM weights (seed %d): masks are meaningless; "
                        "use this only to test the pipeline", seed)
            predictor = build_predictor(info.config, None, device=device, image_size=image_size, seed=seed)
        else:
            ckpt = models.resolve_checkpoint(model, checkpoint)
            if ckpt is None:
                raise CheckpointError(
                    f"no checkpoint for {model}: run 'sam2studio models download {model}' "
                    "or pass --checkpoint FILE (or use --engine classic)"
                )
            predictor = build_predictor(info.config, ckpt, device=device, image_size=image_size)
        engine = cls(predictor, model_name=model, **engine_options)
        engine.is_random_weights = weights == "random"
        return engine

    # ---- session -----------------------------------------------------------------------
    def _autocast(self):
        import torch

        if self.device.startswith("cuda"):
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if self.fast_route is not None:
            return self.fast_route.autocast()
        return contextlib.nullcontext()

    @property
    def fast(self) -> bool:
        return self.fast_route is not None

    @property
    def route(self) -> str:
        """Which numeric route runs, in words (for the status bar and the CLI)."""
        if self.fast_route is not None:
            return self.fast_route.describe()
        if self.device.startswith("cuda"):
            return "exact mode: bfloat16 autocast on the GPU (as sam2 runs)"
        return "exact mode: float32 (masks bit-identical to sam2's own propagation)"

    def open(self, video) -> None:
        super().open(video)
        self._clear()
        self.images = LazyFrames(video, self.image_size)
        # image features kept in RAM: never more than the clip's own preprocessed frames would
        # take (what sam2's predictor holds for the whole clip), nor more frames than it has
        clip_bytes = len(video) * 3 * self.image_size ** 2 * 4
        self.features.capacity = max(2, min(self.budget.feature_frames(), len(video),
                                            clip_bytes // self.budget.feature_bytes))
        with self._lock, _frames_from(self.images), self._autocast():
            template = self.predictor.init_state(video_path=self.images)
        # init_state encodes frame 0 as a warm-up: keep that work in the shared cache
        self.features.update(template.get("cached_features", {}))
        template["cached_features"] = {}
        self._template = template

    def _clear(self) -> None:
        self._states.clear()
        self._candidates.clear()
        self._chains.clear()
        self.features.clear()
        self.spill.close()
        if self.images is not None:
            self.images.close()

    def close(self) -> None:
        self._clear()
        self._template = None
        self.images = None
        super().close()

    def _new_state(self) -> _ObjectState:
        if self._template is None:
            raise RuntimeError("no video is open in this engine; call open() first")
        fresh = {}
        for key, value in self._template.items():
            # per-object containers start empty; frames, sizes and devices are shared
            fresh[key] = type(value)() if isinstance(value, (dict, list)) else value
        return _ObjectState(fresh, self.features)

    def _state(self, obj: int) -> _ObjectState:
        st = self._states.get(obj)
        if st is None:
            self.budget.check(len(self._states) + 1)
            st = self._states[obj] = self._new_state()
        return st

    def _around(self, obj: int, frame: int) -> _ObjectState:
        """The object's state holding what a prompt on ``frame`` reads (either direction)."""
        st = self._state(obj)
        w = self.spill.window
        self.spill.keep_only(obj, st, frame - w, frame + w)
        return st

    @property
    def objects(self) -> list[int]:
        return sorted(self._states)

    # ---- prompts -----------------------------------------------------------------------
    def _result(self, obj: int, frame: int, video_res_masks) -> FrameResult:
        logit = self._object_logit(self._states[obj], frame)
        score = self._score(self._states[obj], frame)
        if logit is not None and logit <= 0.0:
            # SAM 2's object score says the object is not there (it left the frame or is fully
            # hidden): the predictor has already set its mask logits to "no object"; an empty
            # mask with that low score records the absence
            mask = np.zeros((self.video.height, self.video.width), bool)
        else:
            mask = (video_res_masks[0, 0] > 0.0).cpu().numpy()
        return {obj: ObjectMask(mask, score)}

    @staticmethod
    def _frame_output(state: dict, frame: int) -> dict | None:
        out_dict = state["output_dict_per_obj"].get(0)
        temp = state["temp_output_dict_per_obj"].get(0)
        for d in (temp, out_dict):
            if not d:
                continue
            for key in ("cond_frame_outputs", "non_cond_frame_outputs"):
                out = d[key].get(frame)
                if out is not None:
                    return out
        return None

    def _object_logit(self, state: dict, frame: int) -> float | None:
        """SAM 2's object score on ``frame`` (> 0: the object is there), None where unknown."""
        out = self._frame_output(state, frame)
        if out is None or out.get("object_score_logits") is None:
            return None
        return float(out["object_score_logits"].float().reshape(-1)[0])

    def _score(self, state: dict, frame: int) -> float:
        """Probability that the object is present on ``frame`` (sigmoid of SAM 2's object score)."""
        out = self._frame_output(state, frame)
        if out is None or out.get("object_score_logits") is None:
            return 1.0
        return float(out["object_score_logits"].float().sigmoid().reshape(-1)[0])

    def add_prompt(self, frame, obj, points=None, labels=None, box=None) -> FrameResult:
        pts, lab, bx = self.check_prompt(frame, obj, points, labels, box)
        frame, obj = int(frame), int(obj)
        with self._lock, self._autocast():
            self._chains.pop(obj, None)
            st = self._around(obj, frame)
            before = self._frame_output(st, frame)
            prev = None if before is None else before.get("pred_masks")
            with self._decoder_outputs() as seen:
                _, _, masks = self.predictor.add_new_points_or_box(
                    st, frame_idx=frame, obj_id=obj, points=pts, labels=lab, box=bx,
                    clear_old_points=True,
                )
            self._candidates.pop((obj, frame), None)
            if len(seen) == 1 and seen[0][0].shape[1] > 1:
                cands, order = self._candidate_masks(*seen[0])
                self._candidates[(obj, frame)] = _Candidates(cands, order, (pts, lab, bx), prev)
            return self._result(obj, frame, masks)

    def candidates(self, frame: int, obj: int) -> list[ObjectMask]:
        """The decoder's masks for ``obj``'s single click on ``frame``, best predicted IoU
        first (index 0 is the mask SAM 2 chose); each ``score`` is its predicted IoU."""
        c = self._candidates.get((int(obj), int(frame)))
        return [] if c is None else list(c.masks)

    def choose_candidate(self, frame: int, obj: int, k: int) -> FrameResult:
        """Re-run ``obj``'s click on ``frame`` with the same decoder inputs, keeping candidate
        ``k``: its mask, object pointer and (at the next propagation) memory are what SAM 2
        makes of that candidate."""
        frame, obj, k = int(frame), int(obj), int(k)
        c = self._candidates.get((obj, frame))
        n = 0 if c is None else len(c.masks)
        if not 0 <= k < n:
            raise PromptError(f"object {obj} has {n} candidate masks on frame {frame}: there is no candidate {k}")
        pts, lab, bx = c.prompt
        with self._lock, self._autocast():
            self._chains.pop(obj, None)
            st = self._around(obj, frame)
            # give the decoder the mask input the click had (the frame's mask before it)
            tracked = st.get("frames_tracked_per_obj", {}).get(0, {})
            is_cond = frame not in tracked or self.predictor.add_all_frames_to_correct_as_cond
            key = "cond_frame_outputs" if is_cond else "non_cond_frame_outputs"
            temp = st["temp_output_dict_per_obj"].get(0)
            if temp is not None:
                temp[key][frame] = {"pred_masks": c.prev_masks}
            with self._decoder_outputs(pick=c.order[k]):
                _, _, masks = self.predictor.add_new_points_or_box(
                    st, frame_idx=frame, obj_id=obj, points=pts, labels=lab, box=bx, clear_old_points=True,
                )
            return self._result(obj, frame, masks)

    @contextlib.contextmanager
    def _decoder_outputs(self, pick: int | None = None):
        """Collect the mask decoder's outputs ``(masks, ious, object_score_logits)`` while the
        block runs; with ``pick``, make the decoder's multimask choice (the best predicted
        IoU) fall on output ``pick`` instead."""
        seen: list[tuple] = []

        def hook(module, args, output):
            masks, ious, tokens, scores = output
            seen.append((masks.detach(), ious.detach(), scores.detach()))
            if pick is None or masks.shape[1] <= pick:
                return None
            forced = ious.clone()
            forced[:, pick] = ious.max() + 1.0
            return masks, forced, tokens, scores

        handle = self.predictor.sam_mask_decoder.register_forward_hook(hook)
        try:
            yield seen
        finally:
            handle.remove()

    def _candidate_masks(self, masks, ious, scores) -> tuple[list[ObjectMask], list[int]]:
        """The decoder's low-resolution candidates at the video's size, as the predictor turns
        its chosen one into a mask (no-object gating, hole filling, bilinear resize)."""
        import torch
        import torch.nn.functional as F
        from sam2.modeling.sam2_base import NO_OBJ_SCORE
        from sam2.utils.misc import fill_holes_in_mask_scores

        low = masks
        if self.predictor.pred_obj_scores:
            low = torch.where(scores[:, None, None] > 0, low, NO_OBJ_SCORE)
        low = low.float()[0][:, None]  # (n, 1, h, w)
        if self.predictor.fill_hole_area > 0:
            low = torch.cat([fill_holes_in_mask_scores(m[None], self.predictor.fill_hole_area) for m in low])
        video = F.interpolate(low, size=(self.video.height, self.video.width), mode="bilinear",
                              align_corners=False)
        iou = ious.float()[0].cpu().numpy()
        order = sorted(range(len(iou)), key=lambda i: -float(iou[i]))  # stable: ties as argmax
        return [ObjectMask((video[i, 0] > 0).cpu().numpy(), float(np.clip(iou[i], 0.0, 1.0)))
                for i in order], order

    def add_mask(self, frame, obj, mask) -> FrameResult:
        self.check_prompt(frame, obj, mask=mask)
        self._candidates.pop((int(obj), int(frame)), None)
        self._chains.pop(int(obj), None)
        with self._lock, self._autocast():
            st = self._around(obj, int(frame))
            _, _, masks = self.predictor.add_new_mask(st, frame_idx=int(frame), obj_id=int(obj),
                                                      mask=np.asarray(mask, dtype=bool))
            return self._result(obj, frame, masks)

    def remove_object(self, obj: int) -> None:
        with self._lock:
            self._states.pop(int(obj), None)
            self._chains.pop(int(obj), None)
            self.spill.forget(int(obj))
            for key in [k for k in self._candidates if k[0] == int(obj)]:
                del self._candidates[key]

    def reset(self) -> None:
        with self._lock:
            for obj in list(self._states):
                self.remove_object(obj)

    # ---- propagation -------------------------------------------------------------------
    def propagate(
        self,
        start: int,
        direction: Direction = "forward",
        frame_range: tuple[int, int] | None = None,
        cancel: threading.Event | None = None,
        objects: Sequence[int] | None = None,
    ) -> Iterator[tuple[int, FrameResult]]:
        """See :meth:`Engine.propagate`; ``objects`` limits the run to some objects (e.g. the
        one just corrected), leaving the others' results untouched."""
        plan = self.iter_range(start, direction, frame_range)
        objs = self.objects if objects is None else [o for o in objects if o in self._states]
        if not objs:
            raise UserError("there is nothing to propagate: add a click, box or mask first")
        for dirname, frames in plan:
            if not frames:
                continue
            reverse = dirname == "backward"
            span = len(frames) - 1
            yield from self._run(objs, frames[0], span, reverse, cancel)
            if cancel is not None and cancel.is_set():
                return

    def resume_point(self, obj: int, direction: str, keyframe: int, start: int) -> int:
        """``start`` when a run of ``obj`` since its prompts last changed went unbroken from
        ``keyframe`` (or before it) to the frame before ``start``: the outputs that tracking
        from ``start`` reads are then exactly those tracking from ``keyframe`` would make on
        the way, so the masks are the same. Otherwise ``keyframe``."""
        chain = self._chains.get(int(obj), {}).get(direction)
        if chain is None or start == keyframe:
            return keyframe
        first, last = chain
        step = -1 if direction == "backward" else 1
        prev = start - step
        if step * (keyframe - first) >= 0 and step * (prev - first) >= 0 and step * (last - prev) >= 0:
            return start
        return keyframe

    def _is_prompted(self, obj: int, frame: int) -> bool:
        st = self._states[obj]
        return (frame in st["point_inputs_per_obj"].get(0, {}) or frame in st["mask_inputs_per_obj"].get(0, {}))

    def _run(self, objs, start, span, reverse, cancel) -> Iterator[tuple[int, FrameResult]]:
        step = -1 if reverse else 1
        gens = {}
        dirname = "backward" if reverse else "forward"
        chain_from: dict[int, int | None] = {}
        for o in objs:
            chain = self._chains.get(o, {}).get(dirname)
            if self._is_prompted(o, start):
                chain_from[o] = start
            elif chain is not None and step * (start - step - chain[0]) >= 0 and step * (chain[1] - start + step) >= 0:
                chain_from[o] = chain[0]  # continues that run
            else:
                chain_from[o] = None
        with self._lock:
            for o in objs:
                self.spill.keep_only(o, self._states[o], *self.spill.window_for(start, reverse))
                gens[o] = self.predictor.propagate_in_video(
                    self._states[o], start_frame_idx=start, max_frame_num_to_track=span, reverse=reverse
                )
        last = start + step * span
        try:
            frame = start
            while True:
                if cancel is not None and cancel.is_set():
                    return
                ahead = range(frame, frame + step * self.PREFETCH, step)
                self.images.prefetch([f for f in ahead if min(start, last) <= f <= max(start, last)])
                result: FrameResult = {}
                with self._lock, self._autocast():
                    for o, gen in gens.items():
                        try:
                            f, _, masks = next(gen)
                        except StopIteration:
                            return
                        frame = f
                        result.update(self._result(o, f, masks))
                        if chain_from[o] is not None:
                            self._chains.setdefault(o, {})[dirname] = (chain_from[o], f)
                        # outputs this run will not read again leave the state (bounded memory)
                        self.spill.keep_only(o, self._states[o], *self.spill.window_for(f, reverse))
                yield frame, result
                frame += step
        finally:
            for gen in gens.values():
                gen.close()
