"""``python -m assignment doctor``: one line per check, exit 1 on any FAIL.

Scratch courses (``assignment.instructor.demo.make_course``) with real folders, modes, a
real nbgrader gradebook, a real exchange folder and a second Python
interpreter (a throwaway venv) standing in for formgrader's:

- a course whose folder is world-readable fails, naming the folder, its mode
  and the chmod that fixes it; a closed one (0700, gradebook 0600) passes;
- a formgrader Python whose installed ``assignment`` differs from the
  course's ``assignment/`` fails, naming the differing files;
- a gradebook URL nobody answers fails with one clear line (no password);
- the exchange: not world-writable, not sticky, an ``inbound/`` students can
  list: each fails; nbgrader's documented layout passes;
- the config is the one nbgrader itself builds (global files, then the
  course's, which wins);
- group access warns unless the course is group-shared; absurd limits fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from traitlets.config import Config

import parallel_tools as pt
from assignment.instructor import doctor
from course_tools import ROOT, URL_VARIABLE, gradebook_url


def run_doctor(course: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assignment", "doctor", "--course", str(course), *args],
                          cwd=ROOT, env=pt.env(url), capture_output=True, text=True, timeout=120)


def lines_of(result: subprocess.CompletedProcess, status: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(status)]


def make_exchange(folder: Path, mode: int = 0o1777) -> Path:
    folder.mkdir()
    os.chmod(folder, mode)
    return folder


@pytest.fixture()
def course(tmp_path) -> Path:
    """A scratch course with a real gradebook and its own exchange, closed as it should be."""
    from assignment.instructor.demo import make_course
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    make_course(course)
    exchange = make_exchange(tmp_path / "exchange")
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write(f"\nc.Exchange.root = {str(exchange)!r}\n")
    with gradebook_url(None), Gradebook(f"sqlite:///{course / 'gradebook.db'}", "mytorch") as gb:
        gb.update_or_create_assignment("mlp")
        gb.add_student("ada", first_name="Ada", last_name="Lovelace")
    os.chmod(course / "gradebook.db", 0o600)
    os.chmod(course, 0o700)
    return course


@pytest.mark.slow
def test_a_closed_course_passes(course):
    result = run_doctor(course)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines_of(result, "FAIL") == []
    out = result.stdout
    assert f"ok   permissions: course folder {course} (mode 0700) is closed to other users" in out
    assert f"ok   permissions: gradebook {course / 'gradebook.db'} (mode 0600)" in out
    # source/ keeps the 0755 of a fresh copy: fine behind the closed course folder.
    assert f"source folder (solutions and hidden tests) {course / 'source'} (mode 0755, behind the closed " \
           "course folder)" in out
    assert "ok   sandbox: " in out
    assert "ok   gradebook: sqlite:///" in out and "assignments mlp; 1 student(s)" in out
    assert "writable by every user, sticky" in out
    assert "ok   course package: formgrader and nbgrader both import" in out
    assert out.strip().splitlines()[-1].startswith("doctor: ") and " 0 failed" in out


@pytest.mark.slow
def test_a_world_readable_course_fails_with_the_fix(course):
    os.chmod(course, 0o755)
    os.chmod(course / "gradebook.db", 0o644)
    result = run_doctor(course)
    assert result.returncode == 1, result.stdout + result.stderr
    fails = lines_of(result, "FAIL")
    assert f"FAIL permissions: course folder {course} is readable by other users (mode 0755): " \
           f"chmod 700 {course}" in fails
    assert f"FAIL permissions: gradebook {course / 'gradebook.db'} is readable by other users (mode 0644): " \
           f"chmod 600 {course / 'gradebook.db'}" in fails
    assert any(line.startswith(f"FAIL permissions: source folder (solutions and hidden tests) {course / 'source'}"
                               " is readable by other users (mode 0755)") for line in fails), fails
    assert "fix the FAIL lines above" in result.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_an_open_gradebook_behind_a_closed_folder_is_a_warning(course):
    os.chmod(course / "gradebook.db", 0o644)
    result = run_doctor(course)
    assert result.returncode == 0, result.stdout
    assert any(f"WARN permissions: gradebook {course / 'gradebook.db'} has mode 0644" in line
               for line in lines_of(result, "WARN")), result.stdout


@pytest.mark.slow
def test_a_differing_installed_package_is_named(course, tmp_path):
    # The course holds assignment/ (as a clone of this repository does): nbgrader at its root uses it.
    shutil.copytree(ROOT / "assignment", course / "assignment", ignore=shutil.ignore_patterns("__pycache__"))
    # Formgrader's Python has an older copy installed: one file changed, one the course no longer has.
    installed = tmp_path / "site" / "assignment"
    shutil.copytree(course / "assignment", installed)
    with open(installed / "student" / "checks.py", "a", encoding="utf-8") as handle:
        handle.write("\n# an older release\n")
    (installed / "instructor" / "grading" / "old_helper.py").write_text("OLD = True\n", encoding="utf-8")
    venv = tmp_path / "formgrader-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "course.pth").write_text(str(installed.parent) + "\n", encoding="utf-8")

    result = run_doctor(course, "--python", str(venv / "bin" / "python"))
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [line for line in lines_of(result, "FAIL") if "course package" in line]
    assert f"formgrader imports {installed} and nbgrader at the course root imports {course / 'assignment'}" \
           in line
    assert "2 file(s) differ: instructor/grading/old_helper.py, student/checks.py" in line

    # The same files in both places: fine.
    shutil.rmtree(installed)
    shutil.copytree(course / "assignment", installed)
    result = run_doctor(course, "--python", str(venv / "bin" / "python"))
    assert result.returncode == 0, result.stdout
    assert f"nbgrader at the course root {course / 'assignment'}: the same files" in result.stdout


@pytest.mark.slow
def test_an_unreachable_gradebook_url_fails_with_one_clear_line(course):
    url = "postgresql+psycopg2://grader:s3cret@127.0.0.1:9/mytorch"  # port 9 (discard): nothing listens
    result = run_doctor(course, url=url)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = [line for line in lines_of(result, "FAIL") if line.startswith("FAIL gradebook: ")] or [result.stdout]
    assert line.startswith("FAIL gradebook: cannot open postgresql+psycopg2://grader:***@127.0.0.1:9/mytorch "
                           "(from MYTORCH_GRADEBOOK_URL): OperationalError: "), line
    assert "Connection refused" in line and line.endswith("start the database or correct the URL")
    assert "s3cret" not in result.stdout + result.stderr


def test_the_exchange_must_be_world_writable_sticky_and_keep_inbound_unlistable(tmp_path):
    def findings(root: Path) -> list[str]:
        config = Config()
        config.Exchange.root = str(root)
        return [f.line() for f in doctor.exchange_findings(config, "mytorch")]

    loose = make_exchange(tmp_path / "loose", 0o755)
    assert findings(loose)[0] == f"FAIL exchange: {loose} is not readable and writable by every user " \
                                 f"(mode 0755): students cannot fetch or submit: chmod 1777 {loose}"
    plain = make_exchange(tmp_path / "plain", 0o777)
    line = findings(plain)[0]
    assert line.startswith(f"FAIL exchange: {plain} is writable by every user but not sticky (mode 0777)")
    assert line.endswith(f"chmod +t {plain}")

    # nbgrader's own layout (release_assignment: inbound 2733, outbound 0755) passes.
    good = make_exchange(tmp_path / "good")
    inbound, outbound = good / "mytorch" / "inbound", good / "mytorch" / "outbound"
    inbound.mkdir(parents=True)
    outbound.mkdir()
    os.chmod(inbound, 0o2733)
    os.chmod(outbound, 0o755)
    assert [line[:4] for line in findings(good)] == ["ok  ", "ok  "]
    os.chmod(inbound, 0o2777)
    assert any(line.startswith(f"FAIL exchange: {inbound} is readable by every user (mode 2777): students can "
                               "list and copy each other's submissions") for line in findings(good))

    missing = tmp_path / "missing"
    assert findings(missing)[0].startswith(f"FAIL exchange: {missing} (c.Exchange.root) does not exist")


@pytest.mark.slow
def test_the_config_is_the_one_nbgrader_builds(course, tmp_path, monkeypatch):
    # A global nbgrader_config.py (~/.jupyter's stand-in) sets the exchange and a limit; the course's wins.
    home = tmp_path / "jupyter-home"
    home.mkdir()
    (home / "nbgrader_config.py").write_text(textwrap.dedent("""
        c = get_config()
        c.Exchange.root = "/srv/global-exchange"
        c.GradeInSandbox.timeout = 1
        c.GradeInSandbox.jobs = 3
    """), encoding="utf-8")
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(home))
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    (course / "nbgrader_config.py").write_text(
        (course / "nbgrader_config.py").read_text(encoding="utf-8").replace("c.Exchange.root", "# c.Exchange.root"),
        encoding="utf-8")
    config, loaded = doctor.load_course_config(course)
    assert home / "nbgrader_config.py" in loaded and loaded[-1] == course / "nbgrader_config.py"
    ours = [config.Exchange.root, config.GradeInSandbox.timeout, config.GradeInSandbox.jobs,
            config.CourseDirectory.db_url]

    # nbgrader's own application, started at the course root, sees the same values.
    code = ("import json; from nbgrader.apps.baseapp import NbGrader; app = NbGrader(); app.initialize([]); "
            "c = app.config; print(json.dumps([c.Exchange.root, c.GradeInSandbox.timeout, "
            "c.GradeInSandbox.jobs, c.CourseDirectory.db_url]))")
    env = dict(pt.env(), JUPYTER_CONFIG_DIR=str(home))
    result = subprocess.run([sys.executable, "-c", code], cwd=course, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ours
    assert ours[:3] == ["/srv/global-exchange", 20, 3]


def test_group_access_warns_unless_the_course_is_group_shared(tmp_path):
    root = tmp_path / "course"
    root.mkdir()
    os.chmod(root, 0o750)
    [warn] = doctor.root_findings(root, groupshared=False)
    assert warn.status == "WARN" and "open to its group (mode 0750)" in warn.text
    assert "c.CourseDirectory.groupshared = True" in warn.text
    [fine] = doctor.root_findings(root, groupshared=True)
    assert fine.status == "ok" and "group-shared" in fine.text
    os.chmod(root, 0o711)
    [fail] = doctor.root_findings(root, groupshared=False)
    assert fail.status == "FAIL" and "whose names they know (mode 0711)" in fail.text


def test_limits_out_of_range(tmp_path):
    config = Config()
    config.GradeInSandbox.timeout = 0
    config.GradeInSandbox.training_timeout = 5000
    config.GradeInSandbox.memory_mib = 128
    lines = [f.line() for f in doctor.limit_findings(config)]
    assert lines[0] == "FAIL limits: c.GradeInSandbox.timeout = 0 s: every test would time out; use 2 to 300"
    assert lines[1].startswith("WARN limits: c.GradeInSandbox.training_timeout = 5000 s is long")
    assert lines[-1].startswith("WARN limits: c.GradeInSandbox.memory_mib = 128")
    config.GradeInSandbox.timeout = "soon"
    [bad] = doctor.limit_findings(config)
    assert bad.status == "FAIL" and "c.GradeInSandbox is not valid" in bad.text
