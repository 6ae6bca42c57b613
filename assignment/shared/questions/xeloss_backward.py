"""Question 2.1: ``CrossEntropyLoss.backward`` returns (softmax(I) - T) / N."""

from __future__ import annotations

import warnings

import numpy as np

from assignment.shared.questions._common import MAX_WARNINGS, Info, array, dtype_problem, labels, warnings_of
from assignment.shared.questions._compare import compare_arrays, matches
from assignment.shared.questions._forms import ANSWER, TEXT, Many, conforms

INFO = Info("xeloss_backward", "2.1", "CrossEntropyLoss.backward", "02_backward")


def run(nn, optim, case: dict) -> dict:
    """Run forward then backward on the case's logits and labels.

    Only backward is judged here: forward's warnings, answer or error (a stub,
    a bug) are question 1.4's business. Forward's given part has stored the
    logits and the one-hot labels before any of the student's code runs.
    """
    loss_function = nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            loss_function.forward(array(case, "logits"), labels(case))
        except Exception:
            pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logits_grad = loss_function.backward()
    return {"grad": logits_grad, "warnings": warnings_of(caught)}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"grad": ANSWER, "warnings": Many(TEXT, MAX_WARNINGS)}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    what = "CrossEntropyLoss.backward's gradient"
    expected = np.asarray(case["expected"], dtype=np.float64)
    n = expected.shape[0]
    grad = outputs["grad"]
    problems = compare_arrays(grad, expected, what)
    one_hot = np.zeros_like(expected)
    one_hot[np.arange(n), np.asarray(case["labels"])] = 1
    if problems:
        if matches(grad, expected * n):
            problems = [f"the gradient is {n} times too large: divide by the batch size N = {n}"]
        elif matches(grad, expected / n):
            problems = [f"the gradient is {n} times too small: divide by N once, not twice"]
        elif matches(grad, -expected):
            problems = ["the gradient has the wrong sign: it is softmax(I) - T, not T - softmax(I)"]
        elif matches(grad, expected + one_hot / n) or matches(grad, expected * n + one_hot):
            problems = ["the one-hot targets T were not subtracted from the probabilities"]
    if not problems:
        problems += dtype_problem(grad, case, what)
    if outputs["warnings"]:
        problems.append("a warning was raised: " + "; ".join(outputs["warnings"][:2]))
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [("gradient of the logits", outputs["grad"], case["expected"])]
