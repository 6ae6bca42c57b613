"""``grading/notebook_writes.py`` gives exactly the text of nbformat's own writer, and changes nothing it writes.

Held against ``nbformat.v4.nbjson.writes`` (the original, kept aside) on every notebook of the
course (source, release, examples) and on generated notebooks (hypothesis): every kind of cell
and output, attachments, the transient fields, unicode (lone surrogates too), big integers, NaN
and infinities, -0.0, nested metadata, empty containers. What it leaves to nbformat (a tuple,
bytes, a key that is not a string, a plain dict for a cell) gives nbformat's answer or its error.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbformat.notebooknode import from_dict

from assignment.instructor.grading import notebook_writes

ROOT = Path(__file__).resolve().parents[1]
ORIGINAL = notebook_writes._original


def both(nb) -> tuple[str, str]:
    before = copy.deepcopy(nb)
    fast = notebook_writes.writes(nb)
    assert nb == before  # the caller's notebook is untouched
    return fast, ORIGINAL(nb)


def course_notebooks() -> list[Path]:
    found = [p for folder in ("source", "release", "examples") for p in sorted((ROOT / folder).rglob("*.ipynb"))]
    assert len(found) >= 8
    return found


@pytest.mark.parametrize("path", course_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_course_notebooks_are_written_the_same(path):
    nb = nbformat.read(str(path), as_version=4)
    fast, original = both(nb)
    assert fast == original
    assert fast == nbformat.writes(nb)  # and through nbformat's front door once installed or not


def test_installed_nbformat_writes_the_same_text():
    nb = nbformat.read(str(course_notebooks()[0]), as_version=4)
    before = nbformat.writes(nb)
    notebook_writes.install()
    assert nbformat.v4.writes_json is notebook_writes.writes
    assert nbformat.writes(nb) == before == ORIGINAL(nb)


json_leaf = (st.none() | st.booleans() | st.integers(min_value=-2**80, max_value=2**80)
             | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=12)
lines = st.lists(st.text(alphabet=st.characters(exclude_categories=()), max_size=8)
                 | st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\u2028", " "]), max_size=8).map("".join)
mimebundle = st.dictionaries(st.sampled_from(["text/plain", "text/html", "image/svg+xml", "application/javascript",
                                              "image/png", "application/json", "text/markdown"]),
                             lines | json_value, max_size=4)


@st.composite
def outputs(draw):
    """Any output, valid or not: nbformat's constructors would refuse some (they validate), the writer must not."""
    kind = draw(st.sampled_from(["stream", "execute_result", "display_data", "error"]))
    output = from_dict({"output_type": kind})
    if kind == "stream":
        output.update(name=draw(st.sampled_from(["stdout", "stderr"])), text=draw(lines | st.lists(lines, max_size=3)))
    elif kind == "error":
        output.update(ename=draw(st.text(max_size=5)), evalue=draw(lines), traceback=draw(st.lists(lines, max_size=3)))
    else:
        output.update(data=from_dict(draw(mimebundle)),
                      metadata=from_dict(draw(st.dictionaries(st.text(max_size=4), json_value, max_size=2))))
        if kind == "execute_result":
            output["execution_count"] = draw(st.none() | st.integers(min_value=0, max_value=10**6))
    return output


@st.composite
def notebooks(draw):
    cells = []
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        kind = draw(st.sampled_from(["code", "markdown", "raw"]))
        metadata = draw(st.dictionaries(st.sampled_from(["trusted", "nbgrader", "tags", "collapsed", "x"]),
                                        json_value, max_size=3))
        if kind == "code":
            cell = nbformat.v4.new_code_cell(draw(lines))
            cell.update(outputs=draw(st.lists(outputs(), max_size=3)), execution_count=draw(st.none() | st.integers(0, 99)))
        elif kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(draw(lines))
            if draw(st.booleans()):
                cell["attachments"] = from_dict({draw(st.text(min_size=1, max_size=5)): draw(mimebundle)})
        else:
            cell = nbformat.v4.new_raw_cell(draw(lines))
        cell["metadata"] = from_dict(metadata)
        if draw(st.booleans()):
            cell["source"] = cell["source"].splitlines(True)  # a source kept as a list of lines
        cells.append(cell)
    nb = nbformat.v4.new_notebook()
    nb["cells"] = cells  # set after: new_notebook validates, and these need not be valid
    nb.metadata.update(draw(st.dictionaries(st.sampled_from(["orig_nbformat", "orig_nbformat_minor", "signature",
                                                             "kernelspec", "language_info", "other"]),
                                            json_value, max_size=4)))
    return nb


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_generated_notebooks_are_written_the_same(nb):
    fast, original = both(nb)
    assert fast == original


@settings(max_examples=300, deadline=None)
@given(json_value)
def test_json_text_is_json_dumps(value):
    try:
        fast = notebook_writes.json_text(value)
    except notebook_writes._Unexpected:
        return
    assert fast == json.dumps(value, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)


def _error(function, nb):
    try:
        return function(nb)
    except Exception as error:  # noqa: BLE001
        return type(error)


@pytest.mark.parametrize("oddity", ["tuple", "bytes", "int key", "plain cell", "no metadata", "deep", "outputs dict"])
def test_what_it_does_not_expect_gets_nbformats_own_answer(oddity):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\ny = 2\n")])
    if oddity == "tuple":
        nb.cells[0].metadata["tags"] = ("a", "b")
    elif oddity == "bytes":
        nb.cells[0].outputs = [from_dict({"output_type": "display_data", "data": {"image/png": b"aGVsbG8="}, "metadata": {}})]
    elif oddity == "int key":
        nb.metadata["map"] = {1: "one", 2: "two"}
    elif oddity == "plain cell":
        dict.__setitem__(nb, "cells", [dict(nb.cells[0])])
    elif oddity == "no metadata":
        dict.__delitem__(nb, "metadata")
    elif oddity == "deep":
        deep: list = []
        for _ in range(5000):
            deep = [deep]
        nb.metadata["deep"] = deep
    elif oddity == "outputs dict":
        dict.__setitem__(nb.cells[0], "outputs", {"a": 1})
    before = copy.deepcopy(nb) if oddity != "deep" else None
    assert _error(notebook_writes.writes, nb) == _error(ORIGINAL, nb)
    if before is not None:
        assert nb == before
