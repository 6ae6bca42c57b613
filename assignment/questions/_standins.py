"""Trusted stand-in layers and loss for the Sequential questions.

A ``Sequential`` question must depend on ``Sequential`` alone, so its tests
wire the student's ``Sequential`` to stand-ins instead of the student's
``Linear`` and ``ReLU``. A stand-in knows the one input (or gradient) it
should receive and the answer it gives back; it records every call, and a
wrong input gets NaNs back, so a mistake shows up both in the call log and
in the final answer. No layer formula is needed, so none is revealed.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _same(value: Any, expected: np.ndarray) -> bool:
    try:
        array = np.asarray(value, dtype=np.float64)
    except Exception:
        return False
    return array.shape == expected.shape and bool(np.allclose(array, expected, rtol=1e-7, atol=1e-9))


class StandInLayer:
    """A layer that replays one forward and one backward computation.

    Fields:
        name: what the layer stands for, e.g. "Linear(2, 3)".
        index: its position in the network.
        log: the shared call log, a list of (event, index, ok) tuples.
    """

    def __init__(self, name: str, index: int, log: list, *, forward_io=None, backward_io=None) -> None:
        self.name = name
        self.index = index
        self.log = log
        self._forward_io = None if forward_io is None else tuple(np.asarray(a, dtype=np.float64) for a in forward_io)
        self._backward_io = None if backward_io is None else tuple(np.asarray(a, dtype=np.float64) for a in backward_io)

    def __repr__(self) -> str:
        return f"{self.name} (stand-in)"

    def forward(self, x: Any) -> np.ndarray:
        if self._forward_io is None:
            self.log.append(("forward", self.index, False))
            raise RuntimeError(f"{self.name}.forward should not be called in this test")
        expected_in, out = self._forward_io
        ok = _same(x, expected_in)
        self.log.append(("forward", self.index, ok))
        return out.copy() if ok else np.full_like(out, np.nan)

    def backward(self, grad: Any) -> np.ndarray:
        if self._backward_io is None:
            self.log.append(("backward", self.index, False))
            raise RuntimeError(f"{self.name}.backward should not be called in this test")
        expected_grad, grad_in = self._backward_io
        ok = _same(grad, expected_grad)
        self.log.append(("backward", self.index, ok))
        return grad_in.copy() if ok else np.full_like(grad_in, np.nan)


class StandInLoss:
    """A loss whose ``backward`` returns a fixed gradient and logs the call."""

    def __init__(self, grad: Any, log: list) -> None:
        self._grad = np.asarray(grad, dtype=np.float64)
        self.log = log

    def __repr__(self) -> str:
        return "CrossEntropyLoss (stand-in)"

    def forward(self, logits: Any, labels: Any) -> float:
        self.log.append(("loss.forward", -1, True))
        return 0.0

    def backward(self) -> np.ndarray:
        self.log.append(("loss.backward", -1, True))
        return self._grad.copy()
