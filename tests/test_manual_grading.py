"""Manual grading in formgrader: each question's graded code beside its tests, a comment box per question.

In a scratch course (the shipped config, the real nbgrader, a real SQLite
gradebook, the real sandbox), three students are graded: ``ada_correct`` (the
reference), ``cy_buggy`` (three bugs) and ``eve_hostile``, whose files hold a
script tag, ANSI escapes and a 5000-character line in ``Linear.forward``, no
``ReLU.backward`` at all, an untouched stub in ``CrossEntropyLoss.backward``
and a syntax error in ``optim.py``. Then:

- every question's ``<key>_graded_code`` cell, right after its tests, shows the
  student's own method with its line numbers, in the autograded notebook and in
  the feedback HTML; the hostile text is escaped, never live;
- formgrader (a real Jupyter server with nbgrader's extension) serves each
  question's comment box; a comment saved through formgrader's own API and one
  saved through nbgrader's ``Gradebook`` reach ``generate_feedback``'s HTML;
- the automatic scores are exactly what they were (30, 21, and eve's), the
  maximum stays 30, and no submission is flagged as needing a manual grade.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from assignment.instructor.demo import collect, make_course, run_nbgrader
from assignment.instructor.gradebook_table import grade_table
from assignment.shared.questions import TRAINING_KEY as TRAINING
from assignment.instructor.grading.graded_code import (MAX_LINE_CHARS, MAX_METHOD_LINES, excerpt, graded_code_id,
                                            render)
from assignment.instructor.grading.policy import read_submission
from assignment.shared.questions import KEYS, question
from course_tools import ADA, ASSIGNMENT, EXAMPLES, NOTEBOOKS, RELEASE, SOURCE, gradebook_url

from servers import free_port, wait_until_serving

pytestmark = [pytest.mark.slow]

ALL = KEYS + (TRAINING,)
HOSTILE = "eve_hostile"
SCRIPT = "<script>alert('graded')</script>"
ANSI = "\x1b[31m"
STUDENTS = ("ada_correct", "cy_buggy", HOSTILE)


def _hostile_submission(examples: Path) -> None:
    """eve: the reference with hostile text in Linear.forward, ReLU.backward deleted, the stub of
    CrossEntropyLoss.backward put back, and an optim.py that does not parse."""
    target = examples / HOSTILE / ASSIGNMENT / "mytorch"
    shutil.copytree(ADA, target)
    nn = (target / "nn.py").read_text(encoding="utf-8")
    forward = "        return x @ self.weight + self.bias\n"
    assert forward in nn
    nn = nn.replace(forward, f"        note = \"{SCRIPT} {ANSI}red\u202e\"  # {ANSI}{'y' * 5000}\n" + forward, 1)
    relu_backward = re.search(r"\n    def backward\(self, grad: np.ndarray\) -> np.ndarray:\n        \"\"\"Question 2\.3.*?"
                              r"(?=\n\n\nclass )", nn, re.S)
    assert relu_backward, "the reference's ReLU.backward"
    nn = nn.replace(relu_backward.group(), "", 1)
    stub = (RELEASE / "mytorch" / "nn.py").read_text(encoding="utf-8")
    stub_backward = stub[stub.index("    def backward(self) -> np.ndarray:"):]
    nn = nn[:nn.index("    def backward(self) -> np.ndarray:")] + stub_backward
    (target / "nn.py").write_text(nn, encoding="utf-8")
    (target / "optim.py").write_text((target / "optim.py").read_text(encoding="utf-8") + "\ndef broken(:\n",
                                     encoding="utf-8")


class Course:
    def __init__(self, root: Path):
        self.root = root

    def run(self, *args: str) -> str:
        result = run_nbgrader(self.root, *args, check=False)
        assert result.returncode == 0, f"nbgrader {' '.join(args)}: {(result.stdout + result.stderr)[-3000:]}"
        return result.stdout + result.stderr

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def autograded(self, student: str, notebook: str) -> nbformat.NotebookNode:
        return nbformat.read(str(self.root / "autograded" / student / ASSIGNMENT / notebook), as_version=4)

    def feedback(self, student: str, notebook: str) -> str:
        return (self.root / "feedback" / student / ASSIGNMENT / notebook.replace(".ipynb", ".html")).read_text(
            encoding="utf-8")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    folder = tmp_path_factory.mktemp("manual")
    examples = folder / "examples"
    for name in ("ada_correct", "cy_buggy"):
        shutil.copytree(EXAMPLES / name, examples / name)
    _hostile_submission(examples)
    with gradebook_url(None):
        c = Course(folder / "course")
        make_course(c.root)
        c.run("generate_assignment", ASSIGNMENT, "--force")
        assert collect(c.root, examples) == sorted(STUDENTS)
        c.log = c.run("autograde", ASSIGNMENT, "--force")
        c.run("generate_feedback", ASSIGNMENT, "--force")
        yield c


def _expected_scores() -> dict[str, dict[str, tuple[float, float]]]:
    full = {key: (3.0, 3.0) for key in ALL}
    # eve: Linear.forward still right (the hostile line is a comment and a string); no ReLU.backward,
    # the loss's backward a stub, optim.py unparsable: those questions and the training score zero.
    eve = {**full, **{key: (0.0, 3.0) for key in ("relu_backward", "xeloss_backward", "sgd_step", TRAINING)}}
    return {
        "ada_correct": full,
        "cy_buggy": {**full, "linear_forward": (0.0, 3.0), "relu_backward": (0.0, 3.0), "xeloss_forward": (0.0, 3.0)},
        HOSTILE: eve,
    }


def _cells(nb) -> dict[str, nbformat.NotebookNode]:
    return {cell.metadata.get("nbgrader", {}).get("grade_id", ""): cell for cell in nb.cells}


def _ids(nb) -> list[str]:
    return [cell.metadata.get("nbgrader", {}).get("grade_id", "") for cell in nb.cells]


def _notebook_of(key: str) -> str:
    return "04_training.ipynb" if key == TRAINING else f"{question(key).INFO.notebook}.ipynb"


def _shown(cell) -> tuple[str, str]:
    (output,) = cell.outputs
    assert output.output_type == "display_data"
    return output.data["text/plain"], output.data["text/html"]


# ---------------------------------------------------------------------------
# The source notebooks and the release
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", ALL)
def test_each_question_has_a_graded_code_cell_and_a_zero_point_comment_cell_after_its_tests(key):
    for folder in (SOURCE, RELEASE):
        nb = nbformat.read(str(folder / _notebook_of(key)), as_version=4)
        ids = _ids(nb)
        last_test = ids.index(TRAINING if key == TRAINING else f"{key}_3")
        assert ids[last_test + 1: last_test + 3] == [graded_code_id(key), f"{key}_comments"], folder
        code, comments = nb.cells[last_test + 1], nb.cells[last_test + 2]
        assert code.cell_type == "code" and code.outputs == []
        assert code.metadata.nbgrader.locked and not code.metadata.nbgrader.grade
        meta = comments.metadata.nbgrader
        assert comments.cell_type == "markdown"
        assert meta.task and meta.locked and not meta.grade and not meta.solution and meta.points == 0
        assert comments.source.startswith("#### Comments on ") and "no points" in comments.source


# ---------------------------------------------------------------------------
# What autograde writes
# ---------------------------------------------------------------------------


def test_automatic_scores_are_unchanged_and_nothing_is_flagged(course):
    assert grade_table(course.root, ASSIGNMENT, course.db_url) == _expected_scores()
    with Gradebook(course.db_url) as gb:
        assert gb.find_assignment(ASSIGNMENT).max_score == 30
        for student in STUDENTS:
            submission = gb.find_submission(ASSIGNMENT, student)
            assert not submission.needs_manual_grade, student
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.name.endswith("_comments"):
                        assert (grade.max_score, grade.score, grade.auto_score) == (0, 0, 0), grade
    assert "metadata restored" not in course.log


def _method_lines(path: Path, method: str) -> list[str]:
    """The method's lines, read straight from the student's file (what the cell must show)."""
    import ast

    source = path.read_text(encoding="utf-8")
    class_name, name = method.split(".")
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == class_name)
    node = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return source.split("\n")[node.lineno - 1: node.end_lineno]


@pytest.mark.parametrize("student", ("ada_correct", "cy_buggy"))
def test_the_autograded_notebook_shows_each_questions_own_methods_after_its_tests(course, student):
    files = EXAMPLES / student / ASSIGNMENT / "mytorch"
    for key in ALL:
        nb = course.autograded(student, _notebook_of(key))
        cells = _cells(nb)
        plain, rich = _shown(cells[graded_code_id(key)])
        methods = KEYS if key == TRAINING else (key,)
        for k in methods:
            info = question(k).INFO
            assert f"{info.method} in {info.module}, lines " in plain
            for line in _method_lines(files / info.module.split("/")[1], info.method):
                assert line in plain and html.escape(line) in rich
        if key != TRAINING:
            others = [question(k).INFO.method for k in KEYS if question(k).INFO.method != question(key).INFO.method]
            assert not [m for m in others if f"{m} in " in plain], "one question, its own method only"
        # the tests still carry their verdicts, right before the code
        ids = _ids(nb)
        assert ids.index(graded_code_id(key)) == ids.index(TRAINING if key == TRAINING else f"{key}_3") + 1
    plain, _ = _shown(_cells(course.autograded("cy_buggy", "01_forward.ipynb"))[graded_code_id("linear_forward")])
    assert "return x @ self.weight  # forgot the bias" in plain


def test_the_feedback_shows_the_graded_code(course):
    page = course.feedback("cy_buggy", "01_forward.ipynb")
    assert "Graded code of Question 1.1 (Linear.forward)" in page
    assert html.escape("return x @ self.weight  # forgot the bias") in page
    assert page.index("Graded code of Question 1.1") < page.index("Comments on Question 1.1")
    training = course.feedback("ada_correct", "04_training.ipynb")
    assert "Graded code of the training check" in training and "SGD.step in mytorch/optim.py" in training


def test_a_hostile_submission_is_shown_escaped_with_notes(course):
    forward, rich = _shown(_cells(course.autograded(HOSTILE, "01_forward.ipynb"))[graded_code_id("linear_forward")])
    assert SCRIPT not in rich and html.escape(SCRIPT) in rich, "the script tag is text"
    assert SCRIPT in forward, "text/plain shows the student's text as it is (plain text runs nothing)"
    assert "\x1b" not in forward + rich and "\\x1b[31m" in forward, "ANSI escapes are shown, not obeyed"
    assert "\u202e" not in forward and "\\u202e" in forward, "a right-to-left override is shown as its escape"
    assert "more characters)" in forward and max(len(line) for line in forward.splitlines()) < MAX_LINE_CHARS + 60

    relu, _ = _shown(_cells(course.autograded(HOSTILE, "02_backward.ipynb"))[graded_code_id("relu_backward")])
    assert re.search(r"class ReLU \(line \d+\) has no method backward", relu)
    stub, _ = _shown(_cells(course.autograded(HOSTILE, "02_backward.ipynb"))[graded_code_id("xeloss_backward")])
    assert "raise NotImplementedError" in stub and "the stub as handed out" in stub
    sgd, _ = _shown(_cells(course.autograded(HOSTILE, "03_step.ipynb"))[graded_code_id("sgd_step")])
    assert re.search(r"SGD\.step in mytorch/optim\.py: not found; lines \d+-\d+, around the syntax error", sgd)
    assert "def broken(:" in sgd and "mytorch/optim.py does not parse" in sgd
    assert re.search(r"These tests score zero: mytorch/optim\.py has a syntax error at line \d+", sgd)

    page = course.feedback(HOSTILE, "01_forward.ipynb")
    assert "<script>alert(" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(" in page, "shown as text (nbconvert writes the quotes back unescaped)"


# ---------------------------------------------------------------------------
# formgrader and the comments
# ---------------------------------------------------------------------------


def _submission_id(gb: Gradebook, student: str, notebook: str) -> str:
    return gb.find_submission_notebook(notebook, ASSIGNMENT, student).id


def _formgrader(course: Course, workdir: Path):
    """A Jupyter server with nbgrader's formgrader, serving the scratch course, on loopback."""
    port, token = free_port(), "manual-grading-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"), "HOME": str(workdir),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    log = workdir / "formgrader.log"
    command = [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course.root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=course.root, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(f"{base}/formgrader/api/status?token={token}", process, log, "formgrader")
    return process, base, token


def _request(url: str, method: str = "GET", body: dict | None = None, token: str = "") -> str:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read().decode("utf-8")


def test_comments_from_formgrader_and_the_gradebook_reach_the_feedback(course, tmp_path):
    with Gradebook(course.db_url) as gb:
        cy_forward = _submission_id(gb, "cy_buggy", "01_forward")
        eve_forward = _submission_id(gb, HOSTILE, "01_forward")
        comment_id = gb.find_comment("xeloss_forward_comments", "01_forward", ASSIGNMENT, "cy_buggy").id
    process, base, token = _formgrader(course, tmp_path)
    try:
        page = _request(f"{base}/formgrader/submissions/{cy_forward}/", token=token)
        for key in ("linear_forward", "relu_forward", "sequential_forward", "xeloss_forward"):
            assert f'id="{key}_comments-comment"' in page, f"a comment box for {key}"
        assert "Graded code of Question 1.1 (Linear.forward)" in page
        assert html.escape("return x @ self.weight  # forgot the bias") in page
        hostile = _request(f"{base}/formgrader/submissions/{eve_forward}/", token=token)
        assert "<script>alert(" not in hostile and "&lt;script&gt;alert(" in hostile
        # What the comment box does when the instructor leaves it: PUT the text to formgrader's API.
        saved = json.loads(_request(f"{base}/formgrader/api/comment/{comment_id}", "PUT",
                                    {"manual_comment": "Mean, not **sum**: divide by N."}, token=token))
        assert saved["manual_comment"] == "Mean, not **sum**: divide by N."
    finally:
        process.terminate()
        process.wait(timeout=30)
    with Gradebook(course.db_url) as gb:
        gb.find_comment("linear_forward_comments", "01_forward", ASSIGNMENT, "cy_buggy").manual_comment = \
            "Where does the bias go?"
        gb.db.commit()
    with gradebook_url(None):
        course.run("generate_feedback", ASSIGNMENT, "--student", "cy_buggy", "--force")
    page = course.feedback("cy_buggy", "01_forward.ipynb")
    assert "Where does the bias go?" in page
    assert "Mean, not <strong>sum</strong>: divide by N." in page, "the comment is Markdown, as nbgrader renders it"
    at = page.index("Where does the bias go?")
    assert page.rindex("Comments on Question 1.1", 0, at) > page.rindex("Graded code of Question 1.1", 0, at)
    assert page.index("Comments on Question 1.2") > at, "the comment sits under its own question"
    assert grade_table(course.root, ASSIGNMENT, course.db_url) == _expected_scores(), "comments change no score"


# ---------------------------------------------------------------------------
# The rendering, on files no notebook run needs
# ---------------------------------------------------------------------------


def _submission(tmp_path: Path, nn: str, optim: str | None = None):
    package = tmp_path / "sub" / "mytorch"
    package.mkdir(parents=True)
    (package / "nn.py").write_text(nn, encoding="utf-8")
    if optim is not None:
        (package / "optim.py").write_text(optim, encoding="utf-8")
    return read_submission(tmp_path / "sub")


def test_deep_nesting_a_missing_file_and_long_methods_give_notes_not_errors(tmp_path):
    for deep in ("-" * 100_000 + "1", "1" + "+1" * 150_000):  # MemoryError, RecursionError in the parser
        source = f"class Linear:\n    def forward(self, x):\n        return x\n\n_DEEP = {deep}\n"
        sub = _submission(tmp_path / str(len(deep)), source)
        item = excerpt(sub, "Linear.forward", "mytorch/nn.py")
        assert item.lines == [] and any("nested too deeply" in note for note in item.notes), item.notes
    missing = excerpt(sub, "SGD.step", "mytorch/optim.py")
    assert missing.notes == ["mytorch/optim.py is missing from the submission"]
    long = "class Linear:\n    def forward(self, x):\n" + "        x = x\n" * 500 + "        return x\n"
    shown = excerpt(_submission(tmp_path / "long", long), "Linear.forward", "mytorch/nn.py")
    assert len(shown.lines) == MAX_METHOD_LINES and any("first 80 of 502 lines" in note for note in shown.notes)
    output = render("linear_forward", [item, missing, shown])
    assert "nested too deeply" in output.data["text/plain"] and "<pre" in output.data["text/html"]


def test_the_last_definition_is_shown_and_a_later_replacement_is_named(tmp_path):
    source = ("class Linear:\n    def forward(self, x):\n        return 1\n\n"
              "class Linear:\n    def forward(self, x):\n        return 2\n    forward = staticmethod(forward)\n\n"
              "Linear.forward = lambda self, x: 3\n")
    item = excerpt(_submission(tmp_path, source), "Linear.forward", "mytorch/nn.py")
    assert item.first_line == 8 and item.lines == ["    forward = staticmethod(forward)"]
    assert any("more than once" in note for note in item.notes)
    assert any("not written with def" in note for note in item.notes)
    item = excerpt(_submission(tmp_path / "b", source.replace("    forward = staticmethod(forward)\n", "")),
                   "Linear.forward", "mytorch/nn.py")
    assert item.lines[-1] == "        return 2" and any("Line 9 replaces Linear.forward" in n for n in item.notes)


def test_every_notebook_still_validates_with_nbgrader():
    from nbgrader.nbgraderformat import MetadataValidator

    for folder in (SOURCE, RELEASE):
        for name in NOTEBOOKS:
            MetadataValidator().validate_nb(nbformat.read(str(folder / name), as_version=4))
