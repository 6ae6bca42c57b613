"""Seeded, readable inputs for the visualizers (so screenshots are reproducible)."""

from __future__ import annotations

import numpy as np

__all__ = ["tenths", "labels"]


def tenths(rng: np.random.Generator, shape: tuple, *, low: float = -1.0, high: float = 1.0,
           avoid_zero: float = 0.0, dtype=np.float32) -> np.ndarray:
    """Uniform values rounded to one decimal, so that hand arithmetic is easy.

    Args:
        avoid_zero: entries closer to 0 than this are pushed out to +-avoid_zero.
    """
    values = np.round(rng.uniform(low, high, shape), 1)
    if avoid_zero:
        small = np.abs(values) < avoid_zero
        values[small] = np.where(values[small] < 0, -avoid_zero, avoid_zero)
    return values.astype(dtype)


def labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    """n integer class labels in [0, classes)."""
    return rng.integers(0, classes, n).astype(np.int64)
