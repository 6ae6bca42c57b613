"""The integration check of 04_training: does an MLP built from the student's mytorch learn?

What is scored is what was trained. The student's mytorch trains an MLP (in the
sandbox at grading, in the kernel for the visible check); the check then takes
each Linear layer's weight and bias, holds their shapes against the case's sizes,
and computes the test accuracy with its own NumPy forward pass (X W + b, ReLU
between layers). Predictions or an accuracy made by the student's code count for
nothing: a classifier that is not the trained MLP (a nearest-neighbour lookup,
say) earns nothing.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from assignment.data import load_digits
from assignment.questions._forms import ANSWER, conforms
from assignment.training import mlp_layers, train


def trained_parameters(
    nn: ModuleType,
    optim: ModuleType,
    *,
    sizes: Sequence[int],
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int = 0,
    on_batch: Callable[[int, int, float], None] | None = None,
    **_ignored,
) -> list[dict]:
    """Train an MLP of the given layer sizes with the student's mytorch; return its Linear layers' parameters.

    Args:
        sizes, epochs, lr, batch_size, seed: as ``assignment.training.train`` (and ``mlp_layers``).
        on_batch: passed on to ``train`` (the visible check watches the losses with it).

    Returns:
        [{"weight": ..., "bias": ...}, ...], one per Linear layer, first layer first: copies of
        whatever the layers hold after training (judged by ``parameter_problems``).
    """
    digits = load_digits()
    layers = mlp_layers(nn, sizes, seed=seed)
    # The Linear layers are taken from this list, built here, not from the model: the model's
    # own idea of its layers is the student's code.
    linears = layers[::2]
    train(nn.Sequential(*layers), digits, nn, optim, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
          on_batch=on_batch)
    return [{"weight": _copy(layer, "weight"), "bias": _copy(layer, "bias")} for layer in linears]


def _copy(layer: Any, name: str) -> Any:
    value = getattr(layer, name, None)
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def sandbox_outputs(nn: ModuleType, optim: ModuleType, case: dict) -> dict:
    """What the sandbox reports for a training check (the grader judges it, see ``judge_training``).

    The trained parameters, not predictions or an accuracy: the grader runs the network itself,
    on test labels the sandbox lacks.
    """
    return {"parameters": trained_parameters(nn, optim, **case)}


def form(case: dict) -> dict:
    """The form of what ``sandbox_outputs`` reports (see ``assignment.questions._forms``)."""
    return {"parameters": [{"weight": ANSWER, "bias": ANSWER} for _ in range(len(case["sizes"]) - 1)]}


def parameter_problems(case: dict, parameters: list[dict]) -> list[str]:
    """What is wrong with the trained parameters (of the right form): types, shapes, dtypes, finiteness."""
    sizes = [int(s) for s in case["sizes"]]
    for index, (layer, n_in, n_out) in enumerate(zip(parameters, sizes[:-1], sizes[1:], strict=True)):
        for name, shape in (("weight", (n_in, n_out)), ("bias", (1, n_out))):
            value = layer[name]
            what = f"after training, the {name} of Linear layer {index} ({n_in} -> {n_out})"
            if not isinstance(value, np.ndarray):
                return [f"{what} is {'None' if value is None else 'a ' + type(value).__name__}, not a NumPy array"]
            if value.dtype.kind != "f":
                return [f"{what} has dtype {value.dtype}; the parameters must stay floats"]
            if value.shape != shape:
                return [f"{what} has shape {value.shape}; it should keep its shape {shape}"]
            if not np.isfinite(value).all():
                return [f"{what} holds NaN or infinity: training diverged (are the loss and its gradient "
                        f"averaged over the batch?)"]
    return []


def accuracy_of_parameters(parameters: list[dict]) -> float:
    """The test accuracy of the MLP with these parameters, run by the grader's own forward pass.

    Args:
        parameters: per Linear layer, {"weight": (in, out) array, "bias": (1, out) array}, checked
            by ``parameter_problems``.
    """
    digits = load_digits()
    activations = np.asarray(digits.x_test, dtype=np.float64)
    for index, layer in enumerate(parameters):
        if index > 0:
            activations = np.maximum(activations, 0.0)  # the ReLU between two Linear layers
        weight, bias = np.asarray(layer["weight"], np.float64), np.asarray(layer["bias"], np.float64)
        activations = np.matmul(activations, weight) + bias
    return float(np.mean(np.argmax(activations, axis=1) == digits.y_test))


def training_accuracy(nn: ModuleType, optim: ModuleType, **case) -> float:
    """Train an MLP of the given layer sizes with the student's mytorch; return its test accuracy.

    The accuracy is the grader's (``accuracy_of_parameters``), as at grading.

    Args:
        case: sizes, epochs, lr, batch_size, seed (other keys are ignored), as ``trained_parameters``.

    Raises:
        ValueError: the trained parameters cannot be scored (a student-facing reason).
    """
    parameters = trained_parameters(nn, optim, **case)
    problems = parameter_problems(case, parameters)
    if problems:
        raise ValueError(problems[0])
    return accuracy_of_parameters(parameters)


def judge_training(case: dict, outputs: Any) -> list[str]:
    """The verdict on a training check's report, computed from the trained parameters alone."""
    problems = conforms(outputs, form(case)) or parameter_problems(case, outputs["parameters"])
    if problems:
        return problems
    return training_problems(case, {"accuracy": accuracy_of_parameters(outputs["parameters"])})


def training_problems(case: dict, outputs: dict) -> list[str]:
    """The verdict on an accuracy the grader computed: it must reach ``case["min_accuracy"]``."""
    reached = outputs.get("accuracy")
    needed = float(case["min_accuracy"])
    if not isinstance(reached, (int, float)) or reached != reached:
        return [f"training did not produce an accuracy (got {reached!r})"]
    if reached < needed:
        return [f"your MLP reached {reached:.1%} test accuracy; at least {needed:.0%} is expected. "
                f"Make sure every test of parts 1 to 3 passes."]
    return []
