"""The steps of docs/deploy.md's system-user recipe, done by the hub test as root.

Each function is one step of the guide, with the guide's paths moved under the
run's own folder: homes, the exchange (``/srv/nbgrader/exchange``) and the hub-wide
config folder (``/etc/jupyter``), since the machine is shared.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

from assignment.instructor.jupyter import HUB, INSTRUCTOR, config_files
from tests.hub.system_users import User

ROOT = Path(__file__).resolve().parents[2]
# What an instructor's clone of the course repository does not have.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", ".artifacts", "__pycache__", "*.pyc", "*.egg-info", "build", "gradebook.db*",
    "submitted", "autograded", "feedback", "reports", ".grading_cache", ".pytest_cache", ".hypothesis",
    ".nbgrader.log")


def chown_tree(path: Path, user: User) -> None:
    """chown -R user: path."""
    for folder, dirs, files in os.walk(path):
        os.chown(folder, user.uid, user.gid)
        for name in files:
            os.lchown(os.path.join(folder, name), user.uid, user.gid)


def snapshot(target: Path) -> Path:
    """A copy of the course repository as a clone has it (the work tree is shared and changes).

    The wheel and the instructor's course are both made from it: the same commit, as the
    guide asks.

    Returns:
        The snapshot's root.
    """
    shutil.copytree(ROOT, target, ignore=NOT_IN_A_CLONE, symlinks=True)
    return target


def install_course(instructor: User, source: Path) -> Path:
    """The instructor's copy of the course repository at ~/mytorch, mode 0700.

    Args:
        instructor: whose home it goes to.
        source: the repository snapshot to copy.

    Returns:
        The course root.
    """
    course = instructor.home / "mytorch"
    shutil.copytree(source, course, symlinks=True)
    chown_tree(course, instructor)
    course.chmod(0o700)
    return course


def install_instructor_config(instructor: User, course: Path) -> Path:
    """~/.jupyter/ of the instructor from the shipped files, pointing at the course.

    Returns:
        The instructor's ~/.jupyter folder.
    """
    target = instructor.home / ".jupyter"
    for relative in config_files(INSTRUCTOR):
        text = (INSTRUCTOR / relative).read_text()
        if relative.name == "nbgrader_config.py":
            text, count = re.subn(r'c\.CourseDirectory\.root = ".*"', f"c.CourseDirectory.root = {str(course)!r}", text)
            assert count == 1, "the template's CourseDirectory.root line changed"
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_text(text)
    chown_tree(target, instructor)
    return target


def make_exchange(base: Path, instructor: User, course_id: str = "mytorch") -> Path:
    """The exchange as root makes it: root 1777, the course's folder owned by the instructor.

    The course's folder is made before any student could take its name.

    Returns:
        The exchange root.
    """
    exchange = base / "srv" / "nbgrader" / "exchange"
    exchange.mkdir(parents=True)
    for folder in (base / "srv", base / "srv" / "nbgrader"):
        folder.chmod(0o755)
    exchange.chmod(0o1777)
    (exchange / course_id).mkdir()
    os.chown(exchange / course_id, instructor.uid, instructor.gid)
    (exchange / course_id).chmod(0o755)
    return exchange


def install_hub_config(config_dir: Path, exchange: Path) -> Path:
    """The hub-wide nbgrader_config.py (``/etc/jupyter`` in the guide), naming this run's exchange.

    Returns:
        The written file.
    """
    config_dir.mkdir(parents=True)
    text, count = re.subn(r'c\.Exchange\.root = ".*"', f"c.Exchange.root = {str(exchange)!r}",
                          (HUB / "nbgrader_config.py").read_text())
    assert count == 1, "the template's Exchange.root line changed"
    path = config_dir / "nbgrader_config.py"
    path.write_text(text)
    path.chmod(0o644)
    return path


def private_home(user: User) -> None:
    """chmod 0700 a student's home (Debian's useradd leaves it 0755: classmates could read it)."""
    user.home.chmod(0o700)


def mode(path: Path) -> int:
    """The permission bits of a path."""
    return stat.S_IMODE(path.stat().st_mode)
