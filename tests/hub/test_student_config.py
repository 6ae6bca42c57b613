"""The shipped Jupyter configuration: what students and the instructor get, and ``make lab``.

Jupyter's own commands read the files back (``jupyter server extension list``,
``jupyter labextension list``), with the folders layered as docs/deploy.md layers
them: the student configuration hub-wide, the instructor's in ~/.jupyter above it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from assignment.instructor import student_lab
from assignment.instructor.jupyter import INSTRUCTOR, INSTRUCTOR_LAB_PLUGINS, STUDENT, STUDENT_LAB_PLUGINS, config_files

SERVER_EXTENSIONS = {"formgrader", "course_list", "assignment_list", "validate_assignment"}
# Run in a fresh Python with the config folders under test: what a Jupyter server started
# there would enable (ServerApp's own config loading and extension discovery, nothing
# started) and which JupyterLab plugins its page config disables.
EFFECTIVE = """
import json
from jupyter_server.serverapp import ServerApp
from jupyterlab_server.config import get_static_page_config
app = ServerApp()
app.load_config_file()
app.find_server_extensions()
server = {name.rsplit(".", 1)[1]: bool(on) for name, on in app.jpserver_extensions.items()
          if name.startswith("nbgrader.server_extensions.")}
page = get_static_page_config(level="all").get("disabledExtensions", {})
print(json.dumps({"server": server, "disabled": sorted(p for p, off in page.items() if off)}))
"""


def _effective(config_dir: Path, config_path: str | None = None) -> dict:
    """What Jupyter makes of the config folders: {"server": {extension: on}, "disabled": [plugin]}.

    Args:
        config_dir: the user config folder (``JUPYTER_CONFIG_DIR``).
        config_path: more folders, highest rank first (``JUPYTER_CONFIG_PATH``).
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("JUPYTER")}
    env["JUPYTER_CONFIG_DIR"] = str(config_dir)
    if config_path is not None:
        env["JUPYTER_CONFIG_PATH"] = config_path
    result = subprocess.run([sys.executable, "-c", EFFECTIVE], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_student_files_switch_off_exactly_the_instructor_tools():
    server = json.loads((STUDENT / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert {name.rsplit(".", 1)[1]: on for name, on in server.items()} == {
        "formgrader": False, "course_list": False, "assignment_list": True, "validate_assignment": True}
    page = json.loads((STUDENT / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert page == {plugin: True for plugin in INSTRUCTOR_LAB_PLUGINS}
    assert not set(page) & set(STUDENT_LAB_PLUGINS)


def test_jupyter_reads_the_student_configuration(tmp_path):
    student_lab.install_student_config(tmp_path / "student")
    seen = _effective(tmp_path / "student")
    assert seen["server"] == {"formgrader": False, "course_list": False, "assignment_list": True,
                              "validate_assignment": True}
    assert set(seen["disabled"]) == set(INSTRUCTOR_LAB_PLUGINS)


def test_the_instructor_files_turn_the_tools_back_on_above_the_hub_wide_student_ones(tmp_path):
    student_lab.install_student_config(tmp_path / "hub-wide")
    home = tmp_path / "instructor"
    for relative in config_files(INSTRUCTOR):
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_bytes((INSTRUCTOR / relative).read_bytes())
    (tmp_path / "empty").mkdir()
    # Jupyter ranks config folders: ~/.jupyter above <prefix>/etc/jupyter. The same ranking,
    # without touching this venv's etc/: both on JUPYTER_CONFIG_PATH, the instructor's first.
    seen = _effective(tmp_path / "empty", f"{home}{os.pathsep}{tmp_path / 'hub-wide'}")
    assert seen["server"] == {name: True for name in SERVER_EXTENSIONS}
    assert not set(seen["disabled"]) & set(INSTRUCTOR_LAB_PLUGINS)
    # ...while a student, with the hub-wide folder alone, keeps them off.
    seen = _effective(tmp_path / "empty", str(tmp_path / "hub-wide"))
    assert not seen["server"]["formgrader"] and set(seen["disabled"]) == set(INSTRUCTOR_LAB_PLUGINS)
    # The template points formgrader at a course root; the server file keeps the course private.
    template = (INSTRUCTOR / "nbgrader_config.py").read_text()
    assert re.search(r'^c\.CourseDirectory\.root = ".+"$', template, re.M)
    assert "os.umask(0o077)" in (INSTRUCTOR / "jupyter_server_config.py").read_text()


def test_make_lab_uses_the_shipped_student_files(tmp_path):
    release = tmp_path / "release"
    (release / "mytorch").mkdir(parents=True)
    student_lab.prepare(tmp_path / "lab", release=release)
    for relative in config_files(STUDENT):
        assert (tmp_path / "lab" / ".jupyter" / relative).read_bytes() == (STUDENT / relative).read_bytes()
    env = student_lab.lab_environment(tmp_path / "lab")
    assert env["JUPYTER_CONFIG_DIR"] == str(tmp_path / "lab" / ".jupyter")
