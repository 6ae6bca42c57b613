"""Grades for a learning management system: nbgrader export plugins for Canvas and Moodle.

Run at the course root, with the stock command::

    nbgrader export --exporter=assignment.instructor.lms_export.CanvasExportPlugin   # canvas_grades.csv
    nbgrader export --exporter=assignment.instructor.lms_export.MoodleExportPlugin   # moodle_grades.csv

(``--to FILE`` names the output, ``--assignment``/``--student`` restrict it, as
for nbgrader's own CSV export.) Each score is what nbgrader's CSV export calls
``score``: the submission's points minus its late penalty, never below zero.
A student with no submission gets 0, or an empty cell with ``missing = "blank"``.

Who is who: the LMS knows students by its own identifiers, nbgrader by its
student ids (the hub's user names). ``roster`` names a CSV file with one row
per student, whose ``roster_key`` column holds the nbgrader student id and whose
other columns hold the LMS's identifiers under the LMS's own column names. A
gradebook exported from the LMS is such a file. Without a roster, the
gradebook's student fields are used (``nbgrader db student import`` fills them):

========================  =========================================  ==================================
LMS column                from the roster (``roster`` set)           from the gradebook (no roster)
========================  =========================================  ==================================
Canvas ``Student``        ``Student``                                "last name, first name"
Canvas ``ID``             ``ID``                                     empty
Canvas ``SIS User ID``    ``SIS User ID``                            the student's ``lms_user_id``
Canvas ``SIS Login ID``   ``SIS Login ID``                           the nbgrader student id
Canvas ``Section``        ``Section``                                empty
Moodle ``Email address``  ``Email address``                          the student's ``email``
Moodle ``Username``       ``Username``                               the nbgrader student id
Moodle ``ID number``      ``ID number``                              the student's ``lms_user_id``
========================  =========================================  ==================================

A gradebook student the roster does not list, or who lacks the identifier, is
left out with a warning naming them (the LMS could not match the row).

The files are UTF-8, comma-separated, quoted where a value needs it (RFC
4180), numbers with a dot and at most two decimals; they are created readable
by their owner only (they hold grades). A name that a spreadsheet would take
for a formula ("=HYPERLINK(...)") is written with a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin
from traitlets import Dict, Enum, Unicode

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_IDENTIFIERS = {"email": "Email address", "username": "Username", "idnumber": "ID number"}


class LmsExportError(ValueError):
    """The export cannot be written as asked (a roster problem, an unknown assignment...)."""


@dataclass
class StudentScores:
    """One gradebook student and their score per assignment.

    Fields:
        id: the nbgrader student id.
        first_name, last_name, email, lms_user_id: the gradebook's fields ("" when unset).
        scores: assignment -> score, or None when the student submitted nothing.
    """

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    lms_user_id: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)

    @property
    def sortable_name(self) -> str:
        """"Last, First" as Canvas shows students; the id when the gradebook has no name."""
        parts = [p for p in (self.last_name, self.first_name) if p]
        return ", ".join(parts) if parts else self.id


@dataclass
class ClassScores:
    """What an export writes: the assignments (with their maximum) and the students.

    Fields:
        assignments: (name, max score) in the gradebook's order (due date, then name).
        students: every selected student, by id.
    """

    assignments: list[tuple[str, float]]
    students: list[StudentScores]


def read_scores(gradebook: Gradebook, assignments: Sequence[str] = (), students: Sequence[str] = ()) -> ClassScores:
    """Every (selected) student's score for every (selected) assignment of the gradebook.

    Args:
        gradebook: an open nbgrader gradebook.
        assignments: only these assignments (all when empty).
        students: only these students (all when empty).

    Returns:
        the scores; a student without a submission has None for that assignment.

    Raises:
        LmsExportError: an asked-for assignment or student is not in the gradebook.
    """
    all_assignments = list(gradebook.assignments)
    all_students = list(gradebook.students)
    for asked, known, what in ((assignments, [a.name for a in all_assignments], "assignment"),
                               (students, [s.id for s in all_students], "student")):
        unknown = sorted(set(asked) - set(known))
        if unknown:
            raise LmsExportError(f"no {what} {', '.join(map(repr, unknown))} in the gradebook "
                                 f"(it has: {', '.join(sorted(known)) or 'none'})")
    chosen = [a for a in all_assignments if not assignments or a.name in assignments]
    result = ClassScores([(a.name, float(a.max_score or 0.0)) for a in chosen], [])
    for student in sorted(all_students, key=lambda s: s.id):
        if students and student.id not in students:
            continue
        row = StudentScores(student.id, student.first_name or "", student.last_name or "", student.email or "",
                            student.lms_user_id or "")
        for assignment in chosen:
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.scores[assignment.name] = None
                continue
            # As nbgrader's own CSV export: the late penalty comes off, never below zero.
            row.scores[assignment.name] = max(0.0, float(submission.score or 0.0)
                                              - float(submission.late_submission_penalty or 0.0))
        result.students.append(row)
    return result


def format_score(value: float | None, missing: str = "zero") -> str:
    """A score as an LMS reads it: a dot, at most two decimals, no trailing zeros ("21", "1.5", "0.67").

    Args:
        value: the score, or None for no submission.
        missing: "zero" (no submission scores 0) or "blank" (an empty cell).
    """
    if value is None:
        return "0" if missing == "zero" else ""
    text = f"{round(float(value), 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def read_roster(path: Path, key: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """An LMS roster: (its columns, nbgrader student id -> its row).

    Args:
        path: a CSV file with a header row (UTF-8, with or without a byte-order mark).
        key: the column that holds the nbgrader student id.

    Returns:
        the header and the rows by id; rows with an empty key (an LMS export's
        "Points Possible" row, its test student) are skipped.

    Raises:
        LmsExportError: the file is missing or unreadable, has no ``key`` column,
            or lists one id twice.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise LmsExportError(f"cannot read the roster {path}: {error}") from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    if key not in header:
        raise LmsExportError(f"the roster {path} has no column {key!r} (roster_key); its columns: "
                             f"{', '.join(map(repr, header)) or 'none'}")
    reader.fieldnames = header
    rows: dict[str, dict[str, str]] = {}
    for number, row in enumerate(reader, start=2):
        student = (row.get(key) or "").strip()
        if not student:
            continue
        if student in rows:
            raise LmsExportError(f"the roster {path} lists {student!r} twice ({key!r}, line {number})")
        rows[student] = {name: (value or "").strip() for name, value in row.items() if name is not None}
    return header, rows


def display_name(text: str) -> str:
    """A name as a spreadsheet shows it but never runs it: one starting like a formula (=, +, -, @, a tab
    or a carriage return) gets a leading apostrophe. Only names are changed: the LMSs match rows on the
    identifier columns, which are written as they are."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def write_private(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` in one step, readable by its owner only (grades are private)."""
    path = path.resolve()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class LmsExportPlugin(ExportPlugin):
    """What the Canvas and Moodle exports share: the roster, the no-submission rule, writing the file."""

    roster = Unicode("", help="A CSV file mapping nbgrader student ids to the LMS's identifiers (e.g. a gradebook "
                              "exported from the LMS); empty: the gradebook's student fields.").tag(config=True)
    roster_key = Unicode("", help="The roster column that holds the nbgrader student id.").tag(config=True)
    missing = Enum(["zero", "blank"], "zero", help="A student with no submission: 0, or an empty cell.").tag(
        config=True)
    default_file = "grades.csv"

    def rows(self, scores: ClassScores, roster: tuple[list[str], dict[str, dict[str, str]]] | None,
             ) -> tuple[list[list[str]], list[str]]:
        """(the CSV's rows, the students left out and why); what each LMS format defines."""
        raise NotImplementedError  # each LMS's plugin defines its format

    def build(self, gradebook: Gradebook) -> tuple[str, list[str]]:
        """(the CSV text, the students left out and why), from the gradebook and the roster."""
        scores = read_scores(gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student])
        roster = read_roster(Path(self.roster), self.roster_key) if self.roster else None
        rows, left_out = self.rows(scores, roster)
        if scores.students and len(left_out) == len(scores.students):
            raise LmsExportError(f"none of the {len(scores.students)} students could be matched to the LMS: "
                                 + "; ".join(left_out[:5]) + ("..." if len(left_out) > 5 else ""))
        return _csv_text(rows), left_out

    def export(self, gradebook: Gradebook) -> None:
        """Write the LMS's CSV to ``--to`` (default: ``default_file`` in the current folder)."""
        destination = Path(self.to or self.default_file)
        try:
            text, left_out = self.build(gradebook)
        except LmsExportError as error:
            self.log.error("%s", error)
            sys.exit(1)
        for line in left_out:
            self.log.warning("left out: %s", line)
        try:
            write_private(destination, text)
        except OSError as error:
            self.log.error("cannot write %s: %s", destination, error)
            sys.exit(1)
        self.log.info("wrote %s (%d rows)", destination, text.count("\r\n"))


class CanvasExportPlugin(LmsExportPlugin):
    """Canvas's gradebook import CSV: Student, ID, SIS User ID, SIS Login ID, Section, one column per
    assignment ("mlp (1234)", 1234 being Canvas's assignment id), and a "Points Possible" second row."""

    roster_key = Unicode("SIS Login ID", help="The roster column that holds the nbgrader student id.").tag(
        config=True)
    assignment_ids = Dict({}, help="nbgrader assignment -> Canvas assignment id (the number Canvas puts in the "
                                   "column's header). Unset: taken from a roster column named like "
                                   "'mlp (1234)', else the bare name (Canvas then offers to create the "
                                   "assignment).").tag(config=True)
    default_file = "canvas_grades.csv"

    def column(self, name: str, roster_header: Sequence[str]) -> str:
        """The Canvas column of an nbgrader assignment: "name (id)" when the Canvas id is known."""
        if name in self.assignment_ids:
            return f"{name} ({self.assignment_ids[name]})"
        pattern = re.compile(rf"^{re.escape(name)} \((\d+)\)$")
        for header in roster_header:
            if pattern.match(header):
                return header
        return name

    def rows(self, scores, roster):
        header, by_id = roster if roster is not None else ([], {})
        columns = [self.column(name, header) for name, _ in scores.assignments]
        rows = [[*CANVAS_IDENTITY, *columns],
                [CANVAS_POINTS_ROW, "", "", "", "", *(format_score(m) for _, m in scores.assignments)]]
        left_out, seen = [], {}
        for student in scores.students:
            if roster is not None:
                entry = by_id.get(student.id)
                if entry is None:
                    left_out.append(f"{student.id} (not in the roster {self.roster})")
                    continue
                identity = [display_name(entry.get("Student") or student.sortable_name), entry.get("ID", ""),
                            entry.get("SIS User ID", ""), entry.get("SIS Login ID", ""), entry.get("Section", "")]
                if not any(identity[1:4]):
                    left_out.append(f"{student.id} (the roster gives no ID, SIS User ID or SIS Login ID)")
                    continue
            else:
                identity = [display_name(student.sortable_name), "", student.lms_user_id, student.id, ""]
            for name, value in zip(CANVAS_IDENTITY[1:4], identity[1:4]):
                if value and seen.setdefault((name, value), student.id) != student.id:
                    raise LmsExportError(f"{seen[(name, value)]} and {student.id} have the same {name} {value!r}: "
                                         "Canvas could not tell them apart")
            rows.append([*identity, *(format_score(student.scores[name], self.missing)
                                      for name, _ in scores.assignments)])
        return rows, left_out


class MoodleExportPlugin(LmsExportPlugin):
    """Moodle's "Import grades from CSV": one row per student, an identifier column Moodle maps to a user
    field (Email address, Username or ID number), First name, Last name, one column per grade item."""

    roster_key = Unicode("Username", help="The roster column that holds the nbgrader student id.").tag(config=True)
    identifier = Enum(list(MOODLE_IDENTIFIERS), "email", help="The user field Moodle matches rows on: email, "
                                                               "username or idnumber.").tag(config=True)
    item_names = Dict({}, help="nbgrader assignment -> the Moodle grade item's name (the column header); "
                               "unset: the assignment's name.").tag(config=True)
    default_file = "moodle_grades.csv"

    def rows(self, scores, roster):
        column = MOODLE_IDENTIFIERS[self.identifier]
        items = [str(self.item_names.get(name, name)) for name, _ in scores.assignments]
        rows = [[column, "First name", "Last name", *items]]
        left_out, seen = [], {}
        for student in scores.students:
            first, last = student.first_name, student.last_name
            if roster is not None:
                entry = roster[1].get(student.id)
                if entry is None:
                    left_out.append(f"{student.id} (not in the roster {self.roster})")
                    continue
                value = entry.get(column, "")
                first, last = entry.get("First name") or first, entry.get("Last name") or last
            else:
                value = {"email": student.email, "username": student.id, "idnumber": student.lms_user_id}[
                    self.identifier]
            if not value:
                left_out.append(f"{student.id} (no {column})")
                continue
            if value in seen:
                raise LmsExportError(f"{seen[value]} and {student.id} have the same {column} {value!r}: "
                                     "Moodle could not tell them apart")
            seen[value] = student.id
            rows.append([value, display_name(first), display_name(last),
                         *(format_score(student.scores[name], self.missing) for name, _ in scores.assignments)])
        return rows, left_out
