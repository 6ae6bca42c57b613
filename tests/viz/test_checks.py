"""The notebooks' checks (``assignment.student.checks``) and the rules they share with the visualizers:
the student's own line, ``*`` where ``@`` is meant, time limits, readable arrays, training
diagnoses, and one rule for gradient shapes."""

from __future__ import annotations

import ast
import copy
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from assignment.student import checks, viz
from assignment.shared.questions import question
from assignment.instructor.release.stubs import BEGIN, END, derive_stub
from mytorch import nn as ref_nn
from mytorch import optim as ref_optim
from viz_fakes import with_class

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from course_tools import import_student_package, test_cases  # noqa: E402

VISIBLE = {tc.key: tc for tc in test_cases() if tc.number == 1}


def _given_code(source: str) -> tuple[set[str], dict[str, set[str]]]:
    """The given functions and the given lines of the other functions, from the solution markers."""
    lines = source.splitlines()
    inside, start = set(), None
    for number, text in enumerate(lines, 1):
        if BEGIN in text:
            start = number
        elif END in text and start is not None:
            inside.update(range(start, number + 1))
            start = None
    functions, given = set(), {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.FunctionDef):
                name = prefix + child.name
                if not inside.intersection(range(child.lineno, child.end_lineno + 1)):
                    functions.add(name)
                    continue
                body = child.body[1:] if isinstance(child.body[0], ast.Expr) else child.body  # the docstring
                given[name] = {lines[n - 1].strip() for stmt in body for n in range(stmt.lineno, stmt.end_lineno + 1)
                               if n not in inside and lines[n - 1].strip() and not lines[n - 1].strip().startswith("#")}

    visit(ast.parse(source), "")
    return functions, given


def test_the_given_code_table_matches_the_reference_markers():
    functions, given = set(), {}
    for name in ("nn.py", "optim.py"):
        f, g = _given_code((ROOT / "mytorch" / name).read_text())
        functions |= f
        given.update(g)
    assert functions == set(checks.GIVEN_FUNCTIONS)
    assert given == {name: set(lines) for name, lines in checks.GIVEN_LINES.items()}
    # The functions with a region are exactly the questions' methods.
    from assignment.shared.questions import KEYS
    assert set(given) == {question(key).INFO.method for key in KEYS}


def _student(tmp_path: Path, edit) -> tuple:
    """A student's mytorch (the reference, solved, then ``edit``ed), imported from a mytorch/ folder."""
    folder = tmp_path / "mytorch"
    folder.mkdir()
    for path in (ROOT / "mytorch").glob("*.py"):
        text = derive_stub(path.read_text(), f"mytorch/{path.name}", solve=lambda hint: True)
        (folder / path.name).write_text(edit(path.name, text))
    return import_student_package(folder, tmp_path / "imported")


def _walk_forward(name: str, text: str) -> str:
    if name != "nn.py":
        return text
    assert "for layer in reversed(self.layers):" in text
    return text.replace("for layer in reversed(self.layers):", "for layer in self.layers:")


def test_a_given_shape_check_is_blamed_on_the_students_line(tmp_path):
    nn, optim = _student(tmp_path, _walk_forward)
    expected = "line {}: `grad = layer.backward(grad)`".format(
        next(i for i, line in enumerate(Path(nn.__file__).read_text().splitlines(), 1)
             if "grad = layer.backward(grad)" in line))
    # the visualizer, the dashboard and the tests' own wording all quote Sequential.backward's line
    w = viz.sequential_backward(nn)
    assert expected in w.status_text and "_expect_shape" not in w.status_text, w.status_text
    board = viz.training_dashboard(nn, optim, autorun=True)
    assert expected in board.status_text, board.status_text
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    loss = nn.CrossEntropyLoss()
    loss.forward(model.forward(np.ones((2, 3))), np.array([0, 1]))
    with pytest.raises(ValueError) as raised:
        model.backward(loss)
    message = checks.student_error(raised.value, "Sequential.backward")
    assert "(mytorch/nn.py, " + expected in message
    assert checks.student_function(raised.value) == "Sequential.backward"


def test_star_where_at_is_meant_is_named(tmp_path):
    def star(name: str, text: str) -> str:
        return text.replace("return x @ self.weight + self.bias", "return x * self.weight + self.bias")

    nn, _ = _student(tmp_path, star)
    w = viz.linear_forward(nn)
    assert "looks like * (elementwise) where @ (matrix product) is needed" in w.status_text
    assert "could not be broadcast" not in w.status_text
    assert "`return x * self.weight + self.bias`" in w.status_text
    layer = nn.Linear(3, 4)
    with pytest.raises(ValueError) as raised:
        layer.forward(np.ones((2, 3)))
    message = checks.student_error(raised.value, "Linear.forward")
    assert message.startswith("Linear.forward: your line looks like * (elementwise) where @ (matrix product) is "
                              "needed: arrays shaped (2, 3) and (3, 4)")


def test_an_elementwise_product_that_is_meant_gets_no_hint():
    with pytest.raises(ValueError) as raised:
        np.ones((2, 3)) * np.ones((4, 5))  # no matrix product exists either
    assert checks.operator_hint(raised.value) == ""
    with pytest.raises(ValueError) as raised:
        np.ones((2, 3)) + np.ones((3, 4))  # no product on the line
    assert checks.operator_hint(raised.value) == ""


def _looping(capsys, monkeypatch, key: str, classes: dict) -> str:
    monkeypatch.setattr(checks, "TEST_TIME_LIMIT", 0.5)
    monkeypatch.setattr(checks, "_student_modules", lambda: (with_class(**classes), ref_optim))
    checks.run_test(key, 1, **copy.deepcopy(VISIBLE[key].case))
    return capsys.readouterr().err


def test_run_test_stops_an_endless_loop(capsys, monkeypatch):
    class ReLU(ref_nn.ReLU):
        def forward(self, x):
            while True:
                pass

    err = _looping(capsys, monkeypatch, "relu_forward", {"ReLU": ReLU})
    assert "ReLU.forward did not finish within 0.5 s: an endless loop?" in err
    assert "`while True:`" in err


def test_run_test_stops_a_loop_that_swallows_the_interruption(capsys, monkeypatch):
    class Stubborn(ref_nn.ReLU):
        def forward(self, x):
            for _ in range(3):
                try:
                    while True:
                        pass
                except BaseException:  # noqa: BLE001 - what a careless student writes
                    pass
            while True:
                pass

    err = _looping(capsys, monkeypatch, "relu_forward", {"ReLU": Stubborn})
    assert "did not finish within 0.5 s: an endless loop?" in err


def test_arrays_are_printed_in_short_fixed_notation(capsys, monkeypatch):
    monkeypatch.setattr(checks, "_student_modules", lambda: (ref_nn, ref_optim))
    checks.run_test("xeloss_backward", 1, **copy.deepcopy(VISIBLE["xeloss_backward"].case))
    out = capsys.readouterr().out
    assert "Passed." in out
    assert "e-0" not in out and "e+0" not in out, out
    assert "0.4195" in out and "0.419512253" not in out, out
    assert checks.format_value(np.array([[8.39024507e-01, 1e-9]])) == "[[0.839 0.000]]"
    assert checks.format_value(2.1545793610744024) == "2.15458"


def test_check_training_matches_the_graders_accuracy(capsys, monkeypatch):
    from assignment.shared.questions import training_accuracy as training

    case = dict(sizes=[64, 16, 10], epochs=2, lr=0.1, batch_size=32, seed=0)
    monkeypatch.setattr(checks, "_student_modules", lambda: (ref_nn, ref_optim))
    checks.check_training(**case, min_accuracy=0.5)
    out = capsys.readouterr().out
    graders = training.accuracy_of_parameters(training.run(ref_nn, ref_optim, case)["parameters"])
    assert out.startswith("Training check: an MLP made of your mytorch learns the digits\n"), out
    assert f"Your test accuracy:\n{graders:.1%} after 2 epochs\nExpected test accuracy:\nat least 50%" in out
    assert "Passed." in out


def test_check_training_scores_the_trained_parameters_not_the_students_predictions(capfd, monkeypatch):
    """A network that learns nothing but whose forward looks the test answers up would pass a check that
    scores its predictions; the visible check scores the trained parameters, as the grader does."""
    from assignment.shared.data import load_digits

    digits = load_digits()
    answers = {np.asarray(row).tobytes(): int(label) for row, label in zip(digits.x_test, digits.y_test)}

    class Lookup(ref_nn.Sequential):
        def forward(self, x):
            out = super().forward(x)
            known = [answers.get(np.asarray(row).tobytes()) for row in x]
            if all(label is not None for label in known):  # a test batch: answer it from memory
                out = np.eye(out.shape[1], dtype=out.dtype)[known] * 100
            return out

    class Still(ref_optim.SGD):
        def step(self):  # learns nothing
            pass

    import types

    optim = types.SimpleNamespace(SGD=Still, Linear=ref_nn.Linear)
    monkeypatch.setattr(checks, "_student_modules", lambda: (with_class(Sequential=Lookup), optim))
    checks.check_training(sizes=[64, 16, 10], epochs=1, lr=0.1, batch_size=32, seed=0, min_accuracy=0.5)
    captured = capfd.readouterr()
    assert "FAILED" in captured.err and "least 50% is expected" in captured.err, captured
    assert "100.0% test accuracy" not in captured.out


def test_check_training_names_divergence_without_numpy_warnings(capfd, monkeypatch):
    class NaiveLoss(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):  # log of a softmax that under- and overflows
            super().forward(logits, labels)
            p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))

    monkeypatch.setattr(checks, "_student_modules", lambda: (with_class(CrossEntropyLoss=NaiveLoss), ref_optim))
    checks.check_training(sizes=[64, 32, 10], epochs=2, lr=50.0, batch_size=32, seed=0, min_accuracy=0.9)
    err = capfd.readouterr().err
    assert "FAILED" in err and "RuntimeWarning" not in err, err
    assert "the loss became " in err and "at epoch 1, step" in err and "the learning rate may be too large" in err


def test_check_training_names_chance_level_accuracy(capsys, monkeypatch):
    class Frozen(ref_optim.SGD):
        def step(self):
            pass

    monkeypatch.setattr(checks, "_student_modules",
                        lambda: (ref_nn, types.SimpleNamespace(SGD=Frozen, Linear=ref_nn.Linear)))
    checks.check_training(sizes=[64, 10], epochs=1, lr=0.1, batch_size=32, seed=0, min_accuracy=0.9)
    err = capsys.readouterr().err
    assert "is chance level (1 in 10 is 10%)" in err and "SGD.step does not move the parameters" in err, err


def test_the_dashboard_words_chance_level_like_the_check():
    class Frozen(ref_optim.SGD):
        def step(self):
            for layer in self.layers:
                if isinstance(layer, ref_nn.Linear):
                    layer.weight = layer.weight - 1e-9 * layer.grad_weight  # moves, but learns nothing

    board = viz.training_dashboard(ref_nn, types.SimpleNamespace(SGD=Frozen), autorun=True, epochs=1)
    assert checks.chance_level(board.history[-1].test_accuracy)[1:] in board.status_text


def test_check_training_stops_an_endless_loop(capsys, monkeypatch):
    class ReLU(ref_nn.ReLU):
        def forward(self, x):
            while True:
                pass

    monkeypatch.setattr(checks, "TRAINING_TIME_LIMIT", 0.5)
    monkeypatch.setattr(checks, "_student_modules", lambda: (with_class(ReLU=ReLU), ref_optim))
    checks.check_training(sizes=[64, 16, 10], epochs=1, lr=0.1, batch_size=32, seed=0, min_accuracy=0.9)
    err = capsys.readouterr().err
    # The one wording of a time limit (as in every test cell): the student's method and line.
    assert "failed: ReLU.forward did not finish within 0.5 s: an endless loop? (" in err, err


# One rule for a gradient's shape: the visualizer, the dashboard and the test agree.
def _stores(transform):
    class Stores(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_weight, self.grad_bias = transform(self.grad_weight, self.grad_bias)
            return out
    return Stores


SHAPES = {
    "as the parameters": lambda w, b: (w, b),
    "flat grad_bias": lambda w, b: (w, b.reshape(-1)),
    "flat grad_weight": lambda w, b: (w.reshape(-1), b),
    "transposed grad_bias": lambda w, b: (w, b.T),
    "transposed grad_weight": lambda w, b: (w.T, b),
    "grad_bias of one row too many": lambda w, b: (w, np.vstack([b, b])),
}


@pytest.mark.parametrize("name", SHAPES)
def test_gradient_shapes_are_judged_as_the_tests_judge_them(name):
    nn = with_class(Linear=_stores(SHAPES[name]))
    q = question("linear_backward")
    case = copy.deepcopy(VISIBLE["linear_backward"].case)
    problems = q.check(case, q.run(nn, None, case))
    test_passes = problems == []
    assert (viz.linear_backward(nn).state == "ok") == test_passes, (name, problems)
    # the dashboard's one-batch check accepts or refuses the stored gradients alike
    board = viz.training_dashboard(nn, ref_optim, autorun=True, epochs=1)
    refused = "Cannot train yet: after Sequential.backward" in board.status_text
    assert refused == (not test_passes), (name, board.status_text)
