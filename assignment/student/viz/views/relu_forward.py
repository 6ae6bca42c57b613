"""The view of question 1.2: X, the mask 1[X > 0] and the student's output, one entry at a time."""

from __future__ import annotations

import ipywidgets as widgets

from assignment.student.viz._base import Visualizer, guarded, text_block
from assignment.student.viz._plots import Op, Panel, fixed_panel, fmt, matrix_rows, shape_title
from assignment.student.viz.relu_forward import ReluForwardProbe
from assignment.student.viz.views.linear_forward import entry_line, show_entries

__all__ = ["ReluForwardViz"]


class ReluForwardViz(Visualizer):
    """X, 1[X > 0] and the student's ReLU.forward(X).

    Fields read by tests (besides the probe's, see ``ReluForwardProbe``):
        stepper, entry, highlight, arithmetic, arithmetic_text: as in ``LinearForwardViz``.
    """

    heading = "Question 1.2 · ReLU.forward: keep the positive entries, zero the rest"
    picture = ("Heatmaps of X, the mask 1[X > 0] and your ReLU.forward output with their shapes, one entry "
               "outlined at a time")

    def __init__(self, probe: ReluForwardProbe) -> None:
        super().__init__(probe)
        shape = probe.x.shape
        self.entry = (0, 0)
        self.highlight: dict = {}
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self.figure, axes = matrix_rows([[
            Panel("X", shape), Op("→", 0.7), Panel("mask", shape), Op("→", 0.7), Panel("Out", shape),
        ]])
        f = self.figure
        self.panels = {
            "X": fixed_panel(f, axes["X"], shape, shape_title("X (input)", shape)),
            "mask": fixed_panel(f, axes["mask"], shape, "1[X > 0]\n1 keeps, 0 zeroes", cmap="Greens",
                                limits=(0, 1.6), digits=0),
            "Out": fixed_panel(f, axes["Out"], shape, shape_title("Out: your forward", shape)),
        }
        show_entries(self, {"X": probe.x, "mask": probe.mask}, probe.x.size)

    @guarded
    def _show(self, position: int) -> None:
        p = self.probe
        row, col = divmod(int(position) % p.x.size, p.x.shape[1])
        self.entry = (row, col)
        self.highlight = {"X_cell": (row, col), "mask_cell": (row, col), "Out_cell": (row, col)}
        for panel in self.panels.values():
            panel.outline("step", "cell", (row, col))
        value = float(p.x[row, col])
        keep = "keeps it" if value > 0 else ("zeroes it" if value < 0 else "x = 0: zero")
        self.arithmetic_text = "\n".join([
            f"Out[{row}, {col}] = max(X[{row}, {col}], 0) = max({fmt(value)}, 0) = {fmt(p.expected[row, col])}"
            f"   (mask {int(p.mask[row, col])}: {keep})",
            entry_line("ReLU.forward", p, (row, col)),
        ])
        self.arithmetic.value = text_block(self.arithmetic_text)
        self.render()
