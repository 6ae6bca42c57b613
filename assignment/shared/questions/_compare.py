"""Comparing a student's answer with the expected one, in a student's terms.

Every function here returns a list of problems (sentences a student can act
on); an empty list means the answer is right.

``TOLERANCES`` is the course's one table of how close is close enough: the
tests' checks and the visualizers (which show the checks' verdicts, and mark
entry by entry with ``entry_differs``) both read it.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np



@dataclass(frozen=True)
class Tolerance:
    """Two numbers a and b agree when |a - b| <= atol + rtol * |b| (NumPy's isclose)."""

    rtol: float
    atol: float


TOLERANCES = {
    # An answer against its expected value: loose enough for answers computed in float32.
    "answer": Tolerance(1e-5, 1e-6),
    # A known mistake recognised from the answer (N times too large, the sign, without the bias...).
    "diagnosis": Tolerance(1e-5, 1e-6),
}
RTOL, ATOL = TOLERANCES["answer"].rtol, TOLERANCES["answer"].atol
MAX_LISTED = 4

# Whether messages may quote expected values: yes for a visible test, no for a
# hidden one (its feedback must not give the hidden answer away).
_reveal = ContextVar("reveal_expected", default=True)


@contextmanager
def revealing(reveal: bool) -> Iterator[None]:
    """Within this block, messages quote expected values only if ``reveal``."""
    token = _reveal.set(reveal)
    try:
        yield
    finally:
        _reveal.reset(token)


def _expected_text(value: float) -> str:
    return f"expected {value:.6g}" if _reveal.get() else "which is not the expected value"


def as_array(value: Any, what: str) -> tuple[np.ndarray | None, list[str]]:
    """Turn an answer into a float array, or say why it cannot be one."""
    if value is None:
        return None, [f"{what} is None: did you forget a `return` statement?"]
    if isinstance(value, (str, bytes, dict, set)):
        return None, [f"{what} is a {type(value).__name__}, not an array of numbers"]
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists, odd objects
        return None, [f"{what} cannot be read as an array ({error})"]
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        return None, [f"{what} has dtype {array.dtype}; it should hold numbers (float)"]
    if np.iscomplexobj(array):
        return None, [f"{what} holds complex numbers (dtype {array.dtype})"]
    return array.astype(np.float64), []


def close(got: np.ndarray, expected: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """True if the arrays have the same shape and agree within tolerance."""
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=atol))


def compare_arrays(
    value: Any,
    expected: Any,
    what: str,
    *,
    allow_flat: bool = False,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> list[str]:
    """Compare an array answer with the expected array.

    Args:
        value: the student's answer.
        expected: the expected values.
        what: how to name the answer in a message, e.g. "Linear.forward's output".
        allow_flat: accept the right values in a flat (or otherwise same-size) shape,
            as for a gradient stored as (out,) instead of (1, out).

    Returns:
        The problems found; empty when the answer is right.
    """
    got, problems = as_array(value, what)
    if problems:
        return problems
    want = np.asarray(expected, dtype=np.float64)
    if got.shape != want.shape:
        if got.shape == want.T.shape and got.ndim == 2 and close(got.T, want, rtol, atol):
            return [f"{what} has shape {got.shape} but should be {want.shape}: it holds the right "
                    f"values, transposed"]
        elif allow_flat and got.size == want.size:
            got = got.reshape(want.shape)
        else:
            return [f"{what} has shape {got.shape}; expected shape {want.shape}"]
    nan = ~np.isfinite(got)
    if nan.any() and np.isfinite(want).all():
        where = [tuple(int(i) for i in idx) for idx in np.argwhere(nan)[:MAX_LISTED]]
        return [f"{what} holds NaN or infinity at {len(np.argwhere(nan))} entries, e.g. at "
                f"{', '.join(map(str, where))}"]
    if np.allclose(got, want, rtol=rtol, atol=atol, equal_nan=True):
        return []
    return [f"{what} differs from the expected values: " + differing_entries(got, want, rtol, atol)]


def differing_entries(got: np.ndarray, want: np.ndarray, rtol: float = RTOL, atol: float = ATOL) -> str:
    """Describe which entries differ, e.g. '2 of 8 entries differ: at (0, 1) you have 3.0, expected 4.0; ...'."""
    if want.ndim == 0:
        return f"you have {float(got):.10g}, {_expected_text(float(want))}"
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    idx = np.argwhere(bad)
    parts = [
        f"at {tuple(int(i) for i in index)} you have {got[tuple(index)]:.6g}, {_expected_text(want[tuple(index)])}"
        for index in idx[:MAX_LISTED]
    ]
    more = "; ..." if len(idx) > MAX_LISTED else ""
    return f"{len(idx)} of {want.size} entries differ: " + "; ".join(parts) + more


def compare_scalar(value: Any, expected: float, what: str, *, rtol: float = RTOL, atol: float = ATOL) -> list[str]:
    """Compare a single-number answer, e.g. a loss."""
    if value is None:
        return [f"{what} is None: did you forget a `return` statement?"]
    array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if array is None or array.dtype == object or not np.issubdtype(array.dtype, np.number):
        return [f"{what} should be a number; it is a {type(value).__name__}"]
    if array.size != 1:
        return [f"{what} should be one number (the mean over the batch); you returned an array "
                f"of shape {array.shape}"]
    number = float(array.reshape(()))
    if not np.isfinite(number):
        return [f"{what} is {number}; it should be a finite number"]
    if np.isclose(number, expected, rtol=rtol, atol=atol):
        return []
    return [f"{what} is {number:.10g}, {_expected_text(expected)}"]


def factor_problem(value: Any, expected: Any, what: str, n: int) -> str | None:
    """A sentence when ``value`` is the expected array times a telling factor (None otherwise).

    Args:
        value: the student's answer; expected: the expected values.
        what: how to name the answer, e.g. "self.grad_weight".
        n: the batch size N (the usual culprit: a mean where a sum belongs, or a 1/N twice).
    """
    want = np.asarray(expected, dtype=np.float64)
    if not np.any(want):
        return None
    factors = [(-1.0, "the expected values with the wrong sign")]
    if n > 1:
        factors += [(float(n), f"N = {n} times the expected values: is it summed over the batch once too often?"),
                    (1.0 / n, f"the expected values divided by N = {n}: is there a division by N that does not "
                              f"belong here (the incoming gradient G already holds the loss's 1/N)?")]
    factors += [(2.0, "twice the expected values"), (0.5, "half the expected values")]
    for factor, text in factors:
        if matches(value, want * factor):
            return f"{what} is {text}"
    return None


def entry_differs(value: Any, expected: Any) -> np.ndarray | None:
    """Entry by entry, where ``value`` differs from ``expected`` by the tests' tolerance.

    Returns:
        A boolean array shaped like ``expected`` (a same-size answer is read in that shape),
        or None when ``value`` is not an array of numbers of that size.
    """
    got, problems = as_array(value, "value")
    want = np.asarray(expected, dtype=np.float64)
    if problems or got.size != want.size:
        return None
    return ~np.isclose(got.reshape(want.shape), want, rtol=RTOL, atol=ATOL)


def matches(value: Any, expected: Any, rtol: float = TOLERANCES["diagnosis"].rtol,
            atol: float = TOLERANCES["diagnosis"].atol) -> bool:
    """True if ``value`` equals ``expected`` (array or number) within tolerance, same size."""
    got, problems = as_array(value, "value")
    if problems:
        return False
    want = np.asarray(expected, dtype=np.float64)
    if got.size != want.size:
        return False
    return bool(np.allclose(got.reshape(want.shape), want, rtol=rtol, atol=atol))


def same(value: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """True if ``value`` is an array of numbers of exactly ``expected``'s shape and values (within tolerance)."""
    got, problems = as_array(value, "value")
    if problems:
        return False
    want = np.asarray(expected, dtype=np.float64)
    return close(got, want, rtol, atol)
