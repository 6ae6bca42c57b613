"""Time limits derived from the reference's own times, and what a looping submission costs.

Before: a flat 20 s per test, and a batch of n tests had n x 20 s, so one
``while True`` in ReLU.forward cost about 220 s of wall time for its whole
autograde (258.7 s against 60.7 s for an honest student, measured side by
side on this loaded 2-core machine). Now ``generate_assignment`` measures the
reference, each test gets 20x the slowest reference test (at least 2 s) of CPU
time from its own start (and at most twice that of wall time), the training
check 4x the reference's (at least 4 s), and the tests after a timed-out one
run at once.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from assignment.demo import collect, make_course, run_nbgrader
from assignment.gradebook_table import grade_table
from assignment.grading import timing
import hostile_submissions as hs
from course_tools import ASSIGNMENT, EXAMPLES


def _write(course: Path, data: object) -> None:
    path = course / timing.TIMINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_limits_follow_the_reference_times_below_the_configured_ceiling(tmp_path):
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (20.0, 120.0)  # nothing measured: the configured ones
    _write(tmp_path, {"mlp": {"01_forward": {"linear_forward_1": {"kind": "question", "seconds": 0.004},
                                             "relu_forward_2": {"kind": "question", "seconds": 0.3}},
                              "04_training": {"training_accuracy": {"kind": "training", "seconds": 0.8}}}})
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (6.0, 4.0)  # 20 x 0.3 s; max(4 s, 4 x 0.8 s)
    assert timing.derived_limits(tmp_path, 3.0, 3.5) == (3.0, 3.5)  # never above the configuration
    _write(tmp_path, {"mlp": {"01_forward": {"a": {"kind": "question", "seconds": 0.001}}}})
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (timing.MIN_TEST_SECONDS, 120.0)


def test_malformed_or_linked_timings_are_ignored(tmp_path):
    _write(tmp_path, {"mlp": {"01": {"x": {"kind": "question", "seconds": "soon"}, "y": None}}, "z": 3})
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (20.0, 120.0)
    (tmp_path / timing.TIMINGS_FILE).write_text("{not json", encoding="utf-8")
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (20.0, 120.0)
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps({"mlp": {"n": {"t": {"kind": "question", "seconds": 0.001}}}}), encoding="utf-8")
    (tmp_path / timing.TIMINGS_FILE).unlink()
    (tmp_path / timing.TIMINGS_FILE).symlink_to(real)
    assert timing.derived_limits(tmp_path, 20.0, 120.0) == (20.0, 120.0)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = tmp_path_factory.mktemp("timing") / "course"
    make_course(course)
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    collect(course, EXAMPLES, ["ada_correct"])
    for name, build in (("loop_relu_forward", hs.loop_relu_forward), ("loop_at_import", hs.loop_at_import)):
        submission = course / "submitted" / name / ASSIGNMENT
        shutil.copytree(course / "release" / ASSIGNMENT, submission)
        shutil.rmtree(submission / "mytorch")
        shutil.copytree(hs.ADA, submission / "mytorch")
        (submission / "timestamp.txt").write_text("2026-11-29 09:00:00.000000 UTC\n", encoding="utf-8")
        build(hs.Context(course, submission, 1, 1))
    return course


@pytest.mark.slow
def test_generate_assignment_records_every_reference_test(course):
    recorded = timing.read_timings(course)[ASSIGNMENT]
    assert set(recorded) == {"01_forward", "02_backward", "03_step", "04_training"}
    tests = {g: e for notebook in recorded.values() for g, e in notebook.items()}
    assert len(tests) == 28 and tests["training_accuracy"]["kind"] == "training"
    assert all(0 <= e["seconds"] < 10 for e in tests.values())
    assert not (course / "release" / ASSIGNMENT / timing.TIMINGS_FILE.name).exists()
    assert not list((course / "source").rglob(timing.TIMINGS_FILE.name))


@pytest.mark.slow
def test_a_looping_submission_costs_a_few_limits_not_minutes(course):
    wall, training_wall = timing.derived_limits(course, 20.0, 120.0)
    assert wall < 20.0 and training_wall < 120.0
    seconds = {}
    for student in ("ada_correct", "loop_relu_forward", "loop_at_import"):
        started = time.perf_counter()
        run_nbgrader(course, "autograde", ASSIGNMENT, "--student", student)
        seconds[student] = time.perf_counter() - started
    print(f"\nlimits {wall:g} s per test, {training_wall:g} s training; autograde wall time: "
          + ", ".join(f"{s} {t:.1f} s" for s, t in seconds.items()))
    table = grade_table(course, ASSIGNMENT)
    assert {k: s for k, (s, _) in table["ada_correct"].items()} == hs.scores()
    assert {k: s for k, (s, _) in table["loop_relu_forward"].items()} == hs.scores("relu_forward", "training_accuracy")
    # ReLU.forward loops: its first test times out, its other two then time out at once, and so
    # does the training check; the rest is graded as for the honest student. (Before: ~200 s more.)
    # The allowances are CPU time: on a loaded machine a loop's wall time may reach WALL_PER_CPU times it.
    extra = seconds["loop_relu_forward"] - seconds["ada_correct"]
    assert extra < timing.WALL_PER_CPU * (2 * wall + training_wall) + 10, seconds
    assert seconds["loop_at_import"] < seconds["ada_correct"] + timing.WALL_PER_CPU * wall + 10, seconds
