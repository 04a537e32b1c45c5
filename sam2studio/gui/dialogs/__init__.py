"""Dialogs: errors (error_dialog), crash recovery, shortcuts, models, quality thresholds, export."""
