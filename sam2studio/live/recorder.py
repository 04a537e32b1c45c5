"""Recording a live session: the tracked frames as JPEGs (on a background thread), their masks
and the prompts, written as a project (``.s2s``) when the tracker closes.

The frames go to a hidden staging folder beside the project, renamed to ``NAME_frames/`` only
when the recording is complete and the project is written; a failed recording (a full disk)
leaves neither. The project's write lock is held from the start."""

from __future__ import annotations

import logging
import os
import queue
import secrets
import shutil
import threading
from pathlib import Path

from ..core.lock import ProjectLock
from ..core.masks import MaskStore
from ..core.outputs import check_output, os_error_reason
from ..core.objects import TrackedObject
from ..core.project import PROJECT_SUFFIX, Project
from ..core.prompts import FramePrompt
from ..core.video import open_video
from ..engines import ObjectMask
from ..errors import UserError
from .stream import Captured

log = logging.getLogger("sam2studio.live")


class Recorder:
    """Tracked frames to a JPEG folder (background thread), masks and prompts kept for the
    project written by :meth:`finish`."""

    def __init__(self, path: str | Path, quality: int = 92) -> None:
        path = Path(path)
        if path.suffix == "":
            path = path.with_suffix(PROJECT_SUFFIX)
        if path.is_dir():
            raise UserError(f"--record {path} is a folder; give a project file name such as live.s2s")
        self.path = path
        self.frames_dir = path.parent / f"{path.stem}_frames"
        if self.frames_dir.exists() and (not self.frames_dir.is_dir() or any(self.frames_dir.iterdir())):
            raise UserError(f"{self.frames_dir} already exists and is not empty; choose another project name")
        check_output(path, label="--record", directory=False)
        self.lock = ProjectLock.acquire(path)
        self.staging = path.parent / f".{self.frames_dir.name}.staged-{secrets.token_hex(4)}"
        try:
            self.staging.mkdir(parents=True)
        except OSError as exc:
            self.lock.release()
            raise UserError(f"cannot write {self.frames_dir}: {os_error_reason(exc)}") from exc
        self.quality = int(quality)
        self.masks = None  # MaskStore, made on the first frame
        self.prompts: list[tuple[int, int, FramePrompt]] = []
        self.times: list[float] = []
        self._queue: queue.Queue = queue.Queue(maxsize=32)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write_loop, name="sam2studio-record", daemon=True)
        self._thread.start()

    def _write_loop(self) -> None:
        import cv2

        while True:
            item = self._queue.get()
            if item is None:
                return
            index, rgb = item
            if self._error is not None:
                continue
            try:
                ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if not ok:
                    raise OSError("JPEG encoding failed")
                (self.staging / f"{index:06d}.jpg").write_bytes(buf.tobytes())
            except BaseException as exc:  # noqa: BLE001 - reported by add() and finish()
                self._error = exc

    @property
    def count(self) -> int:
        return len(self.times)

    def _failed(self) -> UserError:
        return UserError(f"recording to {self.frames_dir} failed: {os_error_reason(self._error)}")

    def add(self, cap: Captured, masks: dict[int, ObjectMask]) -> int:
        if self._error is not None:  # stop the session at once rather than track on unrecorded
            raise self._failed()
        if self.masks is None:
            h, w = cap.rgb.shape[:2]
            self.masks = MaskStore(h, w)
        index = len(self.times)
        self.times.append(cap.t)
        self._queue.put((index, cap.rgb))
        self.set_masks(index, masks)
        return index

    def set_masks(self, index: int, masks: dict[int, ObjectMask]) -> None:
        for o, om in masks.items():
            self.masks.set(index, o, om.mask, om.score)

    def remove_object(self, obj: int) -> None:
        if self.masks is not None:
            self.masks.remove_object(obj)
        self.prompts = [p for p in self.prompts if p[1] != obj]

    def finish(self, objects: dict[int, TrackedObject], settings: dict) -> Path | None:
        """Write the project and move the frames into place; on any failure nothing of the
        recording is left (no ``NAME_frames/``, no project)."""
        self._queue.put(None)
        self._thread.join()
        moved = False
        try:
            if self._error is not None:
                raise self._failed()
            if self.count == 0:
                log.warning("nothing was tracked, so nothing was recorded")
                return None
            span = self.times[-1] - self.times[0]
            fps = (self.count - 1) / span if self.count > 1 and span > 0 else 30.0
            try:
                os.replace(self.staging, self.frames_dir)
            except OSError as exc:
                raise UserError(f"cannot write {self.frames_dir}: {os_error_reason(exc)}") from exc
            moved = True
            video = open_video(self.frames_dir, fps=fps)
            try:
                project = Project.for_video(video)
            finally:
                video.close()
            for o in sorted(objects):
                project.add_object(TrackedObject(o, objects[o].name, objects[o].color))
            for index, o, p in self.prompts:
                if o in objects:
                    project.prompts.set(index, o, p)
            for f, o, e in self.masks.items():
                if o in objects:
                    project.masks.set_rle(f, o, e.rle, e.score, e.area)
            project.settings.update(settings)
            path = project.save(self.path)
            project.close()
            return path
        except BaseException:
            if moved:
                shutil.rmtree(self.frames_dir, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.lock.release()
