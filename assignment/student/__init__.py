"""Student-facing: what the notebooks call (the visible tests, the progress cell, the figures, the visualizers)."""
