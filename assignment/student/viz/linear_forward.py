"""Question 1.1 (linear_forward): X, W, b and the student's Out = Linear.forward(X).

``probe`` runs question 1.1's own check on the view's seeded case and returns what it found
as plain data; ``linear_forward`` shows it (``views/linear_forward.py``: heatmaps and a
stepper that walks the output one entry at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.shared.questions import _definitions
from assignment.student.viz._data import tenths
from assignment.student.viz._judge import judge, listed
from assignment.student.viz._probe import AnswerProbe
from assignment.student.viz._show import entry

__all__ = ["LinearForwardProbe", "probe", "linear_forward"]


@dataclass(kw_only=True)
class LinearForwardProbe(AnswerProbe):
    """What question 1.1's check found on the view's case: X, W, b (the seeded float32 inputs),
    and those of ``AnswerProbe`` (``expected`` is X W + b by the definition)."""

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray


def probe(nn, optim=None, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2,
          seed: int = 0) -> LinearForwardProbe:
    """Question 1.1's check on seeded X, W, b: the verdict and what the picture shows.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        batch_size, in_features, out_features: sizes of X and W.
        seed: seed of the inputs.

    Returns:
        A ``LinearForwardProbe`` (never raises for anything the student's code does).
    """
    n, i_f, o_f = int(batch_size), int(in_features), int(out_features)
    rng = np.random.default_rng(seed)
    x, weight, bias = tenths(rng, (n, i_f)), tenths(rng, (i_f, o_f)), tenths(rng, (1, o_f))
    expected = _definitions.linear(x, weight, bias)
    case = {"x": listed(x), "weight": listed(weight), "bias": listed(bias), "dtype": "float32",
            "expected": listed(expected)}
    found = LinearForwardProbe(x=x, weight=weight, bias=bias, expected=expected, case=case,
                               judgement=judge("linear_forward", nn, None, case))
    found.note_verdict(found.judgement, f"Linear.forward passes question 1.1's check on these inputs: shape "
                       f"{(n, o_f)}, dtype float32 kept, and all {n * o_f} entries equal x_row · w_col + b.")
    found.take_answer("output", "x_row · w_col + b")
    return found


linear_forward = entry("linear_forward", "LinearForwardViz", probe, takes_optim=False,
                       what="the student's ``Linear.forward``")
