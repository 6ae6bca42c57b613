"""Central finite differences of the student's own forward pass.

For a scalar loss L and an array A it depends on,

    dL/dA[i] ~ (L(A + eps e_i) - L(A - eps e_i)) / (2 eps),

which needs nothing but a forward pass: no formula of any gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from assignment.viz import _safe

__all__ = ["EPS", "Comparison", "Differences", "central_differences", "compare"]

EPS = 1e-3


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


def compare(yours: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries where ``yours`` differs from the finite-difference ``estimate``."""
    yours = np.asarray(yours, dtype=float)
    scale = max(1.0, float(np.max(np.abs(estimate)))) if estimate.size else 1.0
    return ~np.isclose(yours, estimate, rtol=1e-3, atol=1e-4 * scale)


@dataclass
class Comparison:
    """A student's gradient against its finite-difference estimate.

    Fields:
        name: what the gradient is, e.g. ``"grad_weight"``.
        label: how the student got it, e.g. ``"Linear.backward → self.grad_weight"``.
        shape: the shape it must have (the shape of what it is the gradient of).
        yours: the student's gradient (None if unusable), float64.
        estimate, plus, minus: the finite differences (None if the forward failed).
        skip: entries not compared (e.g. ReLU's kink at 0); None if all are compared.
        problem: why ``yours`` or ``estimate`` is missing (an Outcome), if one is.
    """

    name: str
    label: str
    shape: tuple
    yours: np.ndarray | None = None
    estimate: np.ndarray | None = None
    plus: np.ndarray | None = None
    minus: np.ndarray | None = None
    skip: np.ndarray | None = None
    problem: _safe.Outcome | None = None
    notes: list[str] = field(default_factory=list)

    def use(self, differences: Differences) -> None:
        """Take the finite differences; their kinks join the entries not compared."""
        self.estimate, self.plus, self.minus = differences.estimate, differences.plus, differences.minus
        if differences.kinks.any():
            self.skip = differences.kinks if self.skip is None else (self.skip | differences.kinks)

    @property
    def differs(self) -> np.ndarray | None:
        """Mask of the compared entries that differ (None when there is nothing to compare)."""
        if self.yours is None or self.estimate is None:
            return None
        mask = compare(self.yours, self.estimate)
        if self.skip is not None:
            mask &= ~self.skip
        return mask

    @property
    def ok(self) -> bool:
        mask = self.differs
        return mask is not None and not mask.any()

    def summary(self) -> str:
        """'all 12 entries match' / '3 of 12 differ: largest at (1, 2)' (prefixed by the name)."""
        mask = self.differs
        if mask is None:
            return f"{self.name}: " + (self.problem.message if self.problem else "nothing to compare")
        compared = int(mask.size - (0 if self.skip is None else self.skip.sum()))
        wrong = int(mask.sum())
        skipped = ""
        if self.skip is not None and self.skip.any():
            skipped = f" ({int(self.skip.sum())} at a kink not compared)"
        if wrong == 0:
            return f"{self.name}: all {compared} entries match the finite differences{skipped}."
        gap = np.where(mask, np.abs(self.yours - self.estimate), -1.0)
        largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
        return (f"{self.name}: {wrong} of {compared} entries differ from the finite differences "
                f"(outlined in red and marked ✘): largest at {largest}{skipped}.")
