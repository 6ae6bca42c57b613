"""Per-question scores read from an nbgrader gradebook."""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook

from assignment.shared.questions import GRADED_KEYS, key_of, question


def question_of(grade_id: str) -> str:
    """The question key a graded cell belongs to ("linear_forward_2" -> "linear_forward"; another
    cell's grade id as it is)."""
    return key_of(grade_id) or grade_id


def grade_table(course: Path, assignment: str, db_url: str | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """{student: {question: (score, max score)}} for every submission of ``assignment``."""
    db_url = db_url or f"sqlite:///{Path(course) / 'gradebook.db'}"
    table: dict[str, dict[str, tuple[float, float]]] = {}
    with Gradebook(db_url) as gb:
        for submission in gb.assignment_submissions(assignment):
            row: dict[str, tuple[float, float]] = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    key = question_of(grade.name)
                    score, maximum = row.get(key, (0.0, 0.0))
                    row[key] = (score + float(grade.score or 0.0), maximum + float(grade.max_score or 0.0))
            table[submission.student.id] = row
    return table


def _short(key: str) -> str:
    return question(key).INFO.short


def present_keys(table: dict[str, dict]) -> list[str]:
    """The graded questions' keys (the training check's too) that some student's row has, in course order."""
    return [k for k in GRADED_KEYS if any(k in row for row in table.values())]


def format_table(table: dict[str, dict[str, tuple[float, float]]]) -> str:
    """A plain-text table: one row per student, one column per question (by number), then the total."""
    keys = present_keys(table)
    width = max([len("student")] + [len(s) for s in table])
    cell = 5
    header = f"{'student':<{width}}  " + "  ".join(f"{_short(k):>{cell}}" for k in keys) + "   total"
    lines = [header, "-" * len(header)]
    for student in sorted(table):
        row = table[student]
        cells = []
        for k in keys:
            score, maximum = row.get(k, (0.0, 0.0))
            cells.append(f"{f'{score:g}/{maximum:g}':>{cell}}")
        total = sum(s for s, _ in row.values())
        maximum = sum(m for _, m in row.values())
        lines.append(f"{student:<{width}}  " + "  ".join(cells) + f"  {f'{total:g}/{maximum:g}':>6}")
    legend = ", ".join(f"{_short(k)} {k}" for k in keys)
    lines.append(f"\ncolumns: {legend}")
    return "\n".join(lines)
