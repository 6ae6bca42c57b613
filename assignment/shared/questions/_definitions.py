"""The formulas the notebooks give, computed by the course's own NumPy code, for judging only.

The visualizers judge a student's code on inputs of their own; a view's test case
needs the expected answer, and it must not come from the student's code (a wrong
forward would make a wrong backward look right, or a right one look wrong). So
this module computes what the notebooks state, in plain NumPy:

    the Linear layer        Out = X W + b
    the ReLU                Out = X where X > 0, else 0
    the cross-entropy loss  mean over the rows of -log softmax(I)[label]
    the SGD update          p - lr * dLoss/dp

and the gradients of the first three as central finite differences of those
formulas (never as a gradient formula: that is what the backward questions ask).
Nothing here is used to grade a notebook's test: those carry their expected
values in their cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

#: The step of every central finite difference of the course (the views' and these).
EPS = 1e-3


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Out[n, o] = sum_i X[n, i] W[i, o] + b[0, o], in float64."""
    x, weight, bias = (np.asarray(a, dtype=np.float64) for a in (x, weight, bias))
    return np.einsum("ni,io->no", x, weight) + bias.reshape(1, -1)


def relu(x: np.ndarray) -> np.ndarray:
    """Each entry if it is positive, else 0 (at exactly 0 too), in float64."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, 0.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise probabilities exp(I) / sum exp(I), computed from the row-shifted logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def target_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-log softmax(I)[n, label_n] for every row n, finite for any finite logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - np.max(z, axis=1, keepdims=True)
    rows = np.arange(z.shape[0])
    return np.log(np.sum(np.exp(z), axis=1)) - z[rows, np.asarray(labels, dtype=np.int64)]


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """The mean over the rows of -log softmax(I)[label]."""
    return float(np.mean(target_losses(logits, labels)))


def sgd_update(value: np.ndarray, grad: np.ndarray, lr: float) -> np.ndarray:
    """A parameter after one plain SGD update, in float64."""
    return np.asarray(value, dtype=np.float64) - float(lr) * np.asarray(grad, dtype=np.float64)


@dataclass
class Differences:
    """Central finite differences of one array.

    Fields:
        estimate: (L(+eps) - L(-eps)) / (2 eps) per entry.
        plus, minus: L(+eps) and L(-eps) per entry.
        kinks: entries where the slopes on the two sides differ (L has a kink
            within eps, like ReLU at 0): there the estimate is no derivative.
    """

    estimate: np.ndarray
    plus: np.ndarray
    minus: np.ndarray
    kinks: np.ndarray


def central_differences(loss: Callable[[], float], array: np.ndarray, eps: float = EPS) -> Differences:
    """Estimate dL/darray entry by entry, perturbing ``array`` in place (and restoring it).

    Args:
        loss: evaluates L with the current contents of ``array``; may raise.
        array: a float64 array that ``loss`` reads.
        eps: the step.

    Returns:
        The ``Differences``.
    """
    centre = loss()
    plus = np.zeros(array.shape)
    minus = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        kept = array[index]
        try:
            array[index] = kept + eps
            plus[index] = loss()
            array[index] = kept - eps
            minus[index] = loss()
        finally:
            array[index] = kept
    estimate = (plus - minus) / (2 * eps)
    right = (plus - centre) / eps
    left = (centre - minus) / eps
    # A smooth L has one-sided slopes within eps * |L''| of each other; a kink makes them jump.
    kinks = np.abs(right - left) > 5e-3 * np.maximum(1.0, np.abs(estimate))
    return Differences(estimate, plus, minus, kinks)


def linear_gradients(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, grad: np.ndarray) -> dict:
    """Finite differences of L = sum(G * (X W + b)) with respect to W, b and X.

    L is linear in each of them, so central differences are exact up to rounding.

    Returns:
        {"grad_x": ..., "grad_weight": ..., "grad_bias": ...} as float64 arrays.
    """
    g = np.asarray(grad, dtype=np.float64)
    arrays = {name: np.array(value, dtype=np.float64) for name, value in
              (("x", x), ("weight", weight), ("bias", bias))}

    def loss() -> float:
        return float(np.sum(g * linear(arrays["x"], arrays["weight"], arrays["bias"])))

    return {f"grad_{name}": central_differences(loss, arrays[name]).estimate for name in ("x", "weight", "bias")}


def relu_gradient(x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Finite differences of L = sum(G * relu(X)) with respect to X; 0 where X is exactly 0.

    At X = 0 the slope is a convention (0 in this course) that no finite difference
    can tell, so those entries are set by it.

    Raises:
        ValueError: an entry of X lies within EPS of 0 without being 0 (the step would cross the kink).
    """
    x = np.array(x, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    near = (np.abs(x) < 2 * EPS) & (x != 0)
    if near.any():
        raise ValueError("relu_gradient: keep the inputs at least 2 * EPS away from 0, or exactly 0")
    estimate = central_differences(lambda: float(np.sum(g * relu(x))), x).estimate
    estimate[x == 0] = 0.0
    return estimate


def cross_entropy_gradient(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Finite differences of the mean cross-entropy with respect to the logits (error below 1e-7)."""
    z = np.array(logits, dtype=np.float64)
    return central_differences(lambda: cross_entropy(z, labels), z).estimate
