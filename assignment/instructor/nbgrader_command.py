"""The environment every nbgrader command of the course runs in (kept apart: importing it loads nothing of nbgrader)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader commands: this Python's bin/ first on PATH
    (nbgrader runs ``alembic`` by bare name), and no PYTHONPATH that could let a
    kernel import a mytorch other than the student's."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)
    return env
