"""The HTML tracking and quality report: one self-contained page to look at.

It is built from the same computed tracks as the JSON tracking report
(:func:`~sam2studio.export.report.build_report`, with the quality flags filled in): the page
embeds that JSON (``<script type="application/json" id="report-data">``) and every number it
shows is either a field of it or a figure derived from it here (time on screen, flag counts,
the speed's maximum, metric units), so the page and the JSON never disagree. Each shown
number carries ``data-src="report:PATH"`` or ``data-src="derived:PATH"`` naming where it
comes from (PATH is dot-separated, list indices as numbers).

Per object: a still of the video with the centroid's path coloured by time, the speed over
time with the movement events marked, distance, time on screen, the events, and the quality
flags with thumbnails of the worst flagged frames (frame number and time code under each, to
find them in the app). At the top: a summary of the video, the engine and model, the quality
thresholds, and a presence lane for every object.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import threading
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np

from .._version import __version__
from ..core.quality import QualityThresholds, assess, report_flags
from ..errors import UserError
from . import report_plots as plots
from .common import ProgressFn, atomic_path, check_cancel, report_progress, select_objects
from .report import build_report, validate_report

#: Options of the ``report-html`` format (besides any quality threshold, e.g. ``min_iou``).
OPTIONS = ("px_per_m", "thumbnails", "engine", "model")
#: Longest side of the still behind the trajectory plot.
STILL_MAX_SIDE = 960

REASON_LABELS = {
    "low_confidence": "low confidence",
    "inconsistent": "jumps from the last frame",
    "drift": "drifts off its motion",
    "small_area": "very small",
    "area_change": "sudden size change",
    "appearance_change": "colours changed (identity swap?)",
    "not_following": "stays put while the picture moves",
}


def time_code(seconds: float) -> str:
    """``MM:SS.mmm`` (``H:MM:SS.mmm`` past an hour) of a time in seconds."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m:02d}:{s:02d}.{ms:03d}"


def fmt(value, nd: int = 2) -> str:
    """How the page writes a number: integers as they are, others with ``nd`` decimals."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):,.{nd}f}"


def parse_options(options: dict) -> tuple[dict, QualityThresholds]:
    """Split ``-o`` options into the report's own and the quality thresholds; checks both."""
    own, th = {}, {}
    names = {f.name for f in fields(QualityThresholds)}
    for k, v in options.items():
        if k in OPTIONS:
            own[k] = v
        elif k in names:
            th[k] = v
        else:
            raise UserError(f"unknown option {k!r} for report-html; options: "
                            f"{', '.join(OPTIONS + tuple(sorted(names)))}")
    if own.get("px_per_m") is not None:
        try:
            own["px_per_m"] = float(own["px_per_m"])
        except (TypeError, ValueError):
            raise UserError(f"px_per_m must be a number of pixels per metre, got {own['px_per_m']!r}") from None
        if own["px_per_m"] < 0 or own["px_per_m"] != own["px_per_m"]:
            raise UserError("px_per_m must be positive (or 0 for pixels only)")
        own["px_per_m"] = own["px_per_m"] or None  # 0: no scale
    try:
        own["thumbnails"] = int(own.get("thumbnails", 6))
    except (TypeError, ValueError):
        raise UserError(f"thumbnails must be a whole number, got {own['thumbnails']!r}") from None
    if own["thumbnails"] < 0:
        raise UserError("thumbnails must not be negative")
    try:
        thresholds = QualityThresholds.from_dict(th)
    except (TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    return own, thresholds


def derive(report: dict, px_per_m: float | None = None) -> dict:
    """Figures the page shows that the JSON does not hold as such, computed from it alone."""
    objs = []
    for o in report["objects"]:
        speeds = [r["speed_px_per_s"] for r in o["frames"]]
        reasons = Counter(r for f in o["quality_flags"] for r in f.get("reasons", [f.get("type")]))
        d = {
            "frames_present": len(o["frames"]),
            "time_on_screen_s": round(sum(s["end_time"] - s["start_time"] for s in o["segments"]), 6),
            "max_speed_px_per_s": round(max(speeds), 3) if speeds else 0.0,
            "flagged_frames": len(o["quality_flags"]),
            "flags_by_reason": dict(sorted(reasons.items())),
            "events": len(o["events"]),
        }
        if px_per_m:
            d["total_distance_m"] = round(o["total_distance_px"] / px_per_m, 3)
            d["average_speed_m_per_s"] = round(o["average_speed_px_per_s"] / px_per_m, 3)
            d["max_speed_m_per_s"] = round(d["max_speed_px_per_s"] / px_per_m, 3)
        objs.append(d)
    return {"objects": objs, "num_objects": len(objs),
            "flagged_frames": sum(d["flagged_frames"] for d in objs)}


def _num(src: str, value, nd: int = 2, unit: str = "") -> str:
    u = f" {html.escape(unit)}" if unit else ""
    return f'<span class="num" data-src="{src}">{fmt(value, nd)}</span>{u}'


def _img(data: bytes, mime: str, alt: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return (f'<img{c} alt="{html.escape(alt)}" src="data:{mime};base64,'
            f'{base64.b64encode(data).decode("ascii")}">')


def _hex(color) -> str:
    r, g, b = (int(c) for c in color)
    return f"#{r:02x}{g:02x}{b:02x}"


def _still_frame(o: dict) -> int:
    """The middle frame of the object's longest presence span."""
    a, b = max(((s["first_frame"], s["last_frame"]) for s in o["segments"]), key=lambda ab: ab[1] - ab[0])
    return (a + b) // 2


def _scaled(frame: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    h, w = frame.shape[:2]
    s = min(1.0, STILL_MAX_SIDE / max(h, w))
    if s >= 1.0:
        return frame, 1.0
    return cv2.resize(frame, (int(round(w * s)), int(round(h * s))), interpolation=cv2.INTER_AREA), s


CSS = """
:root { --fg:#1d2330; --muted:#5b6472; --line:#dde1e7; --bg:#f6f7f9; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width:1120px; margin:0 auto; padding:16px; }
h1 { font-size:1.5em; margin:.2em 0; overflow-wrap:anywhere; }
h2 { font-size:1.2em; margin:0 0 .5em; display:flex; align-items:center; gap:.5em; flex-wrap:wrap; }
h3 { font-size:1em; margin:1em 0 .4em; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px; margin:14px 0; }
.sub, figcaption, .muted { color:var(--muted); font-size:.88em; }
img { max-width:100%; height:auto; display:block; }
figure { margin:0; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(280px,1fr)); gap:14px; align-items:start; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:4px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-weight:600; white-space:nowrap; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
.swatch { width:1em; height:1em; border-radius:3px; display:inline-block; border:1px solid #0003; }
.cls { font-weight:400; color:var(--muted); font-size:.85em; }
.thumbs { display:grid; grid-template-columns:repeat(auto-fill,minmax(160px,1fr)); gap:10px; }
.thumbs figure { border:1px solid var(--line); border-radius:6px; overflow:hidden; background:#fafafa; }
.thumbs figcaption { padding:4px 6px; }
.tc { font-family:ui-monospace,Menlo,Consolas,monospace; }
"""


def render_html(report: dict, derived: dict, meta: dict, images: dict) -> str:
    """The page from the report, the derived figures, ``meta`` (engine, model, thresholds,
    px_per_m) and ``images`` (already encoded pictures, by name)."""
    v = report["video"]
    esc = html.escape
    title = f"Tracking report: {v['name'] or 'video'}"
    px_per_m = meta.get("px_per_m")
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>", "<main>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">Made by SAM2 Studio {esc(__version__)} on {esc(meta["created"])}. '
        "Frame numbers start at 0, as in the app; time codes are minutes:seconds.milliseconds "
        "from the first frame.</p>",
        '<section id="summary"><h2>Summary</h2><div class="grid"><div class="scroll"><table>',
        f"<tr><th>Video</th><td>{esc(v['name'] or '')}</td></tr>",
        f"<tr><th>Objects</th><td class=\"n\">{_num('derived:num_objects', derived['num_objects'])}</td></tr>",
        f"<tr><th>Frames</th><td class=\"n\">{_num('report:video.num_frames', v['num_frames'])}</td></tr>",
        f"<tr><th>Duration</th><td class=\"n\">{_num('report:video.duration', v['duration'], 2, 's')}</td></tr>",
        f"<tr><th>Frame rate</th><td class=\"n\">{_num('report:video.fps', v['fps'], 3, 'fps')}</td></tr>",
        f"<tr><th>Size</th><td class=\"n\">{_num('report:video.width', v['width'])} × "
        f"{_num('report:video.height', v['height'])} px</td></tr>",
        f"<tr><th>Engine</th><td>{esc(meta.get('engine') or 'unknown')}</td></tr>",
        f"<tr><th>Model</th><td>{esc(meta.get('model') or '—')}</td></tr>",
        f"<tr><th>Flagged frames</th><td class=\"n\">"
        f"{_num('derived:flagged_frames', derived['flagged_frames'])}</td></tr>",
    ]
    if px_per_m:
        out.append(f"<tr><th>Scale</th><td class=\"n\">{_num('meta:px_per_m', px_per_m, 2, 'px per metre')}</td></tr>")
    out.append('</table></div><div class="scroll"><table><tr><th>Quality threshold</th><th class="n">value</th></tr>')
    for k, val in meta["thresholds"].items():
        out.append(f"<tr><td>{esc(k.replace('_', ' '))}</td>"
                   f"<td class=\"n\">{_num('meta:thresholds.' + k, val, 2)}</td></tr>")
    out.append("</table></div></div></section>")
    if "presence" in images:
        out += ['<section id="presence"><h2>When each object is on screen</h2>',
                _img(images["presence"], "image/png", "presence lanes of every object over time"),
                "</section>"]
    for i, o in enumerate(report["objects"]):
        d = derived["objects"][i]
        p = f"report:objects.{i}."
        q = f"derived:objects.{i}."
        cat = o.get("category") or meta.get("categories", {}).get(str(o["id"]), "")
        out.append(f'<section class="object" id="object-{o["id"]}">')
        out.append(f'<h2><span class="swatch" style="background:{_hex(o["color"])}"></span>'
                   f'{esc(o["name"])} <span class="cls">id {o["id"]}{" · " + esc(cat) if cat else ""}</span></h2>')
        if not o["frames"]:
            out.append('<p class="muted">This object has no mask on any frame.</p></section>')
            continue
        out.append('<div class="grid">')
        if f"trajectory:{o['id']}" in images:
            out.append("<figure>" + _img(images[f"trajectory:{o['id']}"], "image/jpeg", f"path of {o['name']}")
                       + f"<figcaption>Path of the centroid on frame {meta['stills'][str(o['id'])]}, "
                         "coloured by time (circle: start, square: end).</figcaption></figure>")
        rows = [
            ("Frames on screen", _num(q + "frames_present", d["frames_present"])),
            ("Time on screen", _num(q + "time_on_screen_s", d["time_on_screen_s"], 2, "s")),
            ("Distance", _num(p + "total_distance_px", o["total_distance_px"], 1, "px")
             + (" · " + _num(q + "total_distance_m", d["total_distance_m"], 2, "m") if px_per_m else "")),
            ("Average speed", _num(p + "average_speed_px_per_s", o["average_speed_px_per_s"], 1, "px/s")
             + (" · " + _num(q + "average_speed_m_per_s", d["average_speed_m_per_s"], 2, "m/s") if px_per_m else "")),
            ("Top speed", _num(q + "max_speed_px_per_s", d["max_speed_px_per_s"], 1, "px/s")
             + (" · " + _num(q + "max_speed_m_per_s", d["max_speed_m_per_s"], 2, "m/s") if px_per_m else "")),
            ("Movement events", _num(q + "events", d["events"])),
            ("Flagged frames", _num(q + "flagged_frames", d["flagged_frames"])),
        ]
        out.append('<div class="scroll"><table>' + "".join(
            f"<tr><th>{k}</th><td class=\"n\">{val}</td></tr>" for k, val in rows) + "</table>")
        spans = ", ".join(
            f'<span class="tc">{time_code(s["start_time"])}–{time_code(s["end_time"])}</span> '
            f'(frames {_num(p + f"segments.{j}.first_frame", s["first_frame"])}–'
            f'{_num(p + f"segments.{j}.last_frame", s["last_frame"])})'
            for j, s in enumerate(o["segments"]))
        out.append(f'<p class="muted">On screen: {spans}</p></div></div>')
        if f"speed:{o['id']}" in images:
            out.append("<h3>Speed over time</h3>" + _img(images[f"speed:{o['id']}"], "image/png",
                                                          f"speed of {o['name']} over time with events"))
        if o["events"]:
            out.append(f"<details><summary>Movement events ({len(o['events'])})</summary>"
                       '<div class="scroll"><table><tr><th>event</th><th class="n">frame</th><th>time</th></tr>')
            for j, e in enumerate(o["events"]):
                label = plots.EVENT_STYLE.get(e["type"], ("", "", e["type"]))[2]
                out.append(f"<tr><td>{esc(label)}</td><td class=\"n\">{_num(p + f'events.{j}.frame', e['frame'])}</td>"
                           f'<td class="tc">{time_code(e["time"])}</td></tr>')
            out.append("</table></div></details>")
        out.append("<h3>Quality flags</h3>")
        if not o["quality_flags"]:
            out.append('<p class="muted">No frame of this object was flagged.</p>')
        else:
            out.append('<div class="scroll"><table><tr><th>reason</th><th class="n">frames</th></tr>')
            for r, n in d["flags_by_reason"].items():
                out.append(f"<tr><td>{esc(REASON_LABELS.get(r, r))}</td>"
                           f"<td class=\"n\">{_num(q + 'flags_by_reason.' + r, n)}</td></tr>")
            out.append("</table></div>")
            thumbs = [(k, img) for k, img in images.items() if k.startswith(f"flag:{o['id']}:")]
            if thumbs:
                out.append(f'<p class="muted">The {len(thumbs)} worst flagged frames (go to a frame in the app '
                           "with its number):</p><div class=\"thumbs\">")
                for k, img in thumbs:
                    j = int(k.rsplit(":", 1)[1])
                    fl = o["quality_flags"][j]
                    out.append("<figure>" + _img(img, "image/jpeg", f"frame {fl['frame']}")
                               + f"<figcaption>frame {_num(p + f'quality_flags.{j}.frame', fl['frame'])} · "
                                 f'<span class="tc">{time_code(fl["frame"] / v["fps"])}</span><br>'
                                 f"{esc(fl.get('message', ''))}</figcaption></figure>")
                out.append("</div>")
        out.append("</section>")
    data = json.dumps({"report": report, "derived": derived, "meta": meta}, ensure_ascii=False)
    out.append('<script type="application/json" id="report-data">' + data.replace("</", "<\\/") + "</script>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def build_html_report(project, video, *, object_ids=None, options: dict | None = None,
                      progress: ProgressFn | None = None,
                      cancel: threading.Event | None = None) -> tuple[str, dict]:
    """Assess quality, compute the tracks and draw the page. Returns ``(html, data)`` where
    ``data`` is what the page embeds (``report``, ``derived``, ``meta``)."""
    own, thresholds = parse_options(dict(options or {}))
    ids = select_objects(project.objects, object_ids)
    n = int(project.num_frames)
    steps = 2 * n + 1
    done = 0

    def step(k: int = 1) -> None:
        nonlocal done
        done += k
        report_progress(progress, done, steps)

    flags = assess(project.masks, n, video=video, objects=ids, thresholds=thresholds,
                   trusted={o: project.prompts.keyframes(o) for o in ids},
                   progress=lambda d, t: report_progress(progress, d, steps), cancel=cancel)
    done = n
    name = None if project.video_path is None else Path(project.video_path).name
    report = build_report(project.masks, project.objects, n, project.fps, video_name=name,
                          width=project.width, height=project.height, object_ids=ids,
                          quality=report_flags(flags),
                          progress=lambda d, t: report_progress(progress, n + d, steps), cancel=cancel)
    for o in report["objects"]:
        cat = getattr(project.objects[o["id"]], "category", "")
        if cat:
            o.setdefault("category", cat)
    validate_report({**report, "objects": [{k: v for k, v in o.items() if k != "category"}
                                           for o in report["objects"]]})
    done = 2 * n
    px_per_m = own.get("px_per_m")
    derived = derive(report, px_per_m)
    meta = {
        "created": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M"),
        "engine": own.get("engine") or project.settings.get("engine"),
        "model": own.get("model") or project.settings.get("model"),
        "thresholds": thresholds.to_dict(),
        "px_per_m": px_per_m,
        "stills": {},
    }
    images: dict[str, bytes] = {}
    fps = float(report["video"]["fps"])
    images["presence"] = plots.presence_plot(report["objects"], flags, n, fps)
    for o in report["objects"]:
        check_cancel(cancel)
        if not o["frames"]:
            continue
        f = _still_frame(o)
        meta["stills"][str(o["id"])] = f
        still, s = _scaled(video.get_frame(f))
        images[f"trajectory:{o['id']}"] = plots.trajectory_plot(still, o, scale=s)
        images[f"speed:{o['id']}"] = plots.speed_plot(o, fps, report["video"]["duration"], px_per_m)
        worst = sorted(range(len(o["quality_flags"])),
                       key=lambda j: (-float(o["quality_flags"][j].get("severity", 0)), o["quality_flags"][j]["frame"]))
        for j in worst[: own["thumbnails"]]:
            check_cancel(cancel)
            fr = o["quality_flags"][j]["frame"]
            images[f"flag:{o['id']}:{j}"] = plots.flag_thumbnail(
                video.get_frame(fr), project.masks.get(fr, o["id"]), o["color"])
    step()
    return render_html(report, derived, meta, images), {"report": report, "derived": derived, "meta": meta}


def export_report_html(project, video, out: str | Path, *, object_ids=None, options: dict | None = None,
                       progress: ProgressFn | None = None, cancel: threading.Event | None = None) -> Path:
    """Write the HTML report to ``out`` (atomically)."""
    if video is None:
        raise UserError("the HTML report needs the video (for stills and thumbnails)")
    page, _ = build_html_report(project, video, object_ids=object_ids, options=options,
                                progress=progress, cancel=cancel)
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
