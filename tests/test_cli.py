"""The headless CLI: the ARCHITECTURE.md contract (names, objects.json, exit codes, one-line
errors) with both engines, and every bad input answered with one clear line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import data
from sam2studio.cli import main
from sam2studio.export.encode import transcode_clip


def run_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process (stderr is not a terminal)."""
    return subprocess.run([sys.executable, "-m", "sam2studio", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def check_segment_output(out: Path, num_frames: int, size: tuple[int, int], ids=(1,)):
    files = sorted(p.name for p in out.glob("frame_*_obj_*.png"))
    assert len(files) == num_frames * len(ids)
    for o in ids:
        assert f"frame_0000_obj_{o}.png" in files and f"frame_{num_frames - 1:04d}_obj_{o}.png" in files
    img = np.array(Image.open(out / f"frame_0000_obj_{ids[0]}.png"))
    assert img.shape == (size[1], size[0]) and set(np.unique(img)) <= {0, 255}
    meta = json.loads((out / "objects.json").read_text())
    assert [o["id"] for o in meta["objects"]] == list(ids)
    return meta


def test_segment_a_real_clip_with_the_classic_engine(tmp_path):
    """A real clip (48 frames of a dog, 640x360); the bundled 150-frame sample goes through
    the same command in the README's blocks (test_readme)."""
    out = tmp_path / "masks"
    proc = run_cli("segment", data("dog.mp4"), "--out", out, "--click", "1:0:300:215", "--name", "1:dog",
                   "--engine", "classic", "--project", tmp_path / "dog.s2s")
    assert proc.returncode == 0, proc.stderr
    meta = check_segment_output(out, 48, (640, 360))
    assert meta["objects"][0]["name"] == "dog"
    assert len(meta["objects"][0]["frames_present"]) == 48
    assert (tmp_path / "dog.s2s").is_file()
    assert proc.stderr.strip() == ""  # no progress bars when stderr is not a terminal


def test_segment_a_real_clip_with_sam2_random_weights(tmp_path):
    video = transcode_clip(data("dog.mp4"), tmp_path / "dog16.mp4", 16, scale=1.0)  # 16 real frames, 640x360
    out = tmp_path / "masks"
    proc = run_cli("segment", video, "--out", out, "--click", "1:0:300:215", "--engine", "sam2",
                   "--weights", "random", "--seed", "0", "--image-size", "256")
    assert proc.returncode == 0, proc.stderr
    check_segment_output(out, 16, (640, 360))
    assert "RANDOM weights" in proc.stderr
    assert "fill_holes" not in proc.stderr and "_C" not in proc.stderr


def test_segment_then_export_the_project(tmp_path):
    frames = data("judo", "frames")
    proc = run_cli("segment", frames, "--out", tmp_path / "m", "--mask", f"1:0:{data('judo', 'masks', '00000.png')}",
                   "--mask", f"2:5:{data('judo', 'masks', '00005.png')}", "--direction", "forward",
                   "--engine", "classic", "--project", tmp_path / "judo.s2s")
    assert proc.returncode == 0, proc.stderr
    check_segment_output(tmp_path / "m", 16, (428, 240), ids=(1, 2))
    assert main(["export", str(tmp_path / "judo.s2s"), "--format", "palette", "--out", str(tmp_path / "pal")]) == 0
    assert len(list((tmp_path / "pal").glob("*.png"))) == 16
    assert main(["export", str(tmp_path / "judo.s2s"), "--format", "coco", "--out", str(tmp_path / "c.json"),
                 "--objects", "2", "--frames", "5:10"]) == 0
    coco = json.loads((tmp_path / "c.json").read_text())
    assert {a["category_id"] for a in coco["annotations"]} == {2}


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clip")
    for i in range(3):
        Image.fromarray(np.full((40, 60, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("args, message", [
    (["--click", "1:0:10"], "OBJ:FRAME:X:Y"),
    (["--click", "a:0:10:10"], "OBJ must be an integer"),
    (["--click", "0:0:10:10"], "positive integers"),
    (["--click=-1:0:10:10"], "positive integers"),
    (["--click", "1:0:10:10:7"], "LABEL is 1"),
    (["--click", "1:0:100:10"], "outside the frame"),
    (["--click", "1:9:10:10"], "out of range"),
    (["--box", "1:0:10:10:5"], "OBJ:FRAME:X0:Y0:X1:Y1"),
    (["--box", "1:0:30:30:10:10"], "empty"),
    (["--mask", "1:0:/no/such.png"], "does not exist"),
    ([], "at least one --click"),
    (["--click", "1:0:10:10", "--engine", "sam2", "--checkpoint", "/no/such.pt"], "does not exist"),
    (["--click", "1:0:10:10", "--engine", "nope"], "invalid choice"),
])
def test_bad_segment_arguments_get_one_line_and_exit_2(tmp_path, tiny_video, args, message):
    proc = run_cli("segment", tiny_video, "--out", tmp_path / "o", *args, timeout=120)
    assert message in one_line_error(proc)
    assert not (tmp_path / "o").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "does not exist"),
    (lambda d: _write(d / "empty.mp4", b""), "empty"),
    (lambda d: _write(d / "text.mp4", b"hello " * 100), "could not be opened"),
    (lambda d: (d / "nothing").mkdir() or d / "nothing", "contains no images"),
])
def test_bad_videos_get_one_line_and_exit_2(tmp_path, make, message):
    proc = run_cli("segment", make(tmp_path), "--out", tmp_path / "o", "--click", "1:0:1:1", timeout=120)
    assert message in one_line_error(proc)


def test_truncated_video_gets_one_line_and_exit_2(tmp_path):
    whole = data("dog.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 50])
    proc = run_cli("segment", cut, "--out", tmp_path / "o", "--click", "1:0:1:1", timeout=120)
    assert str(cut.name) in one_line_error(proc)


def test_unwritable_output_gets_one_line_and_exit_2(tmp_path, tiny_video):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("segment", tiny_video, "--out", blocker / "sub", "--click", "1:0:5:5", "--engine", "classic",
                   timeout=120)
    one_line_error(proc)
    proc = run_cli("segment", tiny_video, "--out", blocker, "--click", "1:0:5:5", "--engine", "classic", timeout=120)
    assert "is a file" in one_line_error(proc)


def test_corrupt_or_mismatched_checkpoint_gets_one_line_and_exit_2(tmp_path, tiny_video):
    import torch

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage" * 1000)
    proc = run_cli("segment", tiny_video, "--out", tmp_path / "o", "--click", "1:0:5:5", "--engine", "sam2",
                   "--checkpoint", junk, timeout=300)
    assert "junk.pt" in one_line_error(proc)
    wrong = tmp_path / "wrong.pt"
    torch.save({"model": {"not_a_sam2_weight": torch.zeros(3)}}, wrong)
    proc = run_cli("segment", tiny_video, "--out", tmp_path / "o", "--click", "1:0:5:5", "--engine", "sam2",
                   "--checkpoint", wrong, timeout=300)
    assert "wrong.pt" in one_line_error(proc)


def test_export_bad_input_gets_one_line_and_exit_2(tmp_path, capsys):
    assert main(["export", str(tmp_path / "none.s2s"), "--format", "png", "--out", str(tmp_path / "o")]) == 2
    assert main(["export", str(tmp_path / "none.s2s"), "--format", "gif", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "unknown export format 'gif'" in err[1]


def test_models_list_shows_the_catalogue(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large", "sam2-tiny"):
        assert name in out
    assert main(["models", "download", "sam9-huge"]) == 2


def test_segment_and_export_print_a_one_line_summary_unless_quiet(tmp_path, tiny_video, capsys):
    project = tmp_path / "p.s2s"
    assert main(["segment", str(tiny_video), "--out", str(tmp_path / "m"), "--click", "1:0:5:5", "--click",
                 "2:1:50:30", "--engine", "classic", "--project", str(project)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "2 objects" in out[0] and "3 frames" in out[0] and "classic" in out[0]
    assert str(tmp_path / "m") in out[0] and str(project) in out[0]

    assert main(["export", str(project), "--format", "coco", "--out", str(tmp_path / "c.json"),
                 "--objects", "2", "--frames", "1:3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"export: coco of 1 object, 2 frames -> {tmp_path / 'c.json'}"]

    assert main(["segment", str(tiny_video), "--out", str(tmp_path / "q"), "--click", "1:0:5:5",
                 "--engine", "classic", "--quiet"]) == 0
    assert main(["export", str(project), "--format", "png", "--out", str(tmp_path / "png"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert (tmp_path / "q" / "frame_0002_obj_1.png").is_file() and (tmp_path / "png" / "objects.json").is_file()


def test_export_quality_is_an_export_format(tmp_path, tiny_video, capsys):
    project = tmp_path / "p.s2s"
    assert main(["segment", str(tiny_video), "--out", str(tmp_path / "m"), "--click", "1:0:5:5",
                 "--engine", "classic", "--project", str(project), "--quiet"]) == 0
    assert main(["export", str(project), "--format", "quality", "--out", str(tmp_path / "q.json"),
                 "-o", "min_iou=0.5", "--quiet"]) == 0
    doc = json.loads((tmp_path / "q.json").read_text())
    assert doc["thresholds"]["min_iou"] == 0.5 and doc["num_frames"] == 3 and set(doc["objects"]) == {"1"}
    assert "frames" not in doc
    assert main(["export", str(project), "--format", "quality", "--out", str(tmp_path / "q2.json"),
                 "-o", "min_confidence=1.01", "--frames", "1:3", "--quiet"]) == 0
    doc = json.loads((tmp_path / "q2.json").read_text())
    assert doc["frames"] == [1, 3] and [d["frame"] for d in doc["objects"]["1"]["flags"]] == [1, 2]
    assert main(["export", str(project), "--format", "quality", "--out", str(tmp_path / "x.json"),
                 "-o", "min_drift=3"]) == 2
    assert "min_drift" in capsys.readouterr().err


def test_help_shows_how_to_open_the_app_and_every_command(capsys):
    from sam2studio.cli import SUBCOMMANDS

    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    usage = text.split("\n\n")[0]
    assert usage.startswith("usage: sam2studio [VIDEO|FOLDER|PROJECT.s2s]")
    assert all(c in usage for c in SUBCOMMANDS) and "-V | --version" in usage
    for command in SUBCOMMANDS:  # each command's own usage line names it
        assert main([command, "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: sam2studio {command} ")


def test_every_option_of_every_command_has_help_text():
    import argparse

    from sam2studio.cli import build_parser

    def walk(parser, path):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction):
                yield path, action

    missing = [f"{path} {action.option_strings or action.dest}" for path, action in walk(build_parser(), "sam2studio")
               if not (action.help and action.help.strip())]
    assert missing == []
    direction = next(a for p, a in walk(build_parser(), "sam2studio") if "--direction" in a.option_strings)
    assert "forward" in direction.help and "backward" in direction.help


def test_segment_help_ends_with_two_examples(capsys):
    assert main(["segment", "--help"]) == 0
    text = capsys.readouterr().out.rstrip()
    tail = text[text.rindex("examples:"):].splitlines()[1:]
    commands = [ln.strip() for ln in tail if ln.strip().startswith("sam2studio segment ")]
    assert len(commands) == 2 and all("--out" in c for c in commands)
    assert text.splitlines()[-1].startswith(" ")  # the examples are the last thing printed


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_dash_v_prints_the_version_like_dash_dash_version(flag, capsys):
    from sam2studio import __version__

    assert main([flag]) == 0
    assert capsys.readouterr().out.strip() == f"sam2studio {__version__}"
    proc = run_cli(flag, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == f"sam2studio {__version__}"


def test_segment_objects_tracks_only_those_and_names_the_untracked_on_stderr(tmp_path, tiny_video, capsys):
    args = ["segment", str(tiny_video), "--click", "1:0:5:5", "--click", "2:1:50:30", "--name", "2:ball",
            "--engine", "classic", "--objects", "2", "--direction", "forward"]
    assert main(args + ["--out", str(tmp_path / "a"), "--start", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("; tracked no object")
    assert captured.err.strip().endswith("ball has no prompt on or before frame 0: nothing to track forward")

    assert main(args + ["--out", str(tmp_path / "b")]) == 0  # default start: where ball can be tracked
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("; tracked ball: frames 1-2") and captured.err == ""

    for bad, message in ((["--objects", "0"], "positive"), (["--objects", "x"], "object ids"),
                         (["--objects", "5"], "object 5 has no --click")):
        assert main(args[:-4] + bad + ["--out", str(tmp_path / "c")]) == 2
        assert message in capsys.readouterr().err
