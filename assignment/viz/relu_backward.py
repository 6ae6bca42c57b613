"""Question 2.3 (relu_backward): the upstream gradient G, the student's
ReLU.backward(G) and central finite differences of the student's own
ReLU.forward, entry by entry."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import level_of, safely
from assignment.viz._data import tenths
from assignment.viz._fd import EPS, Comparison, central_differences
from assignment.viz._gradviz import GradientViz
from assignment.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title

__all__ = ["ReluBackwardViz", "relu_backward"]


class ReluBackwardViz(GradientViz):
    """ReLU.backward(G) against finite differences of L = sum(G * ReLU.forward(X)).

    X holds one exact 0 (the kink, where the course takes the slope as 0):
    finite differences cannot judge that entry, so it is shown but not compared.

    Fields read by tests (besides those of ``GradientViz``):
        x, g: the seeded input and upstream gradient (float64).
        comparisons: {"input": Comparison} of the returned gradient (``skip`` marks the kink).
    """

    heading = "Question 2.3 · ReLU.backward: let G through where the input was positive"
    picture = ("Heatmaps of X, G, your ReLU.backward gradient and its finite-difference estimate; entries at the kink X = 0 are not judged")
    probe_text = "L = sum(G ⊙ ReLU.forward(X))"

    def __init__(self, nn, *, shape: tuple = (3, 4), seed: int = 0) -> None:
        super().__init__()
        shape = tuple(int(s) for s in shape)
        rng = np.random.default_rng(seed)
        # Entries at least 0.1 away from 0 (eps = 1e-3 never crosses the kink), and one exact 0.
        self.x = tenths(rng, shape, low=-2, high=2, avoid_zero=0.1, dtype=np.float64)
        self.kink = np.zeros(shape, dtype=bool)
        self.kink.flat[min(5, self.x.size - 1)] = True
        self.x[self.kink] = 0.0
        self.g = tenths(rng, shape, avoid_zero=0.1, dtype=np.float64)
        self.symbols = {"input": "X"}
        self.comparisons = {"input": Comparison("returned gradient", "the return value of ReLU.backward", shape)}
        self.comparisons["input"].skip = self.kink.copy()
        self._run_yours(nn)
        self._run_estimates(nn)
        self.note_comparisons()

        self.figure, axes = matrix_rows([[
            Panel("X", shape), Op("", 0.3), Panel("G", shape), Op("⟶", 0.7), Panel("yours", shape), Op("vs", 0.6, 11),
            Panel("fd", shape),
        ]])
        f = self.figure
        self.panels = {
            "X": fixed_panel(f, axes["X"], shape, shape_title("X (forward input)", shape)),
            "G": fixed_panel(f, axes["G"], shape, shape_title("G = ∂L/∂Out (given)", shape)),
            "yours": fixed_panel(f, axes["yours"], shape, shape_title("your backward(G)", self._shown_shape())),
            "fd": fixed_panel(f, axes["fd"], shape, shape_title("estimate ∂L/∂X", shape)),
        }
        self.panels["X"].set(self.x)
        self.panels["G"].set(self.g)
        self.show_comparison(self.comparisons["input"], self.panels["yours"], self.panels["fd"])
        self.entry_panels = {"input": list(self.panels.values())}
        controls = self._finish(["input"])
        self.legend = widgets.HTML(
            '<span style="color:#777">grey outline: X = 0, the kink: the slope there is a convention (0 in this '
            'course), so finite differences cannot judge it.</span>')
        self.children = [self.header, self.status, self.image, self.legend, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _shown_shape(self) -> tuple:
        c = self.comparisons["input"]
        if c.problem is not None and c.problem.kind == _safe.SHAPE and c.problem.value is not None:
            return tuple(np.shape(c.problem.value))
        return c.shape

    def _run_yours(self, nn) -> None:
        comparison = self.comparisons["input"]
        made = _safe.construct(nn, "ReLU", label="ReLU()")
        if not made.ok:
            comparison.problem = made
            return
        layer = made.value
        forward = _safe.call("ReLU.forward", _safe.method(layer, "forward"), self.x.copy())
        if not forward.ok:
            self.note(level_of(forward.kind) if forward.kind != _safe.NOT_IMPLEMENTED else "info",
                      "ReLU.backward needs ReLU.forward to run first (it stores self.x): " + forward.message)
        result = _safe.call("ReLU.backward", _safe.method(layer, "backward"), self.g.copy())
        if result.ok:
            result = _safe.check_array(result.value, "ReLU.backward", self.x.shape, shape_hint="G's shape")
        if result.ok:
            comparison.yours = np.asarray(result.value, dtype=float)
            comparison.notes.extend(result.notes)
            at_kink = comparison.yours[self.kink]
            if at_kink.size and not np.allclose(at_kink, 0):
                comparison.notes.append(
                    f"At X = 0 your gradient is {at_kink[0]:.3g}; this course takes ReLU's slope at 0 as 0 "
                    "(only positive inputs let the gradient through).")
        else:
            comparison.problem = result

    def _run_estimates(self, nn) -> None:
        comparison = self.comparisons["input"]
        made = _safe.construct(nn, "ReLU", label="ReLU()")
        if not made.ok:
            return
        forward = _safe.method(made.value, "forward")
        x = self.x.copy()

        def probe() -> float:
            checked = _safe.check_array(forward(x.copy()), "ReLU.forward", self.x.shape)
            if not checked.ok:
                raise _safe.Unusable(checked)
            return float(np.sum(self.g * np.asarray(checked.value, dtype=float)))

        outcome = _safe.call("ReLU.forward (for the finite differences)", central_differences, probe, x, EPS)
        if not outcome.ok:
            self.note("warn", "No finite differences: " + outcome.message)
            return
        comparison.use(outcome.value)


def relu_backward(nn, *, shape: tuple = (3, 4), seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``ReLU.backward``: ``viz.relu_backward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        shape: shape of X and of the upstream gradient G.
        seed: seed of X and G.

    Returns:
        A ``ReluBackwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("relu_backward", ReluBackwardViz, nn, shape=shape, seed=seed)
