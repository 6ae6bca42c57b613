"""The notebooks' contract with ``assignment.student.viz``, and what the package must never contain."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import ipywidgets as widgets
import pytest

from assignment.student import viz
from assignment.student.viz._controls import Picture
from viz_fakes import NN_ONLY, WITH_OPTIM

ROOT = Path(__file__).resolve().parents[2]
VIZ_DIR = ROOT / "assignment" / "student" / "viz"
SOURCES = sorted(VIZ_DIR.glob("*.py"))


def test_public_functions_and_signatures():
    assert set(viz.__all__) == set(NN_ONLY + WITH_OPTIM)
    for name in NN_ONLY:
        params = list(inspect.signature(getattr(viz, name)).parameters.values())
        assert params[0].name == "nn" and params[0].kind is params[0].POSITIONAL_OR_KEYWORD
        assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in params[1:]), name
    for name in WITH_OPTIM:
        params = list(inspect.signature(getattr(viz, name)).parameters.values())
        assert [p.name for p in params[:2]] == ["nn", "optim"]
        assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in params[2:]), name
    assert inspect.signature(viz.training_dashboard).parameters["autorun"].default is False


@pytest.mark.parametrize("name", NN_ONLY + WITH_OPTIM)
def test_each_returns_a_displayable_widget(name, ref):
    nn, optim = ref
    w = getattr(viz, name)(nn, optim) if name in WITH_OPTIM else getattr(viz, name)(nn)
    assert isinstance(w, widgets.VBox)
    assert w.state == "ok", w.status_text
    assert isinstance(w.image, Picture) and w.image.format == "png" and w.image.alt
    # everything in it can be sent to the front end
    state = w.get_state()
    assert "children" in state
    for child in w.children:
        assert isinstance(child, widgets.Widget)


def test_same_seed_same_picture(ref):
    nn, _ = ref
    assert bytes(viz.linear_backward(nn).image.value) == bytes(viz.linear_backward(nn).image.value)
    assert bytes(viz.xeloss_forward(nn, seed=3).image.value) != bytes(viz.xeloss_forward(nn).image.value)


def test_no_pyplot_no_reference_no_solution_imports():
    for path in SOURCES:
        text = path.read_text()
        # pyplot could open windows or need a GUI backend
        assert not re.search(r"^\s*(import\s+matplotlib\.pyplot|from\s+matplotlib(\.pyplot)?\s+import\s+pyplot|"
                             r"from\s+matplotlib\.pyplot\s+import)", text, re.M), path.name
        assert "plt." not in text, path.name
        assert not re.search(r"^\s*(from|import)\s+mytorch\b", text, re.M), path.name
        assert "ipympl" not in text and "%matplotlib" not in text, path.name


def _normalise(line: str) -> str:
    return "".join(line.split())


def solution_lines() -> list[str]:
    """The non-comment lines between the SOLUTION markers of the reference, whitespace removed."""
    found = []
    for name in ("nn.py", "optim.py"):
        inside = False
        for line in (ROOT / "mytorch" / name).read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("### BEGIN SOLUTION"):
                inside = True
                continue
            if stripped.startswith("### END SOLUTION"):
                inside = False
                continue
            if inside and stripped and not stripped.startswith("#"):
                found.append(_normalise(stripped.split("  #")[0]))
    return found


def test_the_solution_lines_are_known():
    lines = solution_lines()
    assert len(lines) >= 10
    assert any("grad_weight" in line for line in lines)


def test_viz_contains_no_solution_line():
    solutions = solution_lines()
    offenders = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = _normalise(line.split("#")[0]) if not line.strip().startswith("#") else ""
            if not code:
                continue
            for solution in solutions:
                # short lines (`return x`) must not appear as a whole line; longer ones nowhere in a line
                if code == solution or (len(solution) >= 12 and solution in code):
                    offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert not offenders, "solution code in assignment/student/viz:\n" + "\n".join(offenders)


def test_readme_lists_every_module():
    readme = (VIZ_DIR / "README.md").read_text()
    for path in SOURCES:
        if not path.name.startswith("_"):
            assert f"`{path.name}`" in readme, path.name
