"""``make lab``: JupyterLab as a student sees it.

A working copy of ``release/<assignment>`` (kept between runs, so edits
survive), opened in JupyterLab with the same student configuration a hub gives
its students (``assignment/instructor/jupyter/student/``, see docs/deploy.md): nbgrader's
Assignment List and Validate button stay, formgrader, create-assignment and the
course list are switched off. The kernel sees the student's ``mytorch/`` in the
working copy, never the reference at the course root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from assignment import PACKAGE_DIR
from assignment.instructor.jupyter import STUDENT, config_files

COURSE_ROOT = PACKAGE_DIR.parent


def prepare(workdir: Path, assignment: str = "mlp", release: Path | None = None, fresh: bool = False) -> Path:
    """Make the student's working copy and the student-mode Jupyter config.

    Args:
        workdir: where the working copy and its config live.
        assignment: the assignment to open.
        release: the released folder to copy (default: release/<assignment> of this course).
        fresh: start again from the release, discarding earlier edits.

    Returns:
        The working copy's folder (JupyterLab's root).
    """
    release = release or COURSE_ROOT / "release" / assignment
    copy = workdir / assignment
    if fresh and copy.exists():
        shutil.rmtree(copy)
    if not copy.exists():
        shutil.copytree(release, copy)
    install_student_config(workdir / ".jupyter")
    # No "get news?" prompt on a student's first start.
    write_user_setting(workdir, "@jupyterlab/apputils-extension", "notification", {"fetchNews": "false"})
    return copy


def install_student_config(config_dir: Path) -> list[Path]:
    """Copy the shipped student configuration (the hub's, see docs/deploy.md) into a config folder.

    Args:
        config_dir: the server's Jupyter config folder (``JUPYTER_CONFIG_DIR`` of ``make lab``).

    Returns:
        The files written.
    """
    written = []
    for relative in config_files(STUDENT):
        target = config_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STUDENT / relative, target)
        written.append(target)
    return written


def write_user_setting(workdir: Path, extension: str, plugin: str, values: dict) -> None:
    """Set JupyterLab user settings of the student-mode server (merged with what is there)."""
    path = workdir / ".jupyter" / "lab" / "user-settings" / extension / f"{plugin}.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(values)
    path.write_text(json.dumps(current, indent=2))


def lab_environment(workdir: Path) -> dict[str, str]:
    """Environment for the student's server: its own config dir, no path to the reference."""
    from assignment.instructor.nbgrader_command import nbgrader_env

    env = nbgrader_env()  # this Python's bin/ first on PATH, no PYTHONPATH
    env["JUPYTER_CONFIG_DIR"] = str(workdir / ".jupyter")
    env["JUPYTERLAB_SETTINGS_DIR"] = str(workdir / ".jupyter" / "lab" / "user-settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(workdir / ".jupyter" / "lab" / "workspaces")
    return env


def lab_command(root: Path, port: int, token: str | None = None, open_browser: bool = True) -> list[str]:
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={root}", f"--port={port}",
               "--ServerApp.ip=127.0.0.1"]
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if not open_browser:
        command.append("--no-browser")
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


def main(workdir: Path, port: int = 8888, fresh: bool = False, open_browser: bool = False) -> int:
    root = prepare(workdir, fresh=fresh)
    print(f"student working copy: {root}\n(run `make lab FRESH=1` to start again from the release)")
    return subprocess.call(lab_command(root, port, open_browser=open_browser), cwd=root,
                           env=lab_environment(workdir))
