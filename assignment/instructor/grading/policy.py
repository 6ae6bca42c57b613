"""What of a submission may be graded, checked before any of it runs.

Only the student's ``mytorch/*.py`` files are graded; nothing else of the
submission (a ``numpy.py``, a ``sitecustomize.py``, a ``.pth`` file...) is
ever placed where Python could import it. Each file may import NumPy and the
standard library only.
"""

from __future__ import annotations

import ast
import collections
import importlib.util
import io
import shutil
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from assignment.instructor.grading.intake import MAX_FILE_BYTES, MAX_FILES, read_package

__all__ = ["ALLOWED_PACKAGES", "MAX_FILE_BYTES", "MAX_FILES", "PACKAGE_INIT", "Submission", "forbidden_imports",
           "read_submission", "source_text", "write_package"]

ALLOWED_PACKAGES = {"numpy", "mytorch"}
# The graded package's __init__.py is this, not the student's (which is given code,
# not graded): importing mytorch.nn then runs nn.py alone, whereas the given
# __init__.py imports optim.py too, so that a broken optim.py would cost every
# question of nn.py.
PACKAGE_INIT = '"""mytorch as graded: the student\'s files, imported one by one."""\n'


@dataclass
class Submission:
    """The student's mytorch as it will be graded.

    Fields:
        files: file name -> source text, for the files that will be copied.
        problems: file name -> why that file's questions score zero.
        missing: why nothing can be graded (e.g. no mytorch/ folder), or None.
    """

    files: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    missing: str | None = None

    def problem_for(self, module: str) -> str | None:
        """Why the questions of ``mytorch/<file>`` cannot be graded, if they cannot."""
        if self.missing:
            return self.missing
        name = module.rsplit("/", 1)[-1]
        if name not in self.files and name not in self.problems:
            return f"mytorch/{name} is missing from the submission"
        if name in self.problems:
            return self.problems[name]
        # A broken or forbidden file breaks every file that imports it.
        for other, why in self.problems.items():
            if other != name and _imports_module(self.files.get(name, ""), other[:-3]):
                return f"mytorch/{name} imports mytorch/{other}, which cannot be graded: {why}"
        return None


def _imports_module(source: str, module: str) -> bool:
    return f"mytorch.{module}" in source or f"import {module}" in source or f"from . import {module}" in source


_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)  # what holds statements: statements only sit in these


def _statements(tree: ast.AST):
    """The nodes of ``tree`` that are statements or hold them, in ``ast.walk``'s order.

    An ``import`` is a statement, and statements sit only in the bodies of statements,
    ``except`` handlers and ``case`` blocks, so this finds every one while skipping the
    expressions (nine nodes in ten). Same breadth-first order as ``ast.walk``: a node's
    depth is the same in both, and children come in field order.
    """
    queue = collections.deque([tree])
    while queue:
        node = queue.popleft()
        yield node
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, list):
                queue.extend(child for child in value if isinstance(child, _BLOCKS))


def forbidden_imports(source: str, tree: ast.AST | None = None) -> list[str]:
    """Top-level modules imported by ``source`` (already parsed: ``tree``) that are neither
    NumPy nor the standard library."""
    stdlib = set(sys.stdlib_module_names)
    found = []
    tree = tree if tree is not None else ast.parse(source)
    # A call to __import__ or import_module is an expression: only then is every node looked at.
    nodes = ast.walk(tree) if "__import__" in source or "import_module" in source else _statements(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in {"__import__", "import_module"}
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in stdlib and top not in ALLOWED_PACKAGES and top not in found:
                found.append(top)
    return found


def source_text(name: str, data: bytes) -> tuple[str | None, str | None]:
    """Decode and parse one student file exactly as Python's import would.

    Python honours a UTF-8 byte-order mark and a PEP 263 coding line, so this does too
    (``importlib.util.decode_source``; ``ast.parse`` of the bytes decodes them as import
    does). Nothing here may stop a grading run: a file nested too deeply for the parser
    (``MemoryError``, ``RecursionError``) or any other failure becomes a problem.

    Args:
        name: the file's name in ``mytorch/``.
        data: its bytes.

    Returns:
        (source text or None, why its questions score zero or None).
    """
    label = f"mytorch/{name}"
    try:
        source = importlib.util.decode_source(data)
    except UnicodeDecodeError:
        declared = _declared_encoding(data)
        if declared in (None, "utf-8", "utf-8-sig"):
            return None, f"{label} is not UTF-8 text"
        return None, f"{label} is not valid {declared} text, the encoding its coding line declares"
    except SyntaxError as error:
        if error.msg.startswith("invalid or missing encoding declaration"):  # no coding line, not UTF-8
            return None, f"{label} is not UTF-8 text"
        # an unknown encoding, or a coding line that contradicts a byte-order mark
        return None, f"{label} has an unusable encoding declaration: {error.msg}"
    try:
        tree = ast.parse(data, filename=label)
    except SyntaxError as error:
        where = f" at line {error.lineno}" if error.lineno else ""
        return source, f"{label} has a syntax error{where}: {error.msg}"
    except (MemoryError, RecursionError):
        return source, f"{label} is too deeply nested for Python to parse (an expression nested hundreds of levels)"
    except ValueError as error:  # e.g. null bytes, on Pythons that report them so
        return source, f"{label} cannot be parsed: {error}"
    forbidden = forbidden_imports(source, tree)
    if forbidden:
        return source, (f"{label} imports {', '.join(forbidden)}; only NumPy and the "
                        f"Python standard library may be imported")
    return source, None


def _declared_encoding(data: bytes) -> str | None:
    """The encoding a coding line of ``data`` declares (as ``tokenize`` names it), or None."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return None
    return encoding


def read_submission(submission_dir: Path) -> Submission:
    """Collect and check ``submission_dir/mytorch/*.py``; never raises.

    Args:
        submission_dir: the student's submitted assignment folder.

    Returns:
        The files to grade and, per file, why it cannot be graded.
    """
    result = Submission()
    package = read_package(submission_dir)
    if package.missing:
        result.missing = package.missing
        return result
    result.problems.update(package.problems)
    for name, data in package.files.items():
        try:
            source, problem = source_text(name, data)
        except Exception as error:  # noqa: BLE001 (one file must never stop everyone's grading)
            source, problem = None, f"mytorch/{name} could not be checked ({type(error).__name__})"
        if source is not None:
            result.files[name] = source
        if problem:
            result.problems[name] = problem
    return result


def source_bytes(source: str) -> bytes:
    """``source`` encoded as its coding line declares (UTF-8 if none), so Python reads back exactly ``source``.

    ``source_text`` took off any byte-order mark, so UTF-8 without one is what it imports as.
    """
    try:
        encoding = _declared_encoding(source.encode("utf-8")) or "utf-8"
        return source.encode("utf-8" if encoding == "utf-8-sig" else encoding)
    except (LookupError, UnicodeError):
        return source.encode("utf-8", "backslashreplace")


def write_package(submission: Submission, destination: Path) -> None:
    """Write the files to grade into ``destination/mytorch`` (world-readable, for the sandbox user).

    Each file is written in the encoding it declares, so that the sandbox imports the
    same text the grader checked.
    """
    package = destination / "mytorch"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    destination.chmod(0o755)
    package.chmod(0o755)
    for name, source in {**submission.files, "__init__.py": PACKAGE_INIT}.items():
        path = package / name
        path.write_bytes(source_bytes(source))
        path.chmod(0o644)
