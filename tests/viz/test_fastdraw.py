"""The fast drawing of ``assignment/student/viz/_fastdraw.py`` against plain matplotlib.

``FastText`` (cached glyph bitmaps) and ``LayeredFigure`` (cached layers, matplotlib's blitting)
lean on matplotlib's internals, so they are pinned to the version they were written against,
and each view is rendered both ways and compared: the same picture, up to the placement of
antialiased glyphs (FastText rounds a label to whole pixels, matplotlib 3.11 places glyph by
glyph) and the thin frame under a heatmap (the values layer draws over it). Measured when
written: about 2 % of the pixels differ at all, about 0.5 % by more than 48 grey levels once a
shift of one pixel is allowed; the bound below is 1 %. ``encode_png`` must round-trip exactly.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from assignment.student import viz
from assignment.student.viz import _fastdraw


def test_written_for_the_installed_matplotlib():
    assert matplotlib.__version__ == _fastdraw.WRITTEN_FOR, (
        f"matplotlib {matplotlib.__version__} is installed; FastText and LayeredFigure were written against "
        f"{_fastdraw.WRITTEN_FOR}: check this file's comparisons still hold, then update WRITTEN_FOR")


def test_encode_png_round_trips_exactly():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (37, 53, 4), dtype=np.uint8)
    decoded = np.asarray(Image.open(io.BytesIO(_fastdraw.encode_png(pixels))).convert("RGB"))
    np.testing.assert_array_equal(decoded, pixels[..., :3])


def _grey(png) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("L")).astype(float)


def _off_by_more_than(a: np.ndarray, b: np.ndarray, levels: float) -> np.ndarray:
    """Pixels of ``a`` with no pixel of ``b`` within one pixel that is within ``levels`` grey levels."""
    best = np.full(a.shape, 255.0)
    padded = np.pad(b, 1, mode="edge")
    for i in range(3):
        for j in range(3):
            best = np.minimum(best, np.abs(a - padded[i:i + a.shape[0], j:j + a.shape[1]]))
    return best > levels


VIEWS = {
    "linear_forward": (lambda nn, optim: viz.linear_forward(nn), lambda w: w.stepper.press("next")),
    "xeloss_forward": (lambda nn, optim: viz.xeloss_forward(nn), lambda w: setattr(w.logit_slider, "value", 1.3)),
    "linear_backward": (lambda nn, optim: viz.linear_backward(nn), lambda w: setattr(w.target, "value", "bias")),
    "sequential_backward": (lambda nn, optim: viz.sequential_backward(nn), lambda w: w.stepper.press("next")),
    "sgd_step": (lambda nn, optim: viz.sgd_step(nn, optim), lambda w: setattr(w.lr_slider, "value", 0.3)),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_the_fast_drawing_gives_plain_matplotlibs_picture(name, ref):
    make, interact = VIEWS[name]
    pictures = {}
    try:
        for plain in (False, True):
            _fastdraw.use_plain(plain)
            widget = make(*ref)
            interact(widget)
            assert widget.figure.plain is plain
            pictures[plain] = _grey(widget.image.value)
    finally:
        _fastdraw.use_plain(False)
    fast, slow = pictures[False], pictures[True]
    assert fast.shape == slow.shape
    off = _off_by_more_than(fast, slow, 48) | _off_by_more_than(slow, fast, 48)
    assert off.mean() < 0.01, f"{name}: {off.mean():.2%} of the pixels differ from plain matplotlib's"
    assert (fast != slow).mean() < 0.05, f"{name}: {(fast != slow).mean():.2%} of the pixels differ at all"
