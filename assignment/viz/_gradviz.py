"""The shared part of the backward visualizers: gradients against finite differences,
entry by entry, with a stepper and a choice of which gradient to walk.

The verdict is the question's check on the view's case, whose expected gradients are
finite differences of the definition (``questions._definitions``). Before the student's
backward is held against finite differences of the student's own forward, that forward is
held against the definition (by the forward question's own check): when it is off, the
view says so and shows the differences of the definition instead, so a wrong forward can
neither blame a right backward nor excuse a wrong one.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Stepper, Visualizer, guarded, level_of, text_block
from assignment.questions import question
from assignment.questions._compare import entry_differs
from assignment.viz._fd import EPS, Comparison, Differences
from assignment.viz._judge import Verdict, judge
from assignment.viz._plots import HIGHLIGHT, MUTED, MatrixPanel, shape_note

__all__ = ["GradientViz"]


class GradientViz(Visualizer):
    """Base of the backward visualizers.

    Subclasses fill ``comparisons`` (name -> ``Comparison``), ``symbols``
    (name -> how the differentiated array is written, e.g. ``"W"``),
    ``entry_panels`` (name -> the panels to outline for an entry) and
    ``probe_text`` (how L is computed), then call ``_finish()``.

    Fields read by tests:
        comparisons: the ``Comparison`` of every gradient.
        target: ToggleButtons choosing the gradient the stepper walks (None if only one).
        stepper: walks the entries of that gradient.
        entry: (name, index) of the entry shown; ``highlight`` lists the outlined panels.
        arithmetic / arithmetic_text: the finite-difference arithmetic of that entry.
    """

    probe_text = ""
    #: how the view's own probe loss reads when the definition replaces the student's forward
    definition_text = ""

    def __init__(self) -> None:
        super().__init__()
        self.judgement: Verdict | None = None
        self.forward_judgement: Verdict | None = None
        self.fd_source = "your forward"
        self._source_note: tuple[str, str] | None = None
        self.comparisons: dict[str, Comparison] = {}
        self.symbols: dict[str, str] = {}
        self.entry_panels: dict[str, list[MatrixPanel]] = {}
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self.entry: tuple = ()
        self.highlight: dict = {}
        self.target = None

    # -- filling panels from comparisons ---------------------------------
    @staticmethod
    def show_comparison(comparison: Comparison, yours: MatrixPanel, estimate: MatrixPanel) -> None:
        """Put a comparison's two arrays in their panels, mismatches outlined in red."""
        problem = comparison.problem
        if comparison.yours is None:
            note = "not available"
            if problem is not None:
                note = {"not_implemented": "not implemented yet", "none": "None", "missing": "missing"}.get(
                    problem.kind, "error")
                if problem.kind == _safe.SHAPE and problem.value is not None:
                    note = shape_note(np.shape(problem.value), comparison.shape)
            yours.set(None, message=note)
        else:
            yours.set(comparison.yours)
        if comparison.estimate is None:
            estimate.set(None, message="needs a working forward")
        else:
            estimate.set(comparison.estimate)
        yours.mark(comparison.differs)
        if comparison.skip is not None:
            estimate.mark(comparison.skip, MUTED)

    def judge_backward(self, nn, key: str, case: dict, forward_key: str, forward_case: dict,
                       yours_fd, definition_fd) -> None:
        """The verdict, and which finite differences the picture shows.

        Args:
            key, case: the backward question and the view's case (expected: the definition's differences).
            forward_key, forward_case: the forward question the differences rest on, on the same inputs.
            yours_fd: () -> {name: Differences} of the student's forward (may raise).
            definition_fd: () -> {name: Differences} of the definition.
        """
        self.judgement = judge(key, nn, None, case)
        self.forward_judgement = judge(forward_key, nn, None, forward_case)
        forward = question(forward_key).INFO
        method = question(key).INFO
        chosen, off = None, ""
        if self.forward_judgement.passed:
            made = _safe.call(f"{forward.method} (for the finite differences)", yours_fd)
            if not made.ok:
                off = made.message
            else:
                for name, differences in made.value.items():
                    c = self.comparisons[name]
                    wrong = entry_differs(differences.estimate, c.expected)
                    if c.skip is not None:
                        wrong &= ~c.skip  # at the kink only the convention decides
                    if wrong is None or wrong.any():
                        off = (f"finite differences of your {forward.method} differ from those of the "
                               f"definition around these inputs")
                        break
                else:
                    chosen = made.value
        else:
            off = self.forward_judgement.problems[0]
        if chosen is None:
            self.fd_source = "the definition"
            self.probe_text = self.definition_text
            chosen = definition_fd()
            if self.forward_judgement.kind in (_safe.NOT_IMPLEMENTED, _safe.MISSING):
                self._source_note = ("info", f"Your {forward.method} (question {forward.number}) is not ready yet, so this "
                          f"view checks your {method.method} against the definition instead.")
            else:
                self._source_note = ("warn", f"Your {forward.method} (question {forward.number}) is off ({_safe.clause(off)}); "
                          f"this view checks your backward against the definition instead.")
        else:
            self._source_note = ("info", f"Your {forward.method} agrees with the definition (question "
                                 f"{forward.number}'s check), so the finite differences are those of your own forward.")
        for name, differences in chosen.items():
            self.comparisons[name].use(differences)

    def note_comparisons(self, ok_text: str) -> None:
        """The verdict (the check's), then one line per comparison: what the picture marks."""
        self.note_verdict(self.judgement, ok_text)
        if self._source_note:
            self.note(*self._source_note)
        for comparison in self.comparisons.values():
            if comparison.yours is None:
                continue
            self.note("info", comparison.summary())
            for extra in comparison.notes:
                self.note("warn", extra)

    # -- stepping -------------------------------------------------------
    def _finish(self, names: list[str], labels: list[str] | None = None) -> list:
        """Build the target buttons and the stepper; return the control widgets."""
        labels = labels or names
        first = self.comparisons[names[0]]
        self.stepper = Stepper(int(np.prod(first.shape)), self._show, description="entry")
        controls = []
        if len(names) > 1:
            self.target = widgets.ToggleButtons(options=list(zip(labels, names)), value=names[0],
                                                description="walk:", style={"button_width": "auto"})
            self.target.observe(self._target_changed, names="value")
            controls.append(self.target)
        controls.append(self.stepper)
        return controls

    @property
    def current(self) -> str:
        return self.target.value if self.target is not None else next(iter(self.comparisons))

    @guarded
    def _target_changed(self, change: dict) -> None:
        self.stepper.set_count(int(np.prod(self.comparisons[change["new"]].shape)))

    def entry_text(self, name: str, index: tuple) -> str:
        """The finite-difference arithmetic of one entry."""
        c = self.comparisons[name]
        symbol = self.symbols.get(name, name)
        where = f"{symbol}[{', '.join(str(i) for i in index)}]"
        lines = [f"∂L/∂{where} ≈ (L({where} + ε) − L({where} − ε)) / (2ε)      "
                 f"{self.probe_text}, ε = {EPS:g}"]
        if c.estimate is not None:
            plus, minus = c.plus[index], c.minus[index]
            minus_text = f"({minus:.6f})" if minus < 0 else f"{minus:.6f}"
            lines.append(f"{' ' * (len(where) + 4)}= ({plus:.6f} − {minus_text}) / {2 * EPS:g}"
                         f" = {c.estimate[index]:.4f}")
        else:
            lines.append("    (no finite differences: the forward pass they need failed)")
        if c.skip is not None and c.skip[index]:
            expected = "" if c.expected is None else f" (expected {c.expected[index]:.4f})"
            lines.append("    here L has a kink (its slope jumps within ε, like ReLU at 0): finite differences "
                         f"cannot tell the slope, so the course's convention decides: ReLU's slope at 0 is 0{expected}")
        if c.yours is not None:
            verdict = ""
            if c.differs is not None:
                verdict = "   ✘ differs" if c.differs[index] else "   ✔ matches"
            lines.append(f"your {c.name}[{', '.join(str(i) for i in index)}] = {c.yours[index]:.4f}{verdict}")
        else:
            lines.append(f"your {c.name}: not available (see above)")
        return "\n".join(lines)

    @guarded
    def _show(self, position: int) -> None:
        name = self.current
        c = self.comparisons[name]
        index = tuple(int(i) for i in np.unravel_index(int(position) % int(np.prod(c.shape)), c.shape))
        self.entry = (name, index)
        for panels in self.entry_panels.values():
            for panel in panels:
                panel.outline("step", None)
        self.highlight = {"name": name, "index": index, "panels": []}
        for panel in self.entry_panels.get(name, []):
            panel.outline("step", "cell", index, color=HIGHLIGHT)
            self.highlight["panels"].append(panel)
        self.arithmetic_text = self.entry_text(name, index)
        self.arithmetic.value = text_block(self.arithmetic_text)
        self.render()
