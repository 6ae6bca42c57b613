"""Grading one submission: every test, in one sandbox, one child process per question.

Used by the autograde preprocessor (one student at a time) and by the
parallel command (many students at once): the same function, so both give
the same verdicts.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Mapping

from assignment.instructor.grading.cases import TestCall
from assignment.instructor.grading.policy import Submission
from assignment.instructor.grading.sandbox import Limits, Sandbox
from assignment.instructor.grading.verdicts import Verdict, blocked, judge, title_of
from assignment.shared.questions import question

MODULE_OF_FILE = {"mytorch/nn.py": "mytorch.nn", "mytorch/optim.py": "mytorch.optim"}
#: Resources per time allowance (``questions._common.ALLOWANCES``): each test gets those of its
#: question's ``INFO.allowance``.
LimitTable = Mapping[str, Limits]
# An import may take as long as one test of the shortest allowance.
IMPORT_ALLOWANCE = "test"
# Import probes by the digest of the student's files: nbgrader grades a
# submission one notebook at a time, and the files are the same for each.
_import_probes: dict[str, dict[str, str | None]] = {}


def fingerprint(call: TestCall, submission: Submission, limits: Limits) -> str:
    """A digest of everything a verdict depends on: the test, the student's files, the limits."""
    digest = hashlib.sha256()
    digest.update(json.dumps([call.key, call.number, call.case], sort_keys=True).encode())
    for name in sorted(submission.files):
        digest.update(name.encode() + b"\0" + submission.files[name].encode() + b"\0")
    digest.update(json.dumps([sorted(submission.problems.items()), submission.missing, asdict(limits)]).encode())
    return digest.hexdigest()


class VerdictCache:
    """Verdicts stored as JSON files by fingerprint, so a re-run grades nothing twice."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Verdict | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return Verdict(data["grade_id"], bool(data["passed"]), data["title"], tuple(data["problems"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, verdict: Verdict) -> None:
        tmp = self._path(key).with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(asdict(verdict)), encoding="utf-8")
        tmp.replace(self._path(key))  # atomic: a reader never sees half a verdict


def limits_of(call: TestCall, limits: LimitTable) -> Limits:
    """The resources of ``call``'s test: those of its question's time allowance."""
    return limits[question(call.key).INFO.allowance]


def grade_submission(
    tests: dict[str, TestCall | Exception],
    submission: Submission,
    package_copy: Path,
    *,
    limits: LimitTable,
    jobs: int = 1,
    cache: VerdictCache | None = None,
    slots: threading.Semaphore | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Verdict]:
    """Grade every test of one submission.

    Args:
        tests: grade_id -> the test read from the gradebook (or why it could not be read).
        submission: the student's checked files (``policy.read_submission``).
        package_copy: where ``policy.write_package`` put them.
        limits: resources per test, by time allowance (``LimitTable``, as ``GradeInSandbox.limits()``).
        jobs: children (each running one question's tests) run at once.
        cache: where verdicts are kept between runs, if anywhere.
        slots: shared by several submissions graded at once, bounds their children in total.
        log: receives one line per problem the instructor should know about.

    Returns:
        grade_id -> verdict, one per test.
    """
    verdicts: dict[str, Verdict] = {}
    pending: dict[str, tuple[TestCall, str]] = {}
    for grade_id, call in tests.items():
        if isinstance(call, Exception):
            log(f"graded cell {grade_id} cannot be graded: {call}")
            verdicts[grade_id] = Verdict(grade_id, False, f"Test {grade_id}",
                                         (f"this test could not be graded ({call}); please tell your instructor",))
            continue
        key = fingerprint(call, submission, limits_of(call, limits))
        cached = cache.get(key) if cache else None
        if cached is not None and cached.grade_id == grade_id:
            verdicts[grade_id] = cached
            continue
        stop = blocked(grade_id, call, submission)
        if stop is not None:
            verdicts[grade_id] = stop
        else:
            pending[grade_id] = (call, key)
    if pending:
        files_digest = hashlib.sha256(json.dumps(sorted(submission.files.items())).encode()).hexdigest()
        verdicts.update(_run_pending(pending, package_copy, limits, jobs, files_digest, slots))
    if cache:
        for grade_id, (call, key) in pending.items():
            cache.put(key, verdicts[grade_id])
    return verdicts


def _run_pending(pending, package_copy, limits: LimitTable, jobs, files_digest, slots) -> dict[str, Verdict]:
    """Run the tests not cached in one sandbox: one child per question, ``jobs`` children at once."""
    verdicts: dict[str, Verdict] = {}
    with Sandbox(package_copy, list(limits.values())) as sandbox:
        # First, can each file be imported at all? An import that hangs or crashes
        # would otherwise cost every test of that file its full time limit. An import
        # may take as long as one test (the configured limit).
        import_errors = _import_probes.get(files_digest)
        if import_errors is None:
            modules = list(MODULE_OF_FILE.values())
            probes = sandbox.run([([{"kind": "import", "module": module}], limits[IMPORT_ALLOWANCE])
                                  for module in modules], parallel=jobs, slots=slots)
            import_errors = {module: outcomes[0].error for module, outcomes in zip(modules, probes)}
            _import_probes[files_digest] = import_errors
        groups: dict[str, list[str]] = {}
        for grade_id, (call, _) in pending.items():
            broken = [m for m in question(call.key).INFO.imports if import_errors.get(m)]
            if broken:
                module = broken[-1]
                verdicts[grade_id] = Verdict(grade_id, False, title_of(call),
                                             (f"{module.replace('.', '/')}.py could not be imported: {import_errors[module]}",))
            else:
                groups.setdefault(call.key, []).append(grade_id)
        order = [sorted(ids) for ids in groups.values()]
        calls = [[pending[g][0] for g in grade_ids] for grade_ids in order]  # one question's tests: one allowance
        outcomes = sandbox.run([([{"kind": "question", "key": c.key, "case": c.inputs} for c in group],
                                 limits_of(group[0], limits)) for group in calls], parallel=jobs, slots=slots)
    for grade_ids, group, results in zip(order, calls, outcomes):
        for grade_id, call, outcome in zip(grade_ids, group, results):
            verdicts[grade_id] = judge(grade_id, call, outcome)
    return verdicts
