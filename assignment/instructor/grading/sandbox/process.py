"""Starting a sandboxed runner, giving each test its own deadline, reading its answers.

One runner process runs a batch of tests (one interpreter start). It says
``ready`` once set up, ``start <i>`` before each test and ``result <json>``
after it, over an inherited pipe. The grader gives the start-up its own
allowance (trusted work: no student code runs before ``ready``) and each test
``Limits.wall_seconds`` from its own start: a loop costs one test's limit, not
the batch's. The process can only slow itself down by lying: start messages
must come in order, one per test, and the whole run never exceeds start-up
plus one limit per test. When the process stops early, the test that was
running gets the reason and the tests after it run in a fresh process (after
a timeout, one process each, at once).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from assignment.instructor.grading import transport
from assignment.instructor.grading.sandbox import bubblewrap, landlock, scratch
from assignment.instructor.grading.sandbox.base import BACKENDS, PREFERENCES, Launch, Limits, Outcome, SandboxUnavailable

STARTUP_SECONDS = 30.0  # interpreter, NumPy and confinement; only a badly overloaded machine needs more
EXIT_SECONDS = 5.0  # after its last answer, the runner has this long to exit before it is killed
MAX_FILES = 64  # RLIMIT_NOFILE: a cap on pipes (whose buffers RLIMIT_AS does not count) among others
MAX_ANSWER_BYTES = transport.MAX_PAYLOAD_BYTES
STDERR_TAIL = 500

_LAUNCHERS = {"bubblewrap": bubblewrap.launch, "landlock": landlock.launch}
_PRECHECKS = {"bubblewrap": bubblewrap.precheck, "landlock": landlock.precheck}
_probe_lock = threading.Lock()
_probes: dict[str, str | None] = {}


@dataclass
class Run:
    """What one runner process did.

    Fields:
        ready: it set itself up (no student code runs before).
        results: the answers it reported, in order.
        seconds: per reported answer, the time from its start to its answer.
        started: how many tests it started.
        failure: why it stopped before answering every test (student-facing), if it did.
        failure_seconds: how long the unfinished test had run.
        stderr: the end of its standard error.
        timed_out: it was killed for missing a deadline.
    """

    ready: bool = False
    results: list = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    started: int = 0
    failure: str | None = None
    failure_seconds: float = 0.0
    stderr: str = ""
    timed_out: bool = False


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
        try:
            run = _run_process(backend, _empty_package(), [], Limits(backend=backend))
            if not run.ready:
                why = f"the {backend} sandbox did not start: {run.failure or run.stderr or 'no reason given'}"
        except (OSError, SandboxUnavailable) as error:
            why = f"the {backend} sandbox did not start: {error}"
    with _probe_lock:
        _probes[backend] = why
    return why


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
    """Run several tests in as few sandboxed processes as isolation allows, each within ``limits``.

    Tests run in one process until one of them fails to answer (a loop, a crash,
    an exit); that test gets the reason and the tests after it run in a fresh
    process, so one hanging test costs its own limit and nothing more.

    Returns:
        One outcome per request, in order.

    Raises:
        SandboxUnavailable: no sandbox could be set up (nothing of the student's ran).
    """
    backend = resolve(limits.backend)
    outcomes: list[Outcome] = []
    rest = list(requests)
    while rest:
        run = _run_process(backend, package_copy, rest, limits)
        if not run.ready:
            raise SandboxUnavailable(f"the {backend} sandbox did not start: {run.failure or ''} {run.stderr}".strip())
        outcomes += [_outcome(result, seconds) for result, seconds in zip(run.results, run.seconds)]
        done = len(run.results)
        if done == len(rest):
            break
        if run.started > done or done == 0:
            # The test that was running (or, if the process died between tests without
            # having answered any, the next one) gets the reason; the rest start afresh.
            outcomes.append(Outcome(error=run.failure or "the grading process stopped", seconds=run.failure_seconds))
            done += 1
        rest = rest[done:]
        if run.timed_out and len(rest) > 1:
            # A test that loops often has siblings that loop too: each remaining test runs
            # in its own process, all at once, so that they cost one limit, not one each.
            with ThreadPoolExecutor(max_workers=len(rest)) as pool:
                alone = list(pool.map(lambda request: run_batch(package_copy, [request], limits)[0], rest))
            return outcomes + alone
    return outcomes


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


def _run_process(backend: str, package_copy: Path, requests: list[dict], limits: Limits) -> Run:
    """Start one runner for ``requests`` and follow it to its end."""
    run_dir = scratch.new_dir("run-")
    stdout_fd = scratch.create_exclusive(run_dir / "stdout.txt")
    stderr_fd = scratch.create_exclusive(run_dir / "stderr.txt", readable=True)
    channel_read, channel_write = os.pipe2(os.O_CLOEXEC)
    channel_number = channel_write  # the runner's copy keeps this number (Popen's pass_fds)
    launch: Launch | None = None
    process = None
    try:
        launch = _LAUNCHERS[backend](package_copy, run_dir, channel_write)
        try:
            process = subprocess.Popen(launch.argv, stdin=subprocess.PIPE, stdout=stdout_fd, stderr=stderr_fd,
                                       env=launch.env, cwd=launch.cwd, start_new_session=True,
                                       pass_fds=launch.pass_fds)
        finally:
            for fd in (channel_write, *launch.close_after_start):
                os.close(fd)
            channel_write = -1
        request = {"tests": requests, "channel": channel_number, "memory_bytes": limits.memory_bytes,
                   "cpu_seconds": limits.cpu_seconds, "output_bytes": limits.output_bytes,
                   "max_files": MAX_FILES, "max_answer_bytes": MAX_ANSWER_BYTES, **launch.request(process.pid)}
        _send_request(process, json.dumps(request).encode())
        run = _follow(process, channel_read, len(requests), limits)
    finally:
        if process is not None:
            _kill(process)
        if channel_write >= 0:
            os.close(channel_write)
        os.close(channel_read)
        os.close(stdout_fd)
    try:
        run.stderr = os.pread(stderr_fd, STDERR_TAIL, max(0, os.fstat(stderr_fd).st_size - STDERR_TAIL)).decode(
            "utf-8", errors="replace").strip()
    finally:
        os.close(stderr_fd)
    if run.failure is None and len(run.results) < len(requests):
        run.failure = _why_stopped(process.returncode, limits)
    _remove_run_dir(run_dir)
    return run


def _send_request(process: subprocess.Popen, data: bytes) -> None:
    """Write the request to the runner's stdin, never blocking the grader on a runner that does not read."""

    def write() -> None:
        try:
            process.stdin.write(data)
            process.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass  # it died at once; the channel says so

    if len(data) < 32768:  # fits in the pipe's buffer: cannot block
        write()
    else:
        threading.Thread(target=write, daemon=True).start()


def _follow(process: subprocess.Popen, channel: int, count: int, limits: Limits) -> Run:
    """Read the runner's messages until it is done, stops, or misses a deadline."""
    run = Run()
    started_at = time.monotonic()
    hard_stop = started_at + STARTUP_SECONDS + count * limits.wall_seconds + EXIT_SECONDS
    deadline = started_at + STARTUP_SECONDS
    test_started = started_at
    buffer = b""
    budget = MAX_ANSWER_BYTES * max(1, count) + 4096
    received = 0
    poller = select.poll()
    poller.register(channel, select.POLLIN)
    while True:
        now = time.monotonic()
        wait = min(deadline, hard_stop) - now
        if wait <= 0:
            if run.ready and len(run.results) == count:
                break  # all answered; it only failed to exit
            run.failure = _timeout_message(run, limits)
            run.failure_seconds = now - test_started
            run.timed_out = True
            break
        if not poller.poll(wait * 1000):
            continue
        chunk = os.read(channel, 65536)
        if not chunk:  # every writer is gone: the runner has exited
            if run.started > len(run.results):
                run.failure_seconds = time.monotonic() - test_started
            break
        received += len(chunk)
        buffer += chunk
        if received > budget or (b"\n" not in buffer and len(buffer) > MAX_ANSWER_BYTES + 64):
            run.failure = "the grading process's report was too large"
            break
        *lines, buffer = buffer.split(b"\n")
        violation = False
        for line in lines:
            now = time.monotonic()
            word, _, rest = line.partition(b" ")
            if word == b"ready" and not run.ready:
                run.ready = True
                deadline = now + limits.wall_seconds
            elif word == b"start" and run.ready and rest == str(run.started).encode() \
                    and run.started == len(run.results) and run.started < count:
                run.started += 1
                test_started = now
                deadline = now + limits.wall_seconds
            elif word == b"result" and run.started == len(run.results) + 1:
                try:
                    run.results.append(json.loads(rest))
                except ValueError:
                    run.results.append(None)  # judged malformed
                run.seconds.append(now - test_started)
                deadline = now + (limits.wall_seconds if len(run.results) < count else EXIT_SECONDS)
            else:
                violation = True
                break
        if violation:
            run.failure = "the grading process's report was malformed"
            run.failure_seconds = time.monotonic() - test_started
            break
    return run


def _timeout_message(run: Run, limits: Limits) -> str:
    if not run.ready:
        return f"the sandbox did not start within {STARTUP_SECONDS:g} s"
    return time_limit_message(limits)


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
