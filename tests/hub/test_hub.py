"""The course taught on a real JupyterHub, as docs/deploy.md's system-user recipe sets it up.

JupyterHub 6.1.1 (PyPI) with configurable-http-proxy 5.3.0 (npm) on 127.0.0.1, PAM
logins, LocalProcessSpawner; Linux users made with useradd for an instructor and two
students; nbgrader's exchange made by root; the students' environment a venv with the
course package installed from its wheel (never the repository). Chromium drives
formgrader as the instructor (Generate, Release, Collect, Autograde, Generate and
Release feedback) and the Assignments tab as each student (Fetch, Validate, Submit,
Fetch Feedback). Ada submits the reference solution, Cy one with a single bug
(ReLU.backward gating on x >= 0). The grades come back from the gradebook; each
student's uid then tries to read the course, the solution and the gradebook.

Everything is started and removed by the test: users (userdel -r), processes (by
process group and by the test users' ids), folders. Screenshots of every step land in
.artifacts/screenshots/hub/.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from assignment.instructor.jupyter import INSTRUCTOR_LAB_PLUGINS
from tests.hub import environment, hub, recipe, system_users
from tests.hub.system_users import User
from tests.hub.ui import CHROMIUM, CHROMIUM_FLAGS, Session

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group("hub")]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".artifacts" / "screenshots" / "hub"
SOLUTION = ROOT / "examples" / "submissions" / "ada_correct" / "mlp" / "mytorch"
ASSIGNMENT = "mlp"
# The one bug of Cy's submission: ReLU.backward lets the gradient through at x == 0.
CORRECT_RELU_BACKWARD = "return grad * (self.x > 0)"
BUGGY_RELU_BACKWARD = "return grad * (self.x >= 0)"
# Each student's uid tries these (the course's own files, relative to its root).
PRIVATE = ["", "mytorch/nn.py", "mytorch/optim.py", "gradebook.db", "source/mlp/02_backward.ipynb",
           "nbgrader_config.py", "autograded", "submitted"]
# Run as a student: try to read each path; print what happened to each.
PROBE = """
import json, os, sys
out = {}
for path in sys.argv[1:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        out[path] = "read"
    except OSError as error:
        out[path] = type(error).__name__
print(json.dumps(out))
"""


def _preconditions() -> None:
    """Fail (never skip) with what to install when the machine lacks a part of the recipe."""
    if os.geteuid() != 0:
        pytest.fail("the hub test makes Linux users and a PAM-authenticating hub: run it as root")
    missing = [what for what, ok in [
        ("Debian's chromium (apt-get install chromium)", Path(CHROMIUM).exists()),
        ("bubblewrap (apt-get install bubblewrap)", shutil.which("bwrap") is not None),
        ("npm (apt-get install npm)", shutil.which("npm") is not None),
        ("Debian's python3 with venv (apt-get install python3-venv)", environment.SYSTEM_PYTHON.exists()),
        ("useradd (apt-get install passwd)", shutil.which("useradd") is not None),
    ] if not ok]
    if missing:
        pytest.fail("missing: " + ", ".join(missing) + " (`make test` installs them)")


def _write_submission(student: User, buggy: bool) -> None:
    """The student's work: the reference mytorch, or the same with one bug, in ~/mlp/mytorch."""
    target = student.home / ASSIGNMENT / "mytorch"
    for source in sorted(SOLUTION.glob("*.py")):
        text = source.read_text()
        if buggy and source.name == "nn.py":
            assert text.count(CORRECT_RELU_BACKWARD) == 1, "ada_correct's ReLU.backward changed"
            text = text.replace(CORRECT_RELU_BACKWARD, BUGGY_RELU_BACKWARD)
        path = target / source.name
        path.write_text(text)
        os.chown(path, student.uid, student.gid)


def _grades(course: Path, students: list[str]) -> dict[str, tuple[float, dict[str, float]]]:
    """From the gradebook: each student's total and their score per question key."""
    from nbgrader.api import Gradebook

    result = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            per_key: dict[str, float] = defaultdict(float)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    per_key[grade.name.rsplit("_", 1)[0]] += grade.score
            result[student] = (submission.score, dict(per_key))
    return result


def _probe(user: User, python: Path, paths: list[Path]) -> dict[str, str]:
    """What ``user`` gets when reading each path (``read`` or the error's name)."""
    result = system_users.run_as(user, [str(python), "-c", PROBE, *map(str, paths)])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _check_student_environment(prefix: Path, student: User) -> None:
    """The students' environment holds the course package, installed from its wheel, and no solution."""
    site = environment.site_packages(prefix)
    (wheel,) = (prefix.parent / "wheels").glob("mytorch_course-*.whl")
    outside = [name for name in environment.wheel_names(wheel)
               if not name.startswith(("assignment/", "mytorch_course-"))]
    assert outside == [], f"the course wheel ships more than the course package: {outside}"
    assert (site / "assignment" / "__init__.py").is_file()
    (dist,) = site.glob("mytorch_course-*.dist-info")
    direct_url = dist / "direct_url.json"
    if direct_url.exists():  # pip records where it installed from: a wheel file, never an editable tree
        info = json.loads(direct_url.read_text())
        assert not info.get("dir_info", {}).get("editable"), info
        assert info["url"].endswith(".whl"), info
    assert not list(site.glob("*.pth")) or all(str(ROOT) not in p.read_text() for p in site.glob("*.pth"))
    assert not (site / "mytorch").exists() and not list(site.glob("__editable__*"))
    run = system_users.run_as(student, [str(prefix / "bin" / "python"), "-c",
                                        "import assignment, importlib.util as u;"
                                        "print(assignment.__file__); print(u.find_spec('mytorch'))"])
    assert run.returncode == 0, run.stderr
    location, mytorch_spec = run.stdout.split()
    assert location.startswith(str(site)) and mytorch_spec == "None", run.stdout


def test_a_course_on_a_real_jupyterhub():
    _preconditions()
    started = time.time()
    timings: dict[str, float] = {}
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    system_users.remove_stale()

    source = recipe.snapshot(Path(tempfile.mkdtemp(prefix="mytorch-snapshot-")) / "mytorch")
    try:
        prefix = environment.student_environment(source)
        proxy = environment.proxy_command()
    except BaseException:
        shutil.rmtree(source.parent, ignore_errors=True)
        raise
    timings["install (cached after the first run)"] = time.time() - started
    course_started = time.time()  # the recipe and the course, from users to feedback

    base = Path(tempfile.mkdtemp(prefix="mytorch-hub-"))
    base.chmod(0o755)  # like / and /home: every user passes through
    tag = secrets.token_hex(3)
    users: dict[str, User] = {}
    try:
        (base / "home").mkdir(mode=0o755)
        for role in ("inst", "ada", "cy"):
            name = f"mt-{role}-{tag}"
            users[role] = system_users.create(name, base / "home" / name)
        instructor, ada, cy = users["inst"], users["ada"], users["cy"]
        students = [ada, cy]
        _check_student_environment(prefix, ada)

        # The recipe: the course in the instructor's home, 0700; the instructor's ~/.jupyter;
        # the exchange; the hub-wide nbgrader config; private student homes.
        course = recipe.install_course(instructor, source)
        recipe.install_instructor_config(instructor, course)
        exchange = recipe.make_exchange(base, instructor)
        hub_config_dir = base / "etc" / "jupyter"
        recipe.install_hub_config(hub_config_dir, exchange)
        for student in students:
            recipe.private_home(student)
        state = base / "hub"
        state.mkdir(mode=0o700)
        config, port = hub.write_config(state, [u.name for u in users.values()], prefix, proxy, hub_config_dir)

        from playwright.sync_api import sync_playwright

        with hub.running_hub(state, config, port) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            timings["hub up"] = time.time() - course_started

            # --- the instructor: formgrader's Generate and Release ------------------------------
            teacher = Session(browser, url, instructor, SHOTS, "1-instructor")
            teacher.log_in()
            teacher.shot("lab")
            assert "Formgrader" in teacher.menu_items("Nbgrader")
            teacher.open_formgrader()
            teacher.shot("formgrader")
            row = lambda: teacher.assignment_row(ASSIGNMENT)  # noqa: E731 (the table is redrawn)
            log = teacher.formgrader_action(row(), "assign", "generate")
            assert "Wrote the student's mytorch stubs" in log, log[-2000:]
            teacher.open_formgrader()
            log = teacher.formgrader_action(row(), "release", "release")
            assert f"Released as: mytorch {ASSIGNMENT}" in log, log[-2000:]
            teacher.open_formgrader()
            teacher.shot("released")
            timings["generate + release"] = time.time() - course_started

            # --- the students: no formgrader; Fetch, Validate, Submit ---------------------------
            validations = {}
            for number, (student, buggy) in enumerate([(ada, False), (cy, True)], start=2):
                session = Session(browser, url, student, SHOTS, f"{number}-{student.name.split('-')[1]}")
                session.log_in()
                session.shot("lab")
                assert session.menu_items("Nbgrader") == ["Assignment List"]
                assert not any(label in session.page.inner_text("body") for label in ("Formgrader", "Create Assignment"))
                response = session.page.request.get(f"{session.server}/formgrader")
                assert response.status == 404, f"{student.name} reached formgrader: {response.status}"
                session.open_assignments()
                session.shot("assignments")
                session.click_and_wait(session.list_button("released", ASSIGNMENT), "Fetching", "fetched")
                assert (student.home / ASSIGNMENT / "02_backward.ipynb").is_file()
                _write_submission(student, buggy)
                validations[student.name] = session.validate("02_backward", "validated")
                session.click_and_wait(session.list_button("fetched", ASSIGNMENT), "submitting", "submitted")
                assert session.list_button("submitted", ASSIGNMENT).inner_text() == "Fetch Feedback"
                session.context.close()
            assert validations[ada.name][0], validations[ada.name][1]
            assert not validations[cy.name][0], "Validate passed Cy's buggy ReLU.backward"
            assert "FAILED: Test 1 of question 2.3 (ReLU.backward)" in validations[cy.name][1], validations[cy.name][1]
            timings["students fetch, validate, submit"] = time.time() - course_started

            # --- the instructor: Collect, Autograde, Generate and Release feedback --------------
            teacher.open_formgrader()
            log = teacher.formgrader_action(row(), "collect", "collect")
            assert all(f"Collecting submission: {s.name} {ASSIGNMENT}" in log for s in students), log
            teacher.submissions_page(ASSIGNMENT)
            teacher.shot("submissions")
            for student in students:
                teacher.submissions_page(ASSIGNMENT)
                log = teacher.formgrader_action(teacher.submission_row(student.name), "autograde",
                                                f"autograde-{student.name.split('-')[1]}")
                assert "graded in the sandbox" in log, log[-3000:]
            teacher.submissions_page(ASSIGNMENT)
            teacher.shot("autograded")
            timings["collect, autograde"] = time.time() - course_started
            # --- what each student deserves, read back from the gradebook ---------------------------
            grades = _grades(course, [ada.name, cy.name])
            ada_total, ada_keys = grades[ada.name]
            cy_total, cy_keys = grades[cy.name]
            assert ada_total == 30, grades
            assert cy_total == 27, grades
            assert cy_keys["relu_backward"] == 0 and ada_keys["relu_backward"] == 3, grades
            assert {k: v for k, v in cy_keys.items() if k != "relu_backward"} == \
                {k: v for k, v in ada_keys.items() if k != "relu_backward"}, grades

            # --- privacy: the course, the solution and the gradebook, as each student ---------------
            assert recipe.mode(course) == 0o700
            assert recipe.mode(course / "gradebook.db") & 0o077 == 0, oct(recipe.mode(course / "gradebook.db"))
            # What the instructor's server made (release/ itself came with the clone).
            for made in ("autograded", "submitted", f"release/{ASSIGNMENT}"):
                assert recipe.mode(course / made) & 0o077 == 0, f"{made}: {oct(recipe.mode(course / made))}"
            for student in students:
                other = cy if student is ada else ada
                targets = [course / p for p in PRIVATE] + [other.home, other.home / ASSIGNMENT / "mytorch" / "nn.py"]
                seen = _probe(student, prefix / "bin" / "python", targets)
                assert all(result == "PermissionError" for result in seen.values()), seen
                # ...while what nbgrader shares stays readable: the release in the exchange.
                released = exchange / "mytorch" / "outbound" / ASSIGNMENT / "02_backward.ipynb"
                assert _probe(student, prefix / "bin" / "python", [released]) == {str(released): "read"}
            # The course's own check of the installation, run by the instructor as the guide says.
            doctor = system_users.run_as(
                instructor, [str(prefix / "bin" / "python"), "-m", "assignment", "doctor", "--course", str(course)],
                env={"PATH": f"{prefix / 'bin'}:/usr/bin:/bin", "JUPYTER_CONFIG_PATH": str(hub_config_dir)},
                timeout=300)
            (SHOTS / "doctor.txt").write_text(doctor.stdout + doctor.stderr)
            assert doctor.returncode == 0, doctor.stdout + doctor.stderr
            # The student configuration really is the shipped one.
            page_config = json.loads((prefix / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
            assert set(page_config["disabledExtensions"]) == set(INSTRUCTOR_LAB_PLUGINS)

            teacher.open_formgrader()
            teacher.formgrader_action(row(), "generate-feedback", "generate-feedback")
            assert recipe.mode(course / "feedback") & 0o077 == 0, oct(recipe.mode(course / "feedback"))
            for student in students:
                # nbgrader's release_feedback names each student's feedback file after a hash of
                # the secret their `submit` wrote, read from feedback/<student>/<assignment>/.
                secret = course / "feedback" / student.name / ASSIGNMENT / "submission_secret.txt"
                assert secret.is_file(), (
                    f"{secret} is missing: nbgrader's Release Feedback needs it. Collect put it in "
                    f"submitted/ ({(course / 'submitted' / student.name / ASSIGNMENT / 'submission_secret.txt').is_file()}); "
                    "autograde's intake must carry it to autograded/, where Generate Feedback finds it")
            teacher.open_formgrader()
            log = teacher.formgrader_action(row(), "release-feedback", "release-feedback")
            assert all(s.name in log for s in students), log
            timings["feedback released"] = time.time() - course_started

            # --- the students fetch their feedback ----------------------------------------------
            feedback = {}
            for number, student in enumerate(students, start=2):
                session = Session(browser, url, student, SHOTS, f"{number}-{student.name.split('-')[1]}-feedback")
                session.log_in()
                session.open_assignments()
                session.click_and_wait(session.list_button("submitted", ASSIGNMENT), "Fetching Feedback",
                                       "fetched-feedback")
                (html,) = (student.home / ASSIGNMENT / "feedback").glob("*/02_backward.html")
                relative = html.relative_to(student.home)
                session.page.goto(f"{session.server}/files/{relative}")
                session.page.wait_for_load_state("load")
                session.shot("feedback-02_backward")
                feedback[student.name] = session.page.inner_text("body")
                session.context.close()
            teacher.context.close()
            browser.close()
            # Cy's feedback says what failed in 2.3, and shows no hidden test.
            assert "FAILED: Test 2 of question 2.3 (ReLU.backward, hidden)" in feedback[cy.name], feedback[cy.name][-3000:]
            assert 'run_test("relu_backward", 2' not in feedback[cy.name]
            assert "FAILED" not in feedback[ada.name], feedback[ada.name][-3000:]
        timings["students fetch feedback, hub stopped"] = time.time() - course_started

    finally:
        for user in users.values():
            system_users.remove(user.name)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(source.parent, ignore_errors=True)
        elapsed = time.time() - course_started
        (SHOTS / "timings.json").write_text(json.dumps({**timings, "course (users to cleanup)": elapsed,
                                                        "total": time.time() - started}, indent=2))
    assert elapsed < 600, f"the course on the hub took {elapsed:.0f} s: {timings}"
    assert not any(entry.pw_gecos.startswith(system_users.MARKER) and f"pid={os.getpid()}" in entry.pw_gecos
                   for entry in pwd.getpwall())
