"""Question 1.1 (linear_forward): X, W, b and the student's Out = Linear.forward(X),
with a stepper that walks the output one entry at a time."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Stepper, Visualizer, guarded, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._judge import build_linear, judge, listed
from assignment.viz._plots import Panel, fixed_panel, fmt, matrix_rows, shape_note, shape_title
from assignment.questions import _definitions
from assignment.questions._compare import entry_differs

__all__ = ["LinearForwardViz", "linear_forward", "build_linear", "panel_value"]


def panel_value(value, shape: tuple) -> tuple[np.ndarray | None, str | None]:
    """What a panel of ``shape`` shows of a student's answer: (the array, None) or (None, a short note)."""
    checked = _safe.check_array(value, "answer", shape)
    if checked.ok or checked.kind == _safe.NAN:
        return np.asarray(checked.value), None
    if checked.kind == _safe.SHAPE:
        return None, shape_note(np.shape(checked.value), shape)
    return None, {"none": "returned None"}.get(checked.kind, "unusable result")


class LinearForwardViz(Visualizer):
    """X @ W + b = Out on the student's ``Linear.forward``, one output entry at a time.

    Fields read by tests:
        x, weight, bias: the seeded inputs (float32).
        output: the student's output (None if unusable).
        expected: each entry's x_row · w_col + b (the definition).
        differs: boolean mask of entries whose student value differs (None if no output).
        stepper: the Play / Prev / Next / Reset / slider controls.
        entry: the (row, column) of Out being shown.
        highlight: what is outlined: {"X_row", "W_col", "b_col", "Out_cell"}.
        arithmetic: HTML widget; ``arithmetic_text`` is its plain text.
    """

    heading = "Question 1.1 · Linear.forward: Out = X W + b"
    picture = ("Heatmaps of X, W, b and your Linear.forward output with their shapes; the stepper outlines the row of X, the column of W and the entry of b behind one output entry")

    def __init__(self, nn, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2, seed: int = 0) -> None:
        super().__init__()
        n, i_f, o_f = int(batch_size), int(in_features), int(out_features)
        rng = np.random.default_rng(seed)
        self.x = tenths(rng, (n, i_f))
        self.weight = tenths(rng, (i_f, o_f))
        self.bias = tenths(rng, (1, o_f))
        self.expected = _definitions.linear(self.x, self.weight, self.bias)
        self.case = {"x": listed(self.x), "weight": listed(self.weight), "bias": listed(self.bias),
                     "dtype": "float32", "expected": listed(self.expected)}
        self.judgement = None
        self.output: np.ndarray | None = None
        self.differs: np.ndarray | None = None
        self.entry = (0, 0)
        self.highlight: dict = {}
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""

        self._run_student(nn)

        self.figure, axes = matrix_rows([[
            Panel("X", (n, i_f)), "@", Panel("W", (i_f, o_f)), "+", Panel("b", (1, o_f)), "=", Panel("Out", (n, o_f)),
        ]])
        f = self.figure
        self.panels = {
            "X": fixed_panel(f, axes["X"], (n, i_f), shape_title("X (input)", (n, i_f), "(N, in)")),
            "W": fixed_panel(f, axes["W"], (i_f, o_f), shape_title("W = weight", (i_f, o_f), "(in, out)")),
            "b": fixed_panel(f, axes["b"], (1, o_f), shape_title("b = bias", (1, o_f))),
            "Out": fixed_panel(f, axes["Out"], (n, o_f), shape_title("Out: your forward", (n, o_f), "(N, out)")),
        }
        self.panels["X"].set(self.x)
        self.panels["W"].set(self.weight)
        self.panels["b"].set(self.bias)
        self.panels["Out"].set(self.output, message=self._out_message)
        self.panels["Out"].mark(self.differs)

        self.stepper = Stepper(n * o_f, self._show, description="entry")
        self.children = [self.header, self.status, self.image, self.stepper, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _run_student(self, nn) -> None:
        """Question 1.1's own run and check on this view's case: the verdict; the picture shows what was judged."""
        n, o_f = self.expected.shape
        self._out_message = None
        self.judgement = judge("linear_forward", nn, None, self.case)
        self.note_verdict(self.judgement, f"Linear.forward passes question 1.1's check on these inputs: shape "
                          f"{(n, o_f)}, dtype float32 kept, and all {n * o_f} entries equal x_row · w_col + b.")
        if self.judgement.outputs is None:
            self._out_message = "not implemented yet" if self.judgement.kind == _safe.NOT_IMPLEMENTED else "raised an error"
            return
        self.output, self._out_message = panel_value(self.judgement.outputs["output"], (n, o_f))
        if self.output is not None:
            self.differs = entry_differs(self.output, self.expected)
            if self.differs is not None and self.differs.any() and not self.judgement.passed:
                first = tuple(int(v) for v in np.argwhere(self.differs)[0])
                self.note("info", f"{int(self.differs.sum())} of {self.differs.size} entries of Out differ from "
                          f"x_row · w_col + b (outlined in red and marked ✘), the first at {first}.")

    @guarded
    def _show(self, position: int) -> None:
        n, o_f = self.expected.shape
        row, col = divmod(int(position) % (n * o_f), o_f)
        self.entry = (row, col)
        self.highlight = {"X_row": row, "W_col": col, "b_col": col, "Out_cell": (row, col)}
        self.panels["X"].outline("step", "row", row)
        self.panels["W"].outline("step", "col", col)
        self.panels["b"].outline("step", "cell", (0, col))
        self.panels["Out"].outline("step", "cell", (row, col))
        terms = " + ".join(f"({fmt(a, 1)})({fmt(w, 1)})" for a, w in zip(self.x[row], self.weight[:, col]))
        lines = [
            f"Out[{row}, {col}] = X[{row}, :] · W[:, {col}] + b[0, {col}]",
            f"          = {terms} + ({fmt(self.bias[0, col], 1)})",
            f"          = {self.expected[row, col]:.4f}   (the definition)",
        ]
        if self.output is not None:
            mine = float(self.output[row, col])
            verdict = "✘ differs" if self.differs is not None and self.differs[row, col] else "✔ same"
            lines.append(f"your Linear.forward gives Out[{row}, {col}] = {mine:.4f}   {verdict}")
        else:
            lines.append("your Linear.forward gives no usable output yet (see above)")
        self.arithmetic_text = "\n".join(lines)
        self.arithmetic.value = text_block(self.arithmetic_text)
        self.render()


def linear_forward(nn, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2,
                   seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``Linear.forward``: ``viz.linear_forward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        batch_size, in_features, out_features: sizes of X and W (keep them small).
        seed: seed of the inputs.

    Returns:
        A ``LinearForwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("linear_forward", LinearForwardViz, nn, batch_size=batch_size, in_features=in_features,
                  out_features=out_features, seed=seed)
