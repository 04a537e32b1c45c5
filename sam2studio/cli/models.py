"""``sam2studio models list | download NAME``: the SAM 2 checkpoint catalogue and cache."""

from __future__ import annotations

from .args import Parser, Progress


def add_parser(sub) -> None:
    models = sub.add_parser("models", help="list or download SAM 2 checkpoints",
                            description="The SAM 2 model catalogue and the local checkpoint cache.")
    msub = models.add_subparsers(dest="models_command", parser_class=Parser, required=True)
    msub.add_parser("list", help="the model catalogue and what is installed",
                    description="The model catalogue and what is installed.")
    dl = msub.add_parser("download", help="download a checkpoint into the cache",
                         description="Download a checkpoint into the cache (checked against its sha256).")
    dl.add_argument("name", help="model name, e.g. sam2.1-tiny")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..engines import models

    if args.models_command == "list":
        print(models.format_model_table())
        return 0
    info = models.get_model(args.name)
    bar = Progress(f"download {info.name}", info.size_bytes, args.quiet, unit="B")
    bar.bar.unit_scale = True
    try:
        path = models.download(info.name, progress=bar)
    finally:
        bar.close()
    print(path)
    return 0
