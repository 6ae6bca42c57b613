"""Unit tests of the trusted grading's parts: transport, cases, policy, sandbox, verdicts.

Fast: no nbgrader. The sandbox tests start a few bubblewrap sandboxes (skipped
where bubblewrap cannot run), with small limits.
"""

from __future__ import annotations

import ast
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from assignment.instructor.grading import transport
from assignment.instructor.grading import cases
from assignment.instructor.grading.cases import ANSWER_KEYS, CaseError, parse_test_call
from assignment.instructor.grading.policy import MAX_FILE_BYTES, PACKAGE_INIT, forbidden_imports, read_submission, write_package
from assignment.instructor.grading.sandbox import Limits, Outcome, _seccomp_program, bwrap_available, run_in_sandbox
from assignment.instructor.grading.verdicts import judge
from assignment.shared.questions import question
from assignment.shared.questions._compare import revealing
from course_tools import ADA, ROOT, test_cases

LINEAR_FORWARD = "        return x @ self.weight + self.bias\n"
CASE = {"weight": [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]],
        "bias": [[1.0, 2.0, 3.0, 4.0]], "x": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}
EXPECTED = [[39.0, 46.0, 53.0, 60.0], [84.0, 100.0, 116.0, 132.0]]


# --------------------------------------------------------------------------- transport


def roundtrip(value):
    return transport.loads(transport.dumps(value))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "uint8", "bool"])
def test_transport_arrays_keep_values_dtype_and_shape(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    back = roundtrip({"a": array})["a"]
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)


def test_transport_nan_and_infinities_survive():
    array = np.array([[np.nan, np.inf], [-np.inf, 1.5]], dtype=np.float32)
    back = roundtrip({"a": array, "x": float("nan"), "y": float("-inf"), "s": np.float32(np.inf)})
    assert back["a"].dtype == np.float32
    np.testing.assert_array_equal(back["a"], array)  # NaN == NaN for assert_array_equal
    assert math.isnan(back["x"]) and back["y"] == -math.inf
    assert back["s"].dtype == np.float32 and np.isinf(back["s"])


def test_transport_plain_values_and_nesting():
    value = {"n": 3, "f": 0.25, "b": True, "none": None, "s": "text", "list": [1, [2.0, {"k": "v"}]], "t": (1, 2)}
    back = roundtrip(value)
    assert back == {**value, "t": [1, 2]}


def test_transport_text_is_json_never_pickle():
    text = transport.dumps({"a": np.ones(2, dtype=np.float32)})
    assert json.loads(text)["a"]["dtype"] == "float32"


@pytest.mark.parametrize("value", [np.array([object(), 1], dtype=object), np.array(["a", "b"]),
                                   np.array([1 + 2j]), object(), lambda: 1, {1, 2}])
def test_transport_encodes_unsupported_values_as_harmless_markers(value):
    back = roundtrip({"v": value})["v"]
    assert isinstance(back, transport.Unsupported)


@pytest.mark.parametrize("payload", [
    '{"__ndarray__": [1, 2], "dtype": "object", "shape": [2]}',
    '{"__ndarray__": ["a"], "dtype": "U1", "shape": [1]}',
    '{"__ndarray__": [1], "dtype": "complex128", "shape": [1]}',
    '{"__ndarray__": [1, 2], "dtype": "V8", "shape": [2]}',
    '{"__ndarray__": [1, 2], "dtype": "float64", "shape": [3]}',  # shape does not match
    '{"__ndarray__": [1, 2], "dtype": "no such dtype", "shape": [2]}',
    '{"__float__": "not a number"}',
    '{"results": [', "", "not json at all", "\x80\x04\x95 pickle-like bytes",
    "[" * 100_000 + "]" * 100_000,  # deeper than json (or our depth cap) allows
])
def test_transport_rejects_malformed_or_dangerous_payloads(payload):
    with pytest.raises(transport.TransportError):
        transport.loads(payload)


def test_transport_rejects_oversized_payloads():
    payload = json.dumps({"a": "x" * transport.MAX_PAYLOAD_BYTES})
    with pytest.raises(transport.TransportError, match="larger"):
        transport.loads(payload)


def test_transport_caps_nesting_depth():
    deep: list = []
    for _ in range(transport.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(transport.TransportError):
        transport.loads(json.dumps(deep))


# --------------------------------------------------------------------------- cases


def test_parse_run_test_call():
    source = ('# Test 2 of 3 (Linear.forward): hidden until grading\n### BEGIN HIDDEN TESTS\n'
              'run_test("linear_forward", 2,\n    weight=[[2.0, -1.0]], bias=[[0.5]],\n'
              '    x=[[1.0, 2.0]], dtype="float32", expected=[[4.5]])\n### END HIDDEN TESTS')
    call = parse_test_call(source)
    assert call == cases.TestCall("linear_forward", 2,
                            {"weight": [[2.0, -1.0]], "bias": [[0.5]], "x": [[1.0, 2.0]], "dtype": "float32",
                             "expected": [[4.5]]})
    assert call.inputs == {"weight": [[2.0, -1.0]], "bias": [[0.5]], "x": [[1.0, 2.0]], "dtype": "float32"}


def test_parse_check_training_call():
    call = parse_test_call("check_training(sizes=[64, 64, 10], epochs=15, lr=0.1, batch_size=32, seed=0, "
                           "min_accuracy=0.9)")
    assert (call.key, call.number) == ("training_accuracy", 1)
    assert call.case["min_accuracy"] == 0.9
    assert set(ANSWER_KEYS) & set(call.inputs) == set()


@pytest.mark.parametrize("source", [
    'run_test("linear_forward", 1, x=np.ones(3))',
    'run_test("linear_forward", 1, x=[1, 2] + [3])',
    'run_test("linear_forward", 1, x=__import__("os").system("touch {marker}"))',
    'run_test("linear_forward", 1, x=open("{marker}", "w"))',
    'run_test("linear_forward", n)',
    'run_test(KEY, 1)',
])
def test_parse_rejects_non_literal_arguments_without_running_them(source, tmp_path):
    marker = tmp_path / "executed"
    with pytest.raises(CaseError, match="literal|run_test takes"):
        parse_test_call(source.format(marker=marker))
    assert not marker.exists()


@pytest.mark.parametrize("source", [
    "pass", "print('Passed')", "checks.run_test('linear_forward', 1, x=[1])", "",
    'run_test("linear_forward", 1, x=[1])\nrun_test("linear_forward", 2, x=[2])',
    'run_test("linear_forward", 1, x=[1]); check_training(sizes=[2])',
    'run_test("linear_forward", 1, x=run_test("relu_forward", 1))',
])
def test_parse_needs_exactly_one_call(source):
    with pytest.raises(CaseError, match="expected one call"):
        parse_test_call(source)


@pytest.mark.parametrize("source", ['run_test("no_such_question", 1)', 'run_test("__init__", 1)',
                                    'run_test("linear_forward")', 'run_test("linear_forward", "1")',
                                    'run_test("linear_forward", 1, 2)', 'run_test(1, 1)'])
def test_parse_rejects_unknown_keys_and_bad_signatures(source):
    with pytest.raises(CaseError):
        parse_test_call(source)


def test_parse_rejects_invalid_python():
    with pytest.raises(CaseError, match="not valid Python"):
        parse_test_call("run_test(")


def test_parse_never_executes_the_cell(tmp_path):
    marker = tmp_path / "executed"
    source = (f"import os\nos.system('touch {marker}')\nopen('{marker}', 'w')\n"
              "run_test('relu_forward', 3, x=[[1.0]], expected=[[1.0]])")
    assert parse_test_call(source).key == "relu_forward"
    assert not marker.exists()


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize("source", [
    "import os, sys, json\nfrom collections import deque\nimport importlib\n",
    "import numpy as np\nfrom numpy.linalg import norm\nimport numpy.random\n",
    "from mytorch.nn import Linear\nfrom . import nn\nfrom .nn import ReLU\nimport mytorch\n",
    "x = __import__('math')\nimport importlib\nimportlib.import_module('numpy')\n",
])
def test_allowed_imports(source):
    assert forbidden_imports(source) == []


@pytest.mark.parametrize("source, found", [
    ("import torch", ["torch"]),
    ("import torch.nn.functional as F", ["torch"]),
    ("from torch import nn", ["torch"]),
    ("from torch.nn import functional", ["torch"]),
    ("from scipy.special import softmax", ["scipy"]),
    ("import sklearn.datasets", ["sklearn"]),
    ("__import__('torch')", ["torch"]),
    ("import importlib\nimportlib.import_module('torch')", ["torch"]),
    ("from importlib import import_module\nimport_module('scipy.special')", ["scipy"]),
    ("def f():\n    import torch\n", ["torch"]),
    ("try:\n    import jax\nexcept ImportError:\n    pass\nimport torch, sklearn\n", ["jax", "torch", "sklearn"]),
])
def test_forbidden_imports(source, found):
    assert sorted(forbidden_imports(source)) == sorted(found)


def test_forbidden_imports_are_found_in_every_block_in_the_order_of_a_full_walk():
    # Only statements are looked at (no __import__ here): the same names, in ast.walk's order.
    source = ("def f():\n    class A:\n        def g(self):\n            import jax\n"
              "    match x:\n        case 1:\n            import tensorflow\n"
              "    with open('x'):\n        import keras\n    for i in []:\n        import cupy\n"
              "    else:\n        import numba\n    while 0:\n        import dask\n"
              "try:\n    pass\nexcept* ValueError:\n    import torch\nfinally:\n    import yaml\n"
              "import scipy, sklearn\n")
    walked = [alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
              for alias in node.names]
    assert len(walked) == 10
    assert forbidden_imports(source) == walked


def submission_with(tmp_path: Path, **files: str | bytes) -> Path:
    folder = tmp_path / "submission"
    shutil.copytree(ADA, folder / "mytorch")
    for name, content in files.items():
        path = folder / "mytorch" / name.replace("__", ".")
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def test_read_submission_of_a_correct_package(tmp_path):
    sub = read_submission(submission_with(tmp_path))
    assert sub.missing is None and sub.problems == {}
    assert set(sub.files) == {"__init__.py", "nn.py", "optim.py"}
    assert all(sub.problem_for(m) is None for m in ("mytorch/nn.py", "mytorch/optim.py"))


def test_forbidden_import_blocks_its_file_and_the_files_that_import_it(tmp_path):
    nn = (ADA / "nn.py").read_text(encoding="utf-8")
    nn = nn.replace("import numpy as np\n", "import numpy as np\nimport torch\n")
    sub = read_submission(submission_with(tmp_path, nn__py=nn))
    assert "mytorch/nn.py imports torch" in sub.problem_for("mytorch/nn.py")
    assert "imports mytorch/nn.py, which cannot be graded" in sub.problem_for("mytorch/optim.py")


def test_forbidden_import_in_optim_leaves_nn_alone(tmp_path):
    optim = (ADA / "optim.py").read_text(encoding="utf-8") + "\nfrom scipy import optimize\n"
    sub = read_submission(submission_with(tmp_path, optim__py=optim))
    assert sub.problem_for("mytorch/nn.py") is None
    assert "mytorch/optim.py imports scipy" in sub.problem_for("mytorch/optim.py")


def test_symlinks_are_not_graded(tmp_path):
    folder = submission_with(tmp_path)
    (folder / "mytorch" / "nn.py").unlink()
    (folder / "mytorch" / "nn.py").symlink_to(ROOT / "mytorch" / "nn.py")
    sub = read_submission(folder)
    assert sub.problem_for("mytorch/nn.py") == "mytorch/nn.py is a symbolic link, not a regular file"
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "mytorch").symlink_to(ADA, target_is_directory=True)
    assert "no mytorch/ folder" in read_submission(linked).problem_for("mytorch/optim.py")


def test_missing_folder_and_missing_file(tmp_path):
    assert "no mytorch/ folder" in read_submission(tmp_path).problem_for("mytorch/nn.py")
    folder = submission_with(tmp_path)
    (folder / "mytorch" / "optim.py").unlink()
    sub = read_submission(folder)
    assert sub.problem_for("mytorch/optim.py") == "mytorch/optim.py is missing from the submission"
    assert sub.problem_for("mytorch/nn.py") is None


def test_non_utf8_oversized_and_syntax_errors(tmp_path):
    folder = submission_with(tmp_path, optim__py=b"x = '\xff\xfe'\n")
    assert read_submission(folder).problem_for("mytorch/optim.py") == "mytorch/optim.py is not UTF-8 text"
    big = submission_with(tmp_path / "big", nn__py="# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert "larger than 512 KiB" in read_submission(big).problem_for("mytorch/nn.py")
    broken = submission_with(tmp_path / "broken", nn__py="def forward(:\n")
    sub = read_submission(broken)
    assert sub.problem_for("mytorch/nn.py").startswith("mytorch/nn.py has a syntax error at line 1")


def test_write_package_uses_the_trusted_init_and_only_python_files(tmp_path):
    folder = submission_with(tmp_path, __init____py="raise SystemExit('student init')\n")
    (folder / "mytorch" / "notes.txt").write_text("not python", encoding="utf-8")
    (folder / "mytorch" / "my-module.py").write_text("x = 1\n", encoding="utf-8")
    out = tmp_path / "copy"
    write_package(read_submission(folder), out)
    assert sorted(p.name for p in (out / "mytorch").iterdir()) == ["__init__.py", "nn.py", "optim.py"]
    assert (out / "mytorch" / "__init__.py").read_text(encoding="utf-8") == PACKAGE_INIT
    assert ((out / "mytorch" / "nn.py").stat().st_mode & 0o777) == 0o644


# --------------------------------------------------------------------------- reader


def _cell(kind: str, source: str, name: str, points: float | None = None):
    from nbformat.v4 import new_code_cell, new_markdown_cell

    meta = {"schema_version": 3, "grade_id": name, "grade": points is not None, "solution": False,
            "locked": True, "task": False}
    if points is not None:
        meta["points"] = points
    return (new_code_cell if kind == "code" else new_markdown_cell)(source, metadata={"nbgrader": meta})


def test_tampered_notebook_is_reconciled_with_the_gradebook(tmp_path):
    """Deleted, edited, duplicated, re-flagged and invented graded cells: nbgrader's own
    OverwriteCells (with add_missing_cells) then accepts the notebook instead of stopping."""
    from nbformat.v4 import new_code_cell, new_notebook
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import OverwriteCells
    from nbgrader.utils import compute_checksum

    from assignment.instructor.grading.reader import reconciled

    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    source = [_cell("markdown", "# Intro", "intro"), _cell("markdown", "Tests of Q1", "q1_intro"),
              _cell("code", 'run_test("linear_forward", 1, x=[[1.0]])', "linear_forward_1", 1),
              _cell("code", 'run_test("linear_forward", 2, x=[[2.0]])', "linear_forward_2", 1)]
    with Gradebook(db) as gb:
        gb.update_or_create_assignment("a")
        gb.update_or_create_notebook("nb", "a")
        for cell in source:
            meta = cell.metadata.nbgrader
            gb.update_or_create_source_cell(meta.grade_id, "nb", "a", cell_type=cell.cell_type, locked=True,
                                            source=cell.source, checksum=compute_checksum(cell))
            if meta.grade:
                gb.update_or_create_grade_cell(meta.grade_id, "nb", "a", max_score=meta.points, cell_type="code")
    tampered = _cell("code", "pass", "linear_forward_2", 100)
    tampered.metadata.nbgrader["grade"] = False
    nb = new_notebook(cells=[
        source[0],  # q1_intro and linear_forward_1 deleted
        new_code_cell("def run_test(*a, **k):\n    print('Passed')"),
        tampered, _cell("code", "print('Passed')", "linear_forward_2", 1),  # ...and duplicated
        _cell("code", "print('Passed')", "bonus", 50)])
    nb, changes = reconciled(nb, db, "nb", "a")
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.grade_id for c in graded] == ["linear_forward_1", "linear_forward_2"]
    assert [c.source for c in graded] == [source[2].source, source[3].source]
    assert all(c.metadata.nbgrader.points == 1 for c in graded)
    assert sum("nbgrader" in c.metadata for c in nb.cells) == 3  # the repeat and the invention are ordinary
    assert len(changes) == 4
    resources = {"nbgrader": {"notebook": "nb", "assignment": "a", "db_url": db}}
    nb, _ = OverwriteCells(add_missing_cells=True).preprocess(nb, resources)  # stock nbgrader: no exception
    assert [compute_checksum(c) for c in graded] == [compute_checksum(source[2]), compute_checksum(source[3])]


# --------------------------------------------------------------------------- verdicts


TRAINING_CASE = {"sizes": [64, 64, 10], "epochs": 15, "lr": 0.1, "batch_size": 32, "seed": 0, "min_accuracy": 0.9}
TRAINING_CALL = cases.TestCall("training_accuracy", 1, TRAINING_CASE)


@pytest.fixture(scope="module")
def trained():
    """The parameters the reference mytorch trains on the training check's case, as the sandbox reports them."""
    from mytorch import nn, optim

    from assignment.shared.questions import training_accuracy

    return roundtrip(training_accuracy.run(nn, optim, TRAINING_CASE))


def training_verdict(outputs):
    return judge("training_accuracy", TRAINING_CALL, Outcome(outputs=outputs))


def test_the_trained_parameters_are_scored_by_the_grader(trained):
    assert training_verdict(trained).passed
    from assignment.shared.questions.training_accuracy import accuracy_of_parameters

    assert accuracy_of_parameters(trained["parameters"]) > 0.9
    # The same layers untrained (the reported weights are what is scored, not any claim about them).
    from mytorch import nn

    from assignment.shared.training import mlp_layers
    untrained = [{"weight": layer.weight, "bias": layer.bias} for layer in mlp_layers(nn, [64, 64, 10])[::2]]
    verdict = training_verdict({"parameters": untrained, "diverged": None})
    assert not verdict.passed and "test accuracy; at least 90% is expected" in verdict.problems[0]


def test_predictions_or_an_accuracy_from_the_sandbox_earn_nothing():
    """A report of perfect predictions (a nearest-neighbour lookup could make them without any MLP) or of
    an accuracy is not a trained MLP: it scores zero, with the malformed-report message."""
    from assignment.shared.data import load_digits

    labels = load_digits().y_test
    for outputs in ({"accuracy": 1.0}, {"predictions": labels.copy()}, {"predictions": labels, "parameters": []},
                    {"parameters": []}, {"parameters": "all right"}, {}):
        verdict = training_verdict(outputs)
        assert not verdict.passed and verdict.problems[0].startswith("the report of this test is malformed"), outputs


@pytest.mark.parametrize("layer, name, value, message", [
    (0, "weight", np.zeros((64, 10)), "the weight of Linear layer 0 (64 -> 64) has shape (64, 10); it should keep its shape (64, 64)"),
    (1, "bias", np.zeros((32, 10)), "the bias of Linear layer 1 (64 -> 10) has shape (32, 10)"),
    (1, "bias", np.zeros(10), "has shape (10,); it should keep its shape (1, 10)"),
    (0, "weight", None, "the weight of Linear layer 0 (64 -> 64) is None"),
    (0, "weight", [[0.0] * 64] * 64, "is a list, not a NumPy array"),
    (1, "weight", np.zeros((64, 10), dtype=np.int64), "has dtype int64"),
    (1, "weight", np.full((64, 10), np.nan), "holds NaN or infinity"),
    (0, "bias", transport.Unsupported("a function"), "is a Unsupported, not a NumPy array"),
])
def test_trained_parameters_of_the_wrong_kind_are_named(trained, layer, name, value, message):
    import copy

    outputs = copy.deepcopy(trained)
    outputs["parameters"][layer][name] = value
    verdict = training_verdict(outputs)
    assert not verdict.passed and message in verdict.problems[0], verdict.problems


def test_a_report_with_a_layer_missing_or_added_is_malformed(trained):
    for parameters in (trained["parameters"][:1], trained["parameters"] * 2,
                       [{"weight": trained["parameters"][0]["weight"]}, trained["parameters"][1]],
                       [{**layer, "extra": 1} for layer in trained["parameters"]]):
        verdict = training_verdict({"parameters": parameters, "diverged": None})
        assert not verdict.passed and "malformed" in verdict.problems[0] and "['parameters']" in verdict.problems[0]


def test_malformed_answers_score_zero_without_crashing_the_grader():
    call = cases.TestCall("linear_forward", 2, {**CASE, "expected": EXPECTED})
    for outputs in ({}, {"output": "text"}, {"output": transport.Unsupported("a function")}, {"output": None}):
        assert not judge("linear_forward_2", call, Outcome(outputs=outputs)).passed
    right = {"output": np.array(EXPECTED), "x_unchanged": True}
    assert judge("linear_forward_2", call, Outcome(outputs=right)).passed


# One case of question 2.2 and its right answers, for judging made-up outputs.
LINEAR_BACKWARD_EXPECTED = {"grad_x": [[2.0, -0.5]], "grad_weight": [[1.0, -1.0, 0.5], [2.0, -2.0, 1.0]],
                            "grad_bias": [[1.0, -1.0, 0.5]]}
LINEAR_BACKWARD_CALL = cases.TestCall(
    "linear_backward", 2,
    {"x": [[1.0, 2.0]], "weight": [[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]], "bias": [[0.0, 0.0, 0.0]],
     "grad": [[1.0, -1.0, 0.5]], "expected": LINEAR_BACKWARD_EXPECTED})


def test_linear_backward_returning_none_is_told_what_to_return():
    """A None dX (a forgotten return) is named as such."""
    expected, call = LINEAR_BACKWARD_EXPECTED, LINEAR_BACKWARD_CALL
    stored = {"grad_weight": np.array(expected["grad_weight"]), "grad_bias": np.array(expected["grad_bias"]),
              "grad_unchanged": True}
    assert judge("linear_backward_2", call, Outcome(outputs={**stored, "grad_x": np.array(expected["grad_x"])})).passed
    verdict = judge("linear_backward_2", call, Outcome(outputs={**stored, "grad_x": None}))
    assert not verdict.passed
    assert list(verdict.problems) == ["Linear.backward returned None: it must return dLoss/dX = G W^T "
                                      "(a forgotten return?)"]


# --------------------------------------------------------------------------- the form of a report

SOURCE_CASES = [tc for tc in test_cases()]


def reference_report(tc) -> dict:
    """What the reference mytorch reports on a source test case, after the trip out of a sandbox."""
    import copy

    from mytorch import nn, optim

    return roundtrip(question(tc.key).run(nn, optim, copy.deepcopy(tc.case)))


def _containers(value, path=()):
    """(path, container) of every dict and list of a report (arrays and other leaves excluded)."""
    if isinstance(value, (dict, list)):
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _containers(item, path + (key,))


def _replaced(report, path, new):
    import copy

    report = copy.deepcopy(report)
    if not path:
        return new
    node = report
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return report


def forgeries(report):
    """(what, forged report, must it be called malformed?) for every container of ``report``."""
    for path, node in _containers(report):
        where = "report" + "".join(f"[{key!r}]" for key in path)
        if isinstance(node, dict):
            for key in node:
                yield f"{where} without {key!r}", _replaced(report, path, {k: v for k, v in node.items() if k != key}), True
                if isinstance(node[key], bool):
                    yield f"{where}[{key!r}] a string", _replaced(report, path + (key,), "True"), True
            yield f"{where} with an extra key", _replaced(report, path, {**node, "extra": True}), True
            yield f"{where} as a list", _replaced(report, path, list(node.values())), True
        elif node:
            # A list of fixed length (steps, layers, a call's two entries) must say malformed when emptied;
            # a variable one (calls, received values) may instead be judged wrong.
            yield f"{where} emptied", _replaced(report, path, []), None
            yield f"{where} as a dict", _replaced(report, path, {"0": node[0]}), True


@pytest.mark.parametrize("tc", SOURCE_CASES, ids=lambda tc: tc.grade_id)
def test_every_forged_structure_fails_clearly_and_never_crashes(tc):
    """The reference's report passes; the same report with any entry missing, added, emptied or of
    another type fails with a sentence (the malformed-report one where a fixed form is broken), and the
    check never raises. So no question's check can be passed by a report of the wrong structure."""
    q = question(tc.key)
    report = reference_report(tc)
    with revealing(tc.number == 1):
        assert q.check(tc.case, report) == [], tc.grade_id
        fixed = {f"report{''.join(f'[{k!r}]' for k in path)}" for path, node in _containers(q.form(tc.case))
                 if isinstance(node, list) and node}
        for what, forged, malformed in forgeries(report):
            problems = q.check(tc.case, forged)
            assert problems, f"{tc.grade_id}: {what} passes"
            if malformed or what.removesuffix(" emptied") in fixed:
                assert problems[0].startswith("the report of this test is malformed"), (what, problems)
            assert isinstance(q.shown(tc.case, forged), list)


def test_an_sgd_report_of_no_steps_or_no_layers_fails():
    """The attack that once scored 3/3: SGD.__init__ empties its caller's case["steps"] (or the report is
    forged with empty lists), so there is nothing to compare. The trusted case says how many there are."""
    for tc in (tc for tc in SOURCE_CASES if tc.key == "sgd_step"):
        report = reference_report(tc)
        for after in ([], [[]] * len(report["after"]), report["after"][:-1], report["after"] + report["after"][-1:]):
            problems = question("sgd_step").check(tc.case, {**report, "after": after})
            assert problems and "malformed" in problems[0], (tc.grade_id, after)


def test_conforms_names_where_a_report_departs():
    from assignment.shared.questions._forms import FLAG, TEXT, Array, Choice, Integer, Many, Maybe, conforms

    form = {"a": [Array((1, 2)), FLAG], "b": Many([Choice(("x", "y")), Integer(-1, 3)], 2), "c": Maybe(TEXT)}
    good = {"a": [np.zeros((1, 2)), True], "b": [["x", 0], ["y", -1]], "c": None}
    assert conforms(good, form) == []
    for bad, where in [({**good, "a": [np.zeros((2, 1)), True]}, "report['a'][0]: shape (2, 1), expected (1, 2)"),
                       ({**good, "a": [np.zeros((1, 2), dtype=int), True]}, "an array of dtype int64"),
                       ({**good, "a": [np.zeros((1, 2))]}, "report['a']: 1 entries, expected 2"),
                       ({**good, "b": [["x", 0]] * 3}, "3 entries, expected at most 2"),
                       ({**good, "b": [["z", 0]]}, "report['b'][0][0]: 'z', expected one of 'x', 'y'"),
                       ({**good, "b": [["x", 4]]}, "4, expected a number from -1 to 3"),
                       ({**good, "b": [["x", True]]}, "a bool, expected a whole number"),
                       ({**good, "c": 3}, "report['c']: a int, expected a string"),
                       ({**good, "d": 1}, "an unexpected entry 'd'"),
                       ({"a": good["a"], "b": good["b"]}, "no 'c' entry"),
                       ([], "report: a list, expected a dict")]:
        found = conforms(bad, form)
        assert len(found) == 1 and where in found[0], (where, found)


# --------------------------------------------------------------------------- the Sequential stand-ins


SEQUENTIAL = [tc for tc in SOURCE_CASES if tc.key.startswith("sequential_")]


@pytest.mark.parametrize("tc", SEQUENTIAL, ids=lambda tc: tc.grade_id)
def test_no_sequential_answer_goes_into_the_sandbox(tc):
    """What the sandbox gets of a Sequential case is its layers' names and widths, a seed and the
    input: no activation or gradient a layer must receive, nor the answer."""
    call = parse_test_call(tc.source)
    inputs = call.inputs
    assert set(inputs) <= {"layers", "sizes", "seed", "x", "batch"}
    numbers = {round(float(v), 6) for v in np.asarray(inputs.get("x", []), dtype=float).ravel()}
    from assignment.shared.questions._standins import network
    net = network(call.case, len(call.case["x"]) if "x" in call.case else call.case["batch"])
    values = net.activations(np.asarray(call.case["x"]))[1:] if "x" in call.case else net.gradients()
    for value in values:
        assert not {round(float(v), 6) for v in value.ravel()} & numbers


@pytest.mark.parametrize("tc", [tc for tc in SEQUENTIAL if tc.number == 1], ids=lambda tc: tc.grade_id)
def test_the_visible_sequential_tests_show_what_the_grader_computes(tc):
    from assignment.shared.questions._compare import same
    from assignment.shared.questions._standins import network

    if tc.key == "sequential_forward":
        want = network(tc.case, len(tc.case["x"])).activations(np.asarray(tc.case["x"]))[-1]
    else:
        want = network(tc.case, tc.case["batch"]).gradients()[0]
    assert same(tc.case["expected"], want)


def _sequential_report(key: str, number: int = 2) -> tuple:
    tc = next(tc for tc in SEQUENTIAL if tc.key == key and tc.number == number)
    return tc, reference_report(tc)


def test_a_sequential_forward_report_is_judged_on_recomputed_values():
    tc, report = _sequential_report("sequential_forward")
    check = question("sequential_forward").check
    assert check(tc.case, report) == []
    layers = len(tc.case["layers"])
    # A perfect call log does not make a wrong output right, nor the right output with a log that
    # shows another order, nor one whose layers did not receive what the grader computes.
    assert check(tc.case, {**report, "output": np.asarray(tc.case["x"])})
    reversed_calls = [["forward", i] for i in reversed(range(layers))]
    assert "last to first" in check(tc.case, {**report, "calls": reversed_calls})[0]
    assert check(tc.case, {**report, "calls": []})[0].startswith("no layer's forward was called")
    received = [list(kept) for kept in report["received"]]
    received[2] = [received[1][0]]
    assert "layer 2 (Linear(4, 3)) did not receive the output of layer 1" in check(tc.case, {**report, "received": received})[0]


def test_a_sequential_backward_report_is_judged_on_recomputed_values():
    tc, report = _sequential_report("sequential_backward")
    check = question("sequential_backward").check
    assert check(tc.case, report) == []
    layers = len(tc.case["layers"])
    perfect_calls = [["loss.backward", -1]] + [["backward", i] for i in reversed(range(layers))]
    assert report["calls"] == perfect_calls
    # The log alone earns nothing: every layer must hold the gradient the grader recomputes.
    for index in range(layers):
        received = [list(kept) for kept in report["received"]]
        received[index] = [received[index][0] * 1.01]
        assert check(tc.case, {**report, "received": received}), index
        received[index] = received[index] * 2  # received twice
        assert check(tc.case, {**report, "received": received}), index
    assert "was never called" in check(tc.case, {**report, "calls": perfect_calls[1:]})[0]
    assert "called a layer's forward" in check(tc.case, {**report, "calls": perfect_calls + [["forward", 0]]})[-1]
    first_to_last = [["loss.backward", -1]] + [["backward", i] for i in range(layers)]
    assert "first to last" in check(tc.case, {**report, "calls": first_to_last})[0]


def test_stand_ins_are_robust_to_what_a_sequential_hands_them():
    """A wrong value (of another shape, not an array) gets NaNs of the right shape back, so the run goes
    on and the grader can say what went wrong; a received value is a copy (changing it later changes nothing)."""
    from assignment.shared.questions._standins import StandInLoss, network, standins

    net = network({"layers": ["a", "b"], "sizes": [2, 3, 4], "seed": 1}, rows=2)
    (first, second), log = standins(net, watched="forward")
    x = np.ones((2, 2))
    out = first.forward(x)
    x[0, 0] = 5.0
    assert out.shape == (2, 3) and np.isfinite(out).all() and log.received[0][0][0, 0] == 1.0
    assert np.isnan(second.forward(x)).all() and second.forward(x).shape == (2, 4)
    assert np.isnan(first.backward(StandInLoss(net, log))).all()
    for _ in range(200):
        first.forward(x)
    assert len(log.calls) == 64 and len(log.received[0]) == 3
    assert log.report()["calls"][:2] == [["forward", 0], ["forward", 1]]


# --------------------------------------------------------------------------- sandbox

needs_bwrap = pytest.mark.skipif(bwrap_available() is not None, reason=f"no sandbox here: {bwrap_available()}")


def package(tmp_path: Path, nn_edit: tuple[str, str] | None = None) -> Path:
    folder = submission_with(tmp_path)
    if nn_edit:
        path = folder / "mytorch" / "nn.py"
        text = path.read_text(encoding="utf-8")
        assert text.count(nn_edit[0]) == 1
        path.write_text(text.replace(*nn_edit), encoding="utf-8")
    out = tmp_path / "package"
    write_package(read_submission(folder), out)
    return out


def forward(tmp_path, body: str, limits: Limits = Limits(wall_seconds=10, cpu_seconds=10)) -> tuple[Outcome, float]:
    copy = package(tmp_path, (LINEAR_FORWARD, body + LINEAR_FORWARD))
    started = time.perf_counter()
    outcome = run_in_sandbox(copy, {"kind": "question", "key": "linear_forward", "case": CASE}, limits)
    return outcome, time.perf_counter() - started


@needs_bwrap
def test_sandbox_runs_a_correct_package(tmp_path):
    outcome = run_in_sandbox(package(tmp_path), {"kind": "question", "key": "linear_forward", "case": CASE})
    assert outcome.error is None
    np.testing.assert_array_equal(outcome.outputs["output"], EXPECTED)
    assert outcome.outputs["x_unchanged"] is True


@needs_bwrap
def test_sandbox_kills_an_endless_loop_at_the_wall_limit(tmp_path):
    body = ("        while True:\n            try:\n                pass\n"
            "            except BaseException:\n                pass\n")
    outcome, seconds = forward(tmp_path, body, Limits(wall_seconds=2, cpu_seconds=30))
    assert outcome.error == "the test did not finish within its time limit (30 s of CPU time, 2 s in all): an endless loop?"
    assert seconds < 6


@needs_bwrap
def test_sandbox_cpu_limit(tmp_path):
    body = "        while True:\n            pass\n"
    outcome, seconds = forward(tmp_path, body, Limits(wall_seconds=20, cpu_seconds=1))
    assert "(1 s of CPU time, 20 s in all)" in outcome.error
    assert seconds < 10


@needs_bwrap
def test_sandbox_memory_hog_gets_a_clear_error(tmp_path):
    outcome, _ = forward(tmp_path / "array", "        big = np.ones((50_000, 1_000_000))\n")
    assert "Linear.forward ran out of memory" in outcome.error
    body = "        hoard = []\n        while True:\n            hoard.append(bytearray(2**20))\n"
    outcome, _ = forward(tmp_path / "list", body)
    assert "ran out of memory" in outcome.error or "killed" in outcome.error


@needs_bwrap
def test_sandbox_allows_no_new_process(tmp_path):
    body = ("        import os, subprocess\n        try:\n            os.fork()\n        except OSError as e:\n"
            "            first = e\n        subprocess.run(['/bin/true'])\n")
    outcome, _ = forward(tmp_path, body)
    assert "PermissionError" in outcome.error and "Operation not permitted" in outcome.error
    program = _seccomp_program()
    assert program is None or len(program) % 8 == 0


@needs_bwrap
def test_sandbox_sees_no_course_files_and_writes_nowhere(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret", encoding="utf-8")
    secret.chmod(0o666)
    body = (f"        import os\n        seen = []\n"
            f"        for p in [{str(secret)!r}, {str(ROOT / 'source')!r}, {str(ROOT / 'mytorch' / 'nn.py')!r}]:\n"
            "            if os.path.exists(p):\n                seen.append(p)\n"
            "        for p in ['/sandbox/student/mytorch/x.py', '/sandbox/grader/assignment/x.py', '/x', "
            "'/sandbox/out/other.json']:\n"
            "            try:\n                open(p, 'w').close()\n                seen.append(p)\n"
            "            except OSError:\n                pass\n"
            "        from assignment.shared.data import load_digits\n"
            "        if set(load_digits().y_test.tolist()) != {-1}:\n            seen.append('test labels')\n"
            "        if seen:\n            raise RuntimeError(f'SEEN {seen}')\n")
    outcome, _ = forward(tmp_path, body)
    assert outcome.error is None, outcome.error


@needs_bwrap
def test_sandbox_survives_an_emptied_report(tmp_path):
    # The answers travel over an inherited pipe: closing every descriptor closes it.
    body = "        import os\n        os.closerange(3, 256)\n        os._exit(0)\n"
    outcome, _ = forward(tmp_path, body)
    assert outcome.error == "your code ended the grading process (exit code 0) before it could report"


@needs_bwrap
def test_sandbox_flood_of_output_is_cut(tmp_path):
    outcome, _ = forward(tmp_path, "        for _ in range(200_000):\n            print('flood ' * 100)\n")
    assert outcome.error == "Linear.forward wrote too much output (more than 8 MiB: printing in a loop?)"
