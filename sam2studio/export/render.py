"""Edited-video export: overlays, cut-outs with transparency, background replacement,
colour grading, motion blur and privacy effects, rendered in one streaming pass.

One pass over the frames: decode frame ``i`` (``video.iter_frames``) -> apply the effects with
that frame's masks -> encode -> mux, so memory stays flat however long the video is. A worker
thread decodes and renders up to :data:`PIPELINE_DEPTH` frames ahead while the calling thread
encodes (effects' ``apply`` runs in that worker; ``prepare``/``close``, ``progress`` and the
writing run in the calling thread). The output keeps the source's frame rate, time base
(where the container allows it), frame count and each frame's own timestamp, so a variable
frame rate survives (see :mod:`~sam2studio.export.timing`); audio comes along (see
:mod:`~sam2studio.export.encode`). The file is written under a temporary name
beside ``out`` and renamed at the end (:func:`~sam2studio.export.common.atomic_path`); a
cancelled or failed export leaves nothing under ``out``.

The parts: :mod:`~sam2studio.export.effects` (the seven effects and their composition
order), :mod:`~sam2studio.export.frames` (what an effect sees of a frame),
:mod:`~sam2studio.export.encode` (output formats, audio, writers). ``feather`` (pixels)
softens every mask edge the effects use: the 0/1 mask is blurred with a Gaussian of
standard deviation ``feather / 2`` (kernel ``2 * feather + 1``), so the edge fades over about
``feather`` pixels on each side; ``feather=0`` keeps hard edges. Overlay outlines and labels
always use the hard mask.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import av
import numpy as np

from ..core.masks import MaskStore
from ..core.objects import TrackedObject
from ..core.video import VideoSource
from ..errors import UserError
from .common import atomic_path, check_cancel, report_progress, resolve_frames, select_objects
from .effects import Effect
from .encode import ContainerWriter, PngWriter, Span, audio_factory, pick_format, probe_source
from .timing import output_timeline
from .frames import ExportContext, Frame, FrameContext

log = logging.getLogger(__name__)

__all__ = ["export_video", "render", "check_spans", "objects_dict", "PIPELINE_DEPTH"]


def objects_dict(objects) -> dict[int, TrackedObject]:
    """``{id: TrackedObject}`` from such a mapping or from a list of objects."""
    if isinstance(objects, Mapping):
        return {int(k): v for k, v in objects.items()}
    return {int(o.id): o for o in objects}


def check_spans(spans: Sequence[Span], num_frames: int) -> list[Span]:
    """``spans`` as ``(first, last)`` int pairs, checked: inside the video, in order, apart."""
    out: list[Span] = []
    for s in spans:
        a, b = int(s[0]), int(s[1])
        if not 0 <= a <= b < num_frames:
            raise UserError(f"span {a}..{b} is not inside the video (frames 0 to {num_frames - 1}).")
        if out and a <= out[-1][1]:
            raise UserError(f"span {a}..{b} overlaps or comes before span {out[-1][0]}..{out[-1][1]}; "
                            "spans must be in order and must not overlap.")
        out.append((a, b))
    if not out:
        raise UserError("there are no frames to export.")
    return out


def render(video: VideoSource, masks: MaskStore, objects, out, effects: Sequence[Effect] | None,
           spans: Sequence[Span], *, audio: str, object_ids=None, codec: str | None = None,
           crf: int = 18, preset: str = "veryfast", feather: int = 0,
           progress=None, cancel: threading.Event | None = None) -> Path:
    """Render ``spans`` of ``video`` through ``effects`` into ``out``.

    ``audio``: "full" (pass the source audio through), "cut" (re-encode exactly the spans'
    time) or "none".
    """
    out = Path(out)
    objs = objects_dict(objects)
    selected = select_objects(objs, object_ids)
    if (masks.height, masks.width) != (int(video.height), int(video.width)):
        raise UserError(f"the masks are {masks.width}x{masks.height} but the video is "
                        f"{video.width}x{video.height}.")
    if feather < 0:
        raise UserError(f"feather must not be negative, got {feather}.")
    effects = list(effects or [])
    for e in effects:
        if not isinstance(e, Effect):
            raise TypeError(f"not an effect: {e!r}")
    ordered = sorted(effects, key=lambda e: e.stage)  # stable: list order within a stage
    alpha = any(e.needs_alpha for e in ordered)
    fmt = pick_format(out, codec, alpha, crf, preset)
    spans = check_spans(spans, len(video))
    total = sum(b - a + 1 for a, b in spans)

    info = probe_source(video)
    ctx = ExportContext(video, masks, objs, selected, info.rate, int(round(feather)), cancel)
    timeline = output_timeline(video, spans, info.time_base, info.video_start)
    ctx.timeline = timeline

    def rendered() -> Iterator[Frame]:
        """Decode and apply the effects, frame by frame (runs in the worker thread)."""
        k = 0
        for first, last in spans:
            for i, img in video.iter_frames(first, last + 1):
                check_cancel(cancel)
                frame = Frame(np.array(img, dtype=np.uint8, copy=True))
                fctx = FrameContext(ctx, i, k)
                for e in ordered:
                    e.apply(frame, fctx)
                yield frame
                k += 1

    try:
        for e in ordered:
            check_cancel(cancel)
            e.prepare(ctx)
        make_audio = None
        if fmt.kind == "container" and audio != "none" and info.audio_index is not None:
            make_audio = audio_factory(video, info, timeline, audio, out.suffix.lower())
        check_cancel(cancel)
        with atomic_path(out, directory=fmt.kind == "png") as tmp:
            if fmt.kind == "png":
                writer = PngWriter(tmp, fmt.alpha)
            else:
                writer = ContainerWriter(tmp, fmt, ctx.width, ctx.height, info.rate,
                                          timeline, make_audio)
            try:
                frames = _in_thread(rendered) if PIPELINE_DEPTH > 0 else rendered()
                try:
                    for k, frame in enumerate(frames, 1):
                        check_cancel(cancel)
                        writer.write(frame)
                        report_progress(progress, k, total)
                finally:
                    close = getattr(frames, "close", None)
                    if close is not None:
                        close()
                check_cancel(cancel)
                writer.close()
            except av.FFmpegError as e:
                writer.abort()
                if isinstance(e, OSError) and e.errno is not None:
                    raise  # disk full, permission... -> UserError in atomic_path
                raise UserError(f"encoding {out.name} failed: {e}") from e
            except BaseException:
                writer.abort()
                raise
    finally:
        for e in ordered:
            try:
                e.close()
            except Exception:  # closing must not hide the real error
                log.exception("closing %r failed", e)
    return out


#: Frames decoded and rendered ahead by a worker thread while the main thread encodes
#: (0: everything in the calling thread). Bounded, so memory stays flat.
PIPELINE_DEPTH = 3

_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _in_thread(make: Callable[[], Iterator], depth: int | None = None) -> Iterator:
    """Run the generator ``make()`` in a worker thread, ``depth`` items ahead; its exceptions
    (``Cancelled`` included) are raised here. Closing this generator stops the worker."""
    q: queue.Queue = queue.Queue(maxsize=max(1, depth or PIPELINE_DEPTH))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in make():
                if not put(item):
                    return
            put(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            put(_Failed(e))

    worker = threading.Thread(target=work, name="sam2studio-export-render", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


def export_video(video: VideoSource, masks: MaskStore, objects, out: str | os.PathLike,
                 effects: Sequence[Effect] | None = None, *, object_ids: Iterable[int] | None = None,
                 frames: range | None = None, codec: str | None = None, crf: int = 18,
                 preset: str = "veryfast", feather: int = 0,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None) -> Path:
    """Render ``video`` with ``effects`` applied into ``out`` and return ``out``.

    ``objects``: ``{id: TrackedObject}`` (or a list of them); ``object_ids``: the selected
    objects (default all), which every effect without its own ``objects`` applies to.
    ``frames``: a ``range`` of source frames (default all); a sub-range also cuts the audio
    to the same times (re-encoded, sample-exact); a range with a step > 1 has no audio.
    ``codec`` overrides the encoder picked from the suffix (e.g. ``"libx264"``,
    ``"prores_ks"``, ``"libvpx-vp9"``, ``"ffv1"``); ``crf``/``preset`` tune H.264 (``crf`` is
    mapped for VP9); ``feather`` softens mask edges (px). ``progress(done, total)`` is called
    per frame; setting ``cancel`` raises :class:`~sam2studio.errors.Cancelled` and leaves no
    file under ``out``. Bad input (unknown object, unreadable background, unwritable place,
    a format that cannot hold alpha) raises :class:`UserError`.
    """
    rng = resolve_frames(len(video), frames)
    if rng.step == 1:
        spans = [(rng.start, rng.stop - 1)]
        audio = "full" if len(rng) == len(video) else "cut"
    else:
        spans = [(i, i) for i in rng]
        audio = "none"
    return render(video, masks, objects, out, effects, spans, audio=audio, object_ids=object_ids,
                   codec=codec, crf=crf, preset=preset, feather=feather, progress=progress,
                   cancel=cancel)
