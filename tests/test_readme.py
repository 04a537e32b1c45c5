"""Every command block of the README runs as written, from the repository root of a clone, on
the data the repository ships; blocks that need a download, a window, a camera or a cluster
carry a ``<!-- readme-test: skip (reason) -->`` line just above them. The CI script runs the
README's own test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE = re.compile(r"(?:^<!-- readme-test: skip \((?P<why>[^)]+)\) -->\n)?^```(?P<lang>\w+)\n(?P<body>.*?)^```$",
                   re.M | re.S)


def blocks() -> list[tuple[str, str, str | None]]:
    return [(m["lang"], m["body"], m["why"]) for m in FENCE.finditer(README)]


def test_the_readme_has_the_two_setup_commands_and_says_why_blocks_are_skipped():
    found = blocks()
    assert sum(1 for _, _, why in found if why is None) >= 5  # most blocks do run
    setup = [body for lang, body, _ in found if "scripts/setup.sh" in body]
    assert len(setup) == 2 and all(len([ln for ln in b.splitlines() if not ln.startswith("#")]) == 1 for b in setup)
    assert "pip install 'sam2studio" not in README  # not on an index: install from the clone
    for _lang, _body, why in found:
        if why is not None:
            assert any(w in why for w in ("download", "window", "camera", "cluster")), why


def test_ci_runs_the_readmes_test_command():
    line = next(b for _, b, _ in blocks() if "setup.sh --dev" in b).strip().splitlines()[-1]
    assert "pytest" in line and "-n auto" in line
    assert line in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_readme_command_runs_as_written(tmp_path):
    work = tmp_path / "clone"
    work.mkdir()
    for part in ("resources", "examples", "tests"):  # what the commands read, as in a clone
        (work / part).symlink_to(ROOT / part)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    shim = bin_ / "sam2studio"  # the console script of this checkout
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m sam2studio "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    env.pop("QT_QPA_PLATFORM", None)
    ran = 0
    for lang, body, why in blocks():
        if why is not None:
            continue
        if lang == "bash":
            cmd = ["bash", "-euo", "pipefail", "-c", body]
        elif lang == "python":
            cmd = [sys.executable, "-c", body]
        else:
            continue
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (f"README block failed:\n{body}\n"
                                      f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
        assert "Traceback" not in proc.stderr, proc.stderr
        ran += 1
    assert ran >= 5
    # what the blocks say they write
    assert len(list((work / "masks").glob("frame_*_obj_1.png"))) == 150
    for made in ("cups.s2s", "cups.json", "green.mp4", "ball.mp4", "quality.json", "smooth.mp4", "cups_api.json"):
        assert (work / made).stat().st_size > 0, made
    done = sorted(p.parent.name for p in (work / "runs" / "today").glob("*/_DONE"))
    assert done == ["cups-end", "cups-sam2", "cups-start", "judo"]
    shutil.rmtree(work / "runs")


def test_the_readmes_links_to_files_lead_somewhere():
    for doc in (ROOT / "README.md", ROOT / "docs" / "benchmarks.md"):
        text = doc.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which is missing"
