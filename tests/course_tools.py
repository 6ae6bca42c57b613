"""Helpers shared by the tests of the nbgrader course (not a test module itself).

- the course's layout (repository root, source and release folders);
- ``test_cases()``: every ``run_test(...)`` call of the source notebooks, parsed
  with ``ast`` (its keyword arguments are literals);
- ``hidden_lines()``: the lines of the source notebooks' hidden test regions;
- ``visible_test_lines()``: the lines their test cells show outside those regions;
- ``scratch_course()``: a copy of the course to run nbgrader in;
- ``nbgrader()``: run the stock ``nbgrader`` command line there;
- ``gradebook_url()``: MYTORCH_GRADEBOOK_URL set (or unset) for a while.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "mlp"
SOURCE = ROOT / "source" / ASSIGNMENT
RELEASE = ROOT / "release" / ASSIGNMENT
REFERENCE = ROOT / "mytorch"
EXAMPLES = ROOT / "examples" / "submissions"
ADA = EXAMPLES / "ada_correct" / ASSIGNMENT / "mytorch"  # the reference solution, as a student submits it
NOTEBOOKS = ("01_forward.ipynb", "02_backward.ipynb", "03_step.ipynb", "04_training.ipynb")
VENV_BIN = Path(sys.executable).parent
URL_VARIABLE = "MYTORCH_GRADEBOOK_URL"

_HIDDEN = re.compile(r"^[^\n]*BEGIN HIDDEN TESTS[^\n]*\n(.*?)^[^\n]*END HIDDEN TESTS", re.S | re.M)


@dataclass(frozen=True)
class TestCase:
    """One ``run_test(key, number, **case)`` call of a source notebook."""

    notebook: str
    grade_id: str
    key: str
    number: int
    case: dict
    hidden: bool
    source: str

    @property
    def name(self) -> str:
        return f"{self.key}_{self.number}"


def graded_cells(path: Path) -> list[Any]:
    """The graded (test) cells of a notebook, in order."""
    nb = nbformat.read(str(path), as_version=4)
    return [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]


def run_test_calls(source: str) -> list[ast.Call]:
    """The ``run_test(...)`` calls in a cell's source."""
    tree = ast.parse(source)
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "run_test"]


def test_cases(source_dir: Path = SOURCE) -> list[TestCase]:
    """Every ``run_test`` call of the source notebooks, with its literal arguments."""
    cases = []
    for name in NOTEBOOKS:
        for cell in graded_cells(source_dir / name):
            calls = run_test_calls(cell.source)
            assert len(calls) <= 1, f"{name}: cell {cell.metadata.nbgrader.grade_id} holds {len(calls)} run_test calls"
            for call in calls:
                key, number = (ast.literal_eval(arg) for arg in call.args)
                case = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
                hidden = any("run_test" in region for region in _HIDDEN.findall(cell.source + "\n"))
                cases.append(TestCase(name, cell.metadata.nbgrader.grade_id, key, number, case, hidden, cell.source))
    return cases


# pytest must not collect the helper above as a test.
test_cases.__test__ = False  # type: ignore[attr-defined]
TestCase.__test__ = False  # type: ignore[attr-defined]


def hidden_lines(source_dir: Path = SOURCE) -> list[str]:
    """The non-blank lines inside the source notebooks' ``### BEGIN HIDDEN TESTS`` regions."""
    lines = []
    for name in NOTEBOOKS:
        for cell in nbformat.read(str(source_dir / name), as_version=4).cells:
            for region in _HIDDEN.findall(cell.source + "\n"):
                lines += [line for line in region.splitlines() if line.strip()]
    return lines


def visible_test_lines(source_dir: Path = SOURCE) -> set[str]:
    """Lines the source's test cells show outside their hidden regions (``layers=[{'kind': 'Linear',``),
    without whitespace."""
    shown = set()
    for name in NOTEBOOKS:
        for cell in graded_cells(source_dir / name):
            visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
            shown |= {squash(line) for line in visible.splitlines()}
    return shown


def squash(text: str) -> str:
    """The text without any whitespace (to compare code regardless of layout)."""
    return re.sub(r"\s+", "", text)


def scratch_course(target: Path) -> Path:
    """A fresh copy of the course (config, sources, reference) at ``target``."""
    from assignment.instructor.demo import make_course

    make_course(target)
    return target


def nbgrader_env() -> dict[str, str]:
    """``assignment.instructor.demo.nbgrader_env()`` (the venv's bin/ first on PATH: nbgrader calls ``alembic``
    by bare name; no PYTHONPATH) without MYTORCH_GRADEBOOK_URL (a scratch course keeps its own
    SQLite gradebook)."""
    from assignment.instructor.demo import nbgrader_env as demo_env  # here: demo imports nbgrader.api, slow to load

    env = demo_env()
    env.pop(URL_VARIABLE, None)
    return env


@contextmanager
def gradebook_url(url: str | None):
    """MYTORCH_GRADEBOOK_URL set to ``url`` (or unset: the course's SQLite file) meanwhile."""
    old = os.environ.pop(URL_VARIABLE, None)
    if url:
        os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        os.environ.pop(URL_VARIABLE, None)
        if old is not None:
            os.environ[URL_VARIABLE] = old


def nbgrader(course: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the stock ``nbgrader ARGS`` command line in ``course`` and return its result."""
    return subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=course, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return target


_imported = iter(range(10**9))


def import_student_package(mytorch_dir: Path, scratch: Path):
    """Import a student's ``mytorch/`` folder under a fresh package name; return its (nn, optim).

    The files are copied to ``scratch`` with their ``mytorch`` imports renamed,
    so that several students (and the reference) can be loaded side by side.
    """
    import importlib

    package = f"student_mytorch_{next(_imported)}"
    target = scratch / package
    target.mkdir(parents=True)
    for path in mytorch_dir.glob("*.py"):
        text = re.sub(r"^(\s*)(from|import) mytorch\b", rf"\1\2 {package}", path.read_text(encoding="utf-8"), flags=re.M)
        (target / path.name).write_text(text, encoding="utf-8")
    if str(scratch) not in sys.path:
        sys.path.insert(0, str(scratch))
    importlib.invalidate_caches()
    return importlib.import_module(f"{package}.nn"), importlib.import_module(f"{package}.optim")


def evaluate(nn, optim, tc: TestCase) -> list[str]:
    """The problems test ``tc`` finds in the given modules, worded as run_test words them."""
    import copy

    from assignment.student.checks import student_error
    from assignment.shared.questions import question
    from assignment.shared.questions._compare import revealing

    q = question(tc.key)
    try:
        outputs = q.run(nn, optim, copy.deepcopy(tc.case))
    except Exception as error:
        return [student_error(error, q.INFO.method)]
    with revealing(not tc.hidden):
        return q.check(tc.case, outputs)


def built_once(tmp_path_factory, name: str, build) -> Path:
    """A folder that ``build(folder)`` fills once per test run, shared by all xdist workers.

    ``@pytest.mark.xdist_group`` sends a group's tests to one worker only under
    ``--dist loadgroup``; the Makefile runs ``--dist loadfile`` (each module on one
    worker, the groups ignored), so a folder that several modules need (the graded
    class of ``parallel_tools``), or any under ``--dist load``, may be wanted on
    several workers at once. The first worker to get here builds, under a file
    lock, in the run's shared temporary folder; the others wait and reuse the
    result. A failed build leaves no mark of success, so it is retried (and fails
    again, visibly) wherever it is needed.
    """
    import fcntl

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # shared by every worker of this run
    folder, done = base / name, base / f"{name}.done"
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            build(folder)
            done.write_text("built\n", encoding="utf-8")
    return folder
