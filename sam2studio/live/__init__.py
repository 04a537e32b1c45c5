"""Live tracking from a camera: :class:`LiveTracker`, a Qt-free library (the ``live``
command and its OpenCV window are :mod:`sam2studio.cli.live`).

A camera is any object with ``read() -> (seconds, rgb)`` that blocks for the next frame
(:class:`~sam2studio.core.cameras.CameraVideo`, or :class:`~sam2studio.core.cameras.FakeCamera`,
which plays a video file at its real frame rate through the same interface). The tracker reads it on its own capture
thread into a one-frame slot, so **the newest frame is always the one processed**: a frame
the tracker had no time for is overwritten by the next one and counted as dropped. Latency is
measured from the moment a frame came out of ``read()`` to the moment its masks are ready.

How an engine tracks a stream of unknown length. Engines propagate over a
:class:`~sam2studio.core.video.VideoSource` of known length, so the tracker feeds them a
*window*: a :class:`StreamVideo` of ``window`` frames whose frames are bound on demand -- the
first time the engine asks for frame ``i``, it gets the newest camera frame (waiting for one
if needed). One ``propagate(0, "forward")`` over the window then tracks frame by frame as
frames arrive, driven through a :class:`~sam2studio.session.Session` on the window
(:meth:`~sam2studio.session.Session.on_stream`, whose masks are not stored), so through the
engines' public methods only. Window frame 0 is the frame the
prompts were given on; when the user adds or corrects a prompt, or the window is used up, a
new window starts on the current frame, seeded with every object's current mask (a mask
prompt) plus the new clicks. Only a few recent frames are kept.

* The classic engine tracks frame to frame by nature; its window is long (100 000 frames) so
  it is only re-seeded by prompts.
* SAM 2 keeps a memory of past frames per object; a window bounds what a stream can
  accumulate (default 600 frames, 20 s at 30 fps). At a window change SAM 2's memory restarts
  from the carried mask (one conditioning frame): the price of bounded memory and of using
  the predictor's public API (``init_state`` / ``add_new_mask`` / ``propagate_in_video``)
  rather than re-implementing its per-frame loop with ``track_step``. The tracker sets the
  engine's frame prefetch off (``PREFETCH = 0``): frames ahead of the one being processed do
  not exist yet, and binding them early would make them stale.

Recording (``record=PATH``): the tracked frames (not the dropped ones) are written as JPEGs to
``PATH``'s stem + ``_frames/`` beside it, on a background thread, and their masks kept; on
:meth:`LiveTracker.close` a project (``.s2s``) is saved on that image folder, with the
objects, the prompts (on the recorded frame where they were given) and every mask, at the
tracking frame rate. It opens like any project (``Session.open(PATH)``), e.g. to re-run it
offline with SAM 2.

Threads: one thread drives the tracker (:meth:`step` / :meth:`run`, a QThread in the GUI);
prompts (:meth:`add_click`, :meth:`add_box`, :meth:`add_mask`, :meth:`remove_object`) may come
from any thread -- they take the tracker's lock, so they wait for the frame being processed
and apply to the frame shown last (:attr:`current`).
"""

from ..core.cameras import CameraVideo, FakeCamera, StreamEnded
from .recorder import Recorder
from .stream import Captured, StreamVideo
from .tracker import DEFAULT_WINDOW, LiveFrame, LiveStats, LiveTracker, overlay

__all__ = ["CameraVideo", "FakeCamera", "StreamVideo", "StreamEnded", "Captured", "LiveTracker", "LiveFrame",
           "LiveStats", "Recorder", "DEFAULT_WINDOW", "overlay"]
