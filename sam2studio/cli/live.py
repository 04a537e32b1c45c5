"""``sam2studio live``: track objects live from a camera, with an OpenCV window when there is a
display (and a full OpenCV build), fps and latency on stderr."""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from ..errors import UserError
from .args import CliError, add_engine_options, engine_options


class Window:
    """An OpenCV window with mouse clicks, when OpenCV has a GUI and there is a display."""

    NAME = "SAM2 Studio live"

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        self.clicks: list[tuple[int, int, bool]] = []
        cv2.namedWindow(self.NAME, cv2.WINDOW_AUTOSIZE)
        cv2.setMouseCallback(self.NAME, self._mouse)

    @classmethod
    def open(cls) -> Window | None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return None
        try:
            return cls()
        except Exception:  # noqa: BLE001 - cv2.error: opencv-python-headless has no highgui
            return None

    def _mouse(self, event, x, y, flags, param) -> None:
        if event == self.cv2.EVENT_LBUTTONDOWN:
            self.clicks.append((x, y, True))
        elif event == self.cv2.EVENT_RBUTTONDOWN:
            self.clicks.append((x, y, False))

    def show(self, rgb, text: str) -> int:
        cv2 = self.cv2
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.putText(bgr, text, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.imshow(self.NAME, bgr)
        return cv2.waitKey(1) & 0xFF

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.NAME)
        except Exception:  # noqa: BLE001 - the window may already be gone
            pass



HELP = """Track objects live from a camera (or a video file played as one), dropping frames to stay
live: the newest frame is always the one processed. Give the objects with --click/--box (on
the first frame, after --delay seconds). OpenCV's window, where you could click and watch,
needs a display and a full OpenCV build: with opencv-python-headless (the default install)
there is no window, so fps and latency are printed to stderr once a second, and --record
writes what was tracked (frames and masks) to a project you can open in the app. Stop with
Ctrl-C, --duration or --max-frames."""


def _parse_live_click(spec: str) -> tuple[int, float, float, int]:
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise CliError(f"--click {spec!r} must be OBJ:X:Y[:LABEL]")
    try:
        obj, x, y = int(parts[0]), float(parts[1]), float(parts[2])
        label = int(parts[3]) if len(parts) == 4 else 1
    except ValueError:
        raise CliError(f"--click {spec!r} must be OBJ:X:Y[:LABEL] with numbers") from None
    if obj <= 0 or label not in (0, 1):
        raise CliError(f"--click {spec!r}: OBJ is a positive integer and LABEL 1 or 0")
    return obj, x, y, label


def _parse_live_box(spec: str) -> tuple[int, tuple[float, float, float, float]]:
    parts = spec.split(":")
    if len(parts) != 5:
        raise CliError(f"--box {spec!r} must be OBJ:X0:Y0:X1:Y1")
    try:
        obj, box = int(parts[0]), tuple(float(v) for v in parts[1:])
    except ValueError:
        raise CliError(f"--box {spec!r} must be OBJ:X0:Y0:X1:Y1 with numbers") from None
    if obj <= 0:
        raise CliError(f"--box {spec!r}: OBJ is a positive integer")
    return obj, box  # type: ignore[return-value]


def check_prompts(clicks, boxes, width: int, height: int) -> None:
    """Every --click and --box inside a ``width`` x ``height`` frame (skipped while the camera
    does not know its size yet)."""
    if width <= 0 or height <= 0:
        return
    for o, x, y, _label in clicks:
        if not (0 <= x < width and 0 <= y < height):
            raise CliError(f"--click {o}:{x:g}:{y:g} is outside the frame ({width}x{height} pixels: "
                           f"x from 0 to {width - 1}, y from 0 to {height - 1})")
    for o, (x0, y0, x1, y1) in boxes:
        if not (0 <= min(x0, x1) and max(x0, x1) <= width and 0 <= min(y0, y1) and max(y0, y1) <= height):
            raise CliError(f"--box {o}:{x0:g}:{y0:g}:{x1:g}:{y1:g} is outside the frame ({width}x{height} pixels)")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("live", help="track objects live from a camera (prints fps/latency, can record)",
                              description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=0, metavar="N", help="camera index (default 0)")
    src.add_argument("--file", type=Path, metavar="VIDEO",
                     help="play a video file as a camera, at its real frame rate (for trying it out)")
    p.add_argument("--loop", action="store_true", help="with --file: start over at the end")
    p.add_argument("--click", action="append", default=[], metavar="OBJ:X:Y[:LABEL]",
                   help="a click on the first frame; LABEL 1 = positive (default), 0 = negative; repeatable")
    p.add_argument("--box", action="append", default=[], metavar="OBJ:X0:Y0:X1:Y1", help="a box on the first frame")
    p.add_argument("--name", action="append", default=[], metavar="OBJ:NAME", help="label an object")
    p.add_argument("--delay", type=float, default=0.0, metavar="SECONDS",
                   help="watch this long before giving the prompts (default 0)")
    p.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="stop after this long")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N tracked frames")
    p.add_argument("--record", type=Path, metavar="PROJECT",
                   help="save the tracked frames (PROJECT_frames/ beside it) and masks as a project")
    p.add_argument("--window", type=int, default=None, metavar="FRAMES",
                   help="frames per tracking window (default: classic 100000, sam2 600)")
    p.add_argument("--no-window", action="store_true", help="never open a window, even with a display")
    p.add_argument("--status-every", type=float, default=1.0, metavar="SECONDS",
                   help="how often to print fps and latency to stderr (default 1; 0: only at the end)")
    add_engine_options(p)
    return p


def run(args) -> int:
    from ..core.cameras import CameraVideo, FakeCamera
    import numpy as np

    from ..core.prompts import parse_name
    from ..live import LiveTracker, StreamEnded, overlay

    clicks = [_parse_live_click(s) for s in args.click]
    boxes = [_parse_live_box(s) for s in args.box]
    names = dict(parse_name(s) for s in args.name)
    if args.weights and args.engine == "classic":
        raise CliError("--weights random is for the sam2 engine, not classic")
    if args.delay < 0 or (args.duration is not None and args.duration <= 0):
        raise CliError("--delay must not be negative and --duration must be positive")
    if args.record is not None and args.record.is_dir():
        raise UserError(f"--record {args.record} is a folder; give a project file name such as live.s2s")
    window = None if args.no_window else Window.open()
    if window is None and not (clicks or boxes):
        raise CliError("give the objects to track with --click OBJ:X:Y or --box OBJ:X0:Y0:X1:Y1 "
                       "(there is no window to click in: no display, or opencv-python-headless)")
    options = engine_options(args)
    if args.file is not None:
        if not args.file.exists():
            raise UserError(f"{args.file} does not exist")
        camera = FakeCamera(args.file, realtime=True, loop=args.loop)
    else:
        camera = CameraVideo(args.camera)
    try:  # prompts and the recording place are checked before anything starts
        check_prompts(clicks, boxes, int(getattr(camera, "width", 0) or 0), int(getattr(camera, "height", 0) or 0))
        if args.record is not None:
            from ..core.outputs import check_output

            check_output(args.record, label="--record", directory=False)
    except BaseException:
        camera.close()
        raise
    tracker = None
    try:
        tracker = LiveTracker(camera, args.engine, record=args.record, window=args.window, **options)
        print(f"live: {getattr(camera, 'name', 'camera')}, {tracker.engine.name} engine"
              + (f", recording to {args.record}" if args.record else ""), file=sys.stderr)
        t_prompt = time.monotonic() + args.delay
        frame = tracker.step()
        while time.monotonic() < t_prompt:
            frame = tracker.step()
            if window is not None:
                window.show(frame.rgb, "preview")
        for o, x, y, label in clicks:
            tracker.add_click(x, y, obj=o, positive=bool(label), name=names.get(o))
        for o, box in boxes:
            tracker.add_box(box, obj=o, name=names.get(o))
        current_obj = max(tracker.objects, default=1)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        next_status = time.monotonic() + args.status_every if args.status_every > 0 else math.inf
        while True:
            if t_end is not None and time.monotonic() >= t_end:
                break
            if args.max_frames is not None and tracker.stats().frames >= args.max_frames:
                break
            try:
                frame = tracker.step(timeout=5.0)
            except StreamEnded:
                break
            if window is not None:
                key = window.show(overlay(frame.rgb, frame.masks), f"object {current_obj}  "
                                  "(left/right click: +/-, n: new object, q: quit)")
                for x, y, positive in window.clicks:
                    tracker.add_click(x, y, obj=current_obj, positive=positive, name=names.get(current_obj))
                window.clicks.clear()
                if key in (ord("q"), 27):
                    break
                if key == ord("n"):
                    current_obj = max(tracker.objects, default=0) + 1
            if time.monotonic() >= next_status:
                areas = ", ".join(f"{o}: {int(np.count_nonzero(m))} px" for o, m in sorted(frame.masks.items()))
                print(f"live: {tracker.stats().line()}; objects {areas or 'none'}", file=sys.stderr)
                next_status += args.status_every
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live session ends: the recording is still written
    finally:
        if window is not None:
            window.close()
        if tracker is not None:
            stats = tracker.stats()
            path = tracker.close()
            print(f"live: done: {stats.line()}", file=sys.stderr)
            if path is not None:
                print(path)
        else:
            camera.close()
    return 0

