"""Question 1.2 (relu_forward): the input X, the mask of its positive entries and
the student's ReLU.forward(X), one entry at a time."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Stepper, Visualizer, guarded, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._plots import Op, Panel, fixed_panel, fmt, matrix_rows, shape_note, shape_title

__all__ = ["ReluForwardViz", "relu_forward"]


def _definition(x: np.ndarray) -> np.ndarray:
    """Entry by entry: the entry itself if it is positive, else 0 (the notebook's definition)."""
    flat = [float(v) if v > 0 else 0.0 for v in np.asarray(x, dtype=float).ravel()]
    return np.array(flat).reshape(x.shape)


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
        self.expected = _definition(self.x)
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
        made = _safe.construct(nn, "ReLU", label="ReLU()")
        if not made.ok:
            self.note_outcome(made)
            self._out_message = "no layer"
            return
        given = self.x.copy()
        result = _safe.call("ReLU.forward", _safe.method(made.value, "forward"), given)
        if not result.ok:
            self.note_outcome(result)
            self._out_message = "not implemented yet" if result.kind == _safe.NOT_IMPLEMENTED else "raised an error"
            return
        checked = _safe.check_array(result.value, "ReLU.forward", self.x.shape, shape_hint="the input's shape",
                                    expected_dtype=self.x.dtype)
        if not checked.ok:
            self.note_outcome(checked)
            if checked.kind == _safe.NAN:
                self.output = np.asarray(checked.value, dtype=float)
                self.differs = ~np.isfinite(self.output)
            else:
                notes = {"none": "returned None", "shape": shape_note(np.shape(checked.value), self.x.shape)}
                self._out_message = notes.get(checked.kind, "unusable result")
            return
        self.output = checked.value
        for extra in checked.notes:
            self.note("warn", extra)
        if not np.array_equal(given, self.x):
            self.note("warn", "ReLU.forward changed its input array in place: the caller's X (and self.x, "
                      "which backward needs) lost its negative entries. Work on a new array instead.")
        self.differs = ~np.isclose(self.output.astype(float), self.expected, rtol=1e-6, atol=1e-7)
        wrong, total = int(self.differs.sum()), self.differs.size
        if wrong == 0:
            self.note("ok", f"ReLU.forward kept the shape {self.x.shape} and all {total} entries equal max(x, 0).")
        else:
            first = tuple(int(v) for v in np.argwhere(self.differs)[0])
            self.note("error", f"{wrong} of {total} entries differ from max(x, 0) (outlined in red and marked ✘), "
                      f"the first at {first}.", _safe.MISMATCH)

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
