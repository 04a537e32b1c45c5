"""Pictures for the HTML report: plots drawn with matplotlib and thumbnails of flagged frames.

Every picture is returned as PNG or JPEG bytes, ready to embed. The plots read only the
tracking report's dict (:func:`sam2studio.export.report.build_report`), so what they show is
what the JSON says. matplotlib is an optional dependency (the ``report`` extra); asking for a
plot without it raises :class:`~sam2studio.errors.UserError` with the command that installs it.
"""

from __future__ import annotations

import io

import cv2
import numpy as np

from ..errors import UserError

#: Marker and colour per movement event type, used by the speed plot and its legend.
EVENT_STYLE: dict[str, tuple[str, str, str]] = {
    # type: (marker, colour, label)
    "enter": ("o", "#2e7d32", "enters"),
    "re-emerge": ("o", "#2e7d32", "re-emerges"),
    "enters_frame": (">", "#2e7d32", "enters frame"),
    "starts_moving": ("^", "#1565c0", "starts moving"),
    "stops_moving": ("v", "#c62828", "stops"),
    "direction_change": ("D", "#6a1b9a", "turns"),
    "leaves_frame": ("<", "#ef6c00", "leaves frame"),
    "leave": ("x", "#ef6c00", "leaves"),
}


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "the HTML report draws its plots with matplotlib, which is not installed: "
            "pip install matplotlib (or install SAM2 Studio with the 'report' extra)"
        ) from None
    return plt


def _png(fig, fmt: str = "png") -> bytes:
    buf = io.BytesIO()
    extra = {"pil_kwargs": {"quality": 85}} if fmt == "jpg" else {}
    fig.savefig(buf, format=fmt, dpi=100, **extra)
    _pyplot().close(fig)
    return buf.getvalue()


def _rgb01(color) -> tuple[float, float, float]:
    return tuple(float(c) / 255.0 for c in color)


def trajectory_plot(still: np.ndarray, obj: dict, scale: float = 1.0) -> bytes:
    """The object's centroid path over a still of the video, coloured by time (start: circle,
    end: square), as JPEG. ``still`` is an RGB frame scaled by ``scale`` from the original size;
    ``obj`` one object of the report (centroids in original pixels)."""
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    h, w = still.shape[:2]
    fig_w, img_h, bar = 7.0, 7.0 * h / w, 0.75  # inches: image, then the time bar under it
    fig = plt.figure(figsize=(fig_w, img_h + bar))
    ax = fig.add_axes((0.0, bar / (img_h + bar), 1.0, img_h / (img_h + bar)))
    ax.imshow(still, interpolation="bilinear")
    frames = obj["frames"]
    times = np.array([r["time"] for r in frames], float)
    xy = np.array([r["centroid"] for r in frames], float).reshape(-1, 2) * scale
    nums = np.array([r["frame"] for r in frames], int)
    if len(xy):
        # one segment per consecutive pair of present frames; gaps (absence) are not joined
        pairs = [(xy[i], xy[i + 1]) for i in range(len(xy) - 1) if nums[i + 1] == nums[i] + 1]
        pair_t = [times[i] for i in range(len(xy) - 1) if nums[i + 1] == nums[i] + 1]
        norm = plt.Normalize(times.min(), max(times.max(), times.min() + 1e-9))
        if pairs:
            lc = LineCollection(pairs, cmap="viridis", norm=norm, linewidths=2.5)
            lc.set_array(np.asarray(pair_t))
            ax.add_collection(lc)
            cax = fig.add_axes((0.1, 0.42 / (img_h + bar), 0.8, 0.12 / (img_h + bar)))
            cb = fig.colorbar(lc, cax=cax, orientation="horizontal")
            cb.set_label("time (s)", fontsize=8)
            cb.ax.tick_params(labelsize=7)
        ax.plot(*xy[0], "o", ms=10, mfc="white", mec="black", mew=2, label=f"start (frame {nums[0]})")
        ax.plot(*xy[-1], "s", ms=10, mfc=_rgb01(obj["color"]), mec="black", mew=2,
                label=f"end (frame {nums[-1]})")
        ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    return _png(fig, "jpg")


def speed_plot(obj: dict, fps: float, duration: float, px_per_m: float | None = None) -> bytes:
    """Speed over time (px/s; m/s on a second axis when ``px_per_m`` is given) with the
    object's movement events marked on the time axis."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 2.6))
    fig.subplots_adjust(left=0.1, right=0.88 if px_per_m else 0.97, bottom=0.2, top=0.86)
    frames = obj["frames"]
    n = int(round(duration * fps))
    t = np.arange(n) / fps
    v = np.full(n, np.nan)
    for r in frames:
        if 0 <= r["frame"] < n:
            v[r["frame"]] = r["speed_px_per_s"]
    ax.plot(t, v, color=_rgb01(obj["color"]), lw=1.6)
    ax.set_xlim(0, max(duration, 1.0 / fps))
    top = np.nanmax(v) if np.isfinite(v).any() else 1.0
    ax.set_ylim(0, max(top, 1.0) * 1.15)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("speed (px/s)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    seen = set()
    for e in obj["events"]:
        marker, color, label = EVENT_STYLE.get(e["type"], ("*", "#444444", e["type"]))
        ax.axvline(e["time"], color=color, lw=0.8, alpha=0.5)
        ax.plot(e["time"], 0, marker, color=color, ms=7, clip_on=False, zorder=5,
                label=None if label in seen else label)
        seen.add(label)
    if seen:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.2), ncol=min(len(seen), 7), fontsize=7,
                  frameon=False)
    if px_per_m:
        ax2 = ax.secondary_yaxis("right", functions=(lambda s: s / px_per_m, lambda m: m * px_per_m))
        ax2.set_ylabel("speed (m/s)", fontsize=8)
        ax2.tick_params(labelsize=7)
    return _png(fig)


def presence_plot(objects: list[dict], flags: dict[int, list[dict]], num_frames: int, fps: float) -> bytes:
    """One lane per object: present spans in the object's colour, absent spans blank, flagged
    frames as dark ticks under the lane (like the app's timeline)."""
    plt = _pyplot()
    lanes = max(1, len(objects))
    fig, ax = plt.subplots(figsize=(7.0, 0.75 + 0.42 * lanes), layout="constrained")
    duration = num_frames / fps
    for i, o in enumerate(objects):
        y = lanes - 1 - i
        spans = [(s["start_time"], s["end_time"] - s["start_time"]) for s in o["segments"]]
        ax.broken_barh(spans, (y + 0.25, 0.6), facecolors=_rgb01(o["color"]), edgecolors="none")
        ax.broken_barh([(0, duration)], (y + 0.25, 0.6), facecolors="none", edgecolors="#999999", lw=0.5)
        marks = [f["frame"] / fps for f in flags.get(int(o["id"]), [])]
        if marks:
            ax.vlines(marks, y + 0.05, y + 0.22, color="#222222", lw=0.8)
    ax.set_yticks([lanes - 1 - i + 0.55 for i in range(len(objects))])
    ax.set_yticklabels([o["name"] for o in objects], fontsize=8)
    ax.set_ylim(0, lanes)
    ax.set_xlim(0, duration)
    ax.set_xlabel("time (s)   (ticks under a lane: flagged frames)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    return _png(fig)


def flag_thumbnail(frame: np.ndarray, mask: np.ndarray | None, color, width: int = 240) -> bytes:
    """A JPEG crop of ``frame`` around the object with its outline drawn in ``color``
    (the whole frame when the mask is empty), ``width`` pixels wide."""
    h, w = frame.shape[:2]
    img = np.ascontiguousarray(frame[..., :3])
    x0, y0, x1, y1 = 0, 0, w, h
    if mask is not None and mask.any():
        m = mask.astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        img = img.copy()
        cv2.drawContours(img, contours, -1, tuple(int(c) for c in color), max(2, w // 320), cv2.LINE_AA)
        ys, xs = np.nonzero(m)
        bx0, bx1, by0, by1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        side = max(bx1 - bx0, by1 - by0) * 1.6 + 32
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        half_w, half_h = min(w, side * 4 / 3) / 2, min(h, side) / 2
        x0 = int(np.clip(cx - half_w, 0, w - 2 * half_w))
        y0 = int(np.clip(cy - half_h, 0, h - 2 * half_h))
        x1, y1 = int(x0 + 2 * half_w), int(y0 + 2 * half_h)
    crop = img[y0:y1, x0:x1]
    scale = width / max(1, crop.shape[1])
    crop = cv2.resize(crop, (width, max(1, int(round(crop.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("could not encode a thumbnail")
    return buf.tobytes()
