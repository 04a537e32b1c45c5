"""Write the small cut-outs that tests/test_classic_semireal.py pastes onto the sample clip.

Run once from the repository root with ../shared/data present:
``python benchmarks/classic_test_cutouts.py``. It lifts four annotated objects (DAVIS "judo"
and "bike" frames and masks, MIT licence, from the Cutie repository's examples) with their
pixels, scales them by 0.4 (for 320x180 test clips) and writes RGBA PNGs to tests/data/cutouts/.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from classic_semireal import DEFAULT_DATA, load_annotation

from sam2studio.core.composite_clips import Cutout

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data", "cutouts")
NAMES = {"judoka_a": "judoka A", "judoka_b": "judoka B", "bicycle": "bicycle", "rider": "rider"}


def main(data: str = DEFAULT_DATA, scale: float = 0.4) -> int:
    os.makedirs(OUT, exist_ok=True)
    for file, name in NAMES.items():
        img, m = load_annotation(data, name)
        c = Cutout.from_annotation(img, m, name=file).scaled(scale)
        c.save(os.path.join(OUT, file + ".png"))
        print(f"{file}.png {c.size[0]}x{c.size[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
