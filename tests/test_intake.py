"""What autograde takes in from a submission: safe reads, safe text, safe copies.

Unit tests of ``safe_files`` (regular files only, no link followed, no pipe opened,
size-capped), ``text`` (UTF-8-safe and Markdown-inert text), ``policy`` (files decoded
and parsed as Python's import does, never raising) and ``intake`` (what is copied into
``autograded/`` and what the student is told), then one stock ``nbgrader autograde`` and
``generate_feedback`` run on the intake attacks of tests/hostile_intake.py: what lands in
``autograded/`` and ``feedback/``, what the notices say, and that ``submitted/`` is left
exactly as it was. (Their scores are asserted by tests/test_hostile.py, in its one
sandboxed run; this run leaves the sandbox out, since intake happens before it.)
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbconvert.filters.markdown import markdown2html_mistune
from nbformat.v4 import new_code_cell, new_notebook, new_output

import hostile_intake
import hostile_submissions as hs
from assignment.instructor.grading import intake
from assignment.instructor.grading.intake import MAX_FILE_BYTES, MAX_LISTED, Intake, read_package, take_in
from assignment.instructor.grading.policy import read_submission, source_bytes, write_package
from assignment.instructor.grading.reader import TolerantNotebookExporter
from assignment.instructor.grading.safe_files import RefusedFile, read_file, read_regular
from assignment.instructor.grading.text import markdown_literal, utf8_safe, utf8_safe_json
from course_tools import ADA, ASSIGNMENT, NOTEBOOKS, RELEASE, nbgrader, scratch_course


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``: opening a
    named pipe for reading blocks until a writer comes, and SIGALRM interrupts that wait."""
    def expire(signum, frame):
        raise TimeoutError(f"blocked for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def make_socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.close()


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> what it is (a link's target, a file's bytes' hash, a special file's kind)."""
    seen = {}
    for path in sorted(folder.rglob("*")):
        mode = path.lstat().st_mode
        rel = str(path.relative_to(folder))
        if stat.S_ISLNK(mode):
            seen[rel] = "-> " + os.readlink(path)
        elif stat.S_ISREG(mode):
            seen[rel] = f"{path.stat().st_size}:{hash(path.read_bytes()[:4096])}"
        else:
            seen[rel] = stat.filemode(mode)
    return seen


def ada_submission(folder: Path) -> Path:
    shutil.copytree(RELEASE, folder)
    shutil.rmtree(folder / "mytorch")
    shutil.copytree(ADA, folder / "mytorch")
    (folder / "timestamp.txt").write_text("2026-11-29 09:00:00.000000 UTC\n", encoding="utf-8")
    (folder / "submission_secret.txt").write_text("0123456789abcdef" * 8, encoding="utf-8")  # as nbgrader submit
    return folder


# --------------------------------------------------------------------------- safe_files


def test_a_regular_file_is_read(tmp_path):
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    assert read_regular(tmp_path / "a.py", 100) == b"x = 1\n"
    assert read_file(tmp_path / "a.py", 6) == b"x = 1\n"


def test_special_entries_are_refused_without_being_opened(tmp_path):
    (tmp_path / "real.txt").write_text("secret", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "real.txt")
    os.mkfifo(tmp_path / "fifo")
    make_socket(tmp_path / "sock")
    (tmp_path / "zeros").symlink_to("/dev/zero")
    (tmp_path / "folder").mkdir()
    expected = {"link": "is a symbolic link, not a regular file", "fifo": "is a named pipe (FIFO), not a regular file",
                "sock": "is a socket, not a regular file", "zeros": "is a symbolic link, not a regular file",
                "folder": "is a folder, not a regular file", "missing": "cannot be read (No such file or directory)"}
    with deadline(10):
        for name, why in expected.items():
            with pytest.raises(RefusedFile) as refused:
                read_regular(tmp_path / name, 1000)
            assert str(refused.value) == why
    if os.geteuid() == 0:  # a real device node (root may make one): refused before it is opened
        os.mknod(tmp_path / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with pytest.raises(RefusedFile, match="is a device"):
            read_regular(tmp_path / "null", 1000)


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path):
    with open(tmp_path / "big", "wb") as out:
        out.truncate(2**30)
    started = time.perf_counter()
    with pytest.raises(RefusedFile, match="is larger than 512 KiB"):
        read_regular(tmp_path / "big", MAX_FILE_BYTES)
    assert time.perf_counter() - started < 1.0


def test_a_file_in_a_linked_folder_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.txt").write_text("x", encoding="utf-8")
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    with pytest.raises(RefusedFile, match="is in a folder that is a symbolic link"):
        read_file(tmp_path / "linked" / "a.txt", 10)


# --------------------------------------------------------------------------- text


def test_utf8_safe_text_and_json():
    assert utf8_safe("bad \ud800 end") == "bad \\ud800 end"
    document = json.dumps({"text": "bad \ud800 end, \udcff"}, ensure_ascii=False)
    with pytest.raises(UnicodeEncodeError):
        document.encode("utf-8")
    safe = utf8_safe_json(document)
    safe.encode("utf-8")
    assert json.loads(safe) == {"text": "bad \\ud800 end, \\udcff"}  # as utf8_safe shows it, and stays so
    assert utf8_safe_json(safe) == safe


@pytest.mark.parametrize("name", ["<img src=x onerror=alert(1)>", "a`b`c", "**bold** _it_", "[x](javascript:1)",
                                  "line\nbreak", "\u202eexe.txt", "caf\u00e9 & <b>", "bad\udcff"])
def test_markdown_literal_is_shown_as_is_and_never_rendered(name):
    shown = markdown_literal(name)
    rendered = markdown2html_mistune(f"- {shown}: is a symbolic link")
    assert "<img" not in rendered and "<b>" not in rendered and "<a " not in rendered and "<strong>" not in rendered
    assert "<em>" not in rendered and "<code>" not in rendered
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered)).strip()
    assert text == f"{utf8_safe(name)}: is a symbolic link" or "\\x0a" in text or "\\u202e" in text
    shown.encode("utf-8")


# --------------------------------------------------------------------------- policy


def package_with(tmp_path: Path, **files: bytes) -> Path:
    folder = tmp_path / "submission"
    shutil.copytree(ADA, folder / "mytorch")
    for name, data in files.items():
        (folder / "mytorch" / name.replace("__", ".")).write_bytes(data)
    return folder


def imported_values(package_parent: Path, expression: str) -> str:
    """``ascii(expression)`` evaluated by a fresh Python that imports mytorch from ``package_parent``."""
    code = f"import mytorch.optim, mytorch.nn; print(ascii({expression}))"
    result = subprocess.run([sys.executable, "-c", code], cwd=package_parent, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_byte_order_mark_coding_line_and_crlf_are_graded_and_copied_identically(tmp_path):
    nn = b"\xef\xbb\xbf" + (ADA / "nn.py").read_bytes().replace(b"\n", b"\r\n") + b"_MARK = 'caf\xc3\xa9'\r\n"
    optim = (b"# -*- coding: latin-1 -*-\n" + (ADA / "optim.py").read_bytes()
             + b"\n_AUTHOR = 'Ren\xe9e'\n_DOC = '''two\nlines'''\n")
    folder = package_with(tmp_path, nn__py=nn, optim__py=optim)
    sub = read_submission(folder)
    assert sub.problems == {} and sub.missing is None
    assert "_AUTHOR = 'Ren\u00e9e'" in sub.files["optim.py"] and not sub.files["nn.py"].startswith("\ufeff")
    copy = tmp_path / "copy"
    write_package(sub, copy)
    assert (copy / "mytorch" / "optim.py").read_bytes().startswith(b"# -*- coding: latin-1 -*-\n")
    expression = "(mytorch.nn._MARK, mytorch.optim._AUTHOR, mytorch.optim._DOC)"
    expected = "('caf\\xe9', 'Ren\\xe9e', 'two\\nlines')\n"
    assert imported_values(copy, expression) == imported_values(folder, expression) == expected


def test_source_bytes_round_trips_through_python_decoding():
    sources = ("x = 'caf\u00e9'\n", "# coding: latin-1\nx = 'caf\u00e9'\n",
               "# vim: set fileencoding=cp1252 :\nx = '\u20ac'\n")
    for source in sources:
        assert importlib.util.decode_source(source_bytes(source)) == source


@pytest.mark.parametrize("data, problem", [
    (b"_DEEP = " + b"-" * 100_000 + b"1\n", "mytorch/optim.py is too deeply nested for Python to parse"),
    (b"_DEEP = 1" + b"+1" * 150_000 + b"\n", "mytorch/optim.py is too deeply nested for Python to parse"),
    (b"# coding: no-such-codec\nx = 1\n", "mytorch/optim.py has an unusable encoding declaration"),
    (b"# coding: ascii\nx = '\xe9'\n",
     "mytorch/optim.py is not valid ascii text, the encoding its coding line declares"),
    (b"\xef\xbb\xbf# coding: latin-1\nx = 1\n", "mytorch/optim.py has an unusable encoding declaration"),
    (b"x = '\xff\xfe'\n", "mytorch/optim.py is not UTF-8 text"),
    (b"x = 1\x00\n", "mytorch/optim.py has a syntax error: source code string cannot contain null bytes"),
])
def test_files_python_cannot_read_cost_their_own_questions_and_never_raise(tmp_path, data, problem):
    sub = read_submission(package_with(tmp_path, optim__py=data))
    assert sub.problem_for("mytorch/optim.py").startswith(problem)
    assert sub.problem_for("mytorch/nn.py") is None


def test_special_package_files_are_problems_not_crashes(tmp_path):
    folder = package_with(tmp_path)
    (folder / "mytorch" / "nn.py").unlink()
    os.mkfifo(folder / "mytorch" / "nn.py")
    (folder / "mytorch" / "optim.py").unlink()
    (folder / "mytorch" / "optim.py").symlink_to(ADA / "optim.py")
    with deadline(10):
        sub = read_submission(folder)
    assert sub.problem_for("mytorch/nn.py") == "mytorch/nn.py is a named pipe (FIFO), not a regular file"
    assert sub.problem_for("mytorch/optim.py") == "mytorch/optim.py is a symbolic link, not a regular file"


def test_a_linked_or_special_package_folder_is_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mytorch").symlink_to(ADA, target_is_directory=True)
    assert read_package(tmp_path / "a").missing == (
        "the submission has no mytorch/ folder (mytorch is a symbolic link, not a folder): nothing to grade")
    (tmp_path / "b").mkdir()
    os.mkfifo(tmp_path / "b" / "mytorch")
    assert "mytorch is a named pipe (FIFO), not a folder" in read_package(tmp_path / "b").missing
    assert read_package(tmp_path / "c").missing.startswith("the submission folder cannot be read")


# --------------------------------------------------------------------------- intake


def test_take_in_copies_only_regular_notebook_side_files_and_lists_the_rest(tmp_path):
    sub = ada_submission(tmp_path / "submitted")
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / "mytorch" / "__pycache__").mkdir()
    os.mkfifo(sub / "pipe")
    make_socket(sub / "sock")
    (sub / "secret").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("not the student's", encoding="utf-8")
    (sub / "lib").mkdir()
    (sub / "scratch.ipynb").write_text("{}", encoding="utf-8")
    with open(sub / "weights.npy", "wb") as out:
        out.truncate(2**30)
    (sub / "mytorch" / "helper.py").symlink_to(ADA / "nn.py")
    (sub / "mytorch" / "notes.txt").write_text("x", encoding="utf-8")
    (sub / "mytorch" / "my-module.py").write_text("x = 1\n", encoding="utf-8")
    before = snapshot(sub)
    destination = tmp_path / "autograded"
    with deadline(20):
        got = take_in(sub, destination, handout={p.name for p in RELEASE.iterdir()},
                      quiet=[".ipynb_checkpoints", "__pycache__"])
    assert snapshot(sub) == before  # the submission is evidence: read only
    assert got.kept == ["mytorch/__init__.py", "mytorch/nn.py", "mytorch/optim.py", "submission_secret.txt",
                        "timestamp.txt"]
    assert dict(got.left_out) == {
        "lib": "is a folder", "mytorch/helper.py": "is a symbolic link, not a regular file",
        "mytorch/my-module.py": "is not a name Python can import",
        "mytorch/notes.txt": "is not graded (only mytorch/*.py are kept)", "pipe": "is a named pipe (FIFO)",
        "scratch.ipynb": "is not one of the assignment's notebooks", "secret": "is a symbolic link",
        "sock": "is a socket", "weights.npy": "is not graded (only notebooks and mytorch/*.py are kept)"}
    copied = sorted(str(p.relative_to(destination)) for p in destination.rglob("*") if p.is_file())
    assert copied == got.kept
    for rel in got.kept:
        assert (destination / rel).read_bytes() == (sub / rel).read_bytes()
    notice = got.notice()
    assert "These entries of your submission were left out" in notice and "weights.npy: is not graded" in notice
    assert "not the student" not in json.dumps(notice)


def test_take_in_never_writes_through_a_link_in_the_destination(tmp_path):
    sub = ada_submission(tmp_path / "submitted")
    victim = tmp_path / "victim.py"
    victim.write_text("keep me\n", encoding="utf-8")
    (tmp_path / "autograded" / "mytorch").mkdir(parents=True)
    (tmp_path / "autograded" / "mytorch" / "nn.py").symlink_to(victim)
    take_in(sub, tmp_path / "autograded")
    assert victim.read_text(encoding="utf-8") == "keep me\n"
    assert not (tmp_path / "autograded" / "mytorch" / "nn.py").is_symlink()


def test_the_notice_names_at_most_max_listed_entries():
    many = Intake(left_out=[(f"f{i}", "is a socket") for i in range(MAX_LISTED + 5)])
    assert many.notice().count("is a socket") == MAX_LISTED and "- and 5 more" in many.notice()
    assert Intake().notice() is None
    assert intake.MAX_FILES == 32


# --------------------------------------------------------------------------- reader


def test_a_notebook_that_is_a_pipe_or_a_link_is_replaced_not_opened(tmp_path):
    os.mkfifo(tmp_path / "01_forward.ipynb")
    (tmp_path / "02_backward.ipynb").symlink_to(RELEASE / "02_backward.ipynb")
    exporter = TolerantNotebookExporter()
    with deadline(20):
        for name, why in [("01_forward.ipynb", "is a named pipe"), ("02_backward.ipynb", "is a symbolic link")]:
            output, _ = exporter.from_filename(str(tmp_path / name))
            first = nbformat.reads(output, as_version=4).cells[0]
            assert "could not be read" in first.source and why in html.unescape(first.source)


def test_lone_surrogates_in_a_notebook_and_in_outputs_are_written_as_visible_escapes(tmp_path):
    nb = new_notebook(cells=[new_code_cell("print(1)")])
    nb.cells.append(nbformat.v4.new_markdown_cell("my notes \ud800"))
    (tmp_path / "n.ipynb").write_text(json.dumps(nb), encoding="ascii")
    exporter = TolerantNotebookExporter()
    output, _ = exporter.from_filename(str(tmp_path / "n.ipynb"))
    output.encode("utf-8")
    assert nbformat.reads(output, as_version=4).cells[1].source == "my notes \\ud800"
    nb.cells[0].outputs = [new_output("stream", name="stderr", text="FAILED: raised ValueError: bad \ud800\n")]
    output, _ = exporter.from_notebook_node(nb)
    assert nbformat.reads(output, as_version=4).cells[0].outputs[0].text == "FAILED: raised ValueError: bad \\ud800\n"


# --------------------------------------------------------------------------- through stock nbgrader


INTAKE_CASES = [c for c in hostile_intake.CASES if c.name in {"special_files", "links_out", "surrogates",
                                                               "symlinked_nn"}]
KEPT = {"mytorch/__init__.py", "mytorch/nn.py", "mytorch/optim.py", "submission_secret.txt", "timestamp.txt"}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    course = scratch_course(tmp_path_factory.mktemp("intake") / "course")
    assert nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").returncode == 0
    (course / "secret.txt").write_text("instructor-secret-in-intake\n", encoding="utf-8")
    ada_submission(course / "submitted" / "ada_correct" / ASSIGNMENT)
    for case in INTAKE_CASES:
        case.build(hs.Context(course, ada_submission(course / "submitted" / case.name / ASSIGNMENT), 0, 0))
    before = snapshot(course / "submitted")
    # The sandbox is left out (intake happens before it; tests/test_hostile.py grades these students).
    autograde = nbgrader(course, "autograde", ASSIGNMENT, "--Autograde.autograde_preprocessors="
                         "['nbgrader.preprocessors.SaveAutoGrades']", timeout=300)
    assert autograde.returncode == 0, autograde.stderr[-4000:]
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT, timeout=300)
    assert feedback.returncode == 0, feedback.stderr[-4000:]
    assert snapshot(course / "submitted") == before  # autograde and feedback left the evidence alone
    (course / "autograde.log").write_text(autograde.stdout + autograde.stderr, encoding="utf-8")
    return course


@pytest.mark.slow
@pytest.mark.parametrize("student", ["ada_correct"] + [c.name for c in INTAKE_CASES])
def test_only_notebooks_and_mytorch_files_reach_autograded_and_feedback(course, student):
    for step, allowed in (("autograded", ".ipynb"), ("feedback", ".html")):
        folder = course / step / student / ASSIGNMENT
        found = set()
        for path in folder.rglob("*"):
            assert not path.is_symlink(), path
            if path.is_file():
                found.add(str(path.relative_to(folder)))
        extra = {p for p in found if not p.endswith(allowed)} - KEPT - {"README.md"}  # the source's README
        assert extra == set(), f"{step}/{student}"
        assert {n.replace(".ipynb", allowed) for n in NOTEBOOKS} <= found
        for path in folder.rglob("*"):
            if path.is_file():
                assert b"instructor-secret-in-intake" not in path.read_bytes(), path


@pytest.mark.slow
def test_students_are_told_what_was_left_out(course):
    def feedback(student: str) -> str:
        page = course / "feedback" / student / ASSIGNMENT / "01_forward.html"
        return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))

    assert "Not graded and not kept" not in feedback("ada_correct")
    special = feedback("special_files")
    for line in ("answers.txt: is a named pipe (FIFO)", ".hidden_pipe: is a named pipe (FIFO)",
                 "kernel.sock: is a socket", "null: is a symbolic link",
                 "weights.npy: is not graded", "mytorch/extra.py: is a named pipe (FIFO)",
                 "mytorch/big.py: is larger than 512 KiB",
                 "Your notebook 01_forward.ipynb could not be read (01_forward.ipynb is a named pipe (FIFO)"):
        assert line in special
    links = feedback("links_out")
    for name in ("answers.json", "gradebook.db", "secret.txt", "peer_nn.py", "course", "mytorch/helpers.py"):
        assert f"{name}: is a symbolic link" in links
    assert "notes-\\udcff.txt: is not graded" in feedback("surrogates")
    log = (course / "autograde.log").read_text(encoding="utf-8")
    assert "'kernel.sock' is a socket" in log and "'secret.txt' is a symbolic link" in log


def test_nbgrader_files_are_carried_only_as_small_regular_files(tmp_path):
    """release_feedback reads timestamp.txt and submission_secret.txt from feedback/: both are carried
    into autograded/, but never through a link and never when larger than nbgrader ever writes them."""
    ok = ada_submission(tmp_path / "ok")
    got = take_in(ok, tmp_path / "out-ok", handout={p.name for p in RELEASE.iterdir()}, quiet=[])
    assert {"timestamp.txt", "submission_secret.txt"} <= set(got.kept)
    assert (tmp_path / "out-ok" / "submission_secret.txt").read_text(encoding="utf-8") == "0123456789abcdef" * 8
    bad = ada_submission(tmp_path / "bad")
    (bad / "submission_secret.txt").unlink()
    (bad / "submission_secret.txt").symlink_to(ADA / "nn.py")
    (bad / "timestamp.txt").write_text("x" * 5000, encoding="utf-8")
    got = take_in(bad, tmp_path / "out-bad", handout={p.name for p in RELEASE.iterdir()}, quiet=[])
    assert "submission_secret.txt" not in got.kept and "timestamp.txt" not in got.kept
    assert set(dict(got.left_out)) >= {"submission_secret.txt", "timestamp.txt"}
    assert not (tmp_path / "out-bad" / "submission_secret.txt").exists()
