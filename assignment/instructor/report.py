"""``python -m assignment report ASSIGNMENT``: a graded class at a glance.

Written into ``--out`` (default ``reports/ASSIGNMENT`` in the course):

- ``grades.csv``: one row per student, one column per question key, then the
  total (the scores from the gradebook, as ``nbgrader export`` has them, but
  per question rather than per notebook);
- ``scores.png``: the distribution of the scores of each question, and of the
  total, one small bar chart each;
- ``failures.md``: per question, the most common failure messages, read from
  the verdicts that autograde wrote into the graded cells of the autograded
  notebooks (their stderr); numbers are replaced by ``#`` so that messages
  differing only in a value or a shape count as one.

The top three messages per question are printed too. The gradebook is the
course's (``nbgrader_config.py``: SQLite or ``MYTORCH_GRADEBOOK_URL``).
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from assignment.instructor.gradebook_table import grade_table, present_keys, question_of

NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
TOP = 3


@dataclass
class ClassReport:
    """What the report is made of.

    Fields:
        keys: the question keys, in course order.
        scores: student -> key -> (score, max score).
        failures: key -> normalised message -> the students whose verdicts said it.
        examples: normalised message -> one original wording of it.
    """

    keys: list[str]
    scores: dict[str, dict[str, tuple[float, float]]]
    failures: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def top(self, key: str, count: int = TOP) -> list[tuple[str, int]]:
        """The ``count`` messages of ``key`` that the most students got: (message, students)."""
        messages = self.failures.get(key, {})
        ranked = sorted(messages.items(), key=lambda item: (-len(item[1]), item[0]))
        return [(message, len(students)) for message, students in ranked[:count]]


def normalise(message: str) -> str:
    """A failure message with its numbers replaced by ``#`` and its spaces collapsed."""
    return " ".join(NUMBER.sub("#", message).split())


def failure_messages(text: str) -> list[str]:
    """The problems listed in a failed verdict ("FAILED: title\\n- problem\\n- problem")."""
    lines = text.strip("\n").split("\n")
    if not lines or not lines[0].startswith("FAILED"):
        return [text.strip()] if text.strip() else []
    problems: list[str] = []
    for line in lines[1:]:
        if line.startswith("- "):
            problems.append(line[2:])
        elif problems:
            problems[-1] += "\n" + line
    return [p.strip() for p in problems if p.strip()]


def read_failures(autograded: Path, assignment: str, students: set[str] | None = None,
                  ) -> tuple[dict[str, dict[str, set[str]]], dict[str, str]]:
    """key -> message -> students, from the graded cells' stderr in ``autograded/*/ASSIGNMENT/*.ipynb``."""
    import nbformat

    failures: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    examples: dict[str, str] = {}
    for path in sorted(autograded.glob(f"*/{assignment}/*.ipynb")):
        student = path.parent.parent.name
        if students is not None and student not in students:
            continue
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # an unreadable notebook has no verdicts to count
            continue
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.get("cell_type") != "code" or not meta.get("grade"):
                continue
            key = question_of(meta.get("grade_id", ""))
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    text = output.get("text", "")  # nbformat.read has joined the stream's lines
                    for message in failure_messages(text):
                        short = normalise(message)
                        failures[key][short].add(student)
                        examples.setdefault(short, message)
    return {k: dict(v) for k, v in failures.items()}, examples


def build(course: Path, assignment: str, db_url: str | None = None) -> ClassReport:
    """Scores from the gradebook, failure messages from the autograded notebooks."""
    if db_url is None:
        from assignment.instructor.parallel import load_coursedir

        db_url = load_coursedir(course).db_url
    scores = grade_table(course, assignment, db_url)
    keys = present_keys(scores)
    failures, examples = read_failures(course / "autograded", assignment, set(scores))
    return ClassReport(keys, scores, failures, examples)


def write_csv(report: ClassReport, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *report.keys, "total"])
        for student in sorted(report.scores):
            row = report.scores[student]
            values = [row.get(key, (0.0, 0.0))[0] for key in report.keys]
            writer.writerow([student, *(f"{v:g}" for v in values), f"{sum(values):g}"])


def _maximum(report: ClassReport, key: str) -> float:
    return max((row[key][1] for row in report.scores.values() if key in row), default=0.0)


def write_plot(report: ClassReport, path: Path) -> None:
    """One bar chart per question (and one of the totals): how many students got each score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from assignment.shared.questions import question

    panels = report.keys + ["total"]
    columns = 4
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 2.7 * rows), squeeze=False)
    students = len(report.scores)
    for index, key in enumerate(panels):
        ax = axes[index // columns][index % columns]
        if key == "total":
            values = [sum(s for s, _ in row.values()) for row in report.scores.values()]
            maximum = max((sum(m for _, m in row.values()) for row in report.scores.values()), default=0.0)
            title = "total"
        else:
            values = [row.get(key, (0.0, 0.0))[0] for row in report.scores.values()]
            maximum = _maximum(report, key)
            title = f"{question(key).INFO.number} {key}"  # "1.1 linear_forward", ..., "4 training_accuracy"
        counts = Counter(values)
        if key == "total" and maximum > 12:  # bins of the total, rather than every possible score
            width = math.ceil(maximum / 10)
            counts = Counter(width * math.floor(v / width) for v in values)
            xs = sorted(set(range(0, int(maximum) + 1, width)) | set(counts))
            labels = [f"{x:g}-{min(x + width - 1, maximum):g}" if min(x + width - 1, maximum) > x else f"{x:g}"
                      for x in xs]
        else:
            xs = sorted(set(float(x) for x in range(0, int(maximum) + 1)) | set(counts)) if maximum else sorted(counts)
            labels = [f"{x:g}" for x in xs]
        heights = [counts.get(x, 0) for x in xs]
        positions = range(len(xs))
        bars = ax.bar(positions, heights, color="#4c72b0" if key != "total" else "#dd8452", width=0.7)
        for bar, height in zip(bars, heights):
            if height:
                ax.annotate(str(height), (bar.get_x() + bar.get_width() / 2, height), ha="center", va="bottom",
                            fontsize=9, xytext=(0, 1), textcoords="offset points")
        ax.set_xticks(list(positions), labels, fontsize=9, rotation=30 if key == "total" and len(xs) > 6 else 0)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel(f"points (of {maximum:g})", fontsize=9)
        ax.set_ylabel("students", fontsize=9)
        ax.set_ylim(0, max(heights + [1]) * 1.2)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
    for index in range(len(panels), rows * columns):
        axes[index // columns][index % columns].axis("off")
    fig.suptitle(f"Scores per question: {students} students", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def failures_markdown(report: ClassReport, assignment: str, count: int = 10) -> str:
    students = len(report.scores)
    lines = [f"# Most common failures: {assignment} ({students} students)", "",
             "Each line: how many students' verdicts said it, then the message (numbers shown as #).", ""]
    for key in report.keys:
        lines.append(f"## {key}")
        lines.append("")
        top = report.top(key, count)
        if not top:
            lines.append("No failures.")
        for message, n in top:
            lines.append(f"- **{n}** of {students}: {message}")
        lines.append("")
    return "\n".join(lines)


def write_report(course: Path, assignment: str, out: Path, db_url: str | None = None,
                 echo=print) -> ClassReport:
    """Write grades.csv, scores.png and failures.md into ``out``; print the top failures."""
    report = build(course, assignment, db_url)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(report, out / "grades.csv")
    write_plot(report, out / "scores.png")
    (out / "failures.md").write_text(failures_markdown(report, assignment), encoding="utf-8")
    echo(f"{len(report.scores)} students; wrote {out / 'grades.csv'}, {out / 'scores.png'}, {out / 'failures.md'}")
    for key in report.keys:
        top = report.top(key)
        if not top:
            continue
        echo(f"\n{key}:")
        for message, n in top:
            echo(f"  {n:>3}  {message[:160]}")
    return report
