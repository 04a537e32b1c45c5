"""The HTML tracking and quality report (export/report_html.py): figures, plots, validity,
agreement with the JSON report, and the page as a real browser shows it."""

from __future__ import annotations

import html as htmlmod
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sam2studio.core.objects import TrackedObject
from sam2studio.core.project import Project
from sam2studio.core.video import ArrayVideo
from sam2studio.errors import UserError
from sam2studio.export.report_html import build_html_report, export_report_html, time_code

html5lib = pytest.importorskip("html5lib", reason="html5lib checks the page's HTML (dev extra)")
pytest.importorskip("matplotlib", reason="the HTML report draws with matplotlib (report extra)")

H, W, N, FPS = 240, 320, 60, 25.0
SPEED = 4  # px/frame of the ball while it moves right
GLITCH = 37  # the box's mask jumps away on this frame: a flagged frame


def ball_centre(f: int) -> tuple[int, int]:
    """Right at SPEED px/frame for frames 0-30, still 30-45, then down at 5 px/frame."""
    return 40 + SPEED * min(f, 30), (80 if f < 45 else 80 + 5 * (f - 45))


def _clip():
    rng = np.random.default_rng(0)
    bg = cv2.GaussianBlur((rng.random((H, W, 3)) * 255).astype(np.uint8), (0, 0), 3)
    frames, m1s, m2s = [], [], []
    for f in range(N):
        im = bg.copy()
        m1 = np.zeros((H, W), np.uint8)
        cv2.circle(m1, ball_centre(f), 18, 1, -1)
        m2 = np.zeros((H, W), np.uint8)
        if not 20 <= f < 30:  # the box is hidden on frames 20-29
            cv2.rectangle(m2, (200, 150), (240, 200), 1, -1)
        if f == GLITCH:
            m2[:] = 0
            cv2.rectangle(m2, (60, 10), (140, 60), 1, -1)
        im[m1 > 0] = (230, 40, 40)
        im[m2 > 0] = (40, 200, 40)
        frames.append(im)
        m1s.append(m1)
        m2s.append(m2)
    return frames, m1s, m2s


@pytest.fixture(scope="module")
def clip():
    frames, m1s, m2s = _clip()
    video = ArrayVideo(frames, fps=FPS)
    project = Project.for_video(video)
    project.add_object(TrackedObject(1, "ball"))
    project.add_object(TrackedObject(2, "box"))
    for f in range(N):
        project.masks.set(f, 1, m1s[f])
        project.masks.set(f, 2, m2s[f])
    return project, video


@pytest.fixture(scope="module")
def page(clip):
    project, video = clip
    return build_html_report(project, video, options={"px_per_m": 40, "engine": "classic"})


def _data(page_html: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page_html, re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def _resolve(data: dict, src: str):
    kind, path = src.split(":", 1)
    node = data[kind] if kind != "meta" else data["meta"]
    for part in path.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def test_known_motion_gives_its_speed_and_a_stop_event(page):
    text, data = page
    ball = data["report"]["objects"][0]
    moving = [r for r in ball["frames"] if 1 <= r["frame"] <= 29]
    assert all(r["speed_px_per_s"] == pytest.approx(SPEED * FPS, rel=0.02) for r in moving)
    stops = [e for e in ball["events"] if e["type"] == "stops_moving"]
    assert len(stops) == 1 and abs(stops[0]["frame"] - 31) <= 1
    # the stop is in the page's event table, with its frame and time code
    assert re.search(r"<td>stops</td><td class=\"n\"><span class=\"num\" "
                     r"data-src=\"report:objects\.0\.events\.\d+\.frame\">"
                     + str(stops[0]["frame"]) + "</span></td><td class=\"tc\">"
                     + re.escape(time_code(stops[0]["time"])), text)
    # metric units from the scale: 40 px per metre
    d = data["derived"]["objects"][0]
    assert d["total_distance_m"] == pytest.approx(ball["total_distance_px"] / 40, abs=1e-3)
    assert d["max_speed_m_per_s"] == pytest.approx(5 * FPS / 40, rel=0.05)  # 5 px/frame downwards


def test_every_number_shown_equals_the_json(page):
    text, data = page
    nums = re.findall(r'<span class="num" data-src="([^"]+)">([^<]+)</span>', text)
    assert len(nums) > 40
    kinds = set()
    for src, shown in nums:
        value = _resolve(data, src)
        s = shown.replace(",", "")
        decimals = len(s.split(".")[1]) if "." in s else 0
        assert abs(float(s) - float(value)) <= 0.5 * 10 ** -decimals + 1e-9, (src, shown, value)
        kinds.add(src.split(":")[0])
    assert kinds == {"report", "derived", "meta"}
    # derived figures follow from the JSON alone
    for o, d in zip(data["report"]["objects"], data["derived"]["objects"]):
        assert d["frames_present"] == len(o["frames"])
        assert d["time_on_screen_s"] == pytest.approx(sum(s["end_time"] - s["start_time"] for s in o["segments"]))
        assert d["flagged_frames"] == len(o["quality_flags"])
    box = data["derived"]["objects"][1]
    assert box["time_on_screen_s"] == pytest.approx(50 / FPS)  # hidden on 10 of 60 frames


def test_page_is_valid_self_contained_html(page):
    text, _ = page
    html5lib.HTMLParser(strict=True).parse(text)  # raises on any parse error
    assert text.startswith("<!DOCTYPE html>")
    assert '<meta name="viewport"' in text
    srcs = re.findall(r'\s(?:src|href)="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/") for s in srcs)  # nothing fetched from anywhere
    assert "http://" not in text and "https://" not in text


def test_flagged_frames_show_thumbnails_with_frame_and_time_code(page):
    text, data = page
    box = data["report"]["objects"][1]
    flagged = [f["frame"] for f in box["quality_flags"]]
    assert GLITCH in flagged
    j = flagged.index(GLITCH)
    cap = re.search(rf'<figure><img alt="frame {GLITCH}"[^>]*><figcaption>frame <span class="num" '
                    rf'data-src="report:objects\.1\.quality_flags\.{j}\.frame">{GLITCH}</span> · '
                    r'<span class="tc">([^<]+)</span><br>([^<]*)</figcaption>', text)
    assert cap is not None
    assert cap.group(1) == time_code(GLITCH / FPS) == "00:01.480"
    assert htmlmod.unescape(cap.group(2)) == box["quality_flags"][j]["message"]
    assert data["derived"]["objects"][0]["flagged_frames"] == 0  # the steady ball is never flagged


def test_time_codes():
    assert time_code(0) == "00:00.000"
    assert time_code(61.5) == "01:01.500"
    assert time_code(3725.25) == "1:02:05.250"


def test_bad_options_are_user_errors(clip, tmp_path):
    project, video = clip
    with pytest.raises(UserError, match="unknown option 'colour'"):
        export_report_html(project, video, tmp_path / "r.html", options={"colour": "red"})
    with pytest.raises(UserError, match="px_per_m must be positive"):
        export_report_html(project, video, tmp_path / "r.html", options={"px_per_m": -3})
    assert not (tmp_path / "r.html").exists()


def test_missing_matplotlib_is_a_clear_error(clip, tmp_path, monkeypatch):
    project, video = clip
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match="pip install matplotlib"):
        export_report_html(project, video, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _folder_project(tmp_path: Path) -> Path:
    """The clip as an image folder with a saved project that the CLI can open."""
    from sam2studio.session import Session

    frames, m1s, m2s = _clip()
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, im in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    with Session.open(folder, engine="classic") as s:
        s.add_object("ball")
        s.add_object("box")
        for f in range(N):
            s.masks.set(f, 1, m1s[f])
            s.masks.set(f, 2, m2s[f])
        return s.save(tmp_path / "clip.s2s")


def test_session_and_cli_write_the_report(tmp_path):
    from sam2studio.session import Session

    proj = _folder_project(tmp_path)
    with Session.open(proj, engine="classic") as s:
        out = s.export("report-html", tmp_path / "api.html", objects=[1])
    text = out.read_text(encoding="utf-8")
    data = _data(text)
    assert [o["name"] for o in data["report"]["objects"]] == ["ball"]
    assert data["meta"]["engine"] == "classic"
    r = subprocess.run([sys.executable, "-m", "sam2studio", "export", str(proj), "--format", "report-html",
                        "--out", str(tmp_path / "cli.html"), "-o", "px_per_m=40", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cli = _data((tmp_path / "cli.html").read_text(encoding="utf-8"))
    assert cli["meta"]["px_per_m"] == 40
    assert [o["name"] for o in cli["report"]["objects"]] == ["ball", "box"]


# ---- the page in a real browser ---------------------------------------------------------------
CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             shutil.which("google-chrome")) if p), None)
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]
# what the page measures of itself at a given width: the report in a frame that wide (headless
# windows are at least 500 px wide), read from the test's wrapper page once everything loaded
PROBE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" style="width:{width}px;height:2000px;border:0"></iframe>
<script>document.getElementById('f').addEventListener('load',()=>{{const w=document.getElementById('f').contentWindow;
const d=document.createElement('div');d.id='probe';
d.textContent=JSON.stringify({{sw:w.document.documentElement.scrollWidth,
w:w.innerWidth,imgs:[...w.document.images].filter(i=>!(i.complete&&i.naturalWidth>0)).length}});
document.body.appendChild(d);}});</script></body></html>"""


def _browse(page: Path, tmp: Path, width: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={tmp / 'profile'}",
                           f"--window-size={width},2200", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def _console_messages(stderr: str) -> list[str]:
    """What the page wrote to the console. Chromium logs every console message (errors,
    failed loads, logs) at one level, so any message counts: the report runs no script."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE:" in ln]


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (scripts/setup.sh --dev installs "
                                             "Debian's chromium when run as root)")
def test_page_renders_in_a_real_browser_at_desktop_and_phone_width(page, tmp_path):
    text, _ = page
    report = tmp_path / "report.html"
    report.write_text(text, encoding="utf-8")
    # the console check sees errors: a page that logs one is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>console.error('broken page')</script></body></html>")
    assert _console_messages(_browse(bad, tmp_path, 800, "--dump-dom").stderr)
    # the report at 1280 px: a screenshot that is not blank, and no console errors
    shot = tmp_path / "desktop.png"
    r = _browse(report, tmp_path, 1280, f"--screenshot={shot}")
    assert shot.exists(), r.stderr[-2000:]
    assert not _console_messages(r.stderr)
    img = cv2.imread(str(shot))
    assert img.shape[1] == 1280 and float(img.std()) > 20.0  # text, plots and stills, not one colour
    # at a phone's width nothing is wider than the screen and every image loaded
    for width in (1280, 390):
        probe = tmp_path / f"probe{width}.html"
        probe.write_text(PROBE.format(src=report.name, width=width), encoding="utf-8")
        dom = _browse(probe, tmp_path, 1300, "--dump-dom", "--allow-file-access-from-files").stdout
        m = re.search(r'<div id="probe">(\{.*?\})</div>', dom)
        assert m, dom[-500:]
        got = json.loads(htmlmod.unescape(m.group(1)))
        assert got["imgs"] == 0
        assert got["w"] == width
        assert got["sw"] <= got["w"], f"at {width} px the page is {got['sw']} px wide"


def test_every_quality_reason_has_a_label():
    from sam2studio.core.quality import REASONS
    from sam2studio.export.report_html import REASON_LABELS

    assert set(REASON_LABELS) == set(REASONS)


def test_a_batch_run_writes_the_report_as_an_export(tmp_path):
    from sam2studio.batch import DONE_MARKER, load_manifest, run_job

    frames, m1s, _ = _clip()
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, im in enumerate(frames[:20]):
        cv2.imwrite(str(folder / f"{i:05d}.png"), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "ball.png"), m1s[0] * 255)
    m = tmp_path / "m.jsonl"
    m.write_text(json.dumps({"id": "clip", "video": "clip", "masks": ["1:0:ball.png"], "names": ["1:ball"],
                             "engine": "classic", "direction": "forward",
                             "exports": ["report-html px_per_m=40"]}) + "\n")
    (job,) = load_manifest(m)
    assert job.exports[0].out == "report-html.html"
    result = run_job(job, tmp_path / "out")
    assert result.status == "done", result
    page = (tmp_path / "out" / "clip" / "report-html.html").read_text(encoding="utf-8")
    data = _data(page)
    assert data["meta"]["px_per_m"] == 40 and data["meta"]["engine"] == "classic"
    assert [o["name"] for o in data["report"]["objects"]] == ["ball"]
    assert (tmp_path / "out" / "clip" / DONE_MARKER).is_file()
