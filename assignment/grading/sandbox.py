"""Running one test of a student's code in a bubblewrap sandbox.

The sandbox sees, read-only: the Python installation (not its site-packages),
NumPy, the course package (with the test images' labels removed from its data)
and the student's ``mytorch/*.py`` (a copy). It does not see the course
(``source/``, ``release/``, the gradebook), other submissions, the user's home
or the network; it runs as an unprivileged user in its own namespaces, with
limits on memory, CPU time and file size, no way to start processes (a seccomp
filter: RLIMIT_NPROC does not hold when the grader runs as root), writable
space only in a small /tmp and its report file, and a wall-clock timeout after
which the whole sandbox is killed (a loop that swallows interrupts cannot
outlive it).
"""

from __future__ import annotations

import atexit
import errno
import functools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import sysconfig
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from assignment.grading import transport

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the course package, assignment/
BWRAP = "bwrap"
TMP_BYTES = 64 * 2**20  # the sandbox's /tmp (a tmpfs: memory outside the RLIMIT_AS of the process)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resources one test may use.

    Fields:
        wall_seconds: real time before the sandbox is killed.
        cpu_seconds: CPU time (RLIMIT_CPU).
        memory_bytes: address space (RLIMIT_AS).
        output_bytes: largest file it may write, its report included (RLIMIT_FSIZE).
    """

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_bytes: int = 1536 * 2**20
    output_bytes: int = 8 * 2**20


@dataclass
class Outcome:
    """What came back from one sandboxed run.

    Fields:
        outputs: the decoded answers, when the run reported them.
        error: why there are no answers (a student-facing sentence), else None.
        seconds: wall-clock time of the run.
    """

    outputs: Any = None
    error: str | None = None
    seconds: float = 0.0


def _python_paths() -> tuple[Path, Path, Path]:
    """(the interpreter, its installation prefix, the folder that holds numpy)."""
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    prefix = Path(sys.base_prefix).resolve()
    site = Path(numpy.__file__).resolve().parents[1]
    return executable, prefix, site


@functools.cache
def bwrap_available() -> str | None:
    """None if bubblewrap can run a sandbox here, else why not (checked once per process)."""
    if shutil.which(BWRAP) is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    try:
        result = subprocess.run([BWRAP, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
                                 "--uid", "65534", "--gid", "65534", "true"],
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap cannot start: {error}"
    if result.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {result.stderr.strip()[:300]}"
    return None


def describe_backend(preference: str = "auto") -> tuple[str | None, str]:
    """(the sandbox backend grading would use, or None if none can run here; one line saying why)."""
    why_not = bwrap_available()
    if why_not is None:
        return "bubblewrap", "bubblewrap can create user namespaces here"
    return None, why_not


def _seccomp_program() -> bytes | None:
    """A seccomp filter (classic BPF, for ``bwrap --seccomp``) under which no process can be created.

    fork, vfork and clone without CLONE_THREAD fail with EPERM; clone3 fails with
    ENOSYS, so that the C library falls back to clone; threads remain possible
    (their number is bounded by RLIMIT_AS). RLIMIT_NPROC alone cannot stop a fork
    bomb when the grader runs as root: the sandbox user is root outside its
    namespace, and the kernel exempts root from RLIMIT_NPROC. None on a machine
    whose system call numbers this does not know (RLIMIT_NPROC is then the only bound).
    """
    known = {"x86_64": (0xC000003E, {"clone": 56, "fork": 57, "vfork": 58}),
             "aarch64": (0xC00000B7, {"clone": 220})}.get(platform.machine())
    if known is None or sys.byteorder != "little":
        return None
    audit_arch, numbers = known
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ/JGE/JSET|K, BPF_RET|K
    returns = {"allow": 0x7FFF0000, "deny": 0x00050000 | errno.EPERM, "nosys": 0x00050000 | errno.ENOSYS}
    program: list[tuple] = [
        (ld, None, None, 4),  # seccomp_data.arch
        (jeq, None, "deny", audit_arch),  # another ABI (e.g. 32-bit calls): refused
        (ld, None, None, 0),  # seccomp_data.nr
        (jge, "deny", None, 0x40000000),  # the x32 ABI: refused
        *[(jeq, "deny", None, numbers[name]) for name in ("fork", "vfork") if name in numbers],
        (jeq, "nosys", None, 435),  # clone3
        (jeq, None, "allow", numbers["clone"]),
        (ld, None, None, 16),  # the low half of clone's flags (args[0])
        (jset, "allow", "deny", 0x00010000),  # CLONE_THREAD: a thread, not a process
    ]
    labels = {name: len(program) + i for i, name in enumerate(returns)}
    code = b""
    for i, (op, if_true, if_false, k) in enumerate(program):
        jump = [labels[t] - i - 1 if t else 0 for t in (if_true, if_false)]
        code += struct.pack("=HBBI", op, jump[0], jump[1], k)
    for value in returns.values():
        code += struct.pack("=HBBI", ret, 0, 0, value)
    return code


_masked_digits: Path | None = None
_masked_lock = threading.Lock()


def _digits_without_test_labels() -> Path:
    """A copy of the course's digits whose test images are labelled -1 (made once per process).

    The sandbox trains on the training labels and reports its predictions for
    the test images; only the grader, which scores them, knows the test labels.
    """
    global _masked_digits
    with _masked_lock:
        if _masked_digits is None or not _masked_digits.is_file():
            folder = Path(tempfile.mkdtemp(prefix="mytorch-digits-"))
            atexit.register(shutil.rmtree, folder, True)
            with numpy.load(PACKAGE_DIR / "data" / "digits.npz") as data:  # see assignment.data.load_digits
                arrays = {name: data[name] for name in data.files}
            labels = arrays["labels"].astype(numpy.int64)
            labels[arrays["test_index"]] = -1
            arrays["labels"] = labels
            numpy.savez(folder / "digits.npz", **arrays)
            folder.chmod(0o755)
            (folder / "digits.npz").chmod(0o644)
            _masked_digits = folder / "digits.npz"
        return _masked_digits


_tmpfs_size_option: bool | None = None


def _sized(size: int) -> list[str]:
    """``--size SIZE``, to put before ``--tmpfs``, if this bwrap knows it (0.7 and later), else nothing."""
    global _tmpfs_size_option
    if _tmpfs_size_option is None:
        try:
            usage = subprocess.run([BWRAP, "--help"], capture_output=True, text=True, timeout=20)
            _tmpfs_size_option = "--size" in usage.stdout + usage.stderr
        except (OSError, subprocess.TimeoutExpired):
            _tmpfs_size_option = False
    return ["--size", str(size)] if _tmpfs_size_option else []


def _site_packages(prefix: Path) -> list[Path]:
    """The installation's own site-packages folders: third-party code (SciPy...) to keep out of reach."""
    paths = sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix),
                                      "installed_base": str(prefix), "installed_platbase": str(prefix)})
    folders = {Path(paths[name]) for name in ("purelib", "platlib") if name in paths}
    return sorted(f for f in folders if f.is_dir() and str(f).startswith(str(prefix)))


def _command(package_copy: Path, out_dir: Path, limits: Limits, seccomp_fd: int | None = None) -> list[str]:
    executable, prefix, site = _python_paths()
    command = [BWRAP, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
               "--die-with-parent", "--new-session", "--clearenv",
               "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
               "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "HOME", "/tmp",
               "--setenv", "MPLBACKEND", "Agg", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
               # Memory-backed folders are size-capped (tmpfs pages are not counted by RLIMIT_AS).
               "--proc", "/proc", "--dev", "/dev", *_sized(2**20), "--tmpfs", "/dev/shm",
               "--remount-ro", "/dev", *_sized(TMP_BYTES), "--tmpfs", "/tmp"]
    for system_dir in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/alternatives", "/etc/ld.so.cache"):
        if os.path.exists(system_dir):
            command += ["--ro-bind", system_dir, system_dir]
    command += ["--ro-bind", str(prefix), str(prefix)]
    for folder in _site_packages(prefix):  # hidden, even from a computed __import__
        command += ["--tmpfs", str(folder), "--remount-ro", str(folder)]
    if not str(executable).startswith(str(prefix)):
        command += ["--ro-bind", str(executable), str(executable)]
    command += ["--ro-bind", str(site / "numpy"), "/sandbox/site/numpy"]
    if (site / "numpy.libs").is_dir():
        command += ["--ro-bind", str(site / "numpy.libs"), "/sandbox/site/numpy.libs"]
    command += ["--ro-bind", str(PACKAGE_DIR), "/sandbox/grader/assignment",
                "--ro-bind", str(_digits_without_test_labels()), "/sandbox/grader/assignment/data/digits.npz",
                "--ro-bind", str(package_copy), "/sandbox/student",
                # The one file it may write outside /tmp (a file, so no other file can be added there).
                "--bind", str(out_dir / "report.json"), "/sandbox/out/report.json",
                "--remount-ro", "/",
                "--chdir", "/sandbox/out"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += [str(executable), "-I", "-S", "-B", "/sandbox/grader/assignment/grading/runner.py"]
    return command


def run_in_sandbox(package_copy: Path, request: dict, limits: Limits = Limits()) -> Outcome:
    """Run one test request against the student files in ``package_copy``.

    Args:
        package_copy: a folder holding the student's ``mytorch/`` (see ``policy.write_package``).
        request: {"kind": "question" | "training" | "import", "key": ..., "case": {...}}.
        limits: the resources allowed.

    Returns:
        The answers, or a student-facing reason why there are none.
    """
    return run_batch(package_copy, [request], limits)[0]


def run_batch(package_copy: Path, requests: list[dict], limits: Limits = Limits()) -> list[Outcome]:
    """Run several tests in one sandboxed process (one interpreter start), each within ``limits``.

    If the process dies or hangs part-way, the tests it finished keep their
    answers and every unfinished one is run again alone, so that one hanging
    test costs only itself. (When the very first test hangs, it has had the
    whole batch's time, at least its own limit: it is not run again.)

    Returns:
        One outcome per request, in order.
    """
    if not requests:
        return []
    batch_limits = Limits(wall_seconds=limits.wall_seconds * len(requests),
                          cpu_seconds=limits.cpu_seconds * len(requests),
                          memory_bytes=limits.memory_bytes, output_bytes=limits.output_bytes)
    results, failure, seconds = _run_process(package_copy, requests, batch_limits)
    outcomes = [_outcome(result, seconds / len(requests)) for result in results[: len(requests)]]
    if len(outcomes) == len(requests):
        return outcomes
    if len(requests) == 1:
        return [Outcome(error=failure, seconds=seconds)]
    rest = requests[len(outcomes):]
    if not outcomes and seconds >= batch_limits.wall_seconds:
        outcomes = [Outcome(error=f"the test did not finish within {limits.wall_seconds:g} s (an endless loop?)",
                            seconds=seconds)]
        rest = rest[1:]
    # The first unfinished test is the likely culprit; each remaining test gets its own process.
    return outcomes + [run_batch(package_copy, [request], limits)[0] for request in rest]


def _outcome(result: object, seconds: float) -> Outcome:
    if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
        return Outcome(error="the grading process's report was malformed", seconds=seconds)
    if not result["ok"]:
        return Outcome(error=str(result.get("error", "failed"))[:2000], seconds=seconds)
    if not isinstance(result.get("outputs"), dict):
        return Outcome(error="the grading process's report held no answers", seconds=seconds)
    return Outcome(outputs=result["outputs"], seconds=seconds)


def _run_process(package_copy: Path, requests: list[dict], limits: Limits) -> tuple[list, str | None, float]:
    """Start one sandbox for ``requests``; return (results reported, why it stopped early, seconds)."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mytorch-grade-") as scratch:
        out_dir = Path(scratch)
        out_dir.chmod(0o777)  # the sandbox user writes its report here
        payload = {"tests": requests, "report": "/sandbox/out/report.json",
                   "path": ["/sandbox/site", "/sandbox/grader", "/sandbox/student"],
                   "memory_bytes": limits.memory_bytes, "cpu_seconds": limits.cpu_seconds,
                   "output_bytes": limits.output_bytes}
        stdout_path, stderr_path = out_dir / "stdout.txt", out_dir / "stderr.txt"
        report = out_dir / "report.json"
        report.touch()
        report.chmod(0o666)  # the sandbox user writes its report here
        failure = None
        seccomp = _seccomp_program()
        seccomp_fd = None
        if seccomp is not None:
            seccomp_fd, write_end = os.pipe()
            os.write(write_end, seccomp)  # far below a pipe's buffer; bwrap reads it to the end
            os.close(write_end)
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            try:
                process = subprocess.Popen(_command(package_copy, out_dir, limits, seccomp_fd),
                                           stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                                           start_new_session=True, pass_fds=() if seccomp_fd is None else (seccomp_fd,))
            finally:
                if seccomp_fd is not None:
                    os.close(seccomp_fd)
            try:
                process.communicate(json.dumps(payload).encode(), timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                _kill(process)
                failure = f"the test did not finish within {limits.wall_seconds:g} s (an endless loop?)"
        seconds = time.perf_counter() - started
        if failure is None:
            failure = _why_no_report(process.returncode, stderr_path, limits)
        results: list = []
        # The runner writes its report before any student code runs; student code can
        # empty it again, though. Whether the sandbox itself is broken is asked of a
        # run without student code, which nothing the student wrote can influence.
        if report.stat().st_size == 0 and requests:
            if not _sandbox_starts(package_copy):
                tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-500:].strip()
                raise SandboxUnavailable(f"the sandbox did not start (exit code {process.returncode}): {tail}")
        elif report.stat().st_size == 0:
            raise SandboxUnavailable("the sandbox did not start: "
                                     + stderr_path.read_text(encoding="utf-8", errors="replace")[-500:].strip())
        else:
            try:
                if report.stat().st_size > transport.MAX_PAYLOAD_BYTES:
                    raise transport.TransportError("the report is too large")
                data = transport.loads(report.read_text(encoding="utf-8", errors="replace"))
                if isinstance(data, dict) and isinstance(data.get("results"), list):
                    results = data["results"]
                else:
                    failure = "the grading process's report was malformed"
            except transport.TransportError as error:
                failure = f"the grading process's report was unreadable: {error}"
    return results, failure, seconds


def _sandbox_starts(package_copy: Path) -> bool:
    """Whether a sandbox starts and reports when no student code runs (no test: no import)."""
    try:
        _run_process(package_copy, [], Limits(wall_seconds=30.0, cpu_seconds=30))
    except SandboxUnavailable:
        return False
    return True


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _why_no_report(returncode: int | None, stderr_path: Path, limits: Limits) -> str:
    """A student-facing reason for a run that ended without reporting."""
    # bwrap exits with 128 + N when the sandboxed process died of signal N.
    number = -returncode if returncode is not None and returncode < 0 else (
        returncode - 128 if returncode is not None and 128 < returncode < 128 + 65 else None)
    if number is not None:
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        if name == "SIGXCPU":
            return f"the test used more than {limits.cpu_seconds} s of CPU time (an endless loop?)"
        if name == "SIGXFSZ":
            return "the test wrote too much output (printing in a loop?)"
        return f"the grading process was killed by {name} (memory exhausted or a crash)"
    return f"your code ended the grading process (exit code {returncode}) before it could report"
