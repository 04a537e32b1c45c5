"""SAM2 Studio: interactive video object segmentation on top of Meta's SAM 2."""

__version__ = "0.1.0"
