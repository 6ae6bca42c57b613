"""The view of question 2.1: the logits, the student's ∂Loss/∂logits and its finite-difference estimate."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.student.viz._gradviz import GradientViz
from assignment.student.viz._plots import TARGET, Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.xeloss_backward import XelossBackwardProbe

__all__ = ["XelossBackwardViz"]


class XelossBackwardViz(GradientViz):
    """CrossEntropyLoss.backward() against finite differences of the loss (fields: ``GradientViz``'s)."""

    heading = "Question 2.1 · CrossEntropyLoss.backward: ∂Loss/∂logits"
    picture = ("Heatmaps of your gradient of the loss with respect to the logits and of its finite-difference "
               "estimate, differing entries marked with a cross")

    def __init__(self, probe: XelossBackwardProbe) -> None:
        super().__init__(probe)
        (n, c), comparison = probe.logits.shape, probe.comparisons["logits"]
        self.figure, axes = matrix_rows([[
            Panel("I", (n, c)), Op("⟶ ∂L/∂I:", 1.1, 10), Panel("yours", (n, c)), Op("vs", 0.6, 11),
            Panel("fd", (n, c)),
        ]])
        f = self.figure
        self.panels = {
            "I": fixed_panel(f, axes["I"], (n, c), shape_title("I = logits", (n, c), "(N, C)")),
            "yours": fixed_panel(f, axes["yours"], (n, c), shape_title("your backward()", comparison.shown_shape)),
            "fd": fixed_panel(f, axes["fd"], (n, c), shape_title(f"estimate from {probe.fd_source}", (n, c))),
        }
        self.panels["I"].set(probe.logits)
        targets = np.zeros((n, c), dtype=bool)
        targets[np.arange(n), probe.labels] = True
        self.panels["I"].mark(targets, TARGET, symbol="T")
        self.show_comparison(comparison, self.panels["yours"], self.panels["fd"])
        self.entry_panels = {"logits": list(self.panels.values())}
        controls = self._finish(["logits"])
        self.legend = widgets.HTML('<span style="color:#6a3d9a">purple outline marked T: the target class of each '
                                   'row</span>')
        self.children = [self.header, self.status, self.image, self.legend, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)
