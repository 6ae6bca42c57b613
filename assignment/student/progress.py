"""Where a student stands: the progress cell at the top of every notebook.

``show()`` runs, on the student's current ``mytorch`` (the modules the notebook
kernel has loaded, as ``run_test`` does), test 1 of each of the ten graded
questions (the nine, then the training check, ``questions.GRADED_KEYS``), through
the same question interface as the test cells, and draws one line per item:
passed, failing (with the first problem, in the same words the test cell would
use), or not started (the method still raises ``NotImplementedError``). A
question with prerequisites (``INFO.after``: the training check's are the nine)
runs once they pass (before that it cannot tell much and would cost the most);
the verdict of a question of a long time allowance (the training check's) is
kept until a file of ``mytorch/`` changes.

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

from assignment.student.checks import TimeLimitExceeded, student_error, time_limit
from assignment.shared.questions import GRADED_KEYS, KEYS, question
from assignment.shared.questions._compare import revealing

__all__ = ["Item", "Progress", "summary", "show", "visible_cases", "QUESTION_LIMIT", "TRAINING_LIMIT", "STATES"]

QUESTION_LIMIT = 2.0  # seconds for a test of the "test" allowance (a correct answer takes milliseconds)
TRAINING_LIMIT = 10.0  # seconds for one of the "training" allowance (about 0.1 s with a correct mytorch)
# The allowances whose verdicts are kept per version of the student's files (they take long).
KEPT_ALLOWANCES = ("training",)
_REASON_CHARS = 220  # a reason is one line of the table
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

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
        number: "1.1" ... "3", or "4" for the training check (``INFO.number``).
        method: what the student writes, e.g. "Linear.forward".
        notebook: the notebook that holds its tests, e.g. "01_forward".
        state: "passed", "failing", "not started" (it raises NotImplementedError), "waiting" (until the
            questions of its ``INFO.after`` pass) or "unavailable" (its test case cannot be read).
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
        items: one per graded question, in course order (``GRADED_KEYS``).
        seconds: how long the whole check took.
        training_seconds: how much of it the "training" allowance's tests took (0 when none ran).
    """

    items: list[Item] = field(default_factory=list)
    seconds: float = 0.0  # the whole check
    training_seconds: float = 0.0  # of which the training check (0 when it did not train)

    def counts(self) -> dict[str, int]:
        """How many items are in each state."""
        return {state: sum(item.state == state for item in self.items) for state in STATES}

    def headline(self) -> str:
        questions = [item for item in self.items if item.key in KEYS]  # the nine, not the training check
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
    """Test 1 of every graded question (the training check's one test too), as the notebooks in ``folder``
    show them.

    Args:
        folder: the student's working folder (the released notebooks and ``mytorch/``).

    Returns:
        {key: case} for each key of ``GRADED_KEYS``; where a case cannot be read, a sentence
        saying why instead of the case.
    """
    wanted = [(key, question(key).INFO.notebook, question(key).INFO.grade_id(1)) for key in GRADED_KEYS]
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


def _passed_note(q: ModuleType, case: dict, outputs: dict) -> str:
    """What a passing line says: the question's one-line texts among what it shows (the training
    check's accuracy), or nothing (the nine show arrays, which do not fit a line)."""
    try:
        pairs = q.shown(case, outputs)
    except Exception:  # noqa: BLE001 - a report shown() cannot read: check() has judged it already
        return ""
    return "; ".join(f"{label} {yours} ({expected})" for label, yours, expected in pairs
                     if isinstance(yours, str) and isinstance(expected, str))


def _question_item(key: str, case: dict | str, modules: dict, import_errors: dict, limit: float) -> Item:
    """Run test 1 of question ``key`` as its test cell would (``q.run``, then ``q.check``), within ``limit`` s."""
    q = question(key)
    info = q.INFO

    def item(state: str, reason: str = "", timed_out: bool = False) -> Item:
        return Item(key, info.number, info.method, info.notebook, state, _one_line(reason), timed_out)

    if isinstance(case, str):
        return item(UNAVAILABLE, case)
    for name in (module.removeprefix("mytorch.") for module in info.imports):
        if modules[name] is None:
            return item(FAILING, import_errors[name])
    try:
        with _quiet(limit) as (err, caught):
            outputs = q.run(modules["nn"], modules["optim"], copy.deepcopy(case))
    except BaseException as error:  # SystemExit too: the table must be drawn whatever student code does
        return item(*_state_of_error(error, info.method), timed_out=isinstance(error, TimeLimitExceeded))
    try:
        with revealing(True), np.errstate(all="ignore"):  # test 1 is visible: its messages may quote the expected values
            problems = q.check(case, outputs)
    except Exception as error:
        problems = [f"the answer could not be checked ({type(error).__name__}: {error})"]
    noise = _noise(err, caught)
    if problems or noise:
        return item(FAILING, problems[0] if problems else noise)
    return item(PASSED, _passed_note(q, case, outputs))


def _waiting(key: str, done: dict[str, Item]) -> Item | None:
    """The line of a question whose prerequisites (``INFO.after``) do not all pass yet; None once they do."""
    info = question(key).INFO
    before = [done[k] for k in info.after if k in done]
    todo = [item.number for item in before if item.state != PASSED]
    if not todo:
        return None
    count = len(info.after)
    needs = f"runs once the {_NUMBERS[count] if count < len(_NUMBERS) else count} questions above pass"
    if all(item.state == NOT_STARTED for item in before):
        return Item(key, info.number, info.method, info.notebook, NOT_STARTED, needs)
    still = ", ".join(todo) if len(todo) <= 4 else f"{len(todo)} of them"
    return Item(key, info.number, info.method, info.notebook, WAITING, f"{needs} (still to do: {still})")


_trained: dict[str, Item] = {}  # the kept verdicts (``KEPT_ALLOWANCES``) per version of the student's files


def _source_key(key: str, modules: dict, case: dict) -> str | None:
    """A fingerprint of the question, the student's mytorch files and the case: a kept verdict holds while it does."""
    digest = hashlib.sha256(repr((key, sorted(case.items()))).encode())
    for module in (modules["nn"], modules["optim"]):
        try:
            digest.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError, AttributeError):
            return None  # no file to fingerprint: run every time
    return digest.hexdigest()


def _item(key: str, case: dict | str, modules: dict, import_errors: dict, limits: dict[str, float],
          done: dict[str, Item]) -> Item:
    """Question ``key``'s line: waiting for its prerequisites, kept from an earlier run, or run now."""
    info = question(key).INFO
    if isinstance(case, str):
        return _question_item(key, case, modules, import_errors, limits[info.allowance])
    waiting = _waiting(key, done)
    if waiting is not None:
        return waiting
    kept = _source_key(key, modules, case) if info.allowance in KEPT_ALLOWANCES else None
    if kept is not None and kept in _trained:
        return _trained[kept]
    result = _question_item(key, case, modules, import_errors, limits[info.allowance])
    if kept is not None:
        _trained[kept] = result
    return result


def summary(folder: str | Path | None = None, *, question_limit: float = QUESTION_LIMIT,
            training_limit: float = TRAINING_LIMIT) -> Progress:
    """Run test 1 of every graded question (the nine, then the training check) on the kernel's mytorch.

    Args:
        folder: the student's working folder; by default the current folder if it
            holds the notebooks, else the folder beside ``mytorch/``.
        question_limit: seconds allowed for a test of the "test" allowance (the nine questions).
        training_limit: seconds allowed for a test of the "training" allowance (the training check).

    Returns:
        The progress table (it draws itself in a notebook).
    """
    start = time.perf_counter()
    limits = {"test": question_limit, "training": training_limit}
    cases = visible_cases(_working_folder(folder))
    modules, import_errors = _modules()
    progress = Progress()
    done: dict[str, Item] = {}
    for key in GRADED_KEYS:
        began = time.perf_counter()
        done[key] = _item(key, cases[key], modules, import_errors, limits, done)
        progress.items.append(done[key])
        if question(key).INFO.allowance == "training":
            progress.training_seconds += time.perf_counter() - began
    progress.seconds = time.perf_counter() - start
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
