"""Reading once per run what a run cannot change (``run_cache.py``) writes exactly what nbgrader wrote before.

One class (the four example submissions, a distinct copy of two of them, one of the copies
without its third notebook and the other with a test cell deleted and a locked cell edited)
is graded three times, each in its own copy of one generated course:

- ``old``: ``python -m assignment autograde --jobs 2`` with ``c.SandboxCheckedExporter.reuse_within_run
  = False``, ``copy_once = False``, ``exact_ignore = False`` and ``optimistic_validation = False``: the
  long-lived writer as it was (nbgrader's queries per notebook and per cell, nbconvert's three deep
  copies and twelve validations per conversion, nbgrader's own ``is_ignored``);
- ``new``: the same command with those on (the shipped configuration);
- ``serial``: a plain ``nbgrader autograde mlp`` (sandboxes and all, no verdict cache), shipped configuration.

Every row of every nbgrader table (generated ids aside) and every autograded file must be the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

import parallel_tools as pt
import writer_tools as wt
from course_tools import ASSIGNMENT, built_once, gradebook_url

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("writer_reuse")]

PLAN = [("ada_correct", "ada_correct"), ("ben_untouched", "ben_untouched"), ("cy_buggy", "cy_buggy"),
        ("dee_forward_only", "dee_forward_only"), ("ada_copy", "ada_correct"), ("cy_copy", "cy_buggy")]
# Every shortcut off: the run cache, the single deep copy and validation per conversion, the exact is_ignored.
OLD_PATH = ("\n# tests: the writer without the run cache and the other shortcuts\n"
            "c.SandboxCheckedExporter.reuse_within_run = False\n"
            "c.SandboxCheckedExporter.copy_once = False\n"
            "c.SandboxCheckedExporter.exact_ignore = False\n"
            "c.SandboxCheckedExporter.optimistic_validation = False\n")


def _tamper(submitted: Path) -> None:
    """ada_copy leaves out a notebook; cy_copy deletes a test cell and edits a locked one."""
    (submitted / "ada_copy" / ASSIGNMENT / "03_step.ipynb").unlink()
    path = submitted / "cy_copy" / ASSIGNMENT / "01_forward.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    tests = [i for i, cell in enumerate(nb.cells) if cell.metadata.get("nbgrader", {}).get("grade")
             and cell.cell_type == "code"]
    locked = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("locked")
              and not cell.metadata.get("nbgrader", {}).get("grade")]
    del nb.cells[tests[1]]
    locked[0].source += "\n# edited by the student"
    nbformat.write(nb, str(path))


def _build(folder: Path) -> None:
    from assignment.instructor.demo import collect

    submissions = pt.bench().make_class(folder / "submissions", PLAN)
    base = pt.generated_course(folder / "base")
    for name in ("new", "old", "serial"):
        shutil.copytree(base, folder / name)
        collect(folder / name, submissions)
        _tamper(folder / name / "submitted")
    with open(folder / "old" / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write(OLD_PATH)
    result = pt.parallel_command(folder / "new")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    # the old writer reads the same verdicts: the cache the new run filled
    shutil.copytree(folder / "new" / ".grading_cache", folder / "old" / ".grading_cache", dirs_exist_ok=True)
    result = pt.parallel_command(folder / "old")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (folder / "old.out").write_text(result.stdout, encoding="utf-8")
    result = pt.serial_command(folder / "serial")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    with gradebook_url(None):
        return built_once(tmp_path_factory, "writer_reuse_class", _build)


def test_the_old_writer_read_every_verdict_from_the_cache(graded):
    summary = [line for line in (graded / "old.out").read_text(encoding="utf-8").splitlines()
               if line.startswith("graded ")]
    assert summary and "graded 6 submissions" in summary[-1], summary


@pytest.mark.parametrize("other", ["new", "serial"])
def test_every_gradebook_row_is_the_same(graded, other):
    old = wt.gradebook_dump(pt.sqlite_url(graded / "old"))
    got = wt.gradebook_dump(pt.sqlite_url(graded / other))
    assert len(old["grade"]) == 6 * pt.GRADES  # a missing notebook's grades are rows too (score 0)
    assert wt.differences(old, got) == []
    assert got == old


@pytest.mark.parametrize("other", ["new", "serial"])
def test_every_autograded_file_is_the_same(graded, other):
    old = wt.folder_files(graded / "old" / "autograded")
    got = wt.folder_files(graded / other / "autograded")
    assert sorted(got) == sorted(old)
    differ = [path for path in old if old[path] != got[path]]
    # only a cell put back at grading may differ, in its random id (writer_tools.without_new_cell_ids)
    assert differ == ["cy_copy/mlp/01_forward.ipynb"]
    for path in differ:
        kept = wt.cell_ids(graded / "old" / "submitted" / path)
        assert wt.without_new_cell_ids(got[path], kept) == wt.without_new_cell_ids(old[path], kept)
    assert len([path for path in old if path.endswith(".ipynb")]) == 6 * 4 - 1


def test_the_tampered_cells_were_restored_and_scored(graded):
    """The paths the run cache serves beyond the plain case: a deleted test cell is put back (and
    graded), an edited locked cell restored, a missing notebook scored 0."""
    rows = pt.grade_rows(pt.sqlite_url(graded / "new"))
    assert all(auto == 0 for (student, notebook, _), (auto, _, _) in rows.items()
               if student == "ada_copy" and notebook == "03_step")
    totals = pt.totals(pt.sqlite_url(graded / "new"))
    assert totals["cy_copy"] == pt.EXAMPLE_TOTALS["cy_buggy"]
    assert totals["ada_copy"] < pt.EXAMPLE_TOTALS["ada_correct"]
    for student in ("ada_correct", "ben_untouched", "cy_buggy", "dee_forward_only"):
        assert totals[student] == pt.EXAMPLE_TOTALS[student]
