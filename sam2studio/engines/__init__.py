"""Segmentation engines: SAM 2 (sam2's video predictor) and the built-in classic engine."""
