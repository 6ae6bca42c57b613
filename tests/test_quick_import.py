"""``assignment.instructor.quick_import``: the grading processes import nbgrader without
rfc3987-syntax's parsers, and nothing they validate changes.

What the writer writes with it is compared with plain nbgrader's in
tests/test_writer_reuse.py; here, in fresh interpreters: the package is left out
only when asked before jsonschema loads, nbgrader's metadata check and nbformat's
validation give the same answers with and without it, and the writer process
itself runs without it.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, sys
from assignment.instructor.quick_import import skip_iri_format_checks
took = skip_iri_format_checks() if sys.argv[1] == "skip" else None
import nbformat
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.apps.nbgraderapp import NbGraderApp  # noqa: F401  everything the writer imports
import jsonschema

answers = []
for metadata in ({"grade": True, "grade_id": "ok", "points": 2, "schema_version": 3, "solution": False,
                  "locked": True, "task": False},
                 {"grade": True, "grade_id": "", "points": -1, "schema_version": 3, "solution": False},
                 {"grade": "yes", "schema_version": 3}):
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": metadata})
    try:
        MetadataValidator().validate_cell(cell)
        answers.append("valid")
    except (ValidationError, jsonschema.ValidationError) as error:
        answers.append(f"{type(error).__name__}: {error}"[:300])
notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
answers.append(nbformat.validator.isvalid(notebook))
notebook.cells[0]["outputs"] = [{"output_type": "bogus"}]
answers.append(nbformat.validator.isvalid(notebook))
print(json.dumps({"took": took, "loaded": sys.modules.get("rfc3987_syntax") is not None,
                  "iri": "iri" in jsonschema.draft7_format_checker.checkers, "answers": answers}))
"""


def probe(mode: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_skipping_leaves_the_package_out_and_every_answer_as_it_was():
    plain, skipped = probe("plain"), probe("skip")
    assert skipped["took"] is True and skipped["loaded"] is False and skipped["iri"] is False
    assert plain["loaded"] is True and plain["iri"] is True  # installed: the skip is what leaves it out
    assert skipped["answers"] == plain["answers"]
    assert plain["answers"][0] == "valid" and plain["answers"][-2:] == [True, False]
    assert all(answer != "valid" for answer in plain["answers"][1:3])


def test_too_late_to_skip_once_jsonschema_is_loaded():
    code = ("import jsonschema, sys\nfrom assignment.instructor.quick_import import skip_iri_format_checks\n"
            "print(skip_iri_format_checks(), sys.modules.get('rfc3987_syntax') is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]


def test_the_writer_process_runs_without_it(tmp_path):
    import os

    read, write = os.pipe()
    code = ("import runpy, sys, atexit\n"
            "atexit.register(lambda: print('RFC', sys.modules.get('rfc3987_syntax') is not None, file=sys.stderr))\n"
            "sys.argv = ['writer', sys.argv[1]]\n"
            "runpy.run_module('assignment.instructor.writer', run_name='__main__')\n")
    process = subprocess.run([sys.executable, "-c", code, str(write)], input="\n", capture_output=True, text=True,
                             pass_fds=(write,), cwd=tmp_path, timeout=120)
    os.close(write)
    os.close(read)
    assert "RFC False" in process.stderr, process.stderr[-2000:]
