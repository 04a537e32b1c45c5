"""VideoSource: frames of a video file, an image folder, a single image or a camera.

Every source gives frame-accurate random access by index (``get_frame``), sequential
streaming (``iter_frames``), ``fps``, per-frame ``timestamp`` and the display size. Frames are
RGB ``uint8`` arrays of shape ``(height, width, 3)``, already turned to the display rotation.
Nothing decodes the whole video up front; a small bounded LRU cache keeps recent frames.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import os
import re
import threading
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from ..errors import VideoError

log = logging.getLogger(__name__)

DEFAULT_CACHE_FRAMES = 32


class VideoSource(ABC):
    """Base class: subclasses implement ``_read(index)`` and set the attributes below."""

    #: "file", "folder", "image", "camera" or "array"
    kind: str = "array"

    def __init__(self, path: str | Path | None, width: int, height: int, fps: float,
                 num_frames: int, cache_frames: int = DEFAULT_CACHE_FRAMES) -> None:
        self.path = None if path is None else Path(path)
        self.width = int(width)
        self.height = int(height)
        self.fps = float(fps)
        self._num_frames = int(num_frames)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_frames = max(1, int(cache_frames))
        self._lock = threading.RLock()

    # ---- size and time -----------------------------------------------------------------
    def __len__(self) -> int:
        return self._num_frames

    @property
    def num_frames(self) -> int:
        return self._num_frames

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames as displayed."""
        return self.width, self.height

    def timestamp(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the first frame."""
        self._check_index(index)
        return index / self.fps if self.fps > 0 else 0.0

    def index_at_time(self, seconds: float) -> int:
        """Index of the frame shown at ``seconds`` from the first frame (clamped to the video)."""
        if self._num_frames == 0:
            raise IndexError("the video has no frames")
        i = int(math.floor(seconds * self.fps + 1e-6)) if self.fps > 0 else 0
        return min(max(i, 0), self._num_frames - 1)

    @property
    def duration(self) -> float:
        if self._num_frames == 0:
            return 0.0
        last = self.timestamp(self._num_frames - 1)
        return last + (1.0 / self.fps if self.fps > 0 else 0.0)

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<memory>"

    # ---- frames ------------------------------------------------------------------------
    def get_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB uint8 ``(height, width, 3)``; frame-accurate."""
        index = self._check_index(index)
        with self._lock:
            frame = self._cache.get(index)
            if frame is not None:
                self._cache.move_to_end(index)
                return frame
            frame = self._read(index)
            self._remember(index, frame)
            return frame

    def __getitem__(self, index: int) -> np.ndarray:
        return self.get_frame(index)

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for ``start <= index < stop`` in order, decoding as it goes."""
        stop = self._num_frames if stop is None else min(stop, self._num_frames)
        for i in range(start, stop):
            yield i, self.get_frame(i)

    def _remember(self, index: int, frame: np.ndarray) -> None:
        frame.setflags(write=False)
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_frames:
            self._cache.popitem(last=False)

    def _check_index(self, index: int) -> int:
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"frame index must be an integer, got {type(index).__name__}")
        index = int(index)
        if not 0 <= index < self._num_frames:
            raise IndexError(f"frame {index} is out of range: the video has frames 0 to {self._num_frames - 1}")
        return index

    @abstractmethod
    def _read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (already range-checked); called with the lock held."""

    # ---- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            self._cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, {self.width}x{self.height}, "
                f"{self._num_frames} frames, {self.fps:g} fps)")


class ArrayVideo(VideoSource):
    """Frames held in memory (a list or array of RGB uint8 frames). For tests and small clips."""

    kind = "array"

    def __init__(self, frames, fps: float = 30.0, path: str | Path | None = None) -> None:
        frames = list(frames)
        if not frames:
            raise VideoError("the clip has no frames")
        h, w = frames[0].shape[:2]
        super().__init__(path, w, h, fps, len(frames), cache_frames=1)
        self._frames = frames

    def _read(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(self._frames[index], dtype=np.uint8)


# ==== helpers ===============================================================================

#: File name extensions read as still images (a folder of them is a video).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
#: File name extensions offered for video files (anything else is still tried through PyAV).
VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})

_FINGERPRINT_CHUNK = 1 << 20
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``frame2`` before ``frame10``."""
    parts = _DIGITS.split(name)
    # re.split with one group alternates text, number, text, ... so equal positions compare
    # equal types.
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


def list_images(folder: str | Path) -> tuple[list[Path], int]:
    """The image files of ``folder`` in natural order, and how many other files were skipped.

    Hidden files (``.DS_Store``, ``._frame.jpg``) and sub-folders are ignored silently.
    """
    folder = Path(folder)
    images: list[Path] = []
    skipped = 0
    try:
        entries = list(os.scandir(folder))
    except OSError as e:
        raise VideoError(f"folder {folder} could not be read: {_reason(e)}") from e
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if not entry.is_file():
                continue
        except OSError:
            continue
        if os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            images.append(Path(entry.path))
        else:
            skipped += 1
    images.sort(key=lambda p: natural_key(p.name))
    return images, skipped


def fingerprint(path: str | Path) -> str:
    """Quick content fingerprint of a video file or an image folder (sha256 hex digest).

    For a file it hashes the size and the first and last MiB; for a folder the natural-sorted
    names and sizes of its images. Cheap enough to run on every project load, and enough to
    tell whether a moved or renamed video is the same one.
    """
    path = Path(path)
    h = hashlib.sha256()
    try:
        if path.is_dir():
            h.update(b"folder\0")
            images, _ = list_images(path)
            for p in images:
                h.update(p.name.encode("utf-8", "surrogateescape") + b"\0")
                h.update(str(p.stat().st_size).encode() + b"\0")
        elif path.is_file():
            size = path.stat().st_size
            h.update(b"file\0" + str(size).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read(_FINGERPRINT_CHUNK))
                if size > _FINGERPRINT_CHUNK:
                    f.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
                    h.update(f.read(_FINGERPRINT_CHUNK))
        else:
            raise VideoError(f"{path} does not exist")
    except OSError as e:
        raise VideoError(f"{path} could not be read: {_reason(e)}") from e
    return h.hexdigest()


def rotate_frame(frame: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Turn ``frame`` counter-clockwise by ``quarter_turns`` * 90 degrees (contiguous result)."""
    k = int(quarter_turns) % 4
    if k == 0:
        return frame
    return np.ascontiguousarray(np.rot90(frame, k))


def rotation_quarter_turns(display_rotation: float | None = None, rotate_tag: str | None = None) -> int:
    """Counter-clockwise quarter turns that show a decoded frame upright.

    ``display_rotation`` is FFmpeg's display-matrix angle (``VideoFrame.rotation``: degrees the
    frame must be turned counter-clockwise, in [-180, 180]); ``rotate_tag`` is the older
    ``rotate`` stream tag (degrees clockwise), used when there is no display matrix. Angles that
    are not a multiple of 90 degrees are rounded to the nearest one.
    """
    if display_rotation:
        return int(round(float(display_rotation) / 90.0)) % 4
    if rotate_tag:
        try:
            return int(round(-float(rotate_tag) / 90.0)) % 4
        except ValueError:
            return 0
    return 0


def _reason(e: BaseException) -> str:
    """A short lower-case reason from an OSError or FFmpeg error, without file names or codes."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    text = str(text).strip().rstrip(".")
    return text[:1].lower() + text[1:]


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoError(f"{path} does not exist")
    if not path.is_file():
        raise VideoError(f"{path} is not a file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise VideoError(f"{path} could not be read: {_reason(e)}") from e
    if size == 0:
        raise VideoError(f"{path} is empty (0 bytes)")


def _frame_time(frame) -> int | None:
    return frame.pts if frame.pts is not None else frame.dts


_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)


# ==== video files ===========================================================================

class FileVideo(VideoSource):
    """A video file read through PyAV with frame-accurate random access.

    Opening demuxes the video stream once, without decoding, and sorts the packet timestamps:
    frame ``i`` is the frame with the ``i``-th smallest pts, which gives the frame count and
    the real (variable-rate-safe) timestamps. ``_read(i)`` decodes forward from the current
    position when frame ``i`` is a little ahead (sequential playback never seeks), and
    otherwise seeks to the key frame before ``i`` and decodes up to the frame whose pts matches.
    Display rotation (the display matrix, or the old ``rotate`` tag) is applied, so ``width``
    and ``height`` are the upright size. Files that are cut short keep only the frames that
    decode.
    """

    kind = "file"

    #: Decode forward instead of seeking when the wanted frame is at most this many frames ahead.
    CONTINUE_WINDOW = 64
    #: For damaged files: how many frames at the end are checked for gaps left by reordering.
    _TAIL_CHECK = 8

    def __init__(self, path: str | Path, cache_frames: int = DEFAULT_CACHE_FRAMES, *,
                 threads: bool = True) -> None:
        path = Path(path)
        _check_file(path)
        self.path = path
        self.seek_count = 0  #: seeks made so far (diagnostics and tests)
        self._gen: Iterator | None = None
        self._last: int | None = None  # index of the last frame the decoder produced
        self._fresh = False  # nothing decoded since the last seek
        self._backwards = False  # stepping back one frame at a time
        try:
            self._container = av.open(str(path), mode="r")
        except _AV_ERRORS as e:
            raise VideoError(f"{path} could not be opened as a video: {_reason(e)}") from e
        try:
            first = self._setup(threads)
        except VideoError:
            self._container.close()
            raise
        except _AV_ERRORS as e:
            self._container.close()
            raise VideoError(f"{path} could not be read as a video: {_reason(e)}") from e
        h, w = first.shape[:2]
        super().__init__(path, w, h, self._fps, len(self._pts), cache_frames=cache_frames)
        self._keep_window = max(0, min(self._cache_frames // 2, 16))
        self._remember(0, first)

    # ---- opening -----------------------------------------------------------------------
    def _setup(self, threads: bool) -> np.ndarray:
        path, container = self.path, self._container
        stream = self._pick_stream(container)
        if stream is None:
            raise VideoError(f"{path} has no video stream")
        self._stream = stream
        if threads:
            stream.thread_type = "AUTO"
        tb = stream.time_base or Fraction(1, 90000)
        self._time_base = Fraction(tb)

        times, keys, damaged = self._scan(stream)
        if not times:
            raise VideoError(f"{path} has no video frames that can be read; it may be truncated or damaged")
        pts = np.unique(np.asarray(times, dtype=np.int64))
        self._keys = sorted(set(keys))
        if damaged:
            pts = self._drop_undecodable_tail(pts)
            if pts.size == 0:
                raise VideoError(f"{path} has no video frames that can be decoded; it may be truncated or damaged")
        self._set_index(pts)

        # Decode the first frame: it proves the stream decodes and carries the display matrix.
        self._seek(int(pts[0]))
        raw = None
        for frame in self._gen:
            j = self._index_of.get(_frame_time(frame))
            if j is not None:
                raw = frame
                break
        if raw is None:
            raise VideoError(f"{path} has no video frames that can be decoded; it may be truncated or damaged")
        if j > 0:  # the first frames never come out of the decoder: drop them
            self._set_index(self._pts[j:])
        self._last, self._fresh = 0, False
        self._rot = rotation_quarter_turns(getattr(raw, "rotation", 0), stream.metadata.get("rotate"))
        first = self._to_array(raw)
        self._fps = self._rate(stream)
        return first

    @staticmethod
    def _pick_stream(container):
        attached = getattr(getattr(av.stream, "Disposition", None), "attached_pic", 1024)
        candidates = [s for s in container.streams.video
                      if not (int(getattr(s, "disposition", 0) or 0) & int(attached))]
        if not candidates:
            return None
        # The longest video stream; ties go to the first one.
        return max(candidates, key=lambda s: (int(s.frames or 0), -s.index))

    def _scan(self, stream) -> tuple[list[int], list[int], bool]:
        """Demux (no decoding) the stream: timestamps of its frames, of its key frames, damage."""
        times: list[int] = []
        keys: list[int] = []
        damaged = False
        seen = 0  # packets with data, discarded ones included: the header counts those too
        size = self.path.stat().st_size
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_corrupt:
                    damaged = True
                    continue
                seen += 1
                if getattr(packet, "is_discard", False):
                    continue
                t = packet.pts if packet.pts is not None else packet.dts
                if t is None:
                    continue
                pos = packet.pos
                if pos is not None and pos >= 0 and pos + packet.size > size:
                    damaged = True  # cut off by the end of the file: it would decode to a broken frame
                    continue
                times.append(t)
                if packet.is_keyframe:
                    keys.append(t)
        except _AV_ERRORS:
            damaged = True
        try:
            if int(stream.frames or 0) > seen:  # the header promises more frames than there are
                damaged = True
        except (TypeError, ValueError):
            pass
        return times, keys, damaged

    def _drop_undecodable_tail(self, pts: np.ndarray) -> np.ndarray:
        """For a damaged file: decode the last group of pictures and keep what comes out."""
        start = self._keys[-1] if self._keys else int(pts[0])
        decoded: set[int] = set()
        try:
            self._container.seek(int(start), stream=self._stream, backward=True)
            for frame in self._frames():
                t = _frame_time(frame)
                if t is not None:
                    decoded.add(t)
        except _AV_ERRORS:
            pass
        self._gen = None
        keep = (pts < start) | np.isin(pts, np.fromiter(decoded, dtype=np.int64, count=len(decoded)))
        kept = pts[keep]
        # Cut short, a stream with reordered (B) frames loses frames from the middle of its
        # last few: end the index at the first gap there, so frame numbers stay contiguous.
        if kept.size > 2:
            steps = np.diff(kept)
            n = min(self._TAIL_CHECK, steps.size)
            usual = float(np.median(steps[:-n] if steps.size > 2 * n else steps))
            gaps = np.nonzero(steps[-n:] > 1.5 * usual)[0]
            if usual > 0 and gaps.size:
                kept = kept[: kept.size - n + int(gaps[0])]
        dropped = int(pts.size - kept.size)
        if dropped:
            log.warning("%s looks truncated or damaged: %d frame(s) at its end are left out", self.path, dropped)
        return kept

    def _set_index(self, pts: np.ndarray) -> None:
        self._pts = np.ascontiguousarray(pts, dtype=np.int64)
        self._pts.setflags(write=False)
        self._index_of = {int(t): i for i, t in enumerate(self._pts)}
        tb = self._time_base
        rel = (self._pts - self._pts[0]).astype(np.float64)
        self._times = rel * tb.numerator / tb.denominator
        self._times.setflags(write=False)
        # Key frames that are frames of the index (sorted by pts), for the seek-or-continue choice.
        self._keys = sorted(k for k in self._keys if k in self._index_of)

    def _rate(self, stream) -> float:
        try:
            if stream.average_rate and float(stream.average_rate) > 0:
                return float(stream.average_rate)
        except (TypeError, ZeroDivisionError):
            pass
        n = len(self._pts)
        span = float(self._times[-1]) if n > 1 else 0.0
        if span > 0:
            return (n - 1) / span
        try:
            if stream.guessed_rate and float(stream.guessed_rate) > 0:
                return float(stream.guessed_rate)
        except (TypeError, ZeroDivisionError):
            pass
        return 30.0

    # ---- time --------------------------------------------------------------------------
    def timestamp(self, index: int) -> float:
        """Presentation time of frame ``index`` in seconds from the first frame (from its pts)."""
        return float(self._times[self._check_index(index)])

    @property
    def timestamps(self) -> np.ndarray:
        """Read-only float64 array of every frame's time in seconds from the first frame."""
        return self._times

    @property
    def pts(self) -> np.ndarray:
        """Read-only int64 array of every frame's pts, in units of :attr:`time_base`."""
        return self._pts

    @property
    def time_base(self) -> Fraction:
        return self._time_base

    @property
    def rotation(self) -> int:
        """Degrees (0, 90, 180, 270) the decoded frames are turned counter-clockwise for display."""
        return 90 * self._rot

    @property
    def duration(self) -> float:
        if self._num_frames > 1:
            mean = float(self._times[-1]) / (self._num_frames - 1)
            return float(self._times[-1]) + mean
        return 1.0 / self.fps if self.fps > 0 else 0.0

    def index_at_time(self, seconds: float) -> int:
        i = int(np.searchsorted(self._times, seconds + 1e-9, side="right")) - 1
        return min(max(i, 0), self._num_frames - 1)

    # ---- decoding ----------------------------------------------------------------------
    def _frames(self) -> Iterator:
        """Decoded frames from the current demux position; ends quietly at the end or at damage."""
        demux = self._container.demux(self._stream)
        while True:
            try:
                packet = next(demux)
            except StopIteration:
                return
            except _AV_ERRORS:
                packet = None  # unreadable data: drain what the decoder holds and stop
            if packet is not None and packet.is_corrupt:
                continue
            try:
                frames = self._stream.decode(packet)
            except _AV_ERRORS:
                if packet is None:
                    return
                continue
            yield from frames
            if packet is None:
                return

    def _seek(self, pts: int) -> None:
        self.seek_count += 1
        self._gen = None
        self._last = None
        self._container.seek(int(pts), stream=self._stream, backward=True)
        self._gen = self._frames()
        self._fresh = True

    def _to_array(self, frame) -> np.ndarray:
        return rotate_frame(np.ascontiguousarray(frame.to_ndarray(format="rgb24")), self._rot)

    def _can_continue(self, i: int) -> bool:
        last = self._last
        if self._gen is None or last is None or i <= last:
            return False
        if i - last <= self.CONTINUE_WINDOW:
            return True
        # A seek would land on the key frame at or before frame i; if that is not past our
        # position, decoding on from here is no more work.
        k = bisect.bisect_right(self._keys, int(self._pts[i])) - 1
        return k < 0 or self._keys[k] <= int(self._pts[last])

    def _decode_to(self, i: int) -> tuple[str, np.ndarray | None]:
        """Decode on to frame ``i``: ("ok", frame), ("late", None) if the first frame after a
        seek is already past it, or ("missing", None) if it never came out."""
        # Keep a few of the frames passed on the way; many more when stepping backwards, as
        # the next requests will be exactly those frames.
        window = self._cache_frames - 1 if self._backwards else self._keep_window
        keep_from = i - window
        for frame in self._gen:
            j = self._index_of.get(_frame_time(frame))
            if j is None:
                continue
            fresh, self._fresh = self._fresh, False
            self._last = j
            if j < i:
                if j >= keep_from and j not in self._cache:
                    self._remember(j, self._to_array(frame))
                continue
            if j == i:
                return "ok", self._to_array(frame)
            return ("late" if fresh else "missing"), None
        self._gen = None
        self._last = None
        return "missing", None

    def _seek_plan(self, i: int) -> list[int]:
        plan: list[int] = []
        for j in (i, i - self.CONTINUE_WINDOW, i - 4 * self.CONTINUE_WINDOW, 0):
            t = int(self._pts[max(j, 0)])
            if t not in plan:
                plan.append(t)
        return plan

    def _read(self, index: int) -> np.ndarray:
        if self._container is None:
            raise VideoError(f"{self.path} is closed")
        # Frame index + 1 held but index not: most likely stepping backwards through the video.
        self._backwards = (index + 1) in self._cache
        try:
            if self._can_continue(index):
                status, frame = self._decode_to(index)
                if status == "ok":
                    return frame
            for t in self._seek_plan(index):
                try:
                    self._seek(t)
                except _AV_ERRORS:
                    continue
                status, frame = self._decode_to(index)
                if status == "ok":
                    return frame
                if status == "missing":
                    break
        except _AV_ERRORS as e:
            self._gen = None
            self._last = None
            raise VideoError(f"frame {index} of {self.path} could not be decoded: {_reason(e)}") from e
        self._gen = None
        self._last = None
        raise VideoError(f"frame {index} of {self.path} could not be decoded; the file may be truncated or damaged")

    def close(self) -> None:
        with self._lock:
            self._gen = None
            self._last = None
            if self._container is not None:
                self._container.close()
                self._container = None
            self._cache.clear()


# ==== image folders and single images =======================================================

def _read_image(path: Path) -> np.ndarray:
    """RGB uint8 pixels exactly as ``PIL.Image.open(path).convert("RGB")`` gives them."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError as e:
        raise VideoError(f"{path} does not exist any more") from e
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise VideoError(f"{path} could not be read as an image: {_reason(e)}") from e


class FolderVideo(VideoSource):
    """A folder of same-size images in natural order (``frame2`` before ``frame10``).

    Pixels are exactly what ``PIL.Image.open(p).convert("RGB")`` returns, like SAM 2's own
    frame-folder loader, so EXIF orientation is deliberately NOT applied. Files that are not
    images are skipped with a warning.
    """

    kind = "folder"

    def __init__(self, path: str | Path, fps: float = 30.0,
                 cache_frames: int = DEFAULT_CACHE_FRAMES) -> None:
        path = Path(path)
        if not path.exists():
            raise VideoError(f"{path} does not exist")
        if not path.is_dir():
            raise VideoError(f"{path} is not a folder")
        if not fps or not math.isfinite(fps) or fps <= 0:
            raise VideoError(f"the frame rate for {path} must be a positive number, got {fps}")
        files, skipped = list_images(path)
        if skipped:
            warnings.warn(f"{path}: skipped {skipped} file(s) that are not images", stacklevel=2)
        if not files:
            exts = ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
            raise VideoError(f"folder {path} contains no images ({exts})")
        sizes = [self._image_size(p) for p in files]
        for p, s in zip(files, sizes):
            if s != sizes[0]:
                raise VideoError(f"{p} is {s[0]}x{s[1]} but {files[0].name} is {sizes[0][0]}x{sizes[0][1]}; "
                                 f"all images in a folder must have the same size")
        self.files: list[Path] = files
        super().__init__(path, sizes[0][0], sizes[0][1], fps, len(files), cache_frames=cache_frames)

    @staticmethod
    def _image_size(p: Path) -> tuple[int, int]:
        try:
            with Image.open(p) as im:  # reads the header only
                return im.size
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise VideoError(f"{p} could not be read as an image: {_reason(e)}") from e

    def _read(self, index: int) -> np.ndarray:
        p = self.files[index]
        frame = _read_image(p)
        if frame.shape[:2] != (self.height, self.width):
            raise VideoError(f"{p} is {frame.shape[1]}x{frame.shape[0]} but the folder's frames are "
                             f"{self.width}x{self.height}")
        return frame


class ImageVideo(VideoSource):
    """A single image as a one-frame video.

    Unlike folders, EXIF orientation is applied by default (a lone photo should show upright);
    pass ``exif_transpose=False`` for the raw pixels.
    """

    kind = "image"

    def __init__(self, path: str | Path, fps: float = 30.0, *, exif_transpose: bool = True) -> None:
        path = Path(path)
        _check_file(path)
        if not fps or not math.isfinite(fps) or fps <= 0:
            raise VideoError(f"the frame rate for {path} must be a positive number, got {fps}")
        try:
            with Image.open(path) as im:
                if exif_transpose:
                    im = ImageOps.exif_transpose(im)
                frame = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise VideoError(f"{path} could not be read as an image: {_reason(e)}") from e
        h, w = frame.shape[:2]
        super().__init__(path, w, h, fps, 1, cache_frames=1)
        self._frame = frame
        self._remember(0, frame)

    def _read(self, index: int) -> np.ndarray:
        return self._frame


# ==== opening ===============================================================================

def open_video(path: str | Path, *, fps: float | None = None,
               cache_frames: int = DEFAULT_CACHE_FRAMES) -> VideoSource:
    """Open a video file, an image folder or a single image.

    ``fps`` sets the frame rate of folders and single images (default 30); video files keep
    their own timing and ignore it. Any input that cannot be read raises :class:`VideoError`
    with one sentence naming the path.
    """
    path = Path(path)
    if not path.exists():
        raise VideoError(f"{path} does not exist")
    if path.is_dir():
        return FolderVideo(path, fps=fps or 30.0, cache_frames=cache_frames)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageVideo(path, fps=fps or 30.0)
    return FileVideo(path, cache_frames=cache_frames)


def __getattr__(name):  # ``core.video.CameraVideo``: moved to core.cameras
    if name == "CameraVideo":
        from .cameras import CameraVideo

        return CameraVideo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
