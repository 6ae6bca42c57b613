"""Question 2.3 (relu_backward): the upstream gradient G, the student's
ReLU.backward(G) and central finite differences of the student's own
ReLU.forward (of the definition max(x, 0) when that forward is off), entry by
entry. The verdict is question 2.3's check on this view's case."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.questions import _definitions
from assignment.viz._base import safely
from assignment.viz._data import tenths
from assignment.viz._fd import Comparison, central_differences
from assignment.viz._gradviz import GradientViz
from assignment.viz._judge import listed
from assignment.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title

__all__ = ["ReluBackwardViz", "relu_backward"]


class ReluBackwardViz(GradientViz):
    """ReLU.backward(G) against finite differences of L = sum(G * ReLU.forward(X)).

    X holds one exact 0 (the kink): finite differences cannot tell the slope there, so the
    course's convention (slope 0) gives the expected value, as in the tests.

    Fields read by tests (besides those of ``GradientViz``):
        x, g: the seeded input and upstream gradient (float64).
        comparisons: {"input": Comparison} of the returned gradient (``skip`` marks the kink).
    """

    heading = "Question 2.3 · ReLU.backward: let G through where the input was positive"
    picture = ("Heatmaps of X, G, your ReLU.backward gradient and its finite-difference estimate; entries at the kink X = 0 are not judged")
    probe_text = "L = sum(G ⊙ ReLU.forward(X))"
    definition_text = "L = sum(G ⊙ max(X, 0)), the definition"

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
        comparison = self.comparisons["input"]
        comparison.skip = self.kink.copy()
        comparison.expected = _definitions.relu_gradient(self.x, self.g)
        self.case = {"x": listed(self.x), "grad": listed(self.g), "expected": listed(comparison.expected)}
        forward_case = {"x": listed(self.x), "expected": listed(_definitions.relu(self.x))}
        self.judge_backward(nn, "relu_backward", self.case, "relu_forward", forward_case,
                            lambda: self._differences(nn), self._definition_differences)
        self._take_yours()
        self.note_comparisons(f"ReLU.backward passes question 2.3's check on these inputs: all {self.x.size} entries "
                              "match, the kink at X = 0 included (slope 0 there).")

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
            '<span style="color:#777">grey outline: X = 0, the kink: finite differences cannot tell the slope there, '
            'so the course\'s convention decides (slope 0: no gradient gets through where X = 0).</span>')
        self.children = [self.header, self.status, self.image, self.legend, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _shown_shape(self) -> tuple:
        c = self.comparisons["input"]
        if c.problem is not None and c.problem.kind == _safe.SHAPE and c.problem.value is not None:
            return tuple(np.shape(c.problem.value))
        return c.shape

    def _take_yours(self) -> None:
        """The gradient question 2.3's run reported."""
        comparison = self.comparisons["input"]
        outputs = self.judgement.outputs
        if outputs is None:
            comparison.problem = _safe.Outcome(False, None, self.judgement.kind, self.judgement.problems[0])
            return
        result = _safe.check_array(outputs["grad_x"], "ReLU.backward", self.x.shape, shape_hint="G's shape")
        if result.ok:
            comparison.yours = np.asarray(result.value, dtype=float)
        else:
            comparison.problem = result

    def _differences(self, nn) -> dict:
        """Finite differences of L = sum(G * your ReLU.forward(X)) (raises what the forward raises)."""
        made = _safe.construct(nn, "ReLU", label="ReLU()")
        if not made.ok:
            raise _safe.Unusable(made)
        forward = _safe.method(made.value, "forward")
        x = self.x.copy()

        def probe() -> float:
            checked = _safe.check_array(forward(x.copy()), "ReLU.forward", self.x.shape)
            if not checked.ok:
                raise _safe.Unusable(checked)
            return float(np.sum(self.g * np.asarray(checked.value, dtype=float)))

        return {"input": central_differences(probe, x)}

    def _definition_differences(self) -> dict:
        """Finite differences of L = sum(G * max(X, 0)), the definition."""
        x = self.x.copy()
        return {"input": central_differences(lambda: float(np.sum(self.g * _definitions.relu(x))), x)}


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
