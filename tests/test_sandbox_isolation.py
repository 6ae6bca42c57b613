"""Both sandbox backends against small hostile snippets in the student's Linear.forward.

Every test here runs real sandboxes (bubblewrap, and the Landlock backend on
this machine's kernel) on the reference mytorch with a few lines of hostile
code inserted before ``Linear.forward``'s return. The snippet collects what it
managed to do and raises it, so that the outcome's error text shows anything
that got through; each test then asserts that nothing did. The same tests run
on both backends: they must give the same guarantees.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assignment.instructor.grading.policy import read_submission, write_package
from assignment.instructor.grading.sandbox import BACKENDS, Limits, Outcome, describe_backend, run_batch, run_in_sandbox
from course_tools import ADA, ROOT

LINEAR_FORWARD = "        return x @ self.weight + self.bias\n"
CASE = {"weight": [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]],
        "bias": [[1.0, 2.0, 3.0, 4.0]], "x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
EXPECTED = [[39.0, 46.0, 53.0, 60.0], [84.0, 100.0, 116.0, 132.0]]
REQUEST = {"kind": "question", "key": "linear_forward", "case": CASE}
SECRETS = {"MYTORCH_GRADEBOOK_URL": "postgresql://grader:pw-8e1f@db/mytorch", "PGPASSWORD": "pg-secret-77c2",
           "AWS_SECRET_ACCESS_KEY": "aws-secret-9d3a", "JUPYTERHUB_API_TOKEN": "hub-token-41b6"}


def _backends(modes: tuple[str, ...] = ("forked", "alone")) -> list:
    """Each backend that runs here, in each mode: its runner ``forked`` by the fork server (the
    default), or started ``alone`` in a sandbox of its own (no server: MYTORCH_FORK_SERVER=0)."""
    params = []
    for name in BACKENDS:
        backend, why = describe_backend(name)
        for mode in modes:
            params.append(pytest.param((name, mode), id=name if mode == "forked" else f"{name}-alone",
                                       marks=pytest.mark.skipif(backend is None, reason=f"{name} cannot run here: {why}")))
    return params


def _use(param, monkeypatch) -> str:
    name, mode = param
    if mode == "alone":
        monkeypatch.setenv("MYTORCH_FORK_SERVER", "0")
    return name


@pytest.fixture(params=_backends())
def backend(request, monkeypatch) -> str:
    """Every backend, forked and alone: the guarantees must not depend on how the runner started."""
    return _use(request.param, monkeypatch)


def package(tmp_path: Path, body: str = "") -> Path:
    """The reference mytorch as a graded copy, with ``body`` (method-indented) run in Linear.forward."""
    submission = tmp_path / "submission"
    shutil.copytree(ADA, submission / "mytorch")
    nn = submission / "mytorch" / "nn.py"
    text = nn.read_text(encoding="utf-8")
    assert text.count(LINEAR_FORWARD) == 1
    nn.write_text(text.replace(LINEAR_FORWARD, body + LINEAR_FORWARD), encoding="utf-8")
    copy = tmp_path / "package"
    write_package(read_submission(submission), copy)
    return copy


def indent(code: str) -> str:
    return "".join("        " + line + "\n" for line in code.strip("\n").splitlines())


def run_hostile(tmp_path: Path, backend: str, code: str, wall: float = 10.0) -> Outcome:
    """Run ``code`` (which must end by raising what it found) in Linear.forward; return the outcome."""
    limits = Limits(wall_seconds=wall, cpu_seconds=int(wall), backend=backend)
    return run_in_sandbox(package(tmp_path, indent(code)), REQUEST, limits)


def found(outcome: Outcome) -> str:
    """What the snippet reported (its RuntimeError's text), or fail the test."""
    assert outcome.error is not None and "FOUND" in outcome.error, outcome
    return outcome.error


def test_honest_code_gets_its_answer(tmp_path, backend):
    outcome = run_in_sandbox(package(tmp_path), REQUEST, Limits(backend=backend))
    assert outcome.error is None, outcome.error
    np.testing.assert_array_equal(outcome.outputs["output"], EXPECTED)
    assert outcome.outputs["x_unchanged"] is True


def test_no_secret_of_the_grader_reaches_the_answer(tmp_path, backend, monkeypatch):
    """bwrap's init used to keep the grader's whole environment: /proc/1/environ showed it."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    code = """
import os
seen = [dict(os.environ)]
for path in ['/proc/1/environ', '/proc/self/environ', '/proc/%d/environ' % os.getppid(),
             '/proc/self/mountinfo', '/proc/1/mountinfo', '/proc/self/cmdline', '/proc/%d/cmdline' % os.getppid()]:
    try:
        seen.append((path, open(path, 'rb').read()))
    except OSError as error:
        seen.append((path, type(error).__name__))
for pid in range(1, 4096):
    try:
        seen.append(open('/proc/%d/environ' % pid, 'rb').read())
    except OSError:
        pass
raise RuntimeError('FOUND ' + repr(seen))
"""
    text = found(run_hostile(tmp_path, backend, code, wall=20))
    for value in SECRETS.values():
        assert value not in text
    assert str(ROOT) not in text and str(tmp_path) not in text  # no host path (mountinfo, cmdline)
    assert "mountinfo', b'" not in text and "environ', b'" not in text


def test_course_files_cannot_be_read_listed_or_written(tmp_path, backend):
    secret = tmp_path / "course" / "gradebook.db"
    secret.parent.mkdir()
    secret.write_text("gradebook-secret-5c1e", encoding="utf-8")
    secret.chmod(0o666)
    other = tmp_path / "other_student" / "mytorch"
    other.mkdir(parents=True)
    (other / "nn.py").write_text("other-student-secret-7a0f", encoding="utf-8")
    reads = [secret, other / "nn.py", ROOT / "mytorch" / "nn.py", ROOT / "source" / "mlp" / "01_forward.ipynb",
             ROOT / "assignment" / "shared" / "data" / "digits.npz", Path("/etc/shadow"), Path("/etc/passwd"),
             Path.home() / ".bashrc"]
    folders = [tmp_path, ROOT, Path("/work"), Path("/home"), Path("/tmp")]
    # Folders bubblewrap's sandbox has its own sparse copy of (what it mounts): no host entry may show.
    host_names = {"/etc": ["passwd", "shadow", "hostname"], "/usr/lib": ["python3", "python3.11", "os-release"],
                  "/root": [".bashrc", ".ssh", ".cache", ".profile"], "/": ["home", "proc", "srv", "var"]}
    writes = [tmp_path / "pwned.txt", secret, ROOT / "assignment" / "pwned.py", Path("/pwned"),
              Path("/sandbox/student/mytorch/nn.py"), Path("/sandbox/grader/assignment/pwned.py")]
    code = f"""
import os
seen = []
for path in {[str(p) for p in reads]!r}:
    try:
        seen.append(('read', path, open(path, 'rb').read(40)))
    except OSError:
        pass
for path in {[str(p) for p in folders]!r}:
    try:
        names = os.listdir(path)
        if path != '/tmp' or names:
            seen.append(('listed', path, names[:5]))
    except OSError:
        pass
for path, names in {host_names!r}.items():
    try:
        shown = [n for n in os.listdir(path) if n in names]
        if shown:
            seen.append(('listed', path, shown))
    except OSError:
        pass
for path in {[str(p) for p in writes]!r}:
    try:
        with open(path, 'a') as handle:
            handle.write('x')
        seen.append(('wrote', path))
    except OSError:
        pass
for path in {[str(secret), str(other / 'nn.py')]!r}:
    try:
        os.remove(path)
        seen.append(('removed', path))
    except OSError:
        pass
from assignment.shared.data import load_digits
if set(load_digits().y_test.tolist()) != {{-1}}:
    seen.append('test labels')
raise RuntimeError('FOUND ' + repr(seen))
"""
    text = found(run_hostile(tmp_path, backend, code))
    assert text.split("FOUND ", 1)[1].startswith("[]"), text
    assert secret.read_text(encoding="utf-8") == "gradebook-secret-5c1e"
    assert not (tmp_path / "pwned.txt").exists() and not (ROOT / "assignment" / "pwned.py").exists()


def test_no_network_even_to_loopback(tmp_path, backend):
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.2)
    accepted = []

    def accept():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                accepted.append(server.accept())
            except socket.timeout:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    code = f"""
import socket
seen = []
for family, address in [(socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_INET6, ('::1', {port})),
                        (socket.AF_UNIX, '\\0abstract-mytorch'), (socket.AF_UNIX, '/run/dbus/system_bus_socket')]:
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(1)
        s.connect(address)
        seen.append(('connected', address))
    except OSError as error:
        pass
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {port}))
    seen.append('udp sent')
except OSError:
    pass
raise RuntimeError('FOUND ' + repr(seen))
"""
    try:
        text = found(run_hostile(tmp_path, backend, code))
    finally:
        server.close()
    assert text.split("FOUND ", 1)[1].startswith("[]"), text
    assert accepted == []


def test_host_processes_cannot_be_signalled(tmp_path, backend):
    victim = subprocess.Popen(["sleep", "60"])
    try:
        code = f"""
import os, signal
seen = []
for pid in [{victim.pid}, {os.getpid()}, -1]:  # a host process, the grader, every process
    try:
        os.kill(pid, signal.SIGKILL)
        seen.append(('killed', pid))
    except OSError:
        pass
raise RuntimeError('FOUND ' + repr(seen))
"""
        text = found(run_hostile(tmp_path, backend, code))
        time.sleep(0.2)
        assert victim.poll() is None, "the victim outside the sandbox was killed"
    finally:
        victim.kill()
        victim.wait()
    assert text.split("FOUND ", 1)[1].startswith("[]"), text


def test_no_process_thread_or_memfd(tmp_path, backend):
    """Threads passed by the thousand when grading as root; memfd held memory outside RLIMIT_AS."""
    code = """
import os, subprocess, threading, mmap
seen = []
try:
    if os.fork() == 0:
        os._exit(0)
    seen.append('forked')
except OSError:
    pass
try:
    subprocess.run(['/bin/true'])
    seen.append('ran a program')
except OSError:
    pass
started = 0
try:
    for _ in range(3000):
        threading.Thread(target=lambda: None).start()
        started += 1
except RuntimeError:
    pass
if started:
    seen.append(('threads', started))
try:
    fd = os.memfd_create('hoard')
    os.ftruncate(fd, 2**31)
    seen.append('memfd')
except OSError:
    pass
try:
    os.execv('/bin/true', ['/bin/true'])
except OSError:
    pass
raise RuntimeError('FOUND ' + repr(seen))
"""
    text = found(run_hostile(tmp_path, backend, code))
    assert text.split("FOUND ", 1)[1].startswith("[]"), text


def test_descriptors_are_capped(tmp_path, backend):
    """Pipe buffers are memory RLIMIT_AS does not count: the number of descriptors is capped."""
    code = """
import os
pipes = []
try:
    while len(pipes) < 1000:
        pipes.append(os.pipe())
except OSError:
    pass
raise RuntimeError('FOUND ' + repr(len(pipes)))
"""
    text = found(run_hostile(tmp_path, backend, code))
    assert int(text.split("FOUND ", 1)[1].split()[0]) < 40


def test_computed_imports_reach_no_third_party_module(tmp_path, backend):
    site = Path(np.__file__).resolve().parents[1]
    code = f"""
import sys
sys.path += [{str(site)!r}, '/usr/lib/python3/dist-packages', '/usr/local/lib/python3.11/dist-packages',
             '/usr/lib/python3.11/site-packages']
seen = []
for name in ['ya' + 'ml', 'crypto' + 'graphy', 'nb' + 'grader', 'jupyter' + 'lab', 'matplot' + 'lib', 'torch',
             'scipy', 'land' + 'lock', 'pysec' + 'comp', 'pi' + 'p', 'setup' + 'tools', 'apt']:
    try:
        __import__(name)
        seen.append(name)
    except BaseException:
        pass
raise RuntimeError('FOUND ' + repr(seen))
"""
    text = found(run_hostile(tmp_path, backend, code))
    assert text.split("FOUND ", 1)[1].startswith("[]"), text


@pytest.mark.parametrize("loop", ["plain", "swallowing"])
def test_a_loop_costs_one_test_limit_not_the_batch(tmp_path, backend, loop):
    """The second of three tests loops: the others keep their answers, and the run costs about
    one test's limit (before, a batch had len(requests) x the limit and the loop took it all)."""
    body = ("while True:\n    pass" if loop == "plain" else
            "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass")
    code = f"import sys\nif getattr(sys, '_calls', 0) == 1:\n" + "".join(
        "    " + line + "\n" for line in body.splitlines()) + "sys._calls = getattr(sys, '_calls', 0) + 1\n"
    copy = package(tmp_path, indent(code))
    started = time.perf_counter()
    outcomes = run_batch(copy, [REQUEST] * 3, Limits(wall_seconds=2, cpu_seconds=30, backend=backend))
    seconds = time.perf_counter() - started
    assert outcomes[0].error is None and outcomes[2].error is None, outcomes
    assert outcomes[1].error == "the test did not finish within its time limit (30 s of CPU time, 2 s in all): an endless loop?"
    assert 2 <= seconds < 2 + 8, seconds  # one limit, plus two short sandbox starts on a loaded machine


def test_a_loop_at_every_test_costs_one_limit_per_batch_wave(tmp_path, backend):
    """Every test loops: the first times out, the other two then run at once, each alone."""
    copy = package(tmp_path, indent("while True:\n    pass"))
    started = time.perf_counter()
    outcomes = run_batch(copy, [REQUEST] * 3, Limits(wall_seconds=2, cpu_seconds=30, backend=backend))
    seconds = time.perf_counter() - started
    assert [o.error for o in outcomes] == ["the test did not finish within its time limit (30 s of CPU time, 2 s in all): an endless loop?"] * 3
    assert seconds < 2 * 2 + 8, seconds


def test_cpu_limit_holds_per_test(tmp_path, backend):
    limits = Limits(wall_seconds=30, cpu_seconds=1, backend=backend)
    started = time.perf_counter()
    outcome = run_in_sandbox(package(tmp_path / "cpu", indent("while True:\n    pass")), REQUEST, limits)
    assert "(1 s of CPU time, 30 s in all)" in outcome.error
    assert time.perf_counter() - started < 15


def test_memory_is_capped(tmp_path, backend):
    outcome = run_hostile(tmp_path, backend, "hoard = []\nwhile True:\n    hoard.append(bytearray(2**24))")
    assert "ran out of memory" in outcome.error or "killed" in outcome.error


def test_a_forged_answer_line_is_only_an_answer(tmp_path, backend):
    """Student code can find the answer pipe (its own process holds it), but what it writes
    there is only an answer, which the grader judges (and finds wrong)."""
    code = """
import os, stat, json
for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'result ' + json.dumps({'ok': True, 'outputs': {'output': 1}}).encode() + b'\\n')
    except OSError:
        pass
os._exit(0)
"""
    outcomes = run_batch(package(tmp_path, indent(code)), [REQUEST] * 2, Limits(wall_seconds=5, backend=backend))
    assert [o.outputs for o in outcomes] == [{"output": 1}, {"output": 1}]


def test_a_bent_protocol_costs_the_test_that_bent_it(tmp_path, backend):
    """A 'start' out of order (to stretch its deadline) ends the run; that test scores nothing,
    the others run again in a fresh process and keep their answers."""
    code = """
import os, stat, sys
if getattr(sys, '_calls', 0) == 1:
    for fd in range(3, 256):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b'start 7\\n')
        except OSError:
            pass
sys._calls = getattr(sys, '_calls', 0) + 1
"""
    outcomes = run_batch(package(tmp_path, indent(code)), [REQUEST] * 3, Limits(wall_seconds=5, backend=backend))
    assert outcomes[0].error is None and outcomes[2].error is None, outcomes
    assert outcomes[1].error == "the grading process's report was malformed"
