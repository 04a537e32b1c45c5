"""Live tracking: the fake camera, the stream window, LiveTracker at a real frame rate (frames
dropped to stay live, latency and fps reported, masks on the object, a recording that
reopens) and the ``live`` command."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from sam2studio.core.synthetic import constant_speed_clip, iou
from sam2studio.engines.classic import ClassicEngine
from sam2studio.live import Captured, FakeCamera, LiveTracker, StreamEnded, StreamVideo
from sam2studio.session import Session

from conftest import SAMPLE


@pytest.fixture(scope="module")
def clip():
    return constant_speed_clip(speed=1.0, num_frames=150, width=320, height=180)


def test_fake_camera_plays_at_its_frame_rate_and_skips_when_read_late(clip):
    cam = FakeCamera(clip, realtime=True)
    assert (cam.width, cam.height, cam.fps) == (320, 180, 30.0)
    t0 = time.monotonic()
    ts = [cam.read()[0] for _ in range(10)]
    elapsed = time.monotonic() - t0
    assert 0.25 <= elapsed < 0.6, elapsed  # 9 frame intervals of 1/30 s
    assert np.all(np.diff(ts) > 0)
    time.sleep(0.2)  # about 6 frames go by unread, as with a camera
    cam.read()
    assert cam.skipped >= 4 and cam.delivered == 11
    fast = FakeCamera(clip, realtime=False)
    frames = [fast.read()[1] for _ in range(len(clip))]
    assert all(np.array_equal(a, b) for a, b in zip(frames, clip.frames))
    with pytest.raises(StreamEnded):
        fast.read()
    looping = FakeCamera(clip, realtime=False, loop=True)
    for _ in range(len(clip) + 2):
        looping.read()


def test_stream_video_binds_frames_on_demand():
    supplied = []

    def supplier():
        supplied.append(len(supplied) + 1)
        return Captured(len(supplied), 0.0, np.full((4, 6, 3), len(supplied), np.uint8), time.monotonic())

    first = Captured(0, 0.0, np.zeros((4, 6, 3), np.uint8), time.monotonic())
    v = StreamVideo(first, supplier, capacity=100, fps=30.0, keep=3)
    assert len(v) == 100 and (v.width, v.height) == (6, 4)
    assert supplied == [] and v.get_frame(0)[0, 0, 0] == 0
    assert v.get_frame(1)[0, 0, 0] == 1 and supplied == [1]
    assert v.get_frame(1)[0, 0, 0] == 1 and supplied == [1]  # bound once
    assert v.get_frame(5)[0, 0, 0] == 5  # binds 2..5 in turn
    assert v.captured(0).seq == 0  # frame 0 is always kept
    with pytest.raises(IndexError):
        v.get_frame(1)  # older frames are let go


def test_live_tracking_on_a_real_clip_at_its_frame_rate(tmp_path):
    """The bundled sample clip played as a 30 fps camera: a click, ~3 s of classic tracking."""
    cam = FakeCamera(SAMPLE, realtime=True)
    tracker = LiveTracker(cam, "classic", record=tmp_path / "live.s2s")
    first = tracker.step()
    assert not first.tracking and first.masks == {}
    obj, mask = tracker.add_click(640, 400, name="cup")
    assert obj == 1 and mask.sum() > 20000
    frames = []
    stats = tracker.run(duration=3.0, on_frame=frames.append)
    path = tracker.close()
    print(f"\nlive classic on the sample clip at {cam.fps:.2f} fps: {stats.line()}; "
          f"mean {stats.latency_mean_ms:.0f} ms, max {stats.latency_max_ms:.0f} ms")
    assert stats.frames == len(frames) >= 15
    assert stats.fps > 5 and stats.latency_p50_ms > 0 and stats.latency_p95_ms >= stats.latency_p50_ms
    # every delivered frame was either tracked or dropped (one may still wait in the slot)
    assert 0 <= stats.captured - stats.frames - stats.dropped <= 2, stats
    if stats.fps < 0.9 * cam.fps:
        assert stats.dropped > 0
    # always the newest frame: tracked frames go forward, the gaps are the dropped ones
    seqs = [f.seq for f in frames]
    assert all(b > a for a, b in zip(seqs, seqs[1:]))
    assert sum(b - a - 1 for a, b in zip(seqs, seqs[1:])) <= stats.dropped
    # the cup is tracked: in place while it stands still (its first second), and found on every
    # frame until the hand moves the cups (on frame 57). From there how often it is kept depends on
    # how many frames this machine drops: tracking every 2nd / 3rd / 4th frame of the clip
    # offline, the cup is lost on 6 of 47 / 9 of 32 / 10 of 24 frames (on none at the full rate),
    # so that part is reported, not asserted (live on a loaded 2-core machine, 10.6 fps: 59%)
    nonempty = np.mean([f.masks[1].any() for f in frames])
    print(f"mask non-empty on {nonempty:.0%} of the tracked frames")
    clip_frame = {f.seq: f.t * cam.fps for f in frames}  # its clip frame is at most this (read at or after its time)
    still = [f for f in frames if clip_frame[f.seq] < 40]
    assert still and all(iou(f.masks[1], mask) > 0.9 for f in still), [int(f.masks[1].sum()) for f in still]
    before_the_hand = [f for f in frames if clip_frame[f.seq] < 55]
    assert all(f.masks[1].any() for f in before_the_hand), [(f.seq, int(f.masks[1].sum())) for f in before_the_hand]
    if stats.fps >= 0.9 * cam.fps:  # the tracker kept up: every frame, as offline
        assert nonempty >= 0.9
    # the recording reopens as a project: every tracked frame and the prompt frame
    with Session.open(path, engine="classic") as s:
        assert s.num_frames == stats.frames + 1
        assert s.objects[1].name == "cup" and s.keyframes(1) == [0]
        assert all(s.masks.has(f, 1) for f in range(s.num_frames))
        assert s.masks.area(s.num_frames - 1, 1) == int(frames[-1].masks[1].sum())
        assert abs(s.project.fps - stats.fps) < 0.25 * stats.fps
        assert s.project.settings["live"]["frames"] == stats.frames


class SlowClassic(ClassicEngine):
    """The classic engine made slower than the camera (80 ms a frame)."""

    def propagate(self, *args, **kwargs):
        for item in super().propagate(*args, **kwargs):
            time.sleep(0.08)
            yield item


def test_frames_are_dropped_when_processing_is_slower_than_the_camera(clip):
    cam = FakeCamera(clip, realtime=True)
    tracker = LiveTracker(cam, SlowClassic())
    tracker.step()
    tracker.add_click(*clip.click(1, 0))
    stats = tracker.run(duration=1.5)
    frames = []
    tracker.run(max_frames=3, on_frame=frames.append)
    tracker.close()
    print(f"\nslow engine: {stats.line()}")
    assert stats.dropped > 0.3 * stats.captured
    assert stats.fps < 13
    # no backlog: a frame waits at most about one processing time before it is taken
    assert stats.latency_p95_ms < 300, stats
    # and the masks follow the object on the frames actually shown
    for f in frames:
        gt = clip.gt[1][f.seq]
        assert iou(f.masks[1], gt) > 0.7


def test_a_second_object_while_tracking_and_removing_one(clip):
    cam = FakeCamera(clip, realtime=True)
    tracker = LiveTracker(cam, "classic")
    tracker.step()
    tracker.add_click(*clip.click(1, 0))
    tracker.run(max_frames=5)
    shown = tracker.current.seq
    obj2, m2 = tracker.add_box((5, 5, 60, 50))  # a patch of background as object 2
    assert obj2 == 2 and tracker.current.seq == shown and set(tracker.current_masks) == {1, 2}
    later = [tracker.step() for _ in range(5)]
    assert all(set(f.masks) == {1, 2} for f in later)
    assert all(iou(f.masks[1], clip.gt[1][f.seq]) > 0.7 for f in later)
    tracker.remove_object(2)
    assert set(tracker.step().masks) == {1}
    tracker.close()
    with pytest.raises(RuntimeError):
        tracker.step()


def test_prompts_from_another_thread_wait_for_the_frame_in_progress(clip):
    cam = FakeCamera(clip, realtime=True)
    tracker = LiveTracker(cam, "classic")
    tracker.step()
    tracker.add_click(*clip.click(1, 0))
    stop = threading.Event()
    errors = []

    def drive():
        try:
            tracker.run(stop=stop)
        except Exception as exc:  # noqa: BLE001  # pragma: no cover - reported below
            errors.append(exc)

    th = threading.Thread(target=drive)
    th.start()
    time.sleep(0.3)
    obj, _ = tracker.add_click(20, 20)
    time.sleep(0.3)
    stop.set()
    th.join(5)
    tracker.close()
    assert not errors and obj == 2 and set(tracker.current_masks) == {1, 2}


def test_end_of_stream_ends_the_run(clip):
    short = constant_speed_clip(speed=3.0, num_frames=12, width=320, height=180)
    tracker = LiveTracker(FakeCamera(short, realtime=True), "classic")
    tracker.step()
    tracker.add_click(*short.click(1, 0))
    stats = tracker.run()
    assert stats.frames >= 1
    with pytest.raises(StreamEnded):
        tracker.step()
    tracker.close()


@pytest.fixture(scope="module")
def frames_folder(tmp_path_factory, clip):
    folder = tmp_path_factory.mktemp("camera")
    for i, fr in enumerate(clip.frames[:90]):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(fr, cv2.COLOR_RGB2BGR))
    return folder


def test_live_command(tmp_path, frames_folder, clip):
    x, y = clip.click(1, 0)
    rec = tmp_path / "rec.s2s"
    proc = subprocess.run([sys.executable, "-m", "sam2studio", "live", "--file", str(frames_folder),
                           "--click", f"1:{x}:{y}", "--name", "1:ball", "--duration", "2", "--engine", "classic",
                           "--record", str(rec), "--status-every", "0.5", "--no-window"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fps" in proc.stderr and "latency p50" in proc.stderr and "p95" in proc.stderr
    assert proc.stdout.strip() == str(rec.resolve())
    with Session.open(rec, engine="classic") as s:
        assert s.objects[1].name == "ball" and s.num_frames > 10
        assert len(s.masks.present_frames(1)) == s.num_frames
    assert (tmp_path / "rec_frames").is_dir()


def test_live_command_help_and_errors(frames_folder):
    from sam2studio.cli import main

    proc = subprocess.run([sys.executable, "-m", "sam2studio", "live", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    assert "opencv-python-headless" in proc.stdout and "stderr" in proc.stdout and "--record" in proc.stdout
    assert main(["live", "--file", str(frames_folder), "--no-window"]) == 2  # no prompt, no window
    assert main(["live", "--file", str(frames_folder), "--click", "0:1:2"]) == 2
    assert main(["live", "--file", str(frames_folder) + "-missing", "--click", "1:1:2"]) == 2


def test_recording_starts_and_stops_while_tracking_and_reopens_ready_to_correct(clip, tmp_path):
    cam = FakeCamera(clip, realtime=True)
    tracker = LiveTracker(cam, "classic")
    tracker.step()
    tracker.add_click(*clip.click(1, 0))
    tracker.run(max_frames=5)
    assert tracker.recording is None
    path = tracker.start_recording(tmp_path / "part.s2s")
    assert tracker.recording == path
    shown = [tracker.step() for _ in range(6)]
    assert tracker.stop_recording() == path and tracker.recording is None
    tracker.run(max_frames=3)  # tracking goes on
    tracker.close()

    with Session.open(path, engine="classic") as s:
        assert s.num_frames == 6
        # the first recorded frame carries the object's mask as a prompt: ready to correct
        assert s.keyframes(1) == [0] and s.prompt(0, 1).kind == "mask"
        assert np.array_equal(s.mask(3, 1), shown[3].masks[1])
