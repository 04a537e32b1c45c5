"""Qt-free model of a segmentation session: video, masks, prompts, project."""
