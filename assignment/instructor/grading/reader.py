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

It is also where autograde takes in the rest of a submission (``intake.take_in``,
once per student, on the first notebook read from ``submitted/``): nbgrader
offers no hook there that knows the student and the course folders (its
``pre_convert_hook`` is called with the command line's student pattern, and its
failures are logged and ignored), while the exporter is made by the converter
itself (``parent``) and told each notebook's student and assignment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import copy
import hashlib
import inspect

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import Exporter
from nbformat import validator
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from traitlets import Bool

from assignment.instructor.grading.intake import take_in
from assignment.instructor.grading.run_cache import NotebookCells, RunCache, load_cells
from assignment.instructor.grading.safe_files import RefusedFile, read_file
from assignment.instructor.grading.text import has_surrogates, markdown_literal, utf8_safe, utf8_safe_json

MAX_NOTEBOOK_BYTES = 50 * 2**20

# The nbconvert code TolerantNotebookExporter._notebook_from_node_copied_once follows (nbconvert 7.17.2):
# Exporter.from_notebook_node, Exporter._preprocess, NotebookExporter.from_notebook_node, by the SHA-256 of
# their source. Any other version is run as it is (copy_once then changes nothing).
_FOLLOWED = ("dd4bc38b68b25acb", "5aea00c54a8a1a00", "799ff5a0d2f3c07f")


def _follows_nbconvert() -> bool:
    try:
        found = tuple(hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16] for function in
                      (Exporter.from_notebook_node, Exporter._preprocess, NotebookExporter.from_notebook_node))
    except (OSError, TypeError):  # no source to compare
        return False
    return found == _FOLLOWED and hasattr(validator, "normalize")


FOLLOWS_NBCONVERT = _follows_nbconvert()
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


def reconciled(nb, db_url: str, notebook: str, assignment: str,
               cells: NotebookCells | None = None) -> tuple[object, list[str]]:
    """Make every nbgrader cell of ``nb`` what the gradebook says it is; return the notebook and the changes.

    - a cell whose grade_id the gradebook does not know, or that repeats an
      earlier cell's grade_id, becomes an ordinary cell (it is graded by nothing);
    - a known cell gets the gradebook's flags, points and type, and, if locked,
      its source back (what OverwriteCells would restore, before it compares checksums);
    - a graded cell that is missing is put back, after the nearest cell that
      precedes it in the source notebook (or first).
    Grades are unaffected: they come from the gradebook's tests and the student's mytorch.

    Args:
        nb: the notebook read (changed in place).
        db_url, notebook, assignment: the gradebook and the source notebook to agree with.
        cells: that source notebook's cells, already read in this run (``run_cache``); None:
            read them from the gradebook now (one query per kind of cell).

    Returns:
        The notebook and one line per change made.
    """
    changes: list[str] = []
    if cells is None:
        with Gradebook(db_url) as gb:
            cells = load_cells(gb, notebook, assignment)
    if cells is None:  # a notebook the gradebook does not know
        return nb, changes
    sources = cells.sources
    order = cells.order
    points = cells.points
    solutions = set(cells.solutions)
    # task cells (the comment boxes) carry points too, as nbgrader's own task cells do
    tasks = cells.tasks

    def truth(name: str) -> dict:
        meta = {"schema_version": SCHEMA_VERSION, "grade_id": name, "grade": name in points,
                "solution": name in solutions, "locked": bool(sources[name].locked), "task": name in tasks,
                "cell_type": sources[name].cell_type, "checksum": sources[name].checksum}
        if name in points or name in tasks:
            meta["points"] = points[name] if name in points else tasks[name]
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
    """A NotebookExporter that replaces an unreadable notebook by the released one, takes in the
    rest of each submission safely (``intake.take_in``) and writes only what UTF-8 can encode.

    With ``copy_once`` (the default), a notebook is deep-copied once per conversion before its
    preprocessors, not three times: nbconvert copies it in ``from_notebook_node``, again in
    ``_preprocess``, and ``nbformat.validator.normalize`` copies it a third time, each copy
    only ever read by the next copier. Here ``normalize``'s copy is the only one: what the
    preprocessors get, and so what is written, is the same.
    """

    copy_once = Bool(True, help="Deep-copy each notebook once per conversion, not three times "
                                "(nbconvert's two copies before normalize's are never changed); the "
                                "notebooks written are the same either way.").tag(config=True)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._taken_in: set[tuple[str, str]] = set()  # (student, assignment) already taken in by this run
        # What this run reads once (run_cache.py); None: every notebook asks the gradebook again.
        self.run_cache: RunCache | None = None

    def from_filename(self, filename, resources=None, **kw):
        resources = resources if resources is not None else {}
        resources.setdefault("metadata", {})
        path, basename = os.path.split(filename)
        resources["metadata"]["name"] = os.path.splitext(basename)[0]
        resources["metadata"]["path"] = path
        try:
            # Never through a link (it could point at another student's notebook, or the source's),
            # never a pipe or device (opening one can block the whole run), never too large.
            data = read_file(filename, MAX_NOTEBOOK_BYTES)
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
            nbformat.validate(nb)
            nb = _encodable(nb)
            problem = None
        except Exception as error:
            problem = f"{basename} {error}" if isinstance(error, RefusedFile) else f"{type(error).__name__}: {error}"
            problem = utf8_safe(problem)[:300]
            nb = self._released(resources, basename)
            self.log.warning("%s could not be read (%s); grading with the released notebook in its place",
                             filename, problem)
            nb.cells.insert(0, new_markdown_cell(
                f"**Your notebook {markdown_literal(basename)} could not be read** ({markdown_literal(problem)}). "
                "Your tests were graded all the same, on your `mytorch/*.py`; the cells below are the released "
                "notebook's."))
        notice = self._take_in_once(filename, resources)
        if notice:
            nb.cells.insert(0, new_markdown_cell(notice))
        nb, dropped = normalized(nb)
        if dropped:
            self.log.warning("%s: dropped %d cells' malformed nbgrader metadata", filename, len(dropped))
        info = resources.get("nbgrader", {})
        if {"db_url", "notebook", "assignment"} <= set(info):
            cells = (self.run_cache.notebook_cells(info["db_url"], info["notebook"], info["assignment"])
                     if self.run_cache is not None else None)
            nb, changes = reconciled(nb, info["db_url"], info["notebook"], info["assignment"], cells)
            for change in changes:
                self.log.warning("%s: %s", filename, change)
        return self.from_notebook_node(nb, resources=resources, **kw)

    def from_notebook_node(self, nb, resources=None, **kw):
        # The one place every autograded notebook is written: student text (exception messages in
        # the verdicts, file names in notices) may hold lone surrogates, which UTF-8 cannot encode.
        if self.copy_once and FOLLOWS_NBCONVERT and type(self)._preprocess is Exporter._preprocess:
            output, resources = self._notebook_from_node_copied_once(nb, resources)
        else:
            output, resources = super().from_notebook_node(nb, resources=resources, **kw)
        return utf8_safe_json(output), resources

    def _notebook_from_node_copied_once(self, nb, resources):
        """``NotebookExporter.from_notebook_node`` (nbconvert 7), with ``Exporter.from_notebook_node``'s
        and ``Exporter._preprocess``'s deep copies of ``nb`` left out: ``validator.normalize`` copies it
        before any preprocessor runs, and ``nb`` itself is read only (for its language)."""
        resources = self._init_resources(resources)
        if "language" in nb["metadata"]:
            resources["language"] = nb["metadata"]["language"].lower()
        # Exporter._preprocess: the resources copied, the notebook normalized into a copy of its own
        resc = copy.deepcopy(resources)
        _, nbc = validator.normalize(nb)
        for preprocessor in self._preprocessors:
            nbc, resc = preprocessor(nbc, resc)
            if not self.optimistic_validation:
                self._validate_preprocessor(nbc, preprocessor)
        if self.optimistic_validation:
            self._validate_preprocessor(nbc, preprocessor)
        nb_copy, resources = nbc, resc
        # Exporter.from_notebook_node's end
        notebook_name = ""
        if resources is not None:
            name = resources.get("metadata", {}).get("name", "")
            path = resources.get("metadata", {}).get("path", "")
            notebook_name = os.path.join(path, name)
        self._nb_metadata[notebook_name] = nb_copy.metadata
        # NotebookExporter.from_notebook_node's end
        if self.nbformat_version != nb_copy.nbformat:
            resources["output_suffix"] = ".v%i" % self.nbformat_version
        else:
            resources["output_suffix"] = ".nbconvert"
        output = nbformat.writes(nb_copy, version=self.nbformat_version)
        if not output.endswith("\n"):
            output = output + "\n"
        return output, resources

    def _coursedir(self) -> CourseDirectory:
        return getattr(self.parent, "coursedir", None) or CourseDirectory(parent=self)

    def _take_in_once(self, filename: str, resources) -> str | None:
        """On the first notebook of each submission read from ``submitted/``: copy what grading and
        feedback need into ``autograded/`` (nbgrader itself copies nothing from ``submitted/``, see
        ``nbgrader_config.py``); return the notice to show the student, if any."""
        info = resources.get("nbgrader", {})
        if not {"student", "assignment"} <= set(info):
            return None
        coursedir = self._coursedir()
        submission = coursedir.format_path(coursedir.submitted_directory, info["student"], info["assignment"])
        key = (info["student"], info["assignment"])
        if key in self._taken_in or os.path.dirname(os.path.abspath(filename)) != os.path.abspath(submission):
            return None
        self._taken_in.add(key)
        destination = coursedir.format_path(coursedir.autograded_directory, info["student"], info["assignment"])
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info["assignment"]))
        try:
            handout = {p.name for p in release.iterdir()} if release.is_dir() else set()
            quiet = [pattern for pattern in coursedir.ignore if os.sep not in pattern]
            intake = take_in(Path(submission), Path(destination), handout=handout, quiet=quiet)
        except Exception as error:  # noqa: BLE001 (grading reads the submission itself; the copy is for people)
            self.log.error("%s: could not copy the submission's files into %s: %s", submission, destination,
                           utf8_safe(repr(error)))
            return None
        log = self.log.warning if intake.left_out else self.log.info
        log("%s: %s", submission, intake.summary())
        return intake.notice()

    def _released(self, resources, basename: str):
        info = resources.get("nbgrader", {})
        coursedir = self._coursedir()
        release = Path(coursedir.format_path(coursedir.release_directory, ".", info.get("assignment", "")))
        try:
            return nbformat.read(str(release / basename), as_version=4)
        except Exception:
            return new_notebook()


def _encodable(nb):
    """``nb`` with every lone surrogate in its strings (a ``\\ud800`` escape in the JSON) made visible
    text: nbgrader checksums cell sources as UTF-8, and writes the notebook so."""
    # Plain json.dumps to look (nbformat.writes would copy and validate the whole notebook first);
    # a notebook just read from JSON holds nothing else than JSON's types.
    if not has_surrogates(json.dumps(nb, ensure_ascii=False)):
        return nb
    return nbformat.reads(utf8_safe_json(nbformat.writes(nb)), as_version=4)
