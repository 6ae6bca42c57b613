"""The integration check of 04_training: does an MLP built from the student's mytorch learn?"""

from __future__ import annotations

from types import ModuleType
from typing import Sequence

from assignment.data import load_digits
from assignment.training import accuracy, build_mlp, train


def training_accuracy(
    nn: ModuleType,
    optim: ModuleType,
    *,
    sizes: Sequence[int],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
    **_ignored,
) -> float:
    """Train an MLP of the given layer sizes with the student's mytorch; return its test accuracy."""
    digits = load_digits()
    model = build_mlp(nn, sizes, seed=seed)
    train(model, digits, nn, optim, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
    return accuracy(model, digits.x_test, digits.y_test)


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
