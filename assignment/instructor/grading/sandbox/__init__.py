"""Running a student's tests in a sandbox: bubblewrap where user namespaces exist, else Landlock.

Public interface (used by the grader, the autograde preprocessor, the parallel
command and ``doctor``):

- ``Sandbox(package_copy, limits)``: one sandbox for a submission; its ``run``
  runs groups of tests, each group in a child process of its own;
- ``run_batch(package_copy, requests, limits)`` / ``run_in_sandbox(...)``: run
  tests on the student's files in a fresh sandbox, one ``Outcome`` per test;
- ``Limits``: per-test wall and CPU time, memory, output, and the backend
  preference (``c.GradeInSandbox.backend``: "auto", "bubblewrap", "landlock");
- ``describe_backend(preference)``: the backend grading would use and why;
- ``SandboxUnavailable``: raised when no sandbox can be set up (grading refuses);
- ``submission_dir()``: a fresh private folder for a submission's copy;
  ``private_root()``: the grader's private 0700 folder itself.

One module per concern: ``bubblewrap`` and ``landlock`` (the two backends),
``seccomp`` (the shared system-call filter), ``paths`` (what of the machine a
sandbox may read), ``scratch`` (the grader's private 0700 folder), ``server``
(the fork server that starts every runner), ``process`` (starting a runner,
per-test deadlines, the answer pipe). The runner side is
``assignment/instructor/grading/fork_server.py``, ``runner.py`` and ``confine.py``.
"""

from __future__ import annotations

from pathlib import Path

from assignment.instructor.grading.sandbox import scratch, seccomp
from assignment.instructor.grading.sandbox.scratch import private_root
from assignment.instructor.grading.sandbox.base import BACKENDS, PREFERENCES, Limits, Outcome, SandboxUnavailable
from assignment.instructor.grading.sandbox.process import Sandbox, describe_backend, probe, resolve, run_batch, run_in_sandbox

__all__ = ["BACKENDS", "PREFERENCES", "Limits", "Outcome", "Sandbox", "SandboxUnavailable", "bwrap_available",
           "describe_backend", "private_root", "probe", "resolve", "run_batch", "run_in_sandbox", "submission_dir"]


def bwrap_available() -> str | None:
    """None if the bubblewrap backend can run here, else why not (checked once per process)."""
    return probe("bubblewrap")


def submission_dir() -> Path:
    """A fresh folder in the grader's private scratch space, for one submission's copy."""
    return scratch.new_copy_dir()


def _seccomp_program() -> bytes:
    """The runner's seccomp filter (classic BPF), as built by ``seccomp.build``."""
    return seccomp.build()
