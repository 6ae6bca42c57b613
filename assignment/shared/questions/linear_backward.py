"""Question 2.2: ``Linear.backward`` stores dW and db and returns dX."""

from __future__ import annotations

import numpy as np

from assignment.shared.questions._common import Info, array, dtype_problem, linear_layer, unchanged
from assignment.shared.questions._compare import compare_arrays, factor_problem, matches
from assignment.shared.questions._forms import ANSWER, FLAG, conforms

INFO = Info("linear_backward", "2.2", "Linear.backward", "02_backward")


def _layer(nn, case: dict):
    """A Linear layer with the case's parameters and stored input."""
    layer = linear_layer(nn, array(case, "weight"), array(case, "bias"))
    layer.x = array(case, "x")
    return layer


def run(nn, optim, case: dict) -> dict:
    """Run backward on a layer with the case's parameters and stored input. The gradients start
    as the constructor's zeros (the cases' expected gradients are not zero), so a backward that
    never stores them shows, while one that accumulates (+=) or writes in place still works."""
    layer = _layer(nn, case)
    grad = array(case, "grad")
    grad_before = grad.copy()
    grad_x = layer.backward(grad)
    return {
        "grad_x": grad_x,
        "grad_weight": getattr(layer, "grad_weight", None),
        "grad_bias": getattr(layer, "grad_bias", None),
        "grad_unchanged": unchanged(grad_before, grad),
    }


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"grad_x": ANSWER, "grad_weight": ANSWER, "grad_bias": ANSWER, "grad_unchanged": FLAG}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    expected = case["expected"]
    n = len(case["x"])
    problems = []
    if outputs["grad_x"] is None:
        problems.append("Linear.backward returned None: it must return dLoss/dX = G W^T (a forgotten return?)")
    else:
        problems += _named(compare_arrays(outputs["grad_x"], expected["grad_x"], "the returned gradient of the input (dX)"),
                           outputs["grad_x"], expected["grad_x"], "the returned gradient of the input (dX)", n)
    problems += _named(compare_arrays(outputs["grad_weight"], expected["grad_weight"], "self.grad_weight",
                                      allow_flat=True), outputs["grad_weight"], expected["grad_weight"],
                       "self.grad_weight", n)
    bias_problems = compare_arrays(outputs["grad_bias"], expected["grad_bias"], "self.grad_bias", allow_flat=True)
    if bias_problems and matches(outputs["grad_bias"], np.asarray(expected["grad_bias"]) / n):
        bias_problems = ["self.grad_bias is the mean over the batch; it should be the sum over the batch (axis 0)"]
    problems += bias_problems
    if not problems:
        for name in ("grad_x", "grad_weight", "grad_bias"):
            problems += dtype_problem(outputs[name], case, name)
    if not outputs["grad_unchanged"]:
        problems.append("Linear.backward changed the incoming gradient in place; compute new arrays instead")
    return problems


def _named(problems: list[str], value, expected, what: str, n: int) -> list[str]:
    """The problems, with a telling factor named instead when the values are a multiple of the expected ones."""
    if not problems or "differs from the expected values" not in problems[0]:
        return problems  # None, a shape, NaN: already named
    return [factor_problem(value, expected, what, n) or problems[0]]


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [(name, outputs[name], case["expected"][name]) for name in ("grad_x", "grad_weight", "grad_bias")]
