"""The edited-video export formats, registered in :mod:`sam2studio.export.formats`.

Options come as ``key=value`` pairs (CLI ``-o``, GUI dialog fields):

* every video format: ``crf`` (18), ``preset`` (veryfast), ``codec``, ``feather`` (px);
* overlay: ``opacity`` (0.5), ``outline`` (true), ``labels`` (true);
* background: ``color`` (#rrggbb or r,g,b), ``image`` (path) or ``video`` (path);
* grade: ``saturation`` (1.0), ``brightness`` (0.0), ``contrast`` (1.0), ``invert`` (false);
* blur: ``sigma`` (15), ``invert``; pixelate: ``block`` (16), ``invert``;
* motionblur: ``strength`` (1.0);
* cut: ``merge_gap`` / ``merge_gap_s``, ``min_span`` / ``min_span_s``, ``mode`` (any|all), and
  ``effect`` = one of the effect formats above to apply to the kept frames.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .formats import ExportFormat, ExportJob, register

ENCODE_OPTIONS = ("crf", "preset", "codec", "feather")
EFFECT_OPTIONS = {
    "overlay": ("opacity", "outline", "labels"),
    "cutout": (),
    "background": ("color", "image", "video"),
    "grade": ("saturation", "brightness", "contrast", "invert"),
    "blur": ("sigma", "invert"),
    "pixelate": ("block", "invert"),
    "motionblur": ("strength",),
}
CUT_OPTIONS = ("merge_gap", "merge_gap_s", "min_span", "min_span_s", "mode", "effect")

#: what each option is, for forms (the GUI export dialog) and help: name -> (kind, default, help).
#: kind is "float", "int", "bool", "color", "file", "text" or a tuple of choices. A default
#: of None means "not set" (the exporter's own behaviour).
OPTION_SPECS: dict[str, tuple] = {
    "opacity": ("float", 0.5, "How opaque the mask colour is (0 to 1)"),
    "outline": ("bool", True, "Draw each object's outline"),
    "labels": ("bool", True, "Write each object's name"),
    "color": ("color", "#00b140", "Background colour"),
    "image": ("file", None, "Background image instead of a colour (scaled to cover)"),
    "video": ("file", None, "Background video instead of a colour (looped or trimmed, scaled to cover)"),
    "saturation": ("float", 1.0, "Saturation factor (0 = grey, 1 = unchanged)"),
    "brightness": ("float", 0.0, "Brightness shift (-1 to 1)"),
    "contrast": ("float", 1.0, "Contrast factor (1 = unchanged)"),
    "invert": ("bool", False, "Apply to everything but the objects"),
    "sigma": ("float", 15.0, "Blur strength (Gaussian sigma in pixels)"),
    "block": ("int", 16, "Pixel block size"),
    "strength": ("float", 1.0, "Motion blur length, as a multiple of the object's motion per frame"),
    "merge_gap_s": ("float", 0.5, "Join kept spans closer than this (seconds)"),
    "min_span_s": ("float", 0.2, "Drop kept spans shorter than this (seconds)"),
    "mode": (("any", "all"), "any", "Keep frames where any / all of the chosen objects are present"),
    "effect": (("", *EFFECT_OPTIONS), "", "An effect to apply to the kept frames (empty: none)"),
    "crf": ("int", 18, "H.264 quality (lower is better and bigger; 18 is visually lossless)"),
    "feather": ("int", 0, "Soften mask edges over this many pixels"),
    # annotation formats
    "resolution": (("480p", "full"), "480p", "DAVIS frames 480 pixels high, or the original size (exact masks)"),
    "images": ("bool", True, "Also write the video frames (JPEGImages)"),
    "rle": (("uncompressed", "compressed"), "uncompressed",
            "Masks as the YouTube-VIS annotation files have them (uncompressed), or compressed as result files"),
    "first_frame": (("0", "1"), "0", "Number of the first frame: 0 for KITTI MOTS, 1 for MOTSChallenge"),
    "overlaps": (("resolve", "keep"), "resolve", "MOTS forbids overlapping masks: the higher id keeps the pixel"),
}

#: the options of the annotation formats (see docs/formats.md)
ANNOTATION_OPTIONS: dict[str, list[str]] = {
    "davis": ["resolution", "images"],
    "youtube-vis": ["rle"],
    "mots": ["first_frame", "overlaps"],
}


def format_options(name: str) -> list[str]:
    """The options a format takes that a form should offer (CLI ``-o`` takes a few more)."""
    if name == "cut":
        return ["merge_gap_s", "min_span_s", "mode", "effect", "crf", "feather"]
    if name in EFFECT_OPTIONS:
        return [*EFFECT_OPTIONS[name], "crf", "feather"]
    return list(ANNOTATION_OPTIONS.get(name, []))


def _check_options(name: str, options: dict, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r} for {name}; options: {', '.join(allowed) or 'none'}")


def make_effect(name: str, options: dict, object_ids):
    """The effect object for an effect format name and its options."""
    from . import effects as v

    opts = {k: options[k] for k in EFFECT_OPTIONS[name] if k in options}
    if "color" in opts and isinstance(opts["color"], str) and "," in opts["color"]:
        opts["color"] = tuple(int(c) for c in opts["color"].split(","))
    cls = {"overlay": v.Overlay, "cutout": v.CutOut, "background": v.Background, "grade": v.Grade,
           "blur": v.Blur, "pixelate": v.Pixelate, "motionblur": v.MotionBlur}[name]
    try:
        return cls(objects=object_ids, **opts)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad option for {name}: {exc}") from exc


def _encode_kwargs(options: dict) -> dict:
    return {k: options[k] for k in ENCODE_OPTIONS if k in options}


def _effect_runner(name: str):
    def run(job: ExportJob) -> Path:
        from .render import export_video

        _check_options(name, job.options, EFFECT_OPTIONS[name] + ENCODE_OPTIONS)
        effect = make_effect(name, job.options, job.object_ids)
        p = job.project
        return export_video(job.video, p.masks, p.objects, job.out, [effect], object_ids=job.object_ids,
                            frames=job.frames, progress=job.progress, cancel=job.cancel,
                            **_encode_kwargs(job.options))
    return run


def _cut(job: ExportJob) -> Path:
    from .cut import export_cut

    _check_options("cut", job.options, CUT_OPTIONS + ENCODE_OPTIONS + tuple(
        k for opts in EFFECT_OPTIONS.values() for k in opts))
    effects = None
    if "effect" in job.options:
        name = str(job.options["effect"])
        if name not in EFFECT_OPTIONS:
            raise UserError(f"unknown effect {name!r} for cut; effects: {', '.join(EFFECT_OPTIONS)}")
        effects = [make_effect(name, job.options, job.object_ids)]
    plan = {k: job.options[k] for k in ("merge_gap", "merge_gap_s", "min_span", "min_span_s", "mode")
            if k in job.options}
    p = job.project
    return export_cut(job.video, p.masks, p.objects, job.out, object_ids=job.object_ids, effects=effects,
                      progress=job.progress, cancel=job.cancel, **plan, **_encode_kwargs(job.options))


_DESCRIPTIONS = {
    "overlay": ("Overlay video", "coloured masks, outlines and labels over the video (H.264, audio kept)"),
    "cutout": ("Cut-out with transparency",
               "only the objects, alpha elsewhere (.mov ProRes 4444, .webm VP9, or a PNG folder)"),
    "background": ("Background replacement", "everything but the objects becomes a colour, an image or another video"),
    "grade": ("Colour grade", "saturation, brightness and contrast inside the objects (or outside with invert)"),
    "blur": ("Privacy blur", "Gaussian blur over the objects (or the background with invert)"),
    "pixelate": ("Privacy pixelate", "pixelate the objects (or the background with invert)"),
    "motionblur": ("Motion blur", "blur each object along its own direction of motion"),
}

for _name, (_label, _desc) in _DESCRIPTIONS.items():
    register(ExportFormat(_name, _label, _desc, ".mov" if _name == "cutout" else ".mp4", True, _effect_runner(_name)))
register(ExportFormat("cut", "Presence cut", "keep only the spans where the chosen objects are present, "
                      "video and audio cut together, spans also as JSON", ".mp4", True, _cut))
