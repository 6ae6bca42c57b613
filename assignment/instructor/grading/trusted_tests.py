"""The tests of an assignment, read from the gradebook (never from a student's notebook).

At ``nbgrader generate_assignment``, nbgrader stores the source of every locked
cell of the source notebooks in the gradebook (its ``SourceCell`` table), hidden
tests included. Autograde reads each graded code cell's test call from there, so
a student who edits or deletes a test cell changes nothing.

nbgrader's own accessors (``Gradebook.find_source_cell``) cost one query, and
more for the lazy relationships, per cell; reading one assignment's 40 test
cells that way, for each of its notebooks and each student, was a third of the
writing time of a class (cProfile). Here one query per call reads them all.
"""

from __future__ import annotations

from nbgrader.api import Assignment, Gradebook, GradeCell, MissingEntry, Notebook, SourceCell
from sqlalchemy import and_

from assignment.instructor.grading.cases import CaseError, TestCall, parse_test_call

Tests = dict[str, "TestCall | Exception"]  # grade_id -> the parsed test call, or why it could not be read


def read_tests(gb: Gradebook, assignment: str) -> dict[str, Tests]:
    """Every graded code cell's test call of ``assignment``, by notebook.

    Args:
        gb: an open gradebook.
        assignment: the assignment's name.

    Returns:
        notebook name -> grade_id -> the parsed test call, or the error met reading it
        (a ``MissingEntry`` when the gradebook has no source for that cell, a ``CaseError``
        when its source holds no readable test call). Empty for an unknown assignment.
    """
    rows = (gb.db.query(Notebook.name, GradeCell.name, SourceCell.source)
            .join(Assignment, Assignment.id == Notebook.assignment_id)
            .join(GradeCell, GradeCell.notebook_id == Notebook.id)
            .outerjoin(SourceCell, and_(SourceCell.notebook_id == Notebook.id, SourceCell.name == GradeCell.name))
            .filter(Assignment.name == assignment, GradeCell.cell_type == "code")
            .order_by(Notebook.name, GradeCell.name)
            .all())
    tests: dict[str, Tests] = {}
    for notebook, grade_id, source in rows:
        of_notebook = tests.setdefault(notebook, {})
        if source is None:
            of_notebook[grade_id] = MissingEntry(f"No such source cell: {assignment}/{notebook}/{grade_id}")
            continue
        try:
            of_notebook[grade_id] = parse_test_call(source)
        except CaseError as error:
            of_notebook[grade_id] = error
    return tests


def tests_of(gb: Gradebook, notebook, assignment: str) -> Tests:
    """The test calls of one gradebook notebook (``read_tests`` for that notebook alone)."""
    return read_tests(gb, assignment).get(notebook.name, {})
