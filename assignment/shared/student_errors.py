"""How the course words what student code did wrong: where (the student's own line, never a given
helper's), what (an error, a missing method, a time limit), in one or two lines.

Shared by everything that runs student code: the visible tests and the visualizers
(``assignment.student.checks``), the progress cell, and the grader's sandbox
(``instructor/grading/runner.py``), so this module imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Iterator

# ---------------------------------------------------------------------------
# Where in the student's code: the innermost frame of a region the student wrote.
# ---------------------------------------------------------------------------

# The given code of the student's mytorch files: every function without a solution region,
# and the given lines of the functions with one (everything outside the regions of the
# reference mytorch/). An error raised there (a given shape check, say) is the fault of
# the student's code that called it, which is the line to quote. Derived from the reference's
# solution markers; tests/viz/test_student_lines.py fails when this is stale.
GIVEN_FUNCTIONS = frozenset({
    "_as_matrix", "_as_gradient", "_expect_shape", "softmax",
    "Linear.__init__", "Linear.__repr__", "ReLU.__init__", "ReLU.__repr__",
    "Sequential.__init__", "Sequential.__repr__", "CrossEntropyLoss.__init__", "CrossEntropyLoss.__repr__",
    "SGD.__init__", "SGD.zero_grad",
})
GIVEN_LINES = {
    "Linear.forward": frozenset({
        'x = _as_matrix(x, "Linear.forward input x")',
        '_expect_shape(x, (x.shape[0], self.weight.shape[0]), "Linear.forward input x")',
        "self.x = x",
    }),
    "Linear.backward": frozenset({
        "if self.x is None:",
        'raise RuntimeError("Linear.backward was called before Linear.forward (self.x is None)")',
        'grad = _as_gradient(grad, "Linear.backward grad")',
        '_expect_shape(grad, (self.x.shape[0], self.weight.shape[1]), "Linear.backward grad")',
    }),
    "ReLU.forward": frozenset({"x = np.asarray(x)", "self.x = x"}),
    "ReLU.backward": frozenset({
        "if self.x is None:",
        'raise RuntimeError("ReLU.backward was called before ReLU.forward (self.x is None)")',
        'grad = _as_gradient(grad, "ReLU.backward grad")',
        '_expect_shape(grad, self.x.shape, "ReLU.backward grad")',
    }),
    "Sequential.forward": frozenset(),
    "Sequential.backward": frozenset(),
    "CrossEntropyLoss.forward": frozenset({
        'logits = _as_matrix(logits, "CrossEntropyLoss logits")',
        "labels = np.asarray(labels)",
        "n, c = logits.shape",
        '_expect_shape(labels, (n,), "CrossEntropyLoss labels")',
        "if n == 0:",
        'raise ValueError("the mean loss needs at least one example; received an empty batch (N = 0)")',
        'if labels.dtype.kind not in "iu":  # signed or unsigned integers',
        'raise ValueError(f"labels must be integers (class indices); received dtype {labels.dtype}")',
        "if labels.min() < 0 or labels.max() >= c:",
        'raise ValueError(f"labels must lie in [0, {c - 1}]; "',
        'f"received values from {labels.min()} to {labels.max()}")',
        "one_hot = np.zeros(logits.shape, dtype=logits.dtype)",
        "one_hot[np.arange(n), labels] = 1",
        "self.logits = logits",
        "self.one_hot = one_hot",
    }),
    "CrossEntropyLoss.backward": frozenset({
        "if self.logits is None or self.one_hot is None:",
        'raise RuntimeError("CrossEntropyLoss.backward was called before forward")',
    }),
    "SGD.step": frozenset(),
}
_MYTORCH_FILES = ("nn.py", "optim.py", "__init__.py")

# The course package (assignment/, two folders up): never student code.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_MARKERS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep,
                    os.sep + "lib" + os.sep + "python")


@dataclass(frozen=True)
class StudentFrame:
    """One frame of a traceback in code the student wrote.

    Fields:
        filename: the file, as Python knows it.
        lineno: the line number.
        line: that line's text, stripped ("" when the source cannot be read).
        function: the function's qualified name, e.g. "Linear.backward".
        code: the frame's code object.
    """

    filename: str
    lineno: int
    line: str
    function: str
    code: Any

    @property
    def place(self) -> str:
        """'mytorch/nn.py, line 12' (a notebook cell or another file by its base name)."""
        name = os.path.basename(self.filename)
        if _is_mytorch_file(self.filename):
            name = f"mytorch/{name}"
        elif re.search(r"ipykernel_\d+", self.filename):
            name = "a notebook cell"
        return f"{name}, line {self.lineno}"


def not_student_file(filename: str) -> bool:
    """True for files of the course package, of installed libraries and of Python itself."""
    filename = os.path.abspath(filename) if not filename.startswith("<") else filename
    return (filename.startswith(_PACKAGE + os.sep) or any(m in filename for m in _LIBRARY_MARKERS)
            or filename.startswith("<frozen"))


def _is_mytorch_file(filename: str) -> bool:
    folder, name = os.path.split(filename.replace("\\", "/"))
    return name in _MYTORCH_FILES and "mytorch" in os.path.basename(folder)  # also a copy such as student_mytorch_3


def _qualname(code: Any) -> str:
    """'Linear.forward' for a method (the '<locals>' parts of nested definitions dropped)."""
    name = getattr(code, "co_qualname", code.co_name)
    return ".".join(part for part in name.split(".") if part != "<locals>")


def _line_of(filename: str, lineno: int) -> str:
    import linecache

    return linecache.getline(filename, lineno).strip()


def _is_students(filename: str, function: str, line: str) -> bool:
    """Whether a frame lies in code the student wrote (see ``GIVEN_FUNCTIONS``)."""
    if not_student_file(filename):
        return False
    if not _is_mytorch_file(filename):
        return True  # a notebook cell or a file of the student's own
    if function in GIVEN_FUNCTIONS:
        return False
    return line not in GIVEN_LINES.get(function, frozenset())


def student_frames(tb: TracebackType | None) -> list[StudentFrame]:
    """The frames of a traceback in code the student wrote, outermost first."""
    found = []
    while tb is not None:
        code = tb.tb_frame.f_code
        line = _line_of(code.co_filename, tb.tb_lineno)
        function = _qualname(code)
        if _is_students(code.co_filename, function, line):
            found.append(StudentFrame(code.co_filename, tb.tb_lineno, line, function, code))
        tb = tb.tb_next
    return found


def innermost_student_frame(error: BaseException) -> StudentFrame | None:
    """The innermost frame of ``error``'s traceback in a region the student wrote (None if none)."""
    frames = student_frames(error.__traceback__)
    return frames[-1] if frames else None


def student_function(error: BaseException) -> str | None:
    """The qualified name (e.g. ``"Linear.backward"``) of the innermost student frame, if any."""
    frame = innermost_student_frame(error)
    return ".".join(frame.function.split(".")[-2:]) if frame is not None else None


def student_location(error: BaseException) -> str:
    """' (mytorch/nn.py, line 12: `code`)' for the innermost student frame, '' if there is none."""
    frame = innermost_student_frame(error)
    if frame is None:
        return ""
    line = frame.line if len(frame.line) <= 70 else frame.line[:67] + "..."
    return f" ({frame.place}" + (f": `{line}`" if line else "") + ")"


_BROADCAST = re.compile(r"could not be broadcast together with shapes \(([\d, ]*)\)\s*\(([\d, ]*)\)")


def operator_hint(error: BaseException) -> str:
    """A hint when NumPy's broadcast error comes from ``*`` written where ``@`` is meant.

    Two matrices shaped (a, k) and (k, b) cannot be multiplied entry by entry, but their
    matrix product exists: when the student's line multiplies with ``*``, that is almost
    surely the mistake. Returns "" when nothing points that way.
    """
    if not isinstance(error, ValueError):
        return ""
    match = _BROADCAST.search(str(error))
    frame = innermost_student_frame(error)
    if match is None or frame is None or not re.search(r"(?<![*])\*(?![*=])|\*=", frame.line):
        return ""
    shapes = [tuple(int(n) for n in group.replace(" ", "").split(",") if n) for group in match.groups()]
    if all(len(s) == 2 for s in shapes) and (shapes[0][1] == shapes[1][0] or shapes[1][1] == shapes[0][0]):
        return ("looks like * (elementwise) where @ (matrix product) is needed: arrays shaped "
                f"{shapes[0]} and {shapes[1]} cannot be multiplied entry by entry, but their matrix product exists")
    return ""


def timeout_message(label: str, seconds: float, where: str = "") -> str:
    """'ReLU.forward did not finish within 10 s: an endless loop? (mytorch/nn.py, line 9: `...`)'."""
    return f"{label} did not finish within {seconds:g} s: an endless loop?{where}"


def student_error(error: BaseException, method: str, called: Any = None) -> str:
    """Describe an exception raised by student code in one or two lines.

    The course's one wording of what student code raised: the visible tests, the
    visualizers (through ``call_student``), the progress cell and the grader's sandbox
    all use it.

    Args:
        error: what the student's code raised.
        method: how the student knows what was called, e.g. "Linear.forward".
        called: the code object of the student's function that was called, if known: a
            NotImplementedError raised in another student function (Sequential.forward
            calling an unfinished Linear.forward) then names that function.

    Returns:
        A sentence naming the method, the error and the student's own line.
    """
    if isinstance(error, Unusable):
        return error.outcome.message
    if isinstance(error, NotImplementedError):
        if method.startswith("training") and str(error):
            return f"{method} stopped at a method that is not implemented yet ({error})"
        part = re.search(r"part \d+ of \d+", str(error))  # a method with several gaps
        detail = f" ({part.group(0)} still raises NotImplementedError)" if part else ""
        frame = innermost_student_frame(error)
        if (called is not None and frame is not None and frame.code is not called
                and not not_student_file(called.co_filename)):
            return f"{method} calls {student_function(error)}, which is not implemented yet{detail}"
        return f"{method} is not implemented yet{detail}"
    where = student_location(error)
    if isinstance(error, TimeLimitExceeded):
        return timeout_message(student_function(error) or method, error.seconds, where)
    if isinstance(error, KeyboardInterrupt):
        return f"{method} was interrupted (an endless loop?){where}"
    hint = operator_hint(error)
    if hint:  # instead of NumPy's own broadcast error, which names no operator
        return f"{method}: your line {hint}{where}"
    text = " ".join(str(error).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{method} raised {type(error).__name__}" + (f": {text}" if text else "") + where


# ---------------------------------------------------------------------------
# Time limits.
# ---------------------------------------------------------------------------


class TimeLimitExceeded(BaseException):
    """Raised inside student code that runs past its time limit (a BaseException, so that a
    student's ``except Exception`` does not swallow it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = float(seconds)


_depth = threading.local()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Stop the enclosed code with ``TimeLimitExceeded`` after ``seconds``, where possible.

    Uses SIGALRM, so only in the main thread of a POSIX process (where a notebook kernel
    runs its cells), only if nobody else has installed a SIGALRM handler, and only for the
    outermost limit (a visualizer's call inside a test keeps the test's limit). Once
    expired it fires again every second, so that a loop which swallows one interruption
    is still stopped.
    """
    usable = bool(seconds) and hasattr(signal, "setitimer") \
        and threading.current_thread() is threading.main_thread() and getattr(_depth, "value", 0) == 0
    previous = None
    if usable:
        try:
            previous = signal.getsignal(signal.SIGALRM)
            usable = previous in (signal.SIG_DFL, signal.SIG_IGN, None)
        except (ValueError, OSError):  # pragma: no cover - exotic platforms
            usable = False
    _depth.value = getattr(_depth, "value", 0) + 1
    if not usable:
        try:
            yield
        finally:
            _depth.value -= 1
        return

    def _expired(signum, frame):  # pragma: no cover - timing dependent
        raise TimeLimitExceeded(float(seconds))

    signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, float(seconds), 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        _depth.value -= 1


# ---------------------------------------------------------------------------
# Outcomes of a call of student code.
# ---------------------------------------------------------------------------

# The kinds of outcome, from "fine" to the ways of being wrong (the visualizers' states).
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


@dataclass
class Outcome:
    """What a call of student code (or a check of its result) gave.

    Fields:
        ok: True when the value can be used.
        value: the returned (or checked) value.
        kind: one of the kinds above.
        message: one line for the student; empty when all is well.
        notes: minor remarks that do not make the value unusable (e.g. a dtype change).
    """

    ok: bool
    value: Any = None
    kind: str = OK
    message: str = ""
    notes: list[str] = field(default_factory=list)


class Unusable(Exception):
    """Raised by the course's own helpers when a student's result cannot be used; its message
    is already written for the student."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def kind_of_error(error: BaseException) -> str:
    """The outcome kind of an exception raised by student code."""
    if isinstance(error, Unusable):
        return error.outcome.kind
    if isinstance(error, NotImplementedError):
        return NOT_IMPLEMENTED
    if isinstance(error, TimeLimitExceeded):
        return TIMEOUT
    return ERROR
