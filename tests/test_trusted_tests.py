"""The tests autograde runs come from the gradebook, read in one query, exactly as nbgrader's own
accessors would read them cell by cell."""

from __future__ import annotations

import pytest
from nbgrader.api import Gradebook, MissingEntry, SourceCell

from assignment.instructor.grading import cases, trusted_tests
from assignment.instructor.grading.cases import CaseError, parse_test_call
from assignment.instructor.grading.trusted_tests import read_tests
from course_tools import ASSIGNMENT, nbgrader, scratch_course


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = scratch_course(tmp_path_factory.mktemp("trusted") / "course")
    result = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    return course


def url(course) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


def one_by_one(gb: Gradebook) -> dict[str, dict[str, object]]:
    """What nbgrader's own accessors give, one source cell at a time."""
    tests = {}
    for notebook in gb.find_assignment(ASSIGNMENT).notebooks:
        for cell in notebook.grade_cells:
            if cell.cell_type == "code":
                source = gb.find_source_cell(cell.name, notebook.name, ASSIGNMENT).source
                tests.setdefault(notebook.name, {})[cell.name] = parse_test_call(source)
    return tests


def test_one_query_reads_what_nbgrader_reads_cell_by_cell(course):
    with Gradebook(url(course)) as gb:
        fast, slow = read_tests(gb, ASSIGNMENT), one_by_one(gb)
        assert fast == slow
        notebook = gb.find_notebook("03_step", ASSIGNMENT)
        assert trusted_tests.tests_of(gb, notebook, ASSIGNMENT) == slow["03_step"]
    assert sorted(fast) == ["01_forward", "02_backward", "03_step", "04_training"]
    calls = [call for of_notebook in fast.values() for call in of_notebook.values()]
    assert all(isinstance(call, cases.TestCall) for call in calls)
    assert len(calls) == 9 * 3 + 1  # three tests per question and the training check
    hidden = [call for call in calls if call.number > 1]
    assert hidden and all(call.case for call in hidden)  # the hidden tests' cases, from the gradebook


def test_an_unknown_assignment_has_no_tests(course):
    with Gradebook(url(course)) as gb:
        assert read_tests(gb, "no_such_assignment") == {}


def test_a_missing_or_unreadable_source_cell_is_reported_for_that_cell_only(course, tmp_path):
    copy = tmp_path / "gradebook.db"
    copy.write_bytes((course / "gradebook.db").read_bytes())
    with Gradebook(f"sqlite:///{copy}") as gb:
        gone = gb.find_source_cell("relu_forward_2", "01_forward", ASSIGNMENT)
        gb.db.delete(gone)
        broken = gb.find_source_cell("sgd_step_3", "03_step", ASSIGNMENT)
        broken.source = "run_test('sgd_step', 3, lr=0.1"  # not Python
        gb.db.commit()
        assert gb.db.query(SourceCell).filter(SourceCell.name == "relu_forward_2").count() == 0
        tests = read_tests(gb, ASSIGNMENT)
    assert isinstance(tests["01_forward"]["relu_forward_2"], MissingEntry)
    assert isinstance(tests["03_step"]["sgd_step_3"], CaseError)
    assert "not valid Python" in str(tests["03_step"]["sgd_step_3"])
    others = [call for of_notebook in tests.values() for grade_id, call in of_notebook.items()
              if grade_id not in ("relu_forward_2", "sgd_step_3")]
    assert len(others) == 26 and all(isinstance(call, cases.TestCall) for call in others)
