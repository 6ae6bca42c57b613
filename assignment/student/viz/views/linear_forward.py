"""The view of question 1.1: X @ W + b = Out as heatmaps, one output entry at a time."""

from __future__ import annotations

import ipywidgets as widgets

from assignment.student.viz._base import Stepper, Visualizer, guarded, text_block
from assignment.student.viz._plots import Panel, fixed_panel, fmt, matrix_rows, shape_title
from assignment.student.viz.linear_forward import LinearForwardProbe

__all__ = ["LinearForwardViz"]


class LinearForwardViz(Visualizer):
    """X @ W + b = Out on the student's ``Linear.forward``, one output entry at a time.

    Fields read by tests (besides the probe's, see ``LinearForwardProbe``):
        stepper: the Play / Prev / Next / Reset / slider controls.
        entry: the (row, column) of Out being shown.
        highlight: what is outlined: {"X_row", "W_col", "b_col", "Out_cell"}.
        arithmetic: HTML widget; ``arithmetic_text`` is its plain text.
    """

    heading = "Question 1.1 · Linear.forward: Out = X W + b"
    picture = ("Heatmaps of X, W, b and your Linear.forward output with their shapes; the stepper outlines the row "
               "of X, the column of W and the entry of b behind one output entry")

    def __init__(self, probe: LinearForwardProbe) -> None:
        super().__init__(probe)
        (n, i_f), o_f = probe.x.shape, probe.weight.shape[1]
        self.entry = (0, 0)
        self.highlight: dict = {}
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
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
        show_entries(self, {"X": probe.x, "W": probe.weight, "b": probe.bias}, n * o_f)

    @guarded
    def _show(self, position: int) -> None:
        p = self.probe
        n, o_f = p.expected.shape
        row, col = divmod(int(position) % (n * o_f), o_f)
        self.entry = (row, col)
        self.highlight = {"X_row": row, "W_col": col, "b_col": col, "Out_cell": (row, col)}
        self.panels["X"].outline("step", "row", row)
        self.panels["W"].outline("step", "col", col)
        self.panels["b"].outline("step", "cell", (0, col))
        self.panels["Out"].outline("step", "cell", (row, col))
        terms = " + ".join(f"({fmt(a, 1)})({fmt(w, 1)})" for a, w in zip(p.x[row], p.weight[:, col]))
        lines = [
            f"Out[{row}, {col}] = X[{row}, :] · W[:, {col}] + b[0, {col}]",
            f"          = {terms} + ({fmt(p.bias[0, col], 1)})",
            f"          = {p.expected[row, col]:.4f}   (the definition)",
            entry_line("Linear.forward", p, (row, col)),
        ]
        self.arithmetic_text = "\n".join(lines)
        self.arithmetic.value = text_block(self.arithmetic_text)
        self.render()


def show_entries(view: Visualizer, given: dict, count: int) -> None:
    """Fill a forward view's panels (the ``given`` arrays by panel name, the student's output in "Out",
    its differing entries marked), add a stepper over ``count`` entries and show the first."""
    for name, value in given.items():
        view.panels[name].set(value)
    view.panels["Out"].set(view.probe.output, message=view.probe.out_message)
    view.panels["Out"].mark(view.probe.differs)
    view.stepper = Stepper(count, view._show, description="entry")
    view.children = [view.header, view.status, view.image, view.stepper, view.arithmetic]
    view.show_messages()
    view._show(0)


def entry_line(method: str, probe, index: tuple) -> str:
    """'your <method> gives Out[i, j] = value   ✔ same' (or ✘ differs, or that there is no output)."""
    if probe.output is None:
        return f"your {method} gives no usable output yet (see above)"
    verdict = "✘ differs" if probe.differs is not None and probe.differs[index] else "✔ same"
    return f"your {method} gives Out[{index[0]}, {index[1]}] = {float(probe.output[index]):.4f}   {verdict}"
