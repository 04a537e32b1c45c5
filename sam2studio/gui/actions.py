"""Every menu/toolbar action in one table: text, icon, shortcuts, tooltip, handler name."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtCore import Qt

from .resources import icon


@dataclass(frozen=True)
class Spec:
    name: str
    text: str
    slot: str  # method name on the window
    keys: tuple[str, ...] = ()
    icon: str = ""
    tip: str = ""
    checkable: bool = False
    standard: QKeySequence.StandardKey | None = None


SPECS: list[Spec] = [
    # file
    Spec("new", "&New Project", "new_project", ("Ctrl+N",), "new", "Close the current project and start over"),
    Spec("open_video", "Open &Video…", "open_video_dialog", ("Ctrl+O",), "open", "Open a video file"),
    Spec("open_folder", "Open Image &Folder…", "open_folder_dialog", ("Ctrl+Shift+O",), "folder_images",
         "Open a folder of images as a video"),
    Spec("open_camera", "Open &Camera…", "open_camera", ("Ctrl+Shift+C",), "",
         "Track objects live from a camera (or a video file played as one); record to a project"),
    Spec("open_project", "Open &Project…", "open_project_dialog", ("Ctrl+Alt+O",), "open", "Open a saved project (.s2s)"),
    Spec("save", "&Save", "save", ("Ctrl+S",), "save", "Save the project (Ctrl+S)"),
    Spec("save_as", "Save &As…", "save_as_dialog", ("Ctrl+Shift+S",), "save", "Save the project under a new name"),
    Spec("export", "&Export…", "export_dialog", ("Ctrl+E",), "export", "Export masks, reports or videos"),
    Spec("quit", "&Quit", "close", ("Ctrl+Q",), "", "Quit SAM2 Studio"),
    # edit
    Spec("add_object", "&Add Object", "add_object", ("A",), "add", "Add a new object on any frame (A)"),
    Spec("delete_object", "&Delete Object", "delete_current_object", ("Del",), "trash",
         "Delete the current object and its masks (Del)"),
    Spec("clear_prompt", "&Clear Prompt on This Frame", "clear_prompt", ("Backspace",), "close",
         "Remove the current object's clicks, box or mask prompt on this frame"),
    # tools
    Spec("tool_positive", "&Positive Click", "use_positive", ("Q",), "click_pos",
         "Positive click: left-click on the object to add it (Q)", True),
    Spec("tool_negative", "&Negative Click", "use_negative", ("W",), "click_neg",
         "Negative click: left-click to remove a region (W); right-click is always negative", True),
    Spec("tool_box", "&Box", "use_box", ("M",), "box", "Box: drag a box around the object (M)", True),
    Spec("tool_brush", "B&rush", "use_brush", ("B",), "brush",
         "Brush: paint the object's mask on this frame (B); right-drag erases", True),
    Spec("tool_eraser", "&Eraser", "use_eraser", ("E",), "eraser", "Eraser: erase from the object's mask (E)", True),
    Spec("brush_bigger", "Bigger Brush", "brush_bigger", ("]",), "", "Make the brush bigger (])"),
    Spec("brush_smaller", "Smaller Brush", "brush_smaller", ("[",), "", "Make the brush smaller ([)"),
    # view
    Spec("zoom_fit", "Zoom to &Fit", "zoom_fit", ("Ctrl+0", "F"), "fit", "Fit the frame in the window (F)"),
    Spec("zoom_100", "Zoom &100%", "zoom_100", ("Ctrl+1",), "zoom100", "Show the frame at full resolution (Ctrl+1)"),
    Spec("zoom_in", "Zoom &In", "zoom_in", ("Ctrl++", "Ctrl+="), "", "Zoom in"),
    Spec("zoom_out", "Zoom &Out", "zoom_out", ("Ctrl+-",), "", "Zoom out"),
    Spec("outline", "&Outline Masks", "set_outline", ("O",), "outline", "Draw mask outlines only (O)", True),
    Spec("opacity_up", "More Opaque Masks", "opacity_up", ("Shift+O",), "", "Make the masks more opaque"),
    Spec("opacity_down", "More Transparent Masks", "opacity_down", ("Alt+O",), "", "Make the masks more transparent"),
    Spec("smooth", "&Temporal Smoothing", "set_smoothing", ("T",), "",
         "Show (and by default export) masks smoothed over neighbouring frames: less edge flicker; the stored "
         "masks are not changed (T)", True),
    Spec("follow", "Follow &Propagation", "set_follow", (), "", "Move the playhead along with a running propagation", True),
    # track
    Spec("propagate", "&Propagate (Both Ways)", "propagate_both", ("Ctrl+Return",), "propagate",
         "Propagate every object forward and backward from this frame (Ctrl+Enter)"),
    Spec("propagate_fwd", "Propagate &Forward", "propagate_forward", ("Ctrl+Shift+Right",), "propagate_fwd",
         "Propagate every object forward from this frame"),
    Spec("propagate_back", "Propagate &Backward", "propagate_backward", ("Ctrl+Shift+Left",), "propagate_back",
         "Propagate every object backward from this frame"),
    Spec("rerun", "Propagate from &Here", "propagate_from_here", ("Ctrl+R",), "rerun",
         "Re-run the corrected objects forward from this frame, keeping everything else (Ctrl+R)"),
    Spec("cancel", "&Cancel", "cancel_job", ("Esc",), "cancel", "Stop the running propagation or export (Esc)"),
    Spec("range_in", "Set Range &Start", "set_range_start", ("I",), "", "Propagation range starts at this frame (I)"),
    Spec("range_out", "Set Range &End", "set_range_end", ("Shift+I",), "", "Propagation range ends at this frame (Shift+I)"),
    Spec("range_clear", "Clear Range", "clear_range", ("Alt+I",), "", "Propagate over the whole video again"),
    Spec("check_quality", "Check &Quality", "check_quality", ("Ctrl+K",), "",
         "Check every object's masks for likely mistakes: low confidence, jumps, sudden changes of shape, "
         "size or colours (Ctrl+K)"),
    Spec("next_flag", "&Next Flagged Frame", "next_flagged", ("N",), "",
         "Jump to the next frame the quality check flagged (N)"),
    Spec("prev_flag", "Previous Fla&gged Frame", "prev_flagged", ("Shift+N",), "",
         "Jump to the previous frame the quality check flagged (Shift+N)"),
    Spec("quality_thresholds", "Quality &Thresholds…", "quality_thresholds_dialog", (), "",
         "When the quality check flags a frame: confidence, consistency, drift, area, colours"),
    Spec("auto_quality", "Check Quality After &Propagating", "set_auto_quality", (), "",
         "Run the quality check whenever a propagation finishes", True),
    # playback
    Spec("play", "&Play / Pause", "toggle_play", ("Space",), "play", "Play or pause (Space)"),
    Spec("next_frame", "&Next Frame", "next_frame", ("Right",), "step_fwd", "Next frame (→)"),
    Spec("prev_frame", "P&revious Frame", "prev_frame", ("Left",), "step_back", "Previous frame (←)"),
    Spec("next_key", "Next &Keyframe", "next_keyframe", ("Ctrl+Right", "."), "key_next", "Next keyframe (Ctrl+→)"),
    Spec("prev_key", "Previous K&eyframe", "prev_keyframe", ("Ctrl+Left", ","), "key_prev", "Previous keyframe (Ctrl+←)"),
    Spec("first_frame", "&First Frame", "first_frame", ("Home",), "first", "First frame (Home)"),
    Spec("last_frame", "&Last Frame", "last_frame", ("End",), "last", "Last frame (End)"),
    # models, help
    Spec("models", "&Model Manager…", "model_manager", ("Ctrl+M",), "model",
         "Download SAM 2 models, choose a checkpoint, the device and the image size"),
    Spec("download_tiny", "&Download SAM 2.1 tiny (150 MB)", "download_tiny", (), "export",
         "Download the recommended SAM 2.1 tiny checkpoint"),
    Spec("shortcuts", "&Keyboard Shortcuts", "show_shortcuts", ("F1", "?"), "keyboard", "Keyboard shortcuts and mouse (F1)"),
    Spec("about", "&About SAM2 Studio", "show_about", (), "info", "About SAM2 Studio"),
]


def build_actions(window) -> dict[str, QAction]:
    """Create the actions of :data:`SPECS` on ``window`` (handlers are its methods)."""
    out: dict[str, QAction] = {}
    for spec in SPECS:
        a = QAction(spec.text, window)
        a.setObjectName(f"action_{spec.name}")
        if spec.icon:
            a.setIcon(icon(spec.icon))
        if spec.keys:
            a.setShortcuts([QKeySequence(k) for k in spec.keys])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = spec.tip or spec.text.replace("&", "")
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.setCheckable(spec.checkable)
        slot = getattr(window, spec.slot)
        if spec.checkable and spec.slot.startswith("set_"):
            a.toggled.connect(slot)
        else:
            a.triggered.connect(lambda _checked=False, s=slot: s())
        window.addAction(a)
        out[spec.name] = a
    return out
