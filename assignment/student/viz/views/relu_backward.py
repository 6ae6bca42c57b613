"""The view of question 2.3: X, G, the student's ReLU.backward(G) and its finite-difference estimate."""

from __future__ import annotations

import ipywidgets as widgets

from assignment.student.viz._gradviz import GradientViz
from assignment.student.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.relu_backward import ReluBackwardProbe

__all__ = ["ReluBackwardViz"]


class ReluBackwardViz(GradientViz):
    """ReLU.backward(G) against finite differences, the kink X = 0 outlined grey (fields: ``GradientViz``'s)."""

    heading = "Question 2.3 · ReLU.backward: let G through where the input was positive"
    picture = ("Heatmaps of X, G, your ReLU.backward gradient and its finite-difference estimate; entries at the "
               "kink X = 0 are not judged")

    def __init__(self, probe: ReluBackwardProbe) -> None:
        super().__init__(probe)
        shape, comparison = probe.x.shape, probe.comparisons["input"]
        self.figure, axes = matrix_rows([[
            Panel("X", shape), Op("", 0.3), Panel("G", shape), Op("⟶", 0.7), Panel("yours", shape), Op("vs", 0.6, 11),
            Panel("fd", shape),
        ]])
        f = self.figure
        self.panels = {
            "X": fixed_panel(f, axes["X"], shape, shape_title("X (forward input)", shape)),
            "G": fixed_panel(f, axes["G"], shape, shape_title("G = ∂L/∂Out (given)", shape)),
            "yours": fixed_panel(f, axes["yours"], shape, shape_title("your backward(G)", comparison.shown_shape)),
            "fd": fixed_panel(f, axes["fd"], shape, shape_title("estimate ∂L/∂X", shape)),
        }
        self.panels["X"].set(probe.x)
        self.panels["G"].set(probe.g)
        self.show_comparison(comparison, self.panels["yours"], self.panels["fd"])
        self.entry_panels = {"input": list(self.panels.values())}
        controls = self._finish(["input"])
        self.legend = widgets.HTML(
            '<span style="color:#777">grey outline: X = 0, the kink: finite differences cannot tell the slope there, '
            'so the course\'s convention decides (slope 0: no gradient gets through where X = 0).</span>')
        self.children = [self.header, self.status, self.image, self.legend, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)
