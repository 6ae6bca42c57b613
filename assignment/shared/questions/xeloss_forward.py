"""Question 1.4: ``CrossEntropyLoss.forward`` returns the mean cross-entropy."""

from __future__ import annotations

import warnings

import numpy as np

from assignment.shared.questions._common import MAX_WARNINGS, Info, array, labels, unchanged, warnings_of
from assignment.shared.questions._compare import compare_scalar, matches
from assignment.shared.questions._forms import ANSWER, FLAG, TEXT, Many, conforms

INFO = Info("xeloss_forward", "1.4", "CrossEntropyLoss.forward", "01_forward")


def run(nn, optim, case: dict) -> dict:
    """Run CrossEntropyLoss.forward on the case's logits and labels, catching warnings."""
    logits, targets = array(case, "logits"), labels(case)
    logits_before = logits.copy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss = nn.CrossEntropyLoss().forward(logits, targets)
    return {
        "loss": loss,
        "warnings": warnings_of(caught),
        "logits_unchanged": unchanged(logits_before, logits),
    }


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"loss": ANSWER, "warnings": Many(TEXT, MAX_WARNINGS), "logits_unchanged": FLAG}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    what = "the loss"
    expected = float(case["expected"])
    n = len(case["labels"])
    loss = outputs["loss"]
    problems = compare_scalar(loss, expected, what)
    if problems:
        try:
            value = float(np.asarray(loss, dtype=np.float64).reshape(()))
        except Exception:
            value = None
        if value is not None and np.isfinite(value):
            if matches(value, expected * n):
                problems = [f"the loss is {n} times too large: you summed over the batch; take the mean (divide by N = {n})"]
            elif matches(value, -expected):
                problems = ["the loss has the wrong sign: cross-entropy is minus the log-probability of the target"]
        elif value is not None:
            problems.append("large logits make exp overflow to inf, or a probability underflow to 0 so that "
                            "log(0) = -inf: compute the log-probabilities as a log-softmax, never as the log of "
                            "softmax's output: subtract each row's maximum from the logits, then log P = shifted "
                            "logits - log of the sum of their exponentials")
    if outputs["warnings"]:
        problems.append("CrossEntropyLoss.forward raised a warning: " + "; ".join(outputs["warnings"][:2])
                        + " (large logits overflow exp or underflow to log(0); shift the logits by their row maximum)")
    if not outputs["logits_unchanged"]:
        problems.append("CrossEntropyLoss.forward changed the logits in place; compute new arrays instead")
    if not problems and not isinstance(loss, (float, np.floating)) and np.ndim(loss) != 0:
        problems.append(f"return the loss as a float; you returned a {type(loss).__name__}")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [("loss", outputs["loss"], float(case["expected"]))]
