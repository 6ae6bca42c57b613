"""Run All in a real kernel (nbclient): every visualizer displays as a widget, nothing raises,
Run All goes on past broken code, and the dashboard's autorun stays short."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CELLS = [
    "import sys, time\nsys.path.insert(0, {root!r})\nsys.path.insert(0, {here!r})\n"
    "from mytorch import nn, optim\nfrom assignment.student import viz\nfrom viz_fakes import broken_nn, broken_optim",
    "viz.linear_forward(nn)",
    "viz.relu_forward(nn)",
    "viz.sequential_forward(nn)",
    "viz.xeloss_forward(nn)",
    "viz.xeloss_backward(nn)",
    "viz.linear_backward(nn)",
    "viz.relu_backward(nn)",
    "viz.sequential_backward(nn)",
    "viz.sgd_step(nn, optim)",
    "start = time.perf_counter()\nboard = viz.training_dashboard(nn, optim, autorun=True)\n"
    "elapsed = time.perf_counter() - start\nboard",
    "print(json.dumps({{'elapsed': elapsed, 'epochs': len(board.history), 'state': board.state}}))",
    "viz.linear_backward(broken_nn('not_implemented'))",
    "viz.training_dashboard(broken_nn('raises'), broken_optim('raises'), autorun=True)",
    "print('still running')",
]


@pytest.mark.slow
def test_run_all_in_a_kernel():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.v4.new_notebook()
    source = [cell.format(root=str(ROOT), here=str(Path(__file__).parent)) for cell in CELLS]
    source[0] = "import json\n" + source[0]
    notebook.cells = [nbformat.v4.new_code_cell(text) for text in source]
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=False)
    start = time.perf_counter()
    client.execute()
    assert time.perf_counter() - start < 120
    widget_cells = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13]
    for index in widget_cells:
        outputs = notebook.cells[index].outputs
        kinds = [o.get("output_type") for o in outputs]
        assert "error" not in kinds, (index, outputs)
        views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert len(views) == 1, (index, outputs)
        assert not [o for o in outputs if o.get("name") == "stderr"], (index, outputs)
    report = json.loads(notebook.cells[11].outputs[0]["text"])
    assert report["state"] == "ok" and report["epochs"] == 5
    assert report["elapsed"] < 5.0
    assert "still running" in notebook.cells[14].outputs[0]["text"]
