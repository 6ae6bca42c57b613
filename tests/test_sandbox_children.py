"""One sandbox per submission, one child per group of tests: the children cannot reach each other.

A sandbox's runner imports Python's and NumPy's modules once and forks a
child for each group of tests (``Sandbox.run``). These tests hold the promise
that this costs no isolation: code in one child cannot signal, trace or read
the runner or a sibling, cannot leave the runner's process group, holds no
descriptor but its own answer pipe, and a child that crashes, loops or hides
costs only its own tests. Each runs a real sandbox of both backends on the
reference mytorch with hostile lines in ``Linear.forward`` that act only for
one group's input (``x[0][0] == 1``); the other groups' inputs start with 7.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from assignment.instructor.grading import confine
from assignment.instructor.grading.sandbox import Limits, Sandbox, seccomp
from assignment.instructor.grading.sandbox.process import time_limit_message
from test_sandbox_isolation import CASE, _backends, _use, indent, package

HONEST_X = [[7.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
HONEST_CASE = {**CASE, "x": HONEST_X}
HONEST_EXPECTED = (np.array(HONEST_X) @ np.array(CASE["weight"]) + np.array(CASE["bias"])).tolist()


@pytest.fixture(params=_backends(("forked",)))
def backend(request, monkeypatch) -> str:
    """Every backend, its runners forked by the fork server (the default; isolation tests cover runners started alone)."""
    return _use(request.param, monkeypatch)


def request(case: dict) -> dict:
    return {"kind": "question", "key": "linear_forward", "case": case}


def hostile(code: str, honest_sleep: float = 0.0) -> str:
    """``code`` run in Linear.forward for the hostile input only; the honest inputs may sleep first."""
    return indent(f"if float(np.asarray(x)[0, 0]) == 1.0:\n"
                  + "".join("    " + line + "\n" for line in code.strip("\n").splitlines())
                  + f"else:\n    import time as _t\n    _t.sleep({honest_sleep})\n")


def run_groups(tmp_path, backend, code, groups, parallel=3, wall=10.0, honest_sleep=0.0):
    limits = Limits(wall_seconds=wall, cpu_seconds=int(wall), backend=backend)
    copy = package(tmp_path, hostile(code, honest_sleep))
    with Sandbox(copy, [limits]) as sandbox:
        return sandbox.run([([request(case) for case in group], limits) for group in groups], parallel=parallel)


def assert_honest(outcome) -> None:
    assert outcome.error is None, outcome.error
    np.testing.assert_allclose(outcome.outputs["output"], HONEST_EXPECTED)


def test_the_childs_filter_is_the_template_with_its_own_pid():
    assert confine.PID_PLACEHOLDER == seccomp.PID_PLACEHOLDER
    template = seccomp.child_template()
    for pid in (1, 2, 3, 1000, 65534, 4_194_303):
        assert confine.with_pid(template, pid) == seccomp.compile_child(pid)
    with pytest.raises(confine.ConfinementError):
        confine.with_pid(seccomp.build(), 7)  # the runner's filter has no placeholder: never a child's
    placeholders = [offset for offset in range(0, len(template), 8)
                    if struct.unpack_from("=HBBI", template, offset)[3] == seccomp.PID_PLACEHOLDER]
    assert placeholders, "the template must name the child's pid somewhere"


def test_one_runner_serves_every_group(tmp_path, backend):
    code = "import os\nraise RuntimeError(f'FOUND parent={os.getppid()} self={os.getpid()}')\n"
    outcomes = run_groups(tmp_path, backend, code, [[CASE], [CASE], [CASE, HONEST_CASE]])
    parents = {o[0].error.split("parent=")[1].split()[0] for o in outcomes}
    selves = {o[0].error.split("self=")[1].split()[0].rstrip(")") for o in outcomes}
    assert len(parents) == 1 and len(selves) == 3, outcomes  # one runner, three children
    assert_honest(outcomes[2][1])


def test_a_child_cannot_signal_the_runner_or_its_siblings(tmp_path, backend):
    code = """
import os, signal
done = []
me, parent = os.getpid(), os.getppid()
targets = [parent, -1, 0, -os.getpgid(0)] + [me + d for d in range(-8, 9) if d and me + d > 0]
for target in targets:
    try:
        os.kill(target, signal.SIGKILL)
        done.append(target)
    except OSError:
        pass
try:
    os.pidfd_open(parent)
    done.append('pidfd_open')
except OSError:
    pass
raise RuntimeError(f'FOUND signalled {done}')
"""
    outcomes = run_groups(tmp_path, backend, code, [[CASE], [HONEST_CASE], [HONEST_CASE]], honest_sleep=1.5)
    assert "FOUND signalled []" in outcomes[0][0].error, outcomes[0][0]
    assert_honest(outcomes[1][0])
    assert_honest(outcomes[2][0])


def test_a_child_cannot_leave_the_process_group_or_trace_anyone(tmp_path, backend):
    code = """
import ctypes, os
done = []
for name, call in [('setsid', os.setsid), ('setpgid', lambda: os.setpgid(0, 0))]:
    try:
        call()
        done.append(name)
    except OSError:
        pass
libc = ctypes.CDLL(None, use_errno=True)
if libc.ptrace(16, os.getppid(), 0, 0) == 0:  # PTRACE_ATTACH
    done.append('ptrace')
raise RuntimeError(f'FOUND left {done}')
"""
    outcomes = run_groups(tmp_path, backend, code, [[CASE], [HONEST_CASE]])
    assert "FOUND left []" in outcomes[0][0].error, outcomes[0][0]
    assert_honest(outcomes[1][0])


def test_a_child_reads_nothing_of_the_runner_or_a_sibling(tmp_path, backend):
    code = """
import os
seen = []
me, parent = os.getpid(), os.getppid()
for pid in [parent] + [me + d for d in range(-4, 5) if d]:
    for entry in ('mem', 'environ', 'cmdline', 'fd/0', 'fd/3', 'fd/4', 'maps'):
        path = f'/proc/{pid}/{entry}'
        try:
            with open(path, 'rb') as handle:
                handle.read(1)
            seen.append(path)
        except OSError:
            pass
raise RuntimeError(f'FOUND read {seen}')
"""
    outcomes = run_groups(tmp_path, backend, code, [[CASE], [HONEST_CASE]], honest_sleep=1.0)
    assert "FOUND read []" in outcomes[0][0].error, outcomes[0][0]
    assert_honest(outcomes[1][0])


def test_a_child_holds_no_descriptor_but_its_own_pipe(tmp_path, backend):
    code = """
import os, stat
held = {}
for fd in range(0, 256):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        continue
    held[fd] = 'fifo' if stat.S_ISFIFO(mode) else 'chr' if stat.S_ISCHR(mode) else oct(mode)
raise RuntimeError(f'FOUND held {sorted(held.items())}')
"""
    outcomes = run_groups(tmp_path, backend, code, [[CASE], [HONEST_CASE]], honest_sleep=1.0)
    assert "FOUND held [(0, 'chr'), (1, 'chr'), (2, 'chr'), (3, 'fifo')]" in outcomes[0][0].error, outcomes[0][0]


@pytest.mark.parametrize("ending, message", [
    ("os._exit(3)", "your code ended the grading process (exit code 3) before it could report"),
    ("os.kill(os.getpid(), 9)", "the grading process was killed by SIGKILL (memory exhausted or a crash)"),
    ("os.close(3)\nimport time\ntime.sleep(60)", None),
])
def test_a_child_that_ends_or_hides_costs_only_its_own_test(tmp_path, backend, ending, message):
    code = "import os\n" + ending
    limits_message = time_limit_message(Limits(wall_seconds=3.0, cpu_seconds=3))
    outcomes = run_groups(tmp_path, backend, code, [[CASE, HONEST_CASE], [HONEST_CASE]], wall=3.0)
    assert outcomes[0][0].error == (message or limits_message)
    assert_honest(outcomes[0][1])  # the test after it ran in a fresh child
    assert_honest(outcomes[1][0])


def test_groups_wait_for_the_shared_slots(tmp_path, backend):
    import threading
    import time

    limits = Limits(wall_seconds=10.0, cpu_seconds=10, backend=backend)
    copy = package(tmp_path, hostile("raise RuntimeError('FOUND hostile')", honest_sleep=0.4))
    with Sandbox(copy, [limits]) as sandbox:
        walls = {}
        for name, slots in (("one slot", threading.Semaphore(1)), ("four slots", threading.Semaphore(4))):
            started = time.monotonic()
            outcomes = sandbox.run([([request(HONEST_CASE)], limits) for _ in range(4)], parallel=4, slots=slots)
            walls[name] = time.monotonic() - started
            for group in outcomes:
                assert_honest(group[0])
            assert all(slots.acquire(blocking=False) for _ in range(1 if name == "one slot" else 4)), \
                "every slot was given back"
    # One slot: the four children, each sleeping 0.4 s, ran one after another; four: side by side.
    assert walls["one slot"] >= 1.6, walls
    assert walls["four slots"] < walls["one slot"] - 0.6, walls


def test_a_child_flooding_its_pipe_costs_only_its_own_test(tmp_path, backend):
    # 9 MiB without a newline: more than any answer may be. The runner kills the child.
    code = "import os, time\nchunk = b'x' * 2**20\nfor _ in range(9):\n    os.write(3, chunk)\ntime.sleep(30)\n"
    outcomes = run_groups(tmp_path, backend, code, [[CASE, HONEST_CASE], [HONEST_CASE]], wall=8.0)
    assert outcomes[0][0].error == "the grading process's report was too large"
    assert outcomes[0][0].seconds < 8.0
    assert_honest(outcomes[0][1])
    assert_honest(outcomes[1][0])


def test_a_child_that_cannot_confine_itself_stops_grading_before_any_student_code(tmp_path, backend, monkeypatch):
    from assignment.instructor.grading.sandbox import SandboxUnavailable

    # The runner's own filter holds no pid placeholder: a child given it refuses to go on.
    monkeypatch.setattr(seccomp, "child_template", seccomp.build)
    limits = Limits(backend=backend)
    copy = package(tmp_path, indent("raise RuntimeError('student code ran')"))
    with pytest.raises(SandboxUnavailable, match="could not confine a child"):
        with Sandbox(copy, [limits]) as sandbox:
            sandbox.run([([request(CASE)], limits)])
