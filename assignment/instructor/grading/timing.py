"""Time limits derived from the reference's own running time, not a flat 20 s.

``nbgrader generate_assignment`` (the release build step, ``BuildStudentFiles``)
runs each released notebook's tests, hidden ones included, on the reference
``mytorch/`` in the same sandbox that grading uses, and records how long each
test took from its start to its answer (the sandbox's start-up is not counted:
it has its own allowance). The times go to ``.grading_cache/reference_timings.json``
at the course root: beside the gradebook, never in ``source/`` or ``release/``.

Each question has a time allowance (``INFO.allowance``: "test" for the nine
questions, "training" for the training check). Grading allows every test of an
allowance ``RULES[allowance].factor`` times the slowest reference test of that
allowance, at least ``RULES[allowance].minimum`` seconds: 20 times, at least 2 s,
for "test"; 4 times, at least 4 s, for "training". Never more than the configured
ceiling of the allowance (``c.GradeInSandbox.timeout`` / ``training_timeout``),
which is also what a course without measured times uses.

That allowance is CPU time (RLIMIT_CPU, set afresh for each test): on an idle
machine an endless loop ends after exactly that, while an honest test on a
loaded machine, which gets only part of a core, is not cut short for waiting.
Wall-clock time is capped too, at ``WALL_PER_CPU`` times the allowance (a test
that sleeps uses no CPU).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from assignment.shared.questions import key_of, question

TIMINGS_FILE = Path(".grading_cache") / "reference_timings.json"
FACTOR = 20.0
MIN_TEST_SECONDS = 2.0  # an honest test takes milliseconds; this absorbs a loaded machine
TRAINING_FACTOR = 4.0
MIN_TRAINING_SECONDS = 4.0  # the reference trains in under 1 s of CPU time
WALL_PER_CPU = 2.0


@dataclass(frozen=True)
class Rule:
    """How a time allowance is derived from the reference's times.

    Fields:
        factor: the multiple of the slowest reference test of the allowance.
        minimum: the fewest seconds allowed, whatever the reference took.
    """

    factor: float
    minimum: float


#: One rule per time allowance (``questions._common.ALLOWANCES``).
RULES = {"test": Rule(FACTOR, MIN_TEST_SECONDS), "training": Rule(TRAINING_FACTOR, MIN_TRAINING_SECONDS)}
MEASURE_TIMEOUT = 60.0  # generous: the reference is trusted, and must not fail its own tests


def read_timings(course_root: Path) -> dict:
    """{assignment: {notebook: {grade_id: {"key": ..., "seconds": ...}}}}, or {} if none are recorded."""
    path = Path(course_root) / TIMINGS_FILE
    try:
        if path.is_symlink() or path.stat().st_size > 1_000_000:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _allowance_of(grade_id: str, entry: dict) -> str | None:
    """The time allowance of a recorded test: its question's (the key recorded, else its grade id's)."""
    key = entry.get("key") if isinstance(entry.get("key"), str) else key_of(str(grade_id))
    try:
        return question(key).INFO.allowance
    except (ValueError, TypeError):
        return None  # a test of no known question tells nothing about any allowance


def derived_limits(course_root: Path, ceilings: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per test of each time allowance, for the course at ``course_root``.

    Args:
        course_root: the course (holds ``TIMINGS_FILE`` once an assignment was generated).
        ceilings: the configured limit of each allowance in ``RULES``, the ceiling and the fallback.

    Returns:
        {allowance: seconds}, for every allowance of ``ceilings``.
    """
    slowest: dict[str, float] = {}
    for notebooks in read_timings(course_root).values():
        for tests in (notebooks.values() if isinstance(notebooks, dict) else []):
            for grade_id, entry in (tests.items() if isinstance(tests, dict) else []):
                try:
                    seconds = float(entry["seconds"])
                except (TypeError, KeyError, ValueError):
                    continue
                allowance = _allowance_of(grade_id, entry)
                if allowance is not None:
                    slowest[allowance] = max(seconds, slowest.get(allowance, seconds))
    derived = {}
    for allowance, ceiling in ceilings.items():
        rule = RULES[allowance]
        measured = slowest.get(allowance)
        derived[allowance] = (min(ceiling, max(rule.minimum, rule.factor * measured)) if measured is not None
                              else ceiling)
    return derived


def measure_notebook(course_root: Path, db_url: str, assignment: str, notebook: str, backend: str,
                     log: Callable[[str], None]) -> dict[str, dict]:
    """Run ``notebook``'s tests (from the gradebook) on the reference and record their times.

    Args:
        course_root: the course; its ``mytorch/`` is the reference.
        db_url: the gradebook (``generate_assignment`` has just saved the notebook's tests there).
        assignment, notebook: what is being released.
        backend: the sandbox preference (``c.GradeInSandbox.backend``).
        log: receives a warning when nothing could be measured.

    Returns:
        grade_id -> {"key", "seconds"} as recorded (empty when nothing was measured).
    """
    from nbgrader.api import Gradebook

    from assignment.instructor.grading.trusted_tests import read_tests
    from assignment.instructor.grading.policy import read_submission, write_package
    from assignment.instructor.grading.sandbox import Limits, SandboxUnavailable, describe_backend, run_batch, submission_dir

    name, why = describe_backend(backend)
    if name is None:
        log(f"reference times not measured (no sandbox here: {why}); grading will use the configured limits")
        return {}
    with Gradebook(db_url) as gb:
        tests = read_tests(gb, assignment).get(notebook, {})
    calls = {g: c for g, c in tests.items() if not isinstance(c, Exception)}
    reference = read_submission(Path(course_root))
    copy = submission_dir()
    measured: dict[str, dict] = {}
    try:
        write_package(reference, copy)
        limits = Limits(wall_seconds=MEASURE_TIMEOUT, cpu_seconds=int(MEASURE_TIMEOUT), backend=backend)
        by_key: dict[str, list[str]] = {}
        for grade_id, call in sorted(calls.items()):
            by_key.setdefault(call.key, []).append(grade_id)
        for grade_ids in by_key.values():
            requests = [{"kind": "question", "key": calls[g].key, "case": calls[g].inputs} for g in grade_ids]
            for grade_id, outcome in zip(grade_ids, run_batch(copy, requests, limits)):
                if outcome.error is None:
                    measured[grade_id] = {"key": calls[grade_id].key, "seconds": round(outcome.seconds, 4)}
                else:
                    log(f"the reference fails test {grade_id} ({outcome.error}); its time is not recorded")
    except SandboxUnavailable as error:
        log(f"reference times not measured ({error}); grading will use the configured limits")
        return {}
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    _record(Path(course_root), assignment, notebook, measured)
    return measured


def _record(course_root: Path, assignment: str, notebook: str, measured: dict[str, dict]) -> None:
    """Merge one notebook's times into the course's file (written whole, then renamed into place)."""
    data = read_timings(course_root)
    data.setdefault(assignment, {})[notebook] = measured
    path = course_root / TIMINGS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)
