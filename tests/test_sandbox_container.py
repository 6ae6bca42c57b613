"""Grading where user namespaces are refused (a default Docker container, simulated).

``container_sim.run_in_simulated_container`` runs a grading script under
Docker's namespace rules: bubblewrap cannot start there, so ``auto`` must pick
the Landlock backend, which must still grade honestly and keep the isolation
(the same snippets as tests/test_sandbox_isolation.py, a few of them here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from course_tools import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the simulated container needs root")

SCRIPT = textwrap.dedent('''
    import json, shutil, sys, tempfile
    from pathlib import Path
    sys.path.insert(0, "tests")
    from assignment.instructor.grading.policy import read_submission, write_package
    from assignment.instructor.grading.sandbox import Limits, describe_backend, run_batch
    from course_tools import ADA

    LF = "        return x @ self.weight + self.bias\\n"
    CASE = {"weight": [[1.0, 2.0], [3.0, 4.0]], "bias": [[1.0, 1.0]], "x": [[1.0, 1.0]]}
    result = {"auto": describe_backend("auto"), "bubblewrap": describe_backend("bubblewrap")}
    for name, code in json.loads(sys.argv[1]).items():
        folder = Path(tempfile.mkdtemp())
        shutil.copytree(ADA, folder / "s" / "mytorch")
        nn = folder / "s" / "mytorch" / "nn.py"
        nn.write_text(nn.read_text().replace(LF, "".join("        " + l + "\\n" for l in code.splitlines()) + LF))
        write_package(read_submission(folder / "s"), folder / "p")
        outcome = run_batch(folder / "p", [{"kind": "question", "key": "linear_forward", "case": CASE}],
                            Limits(wall_seconds=10, cpu_seconds=10))[0]
        result[name] = [outcome.error, None if outcome.outputs is None else outcome.outputs["output"].tolist()]
    print(json.dumps(result))
''')

ATTACKS = {
    "honest": "",
    "environ": "import os\nseen = []\nfor p in ['/proc/1/environ', '/proc/%d/environ' % os.getppid()]:\n"
               "    try:\n        seen.append(open(p, 'rb').read())\n    except OSError:\n        pass\n"
               "raise RuntimeError('FOUND ' + repr(seen))",
    "processes": "import os, threading\nseen = []\ntry:\n    os.fork()\n    seen.append('fork')\nexcept OSError:\n"
                 "    pass\ntry:\n    threading.Thread(target=print).start()\n    seen.append('thread')\n"
                 "except RuntimeError:\n    pass\ntry:\n    os.memfd_create('m')\n    seen.append('memfd')\n"
                 "except OSError:\n    pass\nraise RuntimeError('FOUND ' + repr(seen))",
    "files": "import os\nseen = []\nfor p in ['/etc/shadow', '/work/main/mytorch/nn.py', '/proc/keys']:\n    try:\n"
             "        seen.append(open(p, 'rb').read(20))\n    except OSError:\n        pass\n"
             "raise RuntimeError('FOUND ' + repr(seen))",
}


@pytest.fixture(scope="module")
def graded_in_container():
    from container_sim import run_in_simulated_container

    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "PGPASSWORD": "pg-secret-in-container"}
    done = run_in_simulated_container([sys.executable, "-c", SCRIPT, json.dumps(ATTACKS)], env, ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_bubblewrap_is_refused_in_the_container(graded_in_container):
    name, why = graded_in_container["bubblewrap"]
    assert name is None and "namespace" in why


def test_auto_picks_landlock_and_says_why(graded_in_container):
    name, why = graded_in_container["auto"]
    assert name == "landlock"
    assert why.startswith("bubblewrap cannot run here") and "Landlock ABI" in why


def test_landlock_grades_honestly_in_the_container(graded_in_container):
    error, output = graded_in_container["honest"]
    assert error is None and output == [[5.0, 7.0]]


@pytest.mark.parametrize("attack", [a for a in ATTACKS if a != "honest"])
def test_landlock_isolation_holds_in_the_container(graded_in_container, attack):
    error, _ = graded_in_container[attack]
    assert "FOUND []" in error, error
    assert "pg-secret-in-container" not in error


def test_the_simulation_is_docker_like():
    """unshare fails, clone(CLONE_NEWUSER) fails, /proc/keys is masked, CAP_SYS_ADMIN is gone."""
    from container_sim import run_in_simulated_container

    probe = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
             "print(libc.unshare(0x10000000), ctypes.get_errno())\n"
             "print(len(open('/proc/keys').read()))\n"
             "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0])\n")
    done = run_in_simulated_container([sys.executable, "-c", probe], {"PATH": "/usr/bin:/bin"}, "/", timeout=60)
    assert done.returncode == 0, done.stderr
    unshare, keys, caps = done.stdout.split("\n")[:3]
    assert unshare.split() == ["-1", "1"]  # EPERM
    assert keys == "0"
    assert not int(caps, 16) & (1 << 21)  # CAP_SYS_ADMIN
    blocked = subprocess.run(["unshare", "-U", "true"], capture_output=True)  # outside: allowed here
    assert blocked.returncode == 0
