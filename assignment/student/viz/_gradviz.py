"""The shared part of the backward views: gradients against finite differences, entry by
entry, with a stepper and a choice of which gradient to walk.

What is compared, and whose finite differences are shown, is the probe's
(``_fd.GradientProbe``, filled by ``_fd.judge_backward``); the view only draws it.
"""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from assignment.student.viz import _safe
from assignment.student.viz._base import Stepper, Visualizer, guarded, text_block
from assignment.student.viz._fd import EPS, Comparison, GradientProbe
from assignment.student.viz._plots import HIGHLIGHT, MUTED, MatrixPanel, shape_note

__all__ = ["GradientViz"]


class GradientViz(Visualizer):
    """Base of the backward views.

    Subclasses fill ``entry_panels`` (name -> the panels to outline for an entry) and call
    ``_finish()``; the comparisons, symbols and the loss's wording are the probe's.

    Fields read by tests (besides the probe's, see ``_fd.GradientProbe``):
        target: ToggleButtons choosing the gradient the stepper walks (None if only one).
        stepper: walks the entries of that gradient.
        entry: (name, index) of the entry shown; ``highlight`` lists the outlined panels.
        arithmetic / arithmetic_text: the finite-difference arithmetic of that entry.
    """

    def __init__(self, probe: GradientProbe) -> None:
        super().__init__(probe)
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
