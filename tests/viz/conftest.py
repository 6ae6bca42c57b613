"""Fixtures of the visualizer tests: the reference mytorch, headless matplotlib."""

from __future__ import annotations

import matplotlib
import pytest

matplotlib.use("Agg")  # the visualizers never need a GUI backend; make sure none is tried


@pytest.fixture
def ref():
    """The reference ``(nn, optim)`` modules."""
    from mytorch import nn, optim

    return nn, optim


def is_png(data) -> bool:
    """True for PNG bytes (ipywidgets keeps an Image's value as a memoryview)."""
    data = bytes(data) if data is not None else b""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
