"""Training dashboard (04_training): the student's MLP learning the digits.

The probe side, plain data and no widgets: ``settings`` (what the dashboard starts with),
``prepare`` (the student's MLP built and one mini-batch through every piece, each checked,
before the real loop), ``analyse`` (the test confusion matrix, the misclassified digits and
the first layer's weights of a trained model). ``views/training_dashboard.py`` trains with
``assignment.shared.training.train`` and draws the curves and the analysis live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment.student.viz import _safe
from assignment.student.viz._layers import layer_name
from assignment.student.viz._probe import Probe
from assignment.student.viz._show import entry

__all__ = ["DashboardSettings", "Analysis", "settings", "prepare", "preflight", "analyse", "parse_hidden",
           "training_dashboard"]

GALLERY = 12  # misclassified digits shown
UNITS = 16  # first-layer units shown

_DATA = None


def _digits():
    """The digits, loaded once per process."""
    global _DATA
    if _DATA is None:
        from assignment.shared.data import load_digits

        _DATA = load_digits()
    return _DATA


def _montage(tiles: list, rows: int, cols: int, gap: int = 2) -> np.ndarray:
    """8x8 tiles in a rows x cols grid; NaN in the gaps, the label rows and the empty places."""
    step_x, step_y = 8 + gap, 8 + gap + (1 if gap > 1 else 0)
    out = np.full((rows * step_y - gap, cols * step_x - gap), np.nan)
    for k, tile in enumerate(tiles[: rows * cols]):
        r, c = divmod(k, cols)
        out[r * step_y: r * step_y + 8, c * step_x: c * step_x + 8] = tile
    return out


def _layers_with_parameters(model) -> list[tuple[int, Any]]:
    """(position from 1, layer) of every layer with a weight array: the Linear layers."""
    layers = _safe.attribute(model, "layers")
    return [(k, layer) for k, layer in enumerate(layers if isinstance(layers, (list, tuple)) else [], start=1)
            if isinstance(_safe.attribute(layer, "weight"), np.ndarray)]


def _fresh_zero_grads(model) -> dict[int, tuple]:
    """Give every Linear fresh zero gradients, as zero_grad does, and return them by layer
    position: a backward that never stores a layer's gradients leaves these very arrays, all
    zeros (one that adds to them or writes into them changes their values)."""
    fresh = {}
    for k, layer in _layers_with_parameters(model):
        try:
            layer.grad_weight = np.zeros_like(layer.weight)
            layer.grad_bias = np.zeros_like(layer.bias)
            fresh[k] = (layer.grad_weight, layer.grad_bias)
        except Exception:  # a student's class may refuse the attribute: then nothing to compare against
            pass
    return fresh


def _check_stored_grads(model, fresh: dict[int, tuple]) -> _safe.Outcome:
    """After backward, every Linear (every layer with a weight) holds grad_weight and grad_bias
    of its weight's and bias's shape as the tests judge it (``_safe.check_gradient``), other
    than the untouched zeros of ``fresh``."""
    for k, layer in _layers_with_parameters(model):
        for index, param_name in enumerate(("weight", "bias")):
            param = _safe.attribute(layer, param_name)
            if not isinstance(param, np.ndarray):
                break
            where = f"after Sequential.backward, layer {k} ({layer_name(layer, 'Linear')})"
            grad_name = "grad_" + param_name
            grad = _safe.attribute(layer, grad_name)
            untouched = k in fresh and grad is fresh[k][index] and not grad.any()
            if grad is None or untouched:
                return _safe.Outcome(False, None, _safe.NONE,
                                     f"{where} has no {grad_name}: its backward did not store one.")
            # The tests' rule for a gradient's shape (a flat grad_bias is fine), not a stricter one.
            stored = _safe.check_gradient(grad, f"{where}'s {grad_name}", param.shape, f"its {param_name}")
            if not stored.ok:
                return stored
    return _safe.Outcome(True)


def parse_hidden(text: str) -> tuple[int, ...]:
    """'64, 32' -> (64, 32); '' -> () (no hidden layer). Raises ValueError with a readable message."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"hidden sizes must be whole numbers separated by commas, e.g. 64, 32; received {text!r}")
    if any(s < 1 or s > 1024 for s in sizes):
        raise ValueError(f"each hidden size must lie between 1 and 1024; received {text!r}")
    return sizes


def preflight(nn: Any, optim: Any, model: Any, data) -> _safe.Outcome:
    """One mini-batch through the student's pieces, each checked, before the real loop."""
    x, y = data.x_train[:4], data.y_train[:4]
    forward = _safe.call("Sequential.forward", _safe.method(model, "forward"), x)
    if forward.ok:
        forward = _safe.check_array(forward.value, "Sequential.forward", (4, 10), shape_hint="(N, 10 classes)")
    if not forward.ok:
        return forward
    loss_function = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
    if not loss_function.ok:
        return loss_function
    loss = _safe.call("CrossEntropyLoss.forward", _safe.method(loss_function.value, "forward"), forward.value, y)
    if loss.ok:
        loss = _safe.check_number(loss.value, "CrossEntropyLoss.forward", what="one number")
    if not loss.ok:
        return loss
    # Whatever backward returns is fine (None, when the first layer is a Linear): SGD uses the
    # gradients it leaves in the layers, so those are what is checked.
    fresh = _fresh_zero_grads(model)
    back = _safe.call("Sequential.backward", _safe.method(model, "backward"), loss_function.value)
    if not back.ok:
        return back
    stored = _check_stored_grads(model, fresh)
    if not stored.ok:
        return stored
    optimizer = _safe.call("optim.SGD(model, lr)", _safe.attribute(optim, "SGD"), model, lr=0.1)
    if not optimizer.ok:
        return optimizer
    first = _safe.attribute(_safe.attribute(model, "layers", [None])[0], "weight")
    before = np.array(first, copy=True) if isinstance(first, np.ndarray) else None
    step = _safe.call("SGD.step", _safe.method(optimizer.value, "step"))
    if not step.ok:
        return step
    after = _safe.attribute(_safe.attribute(model, "layers", [None])[0], "weight")
    if before is not None and isinstance(after, np.ndarray) and np.array_equal(before, after):
        return _safe.Outcome(False, None, _safe.MISMATCH, "SGD.step did not change the first layer's weight, "
                             "so nothing would learn.")
    return _safe.Outcome(True)


@dataclass(kw_only=True)
class DashboardSettings(Probe):
    """What the dashboard starts with: the student's modules and the controls' first values."""

    nn: Any
    optim: Any
    hidden: tuple
    lr: float
    epochs: int
    batch_size: int
    seed: int
    autorun: bool


def settings(nn, optim, *, hidden: tuple = (32,), lr: float = 0.2, epochs: int = 5, batch_size: int = 32,
             seed: int = 0, autorun: bool = False) -> DashboardSettings:
    """The dashboard's first state (nothing of the student's runs before Train, or ``autorun``).

    Args:
        nn, optim: the student's ``mytorch.nn`` and ``mytorch.optim`` modules.
        hidden: hidden layer widths (the controls start with these values).
        lr, epochs, batch_size: the training settings the controls start with.
        seed: seed of the weights and of the shuffling.
        autorun: train once right away (for Run All); otherwise nothing trains until Train is pressed.

    Returns:
        A ``DashboardSettings``.
    """
    found = DashboardSettings(nn=nn, optim=optim, hidden=tuple(int(h) for h in hidden), lr=float(lr),
                              epochs=int(epochs), batch_size=int(batch_size), seed=int(seed), autorun=bool(autorun))
    found.note("info", "Choose the sizes and press Train: your Linear, ReLU, Sequential, CrossEntropyLoss "
               "and SGD train an MLP on 1438 digits and are tested on 359 others.")
    return found


def prepare(nn: Any, optim: Any, sizes: tuple, seed: int, data) -> _safe.Outcome:
    """A fresh MLP of ``sizes`` from the student's pieces, after ``preflight`` passed on another one.

    Returns:
        An Outcome holding the model, or the first problem (its message starts "Cannot train yet: ").
    """
    from assignment.shared.training import build_mlp

    label = "building the MLP (Linear, ReLU, Sequential)"
    built = _safe.call(label, build_mlp, nn, sizes, seed=seed)
    if built.ok:
        checked = preflight(nn, optim, built.value, data)
        if not checked.ok:
            built = checked
        else:
            built = _safe.call(label, build_mlp, nn, sizes, seed=seed)
    if not built.ok:
        return _safe.Outcome(False, None, built.kind, "Cannot train yet: " + built.message)
    return built


@dataclass
class Analysis:
    """What a trained model does on the test digits.

    Fields:
        confusion: (10, 10) counts, rows the true digit, columns the predicted one.
        misclassified: indices of the first ``GALLERY`` test digits predicted wrong; ``wrong`` all of them.
        gallery: their 8x8 images as one montage; ``labels``: 'true → predicted' of each.
        units: the first layer's weights of ``UNITS`` units as one montage (None without a 64-row weight).
        worst: the digit recognised least often.
    """

    confusion: np.ndarray
    misclassified: list[int]
    wrong: np.ndarray
    gallery: np.ndarray
    labels: list[str]
    units: np.ndarray | None
    worst: int
    total: int = 0
    notes: list = field(default_factory=list)


def analyse(model: Any, data) -> _safe.Outcome:
    """The test confusion matrix, the misclassified digits and the first layer's weights of ``model``.

    Returns:
        An Outcome holding an ``Analysis``, or why the student's forward could not predict.
    """
    from assignment.shared.training import predict

    predicted = _safe.call("Sequential.forward", predict, model, data.x_test)
    if not predicted.ok:
        return predicted
    truth, guess = data.y_test, predicted.value
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (truth, guess), 1)
    wrong = np.flatnonzero(guess != truth)
    shown = [int(k) for k in wrong[:GALLERY]]
    units = None
    weight = _safe.attribute(_safe.attribute(model, "layers", [None])[0], "weight")
    if isinstance(weight, np.ndarray) and weight.ndim == 2 and weight.shape[0] == 64:
        scale = float(np.max(np.abs(weight))) or 1.0
        units = _montage([weight[:, k].reshape(8, 8) / scale for k in range(min(UNITS, weight.shape[1]))], 4, 4, gap=1)
    worst = int(np.argsort(np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1))[0])
    return _safe.Outcome(True, Analysis(
        confusion=confusion, misclassified=shown, wrong=wrong,
        gallery=_montage([data.x_test[index].reshape(8, 8) for index in shown], 3, 4),
        labels=[f"{truth[index]} → {guess[index]}" for index in shown], units=units, worst=worst, total=len(truth)))


training_dashboard = entry("training_dashboard", "TrainingDashboard", settings, takes_optim=True,
                           what="the student's MLP training on the digits (the dashboard)")
