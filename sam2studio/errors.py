"""Errors that carry one clear sentence for the user.

Anything raised as a :class:`UserError` is bad input: the CLI prints its message on one
line and exits 2, the GUI shows it in a dialog. Every other exception is a bug (exit 1).
"""


class UserError(Exception):
    """Bad input from the user: a message meant to be read by a person."""


class VideoError(UserError):
    """A video, image folder or camera that cannot be opened or read."""


class ProjectError(UserError):
    """A project file that cannot be read or written."""


class CheckpointError(UserError):
    """A model checkpoint that is missing, corrupt or does not fit its config."""


class PromptError(UserError):
    """A prompt that does not fit the video (outside the frame, bad id, frame out of range)."""


class Cancelled(Exception):
    """Long work stopped because the user asked for it."""
