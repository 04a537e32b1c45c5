"""The desktop app (the only package that imports PySide6 and pyqtgraph).

Start it with :func:`sam2studio.gui.app.run`.
"""

from ._compat import guard_none_refcount

guard_none_refcount()
