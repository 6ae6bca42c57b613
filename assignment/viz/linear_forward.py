"""Question 1.1 (linear_forward): X, W, b and the student's Out = Linear.forward(X),
with a stepper that walks the output one entry at a time."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Stepper, Visualizer, guarded, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._plots import Panel, fixed_panel, fmt, matrix_rows, shape_note, shape_title

__all__ = ["LinearForwardViz", "linear_forward", "build_linear"]


def build_linear(nn, weight: np.ndarray, bias: np.ndarray) -> _safe.Outcome:
    """The student's ``nn.Linear(in, out)`` with the given parameters (copies)."""
    made = _safe.construct(nn, "Linear", weight.shape[0], weight.shape[1],
                           label=f"Linear({weight.shape[0]}, {weight.shape[1]})")
    if not made.ok:
        return made
    layer = made.value
    try:
        layer.weight = weight.copy()
        layer.bias = bias.copy()
    except Exception as error:  # noqa: BLE001 - a student's class may forbid it
        kind, message = _safe.describe_exception("setting Linear.weight / Linear.bias", error)
        return _safe.Outcome(False, None, kind, message)
    return made


def close(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Entry-wise 'equal up to float32 rounding'."""
    return np.isclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-4, atol=1e-5)


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
        self.expected = np.array(
            [[float(np.dot(self.x[r].astype(float), self.weight[:, c].astype(float))) + float(self.bias[0, c])
              for c in range(o_f)] for r in range(n)]
        )
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
        n, i_f = self.x.shape
        o_f = self.weight.shape[1]
        self._out_message = None
        made = build_linear(nn, self.weight, self.bias)
        if not made.ok:
            self.note_outcome(made)
            self._out_message = "no layer"
            return
        result = _safe.call("Linear.forward", _safe.method(made.value, "forward"), self.x.copy())
        if not result.ok:
            self.note_outcome(result)
            self._out_message = "not implemented yet" if result.kind == _safe.NOT_IMPLEMENTED else "raised an error"
            return
        checked = _safe.check_array(result.value, "Linear.forward", (n, o_f), shape_hint="(N, out_features)",
                                    expected_dtype=self.x.dtype)
        if not checked.ok:
            self.note_outcome(checked)
            if checked.kind == _safe.SHAPE:
                self._out_message = shape_note(checked.value.shape, (n, o_f))
            elif checked.kind == _safe.NAN:
                self.output = np.asarray(checked.value, dtype=float)
                self.differs = ~np.isfinite(self.output)
            else:
                self._out_message = {"none": "returned None"}.get(checked.kind, "unusable result")
            return
        self.output = checked.value
        for extra in checked.notes:
            self.note("warn", extra)
        stored = _safe.attribute(made.value, "x")
        if stored is None:
            self.note("warn", "Linear.forward did not keep its input in self.x; backward will need it.")
        self.differs = ~close(self.output, self.expected)
        wrong = int(self.differs.sum())
        total = self.differs.size
        if wrong == 0:
            self.note("ok", f"Linear.forward returned shape {(n, o_f)} and all {total} entries equal "
                      "x_row · w_col + b.")
        else:
            first = tuple(int(v) for v in np.argwhere(self.differs)[0])
            self.note("error", f"{wrong} of {total} entries of Out differ from x_row · w_col + b "
                      f"(outlined in red and marked ✘), the first at {first}.", _safe.MISMATCH)

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
            verdict = "✔ same" if bool(close(mine, self.expected[row, col])) else "✘ differs"
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
