"""The checks students run in the notebooks: ``run_test(key, number, **case)``.

A test cell calls ``run_test`` with one test case of one question. It runs
the student's current ``mytorch`` (as imported in the notebook's kernel),
prints the answer beside the expected one, and either says the test passed
or writes every problem, named in a student's terms, to standard error.

Failing by writing to stderr rather than raising is deliberate: nbgrader
scores a test cell with any stderr output as failed (in autograde and in
validate alike), and no traceback is drawn, so a hidden test's code never
shows in a student's feedback and Run All goes on.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
from types import ModuleType
from typing import Any

import numpy as np

from assignment.questions import question
from assignment.questions._compare import revealing

__all__ = ["run_test", "check_training", "student_error"]


def _student_modules() -> tuple[ModuleType, ModuleType]:
    """The notebook kernel's ``mytorch.nn`` and ``mytorch.optim`` (as autoreload keeps them)."""
    return importlib.import_module("mytorch.nn"), importlib.import_module("mytorch.optim")


def student_error(error: BaseException, method: str) -> str:
    """Describe an exception raised by student code in one or two lines."""
    if isinstance(error, NotImplementedError):
        if method.startswith("training") and str(error):
            return f"{method} stopped at a method that is not implemented yet ({error})"
        part = re.search(r"part \d+ of \d+", str(error))  # a method with several gaps
        return f"{method} is not implemented yet" + (f" ({part.group(0)} still raises NotImplementedError)" if part else "")
    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        *folders, name = frame.filename.replace("\\", "/").split("/")
        if "mytorch" in (folders[-1] if folders else name):  # the innermost frame in the student's files
            where = f" (mytorch/{name}, line {frame.lineno}: {frame.line})"
            break
    return f"{method} raised {type(error).__name__}: {error}{where}"


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    try:
        array = np.asarray(value)
        if array.dtype != object:
            return np.array2string(array, precision=8, suppress_small=False, max_line_width=100)
    except Exception:
        pass
    return repr(value)


def _fail(message: str) -> None:
    sys.stdout.flush()
    print(message, file=sys.stderr)
    sys.stderr.flush()


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
    """
    q = question(key)
    title = f"Test {number} of question {q.INFO.number} ({q.INFO.method})"
    try:
        nn, optim = _student_modules()
    except BaseException as error:  # a syntax error in the student's file must read clearly
        return _fail(f"{title} failed: mytorch cannot be imported: {type(error).__name__}: {error}")
    try:
        outputs = q.run(nn, optim, case)
    except KeyboardInterrupt:
        return _fail(f"{title} failed: {q.INFO.method} was interrupted (an endless loop?)")
    except BaseException as error:  # SystemExit too: a test must report, not end the notebook
        return _fail(f"{title} failed: {student_error(error, q.INFO.method)}")
    visible = number == 1
    try:
        with revealing(visible):
            problems = q.check(case, outputs)
    except Exception as error:
        problems = [f"the answer could not be checked ({type(error).__name__}: {error})"]
    print(title if visible else f"{title}, hidden until grading")
    if visible:
        for label, yours, expected in q.shown(case, outputs):
            print(f"\nYour {label}:\n{_format(yours)}\nExpected {label}:\n{_format(expected)}")
    if problems:
        return _fail(f"\nFAILED: {title}\n- " + "\n- ".join(problems))
    print("\nPassed.")
    sys.stdout.flush()


def check_training(**case: Any) -> None:
    """Train an MLP built from the student's mytorch on the digits and check its test accuracy.

    Args:
        **case: sizes, epochs, lr, batch_size, seed, and min_accuracy, the accuracy to reach.
    """
    from assignment.training_check import training_accuracy, training_problems

    title = f"Training check: an MLP {'-'.join(map(str, case['sizes']))} made of your mytorch"
    try:
        nn, optim = _student_modules()
        reached = training_accuracy(nn, optim, **case)
    except KeyboardInterrupt:
        return _fail(f"{title} failed: training was interrupted")
    except BaseException as error:
        return _fail(f"{title} failed: {student_error(error, 'training your MLP')}")
    print(f"{title}: {reached:.1%} test accuracy after {case['epochs']} epochs")
    problems = training_problems(case, {"accuracy": reached})
    if problems:
        return _fail(f"\nFAILED: {title}\n- " + "\n- ".join(problems))
    print("\nPassed.")
    sys.stdout.flush()
