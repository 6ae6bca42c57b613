"""What every probe shares: status lines, the questions' verdicts, and what a panel shows.

A probe runs the student's modules on a view's seeded case and returns plain data (arrays,
the ``_judge.Verdict`` of the question's own check, entry-by-entry marks, status lines). It
imports neither ipywidgets nor matplotlib, so it can be called and tested without a
notebook; the view (``views/<key>.py``) only draws what the probe found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment.student.viz import _safe

__all__ = ["Message", "Status", "Probe", "AnswerProbe", "level_of", "fmt", "shape_note", "panel_value", "unusable_note"]


def level_of(kind: str) -> str:
    """The display level of an outcome kind: ``ok``, ``todo`` (not written yet) or ``error``."""
    if kind == _safe.OK:
        return "ok"
    if kind in (_safe.NOT_IMPLEMENTED, _safe.MISSING):
        return "todo"
    return "error"


@dataclass
class Message:
    """One status line: its level (ok, info, todo, warn, error), its text and the outcome kind behind it."""

    level: str
    text: str
    kind: str = _safe.OK


#: the symbol of each level: a verdict never speaks by colour alone
SYMBOLS = {"ok": "✔", "info": "ℹ", "todo": "✎", "warn": "⚠", "error": "✘"}


class Status:
    """Status lines and verdicts, shared by a probe and the view that shows it.

    Needs ``messages`` (a list of ``Message``) and ``judgements`` (a list of ``_judge.Verdict``).
    """

    messages: list[Message]
    judgements: list

    def note(self, level: str, text: str, kind: str = _safe.OK) -> None:
        """Add a status line (a line already there is not repeated)."""
        if not any(message.text == text for message in self.messages):
            self.messages.append(Message(level, text, kind))

    def note_outcome(self, outcome: _safe.Outcome, ok_text: str | None = None) -> None:
        """Add the outcome's message (or ``ok_text`` when it is fine) and its notes."""
        if outcome.ok:
            if ok_text:
                self.note("ok", ok_text)
        else:
            self.note(level_of(outcome.kind), outcome.message, outcome.kind)
        for extra in outcome.notes:
            self.note("warn", extra)

    def note_verdict(self, verdict, ok_text: str, prefix: str = "") -> None:
        """The question's check on a case (``_judge.Verdict``): ``ok_text`` when it passes, else each
        of its problems in the check's own words (the first is the verdict)."""
        if not any(known is verdict for known in self.judgements):
            self.judgements.append(verdict)
        if verdict.passed:
            self.note("ok", ok_text)
            return
        for problem, kind in zip(verdict.problems, verdict.kinds):
            self.note(level_of(kind), prefix + problem, kind)

    @property
    def passed(self) -> bool:
        """True when every check run on the cases passes (and at least one ran)."""
        return bool(self.judgements) and all(verdict.passed for verdict in self.judgements)

    @property
    def problems(self) -> list[str]:
        """The checks' problems, in their words."""
        return [problem for verdict in self.judgements for problem in verdict.problems]

    @property
    def status_text(self) -> str:
        return "\n".join(message.text for message in self.messages)

    @property
    def state(self) -> str:
        """``"ok"`` or the outcome kind of the first problem line."""
        for message in self.messages:
            if message.level in ("error", "todo"):
                return message.kind if message.kind != _safe.OK else "error"
        return "ok"

    def verdict(self) -> str:
        """The verdict in words: 'Verdict: ✔ ...' or 'Verdict: ✘ ...' from the status lines."""
        problems = [m for m in self.messages if m.level in ("error", "todo")]
        if problems:
            more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" \
                if len(problems) > 1 else ""
            return f"Verdict: {SYMBOLS[problems[0].level]} {problems[0].text}{more}"
        done = [m for m in self.messages if m.level == "ok"]
        if done:
            return "Verdict: ✔ " + " ".join(m.text for m in done)
        return "Verdict: " + (self.messages[0].text if self.messages else "nothing checked yet.")


@dataclass(kw_only=True)
class Probe(Status):
    """The base of every probe: its status lines and the verdicts behind them.

    Fields:
        messages: the status lines, verdict first.
        judgements: the questions' verdicts on the probe's cases (``_judge.Verdict``).
        case: the question's case the probe judged (plain literals).
    """

    messages: list[Message] = field(default_factory=list)
    judgements: list = field(default_factory=list)
    case: dict = field(default_factory=dict)


def fmt(value: float, digits: int = 2) -> str:
    """A short label for one matrix entry."""
    value = float(value)
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    if abs(value) < 1e-12:  # rounding noise such as 1e-17 reads as 0
        return "0"
    size = abs(value)
    if size >= 1000 or size < 10 ** (-digits) / 2:
        mantissa, exponent = (f"{value:.1e}" if size >= 1000 else f"{value:.0e}").split("e")
        text = f"{mantissa}e{int(exponent)}"
    elif size >= 100:
        text = f"{value:.0f}"
    elif size >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.{digits}f}"
    return text.replace("-", "−")


def shape_note(got: Any, needed: Any) -> str:
    """The two-line panel message for a wrong shape, e.g. 'yours: (2,4)' / 'needed: (4,2)'."""
    def compact(shape) -> str:
        return "(" + ",".join(str(int(s)) for s in tuple(shape)) + ("," if len(tuple(shape)) == 1 else "") + ")"

    return f"yours: {compact(got)}\nneeded: {compact(needed)}"


def unusable_note(kind: str) -> str:
    """A panel's short note for an answer that could not be used (by its outcome kind)."""
    return {_safe.NOT_IMPLEMENTED: "not implemented yet", _safe.NONE: "returned None",
            _safe.MISSING: "missing"}.get(kind, "failed")


def panel_value(value: Any, shape: tuple) -> tuple[np.ndarray | None, str | None]:
    """What a panel of ``shape`` shows of a student's answer: (the array, None) or (None, a short note).

    NaN entries are shown (as grey cells); a wrong shape is named by ``shape_note``.
    """
    checked = _safe.check_array(value, "answer", shape)
    if checked.ok or checked.kind == _safe.NAN:
        return np.asarray(checked.value), None
    if checked.kind == _safe.SHAPE:
        return None, shape_note(np.shape(checked.value), shape)
    return None, {_safe.NONE: "returned None"}.get(checked.kind, "unusable result")


@dataclass(kw_only=True)
class AnswerProbe(Probe):
    """A forward probe: the question's verdict and the student's answer beside the definition's.

    Fields:
        expected: the definition's answer on the case.
        judgement: the question's verdict (``_judge.Verdict``).
        output: the student's answer as a panel shows it (None if unusable; ``out_message`` says why).
        differs: entries of the answer that differ from ``expected`` (None without an answer).
    """

    expected: np.ndarray
    judgement: Any
    output: np.ndarray | None = None
    out_message: str | None = None
    differs: np.ndarray | None = None

    def take_answer(self, name: str, what: str) -> None:
        """Take the judged run's answer ``name`` for the picture, and note how many entries differ from
        ``what`` (the definition, in words) when the check failed."""
        from assignment.shared.questions._compare import entry_differs

        verdict = self.judgement
        if verdict.outputs is None:
            self.out_message = "not implemented yet" if verdict.kind == _safe.NOT_IMPLEMENTED else "raised an error"
            return
        self.output, self.out_message = panel_value(verdict.outputs[name], self.expected.shape)
        if self.output is None:
            return
        self.differs = entry_differs(self.output, self.expected)
        if self.differs is not None and self.differs.any() and not verdict.passed:
            first = tuple(int(v) for v in np.argwhere(self.differs)[0])
            self.note("info", f"{int(self.differs.sum())} of {self.differs.size} entries differ from {what} "
                      f"(outlined in red and marked ✘), the first at {first}.")
