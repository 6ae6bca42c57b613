"""One long-lived process that writes grades with stock ``nbgrader autograde``, batch after batch.

``python -m assignment autograde`` writes grades through nbgrader's own
pipeline (``GradeInSandbox`` reads the cached verdicts, ``SaveAutoGrades``
stores them). Starting an nbgrader process costs about 2 CPU seconds (its
imports), and each student costs about 1 more with nbgrader as it ships, most
of it needless repetition (measured with cProfile, see README.md):

- every gradebook access (about eight per notebook) creates a new SQLAlchemy
  engine, so no compiled statement is ever reused, asks the database which
  tables exist and issues ``CREATE TABLE IF NOT EXISTS`` checks for all of
  nbgrader's tables;
- ``CheckCellMetadata`` validates each cell's nbgrader metadata with
  ``jsonschema.validate``, which checks the schema itself against its
  meta-schema first, for every cell, twice per notebook.

This process runs nbgrader in-process for each batch of students it is given
(``NbGraderApp`` initialised, started and reset, as nbgrader's own test suite
runs it), and removes that repetition for its own lifetime only: one engine per
database URL (the connection pool and statement cache survive from one
gradebook access to the next), the table checks run once per engine, and each
metadata schema is checked once. What is written, and by which code, is
unchanged: the same preprocessors, the same queries, the same validation of
every cell.

Protocol: the parent writes one JSON line per batch on stdin,
``{"args": [nbgrader arguments...], "log": path, "sandbox_checked": backend, "gradebook_lock":
path}`` (the last two optional: the sandbox backend the parent has just probed; the lock file
through which writers sharing an SQLite gradebook take turns in it, ``gradebook_lock``); the process runs
``nbgrader ARGS`` with its stdout and stderr in ``log`` and answers on the
file descriptor given as its first argument with one JSON line,
``{"exit": code, "seconds": s}``. An empty line (or end of input) ends it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn, TextIO

_installed = False


def _fast_jsonschema() -> types.ModuleType:
    """A stand-in for the ``jsonschema`` module as nbgrader's metadata validator uses it:
    ``validate`` gives the same answer and the same error (the best match) as
    ``jsonschema.validate``, but checks each schema against its meta-schema once."""
    import jsonschema
    from jsonschema import exceptions, validators

    validators_by_schema: dict[str, Any] = {}
    lock = threading.Lock()

    def validate(instance, schema, cls=None, *args, **kwargs):
        key = json.dumps([schema, repr(cls), repr(args), repr(sorted(kwargs.items()))], sort_keys=True, default=repr)
        with lock:
            validator = validators_by_schema.get(key)
            if validator is None:
                klass = cls or validators.validator_for(schema)
                klass.check_schema(schema)
                validator = validators_by_schema[key] = klass(schema, *args, **kwargs)
        error = exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error

    shim = types.ModuleType("jsonschema_checked_once")
    shim.__dict__.update({name: getattr(jsonschema, name) for name in dir(jsonschema) if not name.startswith("__")})
    shim.validate = validate
    return shim


def install_speedups() -> None:
    """Remove nbgrader's repeated set-up work in this process (see the module docstring). Idempotent."""
    global _installed
    if _installed:
        return
    from nbgrader import api
    from nbgrader.nbgraderformat import common

    engines: dict[tuple, Any] = {}
    schema_checked: set[int] = set()
    lock = threading.Lock()
    original_create_engine = api.create_engine
    original_create_all = api.Base.metadata.create_all

    def create_engine(url, *args, **kwargs):
        key = (str(url), repr(args), repr(sorted(kwargs.items())))
        with lock:
            engine = engines.get(key)
            if engine is None:
                engine = engines[key] = original_create_engine(url, *args, **kwargs)
                # Gradebook.close() disposes of its engine; this one is shared, its pool kept.
                engine.dispose = lambda *a, **k: None
            return engine

    def create_all(bind=None, *args, **kwargs):
        with lock:
            if id(bind) in schema_checked and bind in engines.values():
                return None
        result = original_create_all(bind=bind, *args, **kwargs)
        with lock:
            schema_checked.add(id(bind))
        return result

    create_engine.shared_engines = engines  # what _remember_opened_gradebooks recognises
    api.create_engine = create_engine
    api.Base.metadata.create_all = create_all
    common.jsonschema = _fast_jsonschema()
    _installed = True


_memos_installed = False
_MEMO_SIZE = 256  # validated documents remembered: a notebook's own validations are consecutive


def _remembering(check: Callable[..., None], key: Callable[..., str | None]) -> Callable[..., None]:
    """``check`` (a validation that returns None or raises), skipped for a document it already passed.

    Only passes are remembered, by ``key(*args, **kwargs)`` (a canonical text of the document and of
    every argument, or None when there is none: then ``check`` runs). A pass is remembered only if
    ``check`` left the document as it found it (nbformat's validate may repair cell ids): the same
    text again gets the same answer. Failures are never remembered: they raise every time, as before.
    """
    passed: OrderedDict[str, None] = OrderedDict()
    lock = threading.Lock()

    def remembering(*args, **kwargs):
        before = key(*args, **kwargs)
        if before is not None:
            with lock:
                if before in passed:
                    passed.move_to_end(before)
                    return None
        result = check(*args, **kwargs)
        if before is not None and key(*args, **kwargs) == before:
            with lock:
                passed[before] = None
                while len(passed) > _MEMO_SIZE:
                    passed.popitem(last=False)
        return result

    return remembering


def _canonical(document: Any, *rest: Any) -> str | None:
    """Sorted-keys JSON of ``document`` and the other arguments; None if any is not JSON (no remembering)."""
    try:
        return json.dumps([document, *rest], sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None


def install_validation_memos() -> None:
    """For this process's lifetime: validate each distinct document once (idempotent).

    - ``nbformat.validate``: nbconvert validates the whole notebook after every preprocessor
      (twelve times per notebook at autograde), nbformat again when writing it and the course's
      reader when reading it, mostly the same document again (a preprocessor that changed
      nothing). Remembered only while nbformat validates with ``fastjsonschema``, whose verdict
      is a function of the JSON document (it takes a tuple for an array, so a document's JSON
      text determines its verdict).
    - nbgrader's metadata schema check (``jsonschema.validate`` of each cell's nbgrader
      metadata, at both CheckCellMetadata passes): the same few dozen metadata dicts for every
      student. nbgrader's metadata schema has no array, so the JSON text decides there too.

    Only passes are remembered, keyed by the full JSON text (never a hash): nothing invalid can
    pass, and what fails fails as before. Validation reads no file or database, so nothing can
    go stale. The writer installs this with the run cache (``SandboxCheckedExporter``).
    """
    global _memos_installed
    if _memos_installed:
        return
    import nbformat
    from nbformat import json_compat
    from nbgrader.nbgraderformat import common

    original_validate = nbformat.validate

    def notebook_key(nbdict=None, ref=None, version=None, version_minor=None, relax_add_props=False,
                     nbjson=None) -> str | None:
        if json_compat.get_current_validator().name != "fastjsonschema":
            return None
        return _canonical(nbdict if nbdict is not None else nbjson, ref, version, version_minor, relax_add_props)

    remembered = _remembering(original_validate, notebook_key)
    # nbconvert, the reader (nbformat.validate) and nbformat.writes (its module's global) look it up there
    nbformat.validate = remembered

    shim = common.jsonschema  # install_speedups' module stand-in (schemas checked once)
    schema_texts: dict[int, tuple[Any, str]] = {}

    def metadata_key(instance, schema, *args, **kwargs) -> str | None:
        known = schema_texts.get(id(schema))
        # the schema's text once per schema object (nbgrader loads each schema once and never changes it)
        if known is None or known[0] is not schema:
            text = _canonical(schema, repr(args), repr(sorted(kwargs.items())))
            if text is None:
                return None
            known = schema_texts[id(schema)] = (schema, text)
        document = _canonical(instance)
        return None if document is None else document + known[1]

    shim.validate = _remembering(shim.validate, metadata_key)
    _remember_opened_gradebooks()
    _memos_installed = True


def _remember_opened_gradebooks() -> None:
    """Opening a ``Gradebook`` on one of ``install_speedups``' shared engines (about 20 times per student)
    skips what the engine's first opening established: that its tables exist (``inspect(...)
    .get_table_names()``, a query) and that the course's row exists (``check_course``, a query and a
    commit). nbgrader never deletes either; the table check already runs once per engine."""
    from nbgrader import api

    shared = getattr(api.create_engine, "shared_engines", None)
    # `is None`, not falsiness: the shared engines are still none when the first exporter installs this
    if shared is None:
        return  # install_speedups is not on: every opening asks, as nbgrader does
    tables: dict[int, list[str]] = {}
    courses: set[tuple[int, str]] = set()
    lock = threading.Lock()
    original_inspect = api.inspect
    original_check_course = api.Gradebook.check_course

    class _KnownTables:
        """The answer ``Inspector.get_table_names`` gave at the engine's first opening."""

        def __init__(self, names: list[str]) -> None:
            self.names = names

        def get_table_names(self, *args, **kwargs) -> list[str]:
            return list(self.names)

    def inspect(subject, *args, **kwargs):
        if args or kwargs or not any(subject is engine for engine in shared.values()):
            return original_inspect(subject, *args, **kwargs)
        with lock:
            known = tables.get(id(subject))
        if known:  # an empty answer (a new gradebook) is asked again: create_all is about to fill it
            return _KnownTables(known)
        inspector = original_inspect(subject)
        names = inspector.get_table_names()
        with lock:
            tables[id(subject)] = list(names)
        return _KnownTables(names)

    def check_course(self, course_id: str = "default_course", **kwargs):
        key = (id(self.engine), course_id)
        if not kwargs and any(self.engine is engine for engine in shared.values()):
            with lock:
                if key in courses:
                    return None  # Gradebook.__init__, its only caller, ignores what it returns
            result = original_check_course(self, course_id=course_id)
            with lock:
                courses.add(key)
            return result
        return original_check_course(self, course_id=course_id, **kwargs)

    api.inspect = inspect
    api.Gradebook.check_course = check_course


def run_nbgrader(args: list[str]) -> int:
    """Run ``nbgrader ARGS`` in this process, as the ``nbgrader`` command would; return its exit code."""
    from nbgrader.apps.nbgraderapp import NbGraderApp

    try:
        from jupyter_core.application import NoStart
    except ImportError:  # older jupyter_core
        NoStart = type("NoStart", (Exception,), {})

    app = NbGraderApp.instance()
    try:
        app.initialize(args)
        app.start()
        code = 0
    except NoStart:
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except Exception:  # what the nbgrader command would print before exiting 1
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        app.reset()  # logging handlers removed, this app and its subapps forgotten
    return code


def _redirected(log_path: str):
    """Point file descriptors 1 and 2 (and sys.stdout/sys.stderr) at ``log_path``; return a restore function."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)

    def restore() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])

    return restore


def prepare() -> None:
    """Import what a writer runs (nbgrader's apps, the course's preprocessors), without rfc3987-syntax's
    parsers (``quick_import``). The parallel command calls it before forking its writers, which then
    start with all of it imported (``forked_child``)."""
    from assignment.instructor.quick_import import skip_iri_format_checks

    skip_iri_format_checks()  # 1.3 CPU s of nbgrader's import (quick_import says why it is safe)
    import nbgrader.apps.nbgraderapp  # noqa: F401
    import assignment.instructor.grading.nbgrader_plugin  # noqa: F401

    _warm_up()


def _warm_up() -> None:
    """What a writer's first run would otherwise do first (0.1 to 0.2 CPU s): import SQLite's driver and
    the question modules, compile nbformat's two validators (strict, and relaxed as nbconvert asks)."""
    import sqlite3  # noqa: F401

    import nbformat
    import sqlalchemy.dialects.sqlite  # noqa: F401
    from nbformat import validator

    from assignment.shared import questions

    for relaxed in (False, True):
        validator.get_validator(version=nbformat.v4.nbformat, version_minor=nbformat.v4.nbformat_minor,
                                relax_add_props=relaxed)
    for key in questions.GRADED_KEYS:
        questions.question(key)


def serve(requests: Iterable[str], answers: TextIO) -> None:
    """The writer loop: one batch per JSON line of ``requests`` (see the module docstring), each answered on
    ``answers``; an empty line or the end of ``requests`` ends it."""
    install_speedups()
    for line in requests:
        if not line.strip():
            break
        request = json.loads(line)
        if request.get("sandbox_checked"):
            # The parallel command probed this backend a moment ago: nbgrader's refusal check
            # need not start a sandbox (about half a second) before every first batch.
            from assignment.instructor.grading.sandbox.process import checked_elsewhere
            checked_elsewhere(str(request["sandbox_checked"]))
        if request.get("gradebook_lock"):
            # Other writers share this SQLite gradebook: take turns inside it (gradebook_lock.py).
            from assignment.instructor import gradebook_lock
            gradebook_lock.install(Path(request["gradebook_lock"]))
        started = time.perf_counter()
        restore = _redirected(request["log"])
        try:
            code = run_nbgrader(list(request["args"]))
        finally:
            restore()
        answers.write(json.dumps({"exit": code, "seconds": time.perf_counter() - started}) + "\n")
    answers.close()


def forked_child(requests_fd: int, answers_fd: int, log_fd: int, course: str, env: dict[str, str]) -> NoReturn:
    """Become a writer, in a process the parallel command has just forked (after ``prepare``): requests on
    ``requests_fd``, answers on ``answers_fd``, output in ``log_fd``, in ``course`` with environment ``env``.
    Leaves with ``os._exit``: nothing of the parent's (its atexit handlers, its threads' objects) runs here."""
    code = 1
    try:
        os.dup2(requests_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        for fd in {requests_fd, log_fd} - {0, 1, 2}:
            os.close(fd)
        os.chdir(course)
        os.environ.clear()
        os.environ.update(env)
        # the parent's sys.stdout may be anything (a test runner's capture): this process's own, on its log
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", buffering=1, closefd=False)
        serve(sys.stdin, os.fdopen(answers_fd, "w", buffering=1, encoding="utf-8"))
        code = 0
    except BaseException:  # noqa: BLE001  said in the log; the parent sees the answers end
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """The writer loop (``python -m assignment.instructor.writer RESULT_FD``)."""
    argv = sys.argv[1:] if argv is None else argv
    answers = os.fdopen(int(argv[0]), "w", buffering=1, encoding="utf-8")
    prepare()
    serve(sys.stdin, answers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
