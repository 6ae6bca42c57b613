"""Starts one runner per submission by forking, inside the sandbox. Never imported by the grader.

A runner's start is mostly importing NumPy and the grader's question modules
(about 0.15 CPU seconds, a third of what grading an honest submission costs).
This process pays it once per grading process: started as ``python -I -S -B
fork_server.py`` (under bubblewrap, inside a sandbox whose only per-student
folder is the read-only ``/sandbox/students``; under Landlock, directly), it
imports what every runner imports, then forks one runner per submission on the
grader's request. It never imports or reads student code, and it holds no
student data: each runner confines itself after the fork, to its own
submission's copy (``runner.main``: limits, Landlock, seccomp), before it
reports ``ready``; only the runner's own children run student code.

The grader talks to it over a ``SOCK_SEQPACKET`` socket inherited as
the descriptor named by its first argument (one JSON message each way per request):

- first, the grader sends ``{"path": [...], "binding": folder}``: the import
  path (NumPy's site folder and the grader's package copy) and the folder that
  holds the ``landlock`` binding; the server answers ``{"ready": true}``;
- ``{"op": "spawn"}`` with three descriptors (the runner's command pipe, its
  answer pipe and its log): the server forks a runner, which puts them on
  descriptors 0, 3 and 2 (1 is /dev/null), closes every other one, starts a
  session of its own (so that killing its process group ends its children too)
  and dies with the server; the answer is ``{"pid": n}``;
- ``{"op": "kill", "pid": n}``: SIGKILL to runner ``n``'s process group, if
  ``n`` is one of this server's runners not yet reaped (so never a reused pid);
  no answer.

End of input (the grader closed the socket, or died) kills every runner and
ends the server. Whatever happens, it exits without raising.
"""

import ctypes
import json
import os
import select
import signal
import socket
import sys

RUNNER_FDS = (0, 3, 2)  # where a runner's command pipe, answer pipe and log go
MAX_MESSAGE = 1 << 16
PR_SET_PDEATHSIG = 1
REAP_SECONDS = 0.2


def _start_runner(received, server_pid):
    """In the freshly forked runner: arrange its descriptors, then run ``runner.main``. Never returns."""
    try:
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() != server_pid:
            os._exit(1)
        # Above every target first, so that no dup2 overwrites a descriptor still to be moved.
        high = [os.dup2(fd, 100 + i, inheritable=True) for i, fd in enumerate(received)]
        for fd, target in zip(high, RUNNER_FDS):
            os.dup2(fd, target)
        os.closerange(4, 1 << 16)  # the control socket, the high copies, anything else of the server's
        from assignment.instructor.grading import runner
        runner.main()
    except BaseException:
        pass
    os._exit(1)


def _serve(control):
    server_pid = os.getpid()
    runners = set()  # pids forked and not yet reaped
    poller = select.poll()
    poller.register(control.fileno(), select.POLLIN)
    while True:
        events = poller.poll(REAP_SECONDS * 1000 if runners else None)
        while runners:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                runners.clear()
                break
            if pid == 0:
                break
            runners.discard(pid)
        if not events:
            continue
        message, fds, flags, _ = socket.recv_fds(control, MAX_MESSAGE, 8)
        if not message:  # the grader is done, or gone
            for fd in fds:
                os.close(fd)
            break
        try:
            request = json.loads(message)
            op = request.get("op")
        except (ValueError, AttributeError):
            request, op = {}, None
        if op == "spawn" and len(fds) == len(RUNNER_FDS):
            pid = os.fork()
            if pid == 0:
                _start_runner(fds, server_pid)
            runners.add(pid)
            answer = {"pid": pid}
        elif op == "kill":
            pid = request.get("pid")
            if isinstance(pid, int) and pid in runners:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            answer = None
        else:
            answer = {"error": "unknown request"}
        for fd in fds:
            os.close(fd)
        if answer is not None:
            control.send(json.dumps(answer).encode())
    for pid in runners:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main():
    control = socket.socket(fileno=int(sys.argv[1]))
    setup = json.loads(control.recv(MAX_MESSAGE))
    sys.path.extend(setup["path"])
    # What every runner imports, once, before any runner exists (runner.main imports them again:
    # from sys.modules). The landlock binding too: its folder is readable now, not after a runner
    # has confined itself.
    sys.path.insert(0, setup["binding"])
    try:
        import landlock  # noqa: F401
    except ImportError:
        pass  # bubblewrap without Landlock never asks for a server (sandbox.process)
    finally:
        del sys.path[0]
    from assignment.instructor.grading import confine, runner  # noqa: F401
    runner.trusted_imports()
    control.send(json.dumps({"ready": True}).encode())
    _serve(control)


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        pass
    os._exit(0)
