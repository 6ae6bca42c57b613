"""The test cases of the source notebooks: right on the reference, sharp on bugs.

Every ``run_test(key, number, **case)`` call of ``source/mlp/*.ipynb`` is
parsed (its keyword arguments are literals) and:

- passes against the reference ``mytorch`` (through ``assignment.student.checks.run_test``,
  exactly as a notebook runs it: nothing on stderr, "Passed." on stdout);
- belongs to a question that has exactly three tests, the first visible;
- and, in the mutation tests, catches bugs: each entry of ``BUGS`` below is the
  reference with one method's solution replaced by a classic mistake.
  The bug must fail at least one of its own question's *hidden* tests (2 or 3),
  the failure must name the mistake where the question has a diagnosis for it,
  a hidden test's message must not quote an expected value, and every other
  question's tests must still pass: a bug costs its own question only.

Bugs replace whole solution regions (located with ``ast`` and the markers),
so the catalogue keeps working when the reference's solution is reworded: a
bug's body is exactly what a student writes into the release's gap. (A method
with several regions, given code between them, would take one body per region.)
"""

from __future__ import annotations

import ast
import copy
import importlib
import itertools
import re
import sys
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from assignment.student.checks import run_test
from assignment.shared.questions import KEYS, question
from course_tools import REFERENCE, evaluate, test_cases

CASES = test_cases()
BY_KEY: dict[str, list] = defaultdict(list)
for _case in CASES:
    BY_KEY[_case.key].append(_case)

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


# ---------------------------------------------------------------------------
# The cases themselves
# ---------------------------------------------------------------------------


def test_every_question_has_three_tests_first_visible():
    assert sorted(BY_KEY) == sorted(KEYS), "every question key has test cases, and no unknown key does"
    for key in KEYS:
        numbers = [case.number for case in BY_KEY[key]]
        assert numbers == [1, 2, 3], f"{key}: tests numbered {numbers}; expected 1, 2, 3"
        for case in BY_KEY[key]:
            assert case.grade_id == f"{key}_{case.number}", f"{case.grade_id} holds run_test({key!r}, {case.number})"
            assert case.hidden == (case.number > 1), f"{case.grade_id}: only test 1 is visible"
            assert case.notebook.startswith(question(key).INFO.notebook), f"{case.grade_id} is in {case.notebook}"
            if key.startswith("sequential_"):
                # The grader computes a Sequential test's answer from its stand-ins' seed; the visible
                # test also writes it out for the student to read.
                assert "seed" in case.case and ("expected" in case.case) == (case.number == 1), case.grade_id
            else:
                assert "expected" in case.case, f"{case.grade_id} has no expected answer"


def test_hidden_tests_differ_from_the_visible_one():
    for key in KEYS:
        visible, *hidden = BY_KEY[key]
        for case in hidden:
            assert case.case != visible.case, f"{case.grade_id} repeats test 1"


@pytest.mark.parametrize("tc", CASES, ids=lambda tc: tc.grade_id)
def test_case_passes_on_the_reference(tc, capsys):
    """run_test as a notebook calls it, on the reference mytorch (importable in the tests)."""
    run_test(tc.key, tc.number, **copy.deepcopy(tc.case))
    out, err = capsys.readouterr()
    assert err == "", f"{tc.grade_id} fails on the reference:\n{err}"
    assert "Passed." in out
    if tc.hidden:
        assert "hidden until grading" in out
        assert "Expected" not in out, "a hidden test must not print its expected answer"


# ---------------------------------------------------------------------------
# Buggy variants of the reference
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bug:
    """One classic mistake: ``method``'s solution becomes ``body``.

    ``body`` is one string for a method with one solution region, else a tuple
    with one string per region, in order (an empty string leaves that region
    empty); the given code between the regions stays.
    """

    id: str
    key: str  # the question it belongs to
    method: str  # "Class.method" in nn.py or optim.py
    body: str | tuple[str, ...]
    diagnosis: tuple[str, ...] = ()  # each must appear in a failing hidden test's message


def _dedent(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def bug(id, key, method, body, *diagnosis):
    body = tuple(_dedent(part) for part in body) if isinstance(body, tuple) else _dedent(body)
    return Bug(id, key, method, body, tuple(diagnosis))


# Linear.backward's two steps: the parameter gradients it stores, and what it returns.
STORE_GRADS = """
self.grad_weight = self.x.T @ grad
self.grad_bias = grad.sum(axis=0, keepdims=True)
"""
RETURN_GRAD_X = "return grad @ self.weight.T"


BUGS = [
    # 1.1 Linear.forward
    bug("linear_forward-missing-bias", "linear_forward", "Linear.forward",
        "return x @ self.weight", "without the bias"),
    bug("linear_forward-bias-twice", "linear_forward", "Linear.forward",
        "return x @ self.weight + 2 * self.bias", "bias is added twice"),
    bug("linear_forward-output-transposed", "linear_forward", "Linear.forward",
        "return (x @ self.weight + self.bias).T", "transposed"),
    bug("linear_forward-weight-transposed", "linear_forward", "Linear.forward",
        "return x @ self.weight.T + self.bias", "Linear.forward raised ValueError"),
    bug("linear_forward-float64", "linear_forward", "Linear.forward",
        "return (x @ self.weight + self.bias).astype(np.float64)", "dtype float64", "float32"),
    # 1.2 ReLU.forward
    bug("relu_forward-abs", "relu_forward", "ReLU.forward",
        "return np.abs(x)", "negative inputs must become 0"),
    bug("relu_forward-minimum", "relu_forward", "ReLU.forward",
        "return np.minimum(x, 0)", "negative inputs must become 0", "positive inputs must pass through"),
    bug("relu_forward-in-place", "relu_forward", "ReLU.forward",
        """
        x[x < 0] = 0
        return x
        """, "in place"),
    bug("relu_forward-float64", "relu_forward", "ReLU.forward",
        "return np.maximum(x, 0).astype(float)", "dtype float64"),
    # 1.3 Sequential.forward
    bug("sequential_forward-reversed", "sequential_forward", "Sequential.forward",
        """
        for layer in reversed(self.layers):
            x = layer.forward(x)
        return x
        """, "last to first"),
    bug("sequential_forward-not-chained", "sequential_forward", "Sequential.forward",
        """
        out = x
        for layer in self.layers:
            out = layer.forward(x)
        return out
        """, "did not receive the output of layer"),
    bug("sequential_forward-returns-input", "sequential_forward", "Sequential.forward",
        """
        out = x
        for layer in self.layers:
            out = layer.forward(out)
        return x
        """, "return the output of the last layer"),
    bug("sequential_forward-skips-last-layer", "sequential_forward", "Sequential.forward",
        """
        for layer in self.layers[:-1]:
            x = layer.forward(x)
        return x
        """, "no layer's forward was called"),
    # 1.4 CrossEntropyLoss.forward
    bug("xeloss_forward-sum-not-mean", "xeloss_forward", "CrossEntropyLoss.forward",
        """
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-(one_hot * log_probs).sum())
        """, "you summed over the batch", "mean"),
    bug("xeloss_forward-missing-minus", "xeloss_forward", "CrossEntropyLoss.forward",
        """
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float((one_hot * log_probs).sum() / n)
        """, "wrong sign"),
    bug("xeloss_forward-log-of-softmax", "xeloss_forward", "CrossEntropyLoss.forward",
        "return float(-(one_hot * np.log(softmax(logits, axis=1))).sum() / n)", "log(0)"),
    bug("xeloss_forward-no-shift", "xeloss_forward", "CrossEntropyLoss.forward",
        """
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-(one_hot * log_probs).sum() / n)
        """, "shift the logits by their row maximum"),
    bug("xeloss_forward-per-example", "xeloss_forward", "CrossEntropyLoss.forward",
        """
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -(one_hot * log_probs).sum(axis=1)
        """, "one number"),
    # 2.1 CrossEntropyLoss.backward
    bug("xeloss_backward-missing-1/N", "xeloss_backward", "CrossEntropyLoss.backward",
        "return softmax(self.logits, axis=1) - self.one_hot", "times too large", "divide by the batch size"),
    bug("xeloss_backward-1/N-twice", "xeloss_backward", "CrossEntropyLoss.backward",
        "return (softmax(self.logits, axis=1) - self.one_hot) / self.logits.shape[0] ** 2", "divide by N once"),
    bug("xeloss_backward-wrong-sign", "xeloss_backward", "CrossEntropyLoss.backward",
        "return (self.one_hot - softmax(self.logits, axis=1)) / self.logits.shape[0]", "wrong sign"),
    bug("xeloss_backward-no-one-hot", "xeloss_backward", "CrossEntropyLoss.backward",
        "return softmax(self.logits, axis=1) / self.logits.shape[0]", "one-hot targets"),
    # 2.2 Linear.backward
    bug("linear_backward-grad-bias-mean", "linear_backward", "Linear.backward",
        """
        self.grad_weight = self.x.T @ grad
        self.grad_bias = grad.mean(axis=0, keepdims=True)
        return grad @ self.weight.T
        """, "grad_bias is the mean", "sum over the batch"),
    bug("linear_backward-grad-weight-transposed", "linear_backward", "Linear.backward",
        """
        self.grad_weight = grad.T @ self.x
        self.grad_bias = grad.sum(axis=0, keepdims=True)
        return grad @ self.weight.T
        """, "grad_weight", "transposed"),
    bug("linear_backward-grad-x-missing-transpose", "linear_backward", "Linear.backward",
        STORE_GRADS + "return grad @ self.weight", "Linear.backward raised ValueError"),
    bug("linear_backward-grad-bias-not-summed", "linear_backward", "Linear.backward",
        """
        self.grad_weight = self.x.T @ grad
        self.grad_bias = grad
        return grad @ self.weight.T
        """, "self.grad_bias has shape"),
    bug("linear_backward-grad-weight-not-stored", "linear_backward", "Linear.backward",
        "self.grad_bias = grad.sum(axis=0, keepdims=True)\n" + RETURN_GRAD_X),
    bug("linear_backward-forgot-return", "linear_backward", "Linear.backward",
        STORE_GRADS + "grad_x = grad @ self.weight.T",
        "Linear.backward returned None", "G W^T", "forgotten return"),
    bug("linear_backward-no-input-gradient", "linear_backward", "Linear.backward",
        STORE_GRADS, "Linear.backward returned None"),
    # 2.3 ReLU.backward
    bug("relu_backward-gate->=0", "relu_backward", "ReLU.backward",
        "return grad * (self.x >= 0)", "x > 0"),
    bug("relu_backward-mask-from-grad", "relu_backward", "ReLU.backward",
        "return grad * (grad > 0)", "self.x"),
    bug("relu_backward-in-place", "relu_backward", "ReLU.backward",
        """
        grad[self.x <= 0] = 0
        return grad
        """, "in place"),
    bug("relu_backward-returns-mask", "relu_backward", "ReLU.backward",
        "return (self.x > 0).astype(grad.dtype)"),
    # 2.4 Sequential.backward
    bug("sequential_backward-wrong-order", "sequential_backward", "Sequential.backward",
        """
        grad = loss_function.backward()
        for layer in self.layers:
            grad = layer.backward(grad)
        return grad
        """, "last layer to the first", "reversed"),
    bug("sequential_backward-no-loss-backward", "sequential_backward", "Sequential.backward",
        """
        grad = loss_function
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad
        """, "loss_function.backward() was never called"),
    bug("sequential_backward-not-chained", "sequential_backward", "Sequential.backward",
        """
        grad = loss_function.backward()
        for layer in reversed(self.layers):
            layer.backward(grad)
        return grad
        """, "did not receive the gradient returned by layer"),
    bug("sequential_backward-loss-per-layer", "sequential_backward", "Sequential.backward",
        """
        for layer in reversed(self.layers):
            grad = layer.backward(loss_function.backward())
        return grad
        """, "loss_function.backward() was called"),
    # 3 SGD.step
    bug("sgd_step-ascent", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight + self.lr * layer.grad_weight
                layer.bias = layer.bias + self.lr * layer.grad_bias
        """, "ascent"),
    bug("sgd_step-ignores-lr", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight - layer.grad_weight
                layer.bias = layer.bias - layer.grad_bias
        """, "learning rate"),
    bug("sgd_step-bias-not-updated", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight - self.lr * layer.grad_weight
        """, "bias did not change"),
    bug("sgd_step-first-layer-only", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight - self.lr * layer.grad_weight
                layer.bias = layer.bias - self.lr * layer.grad_bias
                break
        """, "layer 1's weight did not change"),
    bug("sgd_step-no-isinstance", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            layer.weight = layer.weight - self.lr * layer.grad_weight
            layer.bias = layer.bias - self.lr * layer.grad_bias
        """, "SGD.step raised AttributeError"),
    bug("sgd_step-scales-stored-grads", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.grad_weight *= self.lr
                layer.grad_bias *= self.lr
                layer.weight = layer.weight - layer.grad_weight
                layer.bias = layer.bias - layer.grad_bias
        """, "changed the stored gradients"),
    bug("sgd_step-float64", "sgd_step", "SGD.step",
        """
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight - np.float64(self.lr) * layer.grad_weight
                layer.bias = layer.bias - np.float64(self.lr) * layer.grad_bias
        """, "dtype float64"),
]

_counter = itertools.count()


def _regions(source: str, method: str) -> list[tuple[int, int, str]]:
    """(begin, end) line indexes (0-based) of each of ``method``'s solution markers, in order,
    with the begin marker's indent; empty if ``method`` is not in ``source``."""
    class_name, function_name = method.split(".")
    tree = ast.parse(source)
    lines = source.splitlines()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == function_name:
                    # A method's last END marker is a comment after its last statement,
                    # beyond end_lineno: each region ends at the first END after its BEGIN.
                    begins = [i for i in range(item.lineno - 1, item.end_lineno)
                              if lines[i].strip().startswith(BEGIN)]
                    ends = [next(i for i in range(b, len(lines)) if lines[i].strip().startswith(END))
                            for b in begins]
                    assert begins, f"no solution region in {method}"
                    assert all(e < b for e, b in zip(ends, begins[1:])), f"{method}: nested solution markers"
                    return [(b, e, lines[b][: len(lines[b]) - len(lines[b].lstrip())]) for b, e in zip(begins, ends)]
    return []


def _plant(source: str, b: Bug) -> str | None:
    """The source with ``b``'s method's regions replaced by its body; None if the method is not here."""
    regions = _regions(source, b.method)
    if not regions:
        return None
    bodies = list(b.body) if isinstance(b.body, tuple) else [b.body]
    assert len(bodies) == len(regions), (
        f"{b.id}: {len(bodies)} bodies for the {len(regions)} solution regions of {b.method}")
    lines = source.splitlines(keepends=True)
    for (begin, end, indent), body in reversed(list(zip(regions, bodies))):
        text = textwrap.indent(body, indent) + "\n" if body else ""
        lines[begin:end + 1] = [text]
    return "".join(lines)


def _variant_source(source: str, bugs: list[Bug], planted: list[str] | None = None) -> str:
    """The reference with each bug planted, and every marker line removed.

    Each bug whose method is in ``source`` is planted, and its id appended to ``planted``.
    """
    for b in bugs:
        changed = _plant(source, b)
        if changed is not None:
            source = changed
            if planted is not None:
                planted.append(b.id)
    return "".join(line for line in source.splitlines(keepends=True) if BEGIN not in line and END not in line)


@pytest.fixture(scope="module")
def variant_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("variants")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


def load_variant(folder: Path, bugs: list[Bug]):
    """Write and import the reference with ``bugs``, as a package of its own unique name."""
    package = f"mytorch_variant_{next(_counter)}"
    target = folder / package
    target.mkdir()
    (target / "__init__.py").write_text("from . import nn, optim\n", encoding="utf-8")
    planted: list[str] = []
    for name in ("nn.py", "optim.py"):
        text = _variant_source((REFERENCE / name).read_text(encoding="utf-8"), bugs, planted)
        text = re.sub(r"^(\s*)(from|import) mytorch\b", rf"\1\2 {package}", text, flags=re.M)
        (target / name).write_text(text, encoding="utf-8")
    assert sorted(planted) == sorted(b.id for b in bugs), (
        f"bugs not planted exactly once (no solution region in their method?): planted {planted}")
    importlib.invalidate_caches()
    module = importlib.import_module(package)
    return module.nn, module.optim


def test_the_harness_reproduces_the_reference(variant_dir):
    """With no bug planted, the rebuilt reference passes all 27 tests (the harness is sound)."""
    nn, optim = load_variant(variant_dir, [])
    failures = {tc.grade_id: problems for tc in CASES if (problems := evaluate(nn, optim, tc))}
    assert failures == {}


def test_every_question_has_bugs_in_the_catalogue():
    assert {b.key for b in BUGS} == set(KEYS)
    assert len({b.id for b in BUGS}) == len(BUGS)


@pytest.mark.parametrize("b", BUGS, ids=lambda b: b.id)
def test_bug_costs_its_own_question_only(b, variant_dir):
    nn, optim = load_variant(variant_dir, [b])
    results = {tc.grade_id: evaluate(nn, optim, tc) for tc in CASES}

    others = {grade_id: problems for grade_id, problems in results.items()
              if problems and not grade_id.startswith(b.key + "_")}
    assert others == {}, f"{b.id} also costs other questions' tests"

    hidden = {tc.grade_id: results[tc.grade_id] for tc in BY_KEY[b.key] if tc.hidden}
    failed = {grade_id: problems for grade_id, problems in hidden.items() if problems}
    assert failed, f"{b.id} passes every hidden test of {b.key}"

    messages = "\n".join(problem for problems in failed.values() for problem in problems)
    for words in b.diagnosis:
        assert words.lower() in messages.lower(), f"{b.id}: no hidden test says {words!r}:\n{messages}"
    for problem in messages.splitlines():
        assert not re.search(r"expected -?\d", problem), f"a hidden test's message quotes an expected value: {problem}"


def stub(key: str, message: str = "stub") -> Bug:
    """Question ``key``'s method as released: each of its solution regions a NotImplementedError."""
    method = question(key).INFO.method
    source = (REFERENCE / Path(question(key).INFO.module).name).read_text(encoding="utf-8")
    raises = tuple(f"raise NotImplementedError({message!r})" for _ in _regions(source, method))
    return bug(f"stub-{key}", key, method, raises if len(raises) > 1 else raises[0])


def test_stubs_fail_every_test_as_not_implemented(variant_dir):
    """The release stubs fail every test with 'not implemented yet' (and nothing worse)."""
    stubbed = [stub(key) for key in KEYS]
    nn, optim = load_variant(variant_dir, stubbed)
    for tc in CASES:
        problems = evaluate(nn, optim, tc)
        assert problems == [f"{question(tc.key).INFO.method} is not implemented yet"], tc.grade_id


@pytest.mark.parametrize("key", KEYS)
def test_one_unfinished_method_costs_its_own_question_only(key, variant_dir):
    """A student who has done everything but one method loses that question's tests and no other."""
    method = question(key).INFO.method
    nn, optim = load_variant(variant_dir, [stub(key, key)])
    for tc in CASES:
        problems = evaluate(nn, optim, tc)
        if tc.key == key:
            assert problems == [f"{method} is not implemented yet"], tc.grade_id
        else:
            assert problems == [], f"an unfinished {method} costs {tc.grade_id}: {problems}"


@pytest.mark.parametrize("name, store", [
    ("accumulating", """
self.grad_weight += self.x.T @ grad
self.grad_bias += grad.sum(axis=0, keepdims=True)
"""),
    ("in-place", """
self.grad_weight[...] = self.x.T @ grad
self.grad_bias[...] = grad.sum(axis=0, keepdims=True)
"""),
])
def test_linear_backward_that_updates_the_zeroed_gradients_is_right(variant_dir, name, store):
    """zero_grad leaves zeros; a backward that adds to them (as PyTorch accumulates) or writes
    into them is right, and costs nothing anywhere."""
    variant = bug(f"linear_backward-{name}", "linear_backward", "Linear.backward", store + RETURN_GRAD_X)
    nn, optim = load_variant(variant_dir, [variant])
    for tc in CASES:
        assert evaluate(nn, optim, tc) == [], tc.grade_id
