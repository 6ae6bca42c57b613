"""Question 2.3 (relu_backward): the upstream gradient G, the student's ReLU.backward(G) and
central finite differences of the student's own ReLU.forward (of the definition max(x, 0)
when that forward is off), entry by entry.

``probe`` gives question 2.3's verdict on the view's case and the differences shown;
``relu_backward`` shows them (``views/relu_backward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.shared.questions import _definitions
from assignment.student.viz import _safe
from assignment.student.viz._data import tenths
from assignment.student.viz._fd import Comparison, GradientProbe, central_differences, forward_differences, judge_backward
from assignment.student.viz._judge import listed
from assignment.student.viz._show import entry

__all__ = ["ReluBackwardProbe", "probe", "relu_backward"]


@dataclass(kw_only=True)
class ReluBackwardProbe(GradientProbe):
    """ReLU.backward(G) against finite differences of L = sum(G * ReLU.forward(X)).

    X holds one exact 0 (the kink): finite differences cannot tell the slope there, so the
    course's convention (slope 0) gives the expected value, as in the tests.

    Fields (besides those of ``GradientProbe``):
        x, g: the seeded input and upstream gradient (float64).
        comparisons: {"input": Comparison} of the returned gradient (``skip`` marks the kink).
    """

    x: np.ndarray
    g: np.ndarray


def probe(nn, optim=None, *, shape: tuple = (3, 4), seed: int = 0) -> ReluBackwardProbe:
    """Question 2.3's check on seeded X and G, and the finite differences to show.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        shape: shape of X and of the upstream gradient G.
        seed: seed of X and G.

    Returns:
        A ``ReluBackwardProbe``.
    """
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    # Entries at least 0.1 away from 0 (eps = 1e-3 never crosses the kink), and one exact 0.
    x = tenths(rng, shape, low=-2, high=2, avoid_zero=0.1, dtype=np.float64)
    kink = np.zeros(shape, dtype=bool)
    kink.flat[min(5, x.size - 1)] = True
    x[kink] = 0.0
    g = tenths(rng, shape, avoid_zero=0.1, dtype=np.float64)
    comparison = Comparison("returned gradient", "the return value of ReLU.backward", shape, skip=kink.copy(),
                            expected=_definitions.relu_gradient(x, g))
    found = ReluBackwardProbe(x=x, g=g, comparisons={"input": comparison}, symbols={"input": "X"},
                              case={"x": listed(x), "grad": listed(g), "expected": listed(comparison.expected)})

    def yours() -> dict:
        point = x.copy()

        def loss(layer) -> float:
            checked = _safe.check_array(_safe.method(layer, "forward")(point.copy()), "ReLU.forward", shape)
            if not checked.ok:
                raise _safe.Unusable(checked)
            return float(np.sum(g * np.asarray(checked.value, dtype=float)))

        return forward_differences(_safe.construct(nn, "ReLU", label="ReLU()"), loss, {"input": point})

    def definition() -> dict:
        point = x.copy()
        return {"input": central_differences(lambda: float(np.sum(g * _definitions.relu(point))), point)}

    judge_backward(found, nn, "relu_backward", "relu_forward", {"x": listed(x), "expected": listed(_definitions.relu(x))},
                   yours, definition, "L = sum(G ⊙ ReLU.forward(X))", "L = sum(G ⊙ max(X, 0)), the definition")
    found.take_outputs(lambda outputs: comparison.take(
        _safe.check_array(outputs["grad_x"], "ReLU.backward", shape, shape_hint="G's shape")))
    found.note_comparisons(f"ReLU.backward passes question 2.3's check on these inputs: all {x.size} entries "
                           "match, the kink at X = 0 included (slope 0 there).")
    return found


relu_backward = entry("relu_backward", "ReluBackwardViz", probe, takes_optim=False,
                      what="the student's ``ReLU.backward``")
