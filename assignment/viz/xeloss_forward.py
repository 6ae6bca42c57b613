"""Question 1.4 (xeloss_forward): logits -> softmax probabilities -> the target's
-log p -> their mean, next to the student's CrossEntropyLoss.forward; a slider
moves one logit and the student's loss responds."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._controls import RangeSlider
from assignment.viz._base import Stepper, Visualizer, guarded, safely, text_block
from assignment.viz._data import labels as seeded_labels
from assignment.viz._data import tenths
from assignment.viz._judge import judge, listed
from assignment.viz._plots import HIGHLIGHT, MUTED, FastText, MatrixPanel, Op, Panel, fmt, matrix_rows, shape_title
from assignment.questions import _definitions
from assignment.questions._compare import matches

__all__ = ["XelossForwardViz", "xeloss_forward", "target_log_probs", "large_logits", "LARGE"]

TARGET = "#6a3d9a"  # purple outline: the target class of each row
SWEEP = np.linspace(-4.0, 4.0, 33)


#: How large the probe's logits are: beyond 709, exp overflows float64; a probability of exp(-2 LARGE) is 0.
LARGE = 800.0


def target_log_probs(logits: np.ndarray, labels: np.ndarray) -> _safe.Outcome:
    """P = softmax(logits) and -log P[n, label_n] per row, by the course's trusted definitions (float64)."""
    return _safe.Outcome(True, (_definitions.softmax(logits), _definitions.target_losses(logits, labels)))


def large_logits(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Logits a trained network can give: each row's target at -LARGE, another class at +LARGE.

    softmax then gives the target a probability of exp(-2 LARGE), which is 0 in floating point,
    and exp(LARGE) overflows: only a loss computed as a log-softmax (the logits shifted by their
    row maximum) stays finite here.
    """
    n = len(labels)
    logits = np.zeros((n, num_classes))
    rows = np.arange(n)
    logits[rows, labels] = -LARGE
    logits[rows, (labels + 1) % num_classes] = LARGE
    return logits


def format_loss(value) -> str:
    """A student's loss as printed beside the definition (inf and nan as such)."""
    try:
        number = float(np.asarray(value, dtype=np.float64).reshape(()))
    except Exception:  # noqa: BLE001 - not one number: the check says what it is
        return f"a {type(value).__name__}"
    return f"{number:.4f}" if np.isfinite(number) else str(number)


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

    def __init__(self, nn, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        n, c = int(batch_size), int(num_classes)
        rng = np.random.default_rng(seed)
        self.nn = nn
        self.initial_logits = tenths(rng, (n, c), low=-2, high=2)
        self.labels = seeded_labels(rng, n, c)
        self.logits = self.initial_logits.copy()
        self.row = 0
        self.loss_value: float | None = None
        self.definition_value: float | None = None
        self.loss_text = ""
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self._quiet = False
        self._loss_outcome: _safe.Outcome | None = None
        self._ylim: tuple | None = None
        self._defined: _safe.Outcome | None = None

        self.probe_logits = large_logits(self.labels, c)
        self.case = {"logits": listed(self.initial_logits), "labels": self.labels.tolist(), "dtype": "float32",
                     "expected": _definitions.cross_entropy(self.initial_logits, self.labels)}
        self.probe_case = {"logits": listed(self.probe_logits), "labels": self.labels.tolist(),
                           "expected": _definitions.cross_entropy(self.probe_logits, self.labels)}
        self.judgement = judge("xeloss_forward", nn, None, self.case)
        self.probe_judgement = judge("xeloss_forward", nn, None, self.probe_case)
        self.note_verdict(self.judgement, f"CrossEntropyLoss.forward passes question 1.4's check on these logits: "
                          "one number, the mean of −log p(target).")
        if self.judgement.passed:
            self.note_verdict(self.probe_judgement, f"With large logits (±{LARGE:g}, as a trained network can give) "
                              "your loss stays finite and right: a log-softmax, as it should be.",
                              prefix=f"With large logits (±{LARGE:g}, as a trained network can give): ")
        self.probe_loss = (self.probe_judgement.outputs or {}).get("loss")
        made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        self.loss_function = made.value if made.ok else None

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
        target_mask[np.arange(n), self.labels] = True
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

        self.class_select = widgets.Dropdown(options=list(range(c)), value=int(self.labels[0]),
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

    # -- the student's loss --------------------------------------------
    def _student_loss(self, logits: np.ndarray) -> _safe.Outcome:
        if self.loss_function is None:
            return _safe.Outcome(False, None, _safe.MISSING, "no CrossEntropyLoss")
        result = _safe.call("CrossEntropyLoss.forward", _safe.method(self.loss_function, "forward"),
                            logits.copy(), self.labels.copy())
        if not result.ok:
            return result
        return _safe.check_number(result.value, "CrossEntropyLoss.forward", what="one number: the mean over the batch")

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
        outcome = self._student_loss(self.logits)
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
            if outcome.ok and not same and self.definition_value is not None and not self.judgement.passed:
                self.note("info", self._diagnose())
            self.show_messages()
        if self.loss_value is None:
            yours = "no usable loss yet (see above)"
        else:
            yours = f"{self.loss_value:.4f}" + ("   ✔ same" if same else "   ✘ differs")
        definition = "?" if self.definition_value is None else f"{self.definition_value:.4f}"
        probe = "no usable loss" if self.probe_loss is None else format_loss(self.probe_loss)
        fine = self.probe_judgement.passed
        self.loss_text = (f"your CrossEntropyLoss.forward: {yours}    |    mean of −log p(target): {definition}\n"
                          f"large-logit probe (targets at −{LARGE:g}, another class at +{LARGE:g}): your loss = "
                          f"{probe}, the definition gives {self.probe_case['expected']:.4f}   "
                          + ("✔ same" if fine else "✘ differs"))
        self.loss_html.value = text_block(self.loss_text, colour="#6a3d9a")

    def _diagnose(self) -> str:
        """The two numbers behind a wrong loss (the verdict itself is the check's, above)."""
        return (f"Your CrossEntropyLoss.forward returned {self.loss_value:.4f}; the mean of −log p(target) "
                f"is {self.definition_value:.4f}.")

    def _sweep(self) -> None:
        """The student's loss (and the definition) as the selected logit runs over SWEEP."""
        row, cls = self.row, int(self.class_select.value)
        yours, defined = [], []
        trial = self.logits.copy()
        student_runs = True
        for value in SWEEP:
            trial[row, cls] = value
            if student_runs:
                outcome = self._student_loss(trial)
                # No point asking again when the method is missing, unfinished or too slow.
                student_runs = outcome.ok or outcome.kind not in (_safe.NOT_IMPLEMENTED, _safe.MISSING, _safe.TIMEOUT)
                yours.append(outcome.value if outcome.ok else np.nan)
            else:
                yours.append(np.nan)
            d = target_log_probs(trial, self.labels)
            defined.append(float(np.mean(d.value[1])) if d.ok else np.nan)
        xs = SWEEP
        self.curve_x = np.array(xs)
        self.curve_yours = np.array(yours, dtype=float)
        self.curve_definition = np.array(defined, dtype=float)
        self._line_yours.set_data(self.curve_x, self.curve_yours)
        self._line_definition.set_data(self.curve_x, self.curve_definition)
        if self._ylim is None:  # fixed once, so that moving the slider redraws no axes
            ends = []  # the definition's loss at both ends of every logit's sweep
            for r, c in np.ndindex(self.logits.shape):
                for value in (SWEEP[0], SWEEP[-1]):
                    trial = self.logits.copy()
                    trial[r, c] = value
                    d = target_log_probs(trial, self.labels)
                    if d.ok:
                        ends.append(float(np.mean(d.value[1])))
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
        self._quiet = True
        try:
            self.class_select.value = int(self.labels[self.row])
            self.logit_slider.value = float(self.logits[self.row, int(self.class_select.value)])
        finally:
            self._quiet = False
        self._sweep()
        self._update_highlights()
        self.render()

    @guarded
    def _class_changed(self, change: dict) -> None:
        if self._quiet:
            return
        self._quiet = True
        try:
            self.logit_slider.value = float(self.logits[self.row, int(change["new"])])
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


def xeloss_forward(nn, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``CrossEntropyLoss.forward``: ``viz.xeloss_forward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module (its given ``softmax`` is used for the probabilities).
        batch_size, num_classes: shape of the logits.
        seed: seed of the logits and labels.

    Returns:
        An ``XelossForwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("xeloss_forward", XelossForwardViz, nn, batch_size=batch_size, num_classes=num_classes, seed=seed)
