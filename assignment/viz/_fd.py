"""Central finite differences, and a student's gradient held against the expected one.

For a scalar loss L and an array A it depends on,

    dL/dA[i] ~ (L(A + eps e_i) - L(A - eps e_i)) / (2 eps),

which needs nothing but a forward pass: no formula of any gradient. The
differences themselves are the questions' (``assignment.questions._definitions``):
the views take them of the student's own forward when it agrees with the
definition, else of the definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from assignment.questions._compare import entry_differs
from assignment.questions._definitions import EPS, Differences, central_differences
from assignment.viz import _safe

__all__ = ["EPS", "Comparison", "Differences", "central_differences"]


@dataclass
class Comparison:
    """A student's gradient against the expected one and a finite-difference estimate.

    Fields:
        name: what the gradient is, e.g. ``"grad_weight"``.
        label: how the student got it, e.g. ``"Linear.backward → self.grad_weight"``.
        shape: the shape it must have (the shape of what it is the gradient of).
        yours: the student's gradient (None if unusable), float64.
        expected: the view's case's expected gradient (finite differences of the definition).
        estimate, plus, minus: the finite differences shown (of the student's forward or of the definition).
        skip: entries where finite differences cannot tell the slope (ReLU's kink at 0): the expected
            value there is the course's convention; None if there is none.
        problem: why ``yours`` is missing (an Outcome), if it is.
    """

    name: str
    label: str
    shape: tuple
    yours: np.ndarray | None = None
    expected: np.ndarray | None = None
    estimate: np.ndarray | None = None
    plus: np.ndarray | None = None
    minus: np.ndarray | None = None
    skip: np.ndarray | None = None
    problem: _safe.Outcome | None = None
    notes: list[str] = field(default_factory=list)

    def use(self, differences: Differences) -> None:
        """Show these finite differences; their kinks join the entries they cannot tell."""
        self.estimate, self.plus, self.minus = differences.estimate, differences.plus, differences.minus
        if differences.kinks.any():
            self.skip = differences.kinks if self.skip is None else (self.skip | differences.kinks)

    @property
    def differs(self) -> np.ndarray | None:
        """Entries where yours differs from the expected gradient, by the tests' tolerance (None: nothing to compare)."""
        if self.yours is None or self.expected is None:
            return None
        return entry_differs(self.yours, self.expected)

    @property
    def ok(self) -> bool:
        mask = self.differs
        return mask is not None and not mask.any()

    def summary(self) -> str:
        """'grad_weight: all 8 entries match ...' / '3 of 8 entries differ ...: largest at (1, 2)'."""
        mask = self.differs
        if mask is None:
            return f"{self.name}: " + (self.problem.message if self.problem else "nothing to compare")
        wrong = int(mask.sum())
        kinks = ""
        if self.skip is not None and self.skip.any():
            kinks = f" ({int(self.skip.sum())} at a kink, where the course's convention decides)"
        if wrong == 0:
            return f"{self.name}: all {mask.size} entries match the finite differences{kinks}."
        gap = np.where(mask, np.abs(self.yours - self.expected), -1.0)
        largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
        return (f"{self.name}: {wrong} of {mask.size} entries differ from the finite differences "
                f"(outlined in red and marked ✘): largest at {largest}{kinks}.")
