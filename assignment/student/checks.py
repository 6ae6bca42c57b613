"""The checks students run in the notebooks: ``run_test(key, number, **case)`` and
``check_training(**case)``, and how the course words what student code did wrong.

A test cell calls ``run_test`` with one test case of one question (``check_training``
is the training check's one test, ``run_test("training_accuracy", 1, ...)``). It runs
the student's current ``mytorch`` (as imported in the notebook's kernel),
prints the answer beside the expected one, and either says the test passed
or writes every problem, named in a student's terms, to standard error.

Failing by writing to stderr rather than raising is deliberate: nbgrader
scores a test cell with any stderr output as failed (in autograde and in
validate alike), and no traceback is drawn, so a hidden test's code never
shows in a student's feedback and Run All goes on. For the same reason a test
stops student code that runs past a time limit (an endless loop): the cell
fails with a message and the next cell runs.

The wording of what student code did wrong (where, what, the time limit) lives in
``assignment.shared.student_errors``, shared with the visualizers and the grader's sandbox;
this module re-exports it, and adds the one safe caller of student code (``call_student``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import warnings
from types import ModuleType
from typing import Any, Iterator

import numpy as np

from assignment.shared.questions import TRAINING_KEY, question
from assignment.shared.questions._compare import revealing
from assignment.shared.questions.training_accuracy import chance_level, divergence
from assignment.shared.student_errors import (  # noqa: F401 (the wording helpers, used here and re-exported)
    GIVEN_FUNCTIONS, GIVEN_LINES, StudentFrame, not_student_file, student_frames, innermost_student_frame,
    student_function, student_location, operator_hint, timeout_message, student_error, TimeLimitExceeded,
    time_limit, OK, NOT_IMPLEMENTED, MISSING, ERROR, TIMEOUT,
    NONE, TYPE, SHAPE, NAN, MISMATCH, Outcome,
    Unusable, kind_of_error,
)

__all__ = [
    "run_test",
    "check_training",
    "student_error",
    "Outcome",
    "Unusable",
    "call_student",
    "TEST_TIME_LIMIT",
    "TRAINING_TIME_LIMIT",
    "time_limit_of",
    "TimeLimitExceeded",
    "time_limit",
    "timeout_message",
    "StudentFrame",
    "innermost_student_frame",
    "student_location",
    "operator_hint",
    "divergence",
    "chance_level",
    "format_value",
]

#: Seconds one visible test may run before it is stopped (the notebook may change it).
TEST_TIME_LIMIT = 10.0
#: Seconds the training check may run before it is stopped (the grader allows 120 s too).
TRAINING_TIME_LIMIT = 120.0


def time_limit_of(allowance: str) -> float:
    """The seconds a visible test of that time allowance (``questions._common.ALLOWANCES``) may run.

    Read when a test starts, so that a notebook (or a test) may change the two limits above.
    """
    return {"test": TEST_TIME_LIMIT, "training": TRAINING_TIME_LIMIT}[allowance]

# ---------------------------------------------------------------------------
# Calling student code: the one way, for the visible tests and the visualizers.
# ---------------------------------------------------------------------------


def call_student(label: str, fn: Any, *args: Any, seconds: float | None = TEST_TIME_LIMIT, **kwargs: Any) -> Outcome:
    """Call ``fn(*args, **kwargs)``, which runs student code; never raise.

    The time limit (``time_limit``) stops an endless loop; NumPy's floating-point warnings
    stay quiet (a warning on stderr fails a notebook cell); whatever is raised, ``exit()``
    included, becomes one line in the student's terms (``student_error``).

    Args:
        label: how the student knows what is called, e.g. "Linear.forward".
        fn: the function; None (or not callable) when the student's module has no such thing.
        seconds: the time limit (None: none).

    Returns:
        An ``Outcome`` whose ``value`` is the return value when ``ok``.
    """
    if fn is None or not callable(fn):
        return Outcome(False, None, MISSING, f"{label} was not found: is it defined (and spelled so)?")
    try:
        with time_limit(seconds), _quiet_numpy():
            value = fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too: student code
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        return Outcome(False, None, kind_of_error(error), student_error(error, label, code))
    return Outcome(True, value)


# ---------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------


def _student_modules() -> tuple[ModuleType, ModuleType]:
    """The notebook kernel's ``mytorch.nn`` and ``mytorch.optim`` (as autoreload keeps them)."""
    return importlib.import_module("mytorch.nn"), importlib.import_module("mytorch.optim")


def format_value(value: Any) -> str:
    """An answer as a student reads it: arrays in short fixed notation (0.8390, not 8.39024507e-01)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    try:
        array = np.asarray(value)
        if array.dtype != object and (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            if array.ndim == 0:
                return f"{array.item():.6g}" if np.issubdtype(array.dtype, np.floating) else str(array.item())
            return np.array2string(array, precision=4, floatmode="maxprec_equal", suppress_small=True,
                                   max_line_width=100, separator=" ")
    except Exception:  # noqa: BLE001 - an odd object: its repr will do
        pass
    return repr(value)


def _fail(message: str) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr)
    sys.stderr.flush()


@contextlib.contextmanager
def _quiet_numpy() -> Iterator[None]:
    """No RuntimeWarning (overflow, invalid value...) on stderr, which would fail the cell."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def judged(q: ModuleType, case: dict, outputs: Any, *, reveal: bool = True) -> list[str]:
    """``q.check(case, outputs)``: the problems found (never raises).

    Args:
        q: the question's module.
        reveal: whether the messages may quote expected values (a visible test, a visualizer).
    """
    try:
        with revealing(reveal):
            return list(q.check(case, outputs))
    except Exception as error:  # noqa: BLE001 - a report the check cannot read
        return [f"the answer could not be checked ({type(error).__name__}: {error})"]


def run_test(key: str, number: int, **case: Any) -> None:
    """Run test ``number`` of question ``key`` on the student's mytorch and report.

    Args:
        key: the question key, e.g. "linear_forward".
        number: the test's number within the question. Test 1 is the visible one; the
            others are hidden until grading, and their report never quotes an
            expected value (it goes into the student's feedback).
        **case: the test case: its inputs and its expected answer.

    A pass is printed on stdout, a failure on stderr (see above); nothing is
    returned, so the cell shows no Out[] value for nbgrader to read as a score.
    Student code is stopped after ``time_limit_of(allowance)`` seconds (the question's
    time allowance: ``TEST_TIME_LIMIT``, or ``TRAINING_TIME_LIMIT`` for the training check).
    """
    q = question(key)
    title = q.INFO.title(number)
    try:
        nn, optim = _student_modules()
    except BaseException as error:  # a syntax error in the student's file must read clearly
        return _fail(f"{title} failed: mytorch cannot be imported: {type(error).__name__}: {error}")
    ran = call_student(q.INFO.method, q.run, nn, optim, case, seconds=time_limit_of(q.INFO.allowance))
    if not ran.ok:  # SystemExit too: a test must report, not end the notebook
        return _fail(f"{title} failed: {ran.message}")
    outputs = ran.value
    visible = number == 1
    problems = judged(q, case, outputs, reveal=visible)
    print(title if visible else f"{title}, hidden until grading")
    if visible:
        for label, yours, expected in q.shown(case, outputs):
            print(f"\nYour {label}:\n{format_value(yours)}\nExpected {label}:\n{format_value(expected)}")
    if problems:
        return _fail(f"\nFAILED: {title}\n- " + "\n- ".join(problems))
    print("\nPassed.")
    sys.stdout.flush()


def check_training(**case: Any) -> None:
    """The training check's test: train an MLP built from the student's mytorch on the digits and
    check the test accuracy the grader computes from its trained parameters.

    The same test as ``run_test("training_accuracy", 1, **case)`` (the notebook's locked cell
    calls it by this name).

    Args:
        **case: sizes, epochs, lr, batch_size, seed, and min_accuracy, the accuracy to reach.
    """
    run_test(TRAINING_KEY, 1, **case)
