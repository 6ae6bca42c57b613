"""The instructor's whole flow, with the real nbgrader and a real sqlite gradebook.

In a scratch copy of the course (``assignment.instructor.demo.make_course``), once per
test session: ``nbgrader generate_assignment mlp``, the four example students'
work collected into ``submitted/`` (``assignment.instructor.demo.collect``), ``nbgrader
autograde mlp``, ``nbgrader generate_feedback mlp`` and ``nbgrader export``,
all with the shipped ``nbgrader_config.py``. Then:

- every example student's score per question, read from the gradebook, is
  exactly what their code deserves (a bug costs its own question only);
- no feedback file holds a hidden test's line or a hidden expected value, and
  every failed hidden test's message does appear in the feedback;
- ``nbgrader export`` writes grades.csv with the totals.
"""

from __future__ import annotations

import csv
import functools
import html
import re
import time
from pathlib import Path

import nbformat
import pytest

from assignment.instructor.demo import collect, make_course, run_nbgrader
from assignment.instructor.gradebook_table import grade_table
from assignment.shared.questions import KEYS
from course_tools import (ASSIGNMENT, EXAMPLES, NOTEBOOKS, RELEASE, SOURCE, built_once, evaluate, gradebook_url,
                          hidden_lines, import_student_package, squash, test_cases, visible_test_lines)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pipeline")]

STUDENTS = ("ada_correct", "ben_untouched", "cy_buggy", "dee_forward_only")
FORWARD = ("linear_forward", "relu_forward", "sequential_forward", "xeloss_forward")
ALL = KEYS + ("training_accuracy",)


def _expected_scores() -> dict[str, dict[str, tuple[float, float]]]:
    full = {key: (3.0, 3.0) for key in ALL}
    zero = {key: (0.0, 3.0) for key in ALL}
    return {
        "ada_correct": full,
        "ben_untouched": zero,
        # Three bugs, each in its own method; the MLP still learns (the loss value is
        # wrong, not its gradient; no bias and ReLU's gate at 0 still train).
        "cy_buggy": {**full, "linear_forward": (0.0, 3.0), "relu_backward": (0.0, 3.0), "xeloss_forward": (0.0, 3.0)},
        "dee_forward_only": {**zero, **{key: (3.0, 3.0) for key in FORWARD}},
    }


class Pipeline:
    def __init__(self, course: Path):
        self.course = course
        self.timings: dict[str, float] = {}

    def run(self, *args: str) -> None:
        started = time.perf_counter()
        result = run_nbgrader(self.course, *args, check=False)
        self.timings[args[0]] = time.perf_counter() - started
        assert result.returncode == 0, (f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n"
                                        f"{(result.stdout + result.stderr)[-4000:]}")


def _run_pipeline(folder: Path) -> None:
    # The scratch course's own SQLite gradebook, whatever gradebook the environment names.
    with gradebook_url(None):
        _run_nbgrader_flow(folder)


def _run_nbgrader_flow(folder: Path) -> None:
    p = Pipeline(folder / "course")
    make_course(p.course)
    p.run("generate_assignment", ASSIGNMENT, "--force")
    assert collect(p.course, EXAMPLES) == list(STUDENTS)
    p.run("autograde", ASSIGNMENT, "--force")
    p.run("generate_feedback", ASSIGNMENT, "--force")
    p.run("export")
    (folder / "timings.txt").write_text(repr({k: round(v, 1) for k, v in p.timings.items()}), encoding="utf-8")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Pipeline:
    """The course after the whole flow, run once per test run (whatever the number of workers)."""
    folder = built_once(tmp_path_factory, "pipeline", _run_pipeline)
    print("pipeline timings:", (folder / "timings.txt").read_text(encoding="utf-8"))
    return Pipeline(folder / "course")


def test_the_release_is_the_committed_one(pipeline):
    released = pipeline.course / "release" / ASSIGNMENT
    for name in NOTEBOOKS:
        assert nbformat.read(str(released / name), 4) == nbformat.read(str(RELEASE / name), 4), (
            f"release/{ASSIGNMENT}/{name} is stale: run `make release`")


def test_every_student_scores_exactly_what_their_code_deserves(pipeline):
    table = grade_table(pipeline.course, ASSIGNMENT, f"sqlite:///{pipeline.course / 'gradebook.db'}")
    assert sorted(table) == sorted(STUDENTS)
    expected = _expected_scores()
    for student in STUDENTS:
        wrong = {key: (table[student].get(key), want) for key, want in expected[student].items()
                 if table[student].get(key) != want}
        assert not wrong, f"{student}: question: (gradebook score, expected score): {wrong}"
        assert set(table[student]) == set(ALL), student


def test_export_writes_grades_csv(pipeline):
    path = pipeline.course / "grades.csv"
    assert path.exists(), "nbgrader export wrote no grades.csv"
    with path.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["assignment"] == ASSIGNMENT]
    totals = {row["student_id"]: (float(row["score"]), float(row["max_score"])) for row in rows}
    expected = {student: (sum(s for s, _ in scores.values()), sum(m for _, m in scores.values()))
                for student, scores in _expected_scores().items()}
    assert totals == expected


# ---------------------------------------------------------------------------
# Feedback
# ---------------------------------------------------------------------------


def _squashed_html(raw: str) -> tuple[str, str]:
    """(the HTML unescaped, its visible text without tags), both without whitespace."""
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", raw, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", "", body))
    return squash(html.unescape(raw)), squash(text)


@functools.cache  # the feedback files do not change during the session
def _feedback(pipeline: Pipeline, student: str, notebook: str) -> tuple[str, str]:
    path = pipeline.course / "feedback" / student / ASSIGNMENT / notebook.replace(".ipynb", ".html")
    assert path.exists(), f"no feedback at {path}"
    return _squashed_html(path.read_text(encoding="utf-8"))


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def _spellings(value: float) -> set[str]:
    return {repr(value), f"{value:.6g}", f"{value:.8g}", f"{value:.10g}", f"{value:.8f}".rstrip("0")}


class HiddenFinder:
    """Finds hidden test lines and hidden values (inputs or answers) in an HTML page.

    Lines: every non-comment line of a hidden test region (10+ characters, not
    also shown by a visible test), compared without whitespace, in the HTML and
    in its text (syntax highlighting splits code into many tags). Values: the
    numbers of hidden cases with 3+ significant digits that no release notebook
    shows, in any usual spelling, as numbers of the page's text.
    """

    def __init__(self):
        shown = "\n".join(visible_test_lines())
        lines = {squash(line) for line in hidden_lines() if not line.strip().startswith("#")}
        self.lines = {line for line in lines if len(line) >= 10 and line not in shown}
        release_tokens = set()
        for name in NOTEBOOKS:
            release_tokens |= set(NUMBER.findall((RELEASE / name).read_text(encoding="utf-8")))
        self.values = set()
        for tc in test_cases():
            for value in _numbers(tc.case) if tc.hidden else ():
                digits = re.sub(r"[^\d]", "", f"{abs(value):.6g}".split("e")[0]).lstrip("0")
                if len(digits) >= 3 and not (_spellings(value) & release_tokens):
                    self.values.add(value)

    def __call__(self, page: str) -> tuple[list[str], list[float]]:
        raw, text = _squashed_html(page)
        tokens = set(NUMBER.findall(text))
        return (sorted(line for line in self.lines if line in raw or line in text),
                sorted(v for v in self.values if _spellings(v) & tokens))


@functools.cache
def _finder() -> HiddenFinder:
    return HiddenFinder()


def test_the_finder_finds_hidden_tests_in_html():
    """The source notebooks, rendered with their hidden tests, are caught (the finder is sound)."""
    from nbconvert import HTMLExporter

    finder = _finder()
    assert len(finder.lines) > 50 and len(finder.values) > 20
    found_lines, found_values = [], []
    for name in NOTEBOOKS:
        page, _ = HTMLExporter().from_notebook_node(nbformat.read(str(SOURCE / name), 4))
        lines, values = finder(page)
        found_lines += lines
        found_values += values
    assert set(found_lines) == finder.lines
    assert set(found_values) == finder.values


def test_feedback_never_shows_a_hidden_test(pipeline):
    finder = _finder()
    for student in STUDENTS:
        for name in NOTEBOOKS:
            path = pipeline.course / "feedback" / student / ASSIGNMENT / name.replace(".ipynb", ".html")
            page = path.read_text(encoding="utf-8")
            lines, _ = finder(page)
            # Each question's graded code is the student's own file, line numbers and constants included
            # (line 300 is no hidden value): the values are looked for everywhere else.
            _, values = finder(re.sub(r'<div class="mytorch-graded-code">.*?</div>', "", page, flags=re.S))
            assert not lines, f"{student}'s feedback on {name} shows hidden test lines: {lines[:5]}"
            assert not values, f"{student}'s feedback on {name} shows hidden values: {values[:5]}"


def test_feedback_shows_why_hidden_tests_failed(pipeline, tmp_path):
    """Each failed hidden test's message, as the question module words it, is in the student's feedback."""
    checked = 0
    hidden = [tc for tc in test_cases() if tc.hidden]
    for student in STUDENTS:
        nn, optim = import_student_package(EXAMPLES / student / ASSIGNMENT / "mytorch", tmp_path)
        for tc in hidden:
            problems = evaluate(nn, optim, tc)
            _, text = _feedback(pipeline, student, tc.notebook)
            for problem in problems:
                assert squash(problem) in text, f"{student}'s feedback on {tc.notebook} lacks {tc.grade_id}'s {problem!r}"
                checked += 1
    assert checked >= 2 * 3 + 2 * 9 + 2 * 5  # cy's 3 questions, ben's 9, dee's 5, two hidden tests each


def test_specific_diagnoses_reach_cy(pipeline):
    """cy_buggy's three classic bugs are named in their feedback, in a student's terms."""
    _, forward = _feedback(pipeline, "cy_buggy", "01_forward.ipynb")
    _, backward = _feedback(pipeline, "cy_buggy", "02_backward.ipynb")
    assert squash("the output is X W without the bias") in forward
    assert squash("you summed over the batch; take the mean") in forward
    assert squash("let the gradient through only where x > 0 (not x >= 0)") in backward
