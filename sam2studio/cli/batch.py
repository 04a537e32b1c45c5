"""``sam2studio batch``: segment every video of a manifest, with a progress display on stderr
and the summary table on stdout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .args import CliError, add_engine_options


class Display:
    """An overall tqdm bar (videos) on stderr with the running videos' status; only on a
    terminal and without --quiet. The :class:`~sam2studio.batch.BatchEvents` of a run."""

    def __init__(self, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar = None
        self.running: dict[str, str] = {}

    def begin(self, total: int) -> None:
        if self.enabled and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="video", file=sys.stderr, dynamic_ncols=True,
                            leave=False)

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(" | ".join(f"{k} {s}" for k, s in list(self.running.items())[:4])
                                     + (" ..." if len(self.running) > 4 else ""), refresh=True)

    def start(self, job) -> None:
        self.running[job.key] = "queued"
        self._refresh()

    def progress(self, key: str, stage: str, done: int, total: int) -> None:
        self.running[key] = f"{stage} {done}/{total}" if total else stage
        self._refresh()

    def finish(self, result) -> None:
        from ..batch.runner import fmt_time

        self.running.pop(result.key, None)
        if self.bar is not None:
            tail = f": {result.reason}" if result.reason else ""
            self.bar.write(f"{result.status} {result.key} ({fmt_time(result.seconds)}){tail}", file=sys.stderr)
            self.bar.update(1)
            self._refresh()

    def end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "batch", help="segment many videos listed in a manifest (local workers or a Ray cluster)",
        description="Segment every video of a manifest (.jsonl or .csv: video, prompts, engine options, "
                    "exports) into DIR/<id>/. Finished videos are skipped on a re-run, failed ones retried. "
                    "See docs/batch.md for the manifest format.")
    p.add_argument("manifest", type=Path, help="a .jsonl or .csv manifest; relative paths in it resolve "
                   "against its folder")
    p.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per video); "
                   "with --ray on a cluster, a shared path every node can write")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: one per GPU for SAM 2 on GPUs, half the CPU cores for "
                        "SAM 2 on the CPU, one per core for the classic engine)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the videos as Ray tasks: on the cluster at ADDRESS (e.g. ray://head:10001 "
                        "or auto), or a new local Ray instance when no address is given; needs "
                        "pip install 'sam2studio[ray]'")
    p.add_argument("--cpus-per-task", type=float, default=None, metavar="N",
                   help="CPUs per video: Ray's num_cpus (default 1); locally the threads per worker "
                        "(default: cores / workers)")
    p.add_argument("--gpus-per-task", type=float, default=None, metavar="N",
                   help="Ray's num_gpus per video (default: 1 where the model runs on a GPU, else 0)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a video that takes longer than this and count it as failed (default: no limit)")
    p.add_argument("--force", action="store_true", help="run finished videos again too")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_engine_options(p)



def run(args) -> int:
    """``sam2studio batch``: 0 when every video is done or skipped, 1 when any failed (or
    the run was interrupted), 2 (a UserError) for a bad manifest or arguments."""
    from ..batch import format_summary, load_manifest, run_batch

    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.engine == "classic" and (args.checkpoint is not None or args.weights is not None):
        raise CliError(f"{'--checkpoint' if args.checkpoint is not None else '--weights'} is for the sam2 engine, "
                       "not classic")
    if args.ray is not None and args.workers is not None:
        raise CliError("--workers is for local runs; with --ray the cluster schedules the videos "
                       "(use --cpus-per-task / --gpus-per-task)")
    for flag in ("cpus_per_task", "gpus_per_task", "timeout"):
        v = getattr(args, flag)
        if v is not None and (v < 0 or (flag != "gpus_per_task" and v == 0)):
            raise CliError(f"--{flag.replace('_', '-')} must be positive, got {v:g}")
    if args.ray is not None:
        from ..batch.ray import import_ray

        import_ray()
    defaults = {"engine": args.engine, "model": args.model,
                "checkpoint": None if args.checkpoint is None else str(args.checkpoint.resolve()),
                "weights": args.weights, "seed": args.seed, "image_size": args.image_size, "device": args.device,
                "memory_budget": getattr(args, "memory_budget", None)}
    jobs = load_manifest(args.manifest, defaults)
    from ..core.outputs import check_output

    check_output(args.out, label="--out", directory=True)  # before any video is opened
    t0 = time.monotonic()
    out = args.out.resolve()
    display = Display(args.quiet)
    try:
        results = run_batch(jobs, out, workers=args.workers, ray=args.ray is not None, ray_address=args.ray or None,
                            force=args.force, events=display, cpus_per_task=args.cpus_per_task,
                            gpus_per_task=args.gpus_per_task, timeout=args.timeout,
                            manifest=str(args.manifest.resolve()))
    except KeyboardInterrupt as exc:
        results = exc.args[0] if exc.args and isinstance(exc.args[0], list) else None
        if results:
            print(format_summary(results, time.monotonic() - t0, out), flush=True)
        print("sam2studio: batch interrupted; run the same command again to resume", file=sys.stderr)
        return 1
    print(format_summary(results, time.monotonic() - t0, out), flush=True)
    return 1 if any(r.status == "failed" for r in results) else 0
