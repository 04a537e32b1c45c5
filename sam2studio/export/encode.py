"""Encoding an edited-video export: the output format picked from the file name (encoder,
pixel format, options), the source's timing, its audio (passed through, or cut and
re-encoded sample-exactly) and the writers (a video container or a folder of PNG images).

Output formats (picked by the suffix of ``out``; ``codec`` overrides the encoder)
----------------------------------------------------------------------------------
* ``.mp4``, ``.m4v``, ``.mkv``, ``.mov``: H.264 (libx264, yuv420p, ``crf``, ``preset``);
* with :class:`~sam2studio.export.effects.CutOut` (transparency): ``.mov`` -> ProRes 4444
  (prores_ks, yuva444p10le); ``.webm`` -> VP9 with alpha (libvpx-vp9, yuva420p); a path
  without a suffix -> a folder of RGBA PNG files ``000000.png, 000001.png, ...`` (output
  frame order); ``.mp4``/``.mkv`` cannot hold alpha (:class:`UserError`);
* ``.webm`` without alpha: VP9 yuv420p. A folder without alpha: RGB PNG files.

yuv420p needs an even width and height: an odd size is padded by one replicated row/column.

Audio
-----
Read from ``video.path`` with PyAV when it is a file with an audio stream (never into a PNG
folder). A full-length export passes every audio packet through unchanged (same codec, same
time base) when the container accepts that codec. A sub-range, a presence cut
(:mod:`~sam2studio.export.cut`) or a container that cannot hold the source codec re-encodes:
the audio is decoded, exactly the samples of the kept time spans are kept (silence where the
source has none) and encoded as AAC (Opus for ``.webm``), so the audio length equals the
kept video length to the sample, plus the encoder's own trailing padding (< one audio frame).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..core.video import VideoSource
from ..errors import UserError
from .frames import Frame

log = logging.getLogger(__name__)

__all__ = ["VIDEO_SUFFIXES", "OutputFormat", "pick_format", "SourceInfo", "probe_source",
           "audio_factory", "ContainerWriter", "PngWriter", "Span", "transcode_clip"]

Span = tuple[int, int]  # (first, last) source frames, inclusive

#: Suffixes written as a video container; a path without a suffix is a PNG folder.
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".webm")

_AV_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


@dataclass
class OutputFormat:
    """How the frames are written: a video ``container`` (encoder, pixel format, encoder
    options) or a folder of ``png`` images; ``alpha`` when the output keeps transparency."""

    kind: str  # "container" or "png"
    encoder: str | None = None
    pix_fmt: str | None = None
    options: dict = field(default_factory=dict)
    alpha: bool = False

    @property
    def even(self) -> bool:
        return bool(self.pix_fmt) and ("420" in self.pix_fmt or "422" in self.pix_fmt)


#: Pixel formats with an alpha plane, best first (full chroma before subsampled).
_ALPHA_PIX_FMTS = ("yuva444p10le", "yuva444p", "gbrap", "rgba", "bgra", "argb", "abgr",
                   "yuva422p", "yuva420p", "ya8")

_CODEC_ALIASES = {
    "h264": "libx264", "x264": "libx264", "avc": "libx264",
    "prores": "prores_ks", "prores4444": "prores_ks",
    "vp9": "libvpx-vp9", "libvpx_vp9": "libvpx-vp9",
}


def _h264_encoder() -> str:
    for name in ("libx264", "libopenh264", "h264_nvenc", "mpeg4"):
        if name in av.codecs_available:
            return name
    raise UserError("no H.264 or MPEG-4 video encoder is available in this installation of PyAV.")


def _encoder_format(encoder: str, alpha: bool, crf: int, preset: str) -> OutputFormat:
    if encoder not in av.codecs_available:
        raise UserError(f"the video encoder {encoder!r} is not available in this installation.")
    try:
        formats = [f.name for f in av.Codec(encoder, "w").video_formats or ()]
    except _AV_ERRORS:
        raise UserError(f"{encoder!r} is not a video encoder.") from None
    opts: dict[str, str] = {}
    if encoder == "libx264":
        if alpha:
            raise UserError("H.264 cannot store transparency: export the cut-out as .mov "
                            "(ProRes 4444), .webm (VP9) or a folder of PNG images.")
        pix, opts = "yuv420p", {"crf": str(int(crf)), "preset": preset}
    elif encoder == "prores_ks":
        pix = "yuva444p10le" if alpha else "yuv422p10le"
        opts = {"profile": "4444" if alpha else "hq", "vendor": "apl0"}
    elif encoder == "libvpx-vp9":
        pix = "yuva420p" if alpha else "yuv420p"
        # VP9's crf scale is 0..63; x264's 18 ("visually lossless") is about VP9's 30.
        opts = {"crf": str(min(63, int(crf) + 12)), "b": "0", "deadline": "realtime",
                "cpu-used": "8", "row-mt": "1"}
        if alpha:
            opts["auto-alt-ref"] = "0"
    else:
        if alpha:
            with_alpha = [f for f in _ALPHA_PIX_FMTS if f in formats]
            if not with_alpha:
                raise UserError(f"the video encoder {encoder!r} cannot store transparency.")
            pix = with_alpha[0]
        else:
            pref = [f for f in ("yuv420p", "yuv422p", "yuv444p", "rgb24", "bgr24", "gbrp") if f in formats]
            pix = pref[0] if pref else (formats[0] if formats else "yuv420p")
    if formats and pix not in formats:
        raise UserError(f"the video encoder {encoder!r} does not take {pix} pictures.")
    return OutputFormat("container", encoder, pix, opts, alpha)


def pick_format(out: Path, codec: str | None, alpha: bool, crf: int, preset: str) -> OutputFormat:
    """The output format for the path ``out`` (its suffix; none: a PNG folder), checked
    against this PyAV build; ``codec`` overrides the encoder. Raises UserError."""
    suffix = out.suffix.lower()
    enc = None if codec is None else _CODEC_ALIASES.get(codec.lower(), codec.lower())
    if suffix == "":
        if enc not in (None, "png"):
            raise UserError(f"{out} has no suffix, so it is written as a folder of PNG images; "
                            f"the codec {codec!r} does not apply.")
        return OutputFormat("png", alpha=alpha)
    if suffix not in VIDEO_SUFFIXES:
        raise UserError(f"cannot write a video as {suffix!r}: use {', '.join(VIDEO_SUFFIXES)}, "
                        "or a name without a suffix for a folder of PNG images.")
    if enc is None:
        if alpha:
            if suffix == ".mov":
                enc = "prores_ks"
            elif suffix == ".webm":
                enc = "libvpx-vp9"
            else:
                raise UserError(f"a {suffix} file cannot hold transparency: export the cut-out as "
                                ".mov (ProRes 4444), .webm (VP9) or a folder of PNG images.")
        else:
            enc = "libvpx-vp9" if suffix == ".webm" else _h264_encoder()
    fmt = _encoder_format(enc, alpha, crf, preset)
    try:
        probe = av.open(os.devnull, "w", format=_MUXERS.get(suffix))
        supported = probe.supported_codecs
        probe.close()
    except _AV_ERRORS:  # pragma: no cover - depends on the FFmpeg build
        supported = None
    if supported is not None:
        name = av.Codec(enc, "w").name
        if name not in supported:
            raise UserError(f"a {suffix} file cannot hold {name} video; choose another codec or suffix.")
    return fmt


_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm"}


# =========================================================================================
# Source timing and audio
# =========================================================================================
@dataclass
class SourceInfo:
    """The source's frame rate, time base, start time and first audio stream."""

    rate: Fraction
    time_base: Fraction
    video_start: float = 0.0  # seconds of the first video frame in the file's timeline
    audio_index: int | None = None
    audio_codec: str | None = None


def probe_source(video: VideoSource) -> SourceInfo:
    """:class:`SourceInfo` of ``video`` (read with PyAV when it is a file)."""
    fps = float(video.fps) if video.fps and video.fps > 0 else 30.0
    rate = Fraction(fps).limit_denominator(1001)
    info = SourceInfo(rate=rate, time_base=1 / rate)
    path = video.path
    if path is None or not Path(path).is_file():
        return info
    try:
        with av.open(str(path)) as c:
            vs = next((s for s in c.streams.video), None)
            if vs is not None:
                avg = vs.average_rate
                if avg and abs(float(avg) - fps) < 1e-3 * fps:
                    info.rate = Fraction(avg)
                if vs.time_base:
                    info.time_base = Fraction(vs.time_base)
                start = getattr(video, "pts", None)
                if start is not None and len(start):
                    info.video_start = float(int(start[0]) * Fraction(vs.time_base))
                elif vs.start_time is not None:
                    info.video_start = float(vs.start_time * vs.time_base)
            if c.streams.audio:
                a = c.streams.audio[0]
                info.audio_index = a.index
                info.audio_codec = a.codec_context.name
    except _AV_ERRORS as e:
        log.warning("cannot read the audio of %s (%s); exporting without audio", path, e)
        info.audio_index = None
    # A time base so coarse that frames would collide: use one tick per frame.
    if float(1 / info.rate / info.time_base) < 1:
        info.time_base = 1 / info.rate
    return info


class PassthroughAudio:
    """Every audio packet of the source, unchanged, shifted to the output's time zero."""

    def __init__(self, oc, path: Path, index: int, shift_s: float) -> None:
        self.oc = oc
        self.ic = av.open(str(path))
        self.ist = self.ic.streams[index]
        self.ost = oc.add_stream_from_template(self.ist)
        self.tb = Fraction(self.ist.time_base)
        self.shift = int(round(shift_s / self.tb))
        self._packets = self.ic.demux(self.ist)
        self._pending = None

    def pump(self, until_s: float | None) -> None:
        while True:
            if self._pending is None:
                try:
                    p = next(self._packets)
                except StopIteration:
                    return
                except _AV_ERRORS as e:
                    log.warning("audio of %s stops early: %s", self.ic.name, e)
                    self._packets = iter(())
                    return
                if p.dts is None and p.pts is None:
                    continue
                self._pending = p
            p = self._pending
            t = ((p.pts if p.pts is not None else p.dts) - self.shift) * self.tb
            if until_s is not None and t > until_s:
                return
            if self.shift:
                if p.pts is not None:
                    p.pts -= self.shift
                if p.dts is not None:
                    p.dts -= self.shift
            p.stream = self.ost
            self.oc.mux(p)
            self._pending = None

    def finish(self) -> None:
        self.pump(None)

    def close(self) -> None:
        self.ic.close()


class RecutAudio:
    """The source audio decoded, cut to ``pieces`` sample-exactly and re-encoded.

    ``pieces``: ``(source_start_s, out_start_s, out_end_s)``: the output's audio from
    ``out_start_s`` to ``out_end_s`` comes from the source from ``source_start_s`` (seconds in
    the file's timeline) on; pieces follow each other in output time. Boundaries are rounded
    to whole samples from the output times, so the total length is exact. Source audio that
    is missing becomes silence.
    """

    def __init__(self, oc, path: Path, index: int, codec: str,
                 pieces: Sequence[tuple[float, float, float]]) -> None:
        self.oc = oc
        self.ic = av.open(str(path))
        self.ist = self.ic.streams[index]
        cc = self.ist.codec_context
        src_rate = int(cc.sample_rate or 48000)
        rates = av.Codec(codec, "w").audio_rates
        sr = src_rate if not rates or src_rate in rates else (48000 if 48000 in rates else max(rates))
        self.sr = sr
        layout = cc.layout.name if cc.layout is not None and cc.channels else "stereo"
        if codec == "libopus" and cc.channels > 2:
            layout = "stereo"
        self.layout = layout
        self.channels = av.AudioLayout(layout).nb_channels
        self.ost = oc.add_stream(codec, rate=sr)
        self.ost.layout = layout
        self.ost.time_base = Fraction(1, sr)
        br = int(cc.bit_rate or 0)
        self.ost.bit_rate = min(max(br, 96_000), 320_000) if br else 192_000
        self._resampler = av.AudioResampler(format="fltp", layout=layout, rate=sr)
        # (source sample start, out start, out length) in output samples
        self.pieces = [(int(round(src * sr)), int(round(a * sr)), int(round(b * sr)) - int(round(a * sr)))
                       for src, a, b in pieces]
        self.total = self.pieces[-1][1] + self.pieces[-1][2] if self.pieces else 0
        self.written = 0
        self._piece = 0
        self._chunks = self._decoded()
        self._chunk: tuple[int, np.ndarray] | None = None

    def _decoded(self) -> Iterator[tuple[int, np.ndarray]]:
        pos = None
        try:
            first = self.pieces[0][0] / self.sr if self.pieces else 0.0
            if first > 2.0:  # skip decoding what comes long before the first piece
                tb = Fraction(self.ist.time_base)
                self.ic.seek(int((first - 1.0) / tb), stream=self.ist, backward=True)
            for packet in self.ic.demux(self.ist):
                for fr in packet.decode():
                    if pos is None:
                        pos = int(round(float(fr.pts * fr.time_base) * self.sr)) if fr.pts is not None else 0
                    for r in self._resampler.resample(fr):
                        arr = r.to_ndarray().astype(np.float32, copy=False).reshape(self.channels, -1)
                        yield pos, arr
                        pos += arr.shape[1]
            for r in self._resampler.resample(None):
                arr = r.to_ndarray().astype(np.float32, copy=False).reshape(self.channels, -1)
                yield (pos or 0), arr
                pos = (pos or 0) + arr.shape[1]
        except _AV_ERRORS as e:
            log.warning("audio of %s stops early: %s", self.ic.name, e)

    def _emit(self, arr: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr, np.float32), format="fltp",
                                           layout=self.layout)
        frame.sample_rate = self.sr
        frame.pts = self.written
        frame.time_base = Fraction(1, self.sr)
        for p in self.ost.encode(frame):
            self.oc.mux(p)
        self.written += arr.shape[1]

    def _silence(self, n: int) -> None:
        while n > 0:
            m = min(n, 4096)
            self._emit(np.zeros((self.channels, m), np.float32))
            n -= m

    def pump(self, until_s: float | None) -> None:
        until = self.total if until_s is None else min(self.total, int(round(until_s * self.sr)))
        while self.written < until:
            while self._piece < len(self.pieces) and self.written >= sum(self.pieces[self._piece][1:]):
                self._piece += 1
            if self._piece >= len(self.pieces):
                return
            src0, out0, n = self.pieces[self._piece]
            if self.written < out0:  # cannot happen with contiguous pieces; be safe
                self._silence(out0 - self.written)
                continue
            need = out0 + n - self.written  # samples still owed to this piece
            s = src0 + (self.written - out0)  # source position wanted next
            if self._chunk is None:
                self._chunk = next(self._chunks, None)
                if self._chunk is None:  # the source audio ended: silence
                    self._silence(need)
                    continue
            p, arr = self._chunk
            end = p + arr.shape[1]
            if end <= s:
                self._chunk = None
                continue
            if p > s:  # a hole in the source audio
                self._silence(min(p - s, need))
                continue
            take = arr[:, s - p: s - p + need]
            self._emit(take)
            if s - p + take.shape[1] >= arr.shape[1]:
                self._chunk = None

    def finish(self) -> None:
        self.pump(None)
        for p in self.ost.encode(None):
            self.oc.mux(p)

    def close(self) -> None:
        self.ic.close()


def _audio_codec_for(oc) -> str | None:
    supported = getattr(oc, "supported_codecs", None)
    for enc, name in (("aac", "aac"), ("libopus", "opus"), ("libvorbis", "vorbis")):
        if enc in av.codecs_available and (supported is None or name in supported):
            return enc
    return None


# =========================================================================================
# Writers
# =========================================================================================
class ContainerWriter:
    """Encodes frames into a video container, with the audio that ``audio(container)`` makes,
    each frame at its output time from ``timeline`` (its source time, see :mod:`.timing`)."""

    def __init__(self, path: Path, fmt: OutputFormat, width: int, height: int, rate: Fraction,
                 timeline, audio: Callable | None) -> None:
        time_base = timeline.time_base
        self.fmt = fmt
        self.path = path
        self.pad = (height % 2, width % 2) if fmt.even else (0, 0)
        self.oc = av.open(str(path), "w", format=_MUXERS.get(path.suffix.lower()))
        self.audio = None
        try:
            st = self.oc.add_stream(fmt.encoder, rate=rate)
            st.width, st.height = width + self.pad[1], height + self.pad[0]
            st.pix_fmt = fmt.pix_fmt
            st.time_base = time_base
            # the encoder's own clock too: left at 1/rate it would round every pts to a
            # constant-rate grid and re-time a variable-frame-rate video
            st.codec_context.time_base = time_base
            if fmt.options:
                st.options = dict(fmt.options)
            self.st = st
            self.rate = rate
            self.tb = time_base
            self.timeline = timeline
            self.k = 0
            if audio is not None:
                self.audio = audio(self.oc)
        except BaseException:
            self.abort()
            raise

    def write(self, frame: Frame) -> None:
        rgb = frame.rgb
        if self.fmt.alpha:
            a = np.ones(rgb.shape[:2], np.float32) if frame.alpha is None else frame.alpha
            a8 = np.rint(a * 255.0).astype(np.uint8)
            rgb = rgb.copy()
            rgb[a8 == 0] = 0
            arr, pf = cv2.merge((rgb[..., 0], rgb[..., 1], rgb[..., 2], a8)), "rgba"
        else:
            arr, pf = rgb, "rgb24"
        if any(self.pad):
            arr = cv2.copyMakeBorder(arr, 0, self.pad[0], 0, self.pad[1], cv2.BORDER_REPLICATE)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format=pf)
        vf.pts = int(self.timeline.pts[self.k])
        vf.time_base = self.tb
        for p in self.st.encode(vf):
            self.oc.mux(p)
        self.k += 1
        if self.audio is not None:
            self.audio.pump(self.timeline.seconds(self.k - 1) + 0.25)

    def close(self) -> None:
        for p in self.st.encode(None):
            self.oc.mux(p)
        if self.audio is not None:
            self.audio.finish()
            self.audio.close()
            self.audio = None
        self.oc.close()

    def abort(self) -> None:
        try:
            if self.audio is not None:
                self.audio.close()
        except Exception:  # noqa: BLE001 - best effort while failing
            pass
        try:
            self.oc.close()
        except Exception:  # noqa: BLE001
            pass


class PngWriter:
    """Writes frames as ``000000.png, 000001.png, ...`` (RGBA when ``alpha``)."""

    def __init__(self, folder: Path, alpha: bool) -> None:
        self.folder = folder
        self.alpha = alpha
        self.k = 0

    def write(self, frame: Frame) -> None:
        rgb = frame.rgb
        if self.alpha:
            a = np.ones(rgb.shape[:2], np.float32) if frame.alpha is None else frame.alpha
            a8 = np.rint(a * 255.0).astype(np.uint8)
            img = cv2.merge((rgb[..., 2], rgb[..., 1], rgb[..., 0], a8))
            img[a8 == 0, :3] = 0
        else:
            img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        path = self.folder / f"{self.k:06d}.png"
        ok, data = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise UserError(f"cannot encode frame {self.k} as PNG.")
        data.tofile(path)  # OSError (disk full...) becomes a UserError in atomic_path
        self.k += 1

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def audio_factory(video: VideoSource, info: SourceInfo, timeline, mode: str,
                  suffix: str) -> Callable | None:
    """A function that adds the audio to an open output container: passed through (``mode``
    "full", when the container takes the codec) or cut to the spans of ``timeline`` (a
    :class:`~.timing.Timeline`) and re-encoded."""
    path = Path(video.path)

    def make(oc):
        supported = getattr(oc, "supported_codecs", None)
        passthrough_ok = supported is None or info.audio_codec in supported
        try:
            if mode == "full" and passthrough_ok:
                return PassthroughAudio(oc, path, info.audio_index, info.video_start)
            enc = _audio_codec_for(oc)
            if enc is None:
                log.warning("no audio encoder fits %s; exporting without audio", suffix)
                return None
            # the kept spans' source times, placed where their frames are (see .timing)
            return RecutAudio(oc, path, info.audio_index, enc, list(timeline.pieces))
        except _AV_ERRORS as e:
            log.warning("cannot carry the audio of %s (%s); exporting without audio", path, e)
            return None

    return make


def transcode_clip(src: str | os.PathLike, dst: str | os.PathLike, frames: int,
                   scale: float = 0.5) -> Path:
    """The first ``frames`` frames of the video file ``src`` scaled by ``scale`` (to even
    sizes), written to ``dst`` as H.264 yuv420p at the source's whole-number frame rate, no
    audio: short test and benchmark clips cut from real footage."""
    dst = Path(dst)
    with av.open(str(src)) as inp:
        stream = inp.streams.video[0]
        rate = int(round(stream.average_rate or 30))
        with av.open(str(dst), "w") as out:
            enc = None
            for i, frame in enumerate(inp.decode(stream)):
                if i >= frames:
                    break
                if enc is None:
                    enc = out.add_stream(_h264_encoder(), rate=rate)
                    enc.width = int(frame.width * scale) // 2 * 2
                    enc.height = int(frame.height * scale) // 2 * 2
                    enc.pix_fmt = "yuv420p"
                img = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
                img.pts, img.time_base = i, Fraction(1, rate)
                for packet in enc.encode(img):
                    out.mux(packet)
            if enc is not None:
                for packet in enc.encode():
                    out.mux(packet)
    return dst
