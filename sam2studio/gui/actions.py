"""Every action, menu and toolbar of the main window as data.

:data:`SPECS` holds each action's text, shortcuts, icon and tooltip; :data:`MENUS`,
:data:`TOOLBAR` and :data:`TRANSPORT` say where the actions go; :data:`TOOLS` lists the canvas
tools once. Handlers are bound explicitly: :func:`build_actions` takes a ``{action name:
callable}`` map (each sub-controller of the window gives the part it handles) and refuses a
spec without a handler or a handler without a spec. A checkable action's handler gets the new
state (``True``/``False``), except the tools, which form one exclusive group.
"""

from __future__ import annotations

from dataclasses import dataclass

from collections.abc import Callable, Mapping

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QMenuBar, QToolBar, QToolButton, QWidget

from .canvas import Tool
from .resources import icon


@dataclass(frozen=True)
class Spec:
    name: str
    text: str
    keys: tuple[str, ...] = ()
    icon: str = ""
    tip: str = ""
    checkable: bool = False
    standard: QKeySequence.StandardKey | None = None


SPECS: list[Spec] = [
    # file
    Spec("new", "&New Project", ("Ctrl+N",), "new", "Close the current project and start over"),
    Spec("open_video", "Open &Video…", ("Ctrl+O",), "open", "Open a video file"),
    Spec("open_folder", "Open Image &Folder…", ("Ctrl+Shift+O",), "folder_images",
         "Open a folder of images as a video"),
    Spec("open_camera", "Open &Camera…", ("Ctrl+Shift+C",), "",
         "Track objects live from a camera (or a video file played as one); record to a project"),
    Spec("open_project", "Open &Project…", ("Ctrl+Alt+O",), "open", "Open a saved project (.s2s)"),
    Spec("save", "&Save", ("Ctrl+S",), "save", "Save the project (Ctrl+S)"),
    Spec("save_as", "Save &As…", ("Ctrl+Shift+S",), "save", "Save the project under a new name"),
    Spec("export", "&Export…", ("Ctrl+E",), "export", "Export masks, reports or videos"),
    Spec("import_annotations", "&Import Annotations…", ("Ctrl+I",), "",
         "Add masks, objects and classes from COCO, YouTube-VIS, CVAT, MOTS, DAVIS, PNG, NPZ or YOLO files "
         "to the project, to correct them"),
    Spec("quit", "&Quit", ("Ctrl+Q",), "", "Quit SAM2 Studio"),
    # edit
    Spec("add_object", "&Add Object", ("A",), "add", "Add a new object on any frame (A)"),
    Spec("delete_object", "&Delete Object", ("Del",), "trash",
         "Delete the current object and its masks (Del)"),
    Spec("clear_prompt", "&Clear Prompt on This Frame", ("Backspace",), "close",
         "Remove the current object's clicks, box or mask prompt on this frame"),
    # tools
    Spec("tool_positive", "&Positive Click", ("Q",), "click_pos",
         "Positive click: left-click on the object to add it (Q)", True),
    Spec("tool_negative", "&Negative Click", ("W",), "click_neg",
         "Negative click: left-click to remove a region (W); right-click is always negative", True),
    Spec("tool_box", "&Box", ("M",), "box", "Box: drag a box around the object (M)", True),
    Spec("tool_brush", "B&rush", ("B",), "brush",
         "Brush: paint the object's mask on this frame (B); right-drag erases", True),
    Spec("tool_eraser", "&Eraser", ("E",), "eraser", "Eraser: erase from the object's mask (E)", True),
    Spec("brush_bigger", "Bigger Brush", ("]",), "", "Make the brush bigger (])"),
    Spec("brush_smaller", "Smaller Brush", ("[",), "", "Make the brush smaller ([)"),
    # view
    Spec("zoom_fit", "Zoom to &Fit", ("Ctrl+0", "F"), "fit", "Fit the frame in the window (F)"),
    Spec("zoom_100", "Zoom &100%", ("Ctrl+1",), "zoom100", "Show the frame at full resolution (Ctrl+1)"),
    Spec("zoom_in", "Zoom &In", ("Ctrl++", "Ctrl+="), "", "Zoom in"),
    Spec("zoom_out", "Zoom &Out", ("Ctrl+-",), "", "Zoom out"),
    Spec("outline", "&Outline Masks", ("O",), "outline", "Draw mask outlines only (O)", True),
    Spec("opacity_up", "More Opaque Masks", ("Shift+O",), "", "Make the masks more opaque"),
    Spec("opacity_down", "More Transparent Masks", ("Alt+O",), "", "Make the masks more transparent"),
    Spec("smooth", "&Temporal Smoothing", ("T",), "",
         "Show (and by default export) masks smoothed over neighbouring frames: less edge flicker; the stored "
         "masks are not changed (T)", True),
    Spec("follow", "Follow &Propagation", (), "", "Move the playhead along with a running propagation", True),
    # track
    Spec("propagate", "&Propagate (Both Ways)", ("Ctrl+Return",), "propagate",
         "Propagate every object forward and backward from this frame (Ctrl+Enter)"),
    Spec("propagate_fwd", "Propagate &Forward", ("Ctrl+Shift+Right",), "propagate_fwd",
         "Propagate every object forward from this frame"),
    Spec("propagate_back", "Propagate &Backward", ("Ctrl+Shift+Left",), "propagate_back",
         "Propagate every object backward from this frame"),
    Spec("rerun", "Propagate from &Here", ("Ctrl+R",), "rerun",
         "Re-run the corrected objects forward from this frame, keeping everything else (Ctrl+R)"),
    Spec("rerun_damaged", "Re-run &Damaged Frames", (), "rerun",
         "Make the masks that were damaged in the project file again, from each object's nearest prompt "
         "(red on the timeline)"),
    Spec("cancel", "&Cancel", ("Esc",), "cancel", "Stop the running propagation or export (Esc)"),
    Spec("range_in", "Set Range &Start", ("I",), "", "Propagation range starts at this frame (I)"),
    Spec("range_out", "Set Range &End", ("Shift+I",), "", "Propagation range ends at this frame (Shift+I)"),
    Spec("range_clear", "Clear Range", ("Alt+I",), "", "Propagate over the whole video again"),
    Spec("check_quality", "Check &Quality", ("Ctrl+K",), "",
         "Check every object's masks for likely mistakes: low confidence, jumps, sudden changes of shape, "
         "size or colours (Ctrl+K)"),
    Spec("next_flag", "&Next Flagged Frame", ("N",), "",
         "Jump to the next frame the quality check flagged (N)"),
    Spec("prev_flag", "Previous Fla&gged Frame", ("Shift+N",), "",
         "Jump to the previous frame the quality check flagged (Shift+N)"),
    Spec("quality_thresholds", "Quality &Thresholds…", (), "",
         "When the quality check flags a frame: confidence, consistency, drift, area, colours"),
    Spec("auto_quality", "Check Quality After &Propagating", (), "",
         "Run the quality check whenever a propagation finishes", True),
    Spec("report", "&Report…", ("Ctrl+Shift+R",), "",
         "Write the tracking and quality report (paths, speeds, presence, the worst flagged frames) as one "
         "HTML page next to the project, or in your documents folder before it is saved, and open it in "
         "your browser (Ctrl+Shift+R)"),
    # playback
    Spec("play", "&Play / Pause", ("Space",), "play", "Play or pause (Space)"),
    Spec("next_frame", "&Next Frame", ("Right",), "step_fwd", "Next frame (→)"),
    Spec("prev_frame", "P&revious Frame", ("Left",), "step_back", "Previous frame (←)"),
    Spec("next_key", "Next &Keyframe", ("Ctrl+Right", "."), "key_next", "Next keyframe (Ctrl+→)"),
    Spec("prev_key", "Previous K&eyframe", ("Ctrl+Left", ","), "key_prev", "Previous keyframe (Ctrl+←)"),
    Spec("first_frame", "&First Frame", ("Home",), "first", "First frame (Home)"),
    Spec("last_frame", "&Last Frame", ("End",), "last", "Last frame (End)"),
    # models, help
    Spec("models", "&Model Manager…", ("Ctrl+M",), "model",
         "Download SAM 2 models, choose a checkpoint, the device and the image size"),
    Spec("download_tiny", "&Download SAM 2.1 tiny (150 MB)", (), "export",
         "Download the recommended SAM 2.1 tiny checkpoint"),
    Spec("shortcuts", "&Keyboard Shortcuts", ("F1", "?"), "keyboard", "Keyboard shortcuts and mouse (F1)"),
    Spec("about", "&About SAM2 Studio", (), "info", "About SAM2 Studio"),
]


#: the canvas tools, in menu and toolbar order: action name -> tool
TOOLS: dict[str, Tool] = {
    "tool_positive": Tool.POSITIVE,
    "tool_negative": Tool.NEGATIVE,
    "tool_box": Tool.BOX,
    "tool_brush": Tool.BRUSH,
    "tool_eraser": Tool.ERASER,
}

#: entries of MENUS and TOOLBAR that are not action names
SEPARATOR = "-"
TOOL_ACTIONS = "@tools"  # every action of TOOLS
RECENT_MENU = "@recent"  # File → Open Recent (filled when shown)
BRUSH_SIZE = "@brush_size"  # toolbar: the brush size slider and its label
OPACITY = "@opacity"  # toolbar: the mask opacity slider
UNDO, REDO = "undo", "redo"  # made by the undo stack, not by SPECS

MENUS: list[tuple[str, list[str]]] = [
    ("&File", ["new", "open_video", "open_folder", "open_camera", "open_project", RECENT_MENU, SEPARATOR,
               "save", "save_as", "import_annotations", "export", SEPARATOR, "quit"]),
    ("&Edit", [UNDO, REDO, SEPARATOR, "add_object", "delete_object", "clear_prompt"]),
    ("&Tools", [TOOL_ACTIONS, SEPARATOR, "brush_bigger", "brush_smaller"]),
    ("&View", ["zoom_fit", "zoom_100", "zoom_in", "zoom_out", SEPARATOR,
               "outline", "smooth", "opacity_up", "opacity_down", "follow"]),
    ("T&rack", ["propagate", "propagate_fwd", "propagate_back", "rerun", "rerun_damaged", "cancel", SEPARATOR,
                "range_in", "range_out", "range_clear", SEPARATOR,
                "check_quality", "next_flag", "prev_flag", "quality_thresholds", "auto_quality", SEPARATOR,
                "report"]),
    ("&Playback", ["play", "prev_frame", "next_frame", "prev_key", "next_key", "first_frame", "last_frame"]),
    ("&Models", ["models", "download_tiny"]),
    ("&Help", ["shortcuts", "about"]),
]

TOOLBAR: list[str] = [
    "open_video", "save", UNDO, REDO, SEPARATOR, TOOL_ACTIONS, BRUSH_SIZE, SEPARATOR, OPACITY, "outline",
    SEPARATOR, "propagate_back", "propagate", "propagate_fwd", "rerun", "cancel", SEPARATOR,
    "zoom_fit", "zoom_100", "export", "models",
]

#: the transport buttons under the timeline
TRANSPORT: list[str] = ["first_frame", "prev_key", "prev_frame", "play", "next_frame", "next_key", "last_frame"]

#: actions that need an open video (the others work without one)
NEEDS_SESSION: tuple[str, ...] = (
    "save", "save_as", "export", "import_annotations", "add_object", "delete_object", "clear_prompt",
    "propagate", "propagate_fwd", "propagate_back", "rerun", "play", "next_frame", "prev_frame", "next_key",
    "prev_key", "first_frame", "last_frame", "range_in", "range_out", "range_clear", "check_quality",
    "next_flag", "prev_flag", "report",
)
#: actions that start a propagation (disabled while one runs)
STARTS_PROPAGATION: tuple[str, ...] = ("propagate", "propagate_fwd", "propagate_back", "rerun", "rerun_damaged")

Handlers = Mapping[str, Callable]


def build_actions(parent: QWidget, handlers: Handlers) -> dict[str, QAction]:
    """Create the actions of :data:`SPECS` on ``parent``, each bound to ``handlers[name]``."""
    names = {spec.name for spec in SPECS}
    missing = sorted(names - set(handlers))
    unknown = sorted(set(handlers) - names)
    if missing or unknown:
        raise ValueError(f"action handlers do not match the specs: missing {missing}, unknown {unknown}")
    out: dict[str, QAction] = {}
    for spec in SPECS:
        a = QAction(spec.text, parent)
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
        handler = handlers[spec.name]
        if spec.checkable and spec.name not in TOOLS:
            a.toggled.connect(handler)
        else:
            a.triggered.connect(lambda _checked=False, h=handler: h())
        parent.addAction(a)
        out[spec.name] = a
    group = QActionGroup(parent)
    for name in TOOLS:
        group.addAction(out[name])
    out[next(iter(TOOLS))].setChecked(True)
    return out


def _entries(entries: list[str]) -> list[str]:
    out = []
    for e in entries:
        out.extend(TOOLS if e == TOOL_ACTIONS else [e])
    return out


def build_menus(menubar: QMenuBar, actions: Mapping[str, QAction]) -> dict[str, QMenu]:
    """Fill ``menubar`` from :data:`MENUS`; returns the menus made for ``@`` entries (empty)."""
    special: dict[str, QMenu] = {}
    for title, entries in MENUS:
        m = menubar.addMenu(title)
        for e in _entries(entries):
            if e == SEPARATOR:
                m.addSeparator()
            elif e == RECENT_MENU:
                special[e] = m.addMenu("Open &Recent")
            else:
                m.addAction(actions[e])
    return special


def build_toolbar(actions: Mapping[str, QAction], widgets: Mapping[str, list[QWidget]]) -> QToolBar:
    """The main toolbar from :data:`TOOLBAR`; ``widgets`` gives the widgets of ``@`` entries."""
    tb = QToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setIconSize(QSize(22, 22))
    tb.setMovable(False)
    for e in _entries(TOOLBAR):
        if e == SEPARATOR:
            tb.addSeparator()
        elif e.startswith("@"):
            for w in widgets[e]:
                tb.addWidget(w)
        else:
            tb.addAction(actions[e])
    for b in tb.findChildren(QToolButton):
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return tb
