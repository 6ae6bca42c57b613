"""``python -m assignment report mlp``: grades CSV, score distributions, common failures.

On the mixed class graded by ``test_parallel`` (``parallel_tools.graded_class``):
the CSV has one row per student and one column per question key plus the total,
equal to the gradebook; the PNG is a real image; the failures file ranks each
question's messages by how many students got them, with numbers normalised so
that the same mistake counts once; the command prints the top three.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

import parallel_tools as pt
from assignment.instructor.gradebook_table import grade_table
from assignment.shared.questions import KEYS
from assignment.instructor.report import failure_messages, normalise
from parallel_tools import PLAN

ALL = list(KEYS) + ["training_accuracy"]


def test_normalise_groups_messages_that_differ_in_numbers_only():
    a = normalise("the loss is 2 times too large: you summed over the batch; take the mean (divide by N = 2)")
    b = normalise("the loss is 16 times too large: you summed over the batch;  take the mean (divide by N = 16)")
    assert a == b == "the loss is # times too large: you summed over the batch; take the mean (divide by N = #)"
    assert normalise("expected shape (4, 3), got (3, 4); entry [0, 1] is -1.5e-03") == \
        "expected shape (#, #), got (#, #); entry [#, #] is #"
    assert normalise("grad_weight of layer2 is None") == "grad_weight of layer2 is None"  # names keep digits


def test_failure_messages_reads_the_problems_of_a_verdict():
    text = "FAILED: Test 2 of question 1.1 (Linear.forward, hidden)\n- first problem\n- second\n  continued\n"
    assert failure_messages(text) == ["first problem", "second\n  continued"]
    assert failure_messages("Test 1 of question 1.1 (Linear.forward): passed.\n") == \
        ["Test 1 of question 1.1 (Linear.forward): passed."]
    assert failure_messages("") == []


@pytest.mark.slow
@pytest.mark.xdist_group("parallel")
def test_report_command_writes_csv_png_and_failures(tmp_path_factory, tmp_path):
    graded = pt.graded_class(tmp_path_factory)
    course, out = graded / "parallel", tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "assignment", "report", "mlp", "--course", str(course),
                             "--out", str(out)], cwd=pt.ROOT, env=pt.env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    # grades.csv: one row per student, one column per question, the total; as in the gradebook.
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student", *ALL, "total"]
    assert sorted(r["student"] for r in rows) == sorted(student for student, _ in PLAN)
    table = grade_table(course, "mlp")
    for row in rows:
        scores = table[row["student"]]
        for key in ALL:
            assert float(row[key]) == scores[key][0], (row["student"], key)
        assert float(row["total"]) == sum(s for s, _ in scores.values())

    # scores.png: a real, sizeable PNG.
    import matplotlib.image

    image = matplotlib.image.imread(out / "scores.png")
    assert image.shape[0] > 500 and image.shape[1] > 1000

    # failures.md: ranked by students, numbers normalised, every question has a section.
    text = (out / "failures.md").read_text(encoding="utf-8")
    for key in ALL:
        assert f"## {key}" in text
    section = text.split("## linear_forward")[1].split("## ")[0]
    assert "- **2** of 8: the output is X W without the bias" in section  # cy_1 and cy_2
    assert "the loss is # times too large" in text and "divide by N = #" in text
    relu = text.split("## relu_forward")[1].split("## ")[0]
    assert "the test did not finish within its time limit (# s of CPU time, # s in all): an endless loop?" in relu
    lines = [line for line in relu.splitlines() if line.startswith("- **")]
    counts = [int(line.split("**")[1]) for line in lines]
    assert counts == sorted(counts, reverse=True)

    # printed: the top three per question at most.
    printed = result.stdout
    assert "grades.csv" in printed and "scores.png" in printed and "failures.md" in printed
    block = printed.split("\nlinear_forward:\n")[1].split("\n\n")[0]
    assert 1 <= len(block.splitlines()) <= 3 and "without the bias" in block
