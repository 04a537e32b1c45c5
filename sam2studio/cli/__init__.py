"""Command-line interface: headless segmentation, exports, the model cache, live tracking and
batch runs, each command in its own module over :class:`~sam2studio.session.Session`.

Exit codes: 0 success, 2 bad arguments or input (one clear line on stderr), 1 anything else.
Progress bars go to stderr, and only when stderr is a terminal and ``--quiet`` is not given.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from .._version import __version__
from ..errors import Cancelled, UserError
from . import batch, check, export, import_, live, models, segment
from .args import USAGE_APP, CliError, Parser

log = logging.getLogger("sam2studio")

#: command name -> module with ``add_parser(subparsers)`` and ``run(args)``
COMMANDS = {"segment": segment, "export": export, "import": import_, "check": check, "models": models,
            "live": live, "batch": batch}
SUBCOMMANDS = tuple(COMMANDS)

USAGE = (f"{USAGE_APP}\n"
         f"       sam2studio {{{','.join(SUBCOMMANDS)}}} ... (sam2studio COMMAND --help)\n"
         "       sam2studio -V | --version")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sam2studio", usage=USAGE,
                    description="SAM2 Studio: interactive video object segmentation on top of SAM 2. "
                                "Without a command it opens the desktop app, on the video, image folder "
                                "or project given.")
    parser.add_argument("-V", "--version", action="version", version=f"sam2studio {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, title="commands", metavar="COMMAND",
                                prog="sam2studio")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", stream=sys.stderr)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"sam2(\.|$)")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return COMMANDS[args.command].run(args)
    except UserError as exc:
        print(f"sam2studio: error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("sam2studio: cancelled", file=sys.stderr)
        return 1
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    except Exception as exc:  # a bug: one line, the traceback only with SAM2STUDIO_DEBUG=1
        if os.environ.get("SAM2STUDIO_DEBUG"):
            raise
        print(f"sam2studio: internal error: {type(exc).__name__}: {exc} "
              "(set SAM2STUDIO_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


__all__ = ["main", "build_parser", "CliError", "SUBCOMMANDS", "COMMANDS", "USAGE", "USAGE_APP"]
