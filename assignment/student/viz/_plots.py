"""Matplotlib helpers: figures drawn once with Agg, updated in place, sent as PNG.

No pyplot: figures are ``matplotlib.figure.Figure`` objects with their own Agg
canvas, so nothing ever opens a window and no Jupyter extension is needed.

A :class:`LayeredFigure` keeps three layers so that an interaction redraws only
what it changed:

* static: axes, titles, tick labels, operators (drawn once);
* values: heatmap images, value labels, mismatch marks (redrawn when data change);
* overlay: highlight outlines (redrawn on every render, cheap).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.transforms import offset_copy

from assignment.student.viz._fastdraw import FastText, LayeredFigure, encode_png, fast_text
from assignment.student.viz._probe import fmt, shape_note

__all__ = [
    "DPI",
    "encode_png",
    "HIGHLIGHT",
    "MISMATCH",
    "TARGET",
    "SECOND",
    "MUTED",
    "LayeredFigure",
    "MatrixPanel",
    "Panel",
    "Op",
    "matrix_rows",
    "fixed_panel",
    "shape_note",
    "fmt",
    "FastText",
    "fast_text",
    "new_figure",
]

DPI = 100
CELL = 0.46  # inches per matrix cell
HIGHLIGHT = "#ff7f0e"  # orange: the entries the stepper is looking at
SECOND = "#2ca02c"  # green: a second highlight
MISMATCH = "#d62728"  # red: entries that differ
MUTED = "#777777"
TARGET = "#6a3d9a"  # purple outline: the target class of each row


def new_figure(width: float, height: float) -> Figure:
    """A white figure with its own Agg canvas (no pyplot, no window)."""
    fig = Figure(figsize=(width, height), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


@dataclass
class Panel:
    """A matrix slot in a :func:`matrix_rows` layout."""

    name: str
    shape: tuple  # (rows, columns)


@dataclass
class Op:
    """An operator or arrow between matrices in a :func:`matrix_rows` layout."""

    text: str
    width: float = 0.5  # inches
    fontsize: float = 15


def matrix_rows(
    rows: Sequence[Sequence[Panel | Op | str]],
    *,
    cell: float = CELL,
    title_height: float = 0.5,
    bottom: float = 0.25,
    side: float = 0.35,
    extra_height: float = 0.0,
    min_width: float = 0.0,
) -> tuple[LayeredFigure, dict[str, Any]]:
    """Lay matrices out in rows, every cell the same size, operators between them.

    Args:
        rows: each row a sequence of ``Panel``s and ``Op``s (a str is an ``Op``).
        cell: inches per matrix cell.
        title_height: inches above each matrix for its two-line title.
        bottom: inches below each matrix (column indices).
        side: margin left and right of the figure, in inches.
        extra_height: inches added at the bottom of the figure (for a plot of one's own).
        min_width: the figure is at least this wide, in inches.

    Returns:
        The LayeredFigure and a dict from panel name to its Axes.
    """
    rows = [[Op(item) if isinstance(item, str) else item for item in row] for row in rows]
    row_heights = []
    row_widths = []
    for row in rows:
        tallest = max((item.shape[0] for item in row if isinstance(item, Panel)), default=1)
        row_heights.append(tallest * cell + title_height + bottom)
        row_widths.append(
            sum(item.shape[1] * cell + 0.25 if isinstance(item, Panel) else item.width for item in row)
        )
    width = max(max(row_widths) + 2 * side, min_width)
    height = sum(row_heights) + 0.1 + extra_height
    fig = new_figure(width, height)
    axes: dict[str, Any] = {}
    top = height - 0.05
    for row, row_height in zip(rows, row_heights):
        tallest = row_height - title_height - bottom
        centre_y = top - title_height - tallest / 2
        x = side
        for item in row:
            if isinstance(item, Panel):
                r, c = item.shape
                w, h = c * cell, r * cell
                x += 0.25  # room for row indices
                ax = fig.add_axes((x / width, (centre_y - h / 2) / height, w / width, h / height))
                axes[item.name] = ax
                x += w
            else:
                if item.text:
                    fig.text(
                        (x + item.width / 2) / width, centre_y / height, item.text,
                        ha="center", va="center", fontsize=item.fontsize, color="#333333",
                    )
                x += item.width
        top -= row_height
    return LayeredFigure(fig), axes


def _wrap(message: str, columns: int) -> str:
    width = max(12, int(columns * 9))
    return "\n".join(textwrap.fill(part, width) for part in message.split("\n"))


class MatrixPanel:
    """A matrix drawn as an annotated heatmap, with a title naming its shape.

    The values, the per-entry mismatch marks and the message box live in the
    figure's values layer; the highlight outlines in its overlay layer.
    """

    def __init__(
        self,
        layered: LayeredFigure,
        ax,
        shape: tuple,
        title: str,
        *,
        cmap: str = "RdBu_r",
        annotate: bool = True,
        digits: int = 2,
        fontsize: float = 8,
        limits: tuple[float, float] | None = None,
        symmetric: bool = True,
        title_color: str = "black",
        row_labels: bool = True,
        col_labels: bool = True,
        fixed: bool = False,
    ) -> None:
        """
        Args:
            fixed: the values are set once and never change with an interaction: the panel is
                drawn into the static layer, so interactions redraw less.
        """
        self.layered = layered
        self._keep = (lambda artist: artist) if fixed else layered.value
        self._changed = layered.static_changed if fixed else layered.values_changed
        self.ax = ax
        self.shape = tuple(int(s) for s in shape)
        self.digits = digits
        self.symmetric = symmetric
        self.fixed_limits = limits
        r, c = self.shape
        self.values: np.ndarray | None = None
        image = np.zeros(self.shape)
        colours = matplotlib.colormaps[cmap].with_extremes(bad="#eeeeee")  # NaN (no value) shows grey
        self.image = self._keep(ax.imshow(image, cmap=colours, interpolation="nearest", aspect="auto"))
        ax.set_xlim(-0.5, c - 0.5)
        ax.set_ylim(r - 0.5, -0.5)
        # No matplotlib axis machinery (ticks are slow to build): a frame, indices and title as plain artists.
        ax.set_axis_off()
        ax.add_patch(Rectangle((-0.5, -0.5), c, r, fill=False, ec="#bbbbbb", lw=0.8, clip_on=False))
        def shifted(dx: float, dy: float):
            return offset_copy(ax.transData, fig=ax.figure, x=dx, y=dy, units="points")

        if row_labels:
            for i in range(r):
                ax.text(-0.5, i, str(i), ha="right", va="center", fontsize=6.5, color=MUTED, transform=shifted(-3, 0))
        if col_labels:
            for j in range(c):
                ax.text(j, r - 0.5, str(j), ha="center", va="top", fontsize=6.5, color=MUTED, transform=shifted(0, -2))
        self.title = ax.text((c - 1) / 2, -0.5, title, ha="center", va="bottom", fontsize=8.5, transform=shifted(0, 3),
                             color=title_color, linespacing=1.15)
        self.annotate = annotate and r * c <= 120
        self.texts = []
        if self.annotate:
            for i in range(r):
                row = []
                for j in range(c):
                    row.append(self._keep(fast_text(ax, j, i, "", ha="center", va="center", fontsize=fontsize)))
                self.texts.append(row)
        self.message = self._keep(
            ax.text(
                (c - 1) / 2, (r - 1) / 2, "", ha="center", va="center", fontsize=7.5, color=MISMATCH,
                zorder=6, clip_on=False,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=MISMATCH, lw=1),
            )
        )
        self.message.set_visible(False)
        self._marks: dict[tuple, Rectangle] = {}
        self._outlines: dict[str, Rectangle] = {}

    # -- values layer -------------------------------------------------
    def set(self, values: Any = None, message: str | None = None) -> None:
        """Show ``values`` (shaped like the panel) or, if None, just ``message``."""
        self._changed()
        array = None if values is None else np.asarray(values, dtype=float)
        if array is not None and array.shape != self.shape:
            message = message or shape_note(array.shape, self.shape)
            array = None
        self.values = array
        if array is None:
            self.image.set_data(np.full(self.shape, np.nan))
            for row in self.texts:
                for text in row:
                    text.set_text("")
        else:
            shown = np.where(np.isfinite(array), array, np.nan)
            self.image.set_data(shown)
            if self.fixed_limits is not None:
                low, high = self.fixed_limits
            else:
                finite = np.abs(shown[np.isfinite(shown)])
                top = float(finite.max()) if finite.size else 1.0
                top = top if top > 0 else 1.0
                low, high = (-top, top) if self.symmetric else (float(np.nanmin(shown)), top)
                if high <= low:
                    high = low + 1
            self.image.set_clim(low, high)
            norm = Normalize(low, high)
            if self.texts:
                colours = self.image.cmap(norm(np.nan_to_num(shown)))
                light = (0.299 * colours[..., 0] + 0.587 * colours[..., 1] + 0.114 * colours[..., 2]) > 0.5
                for i, row in enumerate(self.texts):
                    for j, text in enumerate(row):
                        text.set_text(fmt(array[i, j], self.digits))
                        text.set_color("black" if light[i, j] else "white")
        if message:
            self.message.set_text(_wrap(message, self.shape[1]))
            self.message.set_visible(True)
        else:
            self.message.set_visible(False)

    def mark(self, mask: np.ndarray | None, color: str = MISMATCH, symbol: str | None = None) -> None:
        """Outline every entry where ``mask`` is True (None clears), with a symbol in its corner
        so that the mark never speaks by colour alone: ✘ for a mismatch, ∅ for "not compared".

        Args:
            symbol: the corner symbol; by default ✘ for the mismatch colour and ∅ for any other.
        """
        self._changed()
        symbol = symbol if symbol is not None else ("✘" if color == MISMATCH else "∅")
        for rect, sign in self._marks.values():
            rect.set_visible(False)
            sign.set_visible(False)
        if mask is None:
            return
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != self.shape:
            return
        for i, j in zip(*np.nonzero(mask)):
            key = (int(i), int(j))
            if key not in self._marks:
                rect = Rectangle((j - 0.44, i - 0.44), 0.88, 0.88, fill=False, ec=color, lw=2.2, zorder=5)
                self.ax.add_patch(rect)
                # A cached-bitmap label (no box): marks are redrawn on every interaction.
                sign = fast_text(self.ax, j + 0.42, i - 0.40, "", ha="right", va="top", fontsize=8, zorder=6,
                                 fontweight="bold")
                self._keep(rect)
                self._keep(sign)
                self._marks[key] = (rect, sign)
            rect, sign = self._marks[key]
            rect.set_edgecolor(color)
            rect.set_visible(True)
            sign.set_text(symbol)
            sign.set_color(color if self._light(key) else "white")  # readable on dark cells too
            sign.set_visible(True)

    def _light(self, index: tuple) -> bool:
        """Whether the cell at ``index`` is drawn in a light colour (True when it has no value)."""
        if self.values is None or not np.isfinite(self.values[index]):
            return True
        r, g, b, _ = self.image.to_rgba(self.values[index])
        return 0.299 * r + 0.587 * g + 0.114 * b > 0.5

    # -- overlay layer ------------------------------------------------
    def outline(self, key: str, what: str | None, index: Any = None, color: str = HIGHLIGHT, lw: float = 3.0) -> None:
        """Show (or hide, with what=None) the outline called ``key``.

        Args:
            what: ``"row"`` (index = row), ``"col"`` (index = column),
                ``"cell"`` (index = (row, column)), ``"all"``, or None to hide.
        """
        rect = self._outlines.get(key)
        if rect is None:
            rect = Rectangle((0, 0), 1, 1, fill=False, ec=color, lw=lw, zorder=7, clip_on=False)
            self.ax.add_patch(rect)
            self.layered.overlay(rect)
            self._outlines[key] = rect
        if what is None:
            rect.set_visible(False)
            return
        r, c = self.shape
        if what == "row":
            bounds = (-0.5, index - 0.5, c, 1)
        elif what == "col":
            bounds = (index - 0.5, -0.5, 1, r)
        elif what == "cell":
            i, j = index
            bounds = (j - 0.5, i - 0.5, 1, 1)
        elif what == "all":
            bounds = (-0.5, -0.5, c, r)
        else:
            raise ValueError(what)
        rect.set_bounds(*bounds)
        rect.set_edgecolor(color)
        rect.set_linewidth(lw)
        rect.set_visible(True)

    def clear_outlines(self) -> None:
        for rect in self._outlines.values():
            rect.set_visible(False)


def shape_title(name: str, shape: Iterable[int], meaning: str = "") -> str:
    """'name\\nshape (3, 4) = (N, in)' style titles."""
    shape = tuple(int(s) for s in shape)
    return f"{name}\n{shape}" + (f" = {meaning}" if meaning else "")


def fixed_panel(*args: Any, **kwargs: Any) -> MatrixPanel:
    """A ``MatrixPanel`` whose values never change once set (drawn in the static layer)."""
    return MatrixPanel(*args, fixed=True, **kwargs)
