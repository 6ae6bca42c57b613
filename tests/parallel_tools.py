"""Helpers of the whole-class grading tests (not a test module itself).

- ``bench()``: ``bench/autograde.py`` as a module (its synthetic class and its
  throwaway PostgreSQL server are shared with the tests);
- ``graded_class()``: once per test run, a mixed class graded twice, serially
  by ``nbgrader autograde`` and by ``python -m assignment autograde --jobs 2``,
  each in its own scratch course;
- ``grade_rows()``: every grade cell's scores of a gradebook; ``GRADES``: how many per submission.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

# ASSIGNMENT and gradebook_url are also the tests' (pt.ASSIGNMENT, pt.gradebook_url).
from course_tools import ASSIGNMENT, ROOT, URL_VARIABLE, built_once, gradebook_url, nbgrader_env

BENCH = ROOT / "bench" / "autograde.py"
TIMEOUT = 3  # seconds per test: the hostile students' loops end quickly
TRAINING_TIMEOUT = 8
LIMITS = f"c.GradeInSandbox.timeout = {TIMEOUT}\nc.GradeInSandbox.training_timeout = {TRAINING_TIMEOUT}\n"

# The class: each example under two ids, and two hostile students.
PLAN = [
    ("ada_1", "ada_correct"), ("ben_1", "ben_untouched"), ("cy_1", "cy_buggy"), ("dee_1", "dee_forward_only"),
    ("ada_2", "ada_correct"), ("cy_2", "cy_buggy"),
    ("eve_relu_loop", "relu_loop"), ("fay_import_exit", "import_exit"),
]
EXAMPLE_TOTALS = {"ada_correct": 30.0, "ben_untouched": 0.0, "cy_buggy": 21.0, "dee_forward_only": 12.0}


def _grade_rows() -> int:
    """The gradebook's grade rows per submission: one per graded test cell and one per comment task cell
    (a 0-point manually graded cell per question and the training check) of the release."""
    import nbformat

    from course_tools import RELEASE

    cells = [cell for path in sorted(RELEASE.glob("*.ipynb")) for cell in nbformat.read(str(path), 4).cells]
    return sum(bool(cell.metadata.get("nbgrader", {}).get("grade") or cell.metadata.get("nbgrader", {}).get("task"))
               for cell in cells)


GRADES = _grade_rows()  # per submission: 28 tests and 10 comment cells


def bench():
    """bench/autograde.py, imported once."""
    name = "bench_autograde"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def env(url: str | None = None) -> dict[str, str]:
    """The environment of a command: the venv first on PATH, no PYTHONPATH, the gradebook URL if any."""
    result = nbgrader_env()
    if url:
        result[URL_VARIABLE] = url
    return result


def generated_course(folder: Path, url: str | None = None) -> Path:
    """A scratch course with the short limits appended to its config and ``mlp`` generated."""
    from assignment.instructor.demo import make_course, run_nbgrader

    make_course(folder)
    with open(folder / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write("\n# tests: short limits\n" + LIMITS)
    with gradebook_url(url):
        run_nbgrader(folder, "generate_assignment", ASSIGNMENT, "--force")
    return folder


def parallel_command(course: Path, *args: str, url: str | None = None, jobs: int = 2,
                     timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m assignment autograde mlp --jobs N --course COURSE ARGS``."""
    return subprocess.run([sys.executable, "-m", "assignment", "autograde", ASSIGNMENT, "--jobs", str(jobs),
                           "--course", str(course), *args], cwd=ROOT, env=env(url), capture_output=True,
                          text=True, timeout=timeout)


def serial_command(course: Path, url: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], cwd=course,
                          env=env(url), capture_output=True, text=True, timeout=timeout)


def _build(folder: Path) -> None:
    from assignment.instructor.demo import collect

    submissions = bench().make_class(folder / "submissions", PLAN)
    base = generated_course(folder / "base")
    for name in ("serial", "parallel"):
        shutil.copytree(base, folder / name)
        collect(folder / name, submissions)
    result = serial_command(folder / "serial")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    result = parallel_command(folder / "parallel")
    (folder / "parallel.out").write_text(result.stdout + result.stderr, encoding="utf-8")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def graded_class(tmp_path_factory) -> Path:
    """``base/`` (generated, nothing collected), ``serial/`` and ``parallel/`` (the class graded
    each way), ``submissions/`` and ``parallel.out``: built once per test run."""
    with gradebook_url(None):
        return built_once(tmp_path_factory, "parallel_class", _build)


def grade_rows(db_url: str) -> dict[tuple[str, str, str], tuple]:
    """(student, notebook, grade cell) -> (auto score, manual score, max score), every grade of ``mlp``."""
    from nbgrader.api import Gradebook

    rows = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    rows[(submission.student.id, notebook.name, grade.name)] = (
                        grade.auto_score, grade.manual_score, grade.max_score)
    return rows


def sqlite_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def row_counts(db_url: str) -> dict[str, int]:
    """Rows of nbgrader's grade, submitted_notebook and submitted_assignment tables."""
    from nbgrader.api import Gradebook, Grade, SubmittedAssignment, SubmittedNotebook

    with Gradebook(db_url) as gb:
        return {"grade": gb.db.query(Grade).count(),
                "submitted_notebook": gb.db.query(SubmittedNotebook).count(),
                "submitted_assignment": gb.db.query(SubmittedAssignment).count()}


def totals(db_url: str) -> dict[str, float]:
    rows = grade_rows(db_url)
    result: dict[str, float] = {}
    for (student, _, _), (auto, manual, _) in rows.items():
        result[student] = result.get(student, 0.0) + float(manual if manual is not None else auto or 0.0)
    return result
