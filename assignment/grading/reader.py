"""Reading submitted notebooks so that a broken one cannot stop autograde.

nbgrader reads each submitted notebook before grading it; a malformed file, or
nbgrader metadata tampered into an unsupported schema, makes it fail that
student (losing the feedback) or even stop the whole run. Grades here never
depend on the notebook's content (the tests come from the gradebook, the code
from ``mytorch/``), so this exporter, set as ``Autograde.exporter_class``,
reads what it can and otherwise stands the released notebook in, with a note
for the student. The submitted file itself is never modified.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbformat.v4 import new_markdown_cell, new_notebook
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


class TolerantNotebookExporter(NotebookExporter):
    """A NotebookExporter that replaces an unreadable notebook by the released one."""

    def from_filename(self, filename, resources=None, **kw):
        resources = resources if resources is not None else {}
        resources.setdefault("metadata", {})
        path, basename = os.path.split(filename)
        resources["metadata"]["name"] = os.path.splitext(basename)[0]
        resources["metadata"]["path"] = path
        try:
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
        return self.from_notebook_node(nb, resources=resources, **kw)

    def _released(self, resources, basename: str):
        info = resources.get("nbgrader", {})
        coursedir = CourseDirectory(parent=self)
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info.get("assignment", "")))
        try:
            return nbformat.read(str(release / basename), as_version=4)
        except Exception:
            return new_notebook()
