"""The committed release is exactly what the build produces today, and it is safe to hand out.

``release/mlp/`` is committed so that students (and reviewers) get it from the
repository; this file regenerates it in a scratch copy of the course with the
stock ``nbgrader generate_assignment mlp`` and requires the committed one to be
identical, so the suite fails as soon as a source notebook or the reference
changes without ``make release``.

It also checks the release notebooks themselves: no solution or hidden-test
markers and no hidden test, every graded cell locked, three test cells
``<key>_1..3`` per question, test 1 visible with its expected answer.
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path

import nbformat
import pytest

from assignment.shared.questions import KEYS
from course_tools import (ASSIGNMENT, NOTEBOOKS, RELEASE, graded_cells, hidden_lines, nbgrader, run_test_calls,
                          scratch_course, squash, test_cases, visible_test_lines)

STALE = f"release/{ASSIGNMENT} is stale: run `make release` (nbgrader generate_assignment {ASSIGNMENT} --force) and commit it"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME", "END MARK SCHEME")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    course = scratch_course(tmp_path_factory.mktemp("fresh") / "course")
    result = nbgrader(course, "generate_assignment", ASSIGNMENT)
    assert result.returncode == 0, f"nbgrader generate_assignment failed:\n{(result.stdout + result.stderr)[-4000:]}"
    return course / "release" / ASSIGNMENT


@pytest.mark.slow
@pytest.mark.xdist_group("release_fresh")
def test_the_committed_release_is_what_generate_assignment_produces(fresh_release):
    committed, fresh = _files(RELEASE), _files(fresh_release)
    assert committed == fresh, f"{STALE}\nonly committed: {sorted(committed - fresh)}\nonly fresh: {sorted(fresh - committed)}"
    stale = []
    for name in sorted(fresh):
        ours, theirs = (RELEASE / name).read_bytes(), (fresh_release / name).read_bytes()
        if name.endswith(".ipynb"):
            if json.loads(ours) != json.loads(theirs):
                stale.append(name)
        elif ours != theirs:
            stale.append(name)
    assert not stale, f"{STALE}\ndiffering files: {', '.join(stale)}"


def _notebook(name: str):
    return nbformat.read(str(RELEASE / name), as_version=4)


@functools.cache
def _hidden_test_lines() -> frozenset[str]:
    """The hidden test lines (12+ characters, without whitespace) that no visible test also shows."""
    shown = "\n".join(visible_test_lines())
    return frozenset(line for line in map(squash, hidden_lines()) if len(line) >= 12 and line not in shown)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_marker_no_hidden_test_no_output(name):
    nb = _notebook(name)
    hidden = _hidden_test_lines()
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        for marker in MARKERS:
            assert marker not in cell.source, f"{name}: cell {grade_id} holds {marker!r}"
        text = squash(cell.source)
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{name}: cell {grade_id} holds hidden test lines {leaked}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}: cell {grade_id} has outputs"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_graded_cell_is_locked_and_scored(name):
    nb = _notebook(name)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded, f"{name} has no graded cell"
    for cell in graded:
        meta = cell.metadata.nbgrader
        assert cell.cell_type == "code" and meta.get("locked") is True, f"{name}: {meta.get('grade_id')} is not locked"
        assert meta.get("points", 0) > 0 and not meta.get("solution"), meta.get("grade_id")
        assert meta.get("checksum"), f"{name}: {meta.get('grade_id')} has no checksum (tampering would go unseen)"
    # Students write mytorch/*.py, never a notebook: no cell is theirs to edit.
    assert not [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def test_every_question_has_three_test_cells():
    grade_ids = {}
    for name in NOTEBOOKS:
        for cell in graded_cells(RELEASE / name):
            grade_ids[cell.metadata.nbgrader.grade_id] = (name, cell)
    expected = {f"{key}_{n}" for key in KEYS for n in (1, 2, 3)} | {"training_accuracy"}
    assert set(grade_ids) == expected
    assert grade_ids["training_accuracy"][0] == "04_training.ipynb"


def test_test_1_is_visible_with_its_expected_answer_and_tests_2_3_are_empty():
    source_cases = {tc.grade_id: tc for tc in test_cases()}
    for name in NOTEBOOKS:
        for cell in graded_cells(RELEASE / name):
            grade_id = cell.metadata.nbgrader.grade_id
            if grade_id not in source_cases:
                continue
            calls = run_test_calls(cell.source)
            if grade_id.endswith("_1"):
                assert len(calls) == 1, f"{grade_id}: test 1 must be visible"
                case = {kw.arg: ast.literal_eval(kw.value) for kw in calls[0].keywords}
                assert case == source_cases[grade_id].case, f"{grade_id}: differs from the source's test 1"
                assert {"expected", "activations", "grads"} & set(case), f"{grade_id} shows no expected answer"
            else:
                assert calls == [], f"{grade_id}: a hidden test is visible in the release"
                assert "hidden until grading" in cell.source
