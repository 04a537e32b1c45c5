#!/usr/bin/env bash
# Install SAM2 Studio and everything it needs, in the order that works on a fresh machine:
#   1. Qt's system libraries (Debian/Ubuntu, when run as root), for the desktop app;
#   2. the torch + torchvision pair (they must match);
#   3. sam2, whose source build imports torch (so no build isolation, CPU build);
#   4. SAM2 Studio itself (editable), with the test tools when --dev is given.
# Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  missing=$(for p in libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
      libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 \
      libfontconfig1 libdbus-1-3 libglib2.0-0; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
  if [ -n "$missing" ]; then
    echo "setup: installing Qt system libraries: $missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
      || echo "setup: could not install $missing (the desktop app may not start; tests run offscreen)"
  fi
fi

case "$(uname -m)" in
  aarch64|arm64) TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *) TORCH="torch==2.14.1 torchvision==0.29.1" ;;
esac
$PY -m pip install -q $TORCH
SAM2_BUILD_CUDA=0 $PY -m pip install -q --no-build-isolation "sam2>=1.1.0"
if [ "$DEV" = "1" ]; then
  $PY -m pip install -q -e ".[dev]"
else
  $PY -m pip install -q -e .
fi
echo "setup: SAM2 Studio is installed ($($PY -c 'import sam2studio; print(sam2studio.__version__)'))"
