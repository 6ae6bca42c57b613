"""The progress cell at the top of every notebook (``assignment.student.progress``).

Each summary runs in a fresh Python process whose working folder is a student's
copy of the committed release (notebooks and ``mytorch/``), as a kernel started
from JupyterLab has it; one more runs in a real notebook kernel through nbclient.
Checked:

- the cases it runs are exactly the visible test 1 cells of the notebooks (read
  from them, so there is no second copy to drift) and the graded training case;
- the reference: nine questions and the training check pass, the nine questions
  in well under a second;
- the stubs: everything "not started", with the test cells' own words;
- one bug (the bias forgotten): only 1.1 fails, with the test's one-line reason;
- an endless loop (also one that swallows an interruption), in a subprocess and
  in a kernel: stopped by the time limit, the rest still checked;
- a missing notebook, a file that does not import, and student code that prints
  or writes to stderr.
"""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from assignment.student import progress
from assignment.shared.questions import KEYS, question
from assignment.instructor.release.stubs import derive_stub
from course_tools import REFERENCE, RELEASE, SOURCE, copy_tree, graded_cells, nbgrader_env, test_cases

BIAS = "return x @ self.weight + self.bias"  # the reference's Linear.forward
SUMMARY = """
import json, sys
from assignment.student import progress
runs = []
for _ in range(int(sys.argv[1])):
    progress._trained.clear()  # each run trains again: its time is the first run's
    p = progress.summary()
    runs.append({"seconds": p.seconds, "training_seconds": p.training_seconds,
                 "items": [[i.key, i.state, i.reason] for i in p.items], "text": str(p)})
print(json.dumps(runs))
"""


def working_copy(target: Path, *, solution: bool, replace: tuple[str, str] | None = None,
                 file: str = "nn.py") -> Path:
    """A student's folder: the release, with the reference solution if asked, and one edit of ``file``."""
    copy_tree(RELEASE, target)
    if solution:
        for path in REFERENCE.glob("*.py"):
            solved = derive_stub(path.read_text(encoding="utf-8"), f"mytorch/{path.name}", solve=lambda hint: True)
            (target / "mytorch" / path.name).write_text(solved, encoding="utf-8")
    if replace:
        path = target / "mytorch" / file
        text = path.read_text(encoding="utf-8")
        assert replace[0] in text, replace[0]
        path.write_text(text.replace(replace[0], replace[1], 1), encoding="utf-8")
    return target


def summarise(folder: Path, runs: int = 1, timeout: float = 120) -> list[dict]:
    """``progress.summary()`` run in ``folder`` by a fresh interpreter, ``runs`` times."""
    result = subprocess.run([sys.executable, "-c", SUMMARY, str(runs)], cwd=folder, env=nbgrader_env(),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def states(run: dict) -> dict[str, tuple[str, str]]:
    return {key: (state, reason) for key, state, reason in run["items"]}


def test_the_cases_are_the_visible_test_cells_of_the_notebooks():
    expected = {tc.key: tc.case for tc in test_cases() if tc.number == 1}
    training = next(cell for cell in graded_cells(SOURCE / "04_training.ipynb")
                    if cell.metadata.nbgrader.grade_id == "training_accuracy")
    call = next(node for node in ast.walk(ast.parse(training.source)) if isinstance(node, ast.Call))
    expected["training_accuracy"] = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert progress.visible_cases(RELEASE) == expected
    assert set(expected) == set(KEYS) | {"training_accuracy"}


def test_the_reference_passes_everything_in_well_under_a_second(tmp_path):
    runs = summarise(working_copy(tmp_path / "ada", solution=True), runs=3)
    for run in runs:
        found = states(run)
        assert [key for key, state, _ in run["items"]] == [*KEYS, "training_accuracy"]
        assert {key: state for key, (state, _) in found.items()} == {key: "passed" for key in found}, run["text"]
        assert "test accuracy" in found["training_accuracy"][1]
    questions = min(run["seconds"] - run["training_seconds"] for run in runs)
    training = min(run["training_seconds"] for run in runs)
    print(f"nine questions: {questions:.3f} s; training check: {training:.3f} s")
    assert questions < 0.5, runs[0]["text"]
    assert training < progress.TRAINING_LIMIT


def test_the_stubs_are_not_started(tmp_path):
    (run,) = summarise(working_copy(tmp_path / "ben", solution=False))
    found = states(run)
    for key in KEYS:
        state, reason = found[key]
        assert state == "not started", run["text"]
        assert f"{question(key).INFO.method} is not implemented yet" in reason
    assert found["training_accuracy"] == ("not started", "runs once the nine questions above pass")
    assert run["text"].startswith("Your progress: 0 of 9 questions pass their visible test")


def test_one_bug_fails_its_question_alone_with_the_tests_reason(tmp_path):
    (run,) = summarise(working_copy(tmp_path / "cy", solution=True, replace=(BIAS, "return x @ self.weight")))
    found = states(run)
    state, reason = found["linear_forward"]
    assert state == "failing" and "without the bias" in reason and "\n" not in reason
    assert all(found[key][0] == "passed" for key in KEYS if key != "linear_forward"), run["text"]
    assert found["training_accuracy"] == ("waiting", "runs once the nine questions above pass (still to do: 1.1)")


LOOP = "while True:\n            pass"
# A loop that catches the first interruption and goes on looping: the alarm fires again.
STUBBORN = "try:\n            while True:\n                pass\n        except BaseException:\n            while True:\n                pass"


@pytest.mark.parametrize("body", [LOOP, STUBBORN], ids=["loop", "loop-swallowing-one-interrupt"])
def test_an_endless_loop_is_stopped_and_the_rest_is_checked(tmp_path, body):
    folder = working_copy(tmp_path / "dee", solution=True, replace=(BIAS, body))
    start = time.perf_counter()
    (run,) = summarise(folder, timeout=60)
    elapsed = time.perf_counter() - start
    found = states(run)
    state, reason = found["linear_forward"]
    assert state == "failing" and f"did not finish within {progress.QUESTION_LIMIT:g} s" in reason, run["text"]
    assert "mytorch/nn.py, line" in reason  # the student's own line
    assert all(found[key][0] == "passed" for key in KEYS if key != "linear_forward"), run["text"]
    assert found["training_accuracy"][0] == "waiting"
    assert elapsed < 4 * progress.QUESTION_LIMIT + 10, elapsed


def test_an_endless_loop_in_a_notebook_kernel(tmp_path):
    """In ipykernel the cell runs in the main thread, where the time limit works: the cell finishes."""
    folder = working_copy(tmp_path / "kernel", solution=True, replace=(BIAS, LOOP))
    nb = nbformat.read(str(folder / "01_forward.ipynb"), as_version=4)
    nb.cells = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade_id") in ("setup", "progress")]
    assert len(nb.cells) == 2
    client = NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(folder)}})
    asyncio.run(client.async_execute(env=nbgrader_env(), cwd=str(folder)))
    (output,) = nb.cells[1].outputs
    text, page = output.data["text/plain"], output.data["text/html"]
    assert "8 of 9 questions pass" in text and "did not finish within" in text, text
    assert page.count("<tr>") == 1 + len(KEYS) + 1 and "did not finish within" in page


def test_a_missing_notebook_is_named(tmp_path):
    folder = working_copy(tmp_path / "eve", solution=True)
    (folder / "03_step.ipynb").unlink()
    (run,) = summarise(folder)
    state, reason = states(run)["sgd_step"]
    assert state == "unavailable" and reason.startswith("03_step.ipynb is not in "), run["text"]
    assert states(run)["linear_forward"][0] == "passed"


def test_a_file_that_does_not_import_is_named_on_every_line(tmp_path):
    folder = working_copy(tmp_path / "fay", solution=True, replace=("class SGD:", "class SGD(:"), file="optim.py")
    (run,) = summarise(folder)
    found = states(run)
    for key in KEYS:
        state, reason = found[key]
        assert state == "failing" and "mytorch cannot be imported: SyntaxError" in reason, run["text"]
        assert "optim.py, line" in reason
    assert found["training_accuracy"][0] == "waiting"


def test_prints_stay_out_and_stderr_counts_as_a_failure(tmp_path):
    chatty = "print('debugging', x.shape)\n        " + BIAS
    (run,) = summarise(working_copy(tmp_path / "gus", solution=True, replace=(BIAS, chatty)))
    assert states(run)["linear_forward"] == ("passed", "")
    assert "debugging" not in run["text"]
    noisy = "import sys; print('oops', file=sys.stderr)\n        " + BIAS
    (run,) = summarise(working_copy(tmp_path / "hal", solution=True, replace=(BIAS, noisy)))
    state, reason = states(run)["linear_forward"]
    assert state == "failing" and "wrote to stderr (oops)" in reason


def test_the_table_escapes_what_student_code_says():
    table = progress.Progress([progress.Item("linear_forward", "1.1", "Linear.forward", "01_forward", "failing",
                                             "raised ValueError: <script>alert(1)</script>")])
    page = table._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "0 of 1 questions pass" in str(table)
