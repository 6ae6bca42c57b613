"""Central finite differences, and a student's gradient held against the expected one.

For a scalar loss L and an array A it depends on,

    dL/dA[i] ~ (L(A + eps e_i) - L(A - eps e_i)) / (2 eps),

which needs nothing but a forward pass: no formula of any gradient. The
differences themselves are the questions' (``assignment.shared.questions._definitions``):
the views take them of the student's own forward when it agrees with the
definition, else of the definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from assignment.shared.questions import question
from assignment.shared.questions._compare import entry_differs
from assignment.shared.questions._definitions import EPS, Differences, central_differences
from assignment.student.viz import _safe
from assignment.student.viz._judge import Verdict, judge
from assignment.student.viz._probe import Probe

__all__ = ["EPS", "Comparison", "Differences", "GradientProbe", "central_differences", "judge_backward",
           "forward_differences"]


@dataclass
class Comparison:
    """A student's gradient against the expected one and a finite-difference estimate.

    Fields:
        name: what the gradient is, e.g. ``"grad_weight"``.
        label: how the student got it, e.g. ``"Linear.backward → self.grad_weight"``.
        shape: the shape it must have (the shape of what it is the gradient of).
        yours: the student's gradient (None if unusable), float64.
        expected: the view's case's expected gradient (finite differences of the definition).
        estimate, plus, minus: the finite differences shown (of the student's forward or of the definition).
        skip: entries where finite differences cannot tell the slope (ReLU's kink at 0): the expected
            value there is the course's convention; None if there is none.
        problem: why ``yours`` is missing (an Outcome), if it is.
        given_shape: the shape of what the student gave, when it was an array (None otherwise).
    """

    name: str
    label: str
    shape: tuple
    yours: np.ndarray | None = None
    expected: np.ndarray | None = None
    estimate: np.ndarray | None = None
    plus: np.ndarray | None = None
    minus: np.ndarray | None = None
    skip: np.ndarray | None = None
    problem: _safe.Outcome | None = None
    notes: list[str] = field(default_factory=list)
    given_shape: tuple | None = None

    @property
    def shown_shape(self) -> tuple:
        """The shape a panel's title gives: the student's when they gave an array, else the expected one."""
        return self.given_shape if self.given_shape is not None else self.shape

    def take(self, outcome: _safe.Outcome, given: Any = None) -> None:
        """Take the student's gradient from a checked ``outcome`` (its value when ok, else the problem).

        Args:
            given: what the student gave, before any reshaping (for the shape shown).
        """
        raw = given if given is not None else outcome.value
        if isinstance(raw, np.ndarray):
            self.given_shape = tuple(raw.shape)
        if outcome.ok:
            self.yours = np.asarray(outcome.value, dtype=float)
            self.notes += [note for note in outcome.notes if note not in self.notes]
        else:
            self.problem = outcome

    def use(self, differences: Differences) -> None:
        """Show these finite differences; their kinks join the entries they cannot tell."""
        self.estimate, self.plus, self.minus = differences.estimate, differences.plus, differences.minus
        if differences.kinks.any():
            self.skip = differences.kinks if self.skip is None else (self.skip | differences.kinks)

    @property
    def differs(self) -> np.ndarray | None:
        """Entries where yours differs from the expected gradient, by the tests' tolerance (None: nothing to compare)."""
        if self.yours is None or self.expected is None:
            return None
        return entry_differs(self.yours, self.expected)

    @property
    def ok(self) -> bool:
        mask = self.differs
        return mask is not None and not mask.any()

    def summary(self) -> str:
        """'grad_weight: all 8 entries match ...' / '3 of 8 entries differ ...: largest at (1, 2)'."""
        mask = self.differs
        if mask is None:
            return f"{self.name}: " + (self.problem.message if self.problem else "nothing to compare")
        wrong = int(mask.sum())
        kinks = ""
        if self.skip is not None and self.skip.any():
            kinks = f" ({int(self.skip.sum())} at a kink, where the course's convention decides)"
        if wrong == 0:
            return f"{self.name}: all {mask.size} entries match the finite differences{kinks}."
        gap = np.where(mask, np.abs(self.yours - self.expected), -1.0)
        largest = tuple(int(i) for i in np.unravel_index(int(np.argmax(gap)), gap.shape))
        return (f"{self.name}: {wrong} of {mask.size} entries differ from the finite differences "
                f"(outlined in red and marked ✘): largest at {largest}{kinks}.")


@dataclass(kw_only=True)
class GradientProbe(Probe):
    """What a backward question's check found, and the finite differences the picture shows.

    Fields:
        comparisons: name -> ``Comparison`` of every gradient.
        symbols: name -> how the differentiated array is written (e.g. ``"W"``).
        judgement: the backward question's verdict on the case.
        forward_judgement: the forward question's verdict on the same inputs.
        fd_source: ``"your forward"`` or ``"the definition"``: whose finite differences are shown.
        probe_text: how the loss L whose differences are shown is computed.
        source_note: (level, text) saying whose differences they are and why.
    """

    comparisons: dict[str, Comparison]
    symbols: dict[str, str]
    judgement: Verdict | None = None
    forward_judgement: Verdict | None = None
    fd_source: str = "your forward"
    probe_text: str = ""
    source_note: tuple[str, str] | None = None

    def take_outputs(self, take: Callable[[dict], None]) -> None:
        """Fill the comparisons from the judged run's outputs with ``take(outputs)``, or mark them
        all with the run's problem when it reported nothing."""
        outputs = self.judgement.outputs
        if outputs is None:
            for c in self.comparisons.values():
                c.problem = _safe.Outcome(False, None, self.judgement.kind, self.judgement.problems[0])
            return
        take(outputs)

    def note_comparisons(self, ok_text: str) -> None:
        """The verdict (the check's), whose differences are shown, then one line per comparison."""
        self.note_verdict(self.judgement, ok_text)
        if self.source_note:
            self.note(*self.source_note)
        for comparison in self.comparisons.values():
            if comparison.yours is None:
                continue
            self.note("info", comparison.summary())
            for extra in comparison.notes:
                self.note("warn", extra)


def judge_backward(found: GradientProbe, nn: Any, key: str, forward_key: str, forward_case: dict,
                   yours_fd: Callable[[], dict], definition_fd: Callable[[], dict],
                   yours_text: str, definition_text: str) -> None:
    """The verdict, and which finite differences the picture shows (filled into ``found``).

    The student's forward is held against the definition first (by its own question's check),
    and then its finite differences against the definition's around these inputs: only when
    both agree are the student's own differences shown, so a wrong forward can neither blame a
    right backward nor excuse a wrong one.

    Args:
        found: the probe, with ``case`` and each comparison's ``expected`` set.
        key: the backward question (its check on ``found.case`` is the verdict).
        forward_key, forward_case: the forward question the differences rest on, on the same inputs.
        yours_fd: () -> {name: Differences} of the student's forward (may raise).
        definition_fd: () -> {name: Differences} of the definition.
        yours_text, definition_text: how L reads with the student's forward and with the definition.
    """
    found.judgement = judge(key, nn, None, found.case)
    found.forward_judgement = judge(forward_key, nn, None, forward_case)
    found.judgements = [found.judgement]
    forward, method = question(forward_key).INFO, question(key).INFO
    chosen, off = None, ""
    if found.forward_judgement.passed:
        made = _safe.call(f"{forward.method} (for the finite differences)", yours_fd)
        if not made.ok:
            off = made.message
        else:
            for name, differences in made.value.items():
                c = found.comparisons[name]
                wrong = entry_differs(differences.estimate, c.expected)
                if wrong is not None and c.skip is not None:
                    wrong &= ~c.skip  # at the kink only the convention decides
                if wrong is None or wrong.any():
                    off = (f"finite differences of your {forward.method} differ from those of the "
                           f"definition around these inputs")
                    break
            else:
                chosen = made.value
    else:
        off = found.forward_judgement.problems[0]
    found.probe_text = yours_text
    if chosen is None:
        found.fd_source, found.probe_text = "the definition", definition_text
        chosen = definition_fd()
        if found.forward_judgement.kind in (_safe.NOT_IMPLEMENTED, _safe.MISSING):
            found.source_note = ("info", f"Your {forward.method} (question {forward.number}) is not ready yet, so "
                                 f"this view checks your {method.method} against the definition instead.")
        else:
            found.source_note = ("warn", f"Your {forward.method} (question {forward.number}) is off "
                                 f"({_safe.clause(off)}); this view checks your backward against the definition "
                                 "instead.")
    else:
        found.source_note = ("info", f"Your {forward.method} agrees with the definition (question "
                             f"{forward.number}'s check), so the finite differences are those of your own forward.")
    for name, differences in chosen.items():
        found.comparisons[name].use(differences)


def forward_differences(made: _safe.Outcome, loss: Callable[[Any], float], arrays: dict[str, np.ndarray]) -> dict:
    """Central differences of ``loss(obj)`` for each of ``arrays`` (perturbed in place), where ``obj``
    is the student's object ``made`` built; raises ``_safe.Unusable`` when it was not built."""
    if not made.ok:
        raise _safe.Unusable(made)
    return {name: central_differences(lambda: loss(made.value), array) for name, array in arrays.items()}
