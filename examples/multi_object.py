"""Several objects that enter at different frames, each started from a mask (DAVIS "judo":
the annotation PNGs give object 1 on frame 0, 2 on frame 5, 3 on frame 8 and 4 on frame 13).

    python examples/multi_object.py
    python examples/multi_object.py --frames-dir my_frames/ --masks-dir my_masks/ --engine sam2

Each annotation PNG is a palette image (pixel value = object id) named after its frame; an
object is started on the first frame where it is annotated. Writes palette PNG masks for
every frame (``palette/``), the tracking report (``report.json``) and the project under
``--out``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from sam2studio.session import Session

#: the judo frames and first annotations shipped with the tests (tests/data/README.md: MIT licence)
JUDO = Path(__file__).resolve().parent.parent / "tests" / "data" / "judo"


def first_annotations(masks_dir: Path) -> list[tuple[int, int, Path]]:
    """``(frame, obj, png)`` for the first annotation of every object, by frame."""
    seen, out = set(), []
    for png in sorted(masks_dir.glob("*.png"), key=lambda p: int(p.stem)):
        ids = [int(v) for v in np.unique(np.array(Image.open(png))) if v != 0]
        for obj in ids:
            if obj not in seen:
                seen.add(obj)
                out.append((int(png.stem), obj, png))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames-dir", type=Path, default=JUDO / "frames", help="image folder (the video)")
    ap.add_argument("--masks-dir", type=Path, default=JUDO / "masks", help="palette PNGs named by frame")
    ap.add_argument("--engine", default="classic", choices=("classic", "sam2", "auto"))
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a new temporary one)")
    args = ap.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="sam2studio-multi-"))

    with Session.open(args.frames_dir, engine=args.engine) as s:
        for frame, obj, png in first_annotations(args.masks_dir):
            s.add_object(f"judoka {obj}", obj_id=obj)
            mask = s.add_mask_file(frame, obj, png)  # resized to the video when it differs
            print(f"object {obj}: starts on frame {frame} from {png.name} ({int(mask.sum())} px)")
        # a forward run from a frame every object has been annotated by: each object is
        # tracked from its own first frame (objects entering later start where they enter)
        summary = s.run(s.default_start("forward"), "forward")
        print(summary.line())
        for o in sorted(s.objects):
            present = s.masks.present_frames(o)
            span = f"frames {present[0]}-{present[-1]}" if present else "never"
            print(f"object {o} ({s.objects[o].name}): present on {len(present)} frames, {span}")
        palette = s.export("palette", out / "palette")
        report = s.export("report", out / "report.json")
        project = s.save(out / "project.s2s")
    print(f"wrote {palette} ({s.num_frames} palette PNGs)")
    print(f"wrote {report}")
    print(f"wrote {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
