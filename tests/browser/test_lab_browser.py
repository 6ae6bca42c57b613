"""JupyterLab in Chromium, as a student sees it: every notebook run, every visualizer rendered.

Screenshots land in .artifacts/screenshots/{solution,stubs}/ for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.browser.lab_session import (CHROMIUM, CHROMIUM_FLAGS, accessibility_problems, jupyterlab, keyboard_walk,
                                       picture_alts, run_all, visible_state)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".artifacts" / "screenshots"
# notebook -> (visualizer cells, visible test cells)
NOTEBOOKS = {"01_forward.ipynb": (4, 4), "02_backward.ipynb": (4, 4), "03_step.ipynb": (1, 1),
             "04_training.ipynb": (1, 1)}
SOLUTION = ROOT / "examples" / "submissions" / "ada_correct" / "mlp" / "mytorch"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make test` (it installs it) or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


def _release_copy(tmp: Path, with_solution: bool) -> Path:
    release = tmp / "release"
    shutil.copytree(ROOT / "release" / "mlp", release)
    if with_solution:
        for path in SOLUTION.glob("*.py"):
            shutil.copy(path, release / "mytorch" / path.name)
    return release


def _run_and_capture(browser, tmp: Path, with_solution: bool, label: str) -> dict:
    states = {}
    out = SHOTS / label
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with jupyterlab(tmp / "lab", _release_copy(tmp, with_solution)) as (base, token):
        for notebook in NOTEBOOKS:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("dialog", lambda dialog: dialog.dismiss())
            run_all(page, base, token, notebook)
            states[notebook] = visible_state(page)
            states[notebook]["unnamed"] = accessibility_problems(page)
            states[notebook]["picture_alts"] = picture_alts(page)
            if notebook == "01_forward.ipynb":
                states[notebook]["keyboard"] = keyboard_walk(page)
            stem = notebook.removesuffix(".ipynb")
            page.screenshot(path=str(out / f"{stem}-page.png"))
            widgets = page.locator('.jp-OutputArea-output:has(> .jupyter-widgets)')
            for i in range(widgets.count()):
                widgets.nth(i).scroll_into_view_if_needed()
                page.wait_for_timeout(300)
                widgets.nth(i).screenshot(path=str(out / f"{stem}-widget{i + 1}.png"))
            page.close()
    return states


def test_every_notebook_runs_with_the_solution_and_every_visualizer_renders(browser, tmp_path):
    states = _run_and_capture(browser, tmp_path, with_solution=True, label="solution")
    for notebook, (visualizers, visible_tests) in NOTEBOOKS.items():
        state = states[notebook]
        assert state["errors"] == [], f"{notebook}: error outputs {state['errors']}"
        assert state["stderr"] == [], f"{notebook}: stderr outputs {state['stderr']}"
        assert state["widget_outputs"] >= visualizers, f"{notebook}: {state}"
        assert state["widget_images"] >= visualizers, f"{notebook}: visualizer images not drawn: {state}"
        assert state["passed"] == visible_tests, f"{notebook}: {state}"
        assert not state["formgrader"], "student mode must not show formgrader"
        _assert_readable_and_accessible(notebook, state, "✔")
    keys = states["01_forward.ipynb"]["keyboard"]
    assert keys["start"] == "1 / 6" and keys["focused"] == "Next position", keys
    assert (keys["enter"], keys["space"]) == ("2 / 6", "3 / 6"), keys
    assert keys["slider_focused"] == "entry position" and keys["arrow"] == "4 / 6", keys


def _assert_readable_and_accessible(notebook: str, state: dict, verdict: str) -> None:
    """Every figure is a picture with alt text, every visualizer picture says what it shows and its
    verdict, every control has a name in the accessibility tree."""
    assert state["figure_text"] == [], f"{notebook}: a figure shows as text: {state['figure_text']}"
    assert all(len(alt) > 40 for alt in state["static_figures"]), f"{notebook}: {state['static_figures']}"
    if notebook == "01_forward.ipynb":
        assert len(state["static_figures"]) == 3, state["static_figures"]
    assert state["unnamed"] == [], f"{notebook}: unnamed pictures or controls: {state['unnamed']}"
    assert state["picture_alts"], notebook
    for alt in state["picture_alts"]:
        assert "Verdict:" in alt or "fill in after" in alt, f"{notebook}: {alt}"
    assert any(f"Verdict: {verdict}" in alt for alt in state["picture_alts"]), f"{notebook}: {state['picture_alts']}"


def test_stubs_give_a_clear_state_and_run_all_goes_on(browser, tmp_path):
    states = _run_and_capture(browser, tmp_path, with_solution=False, label="stubs")
    for notebook, (visualizers, visible_tests) in NOTEBOOKS.items():
        state = states[notebook]
        assert state["errors"] == [], f"{notebook}: a traceback reached the student: {state['errors']}"
        assert state["widget_outputs"] >= visualizers, f"{notebook}: {state}"
        assert len(state["stderr"]) == visible_tests, f"{notebook}: {state}"
        assert all("not implemented yet" in text for text in state["stderr"]), state["stderr"]
        _assert_readable_and_accessible(notebook, state, "✎" if notebook != "04_training.ipynb" else "✎")
