"""What the Sequential probes (questions 1.3 and 2.4) and the dashboard share: the student's own
layers built for a network, the stand-in case the questions judge, and the verdict's lines.

Each Sequential probe has two runs: the judged one (the student's Sequential wired to the
questions' computing stand-in layers, ``questions/_standins.py``) and one with the student's own
Linear and ReLU, whose remarks are notes only (the layers are judged by their own questions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from assignment.shared.questions import question
from assignment.student.viz import _safe
from assignment.student.viz._judge import Verdict, build_linear, listed
from assignment.student.viz._probe import Message, level_of

__all__ = ["YOURS", "STANDINS", "STANDIN_TEXT", "student_layers", "standin_case", "role_names", "layer_name",
           "stage_shapes", "verdict_messages", "calls_note", "combine"]

YOURS = "your Linear and ReLU"
STANDINS = "stand-in layers"
#: what the judged picture says its layers are
STANDIN_TEXT = ("stand-in layers (as in the tests: each computes a seeded map of its own, so your Sequential "
                "is judged on its own)")


def student_layers(nn: Any, params: list[tuple[np.ndarray, np.ndarray]]) -> _safe.Outcome:
    """Fresh student layers Linear, ReLU, ..., Linear with the given parameters."""
    layers = []
    for k, (weight, bias) in enumerate(params):
        made = build_linear(nn, weight, bias)
        if not made.ok:
            return made
        layers.append(made.value)
        if k < len(params) - 1:
            relu = _safe.construct(nn, "ReLU", label="ReLU()")
            if not relu.ok:
                return relu
            layers.append(relu.value)
    return _safe.Outcome(True, layers)


def stage_shapes(sizes: tuple, rows: int) -> list[tuple]:
    """The shape of every stage of the MLP ``sizes`` (Linear, ReLU, ..., Linear) on ``rows`` rows, X first."""
    shapes = [(rows, sizes[0])]
    for k, width in enumerate(sizes[1:]):
        shapes.append((rows, width))  # after Linear
        if k < len(sizes) - 2:
            shapes.append((rows, width))  # after ReLU
    return shapes


def standin_case(sizes: tuple, x: np.ndarray, seed: int, *, batch: bool = False) -> dict:
    """The case of the Sequential questions that stands for the MLP ``sizes``: Linear, ReLU, ..., Linear.

    Args:
        sizes: the MLP's widths, input first.
        x: the input (question 1.3) or, with ``batch``, only its number of rows (question 2.4).
        seed: the stand-ins' seed.
    """
    names, widths = [], [int(sizes[0])]
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        names.append(f"Linear({a}, {b})")
        widths.append(int(b))
        if k < len(sizes) - 2:
            names.append("ReLU()")
            widths.append(int(b))
    case = {"layers": names, "sizes": widths, "seed": int(seed)}
    if batch:
        case["batch"] = int(x.shape[0])
    else:
        case["x"] = listed(x)
    return case


def role_names(layers: list, mode: str) -> list[str]:
    """What each layer is: Linear, ReLU, ... (for the student's layers, whatever their classes are called)."""
    if mode == YOURS:
        return ["Linear" if k % 2 == 0 else "ReLU" for k in range(len(layers))]
    return [type(layer).__name__ for layer in layers]


def layer_name(layer: Any, role: str | None = None) -> str:
    """'Linear(3, 4)', 'ReLU', 'Double' ... without trusting the student's __repr__."""
    kind = role or type(layer).__name__
    weight = _safe.attribute(layer, "weight")
    if kind == "Linear" and isinstance(weight, np.ndarray) and weight.ndim == 2:
        return f"Linear({weight.shape[0]}, {weight.shape[1]})"
    return kind


def verdict_messages(judgement: Verdict, ok_text: str) -> list[Message]:
    """A Sequential question's check on the stand-in case, in its words (the verdict of both pictures)."""
    if judgement.passed:
        return [Message("ok", ok_text)]
    return [Message(level_of(kind), problem, kind) for problem, kind in zip(judgement.problems, judgement.kinds)]


def calls_note(key: str, case: dict, outputs: dict, what: str) -> list[Message]:
    """'Your <what> calls: ... (expected ...)': the order of the stand-ins' calls, as the check shows it."""
    calls = question(key).shown(case, outputs)
    return [Message("info", f"Your {what} calls: {calls[0][1]} (expected {calls[0][2]}).")] if calls else []


def combine(found: Any, yours: Any, standins: Any, ready: bool, ok_text: str, prefix: str, fallback: str) -> dict:
    """Both runs' status lines: the verdict first (the check's on the stand-in case), then each run's
    own remarks (those of the student's own layers as notes, prefixed); sets ``found.default``, the
    run shown first, and ``found.messages``, its lines.

    Args:
        found: the probe (with ``judgement``).
        yours, standins: the two runs (each with ``messages``).
        ready: whether the student's own layers ran through (else the stand-ins are shown first).
        ok_text: the verdict's line when the check passes.
        prefix: e.g. "With your own layers: ".
        fallback: the note added when the student's layers did not run through.

    Returns:
        The runs by mode.
    """
    verdict = verdict_messages(found.judgement, ok_text)
    notes = [Message("info", prefix + _safe.clause(m.text) + ".", _safe.OK) for m in yours.messages]
    yours.messages = verdict + notes
    standins.messages = verdict + standins.messages + ([] if ready else [Message("info", fallback)])
    found.default = YOURS if ready else STANDINS
    runs = {YOURS: yours, STANDINS: standins}
    found.messages = list(runs[found.default].messages)
    return runs
