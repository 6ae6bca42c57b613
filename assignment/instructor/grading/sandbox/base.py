"""The sandbox's vocabulary, shared by both backends: limits, outcomes, how a run is launched."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BACKENDS = ("bubblewrap", "landlock")
RUNNER = "assignment/instructor/grading/runner.py"  # in the course package copy
FORK_SERVER = "assignment/instructor/grading/fork_server.py"  # likewise
PREFERENCES = ("auto", *BACKENDS)
# What the runner process is given, whichever the backend (no secret of the grader's environment).
RUNNER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1", "LC_ALL": "C.UTF-8"}
# Passed on when the grader has them: they make OpenBLAS pick a correct kernel on some processors.
PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def runner_env(home: str) -> dict[str, str]:
    """The whole environment of a runner (or fork server): ``RUNNER_ENV``, ``PASSED_THROUGH``, ``HOME``."""
    return {**RUNNER_ENV, **{k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}, "HOME": home}


class SandboxUnavailable(RuntimeError):
    """No sandbox can be set up here (or the chosen backend cannot): grading must refuse."""


@dataclass(frozen=True)
class Limits:
    """Resources one test may use.

    Fields:
        wall_seconds: real time one test may take, counted from its own start
            (its child says when each test starts), after which the child is killed.
        cpu_seconds: CPU time one test may use (RLIMIT_CPU, lowered before each test).
        memory_bytes: address space of the test's child (RLIMIT_AS).
        output_bytes: what the child may print, stdout and stderr together (the runner's
            RLIMIT_FSIZE too).
        backend: "auto", "bubblewrap" or "landlock" (``c.GradeInSandbox.backend``).
    """

    wall_seconds: float = 20.0
    cpu_seconds: int = 20
    memory_bytes: int = 1536 * 2**20
    output_bytes: int = 8 * 2**20
    backend: str = "auto"


@dataclass
class Outcome:
    """What came back from one sandboxed test.

    Fields:
        outputs: the decoded answers, when the run reported them.
        error: why there are no answers (a student-facing sentence), else None.
        seconds: wall-clock time of the test, from its start to its answer (or its end).
    """

    outputs: Any = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Launch:
    """How a backend starts one runner.

    Fields:
        argv: the command.
        env: its whole environment (nothing of the grader's but ``PASSED_THROUGH``).
        cwd: where it starts.
        pass_fds: descriptors it inherits besides stdin, stdout and stderr.
        close_after_start: descriptors the grader closes once the process is started.
        request: what the backend adds to the runner's set-up request.
    """

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...] = ()
    close_after_start: tuple[int, ...] = ()
    request: dict = field(default_factory=dict)
