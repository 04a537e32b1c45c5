#!/usr/bin/env bash
# Build the SAM2 Studio desktop bundle with PyInstaller.
#
#   packaging/build.sh            # dist/sam2studio/ (a folder with the sam2studio executable)
#   packaging/build.sh --cpu      # insist on a CPU-only torch (a much smaller bundle)
#   packaging/build.sh --install  # also install the .desktop entry and icon for this user
#
# Run it from anywhere, with the Python environment that has SAM2 Studio installed
# (pip install -e . or pip install sam2studio). PyInstaller is installed if missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PYTHON="${PYTHON:-python3}"
INSTALL=0
CPU=0
for arg in "$@"; do
  case "$arg" in
    --cpu) CPU=1 ;;
    --install) INSTALL=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
  esac
done

cd "$ROOT"
"$PYTHON" -c "import sam2studio, PySide6, pyqtgraph, sam2" 2>/dev/null || {
  echo "SAM2 Studio and its dependencies are not importable with $PYTHON: run 'pip install -e .' first" >&2
  exit 1
}
if [ "$CPU" = 1 ] && [ "$("$PYTHON" -c 'import torch; print(torch.version.cuda is None)')" != "True" ]; then
  echo "--cpu needs the CPU-only torch wheel (this one is built for CUDA and links its libraries):" >&2
  echo "  $PYTHON -m pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" >&2
  exit 1
fi
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 || "$PYTHON" -m pip install "pyinstaller>=6.5"

"$PYTHON" -m PyInstaller --noconfirm --clean \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
  "$HERE/sam2studio.spec"

APP="$ROOT/dist/sam2studio"
mkdir -p "$APP/share/applications" "$APP/share/icons/hicolor/scalable/apps" "$APP/share/icons/hicolor/256x256/apps"
cp "$HERE/sam2studio.desktop" "$APP/share/applications/"
cp "$ROOT/resources/icons/sam2studio.svg" "$APP/share/icons/hicolor/scalable/apps/sam2studio.svg"
cp "$ROOT/resources/icons/sam2studio.png" "$APP/share/icons/hicolor/256x256/apps/sam2studio.png"

# smoke test: the bundled CLI answers without a display
"$APP/sam2studio" models list >/dev/null

if [ "$INSTALL" = 1 ]; then
  DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
  mkdir -p "$DATA/applications" "$DATA/icons/hicolor/scalable/apps" "$HOME/.local/bin"
  sed "s|^Exec=sam2studio|Exec=$APP/sam2studio|; s|^TryExec=sam2studio|TryExec=$APP/sam2studio|" \
    "$HERE/sam2studio.desktop" > "$DATA/applications/sam2studio.desktop"
  cp "$ROOT/resources/icons/sam2studio.svg" "$DATA/icons/hicolor/scalable/apps/"
  ln -sf "$APP/sam2studio" "$HOME/.local/bin/sam2studio"
  command -v update-desktop-database >/dev/null && update-desktop-database "$DATA/applications" || true
  echo "installed: $DATA/applications/sam2studio.desktop and ~/.local/bin/sam2studio"
fi
echo "built: $APP/sam2studio ($(du -sh "$APP" | cut -f1))"
