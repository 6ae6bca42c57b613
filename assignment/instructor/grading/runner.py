"""Runs tests on the student's code, inside the sandbox. Never imported by the grader.

Started as ``python -I -S -B runner.py`` (no site-packages, no environment, no
current folder on the path). Its first line on stdin is the set-up request, as
JSON. It limits itself, confines itself (``assignment.instructor.grading.confine``),
imports NumPy and its own trusted modules once, says ``ready``, and from then on
serves the grader: each ``run`` command on stdin forks a *child* that confines
itself further and runs one group of tests on the student's files. The runner
never imports student code; only the children do, each in its own process, so
a loop, a crash or an ``os._exit`` costs only that child's tests.

Messages go back over an inherited pipe (``request["channel"]``), one line each,
never through a file another user could swap. From the runner itself:

- ``ready``: the sandbox is set up;
- ``! <id> exit <code>``: child ``id`` has ended (``code`` as ``Popen.returncode``:
  the exit status, or minus the signal that killed it);
- ``! <id> overflow``: child ``id`` sent a line longer than allowed and was killed.

Each child writes on its own pipe to the runner, which relays every line as
``<id> <line>``, so no child can speak for another or for the runner:

- ``ready``: the child has confined itself; student code may run from here on;
- ``start <i>``: test i begins (the grader's per-test deadline starts now);
- ``result <json>``: the answer of the test last started.

Commands on stdin, one JSON line each: ``{"op": "run", "id": n, "tests": [...],
"memory_bytes": .., "cpu_seconds": .., "output_bytes": ..}`` and ``{"op": "kill",
"id": n}``. End of input ends the runner and its children.

Everything the runner does is trusted; nothing a child does after its
confinement is. Whatever happens, it exits without raising.
"""

import errno
import io
import json
import math
import os
import resource
import select
import signal
import sys

CHILD_CPU_SECONDS = 2  # on top of its tests: a child's confinement, and each test's share rounded up to a second
CHANNEL = 3  # the descriptor a child's answers go out on
UNCONFINED = 70  # a child's exit status when it could not confine itself
REAP_SECONDS = 0.02  # how often a child that closed its pipe but lives on is checked for its end


def _limit_runner(request):
    memory = int(request["memory_bytes"])
    output = int(request["output_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _limit_child(job):
    memory = int(job["memory_bytes"])
    total_cpu = CHILD_CPU_SECONDS + int(job["cpu_seconds"]) * max(1, len(job["tests"]))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The hard CPU limit covers the child's whole group; each test lowers the soft one to its share.
    resource.setrlimit(resource.RLIMIT_CPU, (total_cpu, total_cpu + 1))
    try:  # binds a non-root grader (root is exempt; the seccomp filter refuses new processes anyway)
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    except (ValueError, OSError):
        pass


def _cpu_used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _test_cpu_limit(seconds):
    """Let the coming test use ``seconds`` of CPU time (SIGXCPU then ends the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    wanted = math.ceil(_cpu_used() + seconds)  # whole seconds: between ``seconds`` and one more
    resource.setrlimit(resource.RLIMIT_CPU, (min(wanted, hard), hard))


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


class _CappedOutput(io.RawIOBase):
    """What a child prints: counted, then dropped; past the cap a write fails as a full file would.

    The children's descriptors 1 and 2 are /dev/null; this stands in for ``sys.stdout`` and
    ``sys.stderr`` so that a print loop ends with EFBIG (as RLIMIT_FSIZE would end it) instead
    of running until its time limit. Both streams share one count.
    """

    def __init__(self, counter, cap):
        self._counter = counter
        self._cap = cap

    def writable(self):
        return True

    def write(self, data):
        size = len(memoryview(data))
        if self._counter[0] + size > self._cap:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        self._counter[0] += size
        return size


def _capped_streams(cap):
    counter = [0]
    for name in ("stdout", "stderr"):
        stream = io.TextIOWrapper(io.BufferedWriter(_CappedOutput(counter, cap)), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


# --------------------------------------------------------------------------- a child: one group of tests


def _child(job, channel, runner_pid, child_filter, max_files, max_answer_bytes):
    """In a freshly forked child: confine, then run ``job``'s tests. Never returns."""
    try:
        signal.set_wakeup_fd(-1)  # the runner's; its descriptor is closed below
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.dup2(1, 0)  # the runner's stdout is /dev/null; its stdin carries the grader's commands
        os.dup2(1, 2)  # the runner's stderr is the grader's log of the sandbox's start
        if channel != CHANNEL:
            os.dup2(channel, CHANNEL)
        os.closerange(CHANNEL + 1, max_files)  # the runner's pipes, its other children's
        from assignment.instructor.grading import confine
        confine.confine_child(child_filter, runner_pid)
        _limit_child(job)
        _capped_streams(int(job["output_bytes"]))
    except BaseException:
        os._exit(UNCONFINED)  # before "ready": the grader refuses rather than run student code half-confined
    try:
        _write_all(CHANNEL, b"ready\n")  # confined: student code may run from here on
        _run_tests(job, max_answer_bytes)
    except BaseException:
        pass
    os._exit(0)


def _run_tests(job, max_answer_bytes):
    from assignment.instructor.grading import transport
    from assignment.shared.student_errors import student_error
    from assignment.shared.questions import question

    def send(line):
        _write_all(CHANNEL, line.encode("utf-8") + b"\n")

    cpu_seconds = int(job["cpu_seconds"])
    memory_mib = int(job["memory_bytes"]) // 2**20
    output_mib = int(job["output_bytes"]) // 2**20
    for index, test in enumerate(job["tests"]):
        method = "mytorch, while being imported,"
        _test_cpu_limit(cpu_seconds)
        send(f"start {index}")
        try:
            if test["kind"] == "import":
                __import__(test["module"])
                outputs = {}
            else:
                q = question(test["key"])
                import mytorch.nn as nn
                # A question that runs nn.py alone must not depend on optim.py importing.
                optim = __import__("mytorch.optim").optim if "mytorch.optim" in q.INFO.imports else None
                method = q.INFO.method
                outputs = q.run(nn, optim, test["case"])
            result = {"ok": True, "outputs": transport.encode(outputs)}
        except MemoryError:
            result = {"ok": False, "error": f"{method} ran out of memory (the grader allows {memory_mib} MiB)"}
        except BaseException as error:  # SystemExit and KeyboardInterrupt included
            try:
                if isinstance(error, OSError) and error.errno == errno.EFBIG:
                    where = f"{method} wrote too much output (more than {output_mib} MiB: printing in a loop?)"
                else:
                    where = student_error(error, method)
            except BaseException:
                where = f"{method} raised {type(error).__name__}"
            result = {"ok": False, "error": where}
        try:
            text = json.dumps(result)
        except (TypeError, ValueError) as error:  # e.g. a NaN that slipped past encode
            text = json.dumps({"ok": False, "error": f"{method}'s answer cannot be reported ({error})"})
        if len(text) > max_answer_bytes:
            text = json.dumps({"ok": False, "error": f"{method}'s answer is too large to report "
                               f"(more than {max_answer_bytes // 2**20} MiB)"})
        send("result " + text)


# --------------------------------------------------------------------------- the runner: serves the grader


class _Child:
    """One forked child, as the runner follows it."""

    def __init__(self, ident, pid, fd):
        self.ident = ident
        self.pid = pid
        self.fd = fd  # read end of its pipe; -1 once closed
        self.pieces = []  # the start of a line not yet complete
        self.pending = 0  # its length
        self.status = None  # Popen-style return code, once reaped


def _returncode(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def _serve(request, send, child_filter):
    max_files = int(request["max_files"])
    max_line = int(request["max_answer_bytes"]) + 64
    runner_pid = os.getpid()
    children = {}  # id -> _Child
    by_fd = {}
    poller = select.poll()
    poller.register(0, select.POLLIN)
    # A child's end wakes the loop at once (SIGCHLD, through Python's wakeup descriptor): the
    # grader hears of it, and the slot the child held is free, without waiting for a poll.
    ended, ended_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(ended_write)
    poller.register(ended, select.POLLIN)
    commands = b""

    def close_pipe(child):
        if child.fd >= 0:
            poller.unregister(child.fd)
            del by_fd[child.fd]
            os.close(child.fd)
            child.fd = -1

    def kill(child):
        if child.status is None:
            try:
                os.kill(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def command(job):
        if job.get("op") == "kill":
            child = children.get(int(job["id"]))
            if child is not None:
                kill(child)
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _child(job, write_end, runner_pid, child_filter, max_files, max_line - 64)
        os.close(write_end)
        child = children[int(job["id"])] = _Child(int(job["id"]), pid, read_end)
        by_fd[read_end] = child
        poller.register(read_end, select.POLLIN)

    while True:
        waiting = any(c.fd < 0 and c.status is None for c in children.values())
        for fd, _ in poller.poll(REAP_SECONDS * 1000 if waiting else None):
            if fd == ended:
                while True:
                    try:
                        os.read(ended, 4096)
                    except BlockingIOError:
                        break
                continue
            if fd == 0:
                data = os.read(0, 65536)
                if not data:  # the grader is done (or gone): so are the children
                    for child in children.values():
                        kill(child)
                    return
                commands += data
                *lines, commands = commands.split(b"\n")
                for line in lines:
                    if line.strip():
                        command(json.loads(line))
                continue
            child = by_fd.get(fd)
            if child is None:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                close_pipe(child)
                continue
            ident = child.ident
            if b"\n" not in chunk:  # a long line arrives in many chunks: joined once, at its end
                child.pieces.append(chunk)
                child.pending += len(chunk)
            else:
                *lines, rest = b"".join([*child.pieces, chunk]).split(b"\n")
                child.pieces, child.pending = [rest], len(rest)
                send(b"".join(b"%d %s\n" % (ident, line) for line in lines))
            if child.pending > max_line:
                kill(child)
                close_pipe(child)
                send(b"! %d overflow\n" % ident)
        for ident, child in list(children.items()):
            if child.status is None:
                try:
                    pid, status = os.waitpid(child.pid, os.WNOHANG)
                except ChildProcessError:
                    pid, status = child.pid, 0
                if pid == child.pid:
                    child.status = _returncode(status)
            if child.status is not None and child.fd < 0:
                send(b"! %d exit %d\n" % (ident, child.status))
                del children[ident]


def trusted_imports():
    """Import, once for every child, what children import: before any student code can change it."""
    import encodings.cp437  # noqa: F401  np.load's zipfile decodes the digits' member names with it
    import numpy  # noqa: F401
    import numpy.random  # noqa: F401  six questions draw their inputs with it (NumPy loads it lazily)
    from assignment.instructor.grading import transport  # noqa: F401
    from assignment.shared.student_errors import student_error  # noqa: F401
    from assignment.shared import questions
    for key in questions.GRADED_KEYS:
        questions.question(key)


def _read_setup():
    data = b""
    while b"\n" not in data:
        chunk = os.read(0, 65536)
        if not chunk:
            break
        data += chunk
    line, _, rest = data.partition(b"\n")
    return json.loads(line), rest


def main():
    request, rest = _read_setup()
    if rest.strip():
        raise SystemExit("the grader sent commands before the runner was ready")
    channel = int(request["channel"])
    _limit_runner(request)
    # The confinement is applied before the student's folder is even on the path.
    sys.path.insert(0, request["grader_path"])
    import base64
    from assignment.instructor.grading import confine
    confine.apply(request.get("confine"), base64.b64decode(request["seccomp"]))
    child_filter = base64.b64decode(request["child_seccomp"])
    del sys.path[0]
    sys.path.extend(request["path"])
    trusted_imports()
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(request["max_files"]), int(request["max_files"])))

    def send(data):
        _write_all(channel, data)

    send(b"ready\n")  # proof that the sandbox started
    _serve(request, send, child_filter)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
