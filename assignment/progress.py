"""Where a student stands: the progress cell at the top of every notebook.

``show()`` runs, on the student's current ``mytorch`` (the modules the notebook
kernel has loaded, as ``run_test`` does), each question's visible test 1 and
the graded training check, and draws one line per item: passed, failing (with
the first problem, in the same words the test cell would use), or not started
(the method still raises ``NotImplementedError``). The training check runs the
graded case of 04_training once the nine visible tests pass (before that it
cannot tell much and would cost the most); its verdict is kept until a file of
``mytorch/`` changes.

Where the test cases come from: the visible test cells of the notebooks beside
the student's ``mytorch/`` folder (the released notebooks the student works
in), parsed with ``ast`` and never executed. So the progress cell runs exactly
the literals the locked test cell shows and there is no second copy of them to
drift; a case changed in ``source/`` reaches it through ``make release`` alone.
A build-time copy inside the ``assignment`` package would be a second copy
that only a test could keep in step, and it would not follow the notebooks a
student actually has.

Speed and safety: the nine tests take milliseconds and the training check
0.1-0.2 s with a correct mytorch (up to 1 s on a busy machine, where
OpenBLAS's threads wait for each other). Each item runs as the test cells run
it (``checks.time_limit``, NumPy's warnings silenced) but with a shorter time
limit, so an endless loop in student code costs seconds, not a hung notebook.
Output the student's code prints is kept out of the table; anything else it
writes to stderr, and any other warning, counts as a failure, because nbgrader
fails a test cell that writes to stderr.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import hashlib
import html
import importlib
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Iterator

import numpy as np

from assignment.checks import TimeLimitExceeded, chance_level, student_error, student_location, time_limit
from assignment.questions import KEYS, question
from assignment.questions._compare import revealing

__all__ = ["Item", "Progress", "summary", "show", "visible_cases", "QUESTION_LIMIT", "TRAINING_LIMIT", "STATES"]

QUESTION_LIMIT = 2.0  # seconds for one question's test 1 (a correct answer takes milliseconds)
TRAINING_LIMIT = 10.0  # seconds for the training check (about 0.1 s with a correct mytorch)
TRAINING_NOTEBOOK = "04_training"
TRAINING_ID = "training_accuracy"
_REASON_CHARS = 220  # a reason is one line of the table

PASSED, FAILING, NOT_STARTED, WAITING, UNAVAILABLE = "passed", "failing", "not started", "waiting", "unavailable"
STATES = (PASSED, FAILING, NOT_STARTED, WAITING, UNAVAILABLE)
# Plain symbols with colours, not emoji: they show in every font (a headless browser has no emoji).
_MARKS = {PASSED: ("\u2713", "#1a7f37"), FAILING: ("\u2717", "#cf222e"), NOT_STARTED: ("\u25cb", "#6e7781"),
          WAITING: ("\u2026", "#6e7781"), UNAVAILABLE: ("?", "#9a6700")}


@dataclass(frozen=True)
class Item:
    """One line of the progress table.

    Fields:
        key: the question key (``training_accuracy`` for the training check).
        number: "1.1" ... "3", or "4" for the training check.
        method: what the student writes, e.g. "Linear.forward".
        notebook: the notebook that holds its tests, e.g. "01_forward".
        state: "passed", "failing", "not started" (it raises NotImplementedError), "waiting" (the
            training check, until the nine questions pass) or "unavailable" (its test case cannot be read).
        reason: one line saying why, empty when passed.
        timed_out: whether its time limit stopped it.
    """

    key: str
    number: str
    method: str
    notebook: str
    state: str
    reason: str = ""
    timed_out: bool = False


@dataclass
class Progress:
    """The progress table: the nine questions, then the training check.

    Fields:
        items: the nine questions in order, then the training check.
        seconds: how long the whole check took.
        training_seconds: how much of it training took (0 when it did not train).
    """

    items: list[Item] = field(default_factory=list)
    seconds: float = 0.0  # the whole check
    training_seconds: float = 0.0  # of which the training check (0 when it did not train)

    def counts(self) -> dict[str, int]:
        """How many items are in each state."""
        return {state: sum(item.state == state for item in self.items) for state in STATES}

    def headline(self) -> str:
        questions = [item for item in self.items if item.key != TRAINING_ID]
        passed = sum(item.state == PASSED for item in questions)
        return f"{passed} of {len(questions)} questions pass their visible test"

    def __str__(self) -> str:
        lines = [f"Your progress: {self.headline()} (checked in {self.seconds:.2f} s)"]
        for item in self.items:
            what = f"{item.number:>4} {item.method:<26} {item.state}"
            lines.append(f"{what}: {item.reason}" if item.reason else what)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        left = 'style="text-align:left; padding:2px 10px 2px 0"'
        rows = []
        for item in self.items:
            mark, colour = _MARKS[item.state]
            reason = f": {html.escape(item.reason)}" if item.reason else ""
            rows.append(
                f'<tr><td {left}><span style="color:{colour}; font-weight:bold">{mark}</span></td>'
                f"<td {left}>{html.escape(item.number)}</td><td {left}><code>{html.escape(item.method)}</code></td>"
                f'<td {left}>{html.escape(item.notebook)}</td>'
                f'<td {left}><span style="color:{colour}; font-weight:bold">{html.escape(item.state)}</span>'
                f"{reason}</td></tr>")
        header = "".join(f"<th {left}>{name}</th>" for name in ("", "question", "method", "notebook", "state"))
        return (f"<div><b>Your progress:</b> {html.escape(self.headline())} "
                f"<small>(checked in {self.seconds:.2f} s; run this cell again after saving your files)</small>"
                f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


# ---------------------------------------------------------------------------
# The visible test cases, read from the notebooks
# ---------------------------------------------------------------------------

_parsed: dict[tuple[str, int, int], dict[str, dict]] = {}


def _calls_of(path: Path) -> dict[str, dict]:
    """{grade_id: the literal keyword arguments of its run_test/check_training call} of one notebook."""
    stat = path.stat()
    cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
    if cache_key not in _parsed:
        found: dict[str, dict] = {}
        # json, not nbformat: nothing here needs validation, and it is several times faster.
        for cell in json.loads(path.read_text(encoding="utf-8")).get("cells", []):
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if cell.get("cell_type") != "code" or not grade_id:
                continue
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                        and node.func.id in ("run_test", "check_training")):
                    found[grade_id] = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
        _parsed[cache_key] = found
    return _parsed[cache_key]


def visible_cases(folder: Path) -> dict[str, dict | str]:
    """Test 1 of every question and the training check's case, as the notebooks in ``folder`` show them.

    Args:
        folder: the student's working folder (the released notebooks and ``mytorch/``).

    Returns:
        {key: case} for each question key and ``training_accuracy``; where a case
        cannot be read, a sentence saying why instead of the case.
    """
    wanted = [(key, question(key).INFO.notebook, f"{key}_1") for key in KEYS]
    wanted.append((TRAINING_ID, TRAINING_NOTEBOOK, TRAINING_ID))
    cases: dict[str, dict | str] = {}
    for key, notebook, grade_id in wanted:
        path = folder / f"{notebook}.ipynb"
        try:
            calls = _calls_of(path)
        except FileNotFoundError:
            cases[key] = f"{path.name} is not in {folder}: the progress cell reads the visible test there"
            continue
        except (OSError, ValueError) as error:
            cases[key] = f"{path.name} cannot be read ({type(error).__name__}: {error})"
            continue
        cases[key] = calls.get(grade_id) or f"{path.name} has no test cell {grade_id}"
    return cases


def _working_folder(folder: str | Path | None) -> Path:
    """The folder given, else the current folder if it holds the notebooks, else the one beside mytorch/."""
    if folder is not None:
        return Path(folder)
    here = Path.cwd()
    if (here / "01_forward.ipynb").exists():
        return here
    try:
        package = importlib.import_module("mytorch")
        return Path(package.__file__).resolve().parent.parent
    except BaseException:  # an unimportable mytorch is reported per item below
        return here


# ---------------------------------------------------------------------------
# Running student code under a time limit
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet(seconds: float) -> Iterator[tuple[io.StringIO, list]]:
    """Run student code as a test cell does (its time limit, NumPy's warnings silenced), keeping its
    prints out of the table and collecting what it writes to stderr and any other warning."""
    err = io.StringIO()
    with time_limit(seconds), np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        warnings.simplefilter("always")  # a warning seen before (e.g. by the test cell) still counts
        warnings.simplefilter("ignore", RuntimeWarning)  # as run_test: overflow and the like stay quiet
        yield err, caught


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REASON_CHARS else line[: _REASON_CHARS - 3] + "..."


def _noise(err: io.StringIO, caught: list) -> str:
    """What the student's code wrote to stderr or warned, as a reason; empty if nothing."""
    if caught:
        first = caught[0]
        return f"your code raised a warning ({first.category.__name__}: {first.message}); a test fails on any warning"
    if err.getvalue().strip():
        return f"your code wrote to stderr ({err.getvalue().strip().splitlines()[0]}); a test fails on any stderr output"
    return ""


def _state_of_error(error: BaseException, method: str) -> tuple[str, str]:
    if isinstance(error, KeyboardInterrupt):
        return FAILING, f"{method} was interrupted"
    state = NOT_STARTED if isinstance(error, NotImplementedError) else FAILING
    return state, student_error(error, method)


# ---------------------------------------------------------------------------
# The summary
# ---------------------------------------------------------------------------


def _modules() -> tuple[dict[str, ModuleType | None], dict[str, str]]:
    """The kernel's mytorch.nn and mytorch.optim (None where one cannot be imported), and why not."""
    modules: dict[str, ModuleType | None] = {}
    errors: dict[str, str] = {}
    for name in ("nn", "optim"):
        try:
            with _quiet(QUESTION_LIMIT):  # a loop at import time is student code too
                modules[name] = importlib.import_module(f"mytorch.{name}")
        except BaseException as error:  # a syntax error must read as one line, not end the cell
            modules[name] = None
            # Not "mytorch/nn.py": importing either module runs mytorch/__init__.py, which imports both.
            errors[name] = f"mytorch cannot be imported: {type(error).__name__}: {error}"
    return modules, errors


def _question_item(key: str, case: dict | str, modules: dict, import_errors: dict,
                   limit: float) -> Item:
    q = question(key)
    info = q.INFO

    def item(state: str, reason: str = "", timed_out: bool = False) -> Item:
        return Item(key, info.number, info.method, info.notebook, state, _one_line(reason), timed_out)

    if isinstance(case, str):
        return item(UNAVAILABLE, case)
    needed = ("nn", "optim") if info.module == "mytorch/optim.py" else ("nn",)
    for name in needed:
        if modules[name] is None:
            return item(FAILING, import_errors[name])
    try:
        with _quiet(limit) as (err, caught):
            outputs = q.run(modules["nn"], modules["optim"], copy.deepcopy(case))
    except BaseException as error:  # SystemExit too: the table must be drawn whatever student code does
        return item(*_state_of_error(error, info.method), timed_out=isinstance(error, TimeLimitExceeded))
    try:
        with revealing(True):  # test 1 is visible: its messages may quote the expected values
            problems = q.check(case, outputs)
    except Exception as error:
        problems = [f"the answer could not be checked ({type(error).__name__}: {error})"]
    noise = _noise(err, caught)
    if problems or noise:
        return item(FAILING, problems[0] if problems else noise)
    return item(PASSED)


_trained: dict[str, Item] = {}  # the training verdict per version of the student's files


def _source_key(modules: dict, case: dict) -> str | None:
    """A fingerprint of the student's mytorch files and the case: the training verdict holds while it does."""
    digest = hashlib.sha256(repr(sorted(case.items())).encode())
    for module in (modules["nn"], modules["optim"]):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError, AttributeError):
            return None  # no file to fingerprint: train every time
    return digest.hexdigest()


def _training_item(case: dict | str, modules: dict, import_errors: dict, limit: float,
                   questions: list[Item]) -> Item:
    """The graded training check, run once the nine visible tests pass (its verdict is kept per version
    of the student's files, so re-running the progress cell does not train again)."""
    from assignment.training_check import training_accuracy, training_problems

    def item(state: str, reason: str = "", timed_out: bool = False) -> Item:
        return Item(TRAINING_ID, "4", "training check", TRAINING_NOTEBOOK, state, _one_line(reason), timed_out)

    if isinstance(case, str):
        return item(UNAVAILABLE, case)
    waiting_for = [q.number for q in questions if q.state != PASSED]
    if waiting_for:
        if all(q.state == NOT_STARTED for q in questions):
            return item(NOT_STARTED, "runs once the nine questions above pass")
        todo = ", ".join(waiting_for) if len(waiting_for) <= 4 else f"{len(waiting_for)} of them"
        return item(WAITING, f"runs once the nine questions above pass (still to do: {todo})")
    key = _source_key(modules, case)
    if key is not None and key in _trained:
        return _trained[key]
    try:
        with _quiet(limit) as (err, caught):
            reached = training_accuracy(modules["nn"], modules["optim"], **case)
    except BaseException as error:
        state, reason = _state_of_error(error, "training your MLP")
        if isinstance(error, TimeLimitExceeded):
            reason = (f"training did not finish within {error.seconds:g} s: an endless loop, or Python loops "
                      f"over entries instead of NumPy?{student_location(error)}")
        result = item(state, reason, timed_out=isinstance(error, TimeLimitExceeded))
    else:
        problems = training_problems(case, {"accuracy": reached})
        cause = chance_level(reached) if problems else None
        noise = _noise(err, caught)
        if problems or noise:
            result = item(FAILING, (f"{problems[0]} ({cause})" if cause else problems[0]) if problems else noise)
        else:
            result = item(PASSED, f"{reached:.1%} test accuracy (at least {float(case['min_accuracy']):.0%} needed)")
    if key is not None:
        _trained[key] = result
    return result


def summary(folder: str | Path | None = None, *, question_limit: float = QUESTION_LIMIT,
            training_limit: float = TRAINING_LIMIT) -> Progress:
    """Run every question's visible test 1 and the training check on the kernel's mytorch.

    Args:
        folder: the student's working folder; by default the current folder if it
            holds the notebooks, else the folder beside ``mytorch/``.
        question_limit: seconds allowed for one question's test.
        training_limit: seconds allowed for the training check.

    Returns:
        The progress table (it draws itself in a notebook).
    """
    start = time.perf_counter()
    cases = visible_cases(_working_folder(folder))
    modules, import_errors = _modules()
    progress = Progress()
    for key in KEYS:
        progress.items.append(_question_item(key, cases[key], modules, import_errors, question_limit))
    questions_done = time.perf_counter()
    progress.items.append(_training_item(cases[TRAINING_ID], modules, import_errors, training_limit,
                                         list(progress.items)))
    progress.seconds = time.perf_counter() - start
    progress.training_seconds = time.perf_counter() - questions_done
    return progress


def show(folder: str | Path | None = None) -> None:
    """Draw the progress table in the notebook (as text outside one)."""
    progress = summary(folder)
    try:
        from IPython.display import display
    except ImportError:
        print(progress)
        return
    display(progress)
