"""Question 1.1 (linear_forward): X, W, b and the student's Out = Linear.forward(X).

``probe`` runs question 1.1's own check on the view's seeded case and returns what it found
as plain data; ``linear_forward`` shows it (``views/linear_forward.py``: heatmaps and a
stepper that walks the output one entry at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.questions import _definitions
from assignment.questions._compare import entry_differs
from assignment.viz import _safe
from assignment.viz._data import tenths
from assignment.viz._judge import Verdict, judge, listed
from assignment.viz._probe import Probe, panel_value
from assignment.viz._show import show

__all__ = ["LinearForwardProbe", "probe", "linear_forward", "answer_panel"]


@dataclass(kw_only=True)
class LinearForwardProbe(Probe):
    """What question 1.1's check found on the view's case.

    Fields:
        x, weight, bias: the seeded inputs (float32).
        expected: X W + b by the definition.
        judgement: question 1.1's verdict.
        output: the student's output (None if unusable); ``out_message`` says why.
        differs: entries of the output that differ from the definition (None without an output).
    """

    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    expected: np.ndarray
    judgement: Verdict
    output: np.ndarray | None = None
    out_message: str | None = None
    differs: np.ndarray | None = None


def answer_panel(found: Probe, verdict: Verdict, name: str, what: str) -> None:
    """Fill ``found.output``, ``out_message`` and ``differs`` from ``verdict``'s ``name`` answer, and note
    how many entries differ from ``what`` (the definition) when the check failed."""
    if verdict.outputs is None:
        found.out_message = "not implemented yet" if verdict.kind == _safe.NOT_IMPLEMENTED else "raised an error"
        return
    found.output, found.out_message = panel_value(verdict.outputs[name], found.expected.shape)
    if found.output is None:
        return
    found.differs = entry_differs(found.output, found.expected)
    if found.differs is not None and found.differs.any() and not verdict.passed:
        first = tuple(int(v) for v in np.argwhere(found.differs)[0])
        found.note("info", f"{int(found.differs.sum())} of {found.differs.size} entries differ from {what} "
                   f"(outlined in red and marked ✘), the first at {first}.")


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
    answer_panel(found, found.judgement, "output", "x_row · w_col + b")
    return found


def linear_forward(nn, *, batch_size: int = 3, in_features: int = 4, out_features: int = 2, seed: int = 0):
    """Visualize the student's ``Linear.forward``: ``viz.linear_forward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        batch_size, in_features, out_features: sizes of X and W (keep them small).
        seed: seed of the inputs.

    Returns:
        A ``LinearForwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return show("linear_forward", "LinearForwardViz", probe, nn, batch_size=batch_size, in_features=in_features,
                out_features=out_features, seed=seed)
