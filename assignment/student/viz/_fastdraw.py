"""The visualizers' fast drawing, in one place: what leans on matplotlib's internals.

Three pieces make an interaction cheap enough for the 50 ms budget (``bench/viz_latency.py``):

* ``LayeredFigure``: a figure rendered in three layers (static, values, overlay), each cached
  as a bitmap, so that an interaction redraws only what it changed (matplotlib's blitting,
  with its ``copy_from_bbox`` / ``restore_region``);
* ``FastText``: a Text drawn from a cached glyph bitmap (FT2Font calls of the Agg renderer);
* ``encode_png``: a small PNG writer (no row filter, zlib level 1).

They were written against matplotlib ``WRITTEN_FOR``; ``tests/viz/test_fastdraw.py`` fails when
another version is installed and checks that they still give plain matplotlib's pixels.
``use_plain(True)`` (or ``MYTORCH_VIZ_PLAIN_DRAW=1`` in the environment) turns all three off:
figures built afterwards draw every artist with ``canvas.draw()`` and PNGs come from
matplotlib's own writer (the benchmark's ``--plain`` and the pixel test use it).
"""

from __future__ import annotations

import io
import os
import struct
import zlib

from matplotlib import image as mpl_image
import numpy as np
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.colors import to_rgba
from matplotlib.font_manager import findfont, get_font
from matplotlib.text import Text

__all__ = ["WRITTEN_FOR", "use_plain", "plain", "encode_png", "FastText", "fast_text", "LayeredFigure"]

#: the matplotlib version FastText and LayeredFigure were written against and checked with
WRITTEN_FOR = "3.11.2"

_PLAIN = [os.environ.get("MYTORCH_VIZ_PLAIN_DRAW", "") == "1"]


def use_plain(on: bool) -> None:
    """Draw figures built from now on with plain matplotlib (True) or the fast layers (False)."""
    _PLAIN[0] = bool(on)


def plain() -> bool:
    """Whether plain matplotlib drawing is on."""
    return _PLAIN[0]


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def encode_png(pixels: np.ndarray) -> bytes:
    """RGB(A) pixels (height, width, 3 or 4, uint8) as an RGB PNG.

    A minimal encoder: no row filter, zlib level 1. On these figures (flat
    colours, much white) it is about twice as fast as Pillow's PNG writer and
    gives files no larger. With ``use_plain(True)``: matplotlib's own writer.
    """
    if plain():
        buffer = io.BytesIO()
        mpl_image.imsave(buffer, np.ascontiguousarray(pixels[..., :3]), format="png")
        return buffer.getvalue()
    height, width = pixels.shape[:2]
    raw = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter byte 0, then R G B ...
    raw[:, 1:].reshape(height, width, 3)[...] = pixels[..., :3]  # one strided copy, no temporary
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
            + _chunk(b"IEND", b""))


_SPRITES: dict = {}


class FastText(Text):
    """A Text drawn from a cached bitmap: much quicker for value labels redrawn often.

    Only plain horizontal text without a box takes the fast path (on an Agg
    renderer); anything else is drawn by matplotlib as usual.
    """

    def draw(self, renderer) -> None:
        if not self.get_visible() or not self.get_text():
            return
        if (plain() or not isinstance(renderer, RendererAgg) or self.get_rotation() != 0
                or self.get_bbox_patch() is not None or "\n" in self.get_text()):
            super().draw(renderer)
            return
        prop = self.get_fontproperties()
        colour = to_rgba(self.get_color(), self.get_alpha())
        key = (self.get_text(), prop.get_size_in_points(), prop.get_weight(), tuple(prop.get_family()),
               colour, renderer.dpi, self.get_ha(), self.get_va())
        sprite = _SPRITES.get(key)
        if sprite is None:
            if len(_SPRITES) > 5000:
                _SPRITES.clear()
            font = get_font(findfont(prop))
            font.clear()
            font.set_size(prop.get_size_in_points(), renderer.dpi)
            font.set_text(self.get_text(), 0.0, flags=get_hinting_flag())
            font.draw_glyphs_to_bitmap(antialiased=True)
            coverage = np.asarray(font.get_image()).astype(float) * colour[3]
            sprite = np.zeros(coverage.shape + (4,), np.uint8)
            sprite[..., :3] = np.round(np.array(colour[:3]) * 255).astype(np.uint8)
            sprite[..., 3] = coverage.astype(np.uint8)
            sprite = np.ascontiguousarray(sprite[::-1])
            _SPRITES[key] = sprite
        h, w = sprite.shape[:2]
        px, py = self.get_transform().transform(self.get_position())
        x0 = {"center": px - w / 2, "left": px, "right": px - w}.get(self.get_ha(), px - w / 2)
        y0 = {"center": py - h / 2, "baseline": py, "bottom": py, "top": py - h}.get(self.get_va(), py - h / 2)
        gc = renderer.new_gc()
        renderer.draw_image(gc, round(x0), round(y0), sprite)
        gc.restore()


def fast_text(ax, x: float, y: float, text: str = "", **kwargs) -> FastText:
    """Add a ``FastText`` to ``ax`` at data coordinates (x, y)."""
    artist = FastText(x, y, text, **kwargs)
    ax.add_artist(artist)
    return artist


class LayeredFigure:
    """A figure rendered to PNG in three layers (static, values, overlay).

    Built while ``plain()`` is on, it registers no layer: every render draws the whole figure.
    """

    def __init__(self, fig) -> None:
        self.fig = fig
        self.plain = plain()
        self._values: list = []
        self._overlay: list = []
        self._bg_static = None
        self._bg_values = None
        self._static_dirty = True
        self._values_dirty = True

    def value(self, artist):
        """Register an artist redrawn whenever the data change."""
        artist.set_animated(not self.plain)
        self._values.append(artist)
        return artist

    def overlay(self, artist):
        """Register an artist redrawn at every render (highlights)."""
        artist.set_animated(not self.plain)
        self._overlay.append(artist)
        return artist

    def values_changed(self) -> None:
        self._values_dirty = True

    def static_changed(self) -> None:
        self._static_dirty = True

    def draw(self) -> np.ndarray:
        """Bring the canvas up to date; return its RGBA pixels."""
        canvas = self.fig.canvas
        if self.plain:
            canvas.draw()
            return np.asarray(canvas.buffer_rgba())
        if self._static_dirty or self._bg_static is None:
            canvas.draw()
            self._bg_static = canvas.copy_from_bbox(self.fig.bbox)
            self._static_dirty = False
            self._values_dirty = True
        renderer = canvas.get_renderer()
        if self._values_dirty or self._bg_values is None:
            canvas.restore_region(self._bg_static)
            for artist in self._values:
                if artist.get_visible():
                    artist.draw(renderer)
            self._bg_values = canvas.copy_from_bbox(self.fig.bbox)
            self._values_dirty = False
        else:
            canvas.restore_region(self._bg_values)
        for artist in self._overlay:
            if artist.get_visible():
                artist.draw(renderer)
        return np.asarray(canvas.buffer_rgba())

    def png(self) -> bytes:
        """The figure as PNG bytes."""
        return encode_png(self.draw())
