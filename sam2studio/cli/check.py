"""``sam2studio check``: verify a project file, its SQLite database and every stored mask."""

from __future__ import annotations

from pathlib import Path

from ..errors import ProjectError


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="verify a project file: database integrity and every mask",
                       usage="sam2studio check PROJECT.s2s",
                       description="Verify a project file: SQLite's PRAGMA integrity_check, then every stored "
                                   "mask and prompt (its checksum, and that its runs cover the frame). Prints a "
                                   "summary; exits 2 when anything is damaged, naming the frames and objects.")
    p.add_argument("project", type=Path, help="a project file (.s2s)")


def run(args) -> int:
    from ..core.project import check_project

    report = check_project(args.project)
    if report.error is not None:
        raise ProjectError(f"{args.project.name}: {report.error}")
    for line in report.summary():
        print(line, flush=True)
    if not report.ok:
        masks = sum(1 for d in report.damaged if d.what == "mask")
        what = [f"{masks} damaged mask{'s' if masks != 1 else ''}"] if masks else []
        if len(report.damaged) > masks:
            what.append(f"{len(report.damaged) - masks} damaged prompt(s)")
        if report.integrity != ["ok"]:
            what.append("database errors")
        raise ProjectError(f"{args.project.name} is damaged: {', '.join(what)} (listed above)")
    return 0
