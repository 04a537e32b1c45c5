"""Batch throughput: videos per hour with 1 and 2 local workers (and optionally on Ray).

Run ``python benchmarks/batch_throughput.py`` from the repository root (it needs the shared
test material in ``../shared/data``), or import it and call :func:`run`.

The set: ``--clips`` short clips (default 8) of ``--frames`` frames (default 30) cut at half
size from the four shared videos (640x360 and 480x270), each with one click on its main
subject, classic engine, exports ``masks/`` + ``project.s2s`` + ``--exports`` (default coco).
Each configuration runs the real command (``python -m sam2studio batch ... --quiet``) into a
fresh output folder, so the figures include starting the worker processes (or Ray) and
writing every output; the fastest of ``--repeats`` runs is kept.

Reported: seconds and videos/hour per configuration, the 2-worker/1-worker ratio, and with
``--ray`` the time on a new local Ray instance and its overhead against the local run with
the same parallelism (Ray gets as many CPUs as the machine has).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sam2studio.export.encode import transcode_clip  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "videos"
# (video, click at half size) — the main subject on frame 0
SOURCES = [("01_dog.mp4", (300, 215)), ("02_cups.mp4", (330, 210)), ("05_default_juggle.mp4", (325, 160)),
           ("bedroom.mp4", (240, 150))]


def make_set(folder: Path, clips: int, frames: int, exports: list[str]) -> Path:
    """Cut the clips and write ``manifest.jsonl``; returns the manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, _ in SOURCES:
        if not (DATA / name).is_file():
            raise SystemExit(f"test material {DATA / name} is absent (see ../shared/data/README.md)")
        transcode_clip(DATA / name, folder / name, frames)
    for i in range(clips):
        name, (x, y) = SOURCES[i % len(SOURCES)]
        lines.append({"id": f"clip{i:02d}", "video": name, "clicks": [f"1:0:{x}:{y}"], "engine": "classic",
                      "exports": exports})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(d) + "\n" for d in lines), encoding="utf-8")
    return manifest


def time_batch(manifest: Path, out: Path, extra: list[str], repeats: int) -> float:
    best = None
    for _ in range(max(1, repeats)):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "sam2studio", "batch", str(manifest), "--out", str(out),
                               "--quiet", *extra], capture_output=True, text=True, cwd=REPO)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"batch {' '.join(extra)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        best = elapsed if best is None else min(best, elapsed)
    return best


def run(clips: int = 8, frames: int = 30, exports: tuple[str, ...] = ("coco",), repeats: int = 1,
        ray: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        tmp = Path(tmp)
        manifest = make_set(tmp / "set", clips, frames, list(exports))
        res = {"clips": clips, "frames": frames, "exports": list(exports), "cpus": os.cpu_count(),
               "engine": "classic"}
        for w in (1, 2):
            s = time_batch(manifest, tmp / f"out{w}", ["--workers", str(w)], repeats)
            res[f"seconds_{w}"] = s
            res[f"videos_per_hour_{w}"] = clips * 3600.0 / s
        res["ratio_2_vs_1"] = res["videos_per_hour_2"] / res["videos_per_hour_1"]
        if ray:
            s = time_batch(manifest, tmp / "out_ray", ["--ray"], repeats)
            res["seconds_ray"] = s
            res["videos_per_hour_ray"] = clips * 3600.0 / s
            n = min(os.cpu_count() or 1, clips)
            local = res.get(f"seconds_{n}") or time_batch(manifest, tmp / f"out{n}", ["--workers", str(n)], repeats)
            res["ray_overhead_seconds"] = s - local
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--exports", default="coco", help="exports per video, comma-separated ('' for none)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--ray", action="store_true", help="also time --ray on a new local Ray instance")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)
    r = run(a.clips, a.frames, tuple(e for e in a.exports.split(",") if e), a.repeats, a.ray)
    if a.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"batch of {r['clips']} clips x {r['frames']} frames (classic engine, exports: masks, project"
          f"{', ' + ', '.join(r['exports']) if r['exports'] else ''}), {r['cpus']} CPUs")
    for w in (1, 2):
        label = f"{w} worker{'s' if w > 1 else ' '}"
        print(f"  {label}: {r[f'seconds_{w}']:6.1f} s = {r[f'videos_per_hour_{w}']:7.0f} videos/hour")
    print(f"  2 workers / 1 worker: x{r['ratio_2_vs_1']:.2f}")
    if "seconds_ray" in r:
        print(f"  ray (local): {r['seconds_ray']:6.1f} s = {r['videos_per_hour_ray']:7.0f} videos/hour "
              f"(overhead {r['ray_overhead_seconds']:+.1f} s against local workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
