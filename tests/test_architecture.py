"""The core, engines, exporters, Session and CLI are Qt-free: only sam2studio.gui imports Qt."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys

import pytest

import sam2studio

QT_FREE = ("core", "engines", "export", "batch", "live", "cli")


def qt_free_modules() -> list[str]:
    names = ["sam2studio.session", "sam2studio.__main__", "sam2studio._version", "sam2studio._runtime"]
    for pkg in QT_FREE:
        mod = __import__(f"sam2studio.{pkg}", fromlist=["_"])
        names.append(mod.__name__)
        names += [f"{mod.__name__}.{m.name}" for m in pkgutil.iter_modules(mod.__path__)]
    return names


def test_core_engines_export_cli_import_without_pyside6():
    modules = qt_free_modules()
    assert "sam2studio.engines.sam2_engine" in modules and "sam2studio.export.video" in modules
    assert {"sam2studio.batch.ray", "sam2studio.live.tracker", "sam2studio.cli.segment"} <= set(modules)
    code = (
        "import sys, importlib\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'):\n"
        "            raise ImportError('Qt is not allowed here: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "assert not any(k.startswith(('PySide6', 'sam2studio.gui')) for k in sys.modules)\n"
        "print('ok', len(sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_import_linter_contract_holds():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e .[dev])")
    proc = subprocess.run([exe], capture_output=True, text=True, timeout=300, cwd=str(
        __import__("pathlib").Path(sam2studio.__file__).resolve().parents[1]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "KEPT" in proc.stdout


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
