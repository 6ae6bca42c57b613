"""The release build: student stubs derived from the reference, and the leak check.

- ``derive_stub`` turns each ``### BEGIN/END SOLUTION`` region of the reference
  into ``raise NotImplementedError(<hint naming the question>)``, keeps the given
  code byte for byte, and gives files that compile and import; bad markers raise
  ``StubError``.
- ``check_release`` passes on the committed release and catches leaks planted in
  a temporary copy of it: a solution line in a ``.py`` file or a markdown cell, a
  hidden test's line in a cell or an output, a region marker, an unreadable
  notebook, a file it cannot check.
- ``nbgrader generate_assignment`` itself fails when a leak is planted in a
  visible cell of a source notebook.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from assignment.shared.questions import KEYS, question
from assignment.instructor.release import leaks
from assignment.instructor.release.stubs import StubError, derive_stub, write_student_package
from course_tools import ASSIGNMENT, REFERENCE, RELEASE, ROOT, SOURCE, copy_tree, hidden_lines, nbgrader, scratch_course

SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n", re.S | re.M)
FILES = ("__init__.py", "nn.py", "optim.py")


def reference(name: str) -> str:
    return (REFERENCE / name).read_text(encoding="utf-8")


def solution_regions() -> list[tuple[str, str]]:
    """(file name, region text) of every solution region of the reference."""
    return [(name, region) for name in FILES for region in SOLUTION.findall(reference(name))]


# ---------------------------------------------------------------------------
# Stubs
# ---------------------------------------------------------------------------


def region_methods(name: str) -> list[str]:
    """For each solution region of reference file ``name``, in order, its "Class.method"."""
    source = reference(name)
    methods = [f"{cls.name}.{item.name}" for cls in ast.parse(source).body if isinstance(cls, ast.ClassDef)
               for item in cls.body if isinstance(item, ast.FunctionDef)
               for _ in range(ast.get_source_segment(source, item).count("### BEGIN SOLUTION"))]
    assert len(methods) == len(SOLUTION.findall(source)), f"{name}: a solution region outside a class's method"
    return methods


def test_every_solution_region_is_in_a_question_method():
    """Each question's solution is one region of its own method: one gap per method for the student."""
    where = {name: region_methods(name) for name in FILES}
    for key in KEYS:
        info = question(key).INFO
        file = info.module.split("/")[-1]
        assert info.method in where[file], f"{key}: no solution region in {info.method} of {file}"
    methods = {question(key).INFO.method for key in KEYS}
    assert {m for ms in where.values() for m in ms} == methods, "a solution region outside the questions' methods"
    assert len(solution_regions()) == len(KEYS)
    raises = re.findall(r"raise NotImplementedError\((.*)\)", "".join(derive_stub(reference(n), n) for n in FILES))
    for key in KEYS:
        method, file = question(key).INFO.method, question(key).INFO.module.split("/")[-1]
        assert sum(f"({key})" in hint for hint in raises) == where[file].count(method), (
            f"one NotImplementedError of the stubs per solution region of {method} names {key}")


@pytest.mark.parametrize("name", FILES)
def test_each_region_becomes_a_not_implemented_error_naming_its_question(name):
    source = reference(name)
    stub = derive_stub(source, name)
    regions = SOLUTION.findall(source)
    raises = re.findall(r"^([ \t]*)# YOUR CODE HERE\n\1raise NotImplementedError\((.*)\)\n", stub, re.M)
    assert len(raises) == len(regions)
    for _, literal in raises:
        hint = eval(literal)  # a plain string literal written by derive_stub
        assert re.match(r"Question [\d.]+ \((\w+)\): ", hint), hint
        key = re.match(r"Question [\d.]+ \((\w+)\)", hint).group(1)
        assert key in KEYS and question(key).INFO.number in hint and question(key).INFO.module.endswith(name)
    assert "BEGIN SOLUTION" not in stub and "END SOLUTION" not in stub


@pytest.mark.parametrize("name", FILES)
def test_given_code_is_kept_exactly(name):
    source = reference(name)
    stub = derive_stub(source, name)
    without_regions = SOLUTION.sub("", source)
    without_raises = re.sub(r"^[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(.*\)\n", "", stub, flags=re.M)
    assert without_raises == without_regions


@pytest.mark.parametrize("name", FILES)
def test_no_solution_line_survives(name):
    stub = derive_stub(reference(name), name)
    given = set(SOLUTION.sub("", reference(name)).splitlines())
    for region in SOLUTION.findall(reference(name)):
        for line in region.splitlines():
            if line.strip() and not line.strip().startswith("#") and line not in given:
                assert line not in stub.splitlines(), f"{name}: solution line {line.strip()!r} is in the stub"


def test_stub_package_imports_and_every_method_raises_its_hint(tmp_path):
    """The stubs compile, import as ``mytorch``, the given code works, each question raises its hint."""
    write_student_package(REFERENCE, tmp_path / "mytorch")
    script = textwrap.dedent("""
        import numpy as np
        from mytorch import nn, optim
        from types import SimpleNamespace

        def hint(call):
            try:
                call()
            except NotImplementedError as error:
                return str(error)
            return "did not raise"

        x = np.ones((2, 3), dtype=np.float32)
        layer = nn.Linear(3, 4)
        assert layer.weight.shape == (3, 4) and layer.bias.shape == (1, 4) and layer.weight.dtype == np.float32
        print(hint(lambda: layer.forward(x)))
        layer.x = x
        print(hint(lambda: layer.backward(np.ones((2, 4), dtype=np.float32))))
        relu = nn.ReLU()
        print(hint(lambda: relu.forward(x)))
        relu.x = x
        print(hint(lambda: relu.backward(x)))
        model = nn.Sequential(layer, relu)
        assert model.layers == [layer, relu]
        print(hint(lambda: model.forward(x)))
        loss = nn.CrossEntropyLoss()
        print(hint(lambda: loss.forward(np.zeros((2, 3)), np.array([0, 2]))))
        print(hint(lambda: loss.backward()))
        print(hint(lambda: model.backward(loss)))
        sgd = optim.SGD(model, lr=0.1)
        sgd.zero_grad()
        assert not layer.grad_weight.any() and layer.grad_weight.shape == (3, 4)
        print(hint(lambda: sgd.step()))
        assert np.allclose(nn.softmax(np.zeros((1, 4))), 0.25)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    hints = result.stdout.splitlines()
    order = ["linear_forward", "linear_backward", "relu_forward", "relu_backward", "sequential_forward",
             "xeloss_forward", "xeloss_backward", "sequential_backward", "sgd_step"]
    assert len(hints) == len(order)
    for key, hint in zip(order, hints):
        assert f"Question {question(key).INFO.number} ({key})" in hint, (key, hint)


def test_the_committed_release_stubs_are_derived_from_the_reference():
    for name in FILES:
        assert (RELEASE / "mytorch" / name).read_text(encoding="utf-8") == derive_stub(reference(name), name), (
            f"release/{ASSIGNMENT}/mytorch/{name} is stale: run `make release`")


GOOD = '''
def f(x):
    """Question 9 (f): double x."""
    y = x
    ### BEGIN SOLUTION
    return 2 * y
    ### END SOLUTION
'''


def test_a_wellformed_toy_reference():
    stub = derive_stub(GOOD)
    assert stub == GOOD.replace(
        "    ### BEGIN SOLUTION\n    return 2 * y\n    ### END SOLUTION\n",
        "    # YOUR CODE HERE\n    raise NotImplementedError('Question 9 (f): double x.')\n")


@pytest.mark.parametrize("source, message", [
    pytest.param(GOOD.replace("    ### END SOLUTION\n", ""), "1 '### BEGIN SOLUTION' but 0", id="begin-without-end"),
    pytest.param(GOOD.replace("    ### BEGIN SOLUTION\n", ""), "0 '### BEGIN SOLUTION' but 1", id="end-without-begin"),
    pytest.param(GOOD.replace("    ### BEGIN SOLUTION\n    return 2 * y\n    ### END SOLUTION\n",
                              "    ### END SOLUTION\n    return 2 * y\n    ### BEGIN SOLUTION\n"),
                 "marker", id="end-before-begin"),
    pytest.param(GOOD.replace("    return 2 * y\n",
                              "    ### BEGIN SOLUTION\n    return 2 * y\n    ### END SOLUTION\n"),
                 "nested", id="nested"),
    pytest.param("### BEGIN SOLUTION\nX = 1\n### END SOLUTION\n", "inside a function", id="outside-a-function"),
    pytest.param(GOOD.replace("    return 2 * y\n", "    return 2 * y  ### BEGIN SOLUTION\n"),
                 "2 '### BEGIN SOLUTION' but 1", id="unbalanced-inline-marker"),
    pytest.param("def f(x):\n    y = x  ### BEGIN SOLUTION\n    return 2 * y  ### END SOLUTION\n",
                 "not at the start of its own line", id="inline-markers"),
    pytest.param("def f(x):\n    ### BEGIN SOLUTION\n    for i in x:\n    ### END SOLUTION\n        pass\n",
                 "would not compile", id="stub-does-not-compile"),
    pytest.param("def f(x:\n    ### BEGIN SOLUTION\n    pass\n    ### END SOLUTION\n", "does not parse",
                 id="reference-does-not-parse"),
])
def test_bad_markers_raise_stub_error(source, message):
    with pytest.raises(StubError, match=re.escape(message)):
        derive_stub(source, "toy.py")


# ---------------------------------------------------------------------------
# The leak check
# ---------------------------------------------------------------------------


def test_the_committed_release_has_no_leak():
    assert leaks.check_release(ROOT, ASSIGNMENT) == []


def test_every_solution_region_is_fingerprinted():
    """A whole region pasted anywhere would be caught: each has a line the check looks for."""
    given = "\n".join((RELEASE / "mytorch" / name).read_text(encoding="utf-8") for name in FILES)
    prints = leaks.fingerprints(REFERENCE, SOURCE, given)
    for name, region in solution_regions():
        found = [line for line in region.splitlines() if leaks._squash(line) in prints]
        assert found, f"no line of this solution region of {name} is a fingerprint:\n{region}"


@pytest.fixture
def course(tmp_path):
    """A temporary copy of the course's reference, sources and committed release."""
    for name in ("mytorch", "source", "release"):
        copy_tree(ROOT / name, tmp_path / name)
    return tmp_path


def _found(course: Path) -> str:
    return "\n".join(str(leak) for leak in leaks.check_release(course, ASSIGNMENT))


def _edit_notebook(path: Path, edit) -> None:
    nb = nbformat.read(str(path), as_version=4)
    edit(nb)
    nbformat.write(nb, str(path))


def _longest(name: str, region: str) -> str:
    """The region's longest line of code that the given code does not hold too."""
    given = {line.strip() for file in FILES for line in SOLUTION.sub("", reference(file)).splitlines()}
    return max((line.strip() for line in region.splitlines()
                if line.strip() and not line.strip().startswith("#") and line.strip() not in given), key=len)


SOLUTION_LINES = {name_region: _longest(*name_region) for name_region in solution_regions()}


def test_the_copy_is_clean(course):
    assert _found(course) == ""


@pytest.mark.parametrize("line", sorted(set(SOLUTION_LINES.values())))
def test_a_solution_line_in_a_release_py_file(course, line):
    target = course / "release" / ASSIGNMENT / "mytorch" / "nn.py"
    target.write_text(target.read_text(encoding="utf-8") + f"\n# {line}\n", encoding="utf-8")
    assert "a solution line of mytorch/" in _found(course)


def test_a_solution_line_in_a_release_markdown_cell(course):
    line = next(line for (name, _), line in SOLUTION_LINES.items() if name == "nn.py" and "grad" in line)
    _edit_notebook(course / "release" / ASSIGNMENT / "02_backward.ipynb",
                   lambda nb: nb.cells.append(nbformat.v4.new_markdown_cell(f"Hint:\n\n    {line}\n")))
    assert "02_backward.ipynb: a solution line of mytorch/nn.py" in _found(course)


def test_a_solution_line_in_the_release_readme(course):
    line = _longest("optim.py", SOLUTION.findall(reference("optim.py"))[0])
    readme = course / "release" / ASSIGNMENT / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + f"\n`{line}`\n", encoding="utf-8")
    assert "README.md: a solution line of mytorch/optim.py" in _found(course)


HIDDEN = [line for line in hidden_lines() if len(leaks._squash(line)) >= leaks.MIN_FINGERPRINT]


@pytest.mark.parametrize("line", [line for line in HIDDEN if "expected=" in line][:4] + [HIDDEN[0]])
def test_a_hidden_test_line_in_a_release_code_cell(course, line):
    _edit_notebook(course / "release" / ASSIGNMENT / "03_step.ipynb",
                   lambda nb: nb.cells.append(nbformat.v4.new_code_cell(line.strip())))
    assert "03_step.ipynb: a hidden test line of" in _found(course)


def test_a_hidden_test_line_in_a_release_cell_output(course):
    line = next(line for line in HIDDEN if "expected=" in line)

    def edit(nb):
        cell = next(c for c in nb.cells if c.cell_type == "code")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{line}\n")]
    _edit_notebook(course / "release" / ASSIGNMENT / "01_forward.ipynb", edit)
    assert "01_forward.ipynb: a hidden test line of" in _found(course)


@pytest.mark.parametrize("marker", ["### BEGIN SOLUTION", "### END HIDDEN TESTS"])
def test_a_marker_in_a_release_notebook_or_file(course, marker):
    _edit_notebook(course / "release" / ASSIGNMENT / "04_training.ipynb",
                   lambda nb: nb.cells.append(nbformat.v4.new_code_cell(f"{marker}\npass")))
    (course / "release" / ASSIGNMENT / "mytorch" / "extra.py").write_text(f"{marker}\n", encoding="utf-8")
    found = _found(course)
    assert f"04_training.ipynb: the marker {marker.strip('# ')!r}" in found
    assert f"extra.py: the marker {marker.strip('# ')!r}" in found


def test_an_unreadable_notebook(course):
    (course / "release" / ASSIGNMENT / "05_extra.ipynb").write_text("{ this is not json", encoding="utf-8")
    assert "05_extra.ipynb: cannot be read" in _found(course)


@pytest.mark.parametrize("name", ["mytorch/_speedups.so", "solution.zip", "mytorch/NOTES"])
def test_an_unexpected_file_cannot_be_checked(course, name):
    target = course / "release" / ASSIGNMENT / name
    target.write_bytes(b"\x7fELF\x00\x01binary")
    assert f"{name}: an unexpected file type" in _found(course)


def test_a_notebook_not_yet_written_is_checked_too(course):
    """The build checks each notebook as nbgrader is about to write it."""
    line = HIDDEN[0]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(line)])
    found = leaks.check_release(course, ASSIGNMENT, extra_notebooks=[("new.ipynb (being released)", nb)])
    assert any("new.ipynb (being released): a hidden test line" in str(leak) for leak in found)


# ---------------------------------------------------------------------------
# nbgrader generate_assignment runs the check
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("plant", ["solution-in-markdown", "hidden-expected-in-code-cell"])
def test_generate_assignment_fails_on_a_leak_in_a_visible_source_cell(tmp_path, plant):
    course = scratch_course(tmp_path / "course")
    solution_line = SOLUTION_LINES[solution_regions()[0]]
    hidden_line = next(line for line in HIDDEN if "expected=" in line).strip()

    def edit(nb):
        if plant == "solution-in-markdown":
            cell = next(c for c in nb.cells if c.cell_type == "markdown" and not c.metadata.nbgrader.get("grade"))
            cell.source += f"\n\nFor example: `{solution_line}`\n"
        else:
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
            cell.source += f"\n# {hidden_line}\n"
    _edit_notebook(course / "source" / ASSIGNMENT / "01_forward.ipynb", edit)

    result = nbgrader(course, "generate_assignment", ASSIGNMENT)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "would leak" in output and "01_forward.ipynb (being released)" in output
    assert not (course / "release" / ASSIGNMENT / "01_forward.ipynb").exists(), "nbgrader removes a failed release"


# ---------------------------------------------------------------------------
# The Sequential stand-ins (in the course package students install)
# ---------------------------------------------------------------------------


def test_the_sequential_stand_ins_reveal_no_layer_formula():
    """The stand-ins the Sequential tests plug in compute seeded maps that are neither a Linear
    (affine) nor a ReLU, and their backward is not the derivative of their forward: running or
    reading them teaches none of Linear's or ReLU's forward or backward."""
    import numpy as np

    from assignment.shared.questions._standins import network

    net = network({"layers": ["Linear(3, 3)", "ReLU()", "Linear(3, 2)"], "sizes": [3, 3, 3, 2], "seed": 5}, rows=4)
    rng = np.random.default_rng(0)
    for index in range(3):
        n_in, n_out = net.sizes[index], net.sizes[index + 1]
        x1, x2 = rng.normal(size=(4, n_in)), rng.normal(size=(4, n_in))
        forward = lambda x: net.forward_map(index, x)  # noqa: E731
        # Not affine: an affine map f has f(x1 + x2) + f(0) == f(x1) + f(x2).
        assert not np.allclose(forward(x1 + x2) + forward(0 * x1), forward(x1) + forward(x2))
        if n_in == n_out:
            assert not np.allclose(forward(x1), np.maximum(x1, 0))
        # Not the backward of its forward: the true one is the forward's Jacobian, transposed, times g.
        g = rng.normal(size=(4, n_out))
        eps, true_backward = 1e-6, np.zeros((4, n_in))
        for j in range(n_in):
            step = np.zeros_like(x1)
            step[:, j] = eps
            true_backward[:, j] = ((forward(x1 + step) - forward(x1 - step)) / (2 * eps) * g).sum(axis=1)
        assert not np.allclose(net.backward_map(index, g), true_backward, atol=1e-3)
        assert not np.allclose(net.backward_map(index, g), g @ np.eye(n_out, n_in), atol=1e-3)
