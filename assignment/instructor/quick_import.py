"""Importing nbgrader in the course's own grading processes without building rfc3987-syntax's parsers.

``jsonschema`` (imported by nbformat, so by nbgrader) registers format checkers for
"iri" and "iri-reference" when the optional ``rfc3987_syntax`` package is installed,
and it is: jupyter-events asks for ``jsonschema[format-nongpl]``, which pulls it in.
Importing ``rfc3987_syntax`` compiles some thirty Earley parsers from its grammar,
about 1.3 CPU seconds here: more than the rest of nbgrader's imports together (2.0-2.25 s
with it, 0.8 s without, measured 2026-12-01). The parallel command and its writer
process each import nbgrader once per run, at the start, when every core is busy;
stock nbgrader pays it too, once per command.

Those two processes never check a format: nbformat validates notebooks with
fastjsonschema (its own format code) and builds its jsonschema error reports without a
format checker, and nbgrader checks cell metadata with ``jsonschema.validate``, which
uses none either (formats are annotations unless a checker is passed; only
jupyter-events passes one, for a server's event log). So leaving the package out
changes nothing they compute; ``tests/test_writer_reuse.py`` compares what the writer
writes, table by table and file by file, with plain nbgrader's.
"""

from __future__ import annotations

import sys

OPTIONAL_FORMAT_PACKAGE = "rfc3987_syntax"


def skip_iri_format_checks() -> bool:
    """Make jsonschema's optional import of ``rfc3987_syntax`` fail in this process (an ImportError,
    which jsonschema expects: it then registers no "iri" checker). Call before anything imports
    jsonschema; return whether it took effect (False if jsonschema or the package is already loaded)."""
    if "jsonschema" in sys.modules or sys.modules.get(OPTIONAL_FORMAT_PACKAGE) is not None:
        return False
    sys.modules[OPTIONAL_FORMAT_PACKAGE] = None  # type: ignore[assignment]  (import raises ImportError)
    return True
