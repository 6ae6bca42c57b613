"""The view of question 1.4: logits → softmax P → −log p(target) → mean beside the student's loss,
with a slider that moves one logit and a curve of the student's loss responding."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.shared.questions._compare import matches
from assignment.student.viz import _safe
from assignment.student.viz._base import Stepper, Visualizer, guarded, text_block
from assignment.student.viz._controls import RangeSlider
from assignment.student.viz._plots import HIGHLIGHT, MUTED, TARGET, FastText, MatrixPanel, Op, Panel, fmt, matrix_rows, \
    shape_title
from assignment.student.viz.xeloss_forward import (LARGE, SWEEP, XelossForwardProbe, format_loss, student_loss, sweep,
                                           sweep_ends, target_log_probs)

__all__ = ["XelossForwardViz"]


class XelossForwardViz(Visualizer):
    """Logits, probabilities, -log p of the targets, their mean and the student's loss.

    Fields read by tests:
        logits: the current logits (float32; the slider edits them).
        labels: the targets (int64).
        stepper: walks the examples (rows); ``row`` is the current one.
        class_select: which class's logit of that row the slider moves.
        logit_slider: the value of logits[row, class].
        reset_button: restores the seeded logits.
        loss_value: the student's loss for the current logits (None if unusable).
        definition_value: mean over rows of -log softmax(logits)[n, label_n].
        loss_text: the loss line shown under the figure (plain text).
        curve_x, curve_yours, curve_definition: the plotted sweep of the selected logit.
    """

    heading = "Question 1.4 · CrossEntropyLoss.forward: the mean of −log p(target)"
    picture = ("The logits, their softmax P, −log p(target) for each example and the mean, beside your loss; a curve of your loss as one logit moves")

    def __init__(self, probe: XelossForwardProbe) -> None:
        super().__init__(probe)
        n, c = probe.initial_logits.shape
        self.logits = probe.initial_logits.copy()
        self.row = 0
        self.loss_value: float | None = None
        self.definition_value: float | None = None
        self.loss_text = ""
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self._quiet = False
        self._ylim: tuple | None = None
        self._defined: _safe.Outcome | None = None

        self.figure, axes = matrix_rows(
            [[Panel("I", (n, c)), Op("softmax\n⟶", 0.95, 9), Panel("P", (n, c)), Op("−log p[target]\n⟶", 1.3, 9),
              Panel("nll", (n, 1)), Op("mean\n⟶", 0.8, 9), Panel("mean", (1, 1)), Op("vs", 0.5, 10),
              Panel("yours", (1, 1))]],
            extra_height=2.1,
        )
        f = self.figure
        self.panels = {
            "I": MatrixPanel(f, axes["I"], (n, c), shape_title("I = logits", (n, c), "(N, C)")),
            "P": MatrixPanel(f, axes["P"], (n, c), shape_title("P = softmax(I)", (n, c)), cmap="Purples",
                             limits=(0, 1.25)),
            "nll": MatrixPanel(f, axes["nll"], (n, 1), "−log p\n" + str((n,)), cmap="Oranges", symmetric=False,
                               limits=(0, 5), col_labels=False),
            "mean": MatrixPanel(f, axes["mean"], (1, 1), "mean\n(definition)", cmap="Oranges", limits=(0, 5),
                                digits=3, row_labels=False, col_labels=False),
            "yours": MatrixPanel(f, axes["yours"], (1, 1), "your\nforward", cmap="Oranges", limits=(0, 5),
                                 digits=3, row_labels=False, col_labels=False),
        }
        target_mask = np.zeros((n, c), dtype=bool)
        target_mask[np.arange(n), probe.labels] = True
        self.panels["I"].mark(target_mask, TARGET, symbol="T")
        self.panels["P"].mark(target_mask, TARGET, symbol="T")
        width, height = f.fig.get_size_inches()
        ax = f.fig.add_axes((0.7 / width, 0.45 / height, min(4.0, width - 1.2) / width, 1.45 / height))
        ax.set_xlim(SWEEP[0], SWEEP[-1])
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        self.curve_axes = ax
        self.curve_title = FastText(0.5, 1.06, "", fontsize=8.5, ha="center", va="center", transform=ax.transAxes)
        ax.add_artist(self.curve_title)
        f.value(self.curve_title)
        (self._line_definition,) = ax.plot([], [], "--", color=MUTED, lw=1.2, label="definition")
        (self._line_yours,) = ax.plot([], [], "-", color=HIGHLIGHT, lw=2, label="your loss")
        f.value(self._line_definition)
        f.value(self._line_yours)
        self._marker = f.overlay(ax.plot([], [], "o", color="black", ms=6, zorder=5)[0])
        ax.legend(loc="upper right", fontsize=7, frameon=False)
        f.fig.text((4.9) / width, 1.2 / height,
                   "purple outline marked T: the target class of each row\norange: the example and logit you are moving",
                   fontsize=8, color=MUTED, va="center")

        self.class_select = widgets.Dropdown(options=list(range(c)), value=int(probe.labels[0]),
                                             description="class:", layout=widgets.Layout(width="150px"))
        self.logit_slider = RangeSlider(value=float(self.logits[0, self.labels[0]]), min=float(SWEEP[0]),
                                        max=float(SWEEP[-1]), step=0.1, description="logit of the chosen class",
                                        readout_format="1f")
        self.reset_button = widgets.Button(description="Reset logits", layout=widgets.Layout(width="auto"))
        self.loss_html = widgets.HTML()
        self.stepper = Stepper(n, self._show_row, description="example", interval=1500)
        self.class_select.observe(self._class_changed, names="value")
        self.logit_slider.observe(self._logit_changed, names="value")
        self.reset_button.on_click(self._reset)
        controls = widgets.HBox([self.class_select, self.logit_slider, self.reset_button])
        self.children = [self.header, self.status, self.image, self.stepper, controls, self.loss_html, self.arithmetic]
        self._evaluate(first=True)
        self._sweep()
        self._show_row(0)

    # -- the student's loss (the probe's functions) --------------------
    def _evaluate(self, first: bool = False) -> None:
        """Recompute every panel for the current logits."""
        n = len(self.labels)
        defined = target_log_probs(self.logits, self.labels)
        self._defined = defined
        if defined.ok:
            probs, nll = defined.value
            self.definition_value = float(np.mean(nll))
            self.panels["P"].set(probs)
            self.panels["nll"].set(nll.reshape(n, 1))
            self.panels["mean"].set([[self.definition_value]])
        else:
            self.definition_value = None
            for name in ("P", "nll", "mean"):
                self.panels[name].set(None, message="no softmax")
        self.panels["I"].set(self.logits)
        outcome = self.probe.initial_loss if first else student_loss(self.probe, self.logits)
        self._loss_outcome = outcome
        self.loss_value = outcome.value if outcome.ok else None
        if outcome.ok:
            self.panels["yours"].set([[outcome.value]])
        else:
            short = {"not_implemented": "not yet", "none": "None"}.get(outcome.kind, "error")
            self.panels["yours"].set(None, message=short)
        same = (self.loss_value is not None and self.definition_value is not None
                and matches(self.loss_value, self.definition_value))
        self.panels["yours"].mark(np.array([[not same]]) if self.loss_value is not None else None)
        if first:
            self.show_messages()
        if self.loss_value is None:
            yours = "no usable loss yet (see above)"
        else:
            yours = f"{self.loss_value:.4f}" + ("   ✔ same" if same else "   ✘ differs")
        definition = "?" if self.definition_value is None else f"{self.definition_value:.4f}"
        large = "no usable loss" if self.probe_loss is None else format_loss(self.probe_loss)
        fine = self.probe_judgement.passed
        self.loss_text = (f"your CrossEntropyLoss.forward: {yours}    |    mean of −log p(target): {definition}\n"
                          f"large-logit probe (targets at −{LARGE:g}, another class at +{LARGE:g}): your loss = "
                          f"{large}, the definition gives {self.probe_case['expected']:.4f}   "
                          + ("✔ same" if fine else "✘ differs"))
        self.loss_html.value = text_block(self.loss_text, colour="#6a3d9a")

    def _sweep(self) -> None:
        """The student's loss (and the definition) as the selected logit runs over SWEEP."""
        row, cls = self.row, int(self.class_select.value)
        yours, defined = sweep(self.probe, self.logits, row, cls)
        self.curve_x = np.array(SWEEP)
        self.curve_yours, self.curve_definition = yours, defined
        self._line_yours.set_data(self.curve_x, self.curve_yours)
        self._line_definition.set_data(self.curve_x, self.curve_definition)
        if self._ylim is None:  # fixed once, so that moving the slider redraws no axes
            ends = sweep_ends(self.logits, self.labels)
            finite = np.concatenate([self.curve_yours[np.isfinite(self.curve_yours)],
                                     self.curve_definition[np.isfinite(self.curve_definition)], ends, [0.0, 1.0]])
            top = float(np.clip(finite.max(), 1.0, 50.0))
            low = float(np.clip(finite.min(), -50.0, 0.0))
            self._ylim = (low - 0.05 * (top - low), top * 1.3)
            self.curve_axes.set_ylim(*self._ylim)
            self.figure.static_changed()
        target = " (the target)" if cls == self.labels[row] else ""
        self.curve_title.set_text(f"the loss as logit I[{row}, {cls}]{target} moves")

    # -- interactions ---------------------------------------------------
    def _update_highlights(self) -> None:
        row, cls = self.row, int(self.class_select.value)
        self.panels["I"].outline("row", "row", row, color=HIGHLIGHT, lw=2)
        self.panels["I"].outline("cell", "cell", (row, cls), color="black", lw=3)
        self.panels["P"].outline("row", "row", row, color=HIGHLIGHT, lw=2)
        self.panels["nll"].outline("row", "row", row, color=HIGHLIGHT, lw=2)
        value = float(self.logits[row, cls])
        self._marker.set_data([value], [self.loss_value if self.loss_value is not None else np.nan])
        lines = [f"example {row}: target class {self.labels[row]}"]
        defined = self._defined
        if defined.ok:
            probs, nll = defined.value
            t = int(self.labels[row])
            lines.append(f"p = softmax(I[{row}])[{t}] = exp({fmt(self.logits[row, t])}) / Σ_c exp(I[{row}, c]) "
                         f"= {probs[row, t]:.4f}")
            lines.append(f"−log p = {nll[row]:.4f};   mean over the {len(nll)} examples = "
                         f"({' + '.join(f'{v:.3f}' for v in nll)}) / {len(nll)} = {np.mean(nll):.4f}")
        self.arithmetic_text = "\n".join(lines)
        self.arithmetic.value = text_block(self.arithmetic_text)

    @guarded
    def _show_row(self, position: int) -> None:
        self.row = int(position) % len(self.labels)
        self._select(int(self.labels[self.row]))

    @guarded
    def _class_changed(self, change: dict) -> None:
        if not self._quiet:
            self._select(int(change["new"]))

    def _select(self, cls: int) -> None:
        """Show class ``cls`` of the current row: the slider at its logit, its curve, the highlights."""
        self._quiet = True
        try:
            self.class_select.value = cls
            self.logit_slider.value = float(self.logits[self.row, cls])
        finally:
            self._quiet = False
        self._sweep()
        self._update_highlights()
        self.render()

    @guarded
    def _logit_changed(self, change: dict) -> None:
        if self._quiet:
            return
        self.logits[self.row, int(self.class_select.value)] = np.float32(change["new"])
        self._evaluate()
        self._update_highlights()
        self.render()

    @guarded
    def _reset(self, _button=None) -> None:
        self.logits = self.initial_logits.copy()
        self._evaluate()
        self._show_row(self.row)
