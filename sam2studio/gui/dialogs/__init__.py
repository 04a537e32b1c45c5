"""Dialogs: errors, crash recovery, shortcuts, models, export."""
