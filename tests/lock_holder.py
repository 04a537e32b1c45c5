"""A second process that holds a project open for writing, for the project-lock tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Holder:
    """Another process that opens ``path`` for writing and waits until told to stop."""

    def __init__(self, path: Path) -> None:
        code = textwrap.dedent(f"""
            import sys, time
            from sam2studio.core.project import Project
            p = Project.load({str(path)!r}, lock=True)
            print("locked", flush=True)
            sys.stdin.readline()
            p.close()
        """)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        assert self.proc.stdout.readline().strip() == "locked"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            self.proc.wait(10)
