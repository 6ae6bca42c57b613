"""The fork server: one per backend and grading process, forking every submission's runner.

Its runners share one bubblewrap sandbox (or, under Landlock, the grader's
namespaces), so each must be kept to its own submission by the confinement it
applies after the fork. These tests run real servers with two submissions'
sandboxes alive at once: one's code tries to reach the other's files, to
write anywhere, and to leave state behind for the next runner; the server must
be shared, restarted when it dies, and replaced by a sandbox per submission
where it cannot confine its runners.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from assignment.instructor.grading.policy import read_submission, write_package
from assignment.instructor.grading.sandbox import (Limits, Sandbox, SandboxUnavailable, run_in_sandbox,
                                                   submission_dir)
from assignment.instructor.grading.sandbox import landlock, scratch, server
from test_sandbox_isolation import EXPECTED, REQUEST, _backends, _use, indent, package

pytestmark = pytest.mark.xdist_group("fork_server")


@pytest.fixture(params=_backends(("forked",)))
def backend(request, monkeypatch) -> str:
    """Every backend, its runners forked by the fork server (the default)."""
    return _use(request.param, monkeypatch)


def copy_of(tmp_path: Path, name: str, body: str = "") -> Path:
    """The reference mytorch (with ``body`` in Linear.forward) as a copy where the server sees copies."""
    staged = package(tmp_path / name, body)
    copy = submission_dir()
    write_package(read_submission(staged), copy)
    return copy


def hostile_run(tmp_path: Path, backend: str, code: str, name: str = "a") -> str:
    copy = copy_of(tmp_path, name, indent(code))
    try:
        outcome = run_in_sandbox(copy, REQUEST, Limits(wall_seconds=10, cpu_seconds=10, backend=backend))
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    assert outcome.error is not None and "FOUND" in outcome.error, outcome
    return outcome.error


def test_every_runner_is_forked_by_one_server(tmp_path, backend):
    server.close_all()
    copy = copy_of(tmp_path, "a")
    limits = Limits(backend=backend)
    with Sandbox(copy, [limits]) as first:
        assert first._process is None and first._runner is not None  # forked, not started afresh
        started = server.shared(backend)
        with Sandbox(copy, [limits]) as second:
            assert server.shared(backend) is started
            assert first._runner.pid != second._runner.pid
            for sandbox in (first, second):
                [[outcome]] = sandbox.run([([REQUEST], limits)])
                assert outcome.error is None and outcome.outputs["output"].tolist() == EXPECTED


def test_a_submission_reads_nothing_of_another_one_graded_at_the_same_time(tmp_path, backend):
    other = copy_of(tmp_path, "b")
    limits = Limits(backend=backend)
    with Sandbox(other, [limits]) as alive:  # the other submission's runner is up meanwhile
        [[honest]] = alive.run([([REQUEST], limits)])
        assert honest.error is None
        reads = [str(other / "mytorch" / "nn.py"), f"/sandbox/students/{other.name}/mytorch/nn.py"]
        folders = [str(scratch.copies_root()), "/sandbox/students", str(other), f"/sandbox/students/{other.name}",
                   str(scratch.private_root()), "/tmp"]
        code = f"""
import os
found = []
with open(__file__, 'rb') as own:
    found.append(('own file', len(own.read()) > 0))
for path in {reads!r}:
    try:
        with open(path, 'rb') as handle:
            found.append(('read', path, len(handle.read())))
    except OSError:
        pass
for folder in {folders!r} + [os.path.dirname(os.path.dirname(os.path.dirname(__file__)))]:
    try:
        names = os.listdir(folder)
    except OSError:
        continue
    if names:
        found.append(('listed', folder, names))
raise RuntimeError(f"FOUND {{found}}")
"""
        text = hostile_run(tmp_path, backend, code)
    assert "FOUND [('own file', True)]" in text, text


def test_a_submission_writes_nowhere(tmp_path, backend):
    code = """
import os
found = []
own = os.path.dirname(__file__)
for path in ['/tmp/planted', '/dev/shm/planted', os.path.join(own, 'planted.py'),
             os.path.join(os.path.dirname(own), 'planted'), os.path.expanduser('~/planted')]:
    try:
        with open(path, 'w') as handle:
            handle.write('x')
        found.append(path)
    except OSError:
        pass
try:
    os.mkdir('/tmp/planted-folder')
    found.append('mkdir /tmp')
except OSError:
    pass
raise RuntimeError(f"FOUND {found}")
"""
    assert "FOUND []" in hostile_run(tmp_path, backend, code)


def test_a_runner_starts_from_the_server_not_from_the_last_submission(tmp_path, backend):
    leave = """
import builtins, os, sys, numpy
import assignment.shared.questions as questions
builtins.LEFT_BY_A = 1
numpy.LEFT_BY_A = 1
questions.LEFT_BY_A = 1
os.environ['LEFT_BY_A'] = '1'
sys.modules['left_by_a'] = sys
numpy.random.seed(1234)
raise RuntimeError("FOUND left")
"""
    assert "FOUND left" in hostile_run(tmp_path, backend, leave, "a")
    look = """
import builtins, os, sys, numpy
import assignment.shared.questions as questions
found = [name for name, where in [('builtins', builtins), ('numpy', numpy), ('questions', questions)]
         if hasattr(where, 'LEFT_BY_A')]
found += [k for k in ('LEFT_BY_A',) if k in os.environ] + [m for m in sys.modules if m == 'left_by_a']
state = numpy.random.get_state()[1][:4].tolist()
numpy.random.seed(1234)
if numpy.random.get_state()[1][:4].tolist() == state:
    found.append('numpy seeded by A')
raise RuntimeError(f"FOUND {found}")
"""
    assert "FOUND []" in hostile_run(tmp_path, backend, look, "b")


def test_a_dead_server_fails_its_sandboxes_and_is_restarted(tmp_path, backend):
    copy = copy_of(tmp_path, "a")
    limits = Limits(backend=backend)
    with Sandbox(copy, [limits]) as doomed:
        dying = server.shared(backend)
        os.killpg(dying._process.pid, signal.SIGKILL)  # the server (bubblewrap's too) and its runners
        dying._process.wait()
        with pytest.raises(SandboxUnavailable):
            doomed.run([([REQUEST], limits)])
    with Sandbox(copy, [limits]) as fresh:
        assert server.shared(backend) is not dying
        [[outcome]] = fresh.run([([REQUEST], limits)])
        assert outcome.error is None and outcome.outputs["output"].tolist() == EXPECTED


def test_without_landlock_bubblewrap_starts_a_sandbox_per_submission(tmp_path, monkeypatch):
    if server.enabled("bubblewrap") is False and landlock.precheck() is not None:
        pytest.skip("Landlock is not available here")
    monkeypatch.setattr(landlock, "precheck", lambda: "Landlock is not available in this kernel")
    assert not server.enabled("bubblewrap") and server.enabled("landlock")
    copy = copy_of(tmp_path, "a")
    limits = Limits(backend="bubblewrap")
    with Sandbox(copy, [limits]) as alone:
        assert alone._process is not None and alone._runner is None
        [[outcome]] = alone.run([([REQUEST], limits)])
    assert outcome.error is None and outcome.outputs["output"].tolist() == EXPECTED
    monkeypatch.setenv("MYTORCH_FORK_SERVER", "0")
    assert not server.enabled("landlock")


def test_a_backend_checked_by_the_parent_is_not_probed_again(monkeypatch):
    """The parallel command's writer takes its parent's probe: nothing is started for it."""
    from assignment.instructor.grading.sandbox import process

    monkeypatch.setattr(process, "_probes", {})
    started = []
    monkeypatch.setattr(process, "Sandbox", lambda *a, **k: started.append(a))
    process.checked_elsewhere("landlock")
    assert process.probe("landlock") is None and started == []
    with pytest.raises(ValueError):
        process.checked_elsewhere("docker")


def test_a_forked_copy_of_the_grader_starts_its_own_server_and_leaves_the_parents(tmp_path, backend):
    """A process forked from the grader (which inherits its exit handler and its server table)
    must neither use nor end its parent's server."""
    copy = copy_of(tmp_path, "a")
    limits = Limits(backend=backend)
    parents = server.shared(backend)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with Sandbox(copy, [limits]) as sandbox:
                [[outcome]] = sandbox.run([([REQUEST], limits)])
            mine = server.shared(backend)
            code = 0 if outcome.error is None and mine is not parents and mine.owner == os.getpid() else 2
            server.close_all()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert parents.alive and server.shared(backend) is parents
    with Sandbox(copy, [limits]) as sandbox:
        [[outcome]] = sandbox.run([([REQUEST], limits)])
    assert outcome.error is None
