"""Run All on a release notebook whose student code loops forever: the visualizer and the visible
test each stop it, say so, and every later cell still runs (nbclient, a real kernel)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from assignment.instructor.release.stubs import derive_stub

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from course_tools import REFERENCE, RELEASE, copy_tree, nbgrader_env  # noqa: E402

pytestmark = [pytest.mark.slow]

LOOP = "        while True:  # a student's endless loop\n            pass\n"


def _looping_release(target: Path) -> Path:
    copy_tree(RELEASE, target)
    for path in REFERENCE.glob("*.py"):
        solved = derive_stub(path.read_text(encoding="utf-8"), f"mytorch/{path.name}", solve=lambda hint: True)
        if path.name == "nn.py":
            assert "        return np.maximum(x, 0)\n" in solved
            solved = solved.replace("        return np.maximum(x, 0)\n", LOOP, 1)
        (target / "mytorch" / path.name).write_text(solved, encoding="utf-8")
    return target


def _cell(nb, needle: str):
    return next(cell for cell in nb.cells if cell.cell_type == "code" and needle in cell.source)


def _text(cell, name: str) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o["name"] == name)


def test_run_all_goes_on_past_an_endless_loop_in_relu_forward(tmp_path):
    folder = _looping_release(tmp_path / "student")
    nb = nbformat.read(str(folder / "01_forward.ipynb"), as_version=4)
    # The cell timeout is far above the checks' own limits: if they failed, this would hang, not pass.
    client = NotebookClient(nb, kernel_name="python3", timeout=240, allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    start = time.perf_counter()
    client.execute(env=nbgrader_env(), cwd=str(folder))
    elapsed = time.perf_counter() - start
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "a cell did not run"
    assert not [o for cell in code for o in cell.outputs if o.get("output_type") == "error"]
    test = _cell(nb, 'run_test("relu_forward", 1')
    assert "ReLU.forward did not finish within 10 s: an endless loop?" in _text(test, "stderr")
    assert "`while True:  # a student's endless loop`" in _text(test, "stderr")
    view = _cell(nb, "viz.relu_forward(nn)")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in view.outputs)
    # the questions after it are untouched by the loop: their tests pass
    for key in ("linear_forward", "sequential_forward", "xeloss_forward"):
        assert "Passed." in _text(_cell(nb, f'run_test("{key}", 1'), "stdout"), key
    assert elapsed < 200, elapsed
