"""Calling the student's code so that nothing escapes to the notebook cell.

Every call into the student's ``mytorch`` goes through :func:`call`, which turns
whatever happens (``NotImplementedError``, any other exception, an endless
loop, ``exit()``) into an :class:`Outcome` holding a one-line message in the
student's terms. :func:`call` is ``checks.call_student`` (the one caller of student code, shared with
the visible tests) with the visualizers' time limit. The checks :func:`check_array` and
:func:`check_number` turn a returned value into an Outcome too: ``None``, a wrong type, a wrong shape or
NaN entries each get their own message.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from assignment.student import checks

__all__ = [
    "Outcome",
    "Unusable",
    "call",
    "construct",
    "check_array",
    "check_number",
    "describe_exception",
    "student_function",
    "OK",
    "NOT_IMPLEMENTED",
    "MISSING",
    "ERROR",
    "TIMEOUT",
    "NONE",
    "TYPE",
    "SHAPE",
    "NAN",
    "MISMATCH",
]

# The kinds of outcome and the Outcome itself are the checks' (one module calls student code).
OK, NOT_IMPLEMENTED, MISSING, ERROR, TIMEOUT = checks.OK, checks.NOT_IMPLEMENTED, checks.MISSING, checks.ERROR, \
    checks.TIMEOUT
NONE, TYPE, SHAPE, NAN, MISMATCH = checks.NONE, checks.TYPE, checks.SHAPE, checks.NAN, checks.MISMATCH
Outcome = checks.Outcome
Unusable = checks.Unusable

#: Seconds one call of student code from a visualizer may take before it is stopped.
TIME_LIMIT = 5.0

student_function = checks.student_function


def clause(text: str) -> str:
    """A message without its final period, to be embedded in a longer sentence."""
    return text.rstrip().rstrip(".")


def describe_exception(label: str, error: BaseException, called=None) -> tuple[str, str]:
    """(kind, message) for an exception raised by the student's ``label``: the checks' wording."""
    outcome_kind = checks.kind_of_error(error)
    return outcome_kind, checks.student_error(error, label, called)


_DEFAULT_LIMIT = object()


def call(label: str, fn: Callable | None, *args: Any, time_limit: Any = _DEFAULT_LIMIT, **kwargs: Any) -> Outcome:
    """``checks.call_student`` with the visualizers' time limit (``TIME_LIMIT``, read at each call).

    Args:
        label: how the student knows the function, e.g. ``"Linear.forward"``.
        fn: the function; None when the student's module has no such thing.
        time_limit: seconds before the call is stopped (None: no limit; default: ``TIME_LIMIT``).

    Returns:
        An Outcome whose ``value`` is the return value when ``ok``.
    """
    seconds = TIME_LIMIT if time_limit is _DEFAULT_LIMIT else time_limit
    return checks.call_student(label, fn, *args, seconds=seconds, **kwargs)


def method(obj: Any, name: str) -> Callable | None:
    """``obj.name`` if it exists and is callable, else None (never raises)."""
    try:
        found = getattr(obj, name)
    except Exception:  # noqa: BLE001 - a student's property may raise anything
        return None
    return found if callable(found) else None


def attribute(obj: Any, name: str, default: Any = None) -> Any:
    """``obj.name`` or ``default`` (never raises)."""
    try:
        return getattr(obj, name)
    except Exception:  # noqa: BLE001
        return default


def construct(module: Any, class_name: str, *args: Any, label: str | None = None) -> Outcome:
    """Instantiate ``module.class_name(*args)`` safely."""
    label = label or f"{class_name}{args if len(args) != 1 else '(' + repr(args[0]) + ')'}"
    cls = attribute(module, class_name)
    if cls is None:
        return Outcome(False, None, MISSING, f"the module has no {class_name}: is it defined (and spelled so)?")
    return call(label, cls, *args)


def _first_index(mask: np.ndarray) -> tuple:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_array(
    value: Any,
    label: str,
    expected_shape: tuple | None = None,
    *,
    shape_hint: str = "",
    expected_dtype: Any = None,
    verb: str = "returned",
) -> Outcome:
    """Check that ``value`` is a numeric array of the expected shape without NaN.

    Args:
        value: what the student's function returned (or stored).
        label: e.g. ``"Linear.forward"`` or ``"Linear.grad_weight"``.
        expected_shape: the shape it must have (None: any).
        shape_hint: what the shape means, e.g. ``"(N, out_features)"``.
        expected_dtype: if given, a different dtype adds a note (not an error).
        verb: "returned" for a return value, "is" for a stored attribute.

    Returns:
        An Outcome whose ``value`` is the array (as ``np.ndarray``) when ``ok``.
    """
    if value is None:
        hint = ": is a `return` missing?" if verb == "returned" else ""
        return Outcome(False, None, NONE, f"{label} {verb} None{hint}")
    notes = []
    if not isinstance(value, np.ndarray):
        try:
            array = np.asarray(value)
        except Exception:  # noqa: BLE001
            array = np.asarray(None)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            return Outcome(False, None, TYPE, f"{label} {verb} a {type(value).__name__}, not a NumPy array of numbers.")
        notes.append(f"{label} {verb} a {type(value).__name__}; a NumPy array is expected.")
    else:
        array = value
        if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
            return Outcome(False, None, TYPE, f"{label} {verb} an array of dtype {array.dtype}, not numbers.")
    if expected_shape is not None and tuple(array.shape) != tuple(expected_shape):
        hint = f" = {shape_hint}" if shape_hint else ""
        what = "an array shaped" if verb == "returned" else "shaped"
        return Outcome(
            False, array, SHAPE,
            f"{label} {verb} {what} {tuple(array.shape)}; expected {tuple(expected_shape)}{hint}.",
        )
    if np.issubdtype(array.dtype, np.inexact):
        bad = ~np.isfinite(array)
        if bad.any():
            where = _first_index(bad) if array.ndim else ()
            count = int(bad.sum())
            head = f"{label} returned an array with" if verb == "returned" else f"{label} has"
            return Outcome(
                False, array, NAN,
                f"{head} {count} NaN/infinite {'entry' if count == 1 else 'entries'}"
                + (f", the first at {where}" if where else "") + ".",
            )
    if expected_dtype is not None and array.dtype != np.dtype(expected_dtype):
        notes.append(f"{label} {verb} dtype {array.dtype}; expected {np.dtype(expected_dtype)} (dtypes are kept).")
    return Outcome(True, np.asarray(array), OK, "", notes)


def check_number(value: Any, label: str, *, what: str = "one number") -> Outcome:
    """Check that ``value`` is one finite number; its ``value`` becomes a Python float."""
    if value is None:
        return Outcome(False, None, NONE, f"{label} returned None: is a `return` missing?")
    notes = []
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        array = np.asarray(value)
        if array.size != 1:
            return Outcome(False, None, SHAPE, f"{label} returned an array shaped {array.shape}; expected {what}.")
        notes.append(f"{label} returned a {type(value).__name__} shaped {array.shape}; a Python float is expected.")
        value = array.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return Outcome(False, None, TYPE, f"{label} returned a {type(value).__name__}; expected {what}.")
    number = float(value)
    if not np.isfinite(number):
        what = "NaN (not a number)" if np.isnan(number) else "an infinite value"
        return Outcome(False, number, NAN, f"{label} returned {what}.")
    return Outcome(True, number, OK, "", notes)



def check_gradient(value: Any, label: str, shape: tuple, parameter: str, estimate: np.ndarray | None = None,
                   close: Callable[[np.ndarray, np.ndarray], bool] | None = None) -> Outcome:
    """Check a stored gradient against its parameter's shape by the rule the tests apply.

    The tests compare a gradient with ``compare_arrays(..., allow_flat=True)``
    (assignment/shared/questions/_compare.py): a 2-D array shaped like the parameter's
    transpose that holds the transposed values is wrong ("transposed"); any other array
    with as many entries as the parameter is read in the parameter's shape (a grad_bias
    stored flat, shaped (out,), is right); any other shape is wrong.

    Args:
        value: the stored gradient.
        label: e.g. "Linear.grad_bias".
        shape: the parameter's shape.
        parameter: how the parameter is named, e.g. "bias".
        estimate: the expected values, if known (finite differences): a transposed-shaped
            gradient whose transpose matches them is named "transposed"; without them such a
            shape is wrong in any case (its values read in the parameter's shape cannot match).
        close: how values are compared with ``estimate`` (True when they match).

    Returns:
        An Outcome whose value is the gradient in the parameter's shape when ``ok``.
    """
    checked = check_array(value, label, None, verb="is")
    if not checked.ok:
        return checked
    array, shape = checked.value, tuple(shape)
    if array.shape == shape:
        return checked
    transposed = array.ndim == 2 and len(shape) == 2 and array.shape == shape[::-1]
    if transposed and (estimate is None or close is None or close(array.T, estimate)):
        return Outcome(False, array, SHAPE, f"{label} is shaped {array.shape}; expected {shape}, the shape of "
                       f"{parameter}: it is transposed.")
    if array.size == int(np.prod(shape)):
        notes = checked.notes + [f"{label} is shaped {array.shape}; it is read as {shape}, the shape of "
                                 f"{parameter}, as the tests read it (storing it shaped like {parameter} is clearer)."]
        return Outcome(True, array.reshape(shape), OK, "", notes)
    return Outcome(False, array, SHAPE, f"{label} is shaped {array.shape}; expected {shape}, the shape of "
                   f"{parameter}.")
