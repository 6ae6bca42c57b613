"""Turning a sandboxed run into a verdict, in the trusted grader process."""

from __future__ import annotations

from dataclasses import dataclass

from assignment.grading.cases import TestCall
from assignment.grading.policy import Submission
from assignment.grading.sandbox import Outcome
from assignment.questions import question
from assignment.questions._compare import revealing
from assignment.training_check import judge_training


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
    if call.kind == "training":
        return "Training check: an MLP made of your mytorch learns the digits"
    info = question(call.key).INFO
    hidden = "" if call.number == 1 else ", hidden"
    return f"Test {call.number} of question {info.number} ({info.method}{hidden})"


def module_of(call: TestCall) -> str:
    """The student file a test depends on ("all" for the training check)."""
    return "all" if call.kind == "training" else question(call.key).INFO.module


def blocked(grade_id: str, call: TestCall, submission: Submission) -> Verdict | None:
    """A zero without running anything, if the submission's files forbid grading this test."""
    modules = ["mytorch/nn.py", "mytorch/optim.py"] if module_of(call) == "all" else [module_of(call)]
    for module in modules:
        why = submission.problem_for(module)
        if why:
            return Verdict(grade_id, False, title_of(call), (why,))
    return None


def judge(grade_id: str, call: TestCall, outcome: Outcome) -> Verdict:
    """Compare a run's answers with the expected ones (never runs student code)."""
    title = title_of(call)
    if outcome.error is not None:
        return Verdict(grade_id, False, title, (outcome.error,))
    try:
        if call.kind == "training":
            # Scored here from the trained parameters, by the grader's own forward pass: no
            # prediction or accuracy made in the sandbox counts.
            problems = judge_training(call.case, outcome.outputs)
        else:
            with revealing(call.number == 1):
                problems = question(call.key).check(call.case, outcome.outputs)
    except Exception as error:  # a malformed answer must score zero, not crash the grader
        problems = [f"the answer could not be checked ({type(error).__name__}: {error})"]
    return Verdict(grade_id, not problems, title, tuple(problems))
