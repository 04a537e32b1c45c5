"""The package version, in one place (read by the CLI, the app and the model cache)."""

__version__ = "0.1.0"
