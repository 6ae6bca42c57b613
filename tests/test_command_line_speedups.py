"""nbgrader's repeated set-up work is removed in an nbgrader command's process, never in a server's."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
{make_app}
from assignment.instructor.grading.nbgrader_plugin import speed_up_a_command_line_run
from assignment.instructor import writer
from nbgrader import api
engines_before = api.create_engine
print(speed_up_a_command_line_run(), writer._installed, api.create_engine is not engines_before)
"""


def _run(make_app: str) -> str:
    result = subprocess.run([sys.executable, "-c", CHECK.format(make_app=make_app)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split("\n")[-2]


def test_an_nbgrader_command_gets_one_engine_per_gradebook():
    made = "from nbgrader.apps.autogradeapp import AutogradeApp\nAutogradeApp.instance()"
    assert _run(made) == "True True True"


def test_a_jupyter_server_keeps_nbgrader_as_it_ships():
    """Formgrader runs in the Jupyter server, which may outlive the gradebook file it first opened."""
    made = "from jupyter_server.serverapp import ServerApp\nServerApp.instance()"
    assert _run(made) == "False False False"
    assert _run("pass") == "False False False"  # no application at all (a library call)
