"""The autograde preprocessor: every graded cell's verdict comes from the sandbox.

Configured in ``nbgrader_config.py`` in place of nbgrader's ``Execute``, so
``nbgrader autograde`` (and formgrader's Autograde button) never runs student
code in a kernel. For each graded cell of the notebook, as recorded in the
gradebook, it reads the test from the gradebook's copy of the cell, runs it
on the student's ``mytorch/*.py`` in a fresh sandbox and writes the verdict
into the cell's output: a pass on stdout, a failure on stderr, which is how
nbgrader's own ``SaveAutoGrades`` scores a test cell (stderr -> 0 points).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.api import Gradebook
from nbgrader.converters import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Enum, Float, Integer, Unicode

from assignment.instructor.grading import ignore_patterns, timing
from assignment.instructor.grading.graded_code import question_of_test, settle_comment_cells, show_graded_code
from assignment.instructor.grading.policy import read_submission, write_package
from assignment.instructor.grading.reader import TolerantNotebookExporter
from assignment.instructor.grading.run_cache import RunCache, StudentGrading, run_cache_of
from assignment.instructor.grading.grader import VerdictCache, grade_submission
from assignment.instructor.grading.sandbox import PREFERENCES, Limits, SandboxUnavailable, describe_backend, submission_dir
from assignment.instructor.grading.trusted_tests import read_tests
from assignment.instructor.grading.verdicts import Verdict

# nbgrader's is_ignored, exactly, without listing every submission per file (ignore_patterns.py): in
# every process that grades with the course's configuration, which imports this module.
ignore_patterns.install()

NOT_RUN = ("This cell was not run: the autograder runs no notebook code. Your grade comes "
           "from the tests, run on your mytorch/*.py files in a clean, separate process.")


REFUSAL = "refusing to grade: no sandbox can run here"


class GradeInSandbox(NbGraderPreprocessor):
    """Grade every test cell of a notebook in the sandbox and write the verdicts into the cells."""

    jobs = Integer(0, help="Sandboxes run at once (0: one per CPU core).").tag(config=True)
    backend = Enum(PREFERENCES, default_value="auto",
                   help="The sandbox: 'bubblewrap' (user namespaces), 'landlock' (Landlock and seccomp, for "
                        "containers without user namespaces) or 'auto' (bubblewrap where it works, else "
                        "landlock). Grading refuses when the chosen one cannot run.").tag(config=True)
    timeout = Float(20.0, help="Seconds of CPU time one test may take at most (and 2 times that of wall-clock "
                               "time). Where the reference's own times were measured (at generate_assignment), "
                               "the limit is derived from them and may be lower.").tag(config=True)
    training_timeout = Float(120.0, help="Seconds of CPU time the training check may take at most (2 times that "
                                         "of wall-clock time; derived from the reference's time where measured, "
                                         "like timeout).").tag(config=True)
    memory_mib = Integer(1536, help="Memory (address space) one test may use, in MiB.").tag(config=True)
    cache_dir = Unicode("", help="Folder of cached verdicts (set by the parallel command); empty: none.").tag(config=True)

    def preprocess(self, nb, resources):
        name, why = describe_backend(self.backend)
        if name is None:
            raise SandboxUnavailable(f"{REFUSAL} ({why})")
        info = resources["nbgrader"]
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        cache = run_cache_of(self)
        if cache is not None:  # read once per run (run_cache.py)
            of_assignment = cache.assignment_tests(info["db_url"], assignment, read_tests)
        else:
            with Gradebook(info["db_url"]) as gb:
                of_assignment = read_tests(gb, assignment)
        tests = of_assignment.get(notebook, {})

        def grade() -> StudentGrading:
            coursedir = CourseDirectory(parent=self)
            submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
            submission = read_submission(submitted)
            # nbgrader converts one notebook at a time; the whole assignment's tests are graded at the
            # first one (sandboxes of different notebooks overlap: a loop in one question and the
            # training check it also breaks cost one limit, not two in a row) and kept for the others.
            everything = {grade_id: call for of_notebook in of_assignment.values()
                          for grade_id, call in of_notebook.items()}
            copy = submission_dir()  # in the grader's private 0700 folder
            try:
                write_package(submission, copy)
                graded = self._grade_all(everything, submission, copy, _memory_for(student, assignment, submission))
            finally:
                shutil.rmtree(copy, ignore_errors=True)
            return StudentGrading(submission=submission, verdicts=graded)

        # With a run cache, the student's files are read and their verdicts gathered at their first
        # notebook only: the same files and the same verdicts (every one of the assignment's tests
        # was graded, or found in the verdict cache, at the first notebook).
        grading = cache.student(student, assignment, grade) if cache is not None else grade()
        verdicts = {grade_id: grading.verdicts[grade_id] for grade_id in tests}
        self._write_verdicts(nb, verdicts, grading.submission, grading.parsed)
        cells = cache.notebook_cells(info["db_url"], notebook, assignment) if cache is not None else None
        settle_comment_cells(info["db_url"], notebook, assignment, student,
                             zero_point_tasks=None if cells is None else
                             [name for name, points in cells.tasks.items() if points == 0.0])
        passed = sum(v.passed for v in verdicts.values())
        self.log.info("%s/%s/%s: %d of %d tests passed (graded in the sandbox)",
                      student, assignment, notebook, passed, len(verdicts))
        return nb, resources

    def limits(self) -> dict[str, Limits]:
        """The limits of one test of each time allowance (a question's ``INFO.allowance``: "test",
        or "training" for the training check): derived from the reference's measured times where the
        course has them (``timing``), never above this preprocessor's settings (``timeout``,
        ``training_timeout``). The allowance is CPU time; wall-clock time may reach
        ``timing.WALL_PER_CPU`` times it."""
        memory = self.memory_mib * 2**20
        coursedir = CourseDirectory(parent=self)
        ceilings = {"test": self.timeout, "training": self.training_timeout}
        return {allowance: Limits(wall_seconds=timing.WALL_PER_CPU * seconds, cpu_seconds=max(1, math.ceil(seconds)),
                                  memory_bytes=memory, backend=self.backend)
                for allowance, seconds in timing.derived_limits(Path(coursedir.root), ceilings).items()}

    def _grade_all(self, tests: dict, submission, package_copy: Path, memory: "_MemoryCache") -> dict[str, Verdict]:
        cache = VerdictCache(Path(self.cache_dir)) if self.cache_dir else memory
        return grade_submission(tests, submission, package_copy, limits=self.limits(),
                                jobs=self.jobs or os.cpu_count() or 1, cache=cache, log=self.log.error)

    @staticmethod
    def _write_verdicts(nb, verdicts: dict[str, Verdict], submission=None, parsed: dict | None = None) -> None:
        """Write each test cell's verdict, each question's graded code, and why the other cells are empty.

        Args:
            nb: the notebook being autograded (changed in place).
            verdicts: grade_id -> verdict of this notebook's test cells (from the gradebook's tests).
            submission: the ``policy.Submission`` graded; its methods fill the graded-code cells
                (``graded_code``). None: those cells stay empty.
            parsed: the submission's files already parsed for ``show_graded_code`` (filled in as it
                parses them; kept for the student's other notebooks); None: parsed for this notebook.
        """
        keys = {question_of_test(grade_id) for grade_id in verdicts} - {None}
        shown = show_graded_code(nb, submission, keys, parsed) if submission is not None else {}
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            cell.execution_count = None
            if grade_id in verdicts:
                verdict = verdicts[grade_id]
                name = "stdout" if verdict.passed else "stderr"
                cell.outputs = [new_output("stream", name=name, text=verdict.text())]
            elif grade_id in shown:
                cell.outputs = [shown[grade_id]]
            else:
                cell.outputs = []
        for cell in nb.cells:  # say why the other cells are empty, once, on the first ungraded code cell
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and grade_id not in verdicts and grade_id not in shown:
                cell.outputs = [new_output("stream", name="stdout", text=NOT_RUN + "\n")]
                break


class _MemoryCache:
    """The verdicts of the submission being graded, by fingerprint (``VerdictCache``'s interface, in memory)."""

    def __init__(self) -> None:
        self.verdicts: dict[str, Verdict] = {}

    def get(self, key: str) -> Verdict | None:
        return self.verdicts.get(key)

    def put(self, key: str, verdict: Verdict) -> None:
        self.verdicts[key] = verdict


_memory: dict[tuple, _MemoryCache] = {}


def _memory_for(student: str, assignment: str, submission) -> _MemoryCache:
    """The in-memory verdicts of this submission; those of the submission graded before are dropped."""
    key = (student, assignment, tuple(sorted(submission.files.items())), tuple(sorted(submission.problems.items())),
           submission.missing)
    if key not in _memory:
        _memory.clear()
        _memory[key] = _MemoryCache()
    return _memory[key]


def require_sandbox(configurable) -> str:
    """The backend grading will use (logged), or NbGraderException after logging one line saying why none.

    Args:
        configurable: an nbgrader object whose config holds ``c.GradeInSandbox.backend``.
    """
    grader = GradeInSandbox(parent=configurable, config=configurable.config)
    name, why = describe_backend(grader.backend)
    if name is None:
        line = f"{REFUSAL} ({why}); nothing was graded and previous results are untouched"
        configurable.log.error(line)
        raise NbGraderException(line)
    configurable.log.info("grading sandbox: %s (%s)", name, why)
    return name


class SandboxCheckedExporter(TolerantNotebookExporter):
    """The autograde exporter (``c.Autograde.exporter_class``), which refuses to exist without a sandbox.

    nbgrader's autograde converter builds its exporter once, when it starts: before
    it looks at any submission, and so before ``--force`` removes a student's
    previous autograded notebooks (and their grades with them). Building this one
    checks the sandbox backend (``c.GradeInSandbox.backend``); if none can run it
    logs one line and raises ``NbGraderException``: ``nbgrader autograde`` exits
    with 1, formgrader's Autograde button shows the line, and every existing
    autograded notebook stays as it was. Otherwise it is the course's tolerant
    exporter (``reader.TolerantNotebookExporter``), unchanged.
    """

    reuse_within_run = Bool(True, help="In an nbgrader command's own process (never in formgrader's server): "
                                       "read what one autograde run cannot change once per run, not once per "
                                       "notebook or cell (run_cache.py). The grades and notebooks written are "
                                       "the same either way.").tag(config=True)

    optimistic_validation = Bool(True, help="Validate each converted notebook once, after its last preprocessor "
                                            "(nbconvert's own option), not after every one of twelve: the reader has "
                                            "validated it before the first, and one that ends invalid fails as "
                                            "before. False: after each (nbconvert's default).").tag(config=True)

    exact_ignore = Bool(True, help="nbgrader's is_ignored answered by ignore_patterns.is_ignored (the same answers, "
                                   "without listing every submission for each file); False: nbgrader's own, in this "
                                   "process, from this exporter on.").tag(config=True)

    def __init__(self, *args, **kw):
        parent = kw.get("parent")
        if parent is not None:
            require_sandbox(parent)
        super().__init__(*args, **kw)
        # built before autograde walks any folder (its first find_all_files is in init_assignment)
        ignore_patterns.install(self.exact_ignore)
        if speed_up_a_command_line_run() and self.reuse_within_run:
            from assignment.instructor.grading import notebook_writes
            from assignment.instructor.writer import install_validation_memos

            # this exporter is its converter's, and the converter one run's: the cache ends with the run
            self.run_cache = RunCache()
            install_validation_memos()
            notebook_writes.install()


def speed_up_a_command_line_run() -> bool:
    """In an ``nbgrader`` command's own process, remove nbgrader's repeated set-up work for its lifetime.

    ``writer.install_speedups``: one database engine per gradebook URL instead of one per
    gradebook access (each also re-checks every table), and each metadata schema checked
    against its meta-schema once. That is sound for a process that ends with its one command,
    which is what the ``nbgrader`` command line is; not for formgrader's long-lived server,
    which may outlive the gradebook file it first opened, so there nothing changes.

    Returns:
        Whether the speed-ups are on in this process.
    """
    from nbgrader.apps.baseapp import NbGrader
    from traitlets.config import Application

    # The process's application: `nbgrader autograde` makes its AutogradeApp the instance (an
    # NbGrader app); in formgrader it is the Jupyter server, which builds converters directly.
    if not (Application.initialized() and isinstance(Application.instance(), NbGrader)):
        return False
    from assignment.instructor.writer import install_speedups

    install_speedups()
    return True
