"""Stand-in layers and a probe loss, to show a student's ``Sequential`` on its own.

They are deliberately not the course's layers (no Linear, no ReLU): doubling,
adding one and keeping the first columns. Their order matters (2x + 1 is not
2(x + 1)) and the last one changes the shape, so a Sequential that skips,
repeats or reverses layers shows it. Each layer keeps the gradient its last
``backward`` received (``received``), so that a Sequential.backward that returns
nothing can still be checked.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Double", "AddOne", "FirstColumns", "ProbeLoss", "standin_layers"]


class Double:
    """Stand-in layer: out = 2 x; its backward doubles the gradient."""

    def __init__(self) -> None:
        self.x = None
        self.received = None  # the gradient of the last backward

    def __repr__(self) -> str:
        return "Double()"

    def forward(self, x):
        self.x = np.asarray(x)
        return self.x * 2

    def backward(self, grad):
        self.received = np.array(grad, copy=True)
        return np.asarray(grad) * 2


class AddOne:
    """Stand-in layer: out = x + 1; its backward passes the gradient through."""

    def __init__(self) -> None:
        self.x = None
        self.received = None  # the gradient of the last backward

    def __repr__(self) -> str:
        return "AddOne()"

    def forward(self, x):
        self.x = np.asarray(x)
        return self.x + 1

    def backward(self, grad):
        self.received = np.array(grad, copy=True)
        return np.array(grad, copy=True)


class FirstColumns:
    """Stand-in layer: keeps the first ``k`` columns; backward pads with zeros."""

    def __init__(self, k: int) -> None:
        self.k = int(k)
        self.x = None
        self.received = None  # the gradient of the last backward

    def __repr__(self) -> str:
        return f"FirstColumns({self.k})"

    def forward(self, x):
        self.x = np.asarray(x)
        return self.x[:, : self.k].copy()

    def backward(self, grad):
        self.received = np.array(grad, copy=True)
        padded = np.zeros(self.x.shape, dtype=np.asarray(grad).dtype)
        padded[:, : self.k] = grad
        return padded


class ProbeLoss:
    """A loss whose gradient is a fixed matrix G: L = sum(G * out), dL/dout = G."""

    def __init__(self, g: np.ndarray) -> None:
        self.g = np.asarray(g)
        self.out = None

    def __repr__(self) -> str:
        return "ProbeLoss(G)"

    def forward(self, out, labels=None) -> float:
        self.out = np.asarray(out)
        return float(np.sum(self.g * self.out))

    def backward(self):
        return self.g.copy()


def standin_layers(keep: int) -> list:
    """Double, AddOne, FirstColumns(keep): three fresh stand-in layers."""
    return [Double(), AddOne(), FirstColumns(keep)]
