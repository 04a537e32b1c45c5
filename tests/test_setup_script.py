"""scripts/setup.sh picks a safe place to install: the active virtual environment, or a new
``.venv`` in the repository, and never a Python that is externally managed (PEP 668: Debian 12+,
Ubuntu 23.04+), where ``pip install`` fails with "externally-managed-environment".

The externally managed Python is simulated honestly: a Python installation that is not a
virtual environment (its own prefix, the real interpreter and standard library linked in) with
the ``EXTERNALLY-MANAGED`` marker in its standard-library folder, so its pip refuses to install,
as on those systems. The script runs in its dry-run mode: it chooses and creates the
environment for real, then prints the install commands instead of downloading gigabytes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a bash script for Linux")


def fake_system_python(root: Path, *, with_ensurepip: bool = True) -> Path:
    """A Python installation under ``root`` that is not a virtual environment and is marked
    externally managed; returns its ``bin`` folder."""
    real = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    stdlib = Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix, "base": sys.base_prefix})["stdlib"])
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    lib = root / "lib" / ver
    lib.mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name in ("site-packages", "dist-packages", "EXTERNALLY-MANAGED"):
            continue
        if entry.name == "ensurepip" and not with_ensurepip:
            continue
        (lib / entry.name).symlink_to(entry)
    (lib / "site-packages").mkdir()
    (lib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=managed by the system (test)\n")
    for so in Path(sys.base_prefix, "lib").glob("libpython3*.so*"):  # a shared libpython
        (root / "lib" / so.name).symlink_to(so)
    bin_ = root / "bin"
    bin_.mkdir()
    shutil.copy2(real, bin_ / ver)
    (bin_ / "python3").symlink_to(ver)
    return bin_


def run_setup(repo: Path, bin_: Path | None, *args: str, venv: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "PYTHON")}
    env["SAM2STUDIO_SETUP_DRY_RUN"] = "1"
    env["PIP_NO_INDEX"] = "1"  # nothing may be downloaded
    path = env.get("PATH", "/usr/bin:/bin").split(os.pathsep)
    path = [p for p in path if not p.startswith(str(Path(sys.prefix)))]  # not this test's venv
    if bin_ is not None:
        path.insert(0, str(bin_))
    if venv is not None:  # as `source venv/bin/activate` does
        env["VIRTUAL_ENV"] = str(venv)
        path.insert(0, str(venv / "bin"))
    env["PATH"] = os.pathsep.join(path)
    return subprocess.run(["bash", str(repo / "scripts" / "setup.sh"), *args], cwd="/", env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def repo(tmp_path):
    """A copy of the parts of the repository the script reads (it installs ``-e .``)."""
    r = tmp_path / "repo"
    (r / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup.sh", r / "scripts" / "setup.sh")
    shutil.copy2(ROOT / "pyproject.toml", r / "pyproject.toml")
    return r


@pytest.fixture
def managed(tmp_path):
    bin_ = fake_system_python(tmp_path / "system")
    python = bin_ / "python3"
    probe = subprocess.run([str(python), "-c", "import sys, sysconfig; print(sys.prefix == sys.base_prefix, "
                            "sysconfig.get_path('stdlib'))"], capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    is_base, stdlib = probe.stdout.split()
    assert is_base == "True" and Path(stdlib, "EXTERNALLY-MANAGED").is_file()  # a real system-like Python
    # pip (this environment's, run by that interpreter) refuses to install there, as on Debian
    import pip

    refused = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "nothing-at-all"],
                             env={**os.environ, "PYTHONPATH": str(Path(pip.__file__).parent.parent)},
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr, refused.stderr
    return bin_


def test_an_externally_managed_python_gets_a_new_venv_in_the_repository(repo, managed):
    before = sorted(p.name for p in (managed.parent / "lib").rglob("site-packages/*"))
    proc = run_setup(repo, managed, "--dev")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    venv_python = repo / ".venv" / "bin" / "python"
    assert venv_python.exists(), proc.stdout
    # a working venv of the managed interpreter, with pip
    check = subprocess.run([str(venv_python), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "True"
    pip = subprocess.run([str(venv_python), "-m", "pip", "--version"], capture_output=True, text=True, timeout=60)
    assert pip.returncode == 0, pip.stderr
    # every install goes into .venv, none into the system's Python
    installs = [ln for ln in proc.stdout.splitlines() if "pip install" in ln]
    assert len(installs) == 3, proc.stdout
    assert all(f"{repo}/.venv/bin/python -m pip install" in ln for ln in installs), installs
    assert any("torch==" in ln and "torchvision==" in ln for ln in installs)
    assert any("--no-build-isolation" in ln and "SAM2_BUILD_CUDA=0" in ln for ln in installs)
    assert any('-e .[dev]' in ln for ln in installs)
    assert sorted(p.name for p in (managed.parent / "lib").rglob("site-packages/*")) == before
    # one line per step, with what it downloads and about how much
    steps = [ln for ln in proc.stdout.splitlines() if ln.startswith("setup: step ")]
    assert [s.split()[2] for s in steps] == ["1/5:", "2/5:", "3/5:", "4/5:", "5/5:"], proc.stdout
    assert " GB" in steps[2] and " MB" in steps[4]
    assert "-q" in installs[0]  # not a terminal: pip stays quiet


def test_an_active_virtual_environment_is_used_and_no_venv_is_made(repo, managed, tmp_path):
    env_dir = tmp_path / "mine"
    subprocess.run([str(managed / "python3"), "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    proc = run_setup(repo, managed, venv=env_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"active virtual environment {env_dir}" in proc.stdout
    assert not (repo / ".venv").exists()
    installs = [ln for ln in proc.stdout.splitlines() if "pip install" in ln]
    assert installs and all(f"{env_dir}/bin/python -m pip install" in ln for ln in installs)
    assert any(ln.rstrip().endswith("-e .") for ln in installs)


def test_a_python_without_venv_support_names_the_package_to_install(repo, tmp_path):
    bare = fake_system_python(tmp_path / "bare", with_ensurepip=False)
    proc = run_setup(repo, bare)
    assert proc.returncode != 0
    assert "python3-venv" in proc.stderr and "Traceback" not in proc.stderr
    assert not (repo / ".venv").exists()
