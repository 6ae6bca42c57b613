"""Question 2.3: ``ReLU.backward`` lets the gradient through where the input was positive."""

from __future__ import annotations

import numpy as np

from assignment.shared.questions._common import Info, array, dtype_problem, unchanged
from assignment.shared.questions._compare import as_array, compare_arrays, entry_differs, matches
from assignment.shared.questions._forms import ANSWER, FLAG, conforms

INFO = Info("relu_backward", "2.3", "ReLU.backward", "02_backward")


def run(nn, optim, case: dict) -> dict:
    """Give ReLU the case's stored input, then run backward on the case's gradient."""
    layer = nn.ReLU()
    layer.x = array(case, "x")
    grad = array(case, "grad")
    grad_before = grad.copy()
    grad_x = layer.backward(grad)
    return {"grad_x": grad_x, "grad_unchanged": unchanged(grad_before, grad)}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"grad_x": ANSWER, "grad_unchanged": FLAG}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    what = "ReLU.backward's gradient"
    grad_x = outputs["grad_x"]
    expected = np.asarray(case["expected"], dtype=np.float64)
    problems = compare_arrays(grad_x, expected, what)
    got, unreadable = as_array(grad_x, what)
    if problems and not unreadable and got.shape == expected.shape:
        x = np.asarray(case["x"], dtype=np.float64)
        grad = np.asarray(case["grad"], dtype=np.float64)
        wrong = entry_differs(got, expected)
        if matches(got, grad * (grad > 0)):
            problems = ["the gradient was let through where the gradient itself is positive: take the "
                        "mask from the stored input self.x (where x > 0), not from the gradient"]
        elif wrong.any() and np.all(x[wrong] == 0):
            problems = ["the gradient leaks through where the input x is exactly 0: the slope there "
                        "is taken as 0, so let the gradient through only where x > 0 (not x >= 0)"]
        elif wrong.any() and matches(got[wrong], np.zeros(int(wrong.sum()))):
            problems.append("some entries are 0 where the input x was positive: take the mask from "
                            "the stored input self.x, not from the gradient")
    if not problems:
        problems += dtype_problem(grad_x, case, what)
    if not outputs["grad_unchanged"]:
        problems.append("ReLU.backward changed the incoming gradient in place (e.g. grad[...] = 0); "
                        "return a new array instead")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [("gradient of the input", outputs["grad_x"], case["expected"])]
