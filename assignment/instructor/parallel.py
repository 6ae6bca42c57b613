"""``python -m assignment autograde ASSIGNMENT --jobs N``: grade a whole class in parallel.

Stock ``nbgrader autograde`` grades one submission after another. This
command runs every student's tests in the sandbox (one sandbox per
submission, one child process per question inside it), ``--jobs`` submissions
at a time and never more than ``--jobs`` children running tests at once
(shared slots; a submission whose tests wait out their limits may use several
of them), and
stores each verdict in a cache keyed by everything it depends on
(the test, the student's files, the limits; the cache folder is named by a
digest of the grading code, so changed grading code never reuses old
verdicts). The grades are written by the stock ``nbgrader autograde`` with
``--GradeInSandbox.cache_dir``, which finds every verdict in the cache and
writes the grades through nbgrader's own pipeline, as a serial run would.

The writing overlaps the sandboxes: as soon as enough students' verdicts are
cached, a writer process (forked from this one once it has imported nbgrader, so
that it starts with nothing to import) runs ``nbgrader autograde`` on them, restricted with
``--CourseDirectory.student_id_exclude``, while the sandboxes go on with the
others. Up to ``--jobs`` such writers run at once, each on different students
(see ``writers_for``); on SQLite, which has one writer and whose "database is
locked" makes nbgrader abort, they take turns inside the gradebook
(``gradebook_lock``) and convert notebooks in parallel.

With ``--scheduler tcp://HOST:PORT`` (or ``c.ParallelAutograde.scheduler``)
the sandbox phase runs on the workers of a Dask cluster instead of local
threads (``assignment.instructor.distributed``); the writing stays here.

So the scores are exactly the serial scores, each grade lands in the gradebook
once (only nbgrader writes it, and each student is given to one writer), a
verdict that could not be computed in parallel is computed by the writer
itself (the serial pass, ``GradeInSandbox`` without a cached verdict), and a
re-run re-grades nothing that did not change.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from traitlets import Unicode
from traitlets.config import Configurable
from traitlets.config.loader import PyFileConfigLoader

from assignment.instructor import gradebook_lock
from assignment.instructor.grading import contract
from assignment.instructor.grading.grader import LimitTable, VerdictCache, grade_submission
from assignment.instructor.grading.policy import read_submission, write_package
from assignment.instructor.grading.sandbox import describe_backend, submission_dir

CACHE_FOLDER = ".grading_cache"
# Grades are written in at most MAX_CHUNKS nbgrader runs of at least MIN_CHUNK students
# each (and the rest at the end), all in one long-lived writer process per writer
# (``assignment.instructor.writer``): a run costs no process start, only nbgrader's set-up of the
# run (about half a CPU second), so chunks can be small enough that little writing is
# left when the sandboxes finish.
MAX_CHUNKS = 8
MIN_CHUNK = 4
# read_submission parses the student's files, and grading_code_digest the grading code, with
# ast.parse, which two threads must not run at once on CPython 3.11 (seen here on 3.11.7: "SystemError: AST constructor recursion
# depth mismatch"; python/cpython#106905).
_PARSE_LOCK = threading.Lock()
_DIGEST: list[str] = []  # grading_code_digest's answer, once computed
# Writers of one SQLite gradebook take turns in it (gradebook_lock): past a few, they would mostly wait.
MAX_SQLITE_WRITERS = 4



class ParallelAutograde(Configurable):
    """Settings of ``python -m assignment autograde``, read from ``nbgrader_config.py``."""

    scheduler = Unicode("", help="Address of a Dask scheduler (tcp://HOST:PORT or tls://...) whose workers run "
                                 "the sandboxes; empty: local threads (--jobs).").tag(config=True)


def load_config(course: Path):
    """The course's nbgrader_config.py, loaded (traitlets only: nothing of nbgrader is imported)."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def configured_backend(config) -> str:
    """``c.GradeInSandbox.backend`` as the config sets it (its default, "auto", if it does not)."""
    section = config.get("GradeInSandbox", {})
    value = section.get("backend", "auto") if hasattr(section, "get") else "auto"
    return value if isinstance(value, str) else "auto"


def load_coursedir(course: Path, config=None) -> "CourseDirectory":
    """The course's CourseDirectory, configured by its nbgrader_config.py (or ``config``, that file loaded)."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config if config is not None else load_config(course))
    coursedir.root = str(course)
    return coursedir


def limits_from(config) -> LimitTable:
    """The limits per time allowance that GradeInSandbox will use (same config, same cache keys)."""
    from assignment.instructor.grading.nbgrader_plugin import GradeInSandbox

    return GradeInSandbox(config=config).limits()


def grading_code_digest() -> str:
    """A digest of the code and data a verdict depends on (``grading.contract.verdict_digest``),
    computed once per process (the code a process runs does not change under it), under
    ``_PARSE_LOCK``: it parses the grading code with ``ast.parse`` (in the probe's thread while
    the sandbox threads may parse submissions), and a second caller waits for the first's answer."""
    with _PARSE_LOCK:
        if not _DIGEST:
            _DIGEST.append(contract.verdict_digest())
        return _DIGEST[0]


def cache_folder(course: Path, assignment: str) -> Path:
    """This grading code's verdict cache; the caches of other versions of the code are removed."""
    parent = course / CACHE_FOLDER / assignment
    current = parent / grading_code_digest()
    if parent.is_dir():
        for other in parent.iterdir():
            if other != current and other.is_dir():
                shutil.rmtree(other, ignore_errors=True)
    return current


def trusted_tests(db_url: str, assignment: str) -> dict[str, dict]:
    """notebook -> {grade_id -> test call (or the error met reading it)}, from the gradebook."""
    from nbgrader.api import Gradebook

    from assignment.instructor.grading.trusted_tests import read_tests

    with Gradebook(db_url) as gb:
        gb.find_assignment(assignment)  # MissingEntry for an assignment never generated
        return read_tests(gb, assignment)


def submitted_students(coursedir: "CourseDirectory", assignment: str) -> list[str]:
    root = Path(coursedir.root) / coursedir.submitted_directory
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir())


def writers_for(db_url: str, jobs: int) -> int:
    """How many nbgrader processes may write grades at once: ``jobs`` (at most
    ``MAX_SQLITE_WRITERS`` on SQLite).

    Each writer is given different students, and everything an ``nbgrader
    autograde`` run writes belongs to its students (their student row,
    submission, notebooks, grades, comments); the course, assignment and cells
    are only read. A server database (PostgreSQL, MySQL) takes concurrent
    writers as it is. SQLite has one writer at a time and nbgrader aborts on
    "database is locked", so the writers of an SQLite gradebook take turns
    inside it (``gradebook_lock``: one process in a gradebook session at a
    time) and convert their notebooks in parallel; a writer spends about a fifth
    of its time in sessions, so more than a few would mostly wait for their turn.
    """
    return max(1, min(jobs, MAX_SQLITE_WRITERS) if db_url.startswith("sqlite") else jobs)


@dataclass
class Precomputed:
    """What the sandbox phase did.

    Fields:
        seconds: per student, the seconds their verdicts took.
        failures: per student, why their verdicts could not be precomputed (the writer grades them).
        retried: the students whose first try failed.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)


def grade_student(course: Path, assignment: str, student: str, tests: dict, cache: VerdictCache,
                  limits: LimitTable, jobs: int = 1,
                  slots: threading.Semaphore | None = None) -> None:
    """Fill the verdict cache for one student (``grade_submission``, as GradeInSandbox calls it)."""
    all_tests = {grade_id: call for cells in tests.values() for grade_id, call in cells.items()}
    with _PARSE_LOCK:
        submission = read_submission(course / "submitted" / student / assignment)
    # In the grader's private 0700 folder (where a fork server's sandbox sees submission
    # copies): write_package makes the copy world-readable.
    copy = submission_dir()
    try:
        write_package(submission, copy)
        grade_submission(all_tests, submission, copy, limits=limits, jobs=jobs, cache=cache, slots=slots)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def precompute(course: Path, assignment: str, students: list[str], jobs: int, cache: VerdictCache,
               limits: LimitTable, tests: dict[str, dict],
               on_done: Callable[[str, bool], None] = lambda student, ok: None,
               warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr)) -> Precomputed:
    """Fill the verdict cache for ``students``, ``jobs`` submissions at a time.

    A student whose grading raises is retried once; if it raises again, the
    student is left to the writer (``on_done(student, False)``), which grades
    them itself. ``on_done`` is called as each student finishes.
    """
    from tqdm import tqdm

    result = Precomputed()

    def grade(student: str) -> None:
        started = time.perf_counter()
        try:
            grade_student(course, assignment, student, tests, cache, limits, jobs, slots)
        except Exception as first:
            result.retried.append(student)
            warn(f"warning: grading {student} in the sandboxes failed ({type(first).__name__}: {first}); "
                 f"retrying once")
            try:
                grade_student(course, assignment, student, tests, cache, limits, jobs, slots)
            except Exception as second:
                result.failures[student] = f"{type(second).__name__}: {second}"
                warn(f"warning: {student} could not be graded in parallel ({result.failures[student]}); "
                     f"nbgrader autograde grades them itself")
        result.seconds[student] = time.perf_counter() - started

    # Each student may use ``jobs`` children (so one submission whose tests all wait out
    # their limits does not hold up the class), the class never more than ``jobs`` in total:
    # no test gets less of the machine than in a serial run.
    jobs = max(1, jobs)
    slots = threading.BoundedSemaphore(jobs)
    with ThreadPoolExecutor(max_workers=jobs) as pool, \
            tqdm(total=len(students), unit="student", desc="grading in sandboxes", file=sys.stdout,
                 mininterval=1.0) as bar:
        futures = {pool.submit(grade, student): student for student in students}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                student = futures[future]
                future.result()  # grade() catches what grading raises
                bar.update()
                on_done(student, student not in result.failures)
    return result


class Handoff:
    """The students whose sandbox phase is over and who wait for a writer, shared by the sandbox
    threads (``add``) and the loop that hands them to writers (``pending``, ``take``).

    ``take`` empties the queue and returns what it held in one step: a student added while the
    loop was choosing writers waits for the next batch instead of being dropped with the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: list[str] = []  # verdicts cached: the writer reads them
        self._left: list[str] = []  # verdicts not cached: the writer grades them itself, last

    def add(self, student: str, cached: bool) -> None:
        with self._lock:
            (self._ready if cached else self._left).append(student)

    def leave_to_writer(self, students: list[str]) -> None:
        """The sandbox phase broke: these students (the ones it did not hand over) go to the writer."""
        with self._lock:
            self._left[:] = sorted(set(students) - set(self._ready))

    def pending(self, final: bool) -> int:
        """How many students ``take(final)`` would return now (more may come before it is called)."""
        with self._lock:
            return len(self._ready) + (len(self._left) if final else 0)

    def take(self, final: bool, most: int | None = None) -> list[str]:
        """The ready students (and, if ``final``, the left ones after them), sorted, at most ``most`` of
        them (None: all); the queue keeps the others."""
        with self._lock:
            waiting = sorted(self._ready) + (sorted(self._left) if final else [])
            batch = waiting if most is None else waiting[:most]
            taken = set(batch)
            self._ready[:] = [s for s in self._ready if s not in taken]
            self._left[:] = [s for s in self._left if s not in taken]
            return batch


@dataclass(eq=False)
class Batch:
    """One ``nbgrader autograde`` run of a writer, on some students.

    Fields:
        students: whom it writes.
        log_path: its output.
        returncode: nbgrader's exit code, None while it runs.
        seconds: how long it took.
    """

    students: list[str]
    log_path: Path
    returncode: int | None = None
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)


class _ForkedProcess:
    """The little of ``subprocess.Popen`` that ``Writer`` uses, for a process this one forked."""

    def __init__(self, pid: int, stdin: TextIO) -> None:
        self.pid = pid
        self.stdin = stdin
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


class Writer:
    """One long-lived writer process (``assignment.instructor.writer``): nbgrader imported once, then
    batches of students written one after another, each by the stock ``nbgrader autograde`` run in
    that process.

    ``Writer.forked`` forks it from this process once this one has imported what a writer needs
    (``writer.prepare``), before any other thread of the run has started: it costs no interpreter
    start and no import. ``Writer(course, log)`` starts a fresh interpreter instead (a writer that
    replaces one that died, later in the run)."""

    def __init__(self, course: Path, log: Path, forked_from: list["Writer"] | None = None) -> None:
        from assignment.instructor.nbgrader_command import nbgrader_env  # not demo's: it imports nbgrader

        self.log_path = log
        answers, answer_fd = os.pipe()
        if forked_from is None:
            self.log: TextIO | None = open(log, "w", encoding="utf-8")
            self.process: subprocess.Popen | _ForkedProcess = subprocess.Popen(
                [sys.executable, "-m", "assignment.instructor.writer", str(answer_fd)], cwd=course,
                env=nbgrader_env(), stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT, text=True,
                pass_fds=(answer_fd,))
        else:
            self.log = None
            self.process = self._fork(course, log, answer_fd, answers, forked_from, nbgrader_env())
        os.close(answer_fd)
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._answer_stream = os.fdopen(answers, encoding="utf-8")
        self._reading = False
        if forked_from is None:
            self.start_reading()
        self.batch: Batch | None = None
        self.batches: list[Batch] = []

    def start_reading(self) -> None:
        """Start the thread that reads this writer's answers (a forked writer's, once every writer is forked:
        a process forked while a thread reads a stream could never close that stream)."""
        if not self._reading:
            self._reading = True
            threading.Thread(target=self._read, args=(self._answer_stream,), daemon=True).start()

    @classmethod
    def forked(cls, course: Path, log: Path, siblings: list["Writer"]) -> "Writer":
        """A writer forked from this process (see the class docstring); ``siblings``: the writers forked
        before it, whose pipes it must not hold (their ends of input would never come). Call
        ``start_reading`` once every writer is forked."""
        return cls(course, log, forked_from=siblings)

    @staticmethod
    def _fork(course: Path, log: Path, answer_fd: int, answers: int, siblings: list["Writer"],
              env: dict[str, str]) -> _ForkedProcess:
        from assignment.instructor import writer as writer_process

        requests, requests_fd = os.pipe()
        log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the writer
            os.close(requests_fd)
            os.close(answers)
            for sibling in siblings:
                sibling.process.stdin.close()
                sibling._answer_stream.close()
            writer_process.forked_child(requests, answer_fd, log_fd, str(course), env)
        os.close(requests)
        os.close(log_fd)
        return _ForkedProcess(pid, os.fdopen(requests_fd, "w", encoding="utf-8"))

    def _read(self, stream) -> None:
        with stream:
            for line in stream:
                self._answers.put(line)
        self._answers.put(None)  # the process is gone

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def start(self, args: list[str], students: list[str], log: Path, sandbox_checked: str | None = None,
              gradebook_lock: Path | None = None) -> Batch:
        """Give this (idle) writer a batch: ``nbgrader ARGS`` on ``students``, its output in ``log``
        (``sandbox_checked``: the backend this process has just probed, which the writer need not;
        ``gradebook_lock``: the lock file of an SQLite gradebook other writers share)."""
        self.batch = Batch(students, log)
        self.batches.append(self.batch)
        try:
            self.process.stdin.write(json.dumps({"args": args, "log": str(log), "sandbox_checked": sandbox_checked,
                                                 "gradebook_lock": str(gradebook_lock) if gradebook_lock else None})
                                     + "\n")
            self.process.stdin.flush()
        except OSError:  # the process died: poll() reports the batch as failed
            pass
        return self.batch

    def poll(self) -> Batch | None:
        """The running batch, if it has just finished (its returncode set), else None."""
        batch = self.batch
        if batch is None:
            return None
        try:
            line = self._answers.get_nowait()
        except queue.Empty:
            return None
        if line is None:  # the writer died in the middle of the batch
            code = self.process.wait()
            batch.returncode = code if code else 1
        else:
            try:
                batch.returncode = int(json.loads(line)["exit"])
            except (ValueError, KeyError, TypeError):
                batch.returncode = 1
        if not batch.log_path.exists():
            batch.log_path.write_text("", encoding="utf-8")
        batch.seconds = time.perf_counter() - batch.started
        self.batch = None
        return batch

    def close(self) -> None:
        """End the process (after its batch, if one runs)."""
        try:
            self.process.stdin.write("\n")
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()
        if self.log is not None:
            self.log.close()


def autograde(course: Path, assignment: str, jobs: int, students: list[str] | None = None,
              writers: int | None = None, scheduler: str | None = None) -> int:
    """Grade ``assignment`` for every submitted student (or ``students``); return nbgrader's exit code.

    Args:
        course: the course root (holds nbgrader_config.py).
        assignment: the assignment name.
        jobs: submissions graded in the sandboxes at once.
        students: only these students (the others' grades are left as they are).
        writers: nbgrader processes writing grades at once (default: ``writers_for``).
        scheduler: a Dask scheduler's address: its workers run the sandboxes (default:
            ``c.ParallelAutograde.scheduler``; empty: local threads, ``jobs`` at a time).
    """
    # Two things at once: the sandbox backend is probed (which starts its fork server, kept for the
    # sandbox phase) while this process imports nbgrader and what its writers run; the writers are
    # then forked from it, with everything imported.
    began = time.perf_counter()
    config = load_config(course)
    configured = configured_backend(config)
    probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe")
    probed = probe.submit(describe_backend, configured)
    probe.submit(grading_code_digest)  # hashing the grading code (a third of a second) meanwhile too
    log_dir = course / "logs"
    log_dir.mkdir(exist_ok=True)
    try:
        coursedir = load_coursedir(course, config)
        preference = limits_from(coursedir.config)["test"].backend  # c.GradeInSandbox.backend, as nbgrader reads it
        backend, why = probed.result() if preference == configured else describe_backend(preference)
    finally:
        probe.shutdown(wait=False)
    if backend is None:
        print(f"cannot grade: no sandbox can run here ({why})", file=sys.stderr)
        return 2
    available = submitted_students(coursedir, assignment)
    chosen = available if not students else [s for s in available if s in set(students)]
    unknown = sorted(set(students or []) - set(available))
    if unknown:
        print(f"no submission of {assignment!r} for: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if not chosen:
        print(f"no submissions of {assignment!r} to grade in {course / 'submitted'}", file=sys.stderr)
        return 2
    limits = limits_from(coursedir.config)
    max_writers = writers or writers_for(coursedir.db_url, jobs)
    turns = gradebook_lock.lock_path(coursedir.db_url) if max_writers > 1 else None  # None: a server database
    from assignment.instructor import writer as writer_process

    writer_process.prepare()
    pool: list[Writer] = []
    for number in range(1, min(max_writers, len(chosen)) + 1):  # before any other thread of the run
        pool.append(Writer.forked(course, log_dir / f"writer-{number}.log", siblings=pool))
    for writer in pool:
        writer.start_reading()
    if scheduler is None:
        scheduler = ParallelAutograde(config=coursedir.config).scheduler
    client = None
    if scheduler:
        from assignment.instructor.distributed import ClusterUnavailable, connect, precompute_on_cluster

        try:
            client = connect(scheduler)
        except ClusterUnavailable as error:
            for writer in pool:
                writer.close()
            print(f"cannot grade on the cluster: {error}", file=sys.stderr)
            return 2
    cache_dir = cache_folder(course, assignment)
    cache = VerdictCache(cache_dir)
    started = time.perf_counter()
    started_wall = time.time()
    tests = trusted_tests(coursedir.db_url, assignment)

    handoff = Handoff()
    finished = threading.Event()
    wake = threading.Event()

    def on_done(student: str, ok: bool) -> None:
        handoff.add(student, cached=ok)
        wake.set()

    base_args = ["autograde", assignment, "--force", f"--GradeInSandbox.cache_dir={cache_dir}"]
    min_chunk = max(MIN_CHUNK, math.ceil(len(chosen) / MAX_CHUNKS))
    done_batches: list[Batch] = []
    counter = [len(pool)]

    def new_writer() -> Writer:
        counter[0] += 1
        writer = Writer(course, log_dir / f"writer-{counter[0]}.log")
        pool.append(writer)
        return writer

    def idle_writer() -> Writer | None:
        """An idle writer, started if none is idle and fewer than ``max_writers`` are alive."""
        idle = next((w for w in pool if w.batch is None and w.alive), None)
        if idle is None and sum(w.alive for w in pool) < max_writers:
            idle = new_writer()
        return idle

    def running() -> list[Batch]:
        return [w.batch for w in pool if w.batch is not None]

    def launch(writer: Writer, batch: list[str]) -> None:
        others = sorted(set(available) - set(batch))
        args = list(base_args)
        if others:
            args.append(f"--CourseDirectory.student_id_exclude={','.join(others)}")
        counter[0] += 1
        writer.start(args, batch, log_dir / f"autograde-{counter[0]}.log", sandbox_checked=backend,
                     gradebook_lock=turns)

    def step(final: bool) -> None:
        """Reap finished batches; give the ready students to idle writers if there are enough of them."""
        for writer in pool:
            finished_batch = writer.poll()
            if finished_batch is not None:
                done_batches.append(finished_batch)
        while True:
            pending = handoff.pending(final)
            # The first run starts with the first student: it pays nbgrader's first-run set-up
            # (about a CPU second) while the sandboxes still work.
            wanted = min_chunk if any(w.batches for w in pool) else 1
            if not pending or (not final and pending < wanted):
                break
            # Several writers: small batches while the sandboxes work, and at the end an equal share of
            # the rest for each writer, busy or not (the busy ones take theirs when they are done), so
            # that no writer is left with a long batch while the others have finished.
            if max_writers == 1:
                most = None
            else:
                most = math.ceil(pending / max_writers) if final else wanted
            free = idle_writer()
            if free is None:
                break
            launch(free, handoff.take(final, most))  # ``pending`` or more now: none that arrived is lost

    phase: dict[str, Precomputed] = {}

    def run_precompute() -> None:
        try:
            if client is not None:
                phase["result"] = precompute_on_cluster(course, assignment, chosen, scheduler, cache, limits,
                                                        tests, grading_code_digest(),
                                                        on_done=on_done, client=client)
            else:
                phase["result"] = precompute(course, assignment, chosen, jobs, cache, limits,
                                             tests, on_done=on_done)
        except BaseException as error:  # the writers grade whoever is left
            print(f"warning: the sandbox phase stopped ({type(error).__name__}: {error}); "
                  f"nbgrader autograde grades the students it did not finish", file=sys.stderr)
        finally:
            finished.set()
            wake.set()

    thread = threading.Thread(target=run_precompute, name="precompute", daemon=True)
    thread.start()
    while not finished.is_set():
        wake.wait(timeout=0.5)
        wake.clear()
        step(final=False)
    thread.join()
    if client is not None:
        client.close()
    sandbox_seconds = time.perf_counter() - started
    if "result" not in phase:  # precompute itself broke: the writers grade everyone
        given = {s for w in pool for b in w.batches for s in b.students}
        handoff.leave_to_writer(sorted(set(chosen) - given))
    while True:
        step(final=True)
        if not handoff.pending(final=True) and not running():
            break
        time.sleep(0.1)
    for writer in pool:
        writer.close()
    total = time.perf_counter() - started

    failed = [w for w in done_batches if w.returncode != 0]
    logs = {writer: writer.log_path.read_text(encoding="utf-8", errors="replace") for writer in done_batches}
    not_graded = ungraded_students(coursedir, assignment, logs, since=started_wall)
    handed = {student for batch in done_batches for student in batch.students}
    for student in sorted(set(chosen) - handed):  # no batch ever held them: not graded either
        not_graded[student] = "no nbgrader autograde run was given it"
    with open(log_dir / "autograde.log", "w", encoding="utf-8") as combined:
        for writer in done_batches:
            combined.write(f"=== nbgrader {' '.join(base_args)} for {len(writer.students)} students "
                           f"(exit {writer.returncode}, {writer.seconds:.1f} s): "
                           f"{', '.join(writer.students)}\n")
            combined.write(logs[writer])
            writer.log_path.unlink()
        for process in pool:  # what a writer process printed outside its batches (a crash, say)
            stray = process.log_path.read_text(encoding="utf-8", errors="replace")
            if stray.strip():
                combined.write(f"=== writer process {process.log_path.name} (exit {process.process.returncode})\n"
                               + stray)
            process.log_path.unlink()
    for path in log_dir.glob("autograde-*.log"):  # batches that never started
        path.unlink()
    result = phase.get("result", Precomputed())
    if result.seconds:
        slowest = sorted(result.seconds.items(), key=lambda item: -item[1])[:3]
        print("slowest in the sandboxes: " + ", ".join(f"{s} {t:.1f} s" for s, t in slowest))
    for writer in failed:
        print(f"nbgrader autograde failed (exit {writer.returncode}) for: {', '.join(writer.students)}; "
              f"see {log_dir / 'autograde.log'}", file=sys.stderr, flush=True)
    tail = total - sandbox_seconds
    graded = len(chosen) - len(not_graded)
    count = f"{len(chosen)}" if not not_graded else f"{graded} of {len(chosen)}"
    print(f"graded {count} submissions in {time.perf_counter() - began:.1f} s ({started - began:.1f} s starting): "
          f"{sandbox_seconds:.1f} s in sandboxes "
          f"({f'on the Dask cluster at {scheduler}' if client is not None else f'{jobs} at a time'}), grades written by {len(done_batches)} nbgrader autograde run(s) "
          f"({max_writers} at a time), {tail:.1f} s writing after the sandboxes", flush=True)
    if not_graded:
        # The last line says what went wrong, so that a glance at the end of the output is enough.
        named = "; ".join(f"{student} ({why})" for student, why in sorted(not_graded.items()))
        print(f"FAILED: {len(not_graded)} of {len(chosen)} submissions not graded: {named}; "
              f"see {log_dir / 'autograde.log'}", flush=True)
    if failed:
        return failed[0].returncode
    return 1 if not_graded else 0


_ERROR_FOR_STUDENT = re.compile(r"There was an error processing assignment '[^']*' for student '([^']*)'")
_LOG_LEVEL = re.compile(r"^\[[^\]|]*\|\s*(ERROR|CRITICAL)\]\s*(.*)$")


def ungraded_students(coursedir: "CourseDirectory", assignment: str, logs: dict[Batch, str],
                      since: float) -> dict[str, str]:
    """The students the writers were given but did not grade in this run, each with why.

    A student counts as graded when nbgrader wrote their autograded folder during
    this run (``--force`` removes the old one first, and nbgrader removes it again
    when grading that student fails) and its log names no error for them. So a
    submission nbgrader skipped (no notebooks), one whose grading raised, and the
    students left over when an nbgrader run stopped early are all counted.

    Args:
        coursedir: the course (where the autograded folders are).
        assignment: the assignment name.
        logs: each writer's batch and the text of its log.
        since: the run's start (``time.time()``); older autograded folders are a previous run's.

    Returns:
        student -> a short reason, for every student who was not graded.
    """
    reasons: dict[str, str] = {}
    for writer, text in logs.items():
        errored = set(_ERROR_FOR_STUDENT.findall(text))
        last_error = ""
        for line in text.splitlines():
            match = _LOG_LEVEL.match(line.strip())
            if match and not match.group(2).startswith("There was an error processing"):
                last_error = match.group(2).strip()
        for student in writer.students:
            dest = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
            written = dest.is_dir() and dest.stat().st_mtime >= since - 1.0
            if written and student not in errored:
                continue
            submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
            if student in errored:
                reasons[student] = "nbgrader autograde raised an error while grading it"
            elif not any(submitted.glob("*.ipynb")):
                reasons[student] = "no notebooks in the submission: nbgrader skipped it"
            elif writer.returncode:
                reasons[student] = f"nbgrader autograde stopped (exit {writer.returncode})" + (
                    f": {last_error[:200]}" if last_error else "")
            else:
                reasons[student] = "nbgrader autograde wrote no autograded notebooks for it"
    return reasons
