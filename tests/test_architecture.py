"""What the import-linter contracts (pyproject.toml, run by `lint-imports` in .ci/run) cannot
see: batch and live are libraries without a terminal or window, and the version has one home."""

from __future__ import annotations

import sam2studio


def test_batch_and_live_are_libraries_without_argparse_printing_or_windows():
    """The commands (argparse, progress bars, the OpenCV window, printed tables) live in
    sam2studio.cli; sam2studio.batch and sam2studio.live only compute and report through
    return values, callbacks and logging."""
    import ast
    from pathlib import Path

    root = Path(sam2studio.__file__).resolve().parent
    found = []
    for path in sorted([*(root / "batch").glob("*.py"), *(root / "live").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{path.name}: imports {n}" for n in names
                          if n.split(".")[0] in ("argparse", "tqdm") or n == "cli" or n.startswith("cli.")]
            elif isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                if name in ("print", "imshow", "namedWindow", "waitKey"):
                    found.append(f"{path.name}:{node.lineno}: calls {name}")
    assert found == []


def test_the_version_has_one_home():
    from sam2studio import _version
    from sam2studio.engines import models

    assert sam2studio.__version__ == _version.__version__ == models.__version__
