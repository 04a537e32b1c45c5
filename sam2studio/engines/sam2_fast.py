"""Fast CPU mode for the SAM 2 engine: trade bit-exactness for speed, measured per CPU.

The exact mode runs the predictor in float32 on the CPU, which gives masks bit-identical to
sam2's own ``propagate_in_video``. The fast mode runs the same model through a faster numeric
*route*; which route is fastest depends on the CPU (bfloat16 matrix units such as Intel AMX or
AVX512-BF16 make bfloat16 several times faster than float32; elsewhere it may be slower). So
the route is chosen by timing the model's image encoder (about three quarters of a tracked
frame's work) on this CPU at first use, and the choice is cached per CPU model, torch version
and image size in the user cache folder (``fast_routes.json``).

Routes:

* ``bf16`` -- ``torch.autocast("cpu", dtype=torch.bfloat16)`` around every model call
  (prompts and propagation), the way sam2 itself runs on CUDA.
* ``fp32`` -- the exact route; chosen when nothing measured faster (then fast == exact).

On CUDA the engine already runs under bfloat16 autocast (as sam2 does), so fast mode changes
nothing there. ``SAM2STUDIO_FAST_ROUTE=bf16|fp32`` forces a route (no measurement);
``SAM2STUDIO_FAST_CACHE`` names another cache file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROUTES = {
    "fp32": "float32 (exact)",
    "bf16": "bfloat16 autocast",
}
FORCE_ENV = "SAM2STUDIO_FAST_ROUTE"
CACHE_ENV = "SAM2STUDIO_FAST_CACHE"
#: a route must beat float32 by this factor to be chosen (timing noise must not pick it)
MIN_GAIN = 1.05

_lock = threading.Lock()


@dataclass(frozen=True)
class FastRoute:
    """The numeric route fast mode runs, and why it was chosen."""

    name: str
    #: encoder passes: seconds per pass for each route timed (empty when not measured)
    timings: dict
    #: "measured" (now), "cached" (an earlier measurement on this CPU), "forced" (environment)
    #: or "device" (not a CPU: the device's own route)
    source: str
    cpu: str = ""

    @property
    def speedup(self) -> float | None:
        base, mine = self.timings.get("fp32"), self.timings.get(self.name)
        if not base or not mine:
            return None
        return base / mine

    def describe(self) -> str:
        """One line for the status bar and the CLI, e.g. ``fast mode: bfloat16 autocast
        (encoder 2.4x float32 on AMD EPYC, cached)``."""
        what = ROUTES.get(self.name, self.name)
        if self.source == "device":
            return f"fast mode: {what} (the GPU's route; same as exact mode)"
        if self.source == "forced":
            return f"fast mode: {what} (set by {FORCE_ENV})"
        gain = self.speedup
        where = f" on {self.cpu}" if self.cpu else ""
        if self.name == "fp32":
            return f"fast mode: {what}: no faster route on this CPU{where} ({self.source})"
        return f"fast mode: {what} (image encoder {gain:.1f}x float32{where}, {self.source})"

    def autocast(self):
        """The context every model call of the engine runs in."""
        import torch

        if self.name == "bf16":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else the platform's own word)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


#: CPU features that decide which route is fastest (a virtual machine may name every
#: generation of a vendor's CPUs alike, e.g. "AMD EPYC")
ROUTE_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16", "avx512_fp16", "avx512f", "avx2")


def cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [f for f in ROUTE_FLAGS if f in have]
    except OSError:
        pass
    return []


def cache_file() -> Path:
    override = os.environ.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sam2studio")) / "fast_routes.json"


def cache_key(image_size: int) -> str:
    import torch

    flags = ",".join(cpu_flags()) or "-"
    return (f"{cpu_model()} | {flags} | {os.cpu_count()} cpus | torch {torch.__version__} "
            f"| image {int(image_size)}")


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, data: dict) -> None:
    """Atomic write; a cache that cannot be written only costs a measurement next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not cache the fast route in %s: %s", path, exc)


def time_routes(predictor, routes=("fp32", "bf16"), repeats: int = 2) -> dict:
    """Seconds per image-encoder pass of ``predictor`` for each route: one warm-up pass each,
    then the best of ``repeats`` passes, routes alternating so a load change hits all alike."""
    import torch

    s = int(predictor.image_size)
    x = torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(0)).to(predictor.device)
    by_name = {r: FastRoute(r, {}, "measured") for r in routes}

    def one(route: str) -> float:
        t0 = time.perf_counter()
        with torch.inference_mode(), by_name[route].autocast():
            predictor.forward_image(x)
        return time.perf_counter() - t0

    for r in routes:  # warm-up: first calls pay for allocation and kernel selection
        one(r)
    best = {r: float("inf") for r in routes}
    for _ in range(max(1, repeats)):
        for r in routes:
            best[r] = min(best[r], one(r))
    return best


def choose_route(predictor, *, refresh: bool = False) -> FastRoute:
    """The fastest route for ``predictor`` on this machine (measured once, then cached)."""
    device = str(predictor.device)
    if not device.startswith("cpu"):
        return FastRoute("bf16" if device.startswith("cuda") else "fp32", {}, "device")
    forced = os.environ.get(FORCE_ENV, "").strip().lower()
    if forced:
        if forced not in ROUTES:
            from ..errors import UserError

            raise UserError(f"{FORCE_ENV}={forced!r} is not a route: use {', '.join(ROUTES)}")
        return FastRoute(forced, {}, "forced", cpu_model())
    key = cache_key(predictor.image_size)
    path = cache_file()
    with _lock:
        entry = None if refresh else _read_cache(path).get(key)
        if isinstance(entry, dict) and entry.get("name") in ROUTES and isinstance(entry.get("timings"), dict):
            return FastRoute(entry["name"], dict(entry["timings"]), "cached", cpu_model())
        log.info("fast mode: timing the image encoder's routes on %s (once per CPU)", cpu_model())
        timings = time_routes(predictor)
        name = "fp32"
        best = min((r for r in timings if r != "fp32"), key=timings.get, default=None)
        if best is not None and timings["fp32"] / timings[best] >= MIN_GAIN:
            name = best
        route = FastRoute(name, timings, "measured", cpu_model())
        data = _read_cache(path)
        data[key] = {k: v for k, v in asdict(route).items() if k in ("name", "timings")} | {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_cache(path, data)
        log.info("%s", route.describe())
        return route
