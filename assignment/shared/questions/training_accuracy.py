"""Part 4, the training check: does an MLP built from the student's mytorch learn the digits?

A question like the nine, with one graded test (``check_training(...)`` in 04_training).
What is scored is what was trained: ``run`` trains an MLP with the student's mytorch
(in the sandbox at grading, in the kernel for the visible check) and reports each
Linear layer's weight and bias after training, and the first loss that was not a
finite number, if any. ``check`` then holds the parameters' shapes against the
case's sizes and computes the test accuracy with its own NumPy forward pass
(X W + b, ReLU between layers) on test labels the sandbox never holds.
Predictions or an accuracy made by the student's code count for nothing: a
classifier that is not the trained MLP (a nearest-neighbour lookup, say) earns
nothing, and a report of any other form is malformed.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Sequence

import numpy as np

from assignment.shared.data import load_digits
from assignment.shared.questions import KEYS
from assignment.shared.questions._common import Info
from assignment.shared.questions._forms import ANSWER, Integer, Maybe, conforms
from assignment.shared.training import mlp_layers, train

INFO = Info("training_accuracy", "4", "training check", "04_training", module="mytorch/nn.py",
            uses=("mytorch/optim.py",), allowance="training", tests=1,
            heading="Training check: an MLP made of your mytorch learns the digits", column="train", after=KEYS)

MAX_STEPS = 10**7  # more mini-batch steps than any case takes (bounds the reported step number)


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
    **_ignored: Any,
) -> list[dict]:
    """Train an MLP of the given layer sizes with the student's mytorch; return its Linear layers' parameters.

    Args:
        sizes, epochs, lr, batch_size, seed: as ``assignment.shared.training.train`` (and ``mlp_layers``).
        on_batch: passed on to ``train``, called with (epoch, batch, loss) after every step.

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


class _Watch:
    """Keeps the first loss of a training run that is not a finite number."""

    def __init__(self) -> None:
        self.first_bad: dict | None = None

    def on_batch(self, epoch: int, batch: int, loss: Any) -> None:
        try:
            value = float(loss)
        except (TypeError, ValueError):
            return  # not a number at all: the accuracy will tell
        if self.first_bad is None and not np.isfinite(value):
            self.first_bad = {"loss": value, "epoch": int(epoch), "step": int(batch) + 1}


def run(nn: ModuleType, optim: ModuleType, case: dict) -> dict:
    """Train the case's MLP with the student's mytorch and report what was trained.

    Returns:
        {"parameters": per Linear layer {"weight", "bias"} after training,
         "diverged": None, or {"loss", "epoch", "step"} of the first loss that was not finite}.
        Never predictions or an accuracy: the grader runs the network itself.
    """
    watch = _Watch()
    parameters = trained_parameters(nn, optim, **{**case, "on_batch": watch.on_batch})
    return {"parameters": parameters, "diverged": watch.first_bad}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``): one weight and bias per Linear layer."""
    epochs = max(1, int(case["epochs"]))
    return {"parameters": [{"weight": ANSWER, "bias": ANSWER} for _ in range(len(case["sizes"]) - 1)],
            "diverged": Maybe({"loss": ANSWER, "epoch": Integer(1, epochs), "step": Integer(1, MAX_STEPS)})}


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
    # Huge (finite) weights may overflow: quietly, as a warning on stderr would fail the test cell.
    with np.errstate(all="ignore"):
        for index, layer in enumerate(parameters):
            if index > 0:
                activations = np.maximum(activations, 0.0)  # the ReLU between two Linear layers
            weight, bias = np.asarray(layer["weight"], np.float64), np.asarray(layer["bias"], np.float64)
            activations = np.matmul(activations, weight) + bias
    return float(np.mean(np.argmax(activations, axis=1) == digits.y_test))


def divergence(loss: float, epoch: int, step: int | None = None) -> str:
    """'the loss became inf at epoch 3, step 5: the learning rate may be too large, ...'.

    Args:
        loss: the first loss that was not a finite number.
        epoch: its epoch (from 1); step: its mini-batch step within the epoch (from 1), if known.
    """
    at = f"epoch {epoch}" + (f", step {step}" if step is not None else "")
    return (f"the loss became {float(loss)} at {at}: the learning rate may be too large, or a gradient may be wrong "
            "(a loss computed as log(softmax) can also overflow; the given softmax keeps it finite)")


def chance_level(accuracy: float, num_classes: int = 10) -> str | None:
    """A diagnosis when ``accuracy`` is no better than guessing (None when it is).

    Below two guesses' worth (20 % for 10 classes) the network has learned next to
    nothing, whatever the learning rate: the usual causes are named.
    """
    if not accuracy == accuracy or accuracy >= 2.0 / num_classes:
        return None
    return (f"a test accuracy of {accuracy:.1%} is chance level (1 in {num_classes} is {1 / num_classes:.0%}): "
            "the network did not learn. Likely causes: SGD.step does not move the parameters, or moves them "
            "up the gradient (+ instead of -); a backward stores zero or wrong gradients; Sequential.backward "
            "skips layers or walks them first to last; or the learning rate is far too small")


def _divergence_of(outputs: dict) -> list[str]:
    """The divergence diagnosis of a (conforming) report, if its loss is a number."""
    bad = outputs["diverged"]
    if bad is None or not isinstance(bad["loss"], (int, float)) or isinstance(bad["loss"], bool):
        return []
    return [divergence(bad["loss"], bad["epoch"], bad["step"])]


def _accuracy(case: dict, outputs: dict) -> float | None:
    """The grader's accuracy of a report's parameters; None when the report cannot be scored."""
    if conforms(outputs, form(case)) or parameter_problems(case, outputs["parameters"]):
        return None
    return accuracy_of_parameters(outputs["parameters"])


def check(case: dict, outputs: dict) -> list[str]:
    """The verdict, from the trained parameters alone: they must be scoreable and reach ``min_accuracy``."""
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    problems = parameter_problems(case, outputs["parameters"])
    if problems:
        return problems + _divergence_of(outputs)
    reached = accuracy_of_parameters(outputs["parameters"])
    needed = float(case["min_accuracy"])
    if reached >= needed:
        return []
    chance = chance_level(reached)
    return ([f"your MLP reached {reached:.1%} test accuracy; at least {needed:.0%} is expected. "
             f"Make sure every test of parts 1 to 3 passes."] + _divergence_of(outputs) + ([chance] if chance else []))


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, yours, expected): the test accuracy the grader computes, as one-line text.

    Text values are summaries of one line (the progress cell quotes them beside a pass)."""
    reached = _accuracy(case, outputs)
    if reached is None:
        return []
    pairs: list[tuple[str, object, object]] = [
        ("test accuracy", f"{reached:.1%} after {case['epochs']} epochs", f"at least {float(case['min_accuracy']):.0%}")]
    diverged = _divergence_of(outputs)
    if diverged:
        pairs.append(("losses", diverged[0], "finite numbers"))
    return pairs
