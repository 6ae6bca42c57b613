"""Turning a sandboxed run into a verdict, in the trusted grader process."""

from __future__ import annotations

from dataclasses import dataclass

from assignment.instructor.grading.cases import TestCall
from assignment.instructor.grading.policy import Submission
from assignment.instructor.grading.sandbox import Outcome
from assignment.shared.questions import question
from assignment.shared.questions._compare import revealing


@dataclass(frozen=True)
class Verdict:
    """The result of one graded test.

    Fields:
        grade_id: the graded cell it belongs to.
        passed: whether the test passed.
        title: what was tested, e.g. "Test 2 of question 1.1 (Linear.forward)".
        problems: what is wrong, in a student's terms (empty when passed).
    """

    grade_id: str
    passed: bool
    title: str
    problems: tuple[str, ...] = ()

    def text(self) -> str:
        """What the student reads in the graded cell's output."""
        if self.passed:
            return f"{self.title}: passed.\n"
        return f"FAILED: {self.title}\n- " + "\n- ".join(self.problems) + "\n"


def title_of(call: TestCall) -> str:
    """What the test is called in the student's feedback, e.g. "Test 2 of question 1.1 (Linear.forward, hidden)"."""
    return question(call.key).INFO.title(call.number, hidden=True)


def blocked(grade_id: str, call: TestCall, submission: Submission) -> Verdict | None:
    """A zero without running anything, if the submission's files forbid grading this test."""
    for module in question(call.key).INFO.files:
        why = submission.problem_for(module)
        if why:
            return Verdict(grade_id, False, title_of(call), (why,))
    return None


def judge(grade_id: str, call: TestCall, outcome: Outcome) -> Verdict:
    """Compare a run's answers with the expected ones (never runs student code).

    The question's own ``check`` does it, here in the grader's process: for the training
    check, from the trained parameters, with the grader's own forward pass (no prediction
    or accuracy made in the sandbox counts).
    """
    title = title_of(call)
    if outcome.error is not None:
        return Verdict(grade_id, False, title, (outcome.error,))
    try:
        with revealing(call.number == 1):
            problems = question(call.key).check(call.case, outcome.outputs)
    except Exception as error:  # a malformed answer must score zero, not crash the grader
        problems = [f"the answer could not be checked ({type(error).__name__}: {error})"]
    return Verdict(grade_id, not problems, title, tuple(problems))
