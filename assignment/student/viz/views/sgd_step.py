"""The view of question 3: W, its gradient, W after the student's SGD.step and (W_new − W)/(−grad)
with a learning-rate slider; the student's SGD's paths on a two-weight loss surface."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.student.viz._base import Visualizer, guarded, text_block
from assignment.student.viz._controls import RangeSlider
from assignment.student.viz._plots import FastText, MatrixPanel, Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.sgd_step import BOX, C, PATHS, START, STEPS, SgdStepProbe, at_lr, bowl, paths_summary

__all__ = ["SgdStepViz"]


class SgdStepViz(Visualizer):
    """The student's SGD.step on a network's first Linear layer and on a toy loss surface.

    Fields read by tests (besides the probe's, see ``SgdStepProbe``):
        lr_slider: the named log-scale slider (RangeSlider) of the learning rate; moving it probes again.
    """

    heading = "Question 3 · SGD.step: W ← W − lr · ∂L/∂W,  b ← b − lr · ∂L/∂b"
    picture = ("W, its gradient, W after your SGD.step and (W_new − W)/(−grad), which must read lr, as labelled "
               "heatmaps; beside them a two-weight loss surface with the paths of your SGD.step for a too small, a "
               "good, a too large and the slider's learning rate")

    def __init__(self, probe: SgdStepProbe) -> None:
        super().__init__(probe)
        self.lr_slider = RangeSlider(value=float(probe.lr), min=-3, max=0.5, step=0.05, log=True,
                                     description="learning rate lr", readout_format="3g")
        self.step_html = widgets.HTML()
        self._layout()
        self._show_step()
        self.lr_slider.observe(self._lr_changed, names="value")
        legend = widgets.HTML(
            '<span style="color:#777">right column: how far each entry moved per unit of −gradient; SGD moves every '
            'entry by exactly lr × its gradient, so it should read lr everywhere (red outline where it does not).'
            '</span>')
        self.children = [self.header, self.status, self.lr_slider, self.image, self.step_html, legend]

    # -- layout -----------------------------------------------------------
    def _layout(self) -> None:
        rows = [
            [Panel("W", (3, 2)), Op("", 0.35), Panel("gW", (3, 2)), Op("⟶ step ⟶", 1.1, 9), Panel("nW", (3, 2)),
             Op("", 0.5), Panel("rW", (3, 2))],
            [Panel("b", (1, 2)), Op("", 0.35), Panel("gb", (1, 2)), Op("⟶ step ⟶", 1.1, 9), Panel("nb", (1, 2)),
             Op("", 0.5), Panel("rb", (1, 2))],
        ]
        self.figure, axes = matrix_rows(rows, extra_height=3.5, min_width=8.6)
        f = self.figure
        self.panels = {
            "W": fixed_panel(f, axes["W"], (3, 2), shape_title("W = weight", (3, 2))),
            "gW": fixed_panel(f, axes["gW"], (3, 2), shape_title("grad_weight", (3, 2))),
            "nW": MatrixPanel(f, axes["nW"], (3, 2), shape_title("W after your step", (3, 2))),
            "rW": MatrixPanel(f, axes["rW"], (3, 2), "(W_new − W) / (−grad)\nshould be lr", cmap="Greens",
                              symmetric=False, limits=(0, 2.0), digits=3),
            "b": fixed_panel(f, axes["b"], (1, 2), shape_title("b = bias", (1, 2))),
            "gb": fixed_panel(f, axes["gb"], (1, 2), shape_title("grad_bias", (1, 2))),
            "nb": MatrixPanel(f, axes["nb"], (1, 2), shape_title("b after your step", (1, 2))),
            "rb": MatrixPanel(f, axes["rb"], (1, 2), "(b_new − b) / (−grad)", cmap="Greens", symmetric=False,
                              limits=(0, 2.0), digits=3),
        }
        p = self.probe
        for name, value in (("W", p.weight), ("gW", p.grad_weight), ("b", p.bias), ("gb", p.grad_bias)):
            self.panels[name].set(value)
        width, height = f.fig.get_size_inches()
        ax = f.fig.add_axes((0.65 / width, 0.45 / height, 4.3 / width, 2.75 / height))
        x1, x2, y1, y2 = BOX
        g1, g2 = np.meshgrid(np.linspace(x1, x2, 121), np.linspace(y1, y2, 81))
        ax.contourf(g1, g2, bowl(g1, g2), levels=np.geomspace(0.02, 40, 16), cmap="Greys", alpha=0.35)
        ax.contour(g1, g2, bowl(g1, g2), levels=np.geomspace(0.02, 40, 16), colors="#999999", linewidths=0.5)
        ax.plot([0], [0], marker="*", color="black", ms=10)
        ax.plot([START[0]], [START[1]], marker="o", color="black", ms=5)
        ax.set_xlim(x1, x2)
        ax.set_ylim(y1, y2)
        ax.set_xlabel("w1 = weight[0, 0]", fontsize=8)
        ax.set_ylabel("w2 = weight[1, 0]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f"your SGD on the loss (w1² + {C:g}·w2²) / 2, {STEPS} steps from {START}", fontsize=8.5)
        self.surface_axes = ax
        self._lines = {}
        for label, value, colour in PATHS:
            (line,) = ax.plot([], [], "-o", color=colour, lw=1.6, ms=2.5, label=f"lr = {value:g} ({label})")
            self._lines[label] = f.value(line)
        (line,) = ax.plot([], [], "--", color="black", lw=1.2, label="lr = slider")
        self._lines["slider"] = f.value(line)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        # One single-line text per path: single lines take the fast (cached bitmap) way.
        self._path_texts = []
        for k in range(len(PATHS) + 1):
            text = FastText(5.2 / width, (1.3 - 0.22 * k) / height, "", fontsize=8, ha="left", va="center",
                            color="#333333", transform=f.fig.transFigure)
            f.fig.add_artist(text)
            self._path_texts.append(f.value(text))

    def _show_step(self) -> None:
        """Draw what the probe found at its learning rate."""
        p = self.probe
        for key, new_name, ratio_name in (("weight", "nW", "rW"), ("bias", "nb", "rb")):
            new, ratio = getattr(p, f"new_{key}"), getattr(p, f"ratio_{key}")
            self.panels[new_name].set(new, message=p.new_notes.get(key))
            self.panels[new_name].mark(p.wrong.get(key))
            self.panels[ratio_name].set(ratio, message=None if ratio is not None else "")
            self.panels[ratio_name].mark(p.wrong.get(key))
        self.step_html.value = text_block(f"lr = {p.lr:.3g}:  " + p.step_text, colour="#2ca02c")
        self.messages, self.judgements = list(p.messages), list(p.judgements)
        for label, line in self._lines.items():
            points = p.paths.get(label)
            if points is not None:
                line.set_data(points[:, 0], points[:, 1])
        lines = paths_summary(p)
        for k, text in enumerate(self._path_texts):
            text.set_text(lines[k] if k < len(lines) else "")
        self.show_messages()
        self.render()

    @guarded
    def _lr_changed(self, change: dict) -> None:
        at_lr(self.probe, float(change["new"]))
        self._show_step()
