"""Question 2.1 (xeloss_backward): the student's dLoss/dLogits against central finite
differences of the student's own CrossEntropyLoss.forward (of the definition, the mean of
-log softmax(I)[target], when that forward is off or not ready).

``probe`` gives question 2.1's verdict on the view's case and the differences shown;
``xeloss_backward`` shows them (``views/xeloss_backward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from assignment.shared.questions import _definitions
from assignment.student.viz import _safe
from assignment.student.viz._data import labels as seeded_labels
from assignment.student.viz._data import tenths
from assignment.student.viz._fd import Comparison, GradientProbe, central_differences, forward_differences, judge_backward
from assignment.student.viz._judge import listed
from assignment.student.viz._show import entry

__all__ = ["XelossBackwardProbe", "probe", "xeloss_backward"]


@dataclass(kw_only=True)
class XelossBackwardProbe(GradientProbe):
    """CrossEntropyLoss.backward() against finite differences of the loss.

    Fields (besides those of ``GradientProbe``):
        logits, labels: the seeded inputs (float64 logits).
        comparisons: {"logits": Comparison} of the returned gradient.
    """

    logits: np.ndarray
    labels: np.ndarray


def probe(nn, optim=None, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> XelossBackwardProbe:
    """Question 2.1's check on seeded logits and labels, and the finite differences to show.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        batch_size, num_classes: shape of the logits.
        seed: seed of the logits and labels.

    Returns:
        An ``XelossBackwardProbe``.
    """
    n, c = int(batch_size), int(num_classes)
    rng = np.random.default_rng(seed)
    logits = tenths(rng, (n, c), low=-2, high=2, dtype=np.float64)
    labels = seeded_labels(rng, n, c)
    comparison = Comparison("backward()", "CrossEntropyLoss.backward()", (n, c),
                            expected=_definitions.cross_entropy_gradient(logits, labels))
    inputs = {"logits": listed(logits), "labels": labels.tolist()}
    found = XelossBackwardProbe(logits=logits, labels=labels, comparisons={"logits": comparison},
                                symbols={"logits": "I"}, case={**inputs, "expected": listed(comparison.expected)})

    def yours() -> dict:
        point = logits.copy()

        def loss(loss_function) -> float:
            checked = _safe.check_number(_safe.method(loss_function, "forward")(point.copy(), labels.copy()),
                                         "CrossEntropyLoss.forward", what="one number")
            if not checked.ok:
                raise _safe.Unusable(checked)
            return checked.value

        made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        return forward_differences(made, loss, {"logits": point})

    def definition() -> dict:
        point = logits.copy()
        return {"logits": central_differences(lambda: _definitions.cross_entropy(point, labels), point)}

    judge_backward(found, nn, "xeloss_backward", "xeloss_forward",
                   {**inputs, "expected": _definitions.cross_entropy(logits, labels)}, yours, definition,
                   "L = your CrossEntropyLoss.forward(I, labels)",
                   "L = mean over rows of −log softmax(I)[target], the definition")
    found.take_outputs(lambda outputs: comparison.take(_safe.check_array(
        outputs["grad"], "CrossEntropyLoss.backward", logits.shape, shape_hint="the logits' shape (N, C)")))
    found.note_comparisons(f"CrossEntropyLoss.backward passes question 2.1's check on these logits: all {n * c} "
                           "entries of (softmax(I) − T) / N match.")
    return found


xeloss_backward = entry("xeloss_backward", "XelossBackwardViz", probe, takes_optim=False,
                        what="the student's ``CrossEntropyLoss.backward``")
