"""Question 2.2 (linear_backward): the student's grad_weight, grad_bias and returned
input gradient, each under the array it belongs to, against central finite
differences of the student's own Linear.forward (of the definition X W + b when that
forward is off). The verdict is question 2.2's check on this view's case."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.questions import _definitions
from assignment.questions._compare import entry_differs
from assignment.viz._base import safely
from assignment.viz._data import tenths
from assignment.viz._fd import Comparison, central_differences
from assignment.viz._gradviz import GradientViz
from assignment.viz._judge import build_linear, listed
from assignment.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title

__all__ = ["LinearBackwardViz", "linear_backward"]


class LinearBackwardViz(GradientViz):
    """Linear.backward(G) against finite differences of L = sum(G * Linear.forward(X)).

    Fields read by tests (besides those of ``GradientViz``):
        x, weight, bias, g: the seeded inputs (float64); dL/dOut = g.
        comparisons: "weight" (grad_weight), "bias" (grad_bias), "input" (the returned gradient).
    """

    heading = "Question 2.2 · Linear.backward: gradients of W, b and X from G = ∂L/∂Out"
    picture = ("Heatmaps of X, W, b and G; under them your returned gradient, grad_weight and grad_bias, and their finite-difference estimates; differing entries marked with a cross")
    probe_text = "L = sum(G ⊙ Linear.forward(X))"
    definition_text = "L = sum(G ⊙ (X W + b)), the definition"

    def __init__(self, nn, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2, seed: int = 0) -> None:
        super().__init__()
        n, i_f, o_f = int(batch_size), int(in_features), int(out_features)
        rng = np.random.default_rng(seed)
        self.x = tenths(rng, (n, i_f), dtype=np.float64)
        self.weight = tenths(rng, (i_f, o_f), dtype=np.float64)
        self.bias = tenths(rng, (1, o_f), dtype=np.float64)
        self.g = tenths(rng, (n, o_f), dtype=np.float64)
        self.symbols = {"weight": "W", "bias": "b", "input": "X"}
        self.comparisons = {
            "weight": Comparison("grad_weight", "Linear.backward → self.grad_weight", (i_f, o_f)),
            "bias": Comparison("grad_bias", "Linear.backward → self.grad_bias", (1, o_f)),
            "input": Comparison("returned gradient", "the return value of Linear.backward", (n, i_f)),
        }
        expected = _definitions.linear_gradients(self.x, self.weight, self.bias, self.g)
        for name in ("weight", "bias"):
            self.comparisons[name].expected = expected[f"grad_{name}"]
        self.comparisons["input"].expected = expected["grad_x"]
        self.case = {"x": listed(self.x), "weight": listed(self.weight), "bias": listed(self.bias),
                     "grad": listed(self.g), "expected": {name: listed(value) for name, value in expected.items()}}
        forward_case = {"x": listed(self.x), "weight": listed(self.weight), "bias": listed(self.bias),
                        "expected": listed(_definitions.linear(self.x, self.weight, self.bias))}
        self._stored: dict = {}
        self.judge_backward(nn, "linear_backward", self.case, "linear_forward", forward_case,
                            lambda: self._differences(nn), self._definition_differences)
        self._take_yours()
        self.note_comparisons(f"Linear.backward passes question 2.2's check on these inputs: grad_weight {(i_f, o_f)}, "
                              f"grad_bias {(1, o_f)} and the returned ∂L/∂X {(n, i_f)} all match.")

        rows = [
            [Op("forward", 1.1, 10), Panel("X", (n, i_f)), "@", Panel("W", (i_f, o_f)), "+", Panel("b", (1, o_f)),
             Op("   G = ∂L/∂Out:", 1.3, 9), Panel("G", (n, o_f))],
            [Op("your\nbackward", 1.1, 10), Panel("dX", (n, i_f)), " ", Panel("dW", (i_f, o_f)), " ",
             Panel("db", (1, o_f))],
            [Op("finite diff.\n(" + ("yours" if self.fd_source == "your forward" else "definition") + ")", 1.1, 9), Panel("fX", (n, i_f)), " ", Panel("fW", (i_f, o_f)), " ",
             Panel("fb", (1, o_f))],
        ]
        self.figure, axes = matrix_rows(rows, cell=0.4, title_height=0.45, bottom=0.2)
        f = self.figure
        self.panels = {
            "X": fixed_panel(f, axes["X"], (n, i_f), shape_title("X (input)", (n, i_f))),
            "W": fixed_panel(f, axes["W"], (i_f, o_f), shape_title("W = weight", (i_f, o_f))),
            "b": fixed_panel(f, axes["b"], (1, o_f), shape_title("b = bias", (1, o_f))),
            "G": fixed_panel(f, axes["G"], (n, o_f), shape_title("G (given)", (n, o_f), "Out's shape")),
            "dX": fixed_panel(f, axes["dX"], (n, i_f), shape_title("returned ∂L/∂X", self._shape_of("input"))),
            "dW": fixed_panel(f, axes["dW"], (i_f, o_f), shape_title("grad_weight", self._shape_of("weight"))),
            "db": fixed_panel(f, axes["db"], (1, o_f), shape_title("grad_bias", self._shape_of("bias"))),
            "fX": fixed_panel(f, axes["fX"], (n, i_f), shape_title("estimate ∂L/∂X", (n, i_f))),
            "fW": fixed_panel(f, axes["fW"], (i_f, o_f), shape_title("estimate ∂L/∂W", (i_f, o_f))),
            "fb": fixed_panel(f, axes["fb"], (1, o_f), shape_title("estimate ∂L/∂b", (1, o_f))),
        }
        p = self.panels
        p["X"].set(self.x)
        p["W"].set(self.weight)
        p["b"].set(self.bias)
        p["G"].set(self.g)
        self.show_comparison(self.comparisons["input"], p["dX"], p["fX"])
        self.show_comparison(self.comparisons["weight"], p["dW"], p["fW"])
        self.show_comparison(self.comparisons["bias"], p["db"], p["fb"])
        self.entry_panels = {"weight": [p["W"], p["dW"], p["fW"]], "bias": [p["b"], p["db"], p["fb"]],
                             "input": [p["X"], p["dX"], p["fX"]]}
        controls = self._finish(["weight", "bias", "input"], ["W (grad_weight)", "b (grad_bias)", "X (returned)"])
        self.children = [self.header, self.status, self.image, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _shape_of(self, name: str) -> tuple:
        """The shape of what the student's backward gave (the expected one when it gave nothing usable)."""
        stored = self._stored.get(name)
        if isinstance(stored, np.ndarray):
            return tuple(stored.shape)
        c = self.comparisons[name]
        problem = c.problem
        if c.yours is None and problem is not None and problem.kind == _safe.SHAPE and problem.value is not None:
            return tuple(np.shape(problem.value))
        return c.shape

    def _take_yours(self) -> None:
        """The gradients question 2.2's run reported, read by the tests' shape rule."""
        outputs = self.judgement.outputs
        if outputs is None:
            for c in self.comparisons.values():
                c.problem = _safe.Outcome(False, None, self.judgement.kind, self.judgement.problems[0])
            return
        returned = _safe.check_array(outputs["grad_x"], "Linear.backward", self.x.shape, shape_hint="X's shape (N, in)")
        self._set_yours("input", returned)
        self._stored = {name: outputs["grad_" + name] for name in ("weight", "bias")}
        for name, parameter in (("weight", self.weight), ("bias", self.bias)):
            c = self.comparisons[name]
            stored = _safe.check_gradient(self._stored[name], f"Linear.grad_{name}", parameter.shape, name,
                                          c.expected, lambda got, want: not entry_differs(got, want).any())
            self._set_yours(name, stored)

    def _set_yours(self, name: str, outcome: _safe.Outcome) -> None:
        c = self.comparisons[name]
        if outcome.ok:
            c.yours = np.asarray(outcome.value, dtype=float)
        else:
            c.problem = outcome

    def _differences(self, nn) -> dict:
        """Finite differences of L = sum(G * your Linear.forward(X)) (raises what the forward raises)."""
        made = build_linear(nn, self.weight, self.bias)
        if not made.ok:
            raise _safe.Unusable(made)
        layer = made.value
        x = self.x.copy()
        forward = _safe.method(layer, "forward")
        expected = (self.x.shape[0], self.weight.shape[1])

        def probe() -> float:
            checked = _safe.check_array(forward(x), "Linear.forward", expected)
            if not checked.ok:
                raise _safe.Unusable(checked)
            return float(np.sum(self.g * np.asarray(checked.value, dtype=float)))

        layer.weight = self.weight.copy()
        layer.bias = self.bias.copy()
        return {"weight": central_differences(probe, layer.weight), "bias": central_differences(probe, layer.bias),
                "input": central_differences(probe, x)}

    def _definition_differences(self) -> dict:
        """Finite differences of L = sum(G * (X W + b)), the definition."""
        arrays = {"input": self.x.copy(), "weight": self.weight.copy(), "bias": self.bias.copy()}

        def probe() -> float:
            return float(np.sum(self.g * _definitions.linear(arrays["input"], arrays["weight"], arrays["bias"])))

        return {name: central_differences(probe, array) for name, array in arrays.items()}


def linear_backward(nn, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2,
                    seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``Linear.backward``: ``viz.linear_backward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        batch_size, in_features, out_features: sizes of X and W.
        seed: seed of X, W, b and the upstream gradient G.

    Returns:
        A ``LinearBackwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("linear_backward", LinearBackwardViz, nn, batch_size=batch_size, in_features=in_features,
                  out_features=out_features, seed=seed)
