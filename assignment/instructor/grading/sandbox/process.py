"""Starting a sandbox, giving each test its own deadline, reading its answers.

A sandbox (``Sandbox``) is one runner process per submission: one interpreter
start, NumPy and the grader's modules imported once. For each group of tests
the grader sends it a ``run`` command; the runner forks a child, which
confines itself further, says ``ready``, then ``start <i>`` before each test
and ``result <json>`` after it; the runner relays those lines, tagged with the
child's id, over an inherited pipe, and reports how each child ended. The
grader gives the start-up its own allowance (trusted work: no student code
runs before a child's ``ready``) and each test ``Limits.wall_seconds`` from its
own start: a loop costs one test's limit, not the group's. A child can only
slow itself down by lying: start messages must come in order, one per test,
and a child never outlives its start-up plus one limit per test. When a child
stops early, the test that was running gets the reason and the tests after it
run in a fresh child (after a timeout, one child each, at once).
"""

from __future__ import annotations

import base64
import collections
import json
import os
import queue
import select
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from assignment.instructor.grading import transport
from assignment.instructor.grading.sandbox import bubblewrap, landlock, scratch, seccomp, server
from assignment.instructor.grading.sandbox.base import BACKENDS, PREFERENCES, Limits, Outcome, SandboxUnavailable

STARTUP_SECONDS = 30.0  # interpreter, NumPy and confinement; only a badly overloaded machine needs more
EXIT_SECONDS = 5.0  # after its last answer, a child has this long to exit before it is killed
CHILD_START_SECONDS = 10.0  # a fork and a seccomp filter: trusted work, before any student code
UNCONFINED = 70  # a child's exit status when it could not confine itself (runner.UNCONFINED)
MAX_FILES = 64  # RLIMIT_NOFILE: a cap on pipes (whose buffers RLIMIT_AS does not count) among others
MAX_ANSWER_BYTES = transport.MAX_PAYLOAD_BYTES
STDERR_TAIL = 500
# How often a sandbox waiting for a shared slot tries again (a slot frees when another
# sandbox's child ends, a few milliseconds apart on a busy class).
SLOT_POLL_SECONDS = 0.002

_LAUNCHERS = {"bubblewrap": bubblewrap.launch, "landlock": landlock.launch}
_PRECHECKS = {"bubblewrap": bubblewrap.precheck, "landlock": landlock.precheck}
_probe_lock = threading.Lock()
_probes: dict[str, str | None] = {}


# --------------------------------------------------------------------------- the backend


def probe(backend: str) -> str | None:
    """None if ``backend`` can run a real runner here, else why not (checked once per process).

    The check is the real thing: the backend's own precheck, then a runner
    started with no test, which must set itself up and say ``ready``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}: choose one of {', '.join(PREFERENCES)}")
    with _probe_lock:
        if backend in _probes:
            return _probes[backend]
    why = _PRECHECKS[backend]()
    if why is None:
        limits = Limits(backend=backend)
        try:  # a runner, and a child of it with no test: both must confine themselves
            with Sandbox(_empty_package(), [limits], backend=backend) as sandbox:
                sandbox.run([([], limits)])
        except SandboxUnavailable as error:
            why = str(error)
        except OSError as error:
            why = f"the {backend} sandbox did not start: {error}"
    with _probe_lock:
        _probes[backend] = why
    return why


def checked_elsewhere(backend: str) -> None:
    """Take ``backend`` as probed: the process that started this one has just run ``probe`` on
    it, on this machine, as this user (the parallel command, for the nbgrader runs it hands
    grades to). ``probe`` then answers None without starting a sandbox of its own; a sandbox
    that fails later still raises SandboxUnavailable when it starts."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sandbox backend {backend!r}: choose one of {', '.join(PREFERENCES)}")
    with _probe_lock:
        _probes.setdefault(backend, None)


def _empty_package() -> Path:
    folder = scratch.private_root() / "probe"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "mytorch").mkdir(mode=0o700, exist_ok=True)
    return folder


def describe_backend(preference: str = "auto") -> tuple[str | None, str]:
    """The sandbox backend grading would use here, and why, in one line.

    Args:
        preference: "auto" (bubblewrap where it works, else landlock), "bubblewrap" or "landlock".

    Returns:
        (the backend's name, or None if grading must refuse; a one-line reason).

    Raises:
        ValueError: an unknown preference.
    """
    if preference not in PREFERENCES:
        raise ValueError(f"unknown sandbox backend {preference!r}: choose one of {', '.join(PREFERENCES)}")
    if preference == "landlock" or preference == "bubblewrap":
        why = probe(preference)
        if why is not None:
            return None, why
        if preference == "bubblewrap":
            return "bubblewrap", "bubblewrap can create user namespaces here"
        return "landlock", f"{landlock.features()} and seccomp confine the runner"
    bubblewrap_why = probe("bubblewrap")
    if bubblewrap_why is None:
        return "bubblewrap", "bubblewrap can create user namespaces here"
    landlock_why = probe("landlock")
    if landlock_why is None:
        return "landlock", (f"bubblewrap cannot run here ({bubblewrap_why}); {landlock.features()} "
                            "and seccomp confine the runner instead")
    return None, f"bubblewrap: {bubblewrap_why}; landlock: {landlock_why}"


def resolve(preference: str) -> str:
    """The backend to grade with, or SandboxUnavailable saying why there is none."""
    name, why = describe_backend(preference)
    if name is None:
        raise SandboxUnavailable(f"no sandbox can run here ({why})")
    return name


# --------------------------------------------------------------------------- running tests


def run_in_sandbox(package_copy: Path, request: dict, limits: Limits = Limits()) -> Outcome:
    """Run one test request against the student files in ``package_copy``.

    Args:
        package_copy: a folder holding the student's ``mytorch/`` (see ``policy.write_package``).
        request: {"kind": "question", "key": ..., "case": {...}} or {"kind": "import", "module": ...}.
        limits: the resources allowed, and the backend.

    Returns:
        The answers, or a student-facing reason why there are none.
    """
    return run_batch(package_copy, [request], limits)[0]


def run_batch(package_copy: Path, requests: list[dict], limits: Limits = Limits()) -> list[Outcome]:
    """Run several tests, one after another in one child of a fresh sandbox, each within ``limits``.

    See ``Sandbox.run`` for what happens when a test does not answer.

    Returns:
        One outcome per request, in order.

    Raises:
        SandboxUnavailable: no sandbox could be set up (nothing of the student's ran).
    """
    if not requests:
        return []
    with Sandbox(package_copy, [limits]) as sandbox:
        return sandbox.run([(requests, limits)])[0]


@dataclass
class _Job:
    """Tests for one child: a group's, or what is left of it after a child stopped early.

    Fields:
        group: the index of the group, in the list given to ``Sandbox.run``.
        first: the index of its first test within that group.
        requests: the tests.
        limits: their resources (one allowance per group).
        alone: started after a sibling timed out: runs at once, past the cap on children.
    """

    group: int
    first: int
    requests: list[dict]
    limits: Limits
    alone: bool = False


@dataclass
class _Child:
    """What the grader knows of one child while it runs (its messages arrive relayed by the runner).

    Fields:
        job: its tests.
        ready: it confined itself (no student code runs before).
        results: the answers it reported, in order.
        seconds: per reported answer, the time from its start to its answer.
        started: how many tests it started.
        failure: why it stopped before answering every test (student-facing), if it did.
        failure_seconds: how long the unfinished test had run.
        timed_out: it was killed for missing a deadline.
        deadline: when it must have sent its next message.
        hard_stop: when it is killed whatever it says.
        test_started: when its current test started.
        received: bytes it has sent.
        slot: it holds one of the caller's slots.
        killed: the runner has been told to kill it.
        kill_deadline: when the runner must have reported its end, once told to kill it.
    """

    job: _Job
    ready: bool = False
    results: list = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    started: int = 0
    failure: str | None = None
    failure_seconds: float = 0.0
    timed_out: bool = False
    deadline: float = 0.0
    hard_stop: float = 0.0
    test_started: float = 0.0
    received: int = 0
    slot: bool = False
    killed: bool = False
    kill_deadline: float = 0.0

    def wake(self) -> float:
        """When the grader must next look at this child, if nothing arrives before."""
        return self.kill_deadline if self.killed else min(self.deadline, self.hard_stop)


class Sandbox:
    """One sandbox for one submission: a trusted runner that forks one child per group of tests.

    Python, NumPy and the grader's own modules are loaded once, by the runner;
    each child, forked from it, confines itself further (its own seccomp filter,
    its own limits) and only then imports the student's files and runs its
    tests. A child that loops, crashes or ends itself costs only its own tests:
    the runner reports how it ended and the grader goes on with the others.

    Use as a context manager: ``with Sandbox(copy, limits) as sandbox: sandbox.run(...)``.
    """

    def __init__(self, package_copy: Path, limits: list[Limits], backend: str | None = None) -> None:
        """Start the runner and wait until it is ready.

        Args:
            package_copy: the folder holding the student's ``mytorch/``.
            limits: every ``Limits`` the tests will use (the runner's own memory and output caps
                are the largest of them; each child lowers them to its group's).
            backend: the backend to use as it is (``probe``); by default the first limits'
                preference, resolved.

        Raises:
            SandboxUnavailable: the sandbox did not start (nothing of the student's ran).
        """
        self.backend = backend or resolve(limits[0].backend)
        self._next_id = 0
        self._pieces: list[bytes] = []  # the start of a line not yet complete
        self._run_dir = scratch.new_dir("run-")
        self._stderr_fd = scratch.create_exclusive(self._run_dir / "stderr.txt", readable=True)
        self._channel, channel_write = os.pipe2(os.O_CLOEXEC)
        self._poller = select.poll()  # not select(): a grader with many open files has descriptors past 1024
        self._poller.register(self._channel, select.POLLIN)
        self._process: subprocess.Popen | None = None  # a runner started on its own
        self._server: server.ForkServer | None = None  # or the fork server of this one
        self._runner: server.Runner | None = None
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        try:
            if server.enabled(self.backend):
                try:
                    self._server = server.shared(self.backend)
                    self._runner = self._server.start_runner(package_copy, self._stderr_fd, channel_write)
                finally:
                    os.close(channel_write)
                commands, channel, request = self._runner.commands, server.RUNNER_CHANNEL, self._runner.request
            else:
                launch = _LAUNCHERS[self.backend](package_copy, self._run_dir, channel_write)
                try:
                    self._process = subprocess.Popen(
                        launch.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr_fd,
                        env=launch.env, cwd=launch.cwd, start_new_session=True, pass_fds=launch.pass_fds)
                finally:
                    for fd in (channel_write, *launch.close_after_start):
                        os.close(fd)
                commands, channel, request = self._process.stdin, channel_write, launch.request
            setup = {"channel": channel, "memory_bytes": max(l.memory_bytes for l in limits),
                     "output_bytes": max(l.output_bytes for l in limits), "max_files": MAX_FILES,
                     "max_answer_bytes": MAX_ANSWER_BYTES, **request,
                     # the same two filters under either backend (sandbox/seccomp.py)
                     "seccomp": base64.b64encode(seccomp.build()).decode(),
                     "child_seccomp": base64.b64encode(seccomp.child_template()).decode()}
            # Commands go through a thread: a write never blocks the reading of the answers.
            threading.Thread(target=self._write_commands, args=(commands,), daemon=True).start()
            self._command(setup)
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------- talking to the runner

    def _write_commands(self, stdin) -> None:
        while (data := self._commands.get()) is not None:
            try:
                stdin.write(data)
                stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                return  # the runner is gone; the channel says so
        try:
            stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def _command(self, message: dict) -> None:
        self._commands.put(json.dumps(message).encode() + b"\n")

    def _lines(self, timeout: float) -> list[bytes] | None:
        """The complete lines that arrive within ``timeout`` seconds; None once the runner is gone."""
        if not self._poller.poll(max(0.0, timeout) * 1000):
            return []
        chunk = os.read(self._channel, 1 << 20)
        if not chunk:
            return None
        if b"\n" not in chunk:  # a long answer arrives in many chunks: joined once, at its end
            self._pieces.append(chunk)
            return []
        *lines, rest = b"".join([*self._pieces, chunk]).split(b"\n")
        self._pieces = [rest]
        return lines

    def _stderr_tail(self) -> str:
        size = os.fstat(self._stderr_fd).st_size
        return os.pread(self._stderr_fd, STDERR_TAIL, max(0, size - STDERR_TAIL)).decode(
            "utf-8", errors="replace").strip()

    def _broken(self, why: str) -> SandboxUnavailable:
        tail = self._stderr_tail() if self._stderr_fd >= 0 else ""
        return SandboxUnavailable(f"the {self.backend} sandbox {why}" + (f": {tail}" if tail else ""))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._broken(f"did not start within {STARTUP_SECONDS:g} s")
            lines = self._lines(left)
            if lines is None:
                raise self._broken("did not start")
            if lines:
                if lines != [b"ready"] or any(self._pieces):
                    raise self._broken("sent something other than ready")
                return

    def close(self) -> None:
        """End the runner and its children; remove the run's folder. Idempotent."""
        self._commands.put(None)
        if self._process is not None:
            _kill(self._process)
            self._process = None
        if self._runner is not None:
            self._server.kill(self._runner)
            self._runner = None
        if self._channel >= 0:
            os.close(self._channel)
            self._channel = -1
        if self._stderr_fd >= 0:
            os.close(self._stderr_fd)
            self._stderr_fd = -1
            _remove_run_dir(self._run_dir)

    # ----------------------------------------------------------------- running groups of tests

    def run(self, groups: list[tuple[list[dict], Limits]], parallel: int = 1,
            slots: threading.Semaphore | None = None) -> list[list[Outcome]]:
        """Run each group of tests in its own child, at most ``parallel`` children at once.

        A group's tests run one after another in its child until one of them fails to
        answer (a loop, a crash, an exit); that test gets the reason and the tests after
        it run in a fresh child, so one hanging test costs its own limit and nothing more.
        After a timeout, each test left runs in a child of its own, all at once: a test that
        loops often has siblings that loop too.

        Args:
            groups: (requests, limits) per group.
            parallel: children running at once (besides those started after a timeout).
            slots: shared with other sandboxes; a child holds one while it runs.

        Returns:
            Per group, one outcome per request, in order.

        Raises:
            SandboxUnavailable: the runner or a child could not be set up or stopped serving.
        """
        outcomes: list[list[Outcome | None]] = [[None] * len(requests) for requests, _ in groups]
        waiting = collections.deque(_Job(g, 0, list(requests), limits) for g, (requests, limits) in enumerate(groups))
        children: dict[int, _Child] = {}
        try:
            while waiting or children:
                short_of_slots = self._start_waiting(waiting, children, max(1, parallel), slots)
                now = time.monotonic()
                wake = min([c.wake() for c in children.values()], default=now + 1.0)
                lines = self._lines(min(wake - now, SLOT_POLL_SECONDS) if short_of_slots else wake - now)
                if lines is None:
                    raise self._broken("stopped serving (its runner exited)")
                for line in lines:
                    self._dispatch(line, children, outcomes, waiting, slots)
                self._enforce_deadlines(children)
        finally:
            for child in children.values():
                self._release(child, slots)
        return outcomes  # type: ignore[return-value]  # every slot filled

    def _start_waiting(self, waiting, children, parallel, slots) -> bool:
        """Start the jobs that may start now; True if one waits for a shared slot."""
        while waiting:
            job = waiting[0]
            if not job.alone:
                if sum(not c.job.alone for c in children.values()) >= parallel:
                    return False
                if slots is not None and not slots.acquire(blocking=False):
                    return True
            waiting.popleft()
            ident = self._next_id
            self._next_id += 1
            now = time.monotonic()
            count = len(job.requests)
            children[ident] = _Child(job, slot=not job.alone and slots is not None, deadline=now + CHILD_START_SECONDS,
                                     hard_stop=now + CHILD_START_SECONDS + count * job.limits.wall_seconds + EXIT_SECONDS,
                                     test_started=now)
            self._command({"op": "run", "id": ident, "tests": job.requests, "memory_bytes": job.limits.memory_bytes,
                           "cpu_seconds": job.limits.cpu_seconds, "output_bytes": job.limits.output_bytes})
        return False

    def _kill_child(self, ident: int, child: _Child) -> None:
        if not child.killed:
            child.killed = True
            child.kill_deadline = time.monotonic() + EXIT_SECONDS
            self._command({"op": "kill", "id": ident})

    def _dispatch(self, line: bytes, children, outcomes, waiting, slots) -> None:
        """Handle one line from the runner: its own report on a child, or a child's relayed message."""
        head, _, rest = line.partition(b" ")
        if head == b"!":
            ident_text, _, event = rest.partition(b" ")
            child = children.get(int(ident_text)) if ident_text.isdigit() else None
            if child is None:
                raise self._broken(f"reported on an unknown child ({line[:80]!r})")
            if event == b"overflow":
                child.failure = child.failure or "the grading process's report was too large"
            elif event.startswith(b"exit ") and event[5:].lstrip(b"-").isdigit():
                del children[int(ident_text)]
                self._release(child, slots)
                self._finish(child, int(event[5:]), outcomes, waiting)
            else:
                raise self._broken(f"sent an unknown report ({line[:80]!r})")
            return
        child = children.get(int(head)) if head.isdigit() else None
        if child is None:
            raise self._broken(f"relayed a line of an unknown child ({line[:80]!r})")
        ident = int(head)
        if child.failure is not None or child.killed:
            return  # already judged; what it says while dying does not count
        now = time.monotonic()
        count = len(child.job.requests)
        child.received += len(rest) + 1
        if child.received > MAX_ANSWER_BYTES * count + 4096:
            child.failure = "the grading process's report was too large"
            self._kill_child(ident, child)
            return
        word, _, body = rest.partition(b" ")
        if word == b"ready" and not child.ready and not body:
            child.ready = True
            child.deadline = now + child.job.limits.wall_seconds
        elif word == b"start" and child.ready and body == str(child.started).encode() \
                and child.started == len(child.results) and child.started < count:
            child.started += 1
            child.test_started = now
            child.deadline = now + child.job.limits.wall_seconds
        elif word == b"result" and child.started == len(child.results) + 1:
            try:
                child.results.append(json.loads(body))
            except ValueError:
                child.results.append(None)  # judged malformed
            child.seconds.append(now - child.test_started)
            child.deadline = now + (child.job.limits.wall_seconds if len(child.results) < count else EXIT_SECONDS)
        else:
            child.failure = "the grading process's report was malformed"
            child.failure_seconds = now - child.test_started
            self._kill_child(ident, child)

    def _enforce_deadlines(self, children) -> None:
        now = time.monotonic()
        for ident, child in children.items():
            if child.killed and now >= child.kill_deadline:
                raise self._broken(f"did not end a child within {EXIT_SECONDS:g} s of being told to")
            if child.killed or now < child.wake():
                continue
            if not (child.ready and len(child.results) == len(child.job.requests)):
                if not child.ready:
                    child.failure = f"did not confine itself within {CHILD_START_SECONDS:g} s"
                else:
                    child.failure = time_limit_message(child.job.limits)
                    child.timed_out = True
                child.failure_seconds = now - child.test_started
            self._kill_child(ident, child)

    def _release(self, child: _Child, slots) -> None:
        if child.slot:
            child.slot = False
            slots.release()

    def _finish(self, child: _Child, returncode: int, outcomes, waiting) -> None:
        """A child has ended: record its answers; queue what it left undone."""
        job = child.job
        if not child.ready:
            why = child.failure or ("could not confine a child" if returncode == UNCONFINED
                                    else f"lost a child before it was confined (exit status {returncode})")
            raise self._broken(why if why.startswith(("did not", "could", "lost")) else f"failed: {why}")
        row = outcomes[job.group]
        for index, (result, seconds) in enumerate(zip(child.results, child.seconds)):
            row[job.first + index] = _outcome(result, seconds)
        done = len(child.results)
        if done == len(job.requests):
            return
        failure = child.failure or _why_stopped(returncode, job.limits)
        if child.started > done or done == 0:
            # The test that was running (or, if the child died between tests without having
            # answered any, the next one) gets the reason; the rest start afresh.
            seconds = child.failure_seconds or (time.monotonic() - child.test_started)
            row[job.first + done] = Outcome(error=failure, seconds=seconds)
            done += 1
        rest = job.requests[done:]
        first = job.first + done
        if not rest:
            return
        if child.timed_out and len(rest) > 1:
            waiting.extendleft(reversed([_Job(job.group, first + i, [request], job.limits, alone=True)
                                         for i, request in enumerate(rest)]))
        else:
            waiting.appendleft(_Job(job.group, first, rest, job.limits, alone=job.alone))

def _outcome(result: object, seconds: float) -> Outcome:
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return Outcome(error="the grading process's report was malformed", seconds=seconds)
    if not result["ok"]:
        return Outcome(error=str(result.get("error", "failed"))[:2000], seconds=seconds)
    try:
        outputs = transport.loads(json.dumps(result.get("outputs")))
    except transport.TransportError as error:
        return Outcome(error=f"the grading process's report was unreadable: {error}", seconds=seconds)
    if not isinstance(outputs, dict):
        return Outcome(error="the grading process's report held no answers", seconds=seconds)
    return Outcome(outputs=outputs, seconds=seconds)


def time_limit_message(limits: Limits) -> str:
    """What a student reads when a test hit either of its time limits.

    Which limit fires first (CPU time, or the clock on a busy machine) is the host's business, not
    the student's: both read the same, so a verdict never depends on how loaded the grader was.
    """
    return (f"the test did not finish within its time limit ({limits.cpu_seconds:g} s of CPU time, "
            f"{limits.wall_seconds:g} s in all): an endless loop?")


def _kill(process: subprocess.Popen) -> None:
    """End the runner and everything in its session (bubblewrap's sandbox dies with its parent)."""
    if process.poll() is None:
        try:
            process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _remove_run_dir(run_dir: Path) -> None:
    for name in ("stdout.txt", "stderr.txt"):
        try:
            (run_dir / name).unlink()
        except FileNotFoundError:
            pass
    try:
        run_dir.rmdir()
    except OSError:
        pass


def _why_stopped(returncode: int | None, limits: Limits) -> str:
    """A student-facing reason for a run that ended without answering every test."""
    # bwrap exits with 128 + N when the sandboxed process died of signal N.
    number = -returncode if returncode is not None and returncode < 0 else (
        returncode - 128 if returncode is not None and 128 < returncode < 128 + 65 else None)
    if number is not None:
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        if name == "SIGXCPU":
            return time_limit_message(limits)
        if name == "SIGXFSZ":
            return "the test wrote too much output (printing in a loop?)"
        return f"the grading process was killed by {name} (memory exhausted or a crash)"
    return f"your code ended the grading process (exit code {returncode}) before it could report"
