"""The view of question 2.2: X, W, b and G; under them the student's gradients and their estimates."""

from __future__ import annotations

from assignment.student.viz._gradviz import GradientViz
from assignment.student.viz._plots import Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.linear_backward import LinearBackwardProbe

__all__ = ["LinearBackwardViz"]


class LinearBackwardViz(GradientViz):
    """Linear.backward(G) against finite differences, one row of panels per source (fields: ``GradientViz``'s)."""

    heading = "Question 2.2 · Linear.backward: gradients of W, b and X from G = ∂L/∂Out"
    picture = ("Heatmaps of X, W, b and G; under them your returned gradient, grad_weight and grad_bias, and their "
               "finite-difference estimates; differing entries marked with a cross")

    def __init__(self, probe: LinearBackwardProbe) -> None:
        super().__init__(probe)
        (n, i_f), o_f = probe.x.shape, probe.weight.shape[1]
        source = "yours" if probe.fd_source == "your forward" else "definition"
        rows = [
            [Op("forward", 1.1, 10), Panel("X", (n, i_f)), "@", Panel("W", (i_f, o_f)), "+", Panel("b", (1, o_f)),
             Op("   G = ∂L/∂Out:", 1.3, 9), Panel("G", (n, o_f))],
            [Op("your\nbackward", 1.1, 10), Panel("dX", (n, i_f)), " ", Panel("dW", (i_f, o_f)), " ",
             Panel("db", (1, o_f))],
            [Op(f"finite diff.\n({source})", 1.1, 9), Panel("fX", (n, i_f)), " ", Panel("fW", (i_f, o_f)), " ",
             Panel("fb", (1, o_f))],
        ]
        self.figure, axes = matrix_rows(rows, cell=0.4, title_height=0.45, bottom=0.2)
        f, c = self.figure, probe.comparisons
        self.panels = p = {
            "X": fixed_panel(f, axes["X"], (n, i_f), shape_title("X (input)", (n, i_f))),
            "W": fixed_panel(f, axes["W"], (i_f, o_f), shape_title("W = weight", (i_f, o_f))),
            "b": fixed_panel(f, axes["b"], (1, o_f), shape_title("b = bias", (1, o_f))),
            "G": fixed_panel(f, axes["G"], (n, o_f), shape_title("G (given)", (n, o_f), "Out's shape")),
            "dX": fixed_panel(f, axes["dX"], (n, i_f), shape_title("returned ∂L/∂X", c["input"].shown_shape)),
            "dW": fixed_panel(f, axes["dW"], (i_f, o_f), shape_title("grad_weight", c["weight"].shown_shape)),
            "db": fixed_panel(f, axes["db"], (1, o_f), shape_title("grad_bias", c["bias"].shown_shape)),
            "fX": fixed_panel(f, axes["fX"], (n, i_f), shape_title("estimate ∂L/∂X", (n, i_f))),
            "fW": fixed_panel(f, axes["fW"], (i_f, o_f), shape_title("estimate ∂L/∂W", (i_f, o_f))),
            "fb": fixed_panel(f, axes["fb"], (1, o_f), shape_title("estimate ∂L/∂b", (1, o_f))),
        }
        for name, value in (("X", probe.x), ("W", probe.weight), ("b", probe.bias), ("G", probe.g)):
            p[name].set(value)
        for name, symbol in (("input", "X"), ("weight", "W"), ("bias", "b")):
            self.show_comparison(c[name], p["d" + symbol], p["f" + symbol])
            self.entry_panels[name] = [p[symbol], p["d" + symbol], p["f" + symbol]]
        controls = self._finish(["weight", "bias", "input"], ["W (grad_weight)", "b (grad_bias)", "X (returned)"])
        self.children = [self.header, self.status, self.image, *controls, self.arithmetic]
        self.show_messages()
        self._show(0)
