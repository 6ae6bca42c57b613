"""Grading a class beyond one machine: the sandbox phase on a Dask cluster.

``python -m assignment autograde mlp --scheduler tcp://HOST:PORT`` (or
``c.ParallelAutograde.scheduler`` in ``nbgrader_config.py``) sends each
student's sandbox work to the workers of a running ``distributed`` cluster
instead of local threads. The rest of the command is unchanged: the verdicts
come back as plain data, the client stores them in the course's verdict cache,
and stock ``nbgrader autograde`` processes on the client write every grade
from that cache (``assignment.instructor.parallel``).

One task per student, ``grade_task``: a pure function of plain data (the
trusted tests read from the gradebook on the client, the student's checked
files as ``policy.read_submission`` read them on the client, the limits and
the digest of the grading code). On the worker it writes the package copy
into a private temporary folder, runs ``grade_submission`` there with a
throw-away verdict cache of its own, and returns that cache's contents
(fingerprint -> verdict fields). It reads no course file and writes nothing
that outlives it, so running it twice, or on two workers at once after a lost
heartbeat, gives the same answer and does no harm: Dask may reschedule it
freely when a worker dies (``pure=False``: every run of the command submits
fresh tasks; ``retries``: an exception inside a task is tried again).

A worker runs as many tasks at once as it has threads (``--nthreads``), and
never more sandboxes than that in total (one semaphore per worker process):
a worker thread is one core given to grading. A student whose task fails for
good (its retries used up, every worker it ran on lost, or a worker running
other grading code) is left to the client's ``nbgrader autograde``, which
grades them itself: never lost.

Dask moves pickled functions and data between client, scheduler and workers:
whoever can connect to the scheduler can run code on the workers. The
scheduler's port must be reachable by the grading machines only (use
``tls://`` addresses with ``distributed``'s TLS settings, or a private
network); see README.md, "Grading a whole class".
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from assignment.instructor.grading.cases import TestCall
from assignment.instructor.grading.grader import LimitTable, VerdictCache, grade_submission
from assignment.instructor.grading.policy import Submission, read_submission
from assignment.instructor.grading.sandbox import Limits
from assignment.instructor.grading.verdicts import Verdict

# A task whose code raised is tried this many more times (on any worker) before the
# student is left to nbgrader autograde on the client. A task on a worker that dies is
# rescheduled by Dask itself (up to distributed.scheduler.allowed-failures times).
RETRIES = 1
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# One per worker process: bounds the sandboxes of all tasks running in it at once.
_worker_slots: threading.BoundedSemaphore | None = None
_worker_slots_lock = threading.Lock()
# Which students' verdicts are already in the client's cache, by the digest of their
# task's payload: lets a re-run skip a student without asking the cluster.
LEDGER = "dask-ledger"


class GradingCodeMismatch(RuntimeError):
    """The worker's grading code differs from the client's: its verdicts would not be the serial ones."""


class ClusterUnavailable(RuntimeError):
    """The Dask scheduler cannot be reached, or the distributed package is missing."""


# ---------------------------------------------------------------------------
# Plain data in, plain data out


def test_data(tests: dict[str, dict]) -> dict[str, dict]:
    """grade_id -> the test call as plain data, for every readable test of every notebook.

    Args:
        tests: notebook -> {grade_id -> TestCall, or the error met reading it} (``parallel.trusted_tests``).

    Returns:
        grade_id -> {"key", "number", "case"}. A test that could not be read
        runs no sandbox: ``nbgrader autograde`` reports it itself.
    """
    return {grade_id: {"key": call.key, "number": call.number, "case": call.case}
            for cells in tests.values() for grade_id, call in cells.items() if isinstance(call, TestCall)}


def submission_data(submission: Submission) -> dict[str, Any]:
    """The checked submission as plain data (its fields: file texts, problems, why nothing can be graded)."""
    return asdict(submission)


def payload(tests: dict[str, dict], submission: Submission, limits: LimitTable,
            code_digest: str) -> dict[str, Any]:
    """Everything one student's verdicts depend on, as plain data (the argument of ``grade_task``)."""
    return {"tests": test_data(tests), "submission": submission_data(submission),
            "limits": {allowance: asdict(each) for allowance, each in limits.items()}, "code": code_digest}


def payload_digest(data: dict[str, Any]) -> str:
    """A digest of a task's payload: equal payloads have equal verdicts."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()


def _slots(nthreads: int) -> threading.BoundedSemaphore:
    global _worker_slots
    with _worker_slots_lock:
        if _worker_slots is None:
            _worker_slots = threading.BoundedSemaphore(max(1, nthreads))
        return _worker_slots


def _worker_threads() -> int:
    """The number of threads of the Dask worker running this task (1 outside a worker)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 1


def grade_task(data: dict[str, Any]) -> dict[str, Any]:
    """Grade one student on this machine; runs on a Dask worker.

    Args:
        data: ``payload(...)``: the tests, the checked submission, the limits, the
            digest of the grading code the client runs.

    Returns:
        {"verdicts": fingerprint -> {"grade_id", "passed", "title", "problems"},
         "worker": this host's name, "seconds": wall time}. Only the tests that ran
        a sandbox have a verdict here; the others are decided by rules the client
        applies itself.

    Raises:
        GradingCodeMismatch: this worker has other grading code than the client.
    """
    from assignment.instructor.grading.policy import write_package
    from assignment.instructor.grading.sandbox import private_root, submission_dir
    from assignment.instructor.parallel import grading_code_digest

    started = time.perf_counter()
    here = grading_code_digest()
    if here != data["code"]:
        raise GradingCodeMismatch(f"worker {socket.gethostname()} runs grading code {here}, the client "
                                  f"{data['code']}: install the same course version on every worker")
    tests = {grade_id: TestCall(t["key"], int(t["number"]), dict(t["case"]))
             for grade_id, t in data["tests"].items()}
    submission = Submission(**data["submission"])
    limits = {allowance: Limits(**each) for allowance, each in data["limits"].items()}
    threads = _worker_threads()
    # The package copy and the verdicts live in folders of this task only, inside the grading
    # process's private (0700) root: write_package makes the copy world-readable.
    copy = submission_dir()  # where a fork server's sandbox sees submission copies
    try:
        with tempfile.TemporaryDirectory(prefix="mytorch-dask-verdicts-", dir=private_root()) as verdict_dir:
            write_package(submission, copy)
            cache = VerdictCache(Path(verdict_dir))
            grade_submission(tests, submission, copy, limits=limits,
                             jobs=threads, cache=cache, slots=_slots(threads))
            verdicts = {}
            for path in sorted(Path(verdict_dir).glob("*.json")):
                verdict = cache.get(path.stem)
                if verdict is not None:
                    verdicts[path.stem] = asdict(verdict)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return {"verdicts": verdicts, "worker": socket.gethostname(), "seconds": time.perf_counter() - started}


def store_verdicts(result: Any, expected_ids: set[str], cache: VerdictCache) -> list[str]:
    """Check a task's answer and put its verdicts into the client's cache.

    Args:
        result: what ``grade_task`` returned (checked here: it crossed the network).
        expected_ids: the grade ids the task was given.
        cache: the course's verdict cache.

    Returns:
        The fingerprints stored.

    Raises:
        ValueError: the answer is not what ``grade_task`` returns.
    """
    if not isinstance(result, dict) or not isinstance(result.get("verdicts"), dict):
        raise ValueError("the worker's answer is not a grade_task result")
    checked = []
    for key, fields in result["verdicts"].items():
        if not (isinstance(key, str) and _FINGERPRINT.fullmatch(key) and isinstance(fields, dict)):
            raise ValueError(f"the worker's answer holds a malformed verdict key {key!r:.80}")
        grade_id, passed, title, problems = (fields.get(name) for name in ("grade_id", "passed", "title", "problems"))
        if (grade_id not in expected_ids or not isinstance(passed, bool) or not isinstance(title, str)
                or not isinstance(problems, (list, tuple)) or not all(isinstance(p, str) for p in problems)):
            raise ValueError(f"the worker's answer holds a malformed verdict for {grade_id!r:.80}")
        checked.append((key, Verdict(grade_id, passed, title, tuple(problems))))
    for key, verdict in checked:
        cache.put(key, verdict)
    return [key for key, _ in checked]


class Ledger:
    """Which payloads' verdicts the client's cache already holds (one JSON file per payload digest)."""

    def __init__(self, cache: VerdictCache) -> None:
        self.cache = cache
        self.folder = cache.folder / LEDGER
        self.folder.mkdir(parents=True, exist_ok=True)

    def complete(self, digest: str) -> bool:
        """True if this payload was graded before and each of its verdicts is still cached."""
        try:
            keys = json.loads((self.folder / f"{digest}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(keys, list) and all(isinstance(k, str) and self.cache.get(k) is not None for k in keys)

    def record(self, digest: str, keys: list[str]) -> None:
        path = self.folder / f"{digest}.json"
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(sorted(keys)), encoding="utf-8")
        tmp.replace(path)


# ---------------------------------------------------------------------------
# The client side


def connect(address: str, timeout: float = 30.0):
    """A ``distributed.Client`` of the scheduler at ``address`` (its TLS settings from Dask's config).

    Raises:
        ClusterUnavailable: the package is missing or the scheduler does not answer.
    """
    try:
        from distributed import Client
    except ImportError as error:
        raise ClusterUnavailable("--scheduler needs the distributed package: "
                                 "pip install 'mytorch-course[cluster]'") from error
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as error:
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {address}: {error}") from error


def precompute_on_cluster(course: Path, assignment: str, students: list[str], scheduler: str,
                          cache: VerdictCache, limits: LimitTable, tests: dict[str, dict],
                          code_digest: str, on_done: Callable[[str, bool], None] = lambda student, ok: None,
                          warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
                          client=None):
    """Fill the verdict cache for ``students`` on the Dask cluster at ``scheduler``.

    Args:
        course, assignment: where the submissions are (``submitted/<student>/<assignment>``).
        students: whom to grade.
        scheduler: the scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
        cache: the course's verdict cache (the writers read it).
        limits: per time allowance, as ``GradeInSandbox`` configures them.
        tests: notebook -> {grade_id -> test}, read from the gradebook.
        code_digest: ``parallel.grading_code_digest()`` of the client.
        on_done: called once per student as their verdicts are cached (True) or given up on (False).
        warn: receives a line per problem.
        client: an existing ``distributed.Client`` to use instead of connecting.

    Returns:
        A ``parallel.Precomputed``: seconds per student (on the worker), failures, retried students.

    Raises:
        ClusterUnavailable: the scheduler cannot be reached (nothing was graded).
    """
    from distributed import as_completed

    from assignment.instructor.parallel import _PARSE_LOCK, Precomputed

    result = Precomputed()
    own_client = client is None
    client = client or connect(scheduler)
    ledger = Ledger(cache)
    try:
        futures = {}
        run = uuid.uuid4().hex[:8]
        for student in students:
            try:
                with _PARSE_LOCK:
                    submission = read_submission(course / "submitted" / student / assignment)
            except OSError as error:
                result.failures[student] = f"{type(error).__name__}: {error}"
                warn(f"warning: {student}'s files could not be read ({error}); nbgrader autograde grades them itself")
                on_done(student, False)
                continue
            data = payload(tests, submission, limits, code_digest)
            digest = payload_digest(data)
            if ledger.complete(digest):  # graded before, nothing changed
                result.seconds[student] = 0.0
                on_done(student, True)
                continue
            # pure=False and a key of this run: a re-run never reuses another run's result.
            future = client.submit(grade_task, data, key=f"mytorch-grade-{student}-{run}", pure=False,
                                   retries=RETRIES)
            futures[future] = (student, digest, set(data["tests"]))
        unchanged = len(students) - len(futures) - len(result.failures)
        print(f"sent {len(futures)} of {len(students)} students to the Dask cluster at {scheduler} "
              f"({unchanged} unchanged since their verdicts were cached)", flush=True)
        # as_completed runs on this client's event loop (it is not the process's default client).
        _collect(futures, lambda fs: as_completed(fs, loop=client.loop), cache, ledger, result, on_done, warn)
    finally:
        if own_client:
            client.close()
    return result


def _collect(futures, as_completed, cache, ledger, result, on_done, warn) -> None:
    """Store each task's verdicts as it finishes; a failed task leaves its student to nbgrader."""
    from tqdm import tqdm

    with tqdm(total=len(futures), unit="student", desc="grading on the cluster", file=sys.stdout,
              mininterval=1.0) as bar:
        for future in as_completed(list(futures)):
            student, digest, grade_ids = futures[future]
            try:
                answer = future.result()
                keys = store_verdicts(answer, grade_ids, cache)
                ledger.record(digest, keys)
                result.seconds[student] = float(answer.get("seconds", 0.0))
                ok = True
            except Exception as error:  # KilledWorker, a task's own error, a malformed answer
                result.failures[student] = f"{type(error).__name__}: {error}"
                warn(f"warning: {student} could not be graded on the cluster ({result.failures[student]}); "
                     f"nbgrader autograde grades them itself")
                ok = False
            future.release()
            bar.update()
            on_done(student, ok)
