"""``python -m assignment autograde ASSIGNMENT --jobs N``: grade a whole class in parallel.

Stock ``nbgrader autograde`` grades one submission after another. This
command first runs every student's tests in the sandbox, ``--jobs``
submissions at a time, storing each verdict in a cache keyed by everything
it depends on (the test, the student's files, the limits). Then it runs the
stock ``nbgrader autograde`` once, which finds every verdict in the cache
and writes the grades, as a serial run would, through nbgrader's own
pipeline. So the scores are exactly the serial scores, each grade lands in
the gradebook once (only nbgrader writes it), a verdict that could not be
computed in parallel is simply computed by the serial pass, and a re-run
re-grades nothing that did not change.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from assignment.grading.cases import CaseError, parse_test_call
from assignment.grading.grader import VerdictCache, grade_submission
from assignment.grading.policy import read_submission, write_package
from assignment.grading.sandbox import Limits, bwrap_available

CACHE_FOLDER = ".grading_cache"


def load_coursedir(course: Path) -> CourseDirectory:
    """The course's CourseDirectory, configured by its nbgrader_config.py."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course)
    return coursedir


def limits_from(config) -> tuple[Limits, Limits]:
    """The per-test and training limits that GradeInSandbox will use (same config, same cache keys)."""
    section = config.get("GradeInSandbox", {})
    timeout = float(section.get("timeout", 20.0))
    training = float(section.get("training_timeout", 120.0))
    memory = int(section.get("memory_mib", 1536)) * 2**20
    return (Limits(wall_seconds=timeout, cpu_seconds=int(timeout) + 1, memory_bytes=memory),
            Limits(wall_seconds=training, cpu_seconds=int(training) + 1, memory_bytes=memory))


def trusted_tests(db_url: str, assignment: str) -> dict[str, dict]:
    """notebook -> {grade_id -> test call (or the error met reading it)}, from the gradebook."""
    tests: dict[str, dict] = {}
    with Gradebook(db_url) as gb:
        for notebook in gb.find_assignment(assignment).notebooks:
            cells = tests.setdefault(notebook.name, {})
            for grade_cell in notebook.grade_cells:
                if grade_cell.cell_type != "code":
                    continue
                try:
                    source = gb.find_source_cell(grade_cell.name, notebook.name, assignment).source
                    cells[grade_cell.name] = parse_test_call(source)
                except (MissingEntry, CaseError) as error:
                    cells[grade_cell.name] = error
    return tests


def submitted_students(coursedir: CourseDirectory, assignment: str) -> list[str]:
    root = Path(coursedir.root) / coursedir.submitted_directory
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())


def precompute(course: Path, assignment: str, students: list[str], jobs: int, cache: VerdictCache,
               limits: Limits, training_limits: Limits, tests: dict[str, dict]) -> dict[str, str]:
    """Fill the verdict cache for ``students``, ``jobs`` submissions at a time.

    Returns:
        student -> why their verdicts could not be precomputed (the serial pass will grade them).
    """
    from tqdm import tqdm

    all_tests = {grade_id: call for cells in tests.values() for grade_id, call in cells.items()}
    failures: dict[str, str] = {}

    def grade(student: str) -> None:
        submission = read_submission(course / "submitted" / student / assignment)
        with tempfile.TemporaryDirectory(prefix="mytorch-submission-") as copy:
            write_package(submission, Path(copy))
            grade_submission(all_tests, submission, Path(copy), limits=limits, training_limits=training_limits,
                             jobs=1, cache=cache)

    with ThreadPoolExecutor(max_workers=jobs) as pool, \
            tqdm(total=len(students), unit="student", desc="grading in sandboxes", file=sys.stdout) as bar:
        futures = {pool.submit(grade, student): student for student in students}
        for future in as_completed(futures):
            student = futures[future]
            try:
                future.result()
            except Exception as first:  # a worker that dies is retried once, then left to the serial pass
                try:
                    grade(student)
                except Exception as second:
                    failures[student] = f"{type(second).__name__}: {second} (first try: {first})"
            bar.update()
    return failures


def autograde(course: Path, assignment: str, jobs: int, students: list[str] | None = None) -> int:
    """Grade ``assignment`` for every submitted student (or ``students``); return nbgrader's exit code."""
    from assignment.demo import run_nbgrader

    why_not = bwrap_available()
    if why_not:
        print(f"cannot grade: {why_not}", file=sys.stderr)
        return 2
    coursedir = load_coursedir(course)
    available = submitted_students(coursedir, assignment)
    chosen = available if not students else [s for s in available if s in set(students)]
    unknown = sorted(set(students or []) - set(available))
    if unknown:
        print(f"no submission of {assignment!r} for: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not chosen:
        print(f"no submissions of {assignment!r} to grade in {course / 'submitted'}", file=sys.stderr)
        return 2
    limits, training_limits = limits_from(coursedir.config)
    cache_dir = course / CACHE_FOLDER / assignment
    cache = VerdictCache(cache_dir)
    started = time.perf_counter()
    tests = trusted_tests(coursedir.db_url, assignment)
    failures = precompute(course, assignment, chosen, jobs, cache, limits, training_limits, tests)
    for student, why in failures.items():
        print(f"warning: {student} could not be graded in parallel ({why}); the serial pass grades them",
              file=sys.stderr)
    middle = time.perf_counter()
    args = ["autograde", assignment, "--force", f"--GradeInSandbox.cache_dir={cache_dir}"]
    if students:
        others = sorted(set(available) - set(chosen))
        if others:
            args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
    result = run_nbgrader(course, *args, check=False)
    print(f"graded {len(chosen)} submissions: {middle - started:.1f} s in sandboxes ({jobs} at a time), "
          f"{time.perf_counter() - middle:.1f} s writing grades with nbgrader autograde")
    return result.returncode
