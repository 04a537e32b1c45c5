"""The package version, in one place (``sam2studio.__version__``, project files, batch status)."""

__version__ = "0.1.0"
