"""The Jupyter configuration the course ships, for a hub and for ``make lab``.

Three folders of configuration files (docs/deploy.md says where each goes):

- ``student/``: the hub-wide default, copied into the students' environment
  (``<prefix>/etc/jupyter/``): nbgrader's Assignment List and Validate stay,
  formgrader, create-assignment and the course list are switched off (server
  extensions in ``jupyter_server_config.json``, JupyterLab plugins in
  ``labconfig/page_config.json``). ``make lab`` uses the same files.
- ``hub/``: ``nbgrader_config.py`` for ``/etc/jupyter/``: the exchange, the course id,
  the Validate button's time limit.
- ``instructor/``: for the instructor's ``~/.jupyter/``: formgrader and the other
  instructor tools back on, umask 077, and the template ``nbgrader_config.py`` that
  points formgrader at the course root.

Hiding formgrader from students is a convenience, not a protection: what keeps the
course private is its file permissions (docs/deploy.md, "Permissions").
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDENT = HERE / "student"
HUB = HERE / "hub"
INSTRUCTOR = HERE / "instructor"
# The nbgrader JupyterLab plugins a student must not see, and the ones a student needs.
INSTRUCTOR_LAB_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                          "@jupyter/nbgrader:course-list")
STUDENT_LAB_PLUGINS = ("@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:validate-assignment")


def config_files(folder: Path) -> list[Path]:
    """The configuration files of one of the shipped folders, relative to it.

    Args:
        folder: ``STUDENT``, ``HUB`` or ``INSTRUCTOR``.

    Returns:
        Their paths relative to ``folder``, sorted (``__pycache__`` left out).
    """
    return sorted(path.relative_to(folder) for path in folder.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts)
