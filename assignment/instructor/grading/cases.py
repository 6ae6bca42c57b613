"""Reading a graded cell's test from its trusted source text.

A graded test cell holds one call, ``run_test("key", n, name=literal, ...)``
or ``check_training(name=literal, ...)``. The source comes from the gradebook
(saved by ``generate_assignment``, hidden tests included), is parsed with
``ast`` and its arguments read with ``ast.literal_eval``: it is never executed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from assignment.shared.questions import GRADED_KEYS, TRAINING_KEY

CHECKS = ("run_test", "check_training")
# The notebooks' calls that name no question: the one test each stands for (key, number).
SHORTHANDS = {"check_training": (TRAINING_KEY, 1)}
# What a test case holds of its answer: the grader judges with it, the sandbox never sees it
# (student code could otherwise read it from its caller's frames and return it).
ANSWER_KEYS = ("expected", "min_accuracy")


class CaseError(ValueError):
    """The cell's source does not hold exactly one well-formed test call."""


@dataclass(frozen=True)
class TestCall:
    """One test, as read from a graded cell.

    Fields:
        key: the question key, one of ``questions.GRADED_KEYS``.
        number: the test's number within its question (1 is visible).
        case: the keyword arguments: inputs and expected answer.
    """

    key: str
    number: int
    case: dict = field(default_factory=dict)

    @property
    def inputs(self) -> dict:
        """The case without its answer: what is sent into the sandbox."""
        return {name: value for name, value in self.case.items() if name not in ANSWER_KEYS}


def parse_test_call(source: str) -> TestCall:
    """Find and read the one test call in a cell's source."""
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        raise CaseError(f"the cell is not valid Python ({error.msg}, line {error.lineno})") from None
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CHECKS]
    if len(calls) != 1:
        raise CaseError(f"expected one call to {' or '.join(CHECKS)}, found {len(calls)}")
    call = calls[0]
    try:
        args = [ast.literal_eval(arg) for arg in call.args]
        case = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg is not None}
    except ValueError as error:
        raise CaseError(f"the test's arguments must be literals ({error})") from None
    if call.func.id in SHORTHANDS:
        if args:
            raise CaseError(f"{call.func.id} takes keyword arguments only")
        return TestCall(*SHORTHANDS[call.func.id], case)
    if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], int):
        raise CaseError('run_test takes the question key and the test number: run_test("key", n, ...)')
    if args[0] not in GRADED_KEYS:
        raise CaseError(f"unknown question key {args[0]!r}")
    return TestCall(args[0], args[1], case)
