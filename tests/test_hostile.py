"""Grades that student code cannot fake: one stock ``nbgrader autograde`` run on hostile submissions.

One scratch course; many hostile students (tests/hostile_submissions.py) plus an
honest one (ada_correct, full marks) and an honest-but-buggy one (cy_buggy),
all graded by ONE ``nbgrader autograde mlp`` run and one ``generate_feedback``.
Every student's score per question is asserted exactly: a submission loses the
points of what it breaks and nothing else, gains nothing by tampering, and the
honest students graded in the same run get exactly their usual scores.

The isolation case runs as whatever user runs the tests (root in CI): the course
files it attacks are made world-readable and world-writable first, so that only
the sandbox (not file permissions) can be what stops it.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from assignment.instructor.demo import collect, make_course, nbgrader_env, run_nbgrader
from assignment.instructor.gradebook_table import grade_table, question_of
import hostile_intake
import hostile_judging
import hostile_submissions as hs
from course_tools import ASSIGNMENT, EXAMPLES, NOTEBOOKS, RELEASE, hidden_lines, squash
from parallel_tools import TIMEOUT, TRAINING_TIMEOUT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hostile")]

# Small limits (parallel_tools' TIMEOUT, seconds per test, and TRAINING_TIMEOUT) keep the endless loops
# short: an honest test takes about 0.3 s, the honest training about 1 s (a few times more on a loaded machine).
# A bound that catches a run that hangs or waits out long limits, not a benchmark (bench/autograde.py is):
# about 4 s per student on an idle 2-core machine, several times that under load.
SECONDS_PER_STUDENT = 15
SECRET = "instructor-secret-3f9c1b7e"  # in a course file no student may read
ADA_NOTE = "ada-private-note-51d0c2"  # in ada's own notebook: no other student's feedback may show it
Z = hs.scores  # full marks except the questions named

ALL_ZERO = Z(*hs.ALL_KEYS)
NN_AND_DEPENDANTS = Z(*hs.NN_KEYS, "sgd_step", "training_accuracy")  # optim.py imports nn.py
# cy_buggy's three bugs (bias forgotten, ReLU' at 0, loss summed) each cost their own question; its
# MLP still learns the digits (a bias-free MLP reaches 90%), so the training check passes.
CY_BUGGY = Z("linear_forward", "xeloss_forward", "relu_backward")


def _isolation(ctx: hs.Context) -> None:
    course = ctx.course
    reads = [course / "source" / ASSIGNMENT / "01_forward.ipynb", course / "release" / ASSIGNMENT / "01_forward.ipynb",
             course / "gradebook.db", course / "nbgrader_config.py", course / "secret.txt",
             course / "submitted" / "ada_correct" / ASSIGNMENT / "mytorch" / "nn.py",
             course / "submitted", course / "source", course / "mytorch" / "nn.py",
             hs.ROOT / "source" / ASSIGNMENT / "01_forward.ipynb", hs.ROOT / "mytorch" / "nn.py",
             Path("/etc/shadow"), Path("/etc/passwd"), Path("/work"), Path("/home")]
    writes = [course / "gradebook.db", course / "source" / ASSIGNMENT / "01_forward.ipynb",
              course / "pwned.txt", course / "submitted" / "ada_correct" / ASSIGNMENT / "mytorch" / "nn.py",
              ctx.submission / "pwned.txt", ctx.submission / "mytorch" / "nn.py",
              hs.ROOT / "assignment" / "pwned_by_hostile_test.py",
              Path("/sandbox/grader/assignment/pwned.py"), Path("/sandbox/student/mytorch/pwned.py"),
              Path("/sandbox/student/mytorch/nn.py")]
    deletes = [course / "gradebook.db", course / "source" / ASSIGNMENT / "02_backward.ipynb",
               course / "submitted" / "cy_buggy", course / "release", ctx.submission / "03_step.ipynb"]
    hs.steal(ctx, reads, writes, deletes)


# name -> (what it does, how it is built, the scores it deserves, per failing question a phrase of its message)
CASES = [
    hs.Case("monkeypatch", hs.monkeypatch, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "Linear.forward's output", "training_accuracy": "test accuracy"},
            "patches np.allclose, np.testing, print, sys.stdout/stderr at import; Linear.forward returns zeros"),
    hs.Case("tamper_wrong", hs.tamper_wrong, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "Linear.forward's output"},
            "notebook tampering (fake run_test, edited/deleted/duplicated locked cells, metadata) + wrong forward"),
    hs.Case("tamper_correct", hs.tamper, Z(), {}, "the same tampering, correct mytorch"),
    hs.Case("shadow_modules", hs.shadow, Z(), {},
            "numpy.py, numpy/, sitecustomize.py, usercustomize.py, json.py, assignment.py, x.pth, mytorch/numpy.py"),
    hs.Case("torch_in_nn", hs.import_torch_nn, NN_AND_DEPENDANTS,
            {**{k: "imports torch" for k in hs.NN_KEYS}, "sgd_step": "imports mytorch/nn.py, which cannot be graded",
             "training_accuracy": "imports torch"}, "nn.py: import torch"),
    hs.Case("scipy_sklearn_in_nn", hs.import_scipy_sklearn_nn, NN_AND_DEPENDANTS,
            {"linear_forward": "imports scipy, sklearn", "sgd_step": "imports scipy, sklearn"},
            "nn.py: from scipy.special import ...; importlib.import_module('sklearn')"),
    hs.Case("grader_in_nn", hs.import_grader_nn, NN_AND_DEPENDANTS, {"relu_forward": "imports assignment"},
            "nn.py: from assignment.shared.questions import ... (the course's own package)"),
    hs.Case("torch_in_optim", hs.import_torch_optim, Z("sgd_step", "training_accuracy"),
            {"sgd_step": "mytorch/optim.py imports torch", "training_accuracy": "imports torch"},
            "optim.py: import torch"),
    hs.Case("no_mytorch", hs.no_mytorch, ALL_ZERO, {k: "no mytorch/ folder" for k in hs.ALL_KEYS},
            "no mytorch/ (a correct one under lib/ and a mytorch.py shim)"),
    hs.Case("symlinked_mytorch", hs.symlinked_mytorch, ALL_ZERO, {"linear_forward": "no mytorch/ folder"},
            "mytorch/ is a symlink to the course's reference"),
    hs.Case("borrow_reference", hs.borrow_reference, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "not implemented"}, "nn.py loads the reference from the course root / repository"),
    hs.Case("loop_relu_forward", hs.loop_relu_forward, Z("relu_forward", "training_accuracy"),
            {"relu_forward": "did not finish within", "training_accuracy": "did not finish within"},
            "while True: pass in ReLU.forward"),
    hs.Case("loop_swallowing", hs.loop_swallowing, Z("linear_backward", "training_accuracy"),
            {"linear_backward": "did not finish within", "training_accuracy": "did not finish within"},
            "a loop that swallows KeyboardInterrupt/SystemExit in Linear.backward"),
    hs.Case("loop_at_import", hs.loop_at_import, ALL_ZERO, {"linear_forward": "did not finish within"},
            "while True: pass at import of nn.py"),
    hs.Case("sys_exit_at_import", hs.sys_exit_at_import, ALL_ZERO, {"linear_forward": "SystemExit"},
            "sys.exit(0) at import of nn.py"),
    hs.Case("os_exit_at_import", hs.os_exit_at_import, ALL_ZERO, {"linear_forward": "ended the grading process"},
            "os._exit(0) at import of nn.py"),
    hs.Case("kill_at_import", hs.kill_at_import, ALL_ZERO, {"linear_forward": "killed by SIGKILL",
                                                            "sgd_step": "killed by SIGKILL"},
            "os.kill(os.getpid(), SIGKILL) at import of nn.py"),
    hs.Case("raise_at_import", hs.raise_at_import, ALL_ZERO, {"linear_forward": "nn.py refuses to be imported"},
            "raise at import of nn.py"),
    hs.Case("raise_at_import_optim", hs.raise_at_import_optim, Z("sgd_step", "training_accuracy"),
            {"sgd_step": "optim.py refuses to be imported"}, "raise at import of optim.py"),
    hs.Case("memory_array", hs.memory_array, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "ran out of memory", "training_accuracy": "ran out of memory"},
            "np.ones((50_000, 1_000_000)) in Linear.forward"),
    hs.Case("memory_list", hs.memory_list, Z("relu_backward", "training_accuracy"),
            {"relu_backward": "ran out of memory"}, "a list-append loop in ReLU.backward"),
    hs.Case("fork_bomb", hs.fork_bomb, Z("relu_backward", "training_accuracy"),
            {"relu_backward": "forked 0 processes"}, "os.fork() in a loop in ReLU.backward"),
    hs.Case("print_flood", hs.print_flood, Z("linear_backward", "training_accuracy"),
            {"linear_backward": "wrote too much output"}, "printing 120 MB in Linear.backward"),
    # A forged report is judged like any answer: its made-up values are wrong, and an accuracy
    # claimed by the sandbox counts for nothing (the grader scores predictions itself).
    hs.Case("forged_report_in_method", hs.forged_report_in_method, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "the report of this test is malformed",
             "training_accuracy": "the report of this test is malformed"},
            "Linear.forward writes a report claiming success, then os._exit(0)"),
    hs.Case("forged_report_at_import", hs.forged_report_at_import, ALL_ZERO,
            {"linear_forward": "the report of this test is malformed",
             "training_accuracy": "the report of this test is malformed"},
            "nn.py writes a report claiming success (accuracy 1.0 included) at import, then os._exit(0)"),
    hs.Case("empty_report_at_import", hs.empty_report_at_import, ALL_ZERO,
            {"linear_forward": "ended the grading process"}, "nn.py empties its report at import, then os._exit(0)"),
    hs.Case("peek_expected", hs.peek_expected, Z("linear_forward", "training_accuracy"),
            {"linear_forward": "differs from the expected values"},
            "Linear.forward returns the expected answer found in its caller's frames"),
    hs.Case("fake_accuracy", hs.fake_accuracy, Z("sgd_step", "training_accuracy"),
            {"training_accuracy": "8.4% test accuracy"},
            "nn.py rigs the training check's accuracy at import; SGD.step does nothing"),
    hs.Case("isolation", _isolation, Z(), {},
            "reads/writes/deletes course files, gradebook, other students, network, kills a host process"),
    # nbgrader itself scores a missing notebook zero before any preprocessor runs (and makes no
    # feedback for it): the training check, whose notebook is missing, scores zero although the
    # code would pass it. The unreadable notebooks are graded in full from mytorch/.
    hs.Case("malformed_notebooks", hs.malformed_notebooks, Z("training_accuracy"), {},
            "01 invalid JSON, 02 schema_version 99, 03 empty file, 04 missing"),
    hs.Case("symlinked_notebooks", hs.symlinked_notebooks, Z(), {},
            "01 a symlink to ada's notebook, 02 a symlink to the source notebook (hidden tests)"),
]
CASES += hostile_judging.CASES + hostile_intake.CASES  # each kind of attack in its own module
HONEST = {"ada_correct": Z(), "cy_buggy": CY_BUGGY}
STUDENTS = list(HONEST) + [c.name for c in CASES]  # everyone graded in the one run


# --------------------------------------------------------------------------- the one autograde run


@dataclass
class Graded:
    course: Path
    table: dict
    autograde_seconds: float
    feedback_seconds: float
    before: dict[str, str]
    after: dict[str, str]
    victim_alive: bool
    connections: list
    autograde_log: str
    setting: str  # one of SETTINGS


def _digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Relative path -> sha256, for every file under ``folder`` (symlinks by their target)."""
    digests = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        if path.is_symlink():
            digests[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            digests[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _protected(course: Path) -> dict[str, str]:
    """Everything autograde and feedback must leave alone (the gradebook is checked apart)."""
    return _digest(course, skip=("gradebook.db", "autograded", "feedback", "logs", ".grading_cache"))


def _listen() -> tuple[socket.socket, list]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    connections: list = []

    def accept():
        while True:
            try:
                conn, peer = server.accept()
                connections.append(peer)
                conn.close()
            except socket.timeout:
                continue
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, connections


def _make_world_writable(course: Path) -> None:
    """So that only the sandbox can stop hostile code, even if it ran as another user."""
    for path in [course, *course.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o777 if path.is_dir() else 0o666)


# Where the class is graded: on this machine with a backend forced ("bubblewrap", "landlock"), or in a
# simulated default container ("container": tests/container_sim.py, where the grader must pick Landlock
# by itself). tests/test_hostile_landlock.py and tests/test_hostile_container.py run this whole module's
# assertions again in the other two settings, so every setting must give the same exact scores.
SETTINGS = ("bubblewrap", "landlock", "container")


def _autograde(course: Path, setting: str, *args: str) -> subprocess.CompletedProcess:
    """``nbgrader autograde ARGS`` in ``setting`` (see SETTINGS); its output is also kept in course/logs."""
    assert setting in SETTINGS, setting
    if setting != "container":
        return run_nbgrader(course, "autograde", *args, f"--GradeInSandbox.backend={setting}", check=False)
    from container_sim import run_in_simulated_container

    argv = [sys.executable, "-m", "nbgrader", "autograde", *args, "--GradeInSandbox.backend=auto"]
    result = run_in_simulated_container(argv, nbgrader_env(), course,
                                        timeout=SECONDS_PER_STUDENT * len(STUDENTS) * 2)
    (course / "logs").mkdir(exist_ok=True)
    (course / "logs" / "autograde.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    return result


def grade_class(tmp_path_factory, setting: str) -> Graded:
    """Build the hostile class in a scratch course and grade it once in ``setting``."""
    course = tmp_path_factory.mktemp(f"hostile-{setting}") / "course"
    make_course(course)
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert collect(course, EXAMPLES, list(HONEST)) == sorted(HONEST)
    ada = course / "submitted" / "ada_correct" / ASSIGNMENT / "01_forward.ipynb"
    nb = json.loads(ada.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": f"My own notes: {ADA_NOTE}"})
    ada.write_text(json.dumps(nb), encoding="utf-8")
    (course / "secret.txt").write_text(SECRET + "\n", encoding="utf-8")
    victim = subprocess.Popen(["sleep", "7200"])  # outlives the slowest run
    server, connections = _listen()
    try:
        for case in CASES:
            submission = course / "submitted" / case.name / ASSIGNMENT
            shutil.copytree(course / "release" / ASSIGNMENT, submission)
            shutil.rmtree(submission / "mytorch")
            shutil.copytree(hs.ADA, submission / "mytorch")
            (submission / "timestamp.txt").write_text("2026-11-29 09:00:00.000000 UTC\n", encoding="utf-8")
            case.build(hs.Context(course, submission, victim.pid, server.getsockname()[1]))
        _make_world_writable(course)
        before = _protected(course)
        started = time.perf_counter()
        result = _autograde(course, setting, ASSIGNMENT, f"--GradeInSandbox.timeout={TIMEOUT}",
                            f"--GradeInSandbox.training_timeout={TRAINING_TIMEOUT}",
                            "--Application.log_format=%(asctime)s [%(name)s | %(levelname)s] %(message)s")
        autograde_seconds = time.perf_counter() - started
        assert result.returncode == 0, f"nbgrader autograde failed:\n{result.stderr[-5000:]}"
        started = time.perf_counter()
        feedback = run_nbgrader(course, "generate_feedback", ASSIGNMENT, check=False)
        feedback_seconds = time.perf_counter() - started
        assert feedback.returncode == 0, f"nbgrader generate_feedback failed:\n{feedback.stderr[-5000:]}"
        after = _protected(course)
        alive = victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
        server.close()
        stray = hs.ROOT / "assignment" / "pwned_by_hostile_test.py"
        if stray.exists():  # only if the sandbox failed; keep the repository clean all the same
            stray.unlink()
    return Graded(course, grade_table(course, ASSIGNMENT), autograde_seconds, feedback_seconds, before, after,
                  alive, list(connections), result.stdout + result.stderr, setting)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    return grade_class(tmp_path_factory, "bubblewrap")


def _outputs(course: Path, student: str) -> dict[str, str]:
    """grade_id -> the text of its output in the student's autograded notebooks (graded test cells only,
    not the graded-code cells that follow each question's tests)."""
    texts = {}
    for name in NOTEBOOKS:
        path = course / "autograded" / student / ASSIGNMENT / name
        if not path.exists():
            continue
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if grade_id and meta.get("grade") and cell.get("cell_type") == "code":
                texts[grade_id] = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
    return texts


def _feedback_text(course: Path, student: str) -> str:
    """The student's feedback pages as plain text (tags removed, entities decoded)."""
    pages = sorted((course / "feedback" / student / ASSIGNMENT).glob("*.html"))
    return "\n".join(html.unescape(re.sub(r"<[^>]+>", "", p.read_text(encoding="utf-8"))) for p in pages)


# --------------------------------------------------------------------------- the assertions


def test_autograde_finishes_in_reasonable_time(graded):
    print(f"\nautograde: {graded.autograde_seconds:.1f} s for {len(STUDENTS)} students; "
          f"generate_feedback: {graded.feedback_seconds:.1f} s")
    assert graded.autograde_seconds < SECONDS_PER_STUDENT * len(STUDENTS)


def test_every_student_is_in_the_gradebook(graded):
    assert set(graded.table) == set(STUDENTS)


@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_students_get_their_usual_scores(graded, student):
    row = graded.table[student]
    assert {k: s for k, (s, _) in row.items()} == HONEST[student]
    assert {k: m for k, (_, m) in row.items()} == hs.MAX_POINTS


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_student_gets_exactly_what_it_deserves(graded, case):
    row = graded.table[case.name]
    got = {k: s for k, (s, _) in row.items()}
    assert got == case.expected, f"{case.name} ({case.what})"
    # Tampering cannot add graded cells or points: the maximum is the gradebook's.
    assert {k: m for k, (_, m) in row.items()} == hs.MAX_POINTS


@pytest.mark.parametrize("case", [c for c in CASES if c.messages], ids=[c.name for c in CASES if c.messages])
def test_failures_say_why(graded, case):
    outputs = _outputs(graded.course, case.name)
    feedback = _feedback_text(graded.course, case.name)
    for key, phrase in case.messages.items():
        failing = {g: t for g, t in outputs.items() if question_of(g) == key}
        assert failing, f"no graded cell of {key} in {case.name}'s autograded notebooks"
        for grade_id, text in failing.items():
            assert "FAILED" in text and phrase in text, f"{case.name}/{grade_id}: {text!r}"
        assert phrase in feedback, f"{case.name}'s feedback does not say {phrase!r}"


def test_feedback_exists_for_every_student(graded):
    for student in STUDENTS:
        pages = {p.name for p in (graded.course / "feedback" / student / ASSIGNMENT).glob("*.html")}
        submitted = {n for n in NOTEBOOKS if (graded.course / "submitted" / student / ASSIGNMENT / n).exists()}
        assert {n.replace(".ipynb", ".html") for n in submitted} <= pages, student


def test_no_hidden_test_source_in_any_feedback(graded):
    released = squash("\n".join(p.read_text(encoding="utf-8") for p in RELEASE.glob("*.ipynb")))
    secret = [squash(line) for line in hidden_lines() if len(squash(line)) >= 12]
    secret = [line for line in secret if line not in released]
    assert len(secret) > 20
    for page in (graded.course / "feedback").rglob("*.html"):
        text = squash(html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))))
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{page}: {leaked[:3]}"
        assert "BEGINHIDDENTESTS" not in text


def test_isolation_course_files_unchanged(graded):
    assert graded.after == graded.before
    for name in ("pwned.txt",):
        assert not (graded.course / name).exists()
    assert not (hs.ROOT / "assignment" / "pwned_by_hostile_test.py").exists()


def test_isolation_gradebook_intact(graded):
    db = graded.course / "gradebook.db"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # Every other student's row is there and exact (the scores tests check the values).
    assert set(graded.table) == set(STUDENTS)


def test_isolation_nothing_stolen(graded):
    for folder in ("autograded", "feedback"):
        for path in (graded.course / folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert hs.STOLEN.encode() not in data, path
                assert SECRET.encode() not in data, path
    assert hs.STOLEN not in graded.autograde_log


def test_no_student_sees_another_students_notebook(graded):
    for student in STUDENTS:
        if student != "ada_correct":
            assert ADA_NOTE not in _feedback_text(graded.course, student), student
            for path in (graded.course / "autograded" / student).rglob("*.ipynb"):
                assert ADA_NOTE not in path.read_text(encoding="utf-8"), path
    assert ADA_NOTE in _feedback_text(graded.course, "ada_correct")
    assert "is a symbolic link" in _feedback_text(graded.course, "symlinked_notebooks")


def test_isolation_no_network_no_kill(graded):
    assert graded.connections == []
    assert graded.victim_alive


def test_isolation_was_proven_as_root(graded):
    """CI runs the grader as root, the hardest case: the sandbox user is then root outside its
    namespace (RLIMIT_NPROC does not bind it, file permissions do not stop it). The isolation
    tests above ran as this user; this one says whether that was root."""
    if os.geteuid() != 0:
        pytest.skip(f"run as uid {os.geteuid()}: the isolation tests passed unprivileged, not as root")


def test_the_backend_is_the_one_of_the_setting(graded):
    """Each setting grades with the backend it is meant to prove: the log names it (and, in the
    simulated container, auto must have chosen Landlock because bubblewrap cannot start there)."""
    wanted = "bubblewrap" if graded.setting == "bubblewrap" else "landlock"
    assert re.search(rf"grading sandbox: {wanted}\b", graded.autograde_log, re.I), graded.autograde_log[-3000:]
