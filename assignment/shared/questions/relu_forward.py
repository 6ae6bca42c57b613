"""Question 1.2: ``ReLU.forward`` keeps positive entries and zeroes the rest."""

from __future__ import annotations

import numpy as np

from assignment.shared.questions._common import Info, array, dtype_problem, unchanged
from assignment.shared.questions._compare import as_array, compare_arrays
from assignment.shared.questions._forms import ANSWER, FLAG, conforms

INFO = Info("relu_forward", "1.2", "ReLU.forward", "01_forward")


def run(nn, optim, case: dict) -> dict:
    """Run ReLU.forward on the case's input."""
    x = array(case, "x")
    x_before = x.copy()
    out = nn.ReLU().forward(x)
    return {"output": out, "x_unchanged": unchanged(x_before, x)}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"output": ANSWER, "x_unchanged": FLAG}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    what = "ReLU.forward's output"
    out = outputs["output"]
    x = np.asarray(case["x"], dtype=np.float64)
    problems = compare_arrays(out, case["expected"], what)
    got, unreadable = as_array(out, what)
    if problems and not unreadable and got.shape == x.shape:
        hints = []
        if np.any(got[x < 0] != 0):
            hints.append("negative inputs must become 0")
        if np.any(got[x > 0] != x[x > 0]):
            hints.append("positive inputs must pass through unchanged")
        if hints:
            problems = [f"{problems[0]} ({'; '.join(hints)})"]
    if not problems:
        problems += dtype_problem(out, case, what)
    if not outputs["x_unchanged"]:
        problems.append("ReLU.forward changed its input x in place (e.g. x[x < 0] = 0 edits the "
                        "caller's array); return a new array instead")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [("output", outputs["output"], case["expected"])]
