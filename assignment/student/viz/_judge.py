"""A visualizer's verdict: its question's own check, on the visualizer's own test case.

Each view builds a test case (the same dict of literals a notebook's test cell
holds) from its seeded inputs, with the expected answer computed by the course's
trusted definitions (``assignment.shared.questions._definitions``), never by the
student's code. Then the question's ``run`` (through the one safe caller,
``checks.call_student``) and its ``check``, exactly as ``run_test`` calls them,
give the verdict: same code, same words, same tolerances as the tests. A view
may show more (pictures, entry-by-entry marks), but its verdict line is this one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment.student import checks
from assignment.shared.questions import question
from assignment.shared.questions._common import linear_layer
from assignment.student.viz import _safe

__all__ = ["Verdict", "judge", "kind_of_problem", "listed", "build_linear"]


@dataclass
class Verdict:
    """What question ``key``'s check says of the student's code on one case.

    Fields:
        key: the question.
        case: the case judged (plain literals).
        outputs: what the question's ``run`` reported (None when it raised or stopped).
        problems: the check's problems, in its words (empty: passed).
        kind: the outcome kind of the first problem (``_safe.OK`` when passed).
        kinds: the kind of every problem, in order.
    """

    key: str
    case: dict
    outputs: dict | None
    problems: list[str] = field(default_factory=list)
    kind: str = _safe.OK
    kinds: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def kind_of_problem(text: str) -> str:
    """The outcome kind a check's problem describes (for the widget's state and its symbol)."""
    lowered = text.lower()
    if "not implemented yet" in lowered:
        return _safe.NOT_IMPLEMENTED
    if "did not finish within" in lowered:
        return _safe.TIMEOUT
    if " raised " in lowered or lowered.startswith("the report of this test is malformed"):
        return _safe.ERROR
    if " is none" in lowered or "returned none" in lowered or "has no " in lowered:
        return _safe.NONE
    if "nan" in lowered or "infinity" in lowered or " is inf" in lowered:
        return _safe.NAN
    if "has shape" in lowered or "shaped" in lowered or "of shape (" in lowered:
        return _safe.SHAPE
    if "dtype" in lowered or "should be a number" in lowered or "not an array" in lowered:
        return _safe.TYPE
    return _safe.MISMATCH


def judge(key: str, nn: Any, optim: Any, case: dict) -> Verdict:
    """Run question ``key`` on ``case`` with the student's modules and check the answer.

    Args:
        key: the question key.
        nn, optim: the student's modules (``optim`` may be None for a question of nn.py).
        case: the view's test case, with its trusted expected answer.

    Returns:
        The ``Verdict`` (never raises).
    """
    q = question(key)
    ran = _safe.call(q.INFO.method, q.run, nn, optim, copy.deepcopy(case))
    if not ran.ok:
        return Verdict(key, case, None, [ran.message], ran.kind, [ran.kind])
    problems = checks.judged(q, case, ran.value, reveal=True)
    kinds = [kind_of_problem(problem) for problem in problems]
    return Verdict(key, case, ran.value, problems, kinds[0] if kinds else _safe.OK, kinds)


def listed(array: np.ndarray) -> list:
    """An array as the nested lists of a test case (float64 values, as a test cell writes them)."""
    return np.asarray(array, dtype=np.float64).tolist()


def build_linear(nn: Any, weight: np.ndarray, bias: np.ndarray) -> _safe.Outcome:
    """The student's ``nn.Linear(in, out)`` holding copies of ``weight`` and ``bias``, built
    safely with the questions' one builder (``_common.linear_layer``)."""
    cls = _safe.attribute(nn, "Linear")
    if cls is None:
        return _safe.Outcome(False, None, _safe.MISSING, "the module has no Linear: is it defined (and spelled so)?")
    return _safe.call(f"Linear({weight.shape[0]}, {weight.shape[1]})", linear_layer, nn, weight.copy(), bias.copy())
