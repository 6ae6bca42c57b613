"""LMS exports: ``nbgrader export --exporter=assignment.instructor.lms_export.CanvasExportPlugin`` (or Moodle).

A scratch course is graded for real, once for this module: two assignments
(``mlp`` and a copy of it, ``mlp_retake``), students with a comma and a quote
in a name and non-ASCII names, one who submitted only one of the two, one
who submitted nothing, one the LMS roster does not list. Then the stock
``nbgrader export`` with each plugin writes the file, which is read back with
``csv`` and held against the formats the LMSs document:

- Canvas: columns Student, ID, SIS User ID, SIS Login ID, Section, then one
  per assignment named "name (Canvas id)"; the second row "Points Possible"
  with each assignment's maximum; students matched through the roster (a
  Canvas gradebook export) on SIS Login ID;
- Moodle: an identifier column (Email address, Username or ID number), First
  name, Last name, one column per grade item, numeric grades;
- both: the scores of the gradebook, numbers with a dot, 0 or an empty cell
  for no submission, RFC 4180 quoting, UTF-8, a file only its owner can read,
  the students left out named in a warning, roster mistakes a clear error.
"""

from __future__ import annotations

import csv
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import parallel_tools as pt
from assignment.instructor.lms_export import format_score
from course_tools import ASSIGNMENT, EXAMPLES, VENV_BIN, gradebook_url

pytestmark = pytest.mark.slow

RETAKE = "mlp_retake"
# nbgrader id -> (first name, last name, email); eve never submits; mal's name reads as a spreadsheet
# formula; neither mal nor zed is on the LMS roster.
STUDENTS = {
    "ada_correct": ("Ada", 'O"Neil, Jr.', "ada@example.edu"),
    "cy_buggy": ("Zoë", "Nuñez-Łukasiewicz", "zoe@example.edu"),
    "dee_forward_only": ("Dee", "Smith", "dee@example.edu"),
    "eve_absent": ("Eve", "Absent", "eve@example.edu"),
    "mal_formula": ("=1+2", "@SUM(A1)", ""),
    "zed_unlisted": ("Zed", "Unlisted", ""),
}
# A gradebook exported from Canvas, as the roster: Canvas's own columns, its points row, its test student.
CANVAS_ROSTER = '''\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,mlp (4711),Current Score
    Points Possible,,,,,30.00,(read only)
"O""Neil, Jr., Ada",1001,S-ada,ada_correct,Section A,,
"Nuñez-Łukasiewicz, Zoë",1002,S-cy,cy_buggy,"Section B, evening",,
"Smith, Dee",1003,S-dee,dee_forward_only,Section A,,
"Absent, Eve",1004,S-eve,eve_absent,Section A,,
"Student, Test",1999,,,Section A,,
'''


def _build(folder: Path) -> None:
    from assignment.instructor.demo import collect, run_nbgrader
    from nbgrader.api import Gradebook

    course = pt.generated_course(folder / "course")
    shutil.copytree(course / "source" / ASSIGNMENT, course / "source" / RETAKE)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write(f"c.Autograde.exclude_overwriting[{RETAKE!r}] = "
                     f"c.Autograde.exclude_overwriting[{ASSIGNMENT!r}]\n")
    run_nbgrader(course, "generate_assignment", RETAKE, "--force")
    with Gradebook(pt.sqlite_url(course), "mytorch") as gb:
        for student, (first, last, email) in STUDENTS.items():
            gb.update_or_create_student(student, first_name=first, last_name=last, email=email or None)
    collect(course, EXAMPLES, students=["ada_correct", "cy_buggy", "dee_forward_only"])
    # cy also hands in the retake: the same buggy work.
    shutil.copytree(course / "release" / RETAKE, course / "submitted" / "cy_buggy" / RETAKE)
    shutil.copytree(EXAMPLES / "cy_buggy" / ASSIGNMENT, course / "submitted" / "cy_buggy" / RETAKE,
                    dirs_exist_ok=True)
    (course / "submitted" / "cy_buggy" / RETAKE / "timestamp.txt").write_text(
        "2026-12-06 09:00:00.000000 UTC\n", encoding="utf-8")
    for assignment in (ASSIGNMENT, RETAKE):
        run_nbgrader(course, "autograde", assignment, "--force")
    (folder / "canvas_roster.csv").write_text(CANVAS_ROSTER, encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lms")
    with gradebook_url(None):
        _build(folder)
    return folder


def export(graded: Path, tmp_path: Path, plugin: str, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    """The stock ``nbgrader export`` with one of the plugins, at the course root."""
    out = tmp_path / f"{plugin}.csv"
    result = subprocess.run([str(VENV_BIN / "nbgrader"), "export", f"--exporter=assignment.instructor.lms_export.{plugin}",
                             f"--to={out}", *args], cwd=graded / "course", env=pt.env(), capture_output=True,
                            text=True, timeout=300)
    return result, out


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_the_gradebook_holds_what_the_exports_should_show(graded):
    from assignment.instructor.gradebook_table import grade_table

    def totals(assignment: str) -> dict[str, float]:
        return {student: sum(score for score, _ in row.values())
                for student, row in grade_table(graded / "course", assignment).items()}

    assert totals(ASSIGNMENT) == {"ada_correct": 30.0, "cy_buggy": 21.0, "dee_forward_only": 12.0}
    assert totals(RETAKE) == {"cy_buggy": 21.0}


def test_canvas_gradebook_csv(graded, tmp_path):
    roster = graded / "canvas_roster.csv"
    result, out = export(graded, tmp_path, "CanvasExportPlugin", f"--CanvasExportPlugin.roster={roster}",
                         f"--CanvasExportPlugin.assignment_ids={RETAKE}=4712")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "mlp (4711)", "mlp_retake (4712)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "30", "30"]
    by_login = {row[3]: row for row in rows[2:]}
    assert by_login == {
        "ada_correct": ['O"Neil, Jr., Ada', "1001", "S-ada", "ada_correct", "Section A", "30", "0"],
        "cy_buggy": ["Nuñez-Łukasiewicz, Zoë", "1002", "S-cy", "cy_buggy", "Section B, evening", "21", "21"],
        "dee_forward_only": ["Smith, Dee", "1003", "S-dee", "dee_forward_only", "Section A", "12", "0"],
        "eve_absent": ["Absent, Eve", "1004", "S-eve", "eve_absent", "Section A", "0", "0"],
    }
    raw = out.read_bytes()
    assert b'"O""Neil, Jr., Ada"' in raw and '"Section B, evening"'.encode() in raw
    assert "Nuñez-Łukasiewicz, Zoë".encode("utf-8") in raw and not raw.startswith(b"\xef\xbb\xbf")
    assert raw.endswith(b"\r\n")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "left out: zed_unlisted (not in the roster" in result.stderr
    assert "left out: mal_formula (not in the roster" in result.stderr


def test_canvas_without_roster_uses_the_gradebook_fields_and_blank_for_no_submission(graded, tmp_path):
    result, out = export(graded, tmp_path, "CanvasExportPlugin", "--CanvasExportPlugin.missing=blank",
                         f"--assignment={ASSIGNMENT}")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "mlp"]
    assert rows[1] == ["Points Possible", "", "", "", "", "30"]
    assert rows[2:] == [
        ['O"Neil, Jr., Ada', "", "", "ada_correct", "", "30"],
        ["Nuñez-Łukasiewicz, Zoë", "", "", "cy_buggy", "", "21"],
        ["Smith, Dee", "", "", "dee_forward_only", "", "12"],
        ["Absent, Eve", "", "", "eve_absent", "", ""],
        ["'@SUM(A1), =1+2", "", "", "mal_formula", "", ""],  # shown as text, never run as a formula
        ["Unlisted, Zed", "", "", "zed_unlisted", "", ""],
    ]


def test_moodle_grade_import_csv(graded, tmp_path):
    result, out = export(graded, tmp_path, "MoodleExportPlugin",
                         "--MoodleExportPlugin.item_names=mlp=Assignment 1: MLP, part A")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = read_csv(out)
    assert rows[0] == ["Email address", "First name", "Last name", "Assignment 1: MLP, part A", "mlp_retake"]
    assert rows[1:] == [
        ["ada@example.edu", "Ada", 'O"Neil, Jr.', "30", "0"],
        ["zoe@example.edu", "Zoë", "Nuñez-Łukasiewicz", "21", "21"],
        ["dee@example.edu", "Dee", "Smith", "12", "0"],
        ["eve@example.edu", "Eve", "Absent", "0", "0"],
    ]
    assert b'"Assignment 1: MLP, part A"' in out.read_bytes()
    assert "left out: zed_unlisted (no Email address)" in result.stderr

    result, out = export(graded, tmp_path, "MoodleExportPlugin", "--MoodleExportPlugin.identifier=username",
                         "--student=zed_unlisted")
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_csv(out) == [["Username", "First name", "Last name", "mlp", "mlp_retake"],
                             ["zed_unlisted", "Zed", "Unlisted", "0", "0"]]
    result, out = export(graded, tmp_path, "MoodleExportPlugin", "--MoodleExportPlugin.identifier=username",
                         "--student=mal_formula")
    assert result.returncode == 0, result.stderr[-3000:]
    assert read_csv(out)[1] == ["mal_formula", "'=1+2", "'@SUM(A1)", "0", "0"]


def test_roster_mistakes_are_clear_errors(graded, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("Name,Login\nAda,ada_correct\n", encoding="utf-8")
    result, out = export(graded, tmp_path, "CanvasExportPlugin", f"--CanvasExportPlugin.roster={roster}")
    assert result.returncode == 1 and not out.exists()
    assert f"the roster {roster} has no column 'SIS Login ID' (roster_key); its columns: 'Name', 'Login'" \
        in result.stderr
    result, out = export(graded, tmp_path, "CanvasExportPlugin", f"--CanvasExportPlugin.roster={roster}",
                         "--CanvasExportPlugin.roster_key=Login")
    assert result.returncode == 1 and not out.exists()
    assert "none of the 6 students could be matched to the LMS: ada_correct (the roster gives no ID, SIS User ID " \
           "or SIS Login ID); cy_buggy (not in the roster" in result.stderr
    roster.write_text("Login,ID\nada_correct,1\nada_correct,2\n", encoding="utf-8")
    result, _ = export(graded, tmp_path, "CanvasExportPlugin", f"--CanvasExportPlugin.roster={roster}",
                       "--CanvasExportPlugin.roster_key=Login")
    assert result.returncode == 1 and "lists 'ada_correct' twice ('Login', line 3)" in result.stderr
    result, _ = export(graded, tmp_path, "MoodleExportPlugin", "--assignment=nope")
    assert result.returncode == 1 and "no assignment 'nope' in the gradebook (it has: mlp, mlp_retake)" \
        in result.stderr


def test_the_default_file_is_written_at_the_course_root_and_git_ignored(graded):
    course = graded / "course"
    result = subprocess.run([str(VENV_BIN / "nbgrader"), "export",
                             "--exporter=assignment.instructor.lms_export.MoodleExportPlugin"], cwd=course, env=pt.env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (course / "moodle_grades.csv").is_file()
    ignored = subprocess.run(["git", "check-ignore", "grades.csv", "canvas_grades.csv", "moodle_grades.csv",
                              "logs/autograde.log"], cwd=pt.ROOT, capture_output=True, text=True)
    assert ignored.stdout.split() == ["grades.csv", "canvas_grades.csv", "moodle_grades.csv", "logs/autograde.log"]


def test_display_name():
    from assignment.instructor.lms_export import display_name

    assert [display_name(t) for t in ("=cmd|' /C calc'!A0", "+1", "-2", "@x", "\tx", "Ada", "O'Neil", "")] == \
        ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@x", "'\tx", "Ada", "O'Neil", ""]


def test_format_score():
    assert [format_score(v) for v in (30.0, 21, 1.5, 2 / 3, 0.0, 1e-9, 12.345678)] == \
        ["30", "21", "1.5", "0.67", "0", "0", "12.35"]
    assert format_score(None) == "0" and format_score(None, "blank") == ""
