"""Mini-batch training of a mytorch MLP: the loop the 04_training notebook, its
dashboard and ``make demo`` share.

The loop only calls the public API (``Sequential``, ``Linear``, ``ReLU``,
``CrossEntropyLoss``, ``SGD``), so it trains whichever mytorch it is handed:
the reference or a student's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Callable, Sequence

import numpy as np

from assignment.shared.data import Digits

__all__ = ["EpochStats", "build_mlp", "mlp_layers", "accuracy", "predict", "train"]


@dataclass
class EpochStats:
    """What one epoch produced.

    Fields:
        epoch: 1-based epoch number.
        train_loss: mean of the mini-batch losses of this epoch.
        train_accuracy: fraction of training images classified right after the epoch.
        test_accuracy: fraction of test images classified right after the epoch.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    test_accuracy: float


@dataclass
class History:
    """Per-epoch statistics of a training run."""

    epochs: list[EpochStats] = field(default_factory=list)


def build_mlp(nn: ModuleType, sizes: Sequence[int], *, seed: int = 0, dtype: type = np.float32):
    """Build Linear-ReLU-...-Linear with the given layer widths.

    Args:
        nn: the ``mytorch.nn`` module to build from.
        sizes: widths, input first and classes last, e.g. (64, 32, 10).
        seed: seed of the weights' random generator.
        dtype: dtype of the parameters.

    Returns:
        An ``nn.Sequential`` with len(sizes) - 1 Linear layers and a ReLU between each pair.
    """
    return nn.Sequential(*mlp_layers(nn, sizes, seed=seed, dtype=dtype))


def mlp_layers(nn: ModuleType, sizes: Sequence[int], *, seed: int = 0, dtype: type = np.float32) -> list:
    """The layers of ``build_mlp``'s network, as a list: Linear, ReLU, ..., Linear (same arguments)."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size; received {list(sizes)}")
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layer = nn.Linear(n_in, n_out)
        bound = 1.0 / np.sqrt(n_in)
        # Drawn here rather than inside Linear so every mytorch gets the same start.
        layer.weight = rng.uniform(-bound, bound, (n_in, n_out)).astype(dtype)
        layer.bias = rng.uniform(-bound, bound, (1, n_out)).astype(dtype)
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return layers


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Return the predicted class of every row of ``x``."""
    return np.concatenate(
        [np.argmax(model.forward(x[i : i + batch_size]), axis=1) for i in range(0, len(x), batch_size)]
    )


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of ``x`` whose predicted class equals ``y``."""
    return float(np.mean(predict(model, x) == y))


def train(
    model,
    data: Digits,
    nn: ModuleType,
    optim: ModuleType,
    *,
    epochs: int = 20,
    lr: float = 0.1,
    batch_size: int = 32,
    seed: int = 0,
    on_batch: Callable[[int, int, float], None] | None = None,
    on_epoch: Callable[[EpochStats], bool | None] | None = None,
) -> History:
    """Train ``model`` with mini-batch SGD on ``data``.

    Each step is the course's three-phase loop: forward (network and loss),
    backward (``model.backward(loss_function)``), step (``optimizer.step()``).

    Args:
        model: an ``nn.Sequential``.
        data: the digits split.
        nn, optim: the mytorch modules whose ``CrossEntropyLoss`` and ``SGD`` to use.
        epochs: passes over the training set.
        lr: learning rate.
        batch_size: examples per step.
        seed: seed of the shuffling.
        on_batch: called as on_batch(epoch, batch_index, loss) after each step.
        on_epoch: called with each epoch's stats; returning True stops training.

    Returns:
        The per-epoch history.
    """
    loss_function = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model, lr=lr)
    rng = np.random.default_rng(seed)
    history = History()
    n = len(data.x_train)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n)
        losses = []
        for b, start in enumerate(range(0, n, batch_size)):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            logits = model.forward(data.x_train[batch])
            loss = loss_function.forward(logits, data.y_train[batch])
            model.backward(loss_function)
            optimizer.step()
            losses.append(loss)
            if on_batch is not None:
                on_batch(epoch, b, loss)
        stats = EpochStats(
            epoch=epoch,
            train_loss=float(np.mean(losses)),
            train_accuracy=accuracy(model, data.x_train, data.y_train),
            test_accuracy=accuracy(model, data.x_test, data.y_test),
        )
        history.epochs.append(stats)
        if on_epoch is not None and on_epoch(stats):
            break
    return history
