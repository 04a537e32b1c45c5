#!/usr/bin/env bash
# Install SAM2 Studio and everything it needs, in the order that works on a fresh machine:
#   1. the Python environment: the active virtual environment when there is one, otherwise
#      .venv in this folder (created here; the system's Python is never installed into, so an
#      "externally managed" Python, PEP 668, as on Debian 12+ / Ubuntu 23.04+, is fine);
#   2. Qt's system libraries (Debian/Ubuntu, when run as root), for the desktop app, and with
#      --dev Debian's chromium (a test renders the HTML quality report with it);
#   3. the torch + torchvision pair (they must match);
#   4. sam2, whose source build imports torch (so no build isolation, CPU build);
#   5. SAM2 Studio itself (editable), with the test tools when --dev is given.
# Usage: bash scripts/setup.sh [--dev]
# Environment: PYTHON=python3.12 picks the Python that creates .venv (default python3);
# SAM2STUDIO_SETUP_DRY_RUN=1 chooses and creates the environment, then prints every
# install command instead of running it (the test suite uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEV=0
for arg in "$@"; do
  case "$arg" in
    --dev) DEV=1 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg (usage: bash scripts/setup.sh [--dev])" >&2; exit 2 ;;
  esac
done
DRY=${SAM2STUDIO_SETUP_DRY_RUN:-0}
[ "$DRY" = "0" ] && DRY=""

say() { echo "setup: $*"; }
fail() { echo "setup: error: $*" >&2; exit 1; }
run() {  # a command, or in a dry run its words
  if [ -n "$DRY" ]; then echo "setup: would run: $*"; else "$@"; fi
}

# ---- 1. the Python environment ------------------------------------------------------------
in_venv() { "$1" -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; }
VENV=""
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  VENV=$VIRTUAL_ENV
  say "step 1/5: installing into the active virtual environment $VENV"
elif [ -x .venv/bin/python ] && in_venv .venv/bin/python; then
  VENV=$ROOT/.venv
  say "step 1/5: installing into $VENV (made by an earlier run)"
else
  BASE=${PYTHON:-python3}
  command -v "$BASE" >/dev/null 2>&1 \
    || fail "$BASE not found: install Python 3.10 or newer (Debian/Ubuntu: apt-get install python3)"
  "$BASE" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || fail "SAM2 Studio needs Python 3.10 or newer; $BASE is $("$BASE" -V 2>&1). Set PYTHON=python3.X"
  ver=$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if ! "$BASE" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    fail "$BASE cannot create virtual environments (its venv/ensurepip modules are missing); on Debian/Ubuntu install them with: apt-get install python3-venv (or python$ver-venv), then run this again"
  fi
  say "step 1/5: creating a virtual environment in $ROOT/.venv with $BASE ($ver); the system Python is left as it is"
  "$BASE" -m venv .venv || fail "could not create .venv with $BASE -m venv (Debian/Ubuntu: apt-get install python3-venv)"
  VENV=$ROOT/.venv
fi
PY=$VENV/bin/python
[ -x "$PY" ] || fail "$PY is missing"
if [ -t 1 ]; then PIPQ=(--progress-bar on); else PIPQ=(-q); fi  # pip's progress only on a terminal
pip_install() { run "$PY" -m pip install "${PIPQ[@]}" "$@"; }

# ---- 2. system packages (root with apt only) ------------------------------------------------
apt_install() {  # quietly; says what it could not install
  if [ -n "$DRY" ]; then echo "setup: would run: apt-get install -y $1"; return 0; fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $1 >/dev/null 2>&1 || say "$2"
}
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  qt=$(for p in libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 \
      libfontconfig1 libdbus-1-3 libglib2.0-0; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | tr '\n' ' ')
  chromium=""
  [ "$DEV" = "1" ] && ! command -v chromium >/dev/null 2>&1 && chromium=chromium
  if [ -n "${qt// /}" ] || [ -n "$chromium" ]; then
    say "step 2/5: apt-get install ${qt}${chromium:+$chromium }(Qt's X client libraries: a few MB${chromium:+; chromium, for the HTML-report test: about 100 MB})"
    [ -n "$DRY" ] || apt-get update -qq >/dev/null 2>&1 || true
    [ -z "${qt// /}" ] || apt_install "$qt" "could not install $qt: the desktop app may not start (the tests run offscreen)"
    [ -z "$chromium" ] || apt_install chromium "could not install chromium: the HTML-report test will say that it is missing"
  else
    say "step 2/5: the system libraries are already installed"
  fi
else
  say "step 2/5: not root with apt-get: system libraries skipped (the desktop app needs Qt's X client libraries, see README)"
fi

# ---- 3. torch + torchvision ------------------------------------------------------------------
case "$(uname -m)" in
  aarch64|arm64) TORCH=(torch==2.9.1 torchvision==0.24.1); SIZE="about 250 MB to download, 1 GB installed" ;;
  *) TORCH=(torch==2.14.1 torchvision==0.29.1)
     SIZE="about 3 GB to download, 5.3 GB installed: PyPI's x86_64 build brings NVIDIA's CUDA libraries" ;;
esac
say "step 3/5: ${TORCH[*]} ($SIZE)"
pip_install "${TORCH[@]}"

# ---- 4. sam2 ---------------------------------------------------------------------------------
say "step 4/5: sam2 (built from source against the torch above, CPU build; a few MB)"
if [ -n "$DRY" ]; then
  echo "setup: would run: SAM2_BUILD_CUDA=0 $PY -m pip install ${PIPQ[*]} --no-build-isolation sam2>=1.1.0"
else
  SAM2_BUILD_CUDA=0 "$PY" -m pip install "${PIPQ[@]}" --no-build-isolation "sam2>=1.1.0"
fi

# ---- 5. SAM2 Studio ----------------------------------------------------------------------------
if [ "$DEV" = "1" ]; then
  say "step 5/5: SAM2 Studio (editable) with the test tools: PySide6, OpenCV, PyAV, Ray, matplotlib and the rest (about 400 MB to download, 1.2 GB installed)"
  pip_install -e ".[dev]"
else
  say "step 5/5: SAM2 Studio (editable): PySide6, OpenCV, PyAV and the rest (about 250 MB to download, 900 MB installed)"
  pip_install -e .
fi

if [ -n "$DRY" ]; then
  say "dry run: nothing installed into $VENV"
  exit 0
fi
version=$("$PY" -c 'import sam2studio; print(sam2studio.__version__)')
say "done: SAM2 Studio $version is installed in $VENV"
if [ "$VENV" = "$ROOT/.venv" ] && [ "${VIRTUAL_ENV:-}" != "$VENV" ]; then
  say "run it with .venv/bin/sam2studio, or first: source .venv/bin/activate"
fi
