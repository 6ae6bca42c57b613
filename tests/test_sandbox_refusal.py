"""When no sandbox can run, autograde refuses before it touches anything, and says so in one line.

nbgrader's autograde removes a student's previous ``autograded/<student>/<assignment>``
early (with ``--force``, before converting anything); a failure after that
point loses the earlier results. The course's autograde exporter checks the
sandbox when it is built, which nbgrader does before any submission is looked
at. Here the backend is forced to bubblewrap inside a simulated Docker container
(where bubblewrap cannot create namespaces): the stock command and formgrader's
API must both refuse, with the one line, and leave the previous results intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from assignment.instructor.demo import collect, make_course, nbgrader_env, run_nbgrader
from course_tools import ASSIGNMENT, EXAMPLES

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the simulated container needs root")]
LINE = "refusing to grade: no sandbox can run here (bubblewrap cannot create a sandbox here"


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("refusal") / "course"
    make_course(course)
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    collect(course, EXAMPLES, ["ada_correct"])
    run_nbgrader(course, "autograde", ASSIGNMENT)
    assert (course / "autograded" / "ada_correct" / ASSIGNMENT / "01_forward.ipynb").is_file()
    return course


def test_autograde_refuses_in_one_line_and_keeps_previous_results(graded_course):
    from container_sim import run_in_simulated_container

    autograded = graded_course / "autograded" / "ada_correct" / ASSIGNMENT
    before = _digests(autograded)
    gradebook = (graded_course / "gradebook.db").read_bytes()
    done = run_in_simulated_container(
        [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force", "--GradeInSandbox.backend=bubblewrap"],
        nbgrader_env(), graded_course, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    lines = [line for line in output.splitlines() if LINE in line]
    assert len(lines) == 1, output
    assert "ERROR" in lines[0] and "previous results are untouched" in lines[0]
    assert "Removing existing" not in output  # nbgrader never reached the removal
    assert _digests(autograded) == before
    assert (graded_course / "gradebook.db").read_bytes() == gradebook


def test_formgrader_shows_the_line(graded_course):
    """Formgrader's Autograde button calls NbGraderAPI.autograde and shows its log and error."""
    from container_sim import run_in_simulated_container

    script = (
        "import json, sys\n"
        "from traitlets.config.loader import PyFileConfigLoader\n"
        "from nbgrader.apps.api import NbGraderAPI\n"
        "from nbgrader.coursedir import CourseDirectory\n"
        "config = PyFileConfigLoader('nbgrader_config.py', path='.').load_config()\n"
        "config.GradeInSandbox.backend = 'bubblewrap'\n"
        "coursedir = CourseDirectory(config=config)\n"
        "api = NbGraderAPI(coursedir=coursedir, config=config)\n"
        f"print(json.dumps(api.autograde({ASSIGNMENT!r}, 'ada_correct')))\n")
    autograded = graded_course / "autograded" / "ada_correct" / ASSIGNMENT
    before = _digests(autograded)
    done = run_in_simulated_container([sys.executable, "-c", script], nbgrader_env(), graded_course, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["success"] is False
    assert LINE in result["log"] and LINE in result["error"].strip().splitlines()[-1]
    assert _digests(autograded) == before


def test_the_log_names_the_backend_when_grading_runs(graded_course):
    result = run_nbgrader(graded_course, "autograde", ASSIGNMENT, "--force", "--student", "ada_correct")
    assert "grading sandbox: bubblewrap (bubblewrap can create user namespaces here)" in result.stdout + result.stderr
