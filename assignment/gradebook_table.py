"""Per-question scores read from an nbgrader gradebook."""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook

from assignment.questions import KEYS

EXTRA = ("training_accuracy",)


def question_of(grade_id: str) -> str:
    """The question key a graded cell belongs to ("linear_forward_2" -> "linear_forward")."""
    for key in KEYS + EXTRA:
        if grade_id == key or grade_id.startswith(key + "_"):
            return key
    return grade_id


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
    from assignment.questions import question

    return "train" if key == "training_accuracy" else question(key).INFO.number


def present_keys(table: dict[str, dict]) -> list[str]:
    """The question keys (and the training check) that some student's row has, in question order."""
    return [k for k in KEYS + EXTRA if any(k in row for row in table.values())]


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
