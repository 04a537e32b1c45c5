"""SAM 2 model catalogue, checkpoint cache, downloads and checkpoint checks.

The catalogue lists Meta's published SAM 2 (July 2024) and SAM 2.1 (September 2024)
checkpoints in four sizes each. Checkpoints are cached in :func:`cache_dir`; a download
streams into ``<file>.part`` next to the final file, resumes with an HTTP ``Range`` request
after an interruption, and is only moved to its final name once it has been verified (size,
sha256 where one is published, and a load check against the model's config).

Nothing here imports Qt, and torch / sam2 are only imported when a checkpoint is checked, so
``sam2studio models list`` stays quick.

Environment variables:

``SAM2STUDIO_CACHE_DIR``
    Folder that holds the checkpoints (default: the user cache dir + ``/checkpoints``).
``SAM2STUDIO_MODEL_BASE_URL``
    Replaces the directory part of every catalogue URL (a mirror, or a loopback server in
    tests); the file name is appended to it.
``SAM2STUDIO_DOWNLOAD_STALL``
    The stall rule as ``BYTES/SECONDS`` (default ``10000/30``): a download that receives less
    than BYTES over any SECONDS stops with an error and keeps its ``.part`` for a resume.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..errors import Cancelled, CheckpointError, UserError

__all__ = [
    "CACHE_ENV",
    "BASE_URL_ENV",
    "STALL_ENV",
    "STALL_MIN_BYTES",
    "STALL_WINDOW_S",
    "stall_rule",
    "DEFAULT_MODEL",
    "MODELS",
    "ModelInfo",
    "ProgressCallback",
    "cache_dir",
    "check_checkpoint",
    "check_fit",
    "state_shapes",
    "read_checkpoint",
    "download",
    "format_model_table",
    "get_model",
    "installed_path",
    "is_installed",
    "list_models",
    "model_names",
    "model_url",
    "resolve_checkpoint",
]

CACHE_ENV = "SAM2STUDIO_CACHE_DIR"
BASE_URL_ENV = "SAM2STUDIO_MODEL_BASE_URL"
STALL_ENV = "SAM2STUDIO_DOWNLOAD_STALL"
STALL_MIN_BYTES = 10_000
"""A download that receives less than this many bytes ..."""
STALL_WINDOW_S = 30.0
"""... over any window of this many seconds has stalled: it stops with an error."""

ProgressCallback = Callable[[int, "int | None"], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when the server does not say."""


@dataclass(frozen=True)
class ModelInfo:
    """One downloadable SAM 2 checkpoint."""

    name: str
    """Our name for it, e.g. ``"sam2.1-tiny"``."""
    config: str
    """sam2 config name as ``build_sam2_video_predictor`` takes it."""
    url: str
    """Meta's official download URL."""
    filename: str
    """File name of the checkpoint (in the cache and at the URL)."""
    size_bytes: int
    """Approximate size of the file in bytes (for display and disk-space hints only)."""
    description: str
    """One line: speed and quality."""
    sha256: str | None = None
    """Published sha256 of the file, or None when Meta publishes none."""

    @property
    def size_mb(self) -> int:
        """Approximate size in megabytes (10**6 bytes), for display."""
        return round(self.size_bytes / 1_000_000)

    @property
    def family(self) -> str:
        return "SAM 2.1" if self.name.startswith("sam2.1-") else "SAM 2"


# Official URLs: facebookresearch/sam2 README.md ("Model Description") and
# checkpoints/download_ckpts.sh. Parameter counts, speeds (A100 FPS) and SA-V test J&F in the
# descriptions come from the same README. Meta publishes no checksums for these files, so
# sha256 is None and downloads are verified by size + a load check against the config.
# Sizes are the byte length of torch.save({"model": state_dict}) for each config as built by
# the installed sam2 package (exact file sizes are not published; these match to within a few
# kilobytes the ~148.8 MiB reported for sam2.1_hiera_tiny.pt).
_SAM21_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/092824"
_SAM2_BASE = "https://dl.fbaipublicfiles.com/segment_anything_2/072824"


def _entry(name: str, config: str, base: str, filename: str, size: int, desc: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        config=config,
        url=f"{base}/{filename}",
        filename=filename,
        size_bytes=size,
        description=desc,
    )


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        _entry(
            "sam2.1-tiny", "configs/sam2.1/sam2.1_hiera_t.yaml", _SAM21_BASE,
            "sam2.1_hiera_tiny.pt", 156_030_033,
            "39M params, fastest (47 FPS on A100); good quality (SA-V 76.5) - best on CPU",
        ),
        _entry(
            "sam2.1-small", "configs/sam2.1/sam2.1_hiera_s.yaml", _SAM21_BASE,
            "sam2.1_hiera_small.pt", 184_439_857,
            "46M params, fast (43 FPS on A100); good quality (SA-V 76.6)",
        ),
        _entry(
            "sam2.1-base-plus", "configs/sam2.1/sam2.1_hiera_b+.yaml", _SAM21_BASE,
            "sam2.1_hiera_base_plus.pt", 323_635_761,
            "81M params, medium speed (35 FPS on A100); better quality (SA-V 78.2)",
        ),
        _entry(
            "sam2.1-large", "configs/sam2.1/sam2.1_hiera_l.yaml", _SAM21_BASE,
            "sam2.1_hiera_large.pt", 898_131_761,
            "224M params, slowest (24 FPS on A100); best quality (SA-V 79.5) - GPU advised",
        ),
        _entry(
            "sam2-tiny", "configs/sam2/sam2_hiera_t.yaml", _SAM2_BASE,
            "sam2_hiera_tiny.pt", 155_963_095,
            "SAM 2.0, 39M params, fastest (47 FPS on A100); SA-V 75.0 - prefer sam2.1-tiny",
        ),
        _entry(
            "sam2-small", "configs/sam2/sam2_hiera_s.yaml", _SAM2_BASE,
            "sam2_hiera_small.pt", 184_372_919,
            "SAM 2.0, 46M params, fast (43 FPS on A100); SA-V 74.9 - prefer sam2.1-small",
        ),
        _entry(
            "sam2-base-plus", "configs/sam2/sam2_hiera_b+.yaml", _SAM2_BASE,
            "sam2_hiera_base_plus.pt", 323_568_823,
            "SAM 2.0, 81M params, medium (35 FPS on A100); SA-V 74.7 - prefer sam2.1-base-plus",
        ),
        _entry(
            "sam2-large", "configs/sam2/sam2_hiera_l.yaml", _SAM2_BASE,
            "sam2_hiera_large.pt", 898_064_823,
            "SAM 2.0, 224M params, slowest (24 FPS on A100); SA-V 76.0 - prefer sam2.1-large",
        ),
    )
}

DEFAULT_MODEL = "sam2.1-tiny"


# --------------------------------------------------------------------------- catalogue


def model_names() -> list[str]:
    """Catalogue names, in catalogue order."""
    return list(MODELS)


def get_model(name: str) -> ModelInfo:
    """The catalogue entry called ``name``; UserError listing the valid names otherwise."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise UserError(
            f"unknown model {name!r}; choose one of: {', '.join(MODELS)}"
        ) from None


def model_url(name: str) -> str:
    """Where ``name`` is downloaded from: the catalogue URL, or under $SAM2STUDIO_MODEL_BASE_URL."""
    info = get_model(name)
    base = os.environ.get(BASE_URL_ENV, "").strip()
    if base:
        return f"{base.rstrip('/')}/{info.filename}"
    return info.url


# --------------------------------------------------------------------------- cache


def cache_dir() -> Path:
    """Folder that holds downloaded checkpoints (not created here)."""
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sam2studio")) / "checkpoints"


def _final_path(info: ModelInfo) -> Path:
    return cache_dir() / info.filename


def _part_path(info: ModelInfo) -> Path:
    return cache_dir() / (info.filename + ".part")


def installed_path(name: str) -> Path | None:
    """Path of the cached checkpoint for ``name``, or None when it is not downloaded."""
    path = _final_path(get_model(name))
    return path if path.is_file() else None


def is_installed(name: str) -> bool:
    return installed_path(name) is not None


def list_models() -> list[tuple[ModelInfo, bool, Path | None]]:
    """Every catalogue entry with whether it is installed and where."""
    rows = []
    for info in MODELS.values():
        path = installed_path(info.name)
        rows.append((info, path is not None, path))
    return rows


def format_model_table() -> str:
    """Plain-text table for ``sam2studio models list``."""
    header = ("NAME", "SIZE", "INSTALLED", "DESCRIPTION")
    rows = []
    for info, installed, _path in list_models():
        name = info.name + (" (default)" if info.name == DEFAULT_MODEL else "")
        rows.append((name, f"{info.size_mb} MB", "yes" if installed else "no", info.description))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    lines = []
    for r in (header, *rows):
        lines.append(
            f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
        )
    lines.append(f"cache: {cache_dir()}")
    return "\n".join(lines)


def resolve_checkpoint(model_name: str, checkpoint: str | os.PathLike | None = None) -> Path | None:
    """The checkpoint to load for ``model_name``.

    A given ``checkpoint`` file wins (CheckpointError when it does not exist); otherwise the
    installed one from the cache, or None when the model has not been downloaded.
    """
    info = get_model(model_name)
    if checkpoint is not None and str(checkpoint) != "":
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise CheckpointError(f"checkpoint file {path} does not exist")
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} is not a file")
        return path
    return installed_path(info.name)


# --------------------------------------------------------------------------- checks

_ref_lock = threading.Lock()
_ref_tables: dict[str, dict[str, tuple[int, ...]]] = {}


def _ensure_hydra() -> None:
    import sam2  # noqa: F401  (initialises hydra's config module on import)
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    if not GlobalHydra.instance().is_initialized():
        initialize_config_module("sam2", version_base="1.2")


def _reference_table(config: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict of the model built from ``config`` (cached per process)."""
    with _ref_lock:
        table = _ref_tables.get(config)
        if table is not None:
            return table
        _ensure_hydra()
        from hydra.errors import HydraException
        from sam2.build_sam import build_sam2_video_predictor

        try:
            model = build_sam2_video_predictor(config, ckpt_path=None, device="cpu")
        except HydraException as exc:
            raise UserError(f"unknown sam2 config {config!r}: {exc}") from None
        table = state_shapes(model.state_dict())
        del model
        _ref_tables[config] = table
        return table


def _config_label(config: str) -> str:
    for info in MODELS.values():
        if info.config == config:
            return info.name
    return config


def _examples(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (", ..." if len(items) > n else "")


def check_checkpoint(
    path: str | os.PathLike, config: str, *, display_name: str | None = None
) -> None:
    """Raise CheckpointError unless ``path`` is a SAM 2 checkpoint that fits ``config``.

    ``config`` is a sam2 config name (``"configs/sam2.1/sam2.1_hiera_t.yaml"``) or a catalogue
    model name. ``display_name`` is how the file is named in messages (default: its path).
    """
    if config in MODELS:
        config = MODELS[config].config
    path = Path(path)
    label = display_name or str(path)
    got = state_shapes(read_checkpoint(path, display_name=label))
    check_fit(got, _reference_table(config), label, config)


def read_checkpoint(path: str | os.PathLike, *, display_name: str | None = None) -> dict:
    """The ``model`` state dict of the SAM 2 checkpoint at ``path``; CheckpointError, saying what
    is wrong, for a missing, unreadable, corrupt or truncated file, or one that holds no SAM 2 state
    dict. Cheap next to building the model, so a bad file is refused before that."""
    import torch

    path = Path(path)
    label = display_name or str(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {label} does not exist")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CheckpointError(f"cannot read {label}: {_reason(exc)}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many kinds of errors on bytes that are not a checkpoint
        raise CheckpointError(f"{label} is not a valid checkpoint (corrupt or truncated)") from None
    state = obj.get("model") if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(
            f"{label} is not a SAM 2 checkpoint (it has no 'model' state dict of tensors)"
        )
    return dict(state)


def state_shapes(state: Mapping) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a state dict of tensors."""
    return {k: tuple(v.shape) for k, v in state.items()}


def check_fit(got: Mapping[str, tuple[int, ...]], ref: Mapping[str, tuple[int, ...]], label: str,
              config: str) -> None:
    """Raise CheckpointError, naming ``label``, unless a state dict with shapes ``got`` loads
    into ``config``'s model (shapes ``ref``): what keeps it from loading (missing keys,
    unexpected keys, tensors of the wrong shape)."""
    missing = [k for k in ref if k not in got]
    unexpected = [k for k in got if k not in ref]
    mismatched = [
        f"{k} {list(got[k])} vs {list(ref[k])}" for k in ref if k in got and got[k] != ref[k]
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {_examples(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {_examples(unexpected)})")
    if mismatched:
        problems.append(
            f"{len(mismatched)} tensors of the wrong shape (e.g. {_examples(mismatched, 2)})"
        )
    if problems:
        raise CheckpointError(f"{label} does not fit {_config_label(config)}: {'; '.join(problems)}")


def _sha256(path: Path, cancel: threading.Event | None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 << 20):
            if cancel is not None and cancel.is_set():
                raise Cancelled("download cancelled while verifying")
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- download


def stall_rule() -> tuple[int, float]:
    """``(min_bytes, window_s)``: $SAM2STUDIO_DOWNLOAD_STALL (``BYTES/SECONDS``) or the defaults."""
    text = os.environ.get(STALL_ENV, "").strip()
    if text:
        b, sep, w = text.partition("/")
        try:
            min_bytes, window = int(b), float(w)
            if sep and min_bytes > 0 and window > 0:
                return min_bytes, window
        except ValueError:
            pass
        raise UserError(f"{STALL_ENV}={text!r} must be BYTES/SECONDS, e.g. 10000/30")
    return STALL_MIN_BYTES, STALL_WINDOW_S


class _StallWatch:
    """The stall rule: fewer than ``min_bytes`` over any ``window`` seconds is an error."""

    def __init__(self, min_bytes: int, window: float, done: int) -> None:
        self.min_bytes, self.window = min_bytes, window
        self.samples = [(time.monotonic(), done)]  # (time, bytes so far), oldest first

    def stalled(self, done: int) -> bool:
        now = time.monotonic()
        self.samples.append((now, done))
        # the newest sample at least one window old: what arrived since it is the window's worth
        base = None
        while len(self.samples) > 1 and now - self.samples[1][0] >= self.window:
            self.samples.pop(0)
        if now - self.samples[0][0] >= self.window:
            base = self.samples[0][1]
        return base is not None and done - base < self.min_bytes


_CHUNK = 1 << 20
_download_locks: dict[str, threading.Lock] = {}
_download_locks_guard = threading.Lock()
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)", re.IGNORECASE)


class _Restart(Exception):
    """The server's answer does not continue the .part: start again from byte 0."""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".strip()
    if isinstance(exc, urllib.error.URLError):
        return _reason(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response ({type(exc).__name__})"
    text = str(exc).strip()
    return text or type(exc).__name__


def _kb(n: int) -> str:
    return f"{n / 1000:g} KB" if n >= 1000 else f"{n} bytes"


def _limit_wait(response, seconds: float) -> None:
    """Make one socket read of ``response`` wait at most ``seconds``."""
    try:
        response.fp.raw._sock.settimeout(seconds)
    except AttributeError:  # not a plain socket underneath: the connect timeout stays
        pass


def _network_error(name: str, url: str, reason: str) -> UserError:
    reason = " ".join(reason.split()).rstrip(".")
    return UserError(
        f"could not download {name} from {url}: {reason}; "
        "check your connection or pass --checkpoint FILE"
    )


class _Progress:
    """Throttles the callback: at most every 0.1 s or 1 % of the total, plus start and end."""

    def __init__(self, callback: ProgressCallback | None):
        self.callback = callback
        self.last_time = 0.0
        self.last_done = -1

    def __call__(self, done: int, total: int | None, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.monotonic()
        step = max(total // 100, _CHUNK) if total else 4 * _CHUNK
        if done == self.last_done:
            return  # nothing new to show
        if force or now - self.last_time >= 0.1 or done - self.last_done >= step:
            self.last_time, self.last_done = now, done
            self.callback(done, total)


def download(
    name: str,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    url: str | None = None,
    timeout: float = 30,
    force: bool = False,
) -> Path:
    """Download ``name`` into the cache, verify it and return its path.

    Resumes a ``.part`` left by an earlier interrupted or cancelled call. ``progress`` gets
    ``(done_bytes, total_bytes)``; ``cancel`` (a threading.Event) is checked between chunks and
    raises :class:`Cancelled`, keeping the ``.part``. ``url`` overrides the catalogue URL (and
    $SAM2STUDIO_MODEL_BASE_URL). An already installed model is returned at once unless
    ``force``.

    Raises UserError for network trouble (the ``.part`` is kept for a later resume) and
    CheckpointError when the downloaded file fails verification (it is deleted).
    """
    info = get_model(name)
    if not force:
        existing = installed_path(name)
        if existing is not None:
            return existing
    src = url or model_url(name)

    with _download_locks_guard:
        lock = _download_locks.setdefault(info.name, threading.Lock())
    if not lock.acquire(blocking=False):
        raise UserError(f"{info.name} is already being downloaded")
    try:
        return _download_locked(info, src, progress, cancel, timeout)
    finally:
        lock.release()


def _download_locked(
    info: ModelInfo,
    src: str,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
    timeout: float,
) -> Path:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"could not create the model cache folder {folder}: {_reason(exc)}") from None
    final = _final_path(info)
    part = _part_path(info)
    report = _Progress(progress)

    total = None
    for _attempt in range(2):
        try:
            total = _fetch(info, src, part, report, cancel, timeout)
            break
        except _Restart:
            part.unlink(missing_ok=True)
    else:  # pragma: no cover - a second _Restart means the server keeps contradicting itself
        raise _network_error(info.name, src, "the server sent an inconsistent byte range")

    # ---- verification: any failure deletes the file
    try:
        size = part.stat().st_size
        if total is not None and size != total:
            raise CheckpointError(
                f"{info.filename} downloaded from {src} has the wrong size: "
                f"{size} bytes instead of {total}"
            )
        if info.sha256:
            digest = _sha256(part, cancel)
            if digest.lower() != info.sha256.lower():
                raise CheckpointError(
                    f"{info.filename} downloaded from {src} is damaged: sha256 {digest} "
                    f"does not match the published {info.sha256}"
                )
        check_checkpoint(part, info.config, display_name=f"{info.filename} (downloaded from {src})")
    except Cancelled:
        raise
    except Exception:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    return final


def _fetch(
    info: ModelInfo,
    src: str,
    part: Path,
    report: _Progress,
    cancel: threading.Event | None,
    timeout: float,
) -> int | None:
    """Stream ``src`` into ``part`` (resuming it); return the total size when known."""
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"sam2studio/{__version__}", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"download of {info.name} cancelled")
    try:
        request = urllib.request.Request(src, headers=headers)
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 416 and offset:
                # Nothing left to send: the .part may already hold the whole file.
                m = _UNSATISFIED_RANGE.search(exc.headers.get("Content-Range", "") or "")
                if m and int(m.group(1)) == offset:
                    report(offset, offset, force=True)
                    return offset
                raise _Restart() from None
            raise _network_error(info.name, src, _reason(exc)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise _network_error(info.name, src, _reason(exc)) from None

    with response:
        status = response.status
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        if status == 206 and offset:
            m = _CONTENT_RANGE.search(response.headers.get("Content-Range", "") or "")
            if not m or int(m.group(1)) != offset:
                raise _Restart()
            total = int(m.group(3)) if m.group(3) != "*" else (
                offset + length if length is not None else None
            )
            mode = "ab"
        elif 200 <= status < 300 and status != 206:
            # A fresh download, or a server that ignored the Range header: start from 0.
            offset = 0
            total = length
            mode = "wb"
        else:
            raise _network_error(info.name, src, f"unexpected HTTP status {status}")

        done = offset
        broke: str | None = None
        stalled = False
        min_bytes, window = stall_rule()
        watch = _StallWatch(min_bytes, window, done)
        _limit_wait(response, min(timeout, window))
        report(done, total, force=True)
        try:
            out = open(part, mode)
        except OSError as exc:
            raise UserError(f"could not write {part}: {_reason(exc)}") from None
        with out:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(
                        f"download of {info.name} cancelled after {done} bytes; "
                        "it resumes from there next time"
                    )
                try:
                    # what has arrived (one socket read), so a trickle is seen and judged
                    chunk = response.read1(_CHUNK)
                except TimeoutError:
                    stalled = True
                    break
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    broke = _reason(exc)
                    break
                if not chunk:
                    break
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise UserError(f"could not write {part}: {_reason(exc)}") from None
                done += len(chunk)
                report(done, total)
                if total is not None and done > total:
                    break
                if watch.stalled(done):
                    stalled = True
                    break
    if stalled:
        of_total = f" of {total}" if total is not None else ""
        raise _network_error(
            info.name, src,
            f"the download stalled (less than {_kb(min_bytes)} in {window:g} s) after {done}{of_total} "
            "bytes; run it again to resume",
        )
    if broke is not None or (total is not None and done < total):
        of_total = f" of {total}" if total is not None else ""
        why = f", {broke}" if broke else ""
        raise _network_error(
            info.name, src,
            f"the connection closed after {done}{of_total} bytes{why} (run it again to resume)",
        )
    report(done, total, force=True)
    return total
