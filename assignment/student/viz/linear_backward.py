"""Question 2.2 (linear_backward): the student's grad_weight, grad_bias and returned input
gradient against central finite differences of the student's own Linear.forward (of the
definition X W + b when that forward is off).

``probe`` gives question 2.2's verdict on the view's case and the differences shown;
``linear_backward`` shows them (``views/linear_backward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.shared.questions import _definitions
from assignment.shared.questions._compare import entry_differs
from assignment.student.viz import _safe
from assignment.student.viz._data import tenths
from assignment.student.viz._fd import Comparison, GradientProbe, central_differences, forward_differences, judge_backward
from assignment.student.viz._judge import build_linear, listed
from assignment.student.viz._show import entry

__all__ = ["LinearBackwardProbe", "probe", "linear_backward"]


@dataclass(kw_only=True)
class LinearBackwardProbe(GradientProbe):
    """Linear.backward(G) against finite differences of L = sum(G * Linear.forward(X)).

    Fields (besides those of ``GradientProbe``):
        x, weight, bias, g: the seeded inputs (float64); dL/dOut = g.
        comparisons: "weight" (grad_weight), "bias" (grad_bias), "input" (the returned gradient).
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    g: np.ndarray


def probe(nn, optim=None, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2,
          seed: int = 0) -> LinearBackwardProbe:
    """Question 2.2's check on seeded X, W, b and G, and the finite differences to show.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        batch_size, in_features, out_features: sizes of X and W.
        seed: seed of X, W, b and the upstream gradient G.

    Returns:
        A ``LinearBackwardProbe``.
    """
    n, i_f, o_f = int(batch_size), int(in_features), int(out_features)
    rng = np.random.default_rng(seed)
    x, weight, bias, g = (tenths(rng, shape, dtype=np.float64) for shape in ((n, i_f), (i_f, o_f), (1, o_f), (n, o_f)))
    expected = _definitions.linear_gradients(x, weight, bias, g)
    comparisons = {
        "weight": Comparison("grad_weight", "Linear.backward → self.grad_weight", (i_f, o_f),
                             expected=expected["grad_weight"]),
        "bias": Comparison("grad_bias", "Linear.backward → self.grad_bias", (1, o_f), expected=expected["grad_bias"]),
        "input": Comparison("returned gradient", "the return value of Linear.backward", (n, i_f),
                            expected=expected["grad_x"]),
    }
    inputs = {"x": listed(x), "weight": listed(weight), "bias": listed(bias)}
    found = LinearBackwardProbe(x=x, weight=weight, bias=bias, g=g, comparisons=comparisons,
                                symbols={"weight": "W", "bias": "b", "input": "X"},
                                case={**inputs, "grad": listed(g),
                                      "expected": {name: listed(value) for name, value in expected.items()}})

    def yours() -> dict:
        made, point = build_linear(nn, weight, bias), x.copy()

        def loss(layer) -> float:
            checked = _safe.check_array(_safe.method(layer, "forward")(point), "Linear.forward", (n, o_f))
            if not checked.ok:
                raise _safe.Unusable(checked)
            return float(np.sum(g * np.asarray(checked.value, dtype=float)))

        arrays = {"input": point}
        if made.ok:
            made.value.weight, made.value.bias = weight.copy(), bias.copy()
            arrays.update(weight=made.value.weight, bias=made.value.bias)
        return forward_differences(made, loss, arrays)

    def definition() -> dict:
        arrays = {"input": x.copy(), "weight": weight.copy(), "bias": bias.copy()}

        def loss() -> float:
            return float(np.sum(g * _definitions.linear(arrays["input"], arrays["weight"], arrays["bias"])))

        return {name: central_differences(loss, array) for name, array in arrays.items()}

    def take(outputs: dict) -> None:
        comparisons["input"].take(_safe.check_array(outputs["grad_x"], "Linear.backward", x.shape,
                                                    shape_hint="X's shape (N, in)"))
        for name, parameter in (("weight", weight), ("bias", bias)):
            c = comparisons[name]
            stored = outputs["grad_" + name]
            c.take(_safe.check_gradient(stored, f"Linear.grad_{name}", parameter.shape, name, c.expected,
                                        lambda got, want: not entry_differs(got, want).any()), given=stored)

    judge_backward(found, nn, "linear_backward", "linear_forward",
                   {**inputs, "expected": listed(_definitions.linear(x, weight, bias))}, yours, definition,
                   "L = sum(G ⊙ Linear.forward(X))", "L = sum(G ⊙ (X W + b)), the definition")
    found.take_outputs(take)
    found.note_comparisons(f"Linear.backward passes question 2.2's check on these inputs: grad_weight {(i_f, o_f)}, "
                           f"grad_bias {(1, o_f)} and the returned ∂L/∂X {(n, i_f)} all match.")
    return found


linear_backward = entry("linear_backward", "LinearBackwardViz", probe, takes_optim=False,
                        what="the student's ``Linear.backward``")
