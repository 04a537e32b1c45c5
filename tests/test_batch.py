"""``sam2studio batch``: many videos from a manifest, on local worker processes and on Ray.

Three short clips cut from the repository's test videos (classic engine, so they run in seconds),
one of them broken: the batch gives the same masks as single ``sam2studio segment`` runs, the
broken clip fails alone (summary + exit 1), a re-run skips what is finished and retries what
failed, an interrupted run (SIGKILL) resumes without redoing finished videos or counting a
half-written one, and the same holds through ``--ray`` on a local Ray instance.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE, data
from sam2studio import batch
from sam2studio.cli import main
from sam2studio.export.encode import transcode_clip

REPO = Path(__file__).resolve().parent.parent
# one xdist worker builds the module's clips and reference masks once for every test here
pytestmark = pytest.mark.xdist_group("batch")
QUALITY = ";quality"  # the quality report, one of the exports asked for
FRAMES = 24
# the prompts of the three clips (640x360: the sample clip cut at half size, the dog clip as it is)
PROMPTS = {
    "dog": ["--click", "1:0:300:215", "--name", "1:dog"],
    "cups": ["--click", "1:0:330:210", "--click", "2:0:200:232", "--direction", "forward"],
}


def run_cli(*args, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sam2studio", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=None if env is None else {**os.environ, **env})


def batch_with_fault(manifest: Path, out: Path, fault: str, **options) -> list[str]:
    """The command line of a batch run (classic engine) in a new process, with the worker hook
    ``tests/batch_faults.py:<fault>``; it prints the summary table and exits 1 if a video failed."""
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import batch_faults\n"
        "from sam2studio.batch import format_summary, load_manifest, run_batch\n"
        f"jobs = load_manifest({str(manifest)!r}, {{'engine': 'classic'}})\n"
        f"results = run_batch(jobs, {str(out)!r}, hook=batch_faults.{fault}, **{options!r})\n"
        "print(format_summary(results))\n"
        "sys.exit(1 if any(r.status == 'failed' for r in results) else 0)\n")
    return [sys.executable, "-c", code]


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """Clips dog.mp4, cups.mp4 and a truncated broken.mp4, the manifest (CSV) naming them,
    and the reference outputs of single ``segment`` runs."""
    root = tmp_path_factory.mktemp("batch")
    clips = root / "clips"
    clips.mkdir()
    transcode_clip(data("dog.mp4"), clips / "dog.mp4", FRAMES, scale=1.0)
    transcode_clip(SAMPLE, clips / "cups.mp4", FRAMES)
    (clips / "broken.mp4").write_bytes((clips / "dog.mp4").read_bytes()[:3000])  # truncated

    refs = {}
    for key, prompt in PROMPTS.items():  # single segment runs, each in a new process
        ref = root / "ref" / key
        proc = run_cli("segment", clips / f"{key}.mp4", "--out", ref, "--engine", "classic", *prompt)
        assert proc.returncode == 0, proc.stderr
        refs[key] = ref
    manifest = root / "manifest.csv"
    manifest.write_text(
        "# three short clips; relative paths resolve against this file's folder\n"
        "id,video,clicks,names,direction,exports\n"
        f"dog,clips/dog.mp4,1:0:300:215,1:dog,,coco;palette{QUALITY}\n"
        "cups,clips/cups.mp4,1:0:330:210;2:0:200:232,,forward,report\n"
        "broken,clips/broken.mp4,1:0:100:100,,,\n", encoding="utf-8")
    return {"root": root, "clips": clips, "refs": refs, "manifest": manifest}


def same_masks(got: Path, ref: Path) -> None:
    """The ``masks/`` folder of a batch video equals a ``segment`` output: same files, same
    decoded pixels, same objects.json."""
    names = sorted(p.name for p in ref.glob("frame_*_obj_*.png"))
    assert names and sorted(p.name for p in got.glob("frame_*_obj_*.png")) == names
    for n in names:
        if (got / n).read_bytes() != (ref / n).read_bytes():
            assert np.array_equal(np.array(Image.open(got / n)), np.array(Image.open(ref / n))), n
    assert json.loads((got / "objects.json").read_text()) == json.loads((ref / "objects.json").read_text())


def summary(out: Path) -> dict[str, dict]:
    return {v["key"]: v for v in json.loads((out / batch.SUMMARY_FILE).read_text())["videos"]}


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if batch.job._LEFTOVER_RE.fullmatch(p.name))


def check_first_run(proc: subprocess.CompletedProcess, out: Path, refs: dict) -> None:
    assert proc.returncode == 1, proc.stderr  # one video failed
    table = proc.stdout
    assert "broken" in table and "failed" in table and "3 video(s): 2 done, 1 failed, 0 skipped" in table
    broken_row = next(ln for ln in table.splitlines() if ln.startswith("broken"))
    assert "broken.mp4" in broken_row  # the reason names the file
    st = summary(out)
    assert st["dog"]["status"] == st["cups"]["status"] == "done"
    assert st["broken"]["status"] == "failed" and st["broken"]["reason"]
    for key, ref in refs.items():
        same_masks(out / key / "masks", ref)
        assert (out / key / batch.DONE_MARKER).is_file() and (out / key / "project.s2s").is_file()
    assert (out / "dog" / "coco.json").is_file() and len(list((out / "dog" / "palette").glob("*.png"))) == FRAMES
    if QUALITY:
        assert "objects" in json.loads((out / "dog" / "quality.json").read_text())
    assert json.loads((out / "cups" / "report.json").read_text())
    assert not (out / "broken").exists() and leftovers(out) == []
    assert "Traceback" not in proc.stderr


def check_second_run(proc: subprocess.CompletedProcess, out: Path, done_before: dict[str, float]) -> None:
    assert proc.returncode == 1, proc.stderr  # the broken clip is retried and fails again
    st = summary(out)
    assert st["dog"]["status"] == st["cups"]["status"] == "skipped"
    assert st["broken"]["status"] == "failed"
    for key, mtime in done_before.items():  # not redone
        assert (out / key / batch.DONE_MARKER).stat().st_mtime_ns == mtime
    assert "2 skipped" in proc.stdout


# ---- local workers -------------------------------------------------------------------------
def test_local_workers_match_segment_skip_finished_and_retry_failed(material, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = run_cli("batch", material["manifest"], "--out", out, "--workers", "2", "--engine", "classic")
    first = time.monotonic() - t0
    check_first_run(proc, out, material["refs"])
    assert proc.stderr.strip() == ""  # no bar, no noise when stderr is not a terminal
    done = json.loads((out / "dog" / batch.DONE_MARKER).read_text())
    assert done["engine"] == "classic" and done["frames"] == FRAMES and done["line"] == 3

    mtimes = {k: (out / k / batch.DONE_MARKER).stat().st_mtime_ns for k in ("dog", "cups")}
    proc = run_cli("batch", material["manifest"], "--out", out, "--workers", "2", "--engine", "classic")
    check_second_run(proc, out, mtimes)

    # the broken clip is mended: the next run does it and only it
    fixed = tmp_path / "fixed.csv"
    clips = material["clips"]
    shutil.copy(clips / "dog.mp4", tmp_path / "broken.mp4")
    fixed.write_text(material["manifest"].read_text().replace("clips/broken.mp4", str(tmp_path / "broken.mp4"))
                     .replace("clips/", str(clips) + "/"), encoding="utf-8")
    proc = run_cli("batch", fixed, "--out", out, "--engine", "classic", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    st = summary(out)
    assert [st[k]["status"] for k in ("dog", "cups", "broken")] == ["skipped", "skipped", "done"]
    assert (out / "broken" / batch.DONE_MARKER).is_file()
    print(f"first local run (2 workers): {first:.1f}s")


def test_a_changed_entry_is_redone_and_force_redoes_all(material, tmp_path):
    m = tmp_path / "one.jsonl"
    dog = material["clips"] / "dog.mp4"
    m.write_text(json.dumps({"id": "dog", "video": str(dog), "clicks": ["1:0:320:180"], "engine": "classic"}) + "\n")
    out = tmp_path / "out"
    assert main(["batch", str(m), "--out", str(out), "--quiet"]) == 0
    first = (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns
    assert main(["batch", str(m), "--out", str(out), "--quiet"]) == 0
    assert (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns == first  # skipped
    m.write_text(json.dumps({"id": "dog", "video": str(dog), "clicks": ["1:0:320:180"], "engine": "classic",
                             "exports": ["npz"]}) + "\n")
    assert main(["batch", str(m), "--out", str(out), "--quiet"]) == 0
    assert (out / "dog" / "npz.npz").is_file() and summary(out)["dog"]["status"] == "done"
    second = (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns
    assert main(["batch", str(m), "--out", str(out), "--quiet", "--force"]) == 0
    assert (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns != second
    assert leftovers(out) == []


def test_a_crashing_worker_does_not_stop_the_others(material, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(batch_with_fault(material["manifest"], out, "crash_cups", workers=2), capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    st = summary(out)
    assert st["dog"]["status"] == "done" and st["broken"]["status"] == "failed"
    assert st["cups"]["status"] == "failed" and "crashed" in st["cups"]["reason"]
    assert "SIGKILL" in st["cups"]["reason"]
    assert not (out / "cups").exists() and leftovers(out) == []
    same_masks(out / "dog" / "masks", material["refs"]["dog"])


def test_a_video_over_the_timeout_is_stopped_and_the_next_one_runs(material, tmp_path):
    m = tmp_path / "m.jsonl"
    clips = material["clips"]
    m.write_text(json.dumps({"id": "dog", "video": str(clips / "dog.mp4"), "clicks": ["1:0:300:215"]}) + "\n"
                 + json.dumps({"id": "cups", "video": str(clips / "cups.mp4"),
                               "clicks": ["1:0:330:210", "2:0:200:232"], "direction": "forward"}) + "\n")
    out = tmp_path / "out"
    # the limit leaves the cups clip room on a busy machine (on a fresh worker, which imports
    # OpenCV and PyAV first, it took 2.0 s on the idle 2-core machine and 6.1 s at load
    # average 7, before the tests' OpenCV got one thread per worker); the dog job waits a
    # minute after writing, far past it
    proc = subprocess.run(batch_with_fault(m, out, "slow_dog", workers=1, timeout=10.0), capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    st = summary(out)
    assert st["dog"]["status"] == "failed" and "timed out after 10 s" in st["dog"]["reason"]
    assert st["cups"]["status"] == "done", st["cups"]  # on a fresh worker
    assert not (out / "dog").exists() and leftovers(out) == []
    same_masks(out / "cups" / "masks", material["refs"]["cups"])


def test_batch_imports_without_qt_ray_or_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'ray'):\n"
        "            raise ImportError('not allowed here: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sam2studio.batch, sam2studio.cli\n"
        "sam2studio.cli.build_parser()\n"
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_an_interrupted_batch_resumes_without_redoing_finished_videos(material, tmp_path):
    judo = data("judo", "frames")
    mask0 = data("judo", "masks", "00000.png")
    clips = material["clips"]
    m = tmp_path / "m.jsonl"
    lines = [
        {"id": "dog", "video": str(clips / "dog.mp4"), "clicks": ["1:0:300:215"], "names": ["1:dog"],
         "exports": ["coco", "palette"]},
        {"id": "cups", "video": str(clips / "cups.mp4"), "clicks": ["1:0:330:210", "2:0:200:232"],
         "direction": "forward", "exports": ["report"]},
        {"id": "judo", "video": str(judo), "masks": [f"1:0:{mask0}"], "direction": "forward"},
    ]
    m.write_text("".join(json.dumps(d) + "\n" for d in lines))
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_with_fault(m, out, "slow_cups", workers=1), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        # wait until dog is done and cups has written its outputs under its temporary name
        while time.monotonic() < deadline:
            tmps = list(out.glob(".cups.tmp-*")) if out.exists() else []
            if (out / "dog" / batch.DONE_MARKER).is_file() and tmps and (tmps[0] / "project.s2s").is_file():
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        else:
            pytest.fail("the batch did not get to the second video in time")
        workers = _children(proc.pid)
        assert workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "a worker outlived the batch"

    # a half-written video is under its temporary name only: not done
    assert leftovers(out) and not (out / "cups").exists() and not (out / "judo").exists()
    todo, skipped = batch.plan(batch.load_manifest(m, {"engine": "classic"}), out)
    assert [j.key for j in todo] == ["cups", "judo"] and [r.key for r in skipped] == ["dog"]
    dog_done = (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns

    proc2 = run_cli("batch", m, "--out", out, "--workers", "1", "--engine", "classic")
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    st = summary(out)
    assert [st[k]["status"] for k in ("dog", "cups", "judo")] == ["skipped", "done", "done"]
    assert json.loads((out / batch.SUMMARY_FILE).read_text())["cleaned_leftovers"] == 1
    assert (out / "dog" / batch.DONE_MARKER).stat().st_mtime_ns == dog_done
    assert leftovers(out) == []
    same_masks(out / "cups" / "masks", material["refs"]["cups"])
    assert len(list((out / "judo" / "masks").glob("frame_*_obj_1.png"))) == 16


# ---- Ray -------------------------------------------------------------------------------------
def test_the_same_batch_on_a_local_ray_instance(material, tmp_path):
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("Ray is not installed, so --ray cannot be tested: pip install 'sam2studio[ray]' "
                    "(or pip install -e '.[dev]')")
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = run_cli("batch", material["manifest"], "--out", out, "--ray", "--engine", "classic")
    first = time.monotonic() - t0
    check_first_run(proc, out, material["refs"])
    assert json.loads((out / batch.SUMMARY_FILE).read_text())["runner"] == "ray (local)"
    # (a re-run skips finished videos before any runner starts: the local workers' test checks
    # it; a second Ray run here would start another Ray instance to check the same code)
    print(f"ray run: {first:.1f}s")


def test_ray_missing_says_how_to_install(material, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = main(["batch", str(material["manifest"]), "--out", str(tmp_path / "o"), "--ray"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "pip install 'sam2studio[ray]'" in err[0]
    assert not (tmp_path / "o").exists()


# ---- the manifest ----------------------------------------------------------------------------
def test_bad_manifest_exits_2_naming_the_line(tmp_path):
    m = tmp_path / "manifest.csv"
    m.write_text("video,clicks\n"
                 "a.mp4,1:0:5:5\n"
                 "# a comment line\n"
                 "b.mp4,1:0:x:5\n")
    proc = run_cli("batch", m, "--out", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["sam2studio: error: manifest.csv line 4: --click '1:0:x:5': X must be a number, got 'x'"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, text, expected", [
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"]}\n{"video": "b.mp4", "clicks": ["1:0:5:5"]\n',
     "m.jsonl line 2: not valid JSON"),
    ("m.jsonl", '\n{"video": "a.mp4", "boxes": ["1:0:5:5"]}\n',
     "m.jsonl line 2: --box '1:0:5:5' must be OBJ:FRAME:X0:Y0:X1:Y1"),
    ("m.jsonl", '{"video": "a.mp4"}\n', "m.jsonl line 1: no prompt"),
    ("m.jsonl", '{"clicks": ["1:0:5:5"]}\n', "m.jsonl line 1: no video"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "exports": ["gif"]}\n',
     "m.jsonl line 1: unknown export format 'gif'"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "clikcs": []}\n', "m.jsonl line 1: unknown field 'clikcs'"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "engine": "fast"}\n', "m.jsonl line 1: engine 'fast'"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "engine": "classic", "weights": "random"}\n',
     "m.jsonl line 1: weights 'random' is for the sam2 engine"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "direction": "up"}\n', "m.jsonl line 1: direction 'up'"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "engine": "classic", "memory_budget": 256}\n',
     "m.jsonl line 1: memory_budget is for the sam2 engine"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": "1:0:5:5", "seed": "x"}\n', "m.jsonl line 1: seed must be an integer"),
    ("m.jsonl", '{"video": "x/a.mp4", "clicks": ["1:0:5:5"]}\n{"video": "y/a.mp4", "clicks": ["1:0:5:5"]}\n',
     "m.jsonl line 2: output folder 'a' is already used by line 1"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "id": "../up"}\n', "m.jsonl line 1: id '../up'"),
    ("m.jsonl", '{"video": "a.mp4", "clicks": ["1:0:5:5"], "exports": ["coco", "coco objects=1"]}\n',
     "m.jsonl line 1: exports 'coco' and 'coco' both write 'coco.json'"),
    ("m.jsonl", "# only a comment\n", "manifest m.jsonl lists no videos"),
    ("m.csv", "video,clicks,colour\na.mp4,1:0:5:5,red\n", "m.csv line 1: unknown column 'colour'"),
    ("m.csv", "clicks\n1:0:5:5\n", "m.csv line 1: the header has no 'video' column"),
    ("m.csv", "video,masks\na.mp4,1:0\n", "m.csv line 2: --mask '1:0' must be OBJ:FRAME:PATH"),
    ("m.csv", "video,clicks,exports\na.mp4,1:0:5:5,overlay opacity\n", "m.csv line 2: export 'overlay opacity'"),
    ("m.txt", "video\n", "unknown format '.txt'"),
])
def test_manifest_errors_name_the_line(tmp_path, capsys, name, text, expected):
    m = tmp_path / name
    m.write_text(text)
    assert main(["batch", str(m), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_manifest_formats_and_defaults(tmp_path):
    (tmp_path / "clips").mkdir()
    m = tmp_path / "m.csv"
    m.write_text('video,clicks,boxes,masks,names,engine,seed,exports,start\n'
                 'clips/My Clip.mp4,1:0:10:20:0;1:0:30:40,2:3:1:2:30:40,3:1:m/a.png,1:cat;2:dog,sam2,7,'
                 '"overlay opacity=0.6 out=preview.mp4;coco objects=1,2 frames=0:10;png;quality",2\n')
    (job,) = batch.load_manifest(m, {"engine": "classic", "device": "cpu", "weights": "random"})
    assert job.key == "My_Clip" and job.video == str(tmp_path / "clips" / "My Clip.mp4")
    assert [(c.x, c.y, c.label) for c in job.clicks] == [(10.0, 20.0, 0), (30.0, 40.0, 1)]
    assert job.boxes[0].box == (1.0, 2.0, 30.0, 40.0) and job.masks[0].path == tmp_path / "m" / "a.png"
    assert job.names == {1: "cat", 2: "dog"} and job.object_ids() == [1, 2, 3]
    assert (job.engine, job.device, job.weights, job.seed, job.start) == ("sam2", "cpu", "random", 7, 2)
    ex = {e.format: e for e in job.exports}
    assert "png" not in ex  # masks/ is always written
    assert ex["overlay"].out == "preview.mp4" and ex["overlay"].options == {"opacity": 0.6}
    assert ex["coco"].out == "coco.json" and ex["coco"].objects == [1, 2] and ex["coco"].frames == "0:10"

    j = tmp_path / "m.jsonl"
    j.write_text(json.dumps({"video": "/abs/clip.mp4", "id": "c1", "clicks": ["1:0:5:5"], "names": {"1": "x"},
                             "image_size": 256, "exports": [{"format": "background",
                                                             "options": {"image": "bg.png"}}]}) + "\n")
    (job,) = batch.load_manifest(j)
    assert job.key == "c1" and job.names == {1: "x"} and job.image_size == 256 and job.engine == "auto"
    assert job.exports[0].out == "background.mp4"
    assert job.exports[0].options["image"] == str(tmp_path / "bg.png")
    assert job.fingerprint() == batch.load_manifest(j)[0].fingerprint()


def test_the_documented_examples_parse():
    for name in ("batch_manifest.jsonl", "batch_manifest.csv"):
        jobs = batch.load_manifest(REPO / "examples" / name)
        assert len(jobs) >= 3 and len({j.key for j in jobs}) == len(jobs)


def test_default_workers_fit_the_machine():
    classic = batch.VideoJob(key="a", video="a.mp4", engine="classic")
    assert batch.default_workers([classic] * 64) == (os.cpu_count() or 1)
    assert batch.default_workers([classic]) == 1
    sam2_cpu = batch.VideoJob(key="b", video="b.mp4", engine="sam2", device="cpu")
    assert 1 <= batch.default_workers([sam2_cpu] * 64) <= max(1, (os.cpu_count() or 1) // 2)
