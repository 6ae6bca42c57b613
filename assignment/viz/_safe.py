"""Calling the student's code so that nothing escapes to the notebook cell.

Every call into the student's ``mytorch`` goes through :func:`call`, which turns
whatever happens (``NotImplementedError``, any other exception, an endless
loop, ``exit()``) into an :class:`Outcome` holding a one-line message in the
student's terms. The checks :func:`check_array` and :func:`check_number` turn a
returned value into an Outcome too: ``None``, a wrong type, a wrong shape or
NaN entries each get their own message.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from assignment import checks

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

# The kinds of outcome, from "fine" to the various ways of being wrong.
OK = "ok"
NOT_IMPLEMENTED = "not_implemented"
MISSING = "missing"
ERROR = "error"
TIMEOUT = "timeout"
NONE = "none"
TYPE = "type"
SHAPE = "shape"
NAN = "nan"
MISMATCH = "mismatch"

#: Seconds one call of student code may take before it is stopped.
TIME_LIMIT = 5.0


@dataclass
class Outcome:
    """What a call of student code (or a check of its result) gave.

    Fields:
        ok: True when the value can be used.
        value: the returned (or checked) value.
        kind: one of the kind constants of this module.
        message: one line for the student; empty when all is well.
        notes: minor remarks that do not make the value unusable (e.g. a dtype change).
    """

    ok: bool
    value: Any = None
    kind: str = OK
    message: str = ""
    notes: list[str] = field(default_factory=list)


class Unusable(Exception):
    """Raised by the visualizers' own helpers when a student's result cannot be used;
    its message is already written for the student."""

    def __init__(self, outcome: "Outcome") -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


# One rule for where student code went wrong, and one time limit, shared with the tests.
_TimeLimitExceeded = checks.TimeLimitExceeded
_time_limit = checks.time_limit
student_function = checks.student_function


def clause(text: str) -> str:
    """A message without its final period, to be embedded in a longer sentence."""
    return text.rstrip().rstrip(".")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_exception(label: str, error: BaseException, called=None) -> tuple[str, str]:
    """Return (kind, message) for an exception raised by the student's ``label``.

    Args:
        called: the code object of the function that was called, if known: a
            NotImplementedError raised deeper (Sequential.forward calling an
            unfinished Linear.forward) then names the unfinished function.
    """
    if isinstance(error, Unusable):
        return error.outcome.kind, error.outcome.message
    where = checks.student_location(error)
    if isinstance(error, NotImplementedError):
        detail = _short(error)
        # The stubs' messages end with a full stop; the sentence around them has its own.
        extra = f" ({detail.rstrip('.')})" if detail and detail.lower() not in {"not implemented", "todo"} else ""
        frame = checks.innermost_student_frame(error)
        raiser = frame.code if frame is not None else None
        if (called is not None and raiser is not None and raiser is not called
                and not checks.not_student_file(called.co_filename)):
            return NOT_IMPLEMENTED, f"{label} calls {student_function(error)}, which is not implemented yet{extra}."
        return NOT_IMPLEMENTED, f"{label} is not implemented yet{extra}."
    if isinstance(error, _TimeLimitExceeded):
        return TIMEOUT, checks.timeout_message(label, error.seconds, where) + " It was stopped."
    if isinstance(error, KeyboardInterrupt):
        return ERROR, f"{label} was interrupted{where}."
    if isinstance(error, SystemExit):
        return ERROR, f"{label} tried to exit the Python process (SystemExit){where}."
    hint = checks.operator_hint(error)
    if hint:  # instead of NumPy's own broadcast error, which names no operator
        return ERROR, f"{label}: your line {hint}{where}."
    text = _short(error).rstrip(".")
    return ERROR, f"{label} raised {type(error).__name__}" + (f": {text}" if text else "") + f"{where}."


_DEFAULT_LIMIT = object()


def call(label: str, fn: Callable | None, *args: Any, time_limit: Any = _DEFAULT_LIMIT, **kwargs: Any) -> Outcome:
    """Call ``fn(*args, **kwargs)``; never raise.

    Args:
        label: how the student knows the function, e.g. ``"Linear.forward"``.
        fn: the function; None when the student's module has no such thing.
        time_limit: seconds before the call is stopped (None: no limit; default: ``TIME_LIMIT``).

    Returns:
        An Outcome whose ``value`` is the return value when ``ok``.
    """
    if fn is None or not callable(fn):
        return Outcome(False, None, MISSING, f"{label} was not found: is it defined (and spelled so)?")
    if time_limit is _DEFAULT_LIMIT:
        time_limit = TIME_LIMIT
    try:
        with _time_limit(time_limit), np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = fn(*args, **kwargs)
    except (Exception, SystemExit, KeyboardInterrupt, _TimeLimitExceeded) as error:  # noqa: BLE001 - student code
        kind, message = describe_exception(label, error, _code_of(fn))
        return Outcome(False, None, kind, message)
    return Outcome(True, value)


def _code_of(fn: Any):
    """The code object behind a function or bound method (None for other callables)."""
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__code__", None)


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
    (assignment/questions/_compare.py): a 2-D array shaped like the parameter's
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
