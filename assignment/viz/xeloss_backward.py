"""Question 2.1 (xeloss_backward): the student's dLoss/dLogits against central
finite differences of the student's own CrossEntropyLoss.forward."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import safely
from assignment.viz._data import labels as seeded_labels
from assignment.viz._data import tenths
from assignment.viz._fd import Comparison, central_differences
from assignment.viz._gradviz import GradientViz
from assignment.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.viz.xeloss_forward import TARGET, target_log_probs

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
        self.fd_source = "your forward"
        self.probe_text = "L = your CrossEntropyLoss.forward(I, labels)"
        self._run_yours(nn)
        self._run_estimates(nn)
        self.note_comparisons()

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

    def _run_yours(self, nn) -> None:
        comparison = self.comparisons["logits"]
        made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        if not made.ok:
            comparison.problem = made
            return
        loss = made.value
        forward = _safe.call("CrossEntropyLoss.forward", _safe.method(loss, "forward"), self.logits.copy(),
                             self.labels.copy())
        if not forward.ok:
            # Not this question's fault: backward may still work from what forward stored before failing.
            self.note("info", "backward() is called after forward(logits, labels), which stores the logits; "
                      "your forward did not finish: " + forward.message)
        result = _safe.call("CrossEntropyLoss.backward", _safe.method(loss, "backward"))
        if result.ok:
            result = _safe.check_array(result.value, "CrossEntropyLoss.backward", self.logits.shape,
                                       shape_hint="the logits' shape (N, C)")
        if result.ok:
            comparison.yours = np.asarray(result.value, dtype=float)
            comparison.notes.extend(result.notes)
        else:
            comparison.problem = result

    def _run_estimates(self, nn) -> None:
        comparison = self.comparisons["logits"]
        logits = self.logits.copy()
        made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        forward = _safe.method(made.value, "forward") if made.ok else None

        def yours() -> float:
            checked = _safe.check_number(forward(logits.copy(), self.labels.copy()), "CrossEntropyLoss.forward",
                                         what="one number")
            if not checked.ok:
                raise _safe.Unusable(checked)
            return checked.value

        outcome = _safe.call("CrossEntropyLoss.forward (for the finite differences)", central_differences, yours,
                             logits)
        if not outcome.ok:
            # Fall back on the definition, built on the given nn.softmax.
            def definition() -> float:
                result = target_log_probs(nn, logits, self.labels)
                if not result.ok:
                    raise _safe.Unusable(result)
                return float(np.mean(result.value[1]))

            fallback = _safe.call("nn.softmax (given)", central_differences, definition, logits)
            if not fallback.ok:
                self.note("warn", "No finite differences: " + outcome.message)
                return
            self.fd_source = "the definition"
            self.probe_text = "L = mean over rows of −log softmax(I)[target]"
            self.note("info", "The finite differences use the definition of the loss, because your forward is not "
                      "usable yet: " + outcome.message)
            outcome = fallback
        comparison.use(outcome.value)


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
