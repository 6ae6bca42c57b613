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

import os
import tempfile
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from assignment.grading.cases import CaseError, parse_test_call
from assignment.grading.policy import read_submission, write_package
from assignment.grading.grader import VerdictCache, grade_submission
from assignment.grading.sandbox import Limits, SandboxUnavailable, bwrap_available
from assignment.grading.verdicts import Verdict

NOT_RUN = ("This cell was not run: the autograder runs no notebook code. Your grade comes "
           "from the tests, run on your mytorch/*.py files in a clean, separate process.")


def tests_of(gb: Gradebook, notebook, assignment: str) -> dict:
    """grade_id -> parsed test call of one gradebook notebook's graded code cells, or the error
    met while reading it (the tests are read from the gradebook, never from the student's file)."""
    tests = {}
    for grade_cell in notebook.grade_cells:
        if grade_cell.cell_type != "code":
            continue
        try:
            source = gb.find_source_cell(grade_cell.name, notebook.name, assignment).source
            tests[grade_cell.name] = parse_test_call(source)
        except (MissingEntry, CaseError) as error:
            tests[grade_cell.name] = error
    return tests


class GradeInSandbox(NbGraderPreprocessor):
    """Grade every test cell of a notebook in the sandbox and write the verdicts into the cells."""

    jobs = Integer(0, help="Sandboxes run at once (0: one per CPU core).").tag(config=True)
    timeout = Float(20.0, help="Wall-clock seconds one test may take.").tag(config=True)
    training_timeout = Float(120.0, help="Wall-clock seconds the training check may take.").tag(config=True)
    memory_mib = Integer(1536, help="Memory (address space) one test may use, in MiB.").tag(config=True)
    cache_dir = Unicode("", help="Folder of cached verdicts (set by the parallel command); empty: none.").tag(config=True)

    def preprocess(self, nb, resources):
        why_not = bwrap_available()
        if why_not:
            raise SandboxUnavailable(f"refusing to grade without the sandbox: {why_not}")
        info = resources["nbgrader"]
        student, assignment, notebook = info["student"], info["assignment"], info["notebook"]
        coursedir = CourseDirectory(parent=self)
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
        tests = self._trusted_tests(info["db_url"], notebook, assignment)
        submission = read_submission(submitted)
        with tempfile.TemporaryDirectory(prefix="mytorch-submission-") as copy:
            write_package(submission, Path(copy))
            verdicts = self._grade_all(tests, submission, Path(copy))
        self._write_verdicts(nb, verdicts)
        passed = sum(v.passed for v in verdicts.values())
        self.log.info("%s/%s/%s: %d of %d tests passed (graded in the sandbox)",
                      student, assignment, notebook, passed, len(verdicts))
        return nb, resources

    def _trusted_tests(self, db_url: str, notebook: str, assignment: str) -> dict:
        """grade_id -> parsed test call, or the CaseError met while reading it, from the gradebook."""
        with Gradebook(db_url) as gb:
            try:
                return tests_of(gb, gb.find_notebook(notebook, assignment), assignment)
            except MissingEntry:
                return {}

    def limits(self) -> tuple[Limits, Limits]:
        """The limits of one test and of the training test, from this preprocessor's settings."""
        memory = self.memory_mib * 2**20
        return (Limits(wall_seconds=self.timeout, cpu_seconds=int(self.timeout) + 1, memory_bytes=memory),
                Limits(wall_seconds=self.training_timeout, cpu_seconds=int(self.training_timeout) + 1,
                       memory_bytes=memory))

    def _grade_all(self, tests: dict, submission, package_copy: Path) -> dict[str, Verdict]:
        limits, training_limits = self.limits()
        cache = VerdictCache(Path(self.cache_dir)) if self.cache_dir else None
        return grade_submission(tests, submission, package_copy, limits=limits, training_limits=training_limits,
                                jobs=self.jobs or os.cpu_count() or 1, cache=cache, log=self.log.error)

    @staticmethod
    def _write_verdicts(nb, verdicts: dict[str, Verdict]) -> None:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            cell.execution_count = None
            if grade_id in verdicts:
                verdict = verdicts[grade_id]
                name = "stdout" if verdict.passed else "stderr"
                cell.outputs = [new_output("stream", name=name, text=verdict.text())]
            else:
                cell.outputs = []
        for cell in nb.cells:  # say why the other cells are empty, once, on the first ungraded code cell
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") not in verdicts:
                cell.outputs = [new_output("stream", name="stdout", text=NOT_RUN + "\n")]
                break
