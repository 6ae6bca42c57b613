"""Static figures of the notebooks, drawn by code (matplotlib, Agg).

Each function returns a :class:`StaticFigure`, which a notebook shows as a
cell's last expression: a PNG picture with alt text (a bare matplotlib Figure
would show as ``<Figure size 900x320 with 1 Axes>``, since nothing registers a
PNG formatter for Agg figures). They illustrate the ideas only and call no
mytorch code.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["StaticFigure", "training_loop", "one_hot", "softmax_rows"]


class StaticFigure:
    """A drawn figure that Jupyter displays as a picture with alt text.

    Fields:
        figure: the matplotlib Figure (Agg canvas).
        alt: what the picture shows, in words, for screen readers and text-only views.
    """

    def __init__(self, figure: Figure, alt: str) -> None:
        FigureCanvasAgg(figure)
        self.figure = figure
        self.alt = alt
        self._png: bytes | None = None

    def png(self) -> bytes:
        """The picture as PNG bytes (drawn once)."""
        if self._png is None:
            buffer = io.BytesIO()
            self.figure.savefig(buffer, format="png", dpi=100, facecolor="white")
            self._png = buffer.getvalue()
        return self._png

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png()).decode("ascii")
        alt = html.escape(self.alt, quote=True)
        return f'<img src="data:image/png;base64,{data}" alt="{alt}" title="{alt}" style="max-width:100%">'

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        """HTML first (it carries the alt text), the bare PNG and the alt text as plain text after it."""
        return {"text/html": self._repr_html_(), "image/png": base64.b64encode(self.png()).decode("ascii"),
                "text/plain": f"[figure] {self.alt}"}

    def __repr__(self) -> str:
        return f"<StaticFigure: {self.alt}>"


def _box(ax, xy, text, color):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - 0.9, y - 0.32), 1.8, 0.64, boxstyle="round,pad=0.05",
                                facecolor=color, edgecolor="#333333", linewidth=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(ax, start, end, text="", color="#333333", offset=(0, 0.18)):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color=color, linewidth=1.5))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="center", fontsize=8.5, color=color)


def training_loop() -> StaticFigure:
    """The three phases of one training step: forward, backward, step."""
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.set_xlim(-0.2, 10.2)
    ax.set_ylim(-1.6, 1.4)
    ax.axis("off")
    _box(ax, (1, 0.6), "batch X\n(N, features)", "#e8eef7")
    _box(ax, (4, 0.6), "Sequential\nLinear, ReLU, ...", "#dbe9d5")
    _box(ax, (7, 0.6), "logits (N, C)", "#e8eef7")
    _box(ax, (9.2, 0.6), "CrossEntropy\n-> loss", "#f6dfc9")
    _arrow(ax, (1.95, 0.6), (3.05, 0.6), "1. forward")
    _arrow(ax, (4.95, 0.6), (6.05, 0.6))
    _arrow(ax, (7.95, 0.6), (8.25, 0.6))
    ax.add_patch(FancyArrowPatch((9.2, 0.22), (4.5, 0.22), connectionstyle="arc3,rad=-0.35", arrowstyle="-|>",
                                 mutation_scale=14, color="#b03a2e", linewidth=1.5))
    ax.text(7.0, -0.75, "2. backward: dLoss/dlogits, then each layer, last to first", ha="center",
            fontsize=8.5, color="#b03a2e")
    _box(ax, (2.4, -1.1), "SGD.step()\nW <- W - lr dW", "#f3e6f7")
    _arrow(ax, (3.3, -0.9), (3.7, 0.22), "3. step", "#6c3483", (0.55, 0))
    fig.suptitle("One training step", fontsize=11)
    return StaticFigure(fig, "One training step: 1. forward, the batch X (N, features) goes through Sequential "
                        "(Linear, ReLU, ...) to logits (N, C) and CrossEntropy gives the loss; 2. backward, "
                        "dLoss/dlogits flows back through each layer, last to first; 3. step, SGD.step() "
                        "updates every weight, W <- W - lr dW.")


def one_hot(labels=(3, 1, 0), num_classes: int = 4) -> StaticFigure:
    """Class labels as rows of a one-hot matrix T."""
    labels = np.asarray(labels)
    t = np.zeros((len(labels), num_classes))
    t[np.arange(len(labels)), labels] = 1
    fig = Figure(figsize=(5, 2.4))
    ax = fig.add_subplot()
    ax.imshow(t, cmap="Blues", vmin=0, vmax=1.4)
    for (i, j), v in np.ndenumerate(t):
        ax.text(j, i, f"{v:.0f}", ha="center", va="center")
    ax.set_xticks(range(num_classes), [f"class {c}" for c in range(num_classes)])
    ax.set_yticks(range(len(labels)), [f"label {y}" for y in labels])
    ax.set_title(f"T: one row per example, shaped ({len(labels)}, {num_classes})", fontsize=10)
    fig.tight_layout()
    rows = "; ".join(f"label {y} has its 1 in column {y}" for y in labels)
    return StaticFigure(fig, f"One-hot matrix T shaped ({len(labels)}, {num_classes}): one row per example, "
                        f"all zeros except a 1 in the column of its class: {rows}.")


def softmax_rows(logits=((-3.0, 2.0, -1.0, 0.0), (-1.0, 2.0, -3.0, 4.0))) -> StaticFigure:
    """Logits and their softmax probabilities, row by row."""
    z = np.asarray(logits, dtype=float)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    fig = Figure(figsize=(8, 2.4))
    for k, (data, title, fmt) in enumerate([(z, "logits I", "{:.1f}"), (p, "softmax(I): rows sum to 1", "{:.3f}")]):
        ax = fig.add_subplot(1, 2, k + 1)
        ax.imshow(data, cmap="viridis" if k else "coolwarm")
        for (i, j), v in np.ndenumerate(data):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=9, color="white" if k else "black")
        ax.set_title(title, fontsize=10)
        ax.set_xticks(range(z.shape[1]))
        ax.set_yticks(range(z.shape[0]))
    fig.tight_layout()
    rows = "; ".join(f"row {i}: logits {', '.join(f'{v:g}' for v in z[i])} give probabilities "
                     f"{', '.join(f'{v:.3f}' for v in p[i])}" for i in range(len(z)))
    return StaticFigure(fig, f"Logits I and their softmax, row by row; each row of probabilities sums to 1. {rows}.")
