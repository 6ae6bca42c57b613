"""The form of a report, held against the trusted case before any value in it is judged.

Student code shares its process with a question's ``run``, so whatever ``run``
reports may be forged: entries missing, extra, emptied, of another type. Each
question describes, from the trusted case alone, the form its ``run`` gives (how
many steps, layers and calls, which keys, which flags), and its ``check`` first
holds the report against that form with ``conforms``. Only the leaves marked
``ANSWER`` (what the student's code returned: judged afterwards, in a student's
terms, by the question's own comparisons) may hold any value.

A form is built from:
    ANSWER: any value (the student's answer).
    FLAG: a bool.
    TEXT: a string (of at most MAX_TEXT characters).
    {"key": form, ...}: a dict with exactly these keys.
    [form, form, ...]: a list (or tuple) of exactly this length, item by item.
    Many(form, max_len): a list of at most ``max_len`` items, each of ``form``.
    Maybe(form): None or ``form``.
    Choice(values): one of ``values`` (strings or ints, compared with ==, same type).
    Integer(lo, hi): an int (not a bool) with lo <= value <= hi.
    Array(shape, kinds): a NumPy array of that shape whose dtype kind is one of ``kinds``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_TEXT = 2000
# What a student reads when the report is not of the form the grader's own code gives it.
MALFORMED = ("the report of this test is malformed ({where}: {why}): something changed the grader's code or "
             "data while the test ran, so none of it is graded")


class Form:
    """A description of a value's structure (see the module's docstring)."""

    def problem(self, value: Any, where: str) -> str | None:
        """Why ``value`` is not of this form (None if it is)."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Answer(Form):
    def problem(self, value: Any, where: str) -> str | None:
        return None


@dataclass(frozen=True)
class _Flag(Form):
    def problem(self, value: Any, where: str) -> str | None:
        return None if isinstance(value, (bool, np.bool_)) else f"{_kind(value)}, expected True or False"


@dataclass(frozen=True)
class _Text(Form):
    def problem(self, value: Any, where: str) -> str | None:
        if not isinstance(value, str):
            return f"{_kind(value)}, expected a string"
        return None if len(value) <= MAX_TEXT else f"a string of {len(value)} characters, expected at most {MAX_TEXT}"


ANSWER: Form = _Answer()
FLAG: Form = _Flag()
TEXT: Form = _Text()


@dataclass(frozen=True)
class Many(Form):
    """A list of at most ``max_len`` items, each of ``item``'s form."""

    item: Any
    max_len: int

    def problem(self, value: Any, where: str) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"{_kind(value)}, expected a list"
        if len(value) > self.max_len:
            return f"{len(value)} entries, expected at most {self.max_len}"
        return None


@dataclass(frozen=True)
class Maybe(Form):
    """None, or a value of ``inner``'s form."""

    inner: Any

    def problem(self, value: Any, where: str) -> str | None:
        return None  # the walk in _first_problem looks inside


@dataclass(frozen=True)
class Choice(Form):
    """One of ``values``."""

    values: tuple

    def problem(self, value: Any, where: str) -> str | None:
        ok = any(type(value) is type(v) and value == v for v in self.values)
        return None if ok else f"{_short(value)}, expected one of {', '.join(map(repr, self.values))}"


@dataclass(frozen=True)
class Integer(Form):
    """An int within [lo, hi]."""

    lo: int
    hi: int

    def problem(self, value: Any, where: str) -> str | None:
        if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
            return f"{_kind(value)}, expected a whole number"
        return None if self.lo <= value <= self.hi else f"{value}, expected a number from {self.lo} to {self.hi}"


@dataclass(frozen=True)
class Array(Form):
    """A NumPy array of exactly ``shape`` whose dtype kind is in ``kinds`` ("f" float, "iu" integers)."""

    shape: tuple
    kinds: str = "f"

    def problem(self, value: Any, where: str) -> str | None:
        if not isinstance(value, np.ndarray):
            return f"{_kind(value)}, expected an array"
        if value.dtype.kind not in self.kinds:
            return f"an array of dtype {value.dtype}"
        return None if value.shape == tuple(self.shape) else f"shape {value.shape}, expected {tuple(self.shape)}"


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first_problem(value: Any, form: Any, where: str) -> tuple[str, str] | None:
    """(where, why) of the first place ``value`` departs from ``form``, or None."""
    if isinstance(form, dict):
        if not isinstance(value, dict):
            return where, f"{_kind(value)}, expected a dict"
        missing = [key for key in form if key not in value]
        if missing:
            return where, f"no {missing[0]!r} entry"
        extra = [key for key in value if key not in form]
        if extra:
            return where, f"an unexpected entry {_short(extra[0])}"
        for key, inner in form.items():
            found = _first_problem(value[key], inner, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(form, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return where, f"{_kind(value)}, expected a list"
        if len(value) != len(form):
            return where, f"{len(value)} entries, expected {len(form)}"
        for index, (item, inner) in enumerate(zip(value, form)):
            found = _first_problem(item, inner, f"{where}[{index}]")
            if found:
                return found
        return None
    if isinstance(form, Maybe):
        return None if value is None else _first_problem(value, form.inner, where)
    if not isinstance(form, Form):
        raise TypeError(f"not a form: {form!r}")
    why = form.problem(value, where)
    if why:
        return where, why
    if isinstance(form, Many):
        for index, item in enumerate(value):
            found = _first_problem(item, form.item, f"{where}[{index}]")
            if found:
                return found
    return None


def conforms(report: Any, form: Any) -> list[str]:
    """Hold a report against its form.

    Args:
        report: what a question's ``run`` reported (from the sandbox, or in the kernel).
        form: the form its ``run`` gives on this case (see the module's docstring).

    Returns:
        [] if the report has the form, else one student-facing sentence naming where it departs.
    """
    found = _first_problem(report, form, "report")
    if found is None:
        return []
    where, why = found
    return [MALFORMED.format(where=where, why=why)]
