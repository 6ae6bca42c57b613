"""The training check as a question like the nine (``assignment/shared/questions/training_accuracy.py``).

Checked with the reference mytorch, real training on the digits and a real sandbox:

- all ten graded questions have the same interface, and what differs is data in INFO;
- forged reports (an accuracy, predictions, extra or missing entries, impossible
  divergence records) are malformed by the question's own form, shown nothing;
- a "classifier" that is a nearest-neighbour lookup and trains no MLP fails, although
  its own predictions are nearly perfect;
- the accuracy the check computes outside the sandbox, with its own forward pass, is
  the accuracy of the trained network, and the sandbox reports parameters, never it;
- one grading run times the training check with its allowance's limits, the nine with theirs.
"""

from __future__ import annotations

import copy
import types

import numpy as np
import pytest

from assignment.shared.data import load_digits
from assignment.instructor.grading import transport
from assignment.instructor.grading import cases
from assignment.instructor.grading.cases import parse_test_call
from assignment.instructor.grading.grader import fingerprint, grade_submission, limits_of
from assignment.instructor.grading.policy import read_submission, write_package
from assignment.instructor.grading.sandbox import Limits, describe_backend, submission_dir
from assignment.shared.questions import GRADED_KEYS, KEYS, TRAINING_KEY, question
from assignment.shared.questions import training_accuracy as training
from assignment.shared.questions._forms import MALFORMED
from assignment.shared.training import accuracy, mlp_layers
from course_tools import ROOT
from mytorch import nn as ref_nn
from mytorch import optim as ref_optim

CASE = {"sizes": [64, 32, 10], "epochs": 8, "lr": 0.1, "batch_size": 32, "seed": 0, "min_accuracy": 0.9}
MALFORMED_START = MALFORMED.split("(")[0]


def roundtrip(value):
    """What the grader reads of a report the sandbox sends."""
    return transport.loads(transport.dumps(value))


@pytest.fixture(scope="module")
def report() -> dict:
    """The reference mytorch's report on CASE, as it reaches the grader."""
    return roundtrip(training.run(ref_nn, ref_optim, CASE))


def test_ten_graded_questions_one_interface():
    assert GRADED_KEYS == KEYS + (TRAINING_KEY,) and len(GRADED_KEYS) == 10
    for key in GRADED_KEYS:
        q = question(key)
        assert q.INFO.key == key and all(callable(getattr(q, name)) for name in ("run", "form", "check", "shown"))
    info = question(TRAINING_KEY).INFO
    assert (info.allowance, info.files, info.imports) == ("training", ("mytorch/nn.py", "mytorch/optim.py"),
                                                           ("mytorch.nn", "mytorch.optim"))
    assert (info.grade_id(1), info.short, info.after) == ("training_accuracy", "train", KEYS)
    assert {question(key).INFO.allowance for key in KEYS} == {"test"}
    assert [question(key).INFO.grade_id(2) for key in KEYS[:1]] == ["linear_forward_2"]
    # The notebook's locked cell, read as the grader reads it.
    call = parse_test_call("check_training(sizes=[64, 64, 10], epochs=15, lr=0.1, batch_size=32, seed=0, "
                           "min_accuracy=0.9)")
    assert (call.key, call.number, "min_accuracy" in call.inputs) == (TRAINING_KEY, 1, False)


def test_the_reference_passes_and_the_report_holds_parameters_only(report):
    assert set(report) == {"parameters", "diverged"} and report["diverged"] is None
    assert [(layer["weight"].shape, layer["bias"].shape) for layer in report["parameters"]] == \
        [((64, 32), (1, 32)), ((32, 10), (1, 10))]
    assert training.check(CASE, report) == []
    (label, yours, expected), = training.shown(CASE, report)
    assert label == "test accuracy" and yours.endswith("after 8 epochs") and expected == "at least 90%"


def test_forged_reports_are_malformed_by_the_form(report):
    labels = load_digits().y_test
    good = report["parameters"]
    forged = [
        {"accuracy": 1.0},
        {"predictions": labels.copy()},
        {"parameters": good, "diverged": None, "accuracy": 1.0},  # an extra claim beside real parameters
        {"parameters": good},  # the divergence entry left out
        {"parameters": good[:1], "diverged": None},  # a layer dropped
        {"parameters": good * 2, "diverged": None},  # layers added
        {"parameters": [{**layer, "predictions": labels} for layer in good], "diverged": None},
        {"parameters": "trained, trust me", "diverged": None},
        {"parameters": good, "diverged": {"loss": float("nan"), "epoch": 0, "step": 1}},  # no epoch 0
        {"parameters": good, "diverged": {"loss": float("nan"), "epoch": CASE["epochs"] + 1, "step": 1}},
        {"parameters": good, "diverged": {"loss": float("nan"), "epoch": 1}},
        {"parameters": good, "diverged": "never"},
        [good],
        None,
    ]
    for outputs in forged:
        problems = training.check(CASE, outputs)
        assert len(problems) == 1 and problems[0].startswith(MALFORMED_START), (outputs, problems)
        assert training.shown(CASE, outputs) == []


class _Lookup(ref_nn.Sequential):
    """A "network" that remembers the training batches it has seen (their labels taken from the loss)
    and answers by nearest neighbour; its backward trains nothing."""

    def __init__(self, *layers):
        super().__init__(*layers)
        self.seen, self.labels, self.last = [], [], None

    def forward(self, x):
        self.last = x
        scores = np.zeros((len(x), 10), dtype=x.dtype)
        if self.seen:
            seen, labels = np.concatenate(self.seen), np.concatenate(self.labels)
            distance = (seen ** 2).sum(axis=1)[None, :] - 2 * x @ seen.T
            scores[np.arange(len(x)), labels[np.argmin(distance, axis=1)]] = 10.0
        return scores

    def backward(self, loss_function):
        if self.last is not None:
            self.seen.append(self.last)
            self.labels.append(np.argmax(loss_function.one_hot, axis=1))
            self.last = None


def test_a_nearest_neighbour_classifier_without_an_mlp_fails(monkeypatch):
    models = []

    class Remembered(_Lookup):
        def __init__(self, *layers):
            super().__init__(*layers)
            models.append(self)

    student_nn = types.SimpleNamespace(**{name: getattr(ref_nn, name) for name in dir(ref_nn)
                                          if not name.startswith("__")})
    student_nn.Sequential = Remembered
    outputs = roundtrip(training.run(student_nn, ref_optim, CASE))
    digits = load_digits()
    own = accuracy(models[-1], digits.x_test, digits.y_test)
    assert own > 0.9  # its own predictions would have passed
    problems = training.check(CASE, outputs)
    assert problems and "test accuracy; at least 90% is expected" in problems[0], problems
    assert "is chance level" in problems[-1]  # nothing was trained: the untrained MLP guesses


def test_the_accuracy_computed_outside_is_the_trained_networks(report):
    """The check's own forward pass (float64, X W + b and ReLU) agrees with running the trained
    network through the reference mytorch, to within ties at the last digit."""
    digits = load_digits()
    layers = mlp_layers(ref_nn, CASE["sizes"], seed=CASE["seed"])
    for layer, trained in zip(layers[::2], report["parameters"]):
        layer.weight, layer.bias = trained["weight"], trained["bias"]
    network = accuracy(ref_nn.Sequential(*layers), digits.x_test, digits.y_test)
    ours = training.accuracy_of_parameters(report["parameters"])
    assert abs(ours - network) <= 1.5 / len(digits.y_test), (ours, network)
    assert ours > CASE["min_accuracy"]
    # Scaling the last layer's weights changes no argmax, hence no accuracy; zeroing them does.
    scaled = copy.deepcopy(report)
    scaled["parameters"][-1]["weight"] *= 3.0
    scaled["parameters"][-1]["bias"] *= 3.0
    assert training.accuracy_of_parameters(scaled["parameters"]) == ours
    scaled["parameters"][-1]["weight"][:] = 0.0
    scaled["parameters"][-1]["bias"][:] = 0.0
    assert training.accuracy_of_parameters(scaled["parameters"]) < 0.2


def test_a_diverging_run_is_named_from_its_report():
    """A loss that becomes infinite is reported with its epoch and step, and named in the verdict."""
    class Overflowing(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):
            super().forward(logits, labels)
            return float("inf")

    student_nn = types.SimpleNamespace(**{name: getattr(ref_nn, name) for name in dir(ref_nn)
                                          if not name.startswith("__")})
    student_nn.CrossEntropyLoss = Overflowing
    case = {**CASE, "min_accuracy": 0.99}
    outputs = roundtrip(training.run(student_nn, ref_optim, case))
    assert outputs["diverged"] == {"loss": float("inf"), "epoch": 1, "step": 1}
    problems = training.check(case, outputs)
    assert any(p.startswith("the loss became inf at epoch 1, step 1") for p in problems), problems


def test_one_grading_run_gives_each_question_its_allowances_limits(tmp_path):
    """The training check and a question of the nine, graded by ``grade_submission`` in a real sandbox:
    each gets its allowance's limits (and its cache key follows them), the verdicts are the reference's."""
    backend, why = describe_backend("auto")
    assert backend is not None, why
    submission = read_submission(ROOT)  # the reference mytorch, as the release build measures it
    tests = {"training_accuracy": cases.TestCall(TRAINING_KEY, 1, {**CASE}),
             "linear_forward_1": parse_test_call(_visible_test("linear_forward"))}
    limits = {"test": Limits(wall_seconds=8, cpu_seconds=4, backend="auto"),
              "training": Limits(wall_seconds=60, cpu_seconds=30, backend="auto")}
    assert limits_of(tests["training_accuracy"], limits).cpu_seconds == 30
    assert limits_of(tests["linear_forward_1"], limits).cpu_seconds == 4
    longer = {**limits, "training": Limits(wall_seconds=80, cpu_seconds=40, backend="auto")}
    assert fingerprint(tests["training_accuracy"], submission, limits_of(tests["training_accuracy"], limits)) != \
        fingerprint(tests["training_accuracy"], submission, limits_of(tests["training_accuracy"], longer))
    copy_dir = submission_dir()
    try:
        write_package(submission, copy_dir)
        verdicts = grade_submission(tests, submission, copy_dir, limits=limits)
    finally:
        import shutil

        shutil.rmtree(copy_dir, ignore_errors=True)
    assert all(v.passed for v in verdicts.values()), verdicts
    assert verdicts["training_accuracy"].title == "Training check: an MLP made of your mytorch learns the digits"
    assert verdicts["linear_forward_1"].title == "Test 1 of question 1.1 (Linear.forward)"


def _visible_test(key: str) -> str:
    """The source of question ``key``'s visible test cell in the source notebooks."""
    import nbformat

    info = question(key).INFO
    nb = nbformat.read(str(ROOT / "source" / "mlp" / f"{info.notebook}.ipynb"), as_version=4)
    (source,) = [cell.source for cell in nb.cells
                 if cell.metadata.get("nbgrader", {}).get("grade_id") == info.grade_id(1)]
    return source
