"""Running one test of a student's code in a bubblewrap sandbox.

The sandbox sees, read-only: the Python installation, NumPy, the course
package and the student's ``mytorch/*.py`` (a copy). It does not see the
course (``source/``, ``release/``, the gradebook), other submissions, the
user's home or the network; it runs as an unprivileged user in its own
namespaces, with limits on memory, CPU time, file size and processes, and a
wall-clock timeout after which the whole sandbox is killed (a loop that
swallows interrupts cannot outlive it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from assignment.grading import transport

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the course package, assignment/
BWRAP = "bwrap"


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


def bwrap_available() -> str | None:
    """None if bubblewrap can run a sandbox here, else why not."""
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


def _command(package_copy: Path, out_dir: Path, limits: Limits) -> list[str]:
    executable, prefix, site = _python_paths()
    command = [BWRAP, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
               "--die-with-parent", "--new-session", "--clearenv",
               "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
               "--setenv", "MKL_NUM_THREADS", "1", "--setenv", "HOME", "/tmp",
               "--setenv", "MPLBACKEND", "Agg", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
               "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for system_dir in ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/alternatives", "/etc/ld.so.cache"):
        if os.path.exists(system_dir):
            command += ["--ro-bind", system_dir, system_dir]
    command += ["--ro-bind", str(prefix), str(prefix)]
    if not str(executable).startswith(str(prefix)):
        command += ["--ro-bind", str(executable), str(executable)]
    command += ["--ro-bind", str(site / "numpy"), "/sandbox/site/numpy"]
    if (site / "numpy.libs").is_dir():
        command += ["--ro-bind", str(site / "numpy.libs"), "/sandbox/site/numpy.libs"]
    command += ["--ro-bind", str(PACKAGE_DIR), "/sandbox/grader/assignment",
                "--ro-bind", str(package_copy), "/sandbox/student",
                "--bind", str(out_dir), "/sandbox/out",
                "--chdir", "/sandbox/out",
                str(executable), "-I", "-S", "-B", "/sandbox/grader/assignment/grading/runner.py"]
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
    test costs only itself.

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
    # The first unfinished test is the likely culprit; each remaining test gets its own process.
    return outcomes + [run_batch(package_copy, [request], limits)[0] for request in requests[len(outcomes):]]


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
        failure = None
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            process = subprocess.Popen(_command(package_copy, out_dir, limits), stdin=subprocess.PIPE,
                                       stdout=stdout, stderr=stderr, start_new_session=True)
            try:
                process.communicate(json.dumps(payload).encode(), timeout=limits.wall_seconds)
            except subprocess.TimeoutExpired:
                _kill(process)
                failure = f"the test did not finish within {limits.wall_seconds:g} s (an endless loop?)"
        seconds = time.perf_counter() - started
        if failure is None:
            failure = _why_no_report(process.returncode, stderr_path, limits)
        report = out_dir / "report.json"
        results: list = []
        if not report.is_file():  # the runner writes it before any student code runs
            tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-500:].strip()
            raise SandboxUnavailable(f"the sandbox did not start (exit code {process.returncode}): {tail}")
        if report.is_file():
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


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _why_no_report(returncode: int | None, stderr_path: Path, limits: Limits) -> str:
    """A student-facing reason for a run that ended without reporting."""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        if name == "SIGXCPU":
            return f"the test used more than {limits.cpu_seconds} s of CPU time (an endless loop?)"
        if name == "SIGXFSZ":
            return "the test wrote too much output (printing in a loop?)"
        return f"the grading process was killed by {name} (memory exhausted or a crash)"
    return f"your code ended the grading process (exit code {returncode}) before it could report"
