"""Exporters: mask formats, edited video, presence cuts, tracking report."""
