"""The graded questions: how each one runs a student's code and judges the answer.

Ten graded things, one module each, named by key: the nine questions of parts 1-3
(``KEYS``) and the training check of part 4 (``TRAINING_KEY``); ``GRADED_KEYS``
holds all ten. Whatever grades, judges, times, caches or reports a test goes
through the same five names for each of them; what differs between them is
data in ``INFO`` (its time allowance, its title, the files it runs...). Each
module has:
    INFO: the question's key, number, method, notebook, and the rest of ``_common.Info``.
    run(nn, optim, case) -> dict: calls the student's code on a test case and
        returns its answers as plain values (arrays, numbers, lists). This is
        the only part that executes student code.
    form(case) -> the form of what ``run`` reports on this case, built from the
        trusted case alone (see ``_forms``): keys, lengths, flags.
    check(case, outputs) -> list[str]: the problems found, in a student's terms
        (empty when the answer is right). Never executes student code. It first
        holds ``outputs`` against ``form(case)`` (``_forms.conforms``): whatever
        ``run`` reports may have been forged by the student's code beside it.
    shown(case, outputs) -> list[(label, yours, expected)]: what to print.

A test case is a dict of plain literals (lists, numbers, strings), the same
dict whether it comes from a visible test cell or, at grading, from a hidden
one. Expected values live in the cases, never in this package.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

#: The nine questions of parts 1 to 3, in course order (what a student writes, one method each).
KEYS = (
    "linear_forward",
    "relu_forward",
    "sequential_forward",
    "xeloss_forward",
    "xeloss_backward",
    "linear_backward",
    "relu_backward",
    "sequential_backward",
    "sgd_step",
)
#: The graded training check of part 4: an MLP made of the student's mytorch must learn the digits.
TRAINING_KEY = "training_accuracy"
#: All ten graded things, in course order: the nine questions, then the training check.
GRADED_KEYS = KEYS + (TRAINING_KEY,)


def question(key: str) -> ModuleType:
    """The module of graded question ``key`` (one of ``GRADED_KEYS``); a ValueError names them otherwise."""
    if key not in GRADED_KEYS:
        raise ValueError(f"unknown question key {key!r}; the keys are {', '.join(GRADED_KEYS)}")
    return import_module(f"assignment.shared.questions.{key}")


def key_of(grade_id: str) -> str | None:
    """The question a graded cell belongs to ("linear_forward_2" -> "linear_forward"), None if none."""
    for key in GRADED_KEYS:
        if grade_id == key or grade_id.startswith(key + "_"):
            return key
    return None
