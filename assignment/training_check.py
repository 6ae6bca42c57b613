"""The integration check of 04_training: does an MLP built from the student's mytorch learn?"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Sequence

import numpy as np

from assignment.data import load_digits
from assignment.training import build_mlp, predict, train


def training_accuracy(nn: ModuleType, optim: ModuleType, **case) -> float:
    """Train an MLP of the given layer sizes with the student's mytorch; return its test accuracy.

    Args:
        case: sizes, epochs, lr, batch_size, seed (other keys are ignored), as ``trained_predictions``.
    """
    return float(np.mean(trained_predictions(nn, optim, **case) == load_digits().y_test))


def trained_predictions(
    nn: ModuleType,
    optim: ModuleType,
    *,
    sizes: Sequence[int],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
    **_ignored,
) -> np.ndarray:
    """Train an MLP of the given layer sizes with the student's mytorch; predict every test image.

    The autograder runs this in the sandbox, whose copy of the data holds no test
    labels, and computes the accuracy itself (``accuracy_of_predictions``): an accuracy
    reported by student code could be forged, predictions must be earned.
    """
    digits = load_digits()
    model = build_mlp(nn, sizes, seed=seed)
    train(model, digits, nn, optim, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return predict(model, digits.x_test)


def sandbox_outputs(nn: ModuleType, optim: ModuleType, case: dict) -> dict:
    """What the sandbox reports for a training check (the grader judges it, see ``verdicts.judge``).

    Predictions, not an accuracy: the grader scores them against labels the sandbox lacks.
    """
    return {"predictions": trained_predictions(nn, optim, **case)}


def accuracy_of_predictions(predictions: Any) -> float | None:
    """The accuracy of ``predictions`` on the test labels, or None if they are not one class per test image."""
    labels = load_digits().y_test
    if (not isinstance(predictions, np.ndarray) or predictions.shape != labels.shape
            or predictions.dtype.kind not in "iu"):
        return None
    return float(np.mean(predictions == labels))


def training_problems(case: dict, outputs: dict) -> list[str]:
    """The verdict on a training check: the accuracy must reach ``case["min_accuracy"]``."""
    reached = outputs.get("accuracy")
    needed = float(case["min_accuracy"])
    if not isinstance(reached, (int, float)) or reached != reached:
        return [f"training did not produce an accuracy (got {reached!r})"]
    if reached < needed:
        return [f"your MLP reached {reached:.1%} test accuracy; at least {needed:.0%} is expected. "
                f"Make sure every test of parts 1 to 3 passes."]
    return []
