"""Question 1.2 (relu_forward): the input X, the mask of its positive entries and the
student's ReLU.forward(X).

``probe`` runs question 1.2's own check on the view's seeded case (X with one exact 0) and
returns what it found; ``relu_forward`` shows it (``views/relu_forward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.shared.questions import _definitions
from assignment.student.viz._data import tenths
from assignment.student.viz._judge import judge, listed
from assignment.student.viz._probe import AnswerProbe
from assignment.student.viz._show import entry

__all__ = ["ReluForwardProbe", "probe", "relu_forward"]


@dataclass(kw_only=True)
class ReluForwardProbe(AnswerProbe):
    """What question 1.2's check found on the view's case: X (the seeded float32 input, with one
    exact 0), its mask 1[X > 0], and those of ``AnswerProbe`` (``expected`` is max(X, 0))."""

    x: np.ndarray
    mask: np.ndarray


def probe(nn, optim=None, *, shape: tuple = (3, 4), seed: int = 0) -> ReluForwardProbe:
    """Question 1.2's check on a seeded X: the verdict and what the picture shows.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        shape: the shape of X.
        seed: seed of X.

    Returns:
        A ``ReluForwardProbe``.
    """
    shape = tuple(int(s) for s in shape)
    x = tenths(np.random.default_rng(seed), shape, low=-2, high=2)
    x.flat[min(5, x.size - 1)] = 0.0  # the kink: ReLU(0) = 0
    expected = _definitions.relu(x)
    case = {"x": listed(x), "dtype": "float32", "expected": listed(expected)}
    found = ReluForwardProbe(x=x, mask=(x > 0).astype(np.float32), expected=expected, case=case,
                             judgement=judge("relu_forward", nn, None, case))
    found.note_verdict(found.judgement, f"ReLU.forward passes question 1.2's check on these inputs: shape "
                       f"{shape}, dtype float32 kept, input untouched, and all {x.size} entries equal max(x, 0).")
    found.take_answer("output", "max(x, 0)")
    return found


relu_forward = entry("relu_forward", "ReluForwardViz", probe, takes_optim=False,
                     what="the student's ``ReLU.forward``")
