"""The release notebooks run from top to bottom, as a student runs them.

Every notebook of ``release/mlp`` is executed with nbclient (the venv's
``python3`` kernel, working directory a scratch copy of the release), twice:

(a) with the stubs as released: no cell raises (Run All goes on to the end:
    no ``error`` output anywhere, visualizers included); each visible test cell
    reports on stderr that its method is not implemented yet;
(b) with the reference solution dropped into ``mytorch/``: no error and no
    stderr output at all, and every visible test prints "Passed.".

And ``nbgrader validate`` (the student's Validate button) on a release notebook
says "Success!" with the solution, and lists the failing cells with the stubs,
without crashing.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from assignment.instructor.release.stubs import derive_stub
from course_tools import NOTEBOOKS, REFERENCE, RELEASE, built_once, copy_tree, nbgrader, nbgrader_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("notebooks_execute")]

TIMEOUT = 300  # seconds per cell: 04's dashboard trains an MLP


def student_copy(target: Path, *, solution: bool) -> Path:
    copy_tree(RELEASE, target)
    if solution:
        # The reference with every solution kept and its markers gone: what a perfect student writes.
        for path in REFERENCE.glob("*.py"):
            solved = derive_stub(path.read_text(encoding="utf-8"), f"mytorch/{path.name}", solve=lambda hint: True)
            (target / "mytorch" / path.name).write_text(solved, encoding="utf-8")
    return target


async def _execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=TIMEOUT, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    env = nbgrader_env()  # no PYTHONPATH: the kernel imports the mytorch of its folder, nothing else
    await client.async_execute(env=env, cwd=str(path.parent))
    return nb


def execute_all(folders: list[Path]) -> dict[tuple[str, str], nbformat.NotebookNode]:
    """Execute every notebook of every folder, two kernels at a time."""
    async def main():
        limit = asyncio.Semaphore(2)

        async def one(folder: Path, name: str):
            async with limit:
                return (folder.name, name), await _execute(folder / name)
        return dict(await asyncio.gather(*(one(folder, name) for folder in folders for name in NOTEBOOKS)))
    return asyncio.run(main())


def _execute_both(root: Path) -> None:
    folders = [student_copy(root / "stubs", solution=False), student_copy(root / "solution", solution=True)]
    for (folder, name), nb in execute_all(folders).items():
        nbformat.write(nb, str(root / folder / f"executed_{name}"))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Both runs of every notebook, executed once per test run (whatever the number of workers)."""
    root = built_once(tmp_path_factory, "notebooks_execute", _execute_both)
    return {(folder, name): nbformat.read(str(root / folder / f"executed_{name}"), as_version=4)
            for folder in ("stubs", "solution") for name in NOTEBOOKS}


def _grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "?")


def _outputs(nb, kind: str, name: str | None = None):
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == kind and (name is None or output.get("name") == name):
                yield _grade_id(cell), output


def _stream(cell, name: str) -> str:
    return "".join(o.text for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == name)


def _visible_tests(nb):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and "run_test(" in c.source]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_with_the_stubs_run_all_goes_on_and_tests_say_not_implemented(executed, name):
    nb = executed[("stubs", name)]
    errors = [f"{grade_id}: {o.ename}: {o.evalue}" for grade_id, o in _outputs(nb, "error")]
    assert errors == [], f"{name} raised with the stubs:\n" + "\n".join(errors)
    for cell in _visible_tests(nb):
        err = _stream(cell, "stderr")
        assert re.search(r"failed: \S+ is not implemented yet", err), f"{name}: {_grade_id(cell)} says {err!r}"
        assert "Traceback" not in err
    for cell in nb.cells:
        if _grade_id(cell) == "training_accuracy":
            assert "not implemented yet" in _stream(cell, "stderr")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_with_the_solution_nothing_fails(executed, name):
    nb = executed[("solution", name)]
    errors = [f"{grade_id}: {o.ename}: {o.evalue}" for grade_id, o in _outputs(nb, "error")]
    assert errors == [], f"{name} raised with the solution:\n" + "\n".join(errors)
    stderr = [f"{grade_id}: {o.text[:500]}" for grade_id, o in _outputs(nb, "stream", "stderr")]
    assert stderr == [], f"{name} wrote to stderr with the solution:\n" + "\n".join(stderr)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.source.strip()
              and not all(line.startswith("#") for line in c.source.strip().splitlines())]
    for cell in graded:
        assert "Passed." in _stream(cell, "stdout"), f"{name}: {_grade_id(cell)} did not pass"
    assert len(_visible_tests(nb)) == {"01_forward.ipynb": 4, "02_backward.ipynb": 4, "03_step.ipynb": 1}.get(name, 0)


VALIDATED = "03_step.ipynb"  # the shortest notebook: validate runs it all


def test_validate_succeeds_with_the_solution(tmp_path):
    folder = student_copy(tmp_path / "solution", solution=True)
    result = nbgrader(folder, "validate", VALIDATED, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout[-3000:]


def test_validate_reports_the_failures_with_the_stubs(tmp_path):
    folder = student_copy(tmp_path / "stubs", solution=False)
    result = nbgrader(folder, "validate", VALIDATED, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "VALIDATION FAILED ON 1 CELL(S)!" in result.stdout, output[-3000:]
    assert "SGD.step is not implemented yet" in result.stdout
    assert "Traceback" not in output
