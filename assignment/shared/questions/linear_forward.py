"""Question 1.1: ``Linear.forward`` computes X W + b."""

from __future__ import annotations

import numpy as np

from assignment.shared.questions._common import Info, array, dtype_problem, linear_layer, unchanged
from assignment.shared.questions._compare import compare_arrays, matches
from assignment.shared.questions._forms import ANSWER, FLAG, conforms

INFO = Info("linear_forward", "1.1", "Linear.forward", "01_forward")


def run(nn, optim, case: dict) -> dict:
    """Build a Linear layer with the case's parameters and run its forward pass."""
    weight, bias, x = array(case, "weight"), array(case, "bias"), array(case, "x")
    layer = linear_layer(nn, weight.copy(), bias.copy())
    x_before = x.copy()
    out = layer.forward(x)
    return {"output": out, "x_unchanged": unchanged(x_before, x)}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"output": ANSWER, "x_unchanged": FLAG}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    what = "Linear.forward's output"
    expected = np.asarray(case["expected"], dtype=np.float64)
    problems = compare_arrays(outputs["output"], expected, what)
    out = outputs["output"]
    bias = np.asarray(case["bias"], dtype=np.float64)
    if problems and matches(out, expected - bias):
        problems = ["the output is X W without the bias: add self.bias (it broadcasts over the rows)"]
    elif problems and matches(out, expected + bias):
        problems = ["the bias is added twice"]
    if not problems:
        problems += dtype_problem(out, case, what)
    if not outputs["x_unchanged"]:
        problems.append("Linear.forward changed its input x in place; compute a new array instead")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [("output", outputs["output"], case["expected"])]
