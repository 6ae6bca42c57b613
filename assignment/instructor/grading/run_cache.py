"""What one ``nbgrader autograde`` run reads once instead of once per notebook (or per cell).

nbgrader converts one notebook at a time, twice (sanitize, then autograde), and each
preprocessor asks the gradebook again for what the run cannot change: the source
notebook's cells (``OverwriteCells`` one query per cell, ``reader.reconciled`` twice
per notebook), the assignment's tests (``GradeInSandbox``, per notebook), a
student's files and verdicts (per notebook, though they are the student's, not the
notebook's), and each grade row (``SaveAutoGrades``: a query and a commit per cell).
A cProfile of the long-lived writer over 12 cached students put two thirds of its
time there (README.md, "The writing side").

A ``RunCache`` belongs to one autograde exporter, and the exporter to one converter,
that is, to one ``nbgrader autograde`` run: nothing here outlives the run. It is
made only where ``speed_up_a_command_line_run`` holds (an ``nbgrader`` command's own
process, or the long-lived writer), never in formgrader's server, and only with
``c.SandboxCheckedExporter.reuse_within_run`` (on by default). Without one, the
course's preprocessors here are nbgrader's, unchanged.

The source tables (cells, tests, points) are written by ``generate_assignment`` only;
a run that overlapped one would already mix old and new cells with nbgrader's own
per-cell queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from nbgrader.api import (Assignment, Comment, Grade, Gradebook, GradeCell, MissingEntry, Notebook, SolutionCell,
                          SourceCell, Student, SubmittedAssignment, SubmittedNotebook, TaskCell)
from nbgrader.preprocessors import OverwriteCells, SaveAutoGrades
from sqlalchemy import and_


@dataclass(frozen=True)
class NotebookCells:
    """A source notebook's nbgrader cells as the gradebook holds them (plain values, no session).

    Attributes:
        sources: grade_id -> the source cell (name, cell_type, locked, checksum, source), in the
            gradebook's order (the order ``Notebook.source_cells`` loads them in).
        points: grade cell name -> max score.
        solutions: solution cell names, in the gradebook's order.
        tasks: task cell name -> max score, in the gradebook's order.
        kernelspec: the source notebook's kernelspec (JSON text), as ``OverwriteKernelspec`` reads it.
    """

    sources: dict[str, SimpleNamespace]
    points: dict[str, float]
    solutions: list[str]
    tasks: dict[str, float]
    kernelspec: str | None

    @property
    def order(self) -> list[str]:
        """Every source cell's name, in the gradebook's order."""
        return list(self.sources)


def load_cells(gb: Gradebook, notebook: str, assignment: str) -> NotebookCells | None:
    """The cells of source notebook ``notebook`` of ``assignment``, one query per kind; None if unknown.

    Args:
        gb: an open gradebook.
        notebook: the notebook's name (no extension).
        assignment: the assignment's name.

    Returns:
        The cells as plain values, or None when the gradebook has no such notebook.
    """
    try:
        source_nb = gb.find_notebook(notebook, assignment)
    except MissingEntry:
        return None
    mine = source_nb.id
    # Columns, not objects: loading cells as objects cost a query per cell (their inherited
    # columns load lazily).
    rows = gb.db.query(SourceCell.name, SourceCell.cell_type, SourceCell.locked, SourceCell.checksum,
                       SourceCell.source).filter(SourceCell.notebook_id == mine).all()
    sources = {row.name: SimpleNamespace(name=row.name, cell_type=row.cell_type, locked=row.locked,
                                         checksum=row.checksum, source=row.source) for row in rows}
    points = {name: float(score) for name, score in
              gb.db.query(GradeCell.name, GradeCell.max_score).filter(GradeCell.notebook_id == mine)}
    solutions = [name for (name,) in gb.db.query(SolutionCell.name).filter(SolutionCell.notebook_id == mine)]
    tasks = {name: float(score) for name, score in
             gb.db.query(TaskCell.name, TaskCell.max_score).filter(TaskCell.notebook_id == mine)}
    return NotebookCells(sources=sources, points=points, solutions=solutions, tasks=tasks,
                         kernelspec=source_nb.kernelspec)


@dataclass
class StudentGrading:
    """One student's submission as read and graded at their first notebook of the run.

    Attributes:
        submission: the ``policy.Submission`` read from ``submitted/``.
        verdicts: grade_id -> verdict, every test of the assignment.
        parsed: the submission's files as ``graded_code.show_graded_code`` parsed them (filled in by
            it at the first notebook that shows graded code).
    """

    submission: Any
    verdicts: dict[str, Any]
    parsed: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunCache:
    """The gradebook's source side and each student's grading, read once per ``nbgrader autograde`` run."""

    cells: dict[tuple[str, str, str], NotebookCells | None] = field(default_factory=dict)
    tests: dict[tuple[str, str], dict] = field(default_factory=dict)
    students: dict[tuple[str, str], StudentGrading] = field(default_factory=dict)

    def notebook_cells(self, db_url: str, notebook: str, assignment: str) -> NotebookCells | None:
        """``load_cells`` of that notebook, read from the gradebook at the run's first need of it."""
        key = (db_url, assignment, notebook)
        if key not in self.cells:
            with Gradebook(db_url) as gb:
                self.cells[key] = load_cells(gb, notebook, assignment)
        return self.cells[key]

    def assignment_tests(self, db_url: str, assignment: str, read: Callable[[Gradebook, str], dict]) -> dict:
        """``read(gradebook, assignment)`` (``trusted_tests.read_tests``), once per run."""
        key = (db_url, assignment)
        if key not in self.tests:
            with Gradebook(db_url) as gb:
                self.tests[key] = read(gb, assignment)
        return self.tests[key]

    def student(self, student: str, assignment: str, grade: Callable[[], StudentGrading]) -> StudentGrading:
        """``grade()`` at the student's first notebook of the run; the same result at the others."""
        key = (student, assignment)
        if key not in self.students:
            self.students.clear()  # nbgrader converts one student's notebooks in a row
            self.students[key] = grade()
        return self.students[key]


def run_cache_of(preprocessor) -> RunCache | None:
    """The run cache of ``preprocessor``'s exporter (its parent), or None (nbgrader as it ships)."""
    return getattr(getattr(preprocessor, "parent", None), "run_cache", None)


class _SourceView:
    """What ``OverwriteCells`` asks of a gradebook, answered from a ``NotebookCells``.

    The same answers as nbgrader's ``find_source_cell``, ``find_graded_cell`` and
    ``find_notebook`` (its ``source_cells``, ``grade_cells``, ``solution_cells``,
    ``task_cells``), including ``MissingEntry`` for an unknown name.
    """

    def __init__(self, cells: NotebookCells, notebook: str, assignment: str) -> None:
        self.cells = cells
        self.where = f"{assignment}/{notebook}"

    def __enter__(self) -> "_SourceView":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SimpleNamespace:
        try:
            return self.cells.sources[name]
        except KeyError:
            raise MissingEntry(f"No such source cell: {self.where}/{name}") from None

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> SimpleNamespace:
        # nbgrader looks among the grade cells first, then the task cells
        if name in self.cells.points:
            return SimpleNamespace(name=name, max_score=self.cells.points[name])
        if name in self.cells.tasks:
            return SimpleNamespace(name=name, max_score=self.cells.tasks[name])
        raise MissingEntry(f"No such grade cell: {self.where}/{name}")

    def find_notebook(self, notebook: str, assignment: str) -> SimpleNamespace:
        cells = self.cells
        return SimpleNamespace(
            name=notebook,
            source_cells=list(cells.sources.values()),
            grade_cells=[SimpleNamespace(name=n, max_score=s) for n, s in cells.points.items()],
            solution_cells=[SimpleNamespace(name=n) for n in cells.solutions],
            task_cells=[SimpleNamespace(name=n, max_score=s) for n, s in cells.tasks.items()],
            kernelspec=cells.kernelspec)


class CachedOverwriteCells(OverwriteCells):
    """nbgrader's ``OverwriteCells``, its gradebook questions answered from the run's cache.

    Its code (``preprocess_cell``, ``add_missing_grade_cells``, ``add_missing_task_cells``)
    runs unchanged; only ``self.gradebook`` is a read-only view of the source notebook's
    cells, read once per run, instead of one query per cell. Without a run cache it is
    ``OverwriteCells`` itself.
    """

    def preprocess(self, nb, resources):
        cache = run_cache_of(self)
        if cache is None:
            return super().preprocess(nb, resources)
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        cells = cache.notebook_cells(self.db_url, self.notebook_id, self.assignment_id)
        if cells is None:  # an unknown notebook: nbgrader's own code says so, as it would
            return super().preprocess(nb, resources)
        self.gradebook = _SourceView(cells, self.notebook_id, self.assignment_id)
        with self.gradebook:
            # NbGraderPreprocessor's preprocess: preprocess_cell on every cell, as OverwriteCells does
            nb, resources = super(OverwriteCells, self).preprocess(nb, resources)
            if self.add_missing_cells:
                nb, resources = self.add_missing_grade_cells(nb, resources)
                nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class _GradesView:
    """What ``SaveAutoGrades`` asks of a gradebook, for one submitted notebook: its ``Grade`` and
    ``Comment`` rows, loaded in two queries, and a session whose commit waits for the notebook's end.

    The rows are the real ORM objects of an open ``Gradebook`` session: what ``SaveAutoGrades``
    sets on them is written at the one commit ``finish`` makes.
    """

    def __init__(self, gb: Gradebook, notebook: str, assignment: str, student: str) -> None:
        self.gb = gb
        self.where = f"{student}/{assignment}/{notebook}"
        self.grades: dict[str, Grade] = {}
        self.comments: dict[str, Comment] = {}
        mine = (gb.db.query(SubmittedNotebook.id)
                .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
                .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
                .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
                .join(Student, Student.id == SubmittedAssignment.student_id)
                .filter(Notebook.name == notebook, Assignment.name == assignment, Student.id == student)
                .scalar_subquery())
        # nbgrader's find_grade looks among the grade cells first, then the task cells; find_comment
        # among the solution cells, then the task cells: the same precedence here.
        for kinds, table, store in (((GradeCell, TaskCell), Grade, self.grades),
                                    ((SolutionCell, TaskCell), Comment, self.comments)):
            for kind in reversed(kinds):
                for name, row in (gb.db.query(kind.name, table)
                                  .join(kind, and_(kind.id == table.cell_id))
                                  .filter(table.notebook_id == mine)):
                    store[name] = row
        self.db = SimpleNamespace(commit=lambda: None)  # SaveAutoGrades commits per cell; once, below

    def __enter__(self) -> "_GradesView":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def find_grade(self, grade_cell: str, notebook: str, assignment: str, student: str) -> Grade:
        try:
            return self.grades[grade_cell]
        except KeyError:
            raise MissingEntry(f"No such grade: {self.where}/{grade_cell}") from None

    def find_comment(self, solution_cell: str, notebook: str, assignment: str, student: str) -> Comment:
        try:
            return self.comments[solution_cell]
        except KeyError:
            raise MissingEntry(f"No such comment: {self.where}/{solution_cell}") from None

    def finish(self) -> None:
        """Write what was set, in one commit."""
        self.gb.db.commit()


class BatchedSaveAutoGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, with one query per kind of row and one commit per notebook.

    Its code (``preprocess_cell``, ``_add_score``, ``_add_comment``) runs unchanged on the
    submitted notebook's own ``Grade`` and ``Comment`` rows, loaded at once instead of one
    query each, and what it sets is committed once, at the notebook's end, instead of once
    per cell (the rows and values written are the same). Without a run cache it is
    ``SaveAutoGrades`` itself.
    """

    def preprocess(self, nb, resources):
        if run_cache_of(self) is None:
            return super().preprocess(nb, resources)
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.student_id = resources["nbgrader"]["student"]
        self.db_url = resources["nbgrader"]["db_url"]
        with Gradebook(self.db_url) as gb:
            self.gradebook = _GradesView(gb, self.notebook_id, self.assignment_id, self.student_id)
            # NbGraderPreprocessor's preprocess: preprocess_cell on every cell, as SaveAutoGrades does
            nb, resources = super(SaveAutoGrades, self).preprocess(nb, resources)
            self.gradebook.finish()
        return nb, resources
