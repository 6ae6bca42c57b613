"""``python -m assignment autograde mlp --jobs 2`` gives exactly the serial grades, once each.

A mixed class (each example student under two ids, an endless loop in
``ReLU.forward``, ``os._exit(0)`` at import; 3 s per test) is graded by the stock
``nbgrader autograde mlp`` in one scratch course and by the parallel command in
an identical one (once per test run, ``parallel_tools.graded_class``). Then:

- the two gradebooks agree on every grade cell of every student;
- each grade is in the gradebook once (row counts: one submission per student,
  one notebook row per notebook, one grade row per graded cell);
- ``--student`` grades those students only: the others' autograded notebooks
  and grades are not touched;
- a re-run gives the same grades and runs no sandbox (the verdict cache);
- a student whose grading raises inside the sandbox phase is retried, or, if it
  raises again, graded by nbgrader autograde itself: never lost, and a warning
  says so.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

import parallel_tools as pt
from parallel_tools import ASSIGNMENT, EXAMPLE_TOTALS, GRADES, PLAN


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("parallel")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    return pt.graded_class(tmp_path_factory)


@pytest.fixture()
def course_copy(graded, tmp_path):
    """A private copy of the parallel course (gradebook, autograded notebooks, verdict cache)."""
    return shutil.copytree(graded / "parallel", tmp_path / "course")


def test_parallel_grades_equal_serial_grades_cell_by_cell(graded):
    serial = pt.grade_rows(pt.sqlite_url(graded / "serial"))
    parallel = pt.grade_rows(pt.sqlite_url(graded / "parallel"))
    assert len(serial) == len(PLAN) * GRADES  # every graded cell of every student
    assert parallel == serial
    totals = pt.totals(pt.sqlite_url(graded / "parallel"))
    for student, kind in PLAN:
        if kind in EXAMPLE_TOTALS:
            assert totals[student] == EXAMPLE_TOTALS[kind], student
    assert totals["fay_import_exit"] == 0.0
    assert 0.0 < totals["eve_relu_loop"] < 30.0


def test_the_hostile_students_failures_say_why(graded):
    import nbformat

    outputs = []
    for path in sorted((graded / "parallel" / "autograded" / "eve_relu_loop" / ASSIGNMENT).glob("*.ipynb")):
        for cell in nbformat.read(str(path), as_version=4).cells:
            outputs += [o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stderr"]
    assert any("did not finish within" in text and "endless loop" in text for text in outputs)


def test_each_grade_lands_exactly_once(graded):
    for name in ("serial", "parallel"):
        counts = pt.row_counts(pt.sqlite_url(graded / name))
        assert counts == {"grade": len(PLAN) * GRADES, "submitted_notebook": len(PLAN) * 4,
                          "submitted_assignment": len(PLAN)}, name
    log = (graded / "parallel" / "logs" / "autograde.log").read_text(encoding="utf-8")
    for student, _ in PLAN:  # each student is given to exactly one nbgrader writer
        assert sum(student in line.split(": ", 1)[-1].split(", ") for line in log.splitlines()
                   if line.startswith("=== nbgrader")) == 1, student


def test_student_option_grades_only_those_students(course_copy, graded):
    # ben hands in ada's correct work again: only ben's grades may change.
    submitted = course_copy / "submitted" / "ben_1" / ASSIGNMENT / "mytorch"
    shutil.rmtree(submitted)
    shutil.copytree(graded / "submissions" / "ada_1" / ASSIGNMENT / "mytorch", submitted)
    before = pt.grade_rows(pt.sqlite_url(course_copy))
    autograded = course_copy / "autograded"
    stamps = {p: p.stat().st_mtime_ns for p in autograded.rglob("*.ipynb")}
    time.sleep(0.05)

    result = pt.parallel_command(course_copy, "--student", "ben_1", "--student", "dee_1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "graded 2 submissions" in result.stdout

    after = pt.grade_rows(pt.sqlite_url(course_copy))
    assert pt.row_counts(pt.sqlite_url(course_copy))["grade"] == len(PLAN) * GRADES
    for key, value in before.items():
        if key[0] not in ("ben_1", "dee_1"):
            assert after[key] == value, key
        if key[0] == "dee_1":
            assert after[key] == value, key  # regraded, same work, same grade
    assert pt.totals(pt.sqlite_url(course_copy))["ben_1"] == 30.0
    for path, stamp in stamps.items():
        student = path.relative_to(autograded).parts[0]
        changed = not path.exists() or path.stat().st_mtime_ns != stamp
        assert changed == (student in ("ben_1", "dee_1")), path

    unknown = pt.parallel_command(course_copy, "--student", "nobody")
    assert unknown.returncode == 2 and "nobody" in unknown.stderr


def test_rerun_is_idempotent_and_its_sandbox_phase_runs_no_sandbox(course_copy, graded, monkeypatch, capsys):
    from assignment.instructor import parallel
    from assignment.instructor.grading import grader

    runs = []
    real = grader.Sandbox
    monkeypatch.setattr(grader, "Sandbox", lambda *a, **k: runs.append(a) or real(*a, **k))
    monkeypatch.delenv(pt.URL_VARIABLE, raising=False)
    started = time.perf_counter()
    assert parallel.autograde(course_copy, ASSIGNMENT, 2) == 0
    seconds = time.perf_counter() - started
    out = capsys.readouterr().out
    assert runs == []  # every verdict came from the cache
    sandbox_seconds = float(out.split(" s in sandboxes")[0].rsplit(": ", 1)[-1])
    assert sandbox_seconds < 5.0, out
    assert pt.grade_rows(pt.sqlite_url(course_copy)) == pt.grade_rows(pt.sqlite_url(graded / "serial"))
    assert pt.row_counts(pt.sqlite_url(course_copy))["grade"] == len(PLAN) * GRADES
    print(f"re-run: {seconds:.1f} s, of which {sandbox_seconds:.1f} s in the sandbox phase", file=sys.stderr)


def test_the_grading_code_digest_parses_under_the_parse_lock_once(monkeypatch):
    """Two threads must not run ast.parse at once on CPython 3.11 (python/cpython#106905): the digest,
    computed in the probe's thread while the sandbox threads parse submissions, takes the same lock,
    and a second caller gets the first's answer."""
    import threading

    from assignment.instructor import parallel
    from assignment.instructor.grading import contract

    calls = []

    def digest() -> str:
        calls.append(parallel._PARSE_LOCK.locked())
        return "d1g35t"

    monkeypatch.setattr(contract, "verdict_digest", digest)
    monkeypatch.setattr(parallel, "_DIGEST", [])
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(parallel.grading_code_digest())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [True] and answers == ["d1g35t"] * 4


def test_no_student_is_lost_while_writers_are_being_chosen(course_copy, graded, monkeypatch, capsys):
    """Every verdict is cached, so the sandbox threads hand students over faster than the loop
    gives them to writers; choosing a writer is made slow (50 ms per look at a writer), so that
    students arrive while the loop is choosing. Each must still be written, once."""
    from assignment.instructor import parallel

    def slow_alive(writer) -> bool:
        time.sleep(0.05)
        return writer.process.poll() is None

    monkeypatch.setattr(parallel.Writer, "alive", property(slow_alive))
    monkeypatch.delenv(pt.URL_VARIABLE, raising=False)
    assert parallel.autograde(course_copy, ASSIGNMENT, 2) == 0, capsys.readouterr()
    assert f"graded {len(PLAN)} submissions" in capsys.readouterr().out
    assert pt.grade_rows(pt.sqlite_url(course_copy)) == pt.grade_rows(pt.sqlite_url(graded / "serial"))
    log = (course_copy / "logs" / "autograde.log").read_text(encoding="utf-8")
    for student, _ in PLAN:
        assert sum(student in line.split(": ", 1)[-1].split(", ") for line in log.splitlines()
                   if line.startswith("=== nbgrader")) == 1, student


def test_a_worker_that_dies_is_retried_or_left_to_nbgrader(course_copy, graded, monkeypatch, capsys):
    from assignment.instructor import parallel

    # New work for two students, so that no cached verdict can stand in for theirs.
    for student, source in (("ada_2", "cy_1"), ("dee_1", "ada_1")):
        target = course_copy / "submitted" / student / ASSIGNMENT / "mytorch"
        shutil.rmtree(target)
        shutil.copytree(graded / "submissions" / source / ASSIGNMENT / "mytorch", target)
        nn = target / "nn.py"
        nn.write_text(nn.read_text(encoding="utf-8") + f"\n# {student} resubmitted\n", encoding="utf-8")

    real = parallel.grade_student
    calls: dict[str, int] = {}

    def flaky(course, assignment, student, *args, **kwargs):
        calls[student] = calls.get(student, 0) + 1
        if student == "ada_2" and calls[student] == 1:
            raise RuntimeError("worker died (simulated)")
        if student == "dee_1":
            raise OSError("worker died every time (simulated)")
        return real(course, assignment, student, *args, **kwargs)

    monkeypatch.setattr(parallel, "grade_student", flaky)
    monkeypatch.delenv(pt.URL_VARIABLE, raising=False)
    assert parallel.autograde(course_copy, ASSIGNMENT, 2, students=["ada_2", "dee_1", "ben_1"]) == 0
    captured = capsys.readouterr()
    assert calls == {"ada_2": 2, "dee_1": 2, "ben_1": 1}
    assert "warning: grading ada_2 in the sandboxes failed (RuntimeError: worker died (simulated)); retrying" \
        in captured.err
    assert "warning: dee_1 could not be graded in parallel" in captured.err
    assert "nbgrader autograde grades them itself" in captured.err

    totals = pt.totals(pt.sqlite_url(course_copy))
    assert totals["ada_2"] == EXAMPLE_TOTALS["cy_buggy"]  # retried in the sandbox phase
    assert totals["dee_1"] == EXAMPLE_TOTALS["ada_correct"]  # graded by nbgrader autograde itself
    assert totals["ben_1"] == 0.0
    assert pt.row_counts(pt.sqlite_url(course_copy))["grade"] == len(PLAN) * GRADES
