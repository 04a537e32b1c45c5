"""Entry script for the PyInstaller bundle: the same ``main`` as the ``sam2studio`` console script."""

import sys

from sam2studio.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
