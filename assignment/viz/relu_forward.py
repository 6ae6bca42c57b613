"""Question 1.2 (relu_forward): the input X, the mask of its positive entries and
the student's ReLU.forward(X), one entry at a time."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Stepper, Visualizer, guarded, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._judge import judge, listed
from assignment.viz._plots import Op, Panel, fixed_panel, fmt, matrix_rows, shape_title
from assignment.viz.linear_forward import panel_value
from assignment.questions import _definitions
from assignment.questions._compare import entry_differs

__all__ = ["ReluForwardViz", "relu_forward"]


class ReluForwardViz(Visualizer):
    """X, 1[X > 0] and the student's ReLU.forward(X).

    Fields read by tests:
        x: the seeded input (float32, with one exact 0).
        mask: 1 where x > 0, else 0.
        output: the student's output (None if unusable).
        expected: the definition, entry by entry.
        differs: boolean mask of entries that differ (None if no output).
        stepper, entry, highlight, arithmetic, arithmetic_text: as in ``LinearForwardViz``.
    """

    heading = "Question 1.2 · ReLU.forward: keep the positive entries, zero the rest"
    picture = ("Heatmaps of X, the mask 1[X > 0] and your ReLU.forward output with their shapes, one entry outlined at a time")

    def __init__(self, nn, *, shape: tuple = (3, 4), seed: int = 0) -> None:
        super().__init__()
        shape = tuple(int(s) for s in shape)
        rng = np.random.default_rng(seed)
        self.x = tenths(rng, shape, low=-2, high=2)
        self.x.flat[min(5, self.x.size - 1)] = 0.0  # the kink: ReLU(0) = 0
        self.mask = (self.x > 0).astype(np.float32)
        self.expected = _definitions.relu(self.x)
        self.case = {"x": listed(self.x), "dtype": "float32", "expected": listed(self.expected)}
        self.judgement = None
        self.output: np.ndarray | None = None
        self.differs: np.ndarray | None = None
        self.entry = (0, 0)
        self.highlight: dict = {}
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self._out_message = None
        self._run_student(nn)

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
        self.panels["X"].set(self.x)
        self.panels["mask"].set(self.mask)
        self.panels["Out"].set(self.output, message=self._out_message)
        self.panels["Out"].mark(self.differs)
        self.stepper = Stepper(self.x.size, self._show)
        self.children = [self.header, self.status, self.image, self.stepper, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _run_student(self, nn) -> None:
        """Question 1.2's own run and check on this view's case: the verdict; the picture shows what was judged."""
        self.judgement = judge("relu_forward", nn, None, self.case)
        self.note_verdict(self.judgement, f"ReLU.forward passes question 1.2's check on these inputs: shape "
                          f"{self.x.shape}, dtype float32 kept, input untouched, and all {self.x.size} entries "
                          "equal max(x, 0).")
        if self.judgement.outputs is None:
            self._out_message = "not implemented yet" if self.judgement.kind == _safe.NOT_IMPLEMENTED else "raised an error"
            return
        self.output, self._out_message = panel_value(self.judgement.outputs["output"], self.x.shape)
        if self.output is not None:
            self.differs = entry_differs(self.output, self.expected)
            if self.differs is not None and self.differs.any():
                first = tuple(int(v) for v in np.argwhere(self.differs)[0])
                self.note("info", f"{int(self.differs.sum())} of {self.differs.size} entries differ from max(x, 0) "
                          f"(outlined in red and marked ✘), the first at {first}.")

    @guarded
    def _show(self, position: int) -> None:
        rows, cols = self.x.shape
        row, col = divmod(int(position) % self.x.size, cols)
        self.entry = (row, col)
        self.highlight = {"X_cell": (row, col), "mask_cell": (row, col), "Out_cell": (row, col)}
        for panel in self.panels.values():
            panel.outline("step", "cell", (row, col))
        value = float(self.x[row, col])
        keep = "keeps it" if value > 0 else ("zeroes it" if value < 0 else "x = 0: zero")
        lines = [
            f"Out[{row}, {col}] = max(X[{row}, {col}], 0) = max({fmt(value)}, 0) = {fmt(self.expected[row, col])}"
            f"   (mask {int(self.mask[row, col])}: {keep})",
        ]
        if self.output is not None:
            mine = float(self.output[row, col])
            verdict = "✘ differs" if self.differs is not None and self.differs[row, col] else "✔ same"
            lines.append(f"your ReLU.forward gives Out[{row}, {col}] = {fmt(mine, 4)}   {verdict}")
        else:
            lines.append("your ReLU.forward gives no usable output yet (see above)")
        self.arithmetic_text = "\n".join(lines)
        self.arithmetic.value = text_block(self.arithmetic_text)
        self.render()


def relu_forward(nn, *, shape: tuple = (3, 4), seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``ReLU.forward``: ``viz.relu_forward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        shape: shape of the input X.
        seed: seed of the input.

    Returns:
        A ``ReluForwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("relu_forward", ReluForwardViz, nn, shape=shape, seed=seed)
