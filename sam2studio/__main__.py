"""``sam2studio``: the desktop app, or a command (segment, export, models, live, batch) when one is given."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from .cli import SUBCOMMANDS, USAGE_APP

    if argv and (argv[0] in SUBCOMMANDS or argv[0].startswith("-")):
        from .cli import main as cli_main

        return cli_main(argv)
    if len(argv) > 1:
        print(f"usage: {USAGE_APP}  or  sam2studio {{{','.join(SUBCOMMANDS)}}} ...", file=sys.stderr)
        return 2
    from .gui.app import run

    return run(argv[0] if argv else None)


if __name__ == "__main__":
    sys.exit(main())
