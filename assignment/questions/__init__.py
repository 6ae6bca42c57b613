"""The nine questions: how each one runs a student's code and judges the answer.

One module per question key. Each module has:
    INFO: the question's key, number, method and notebook.
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


def question(key: str) -> ModuleType:
    """The module of question ``key``; a ValueError names the known keys otherwise."""
    if key not in KEYS:
        raise ValueError(f"unknown question key {key!r}; the keys are {', '.join(KEYS)}")
    return import_module(f"assignment.questions.{key}")
