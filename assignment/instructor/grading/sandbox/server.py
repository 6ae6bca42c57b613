"""The grader's side of the fork server: one per backend and grading process, starting every runner.

Starting a runner costs an interpreter and NumPy's import (0.15-0.2 CPU
seconds); forking one from a process that has them loaded costs a few
milliseconds. ``grading/fork_server.py`` is that process: trusted, holding no
student data, started once (inside a bubblewrap sandbox of its own, or
directly under Landlock) and asked over a socket to fork one runner per
submission, which then confines itself to that submission's copy before it
says ``ready`` (see ``runner_request`` of each backend). A runner is then
served exactly as one started on its own (``process.Sandbox``).

Used when the backend can confine a forked runner to one submission:
always under Landlock; under bubblewrap, only where Landlock also works (the
server's sandbox holds every submission's copy: Landlock keeps each runner to
its own). Elsewhere, or with ``MYTORCH_FORK_SERVER=0`` in the grader's
environment, each submission gets a sandbox of its own, started afresh.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from assignment.instructor.grading.sandbox import bubblewrap, landlock, scratch
from assignment.instructor.grading.sandbox.base import SandboxUnavailable

START_SECONDS = 30.0  # the server's own start: an interpreter, NumPy, the grader's modules
ANSWER_SECONDS = 10.0  # a fork
MAX_MESSAGE = 1 << 16
RUNNER_CHANNEL = 3  # where a forked runner finds its answer pipe (fork_server.RUNNER_FDS)
_BACKENDS = {"bubblewrap": bubblewrap, "landlock": landlock}
_lock = threading.Lock()
_servers: dict[str, "ForkServer"] = {}
# bubblewrap's --die-with-parent follows the *thread* that started it: servers are started by
# this pool's one thread, which lives as long as the grading process.
_starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fork-server-start")


def enabled(backend: str) -> bool:
    """Whether runners of ``backend`` are forked by a server (see the module docstring)."""
    if os.environ.get("MYTORCH_FORK_SERVER", "1") == "0":
        return False
    if backend == "landlock":
        return True
    return backend == "bubblewrap" and landlock.precheck() is None


@dataclass
class Runner:
    """A runner forked by the server.

    Fields:
        pid: its pid, as the server sees it (inside bubblewrap's pid namespace).
        commands: the write end of its command pipe (its stdin).
        request: what its set-up request must add: import path and confinement.
        copy: a copy of the submission made for it (removed when it ends), if one was needed.
    """

    pid: int
    commands: object
    request: dict
    copy: Path | None


class ForkServer:
    """One fork server process (``grading/fork_server.py``) and the socket to it."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.owner = os.getpid()  # the grading process it serves
        self._lock = threading.Lock()
        self._run_dir = scratch.new_dir("server-")
        self._stderr = scratch.create_exclusive(self._run_dir / "stderr.txt", readable=True)
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process: subprocess.Popen | None = None
        try:
            launch = _BACKENDS[backend].server_launch(scratch.copies_root(), self._run_dir, theirs.fileno())
            try:
                self._process = subprocess.Popen(
                    launch.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                    env=launch.env, cwd=launch.cwd, start_new_session=True, pass_fds=launch.pass_fds)
            finally:
                theirs.close()
                for fd in launch.close_after_start:
                    os.close(fd)
            self._socket.settimeout(START_SECONDS)
            self._socket.send(json.dumps(launch.request).encode())
            answer = self._answer()
            if answer != {"ready": True}:
                raise self._broken(f"sent {answer!r} instead of ready")
        except BaseException:
            self.close()
            raise

    def _answer(self) -> dict:
        try:
            data = self._socket.recv(MAX_MESSAGE)
        except (socket.timeout, OSError) as error:
            raise self._broken(f"did not answer ({error})") from None
        if not data:
            raise self._broken("stopped")
        try:
            return json.loads(data)
        except ValueError:
            raise self._broken("sent a malformed answer") from None

    def _broken(self, why: str) -> SandboxUnavailable:
        size = os.fstat(self._stderr).st_size if self._stderr >= 0 else 0
        tail = os.pread(self._stderr, 500, max(0, size - 500)).decode("utf-8", "replace").strip() if size else ""
        return SandboxUnavailable(f"the {self.backend} fork server {why}" + (f": {tail}" if tail else ""))

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start_runner(self, package_copy: Path, stderr_fd: int, channel_fd: int) -> Runner:
        """Fork a runner for the submission in ``package_copy``.

        Args:
            package_copy: the folder holding the student's ``mytorch/``; if it is not directly
                inside ``scratch.copies_root()`` (where the server's sandbox sees copies), its
                regular files are copied there first.
            stderr_fd: the runner's log (kept open by the caller).
            channel_fd: the write end of its answer pipe (the caller closes its own copy).

        Raises:
            SandboxUnavailable: the server is gone or did not fork.
        """
        copy = None
        if Path(package_copy).parent != scratch.copies_root():
            copy = _copy_package(Path(package_copy))
        target = copy or Path(package_copy)
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            with self._lock:
                try:
                    socket.send_fds(self._socket, [json.dumps({"op": "spawn"}).encode()],
                                    [read_end, channel_fd, stderr_fd])
                except OSError as error:
                    raise self._broken(f"could not be reached ({error})") from None
                self._socket.settimeout(ANSWER_SECONDS)
                answer = self._answer()
            if not isinstance(answer.get("pid"), int):
                raise self._broken(f"did not fork a runner ({answer!r})")
        except BaseException:
            os.close(write_end)
            if copy is not None:
                shutil.rmtree(copy, ignore_errors=True)
            raise
        finally:
            os.close(read_end)
        return Runner(answer["pid"], os.fdopen(write_end, "wb"), _BACKENDS[self.backend].runner_request(target), copy)

    def kill(self, runner: Runner) -> None:
        """SIGKILL the runner's process group (its children with it); never raises."""
        with self._lock:
            try:
                self._socket.send(json.dumps({"op": "kill", "pid": runner.pid}).encode())
            except OSError:
                pass  # the server is gone, and every runner with it
        if runner.copy is not None:
            shutil.rmtree(runner.copy, ignore_errors=True)

    def close(self) -> None:
        """End the server and every runner it forked. Idempotent."""
        try:
            self._socket.close()
        except OSError:
            pass
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self._process.pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass
                self._process.wait()
            self._process = None
        if self._stderr >= 0:
            os.close(self._stderr)
            self._stderr = -1
            shutil.rmtree(self._run_dir, ignore_errors=True)


def shared(backend: str) -> ForkServer:
    """This process's fork server for ``backend``, started (or restarted, if it died) as needed.

    Raises:
        SandboxUnavailable: it could not be started.
    """
    with _lock:
        server = _servers.get(backend)
        if server is not None and server.alive and server._socket.fileno() >= 0:
            return server
        if server is not None:
            server.close()
        server = _servers[backend] = _starter.submit(ForkServer, backend).result()
        return server


def close_all() -> None:
    """End every fork server of this process (at exit; tests call it to start afresh). A forked
    copy of the grading process holds none of its parent's (``_forget_after_fork``)."""
    with _lock:
        for server in _servers.values():
            server.close()
        _servers.clear()


atexit.register(close_all)


def _forget_after_fork() -> None:
    """In a process forked from the grader: its parent's servers are not its own, and the thread
    that starts servers did not survive the fork (a pool without it would never start one)."""
    global _lock, _servers, _starter
    for inherited in _servers.values():
        try:
            inherited._socket.close()  # this copy only: the server must still see its grader leave
        except OSError:
            pass
    _lock = threading.Lock()
    _servers = {}
    _starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fork-server-start")


os.register_at_fork(after_in_child=_forget_after_fork)


def _copy_package(package_copy: Path) -> Path:
    """A copy of ``package_copy/mytorch`` (regular files only, no link followed) in ``copies_root()``."""
    copy = scratch.new_copy_dir()
    source = package_copy / "mytorch"
    (copy / "mytorch").mkdir(mode=0o700)
    if source.is_dir() and not source.is_symlink():
        for entry in sorted(source.iterdir()):
            if entry.is_file() and not entry.is_symlink():
                scratch.write_exclusive(copy / "mytorch" / entry.name, entry.read_bytes())
    return copy
