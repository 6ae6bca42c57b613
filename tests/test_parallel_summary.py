"""The parallel command's last line tells the truth about what it graded.

A class of three is graded by ``python -m assignment autograde mlp --jobs 2``:
ada hands in the reference solution; ben hands in his ``mytorch/`` but no
notebook (nbgrader skips such a submission with a mere warning); zed's
``timestamp.txt`` is not a time (nbgrader 0.9.6 raises on it, logs the
error, removes zed's autograded folder and goes on). Only ada is graded, so
the command must say "graded 1 of 3", end on a line naming ben and zed with
the reason of each, and exit non-zero; ada's grades are in the gradebook all
the same.
"""

from __future__ import annotations

import shutil

import pytest

import parallel_tools as pt
from course_tools import ADA, ASSIGNMENT, EXAMPLES

pytestmark = pytest.mark.slow


def test_failures_are_counted_and_named_on_the_last_line(tmp_path):
    from assignment.instructor.demo import collect

    course = pt.generated_course(tmp_path / "course")
    collect(course, EXAMPLES, students=["ada_correct"])
    for student, timestamp in (("ben_no_notebooks", "2026-11-29 09:00:00.000000 UTC"),
                               ("zed_bad_timestamp", "the night before the deadline")):
        target = course / "submitted" / student / ASSIGNMENT
        if student == "zed_bad_timestamp":
            shutil.copytree(course / "submitted" / "ada_correct" / ASSIGNMENT, target)
        else:
            shutil.copytree(ADA, target / "mytorch")
        (target / "timestamp.txt").write_text(timestamp + "\n", encoding="utf-8")

    result = pt.parallel_command(course)
    lines = result.stdout.strip().splitlines()
    assert result.returncode != 0, result.stdout[-3000:]
    assert any(line.startswith("graded 1 of 3 submissions in ") for line in lines), result.stdout[-3000:]
    last = lines[-1]
    assert last.startswith("FAILED: 2 of 3 submissions not graded: "), last
    assert "ben_no_notebooks (no notebooks in the submission: nbgrader skipped it)" in last
    assert "zed_bad_timestamp (nbgrader autograde raised an error while grading it)" in last
    assert "ada_correct" not in last
    assert str(course / "logs" / "autograde.log") in last
    assert pt.totals(pt.sqlite_url(course)) == {"ada_correct": 30.0}
