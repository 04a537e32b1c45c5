"""The main window's handlers, one small sub-controller per concern.

Each sub-controller gets the window (its widgets, the document, the controller and the shared
state: current frame and object) and gives :meth:`handlers`, the ``{action name: callable}``
map of the actions it answers (see :mod:`sam2studio.gui.actions`):

* :mod:`.files` - open, save, recent files, recovery, export, cameras;
* :mod:`.editing` - objects, clicks, boxes, strokes, tools and brush size;
* :mod:`.playback` - play, step, seek, keyframe navigation;
* :mod:`.propagation` - propagate, re-run, range, cancel, job progress;
* :mod:`.review` - the quality check and its flagged frames;
* :mod:`.view` - zoom, overlay look, smoothing, help;
* :mod:`.models` - the model manager, the engine label and the classic-engine banner.
"""
