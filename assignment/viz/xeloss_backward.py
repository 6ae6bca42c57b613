"""Question 2.1 (xeloss_backward): the student's dLoss/dLogits against central
finite differences of the student's own CrossEntropyLoss.forward (of the definition,
the mean of -log softmax(I)[target], when that forward is off or not ready). The
verdict is question 2.1's check on this view's case."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import safely
from assignment.viz._data import labels as seeded_labels
from assignment.viz._data import tenths
from assignment.questions import _definitions
from assignment.viz._fd import Comparison, central_differences
from assignment.viz._gradviz import GradientViz
from assignment.viz._judge import listed
from assignment.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.viz.xeloss_forward import TARGET

__all__ = ["XelossBackwardViz", "xeloss_backward"]


class XelossBackwardViz(GradientViz):
    """CrossEntropyLoss.backward() against finite differences of the loss.

    Fields read by tests (besides those of ``GradientViz``):
        logits, labels: the seeded inputs (float64 logits).
        comparisons: {"logits": Comparison} of the returned gradient.
        fd_source: ``"your forward"`` or ``"the definition"`` (when the student's forward is unusable).
    """

    heading = "Question 2.1 · CrossEntropyLoss.backward: ∂Loss/∂logits"
    picture = ("Heatmaps of your gradient of the loss with respect to the logits and of its finite-difference estimate, differing entries marked with a cross")

    def __init__(self, nn, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        n, c = int(batch_size), int(num_classes)
        rng = np.random.default_rng(seed)
        self.logits = tenths(rng, (n, c), low=-2, high=2, dtype=np.float64)
        self.labels = seeded_labels(rng, n, c)
        self.symbols = {"logits": "I"}
        self.comparisons = {"logits": Comparison("backward()", "CrossEntropyLoss.backward()", (n, c))}
        self.probe_text = "L = your CrossEntropyLoss.forward(I, labels)"
        self.definition_text = "L = mean over rows of −log softmax(I)[target], the definition"
        comparison = self.comparisons["logits"]
        comparison.expected = _definitions.cross_entropy_gradient(self.logits, self.labels)
        self.case = {"logits": listed(self.logits), "labels": self.labels.tolist(), "expected": listed(comparison.expected)}
        forward_case = {"logits": listed(self.logits), "labels": self.labels.tolist(),
                        "expected": _definitions.cross_entropy(self.logits, self.labels)}
        self.judge_backward(nn, "xeloss_backward", self.case, "xeloss_forward", forward_case,
                            lambda: self._differences(nn), self._definition_differences)
        self._take_yours()
        self.note_comparisons(f"CrossEntropyLoss.backward passes question 2.1's check on these logits: all {n * c} "
                              "entries of (softmax(I) − T) / N match.")

        self.figure, axes = matrix_rows([[
            Panel("I", (n, c)), Op("⟶ ∂L/∂I:", 1.1, 10), Panel("yours", (n, c)), Op("vs", 0.6, 11),
            Panel("fd", (n, c)),
        ]])
        f = self.figure
        comparison = self.comparisons["logits"]
        shown = comparison.shape
        problem = comparison.problem
        if problem is not None and problem.kind == _safe.SHAPE and problem.value is not None:
            shown = tuple(np.shape(comparison.problem.value))
        self.panels = {
            "I": fixed_panel(f, axes["I"], (n, c), shape_title("I = logits", (n, c), "(N, C)")),
            "yours": fixed_panel(f, axes["yours"], (n, c), shape_title("your backward()", shown)),
            "fd": fixed_panel(f, axes["fd"], (n, c), shape_title(f"estimate from {self.fd_source}", (n, c))),
        }
        self.panels["I"].set(self.logits)
        mask = np.zeros((n, c), dtype=bool)
        mask[np.arange(n), self.labels] = True
        self.panels["I"].mark(mask, TARGET, symbol="T")
        self.show_comparison(comparison, self.panels["yours"], self.panels["fd"])
        self.entry_panels = {"logits": list(self.panels.values())}
        controls = self._finish(["logits"])
        self.legend = widgets.HTML('<span style="color:#6a3d9a">purple outline marked T: the target class of each row</span>')
        self.children = [self.header, self.status, self.image, self.legend, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)

    def _take_yours(self) -> None:
        """The gradient question 2.1's run reported."""
        comparison = self.comparisons["logits"]
        outputs = self.judgement.outputs
        if outputs is None:
            comparison.problem = _safe.Outcome(False, None, self.judgement.kind, self.judgement.problems[0])
            return
        result = _safe.check_array(outputs["grad"], "CrossEntropyLoss.backward", self.logits.shape,
                                   shape_hint="the logits' shape (N, C)")
        if result.ok:
            comparison.yours = np.asarray(result.value, dtype=float)
        else:
            comparison.problem = result

    def _differences(self, nn) -> dict:
        """Finite differences of your CrossEntropyLoss.forward (raises what it raises)."""
        made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        if not made.ok:
            raise _safe.Unusable(made)
        forward = _safe.method(made.value, "forward")
        logits = self.logits.copy()

        def yours() -> float:
            checked = _safe.check_number(forward(logits.copy(), self.labels.copy()), "CrossEntropyLoss.forward",
                                         what="one number")
            if not checked.ok:
                raise _safe.Unusable(checked)
            return checked.value

        return {"logits": central_differences(yours, logits)}

    def _definition_differences(self) -> dict:
        """Finite differences of the mean of −log softmax(I)[target], the definition."""
        logits = self.logits.copy()
        return {"logits": central_differences(lambda: _definitions.cross_entropy(logits, self.labels), logits)}


def xeloss_backward(nn, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``CrossEntropyLoss.backward``: ``viz.xeloss_backward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        batch_size, num_classes: shape of the logits.
        seed: seed of the logits and labels.

    Returns:
        An ``XelossBackwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("xeloss_backward", XelossBackwardViz, nn, batch_size=batch_size, num_classes=num_classes, seed=seed)
