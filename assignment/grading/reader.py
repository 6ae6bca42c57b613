"""Reading submitted notebooks so that a broken one cannot stop autograde.

nbgrader reads each submitted notebook before grading it; a malformed file, or
nbgrader metadata tampered into an unsupported schema, makes it fail that
student (losing the feedback) or even stop the whole run. Grades here never
depend on the notebook's content (the tests come from the gradebook, the code
from ``mytorch/``), so this exporter, set as ``Autograde.exporter_class``,
reads what it can and otherwise stands the released notebook in, with a note
for the student. It then makes the notebook's nbgrader cells agree with the
gradebook (``reconciled``): stock nbgrader stops grading a student whose graded
cell changed its flags ("Inconsistent checksums") or lost a neighbour it needs
to put a deleted cell back. The submitted file itself is never modified.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory

MAX_NOTEBOOK_BYTES = 50 * 2**20
SCHEMA_VERSION = 3


def normalized(nb) -> tuple[object, list[str]]:
    """Drop nbgrader metadata that is not well formed (OverwriteCells restores the real
    graded cells from the gradebook afterwards); return the notebook and what was dropped."""
    dropped = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        ok = (isinstance(meta, dict) and meta.get("schema_version") == SCHEMA_VERSION
              and isinstance(meta.get("grade_id", ""), str) and isinstance(meta.get("points", 0), (int, float))
              and all(isinstance(meta.get(flag, False), bool) for flag in ("grade", "solution", "locked", "task")))
        if not ok:
            del cell.metadata["nbgrader"]
            dropped.append(str(meta)[:80])
    return nb, dropped


def reconciled(nb, db_url: str, notebook: str, assignment: str) -> tuple[object, list[str]]:
    """Make every nbgrader cell of ``nb`` what the gradebook says it is; return the notebook and the changes.

    - a cell whose grade_id the gradebook does not know, or that repeats an
      earlier cell's grade_id, becomes an ordinary cell (it is graded by nothing);
    - a known cell gets the gradebook's flags, points and type, and, if locked,
      its source back (what OverwriteCells would restore, before it compares checksums);
    - a graded cell that is missing is put back, after the nearest cell that
      precedes it in the source notebook (or first).
    Grades are unaffected: they come from the gradebook's tests and the student's mytorch.
    """
    changes: list[str] = []
    with Gradebook(db_url) as gb:
        try:
            source_nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return nb, changes
        sources = {cell.name: cell for cell in source_nb.source_cells}
        order = [cell.name for cell in source_nb.source_cells]
        points = {cell.name: float(cell.max_score) for cell in source_nb.grade_cells}
        solutions = {cell.name for cell in source_nb.solution_cells}
        tasks = {cell.name for cell in source_nb.task_cells}

        def truth(name: str) -> dict:
            meta = {"schema_version": SCHEMA_VERSION, "grade_id": name, "grade": name in points,
                    "solution": name in solutions, "locked": bool(sources[name].locked), "task": name in tasks,
                    "cell_type": sources[name].cell_type, "checksum": sources[name].checksum}
            if name in points:
                meta["points"] = points[name]
            return meta

        def comparable(meta) -> dict:
            derived = ("checksum", "cell_type")
            return {k: float(v) if k == "points" else v for k, v in dict(meta).items() if k not in derived}

        def fresh(name: str):
            source = sources[name]
            make = new_code_cell if source.cell_type == "code" else new_markdown_cell
            return make(source.source, metadata={"nbgrader": truth(name)})

        seen: set[str] = set()
        for i, cell in enumerate(nb.cells):
            meta = cell.get("metadata", {}).get("nbgrader")
            if meta is None:
                continue
            name = meta.get("grade_id")
            if name not in sources or name in seen:
                del cell.metadata["nbgrader"]
                changes.append(f"{name!r}: {'a repeated' if name in seen else 'an unknown'} grade_id, made ordinary")
                continue
            seen.add(name)
            if cell.cell_type != sources[name].cell_type:
                nb.cells[i] = fresh(name)
                changes.append(f"{name!r}: cell type restored")
                continue
            if comparable(meta) != comparable(truth(name)):
                changes.append(f"{name!r}: nbgrader metadata restored")
            cell.metadata["nbgrader"] = truth(name)
            if sources[name].locked:
                cell.source = sources[name].source
        for name in order:
            if name in points and name not in seen:
                present = [n for n in order[: order.index(name)] if n in seen]
                at = 0
                if present:
                    at = 1 + next(j for j, c in enumerate(nb.cells)
                                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == present[-1])
                nb.cells.insert(at, fresh(name))
                seen.add(name)
                changes.append(f"{name!r}: missing graded cell put back")
    return nb, changes


class TolerantNotebookExporter(NotebookExporter):
    """A NotebookExporter that replaces an unreadable notebook by the released one."""

    def from_filename(self, filename, resources=None, **kw):
        resources = resources if resources is not None else {}
        resources.setdefault("metadata", {})
        path, basename = os.path.split(filename)
        resources["metadata"]["name"] = os.path.splitext(basename)[0]
        resources["metadata"]["path"] = path
        try:
            if os.path.islink(filename):  # it could point at another student's notebook, or the source's
                raise ValueError("the notebook is a symbolic link, not a file")
            if os.path.getsize(filename) > MAX_NOTEBOOK_BYTES:
                raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
            nb = nbformat.read(filename, as_version=4)
            nbformat.validate(nb)
            problem = None
        except Exception as error:
            problem = f"{type(error).__name__}: {str(error)[:300]}"
            nb = self._released(resources, basename)
            self.log.warning("%s could not be read (%s); grading with the released notebook in its place",
                             filename, problem)
            nb.cells.insert(0, new_markdown_cell(
                f"**Your notebook `{basename}` could not be read** ({problem}). Your tests were "
                "graded all the same, on your `mytorch/*.py`; the cells below are the released notebook's."))
        nb, dropped = normalized(nb)
        if dropped:
            self.log.warning("%s: dropped %d cells' malformed nbgrader metadata", filename, len(dropped))
        info = resources.get("nbgrader", {})
        if {"db_url", "notebook", "assignment"} <= set(info):
            nb, changes = reconciled(nb, info["db_url"], info["notebook"], info["assignment"])
            for change in changes:
                self.log.warning("%s: %s", filename, change)
        return self.from_notebook_node(nb, resources=resources, **kw)

    def _released(self, resources, basename: str):
        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(parent=self)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info.get("assignment", "")))
        try:
            return nbformat.read(str(release / basename), as_version=4)
        except Exception:
            return new_notebook()
