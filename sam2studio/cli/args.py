"""What the commands share: the one-line error parser, engine options, ``-o KEY=VALUE``
values and the progress bar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError

#: how ``sam2studio`` is called: the app, or one of the commands
USAGE_APP = "sam2studio [VIDEO|FOLDER|PROJECT.s2s]"


class CliError(UserError):
    """Bad command-line arguments."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str):
        raise CliError(message)


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine``, ``--model``, ``--checkpoint``, ``--weights``, ``--seed``, ``--image-size``,
    ``--device`` and ``--memory-budget``, shared by segment, live and batch."""
    from ..engines import ENGINE_NAMES

    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINE_NAMES, default="auto",
                   help="sam2 if a checkpoint is available, else the built-in classic engine (default)")
    g.add_argument("--model", default=None, help="SAM 2 model (default sam2.1-tiny); see 'sam2studio models list'")
    g.add_argument("--checkpoint", type=Path, help="a local SAM 2 checkpoint instead of the cache")
    g.add_argument("--weights", choices=("random",), default=None,
                   help="random-init SAM 2 for pipeline testing (its masks are meaningless)")
    g.add_argument("--seed", type=int, default=0, help="seed for --weights random (default 0)")
    g.add_argument("--image-size", type=int, default=None, help="model input size (default: the model's own, 1024)")
    g.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where the model runs (default auto: a GPU when there is one)")
    g.add_argument("--memory-budget", type=float, default=None, metavar="MB",
                   help="RAM for SAM 2's per-video state (default 2048); older frames spill to disk")


def engine_options(args) -> dict:
    """The engine options of ``args`` as keyword arguments for ``Session.open``."""
    if args.engine == "classic":
        for flag, value in (("--checkpoint", args.checkpoint), ("--weights", args.weights)):
            if value is not None:
                raise CliError(f"{flag} is for the sam2 engine, not classic")
    opts = {"model": args.model, "checkpoint": args.checkpoint, "seed": args.seed,
            "image_size": args.image_size, "device": args.device}
    if args.weights:
        opts["weights"] = args.weights
    if getattr(args, "memory_budget", None) is not None:
        if args.engine == "classic":
            raise CliError("--memory-budget is for the sam2 engine")
        opts["memory_budget_mb"] = args.memory_budget
    return opts


def parse_options(items: list[str], flag: str = "-o") -> dict:
    """``KEY=VALUE`` items as a dict (``-`` in keys becomes ``_``; values via
    :func:`~sam2studio.export.formats.coerce_option`)."""
    from ..export.formats import coerce_option

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{flag} {item!r} must be KEY=VALUE")
        out[key.strip().replace("-", "_")] = coerce_option(value.strip())
    return out


class Progress:
    """A tqdm bar on stderr, shown only on a terminal and without --quiet."""

    def __init__(self, desc: str, total: int | None, quiet: bool, unit: str = "frame") -> None:
        from tqdm import tqdm

        enabled = not quiet and sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr,
                        dynamic_ncols=True, leave=False)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
